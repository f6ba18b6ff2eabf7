"""A bundle as a .zip and the names of its files: what may enter a draft from outside, checked at the edge.

A .zip is refused when it is hostile or broken (too large, too many files, a member that unpacks far beyond its
size, links, encryption, paths that leave the bundle); a file name when it could leave the bundle or is not one
of a bundle's kinds of file; a file's content when it is too large or not UTF-8 text.
"""

from __future__ import annotations

import io
import re
import stat
import unicodedata
import zipfile
import zlib
from pathlib import PurePosixPath

from ..errors import ValidationError
from . import bundle

#: The most a bundle .zip may be, and what all its files may unpack to (each file: ``bundle.MAX_FILE_BYTES``).
ZIP_BYTES = 10 * 1024 * 1024
ZIP_UNPACKED = 40 * 1024 * 1024
#: A member larger than this may not unpack to more than ``ZIP_RATIO`` times its compressed size (a zip bomb).
ZIP_RATIO = 100
ZIP_RATIO_FLOOR = 64 * 1024
#: Entries of a .zip made by an archiver, not by the author: skipped.
_ARCHIVER_LITTER = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|\._|Thumbs\.db$|desktop\.ini$)")
_RESERVED = re.compile(r'[<>:"|?*\\]')


def refused(message: str, field: str = "file") -> ValidationError:
    """A refusal of what was sent, naming the field."""
    return ValidationError(message, [{"field": field, "message": message}])


def clean_name(name: str) -> str:
    """A file name inside a bundle (``grade.dmn``, ``forms/x.schema.json``); ValidationError for anything that
    could leave the bundle or is not one of its kinds of file."""
    name = unicodedata.normalize("NFC", str(name or "")).strip()
    parts = name.split("/")
    if (not name or len(name) > 200 or name.startswith("/") or _RESERVED.search(name)
            or any(unicodedata.category(c)[0] == "C" for c in name)
            or any(p in ("", ".", "..") or p != p.strip() for p in parts) or len(parts) > 4):
        raise refused(f"文件名 {name[:80]!r} 无效 (not a file name inside a bundle)")
    if PurePosixPath(name).suffix.lower() not in bundle.TEXT_SUFFIXES:
        raise refused(f"不能放入流程包的文件类型：{name[:80]}，只接受 {', '.join(sorted(bundle.TEXT_SUFFIXES))} "
                       f"(not a kind of file a bundle holds)")
    return name


def file_text(name: str, data: bytes) -> str:
    if len(data) > bundle.MAX_FILE_BYTES:
        raise refused(f"文件 {name} 超过 {bundle.MAX_FILE_BYTES // 1024} KiB (the file is larger than "
                       f"{bundle.MAX_FILE_BYTES // 1024} KiB)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refused(f"文件 {name} 不是 UTF-8 文本（第 {exc.start} 字节） (not UTF-8 text)") from None
    if "\x00" in text:
        raise refused(f"文件 {name} 含空字符，不是文本 (the file holds NUL characters)")
    return text


def unzip(data: bytes) -> dict[str, str]:
    """The files of a bundle .zip, each checked; ValidationError for a hostile or broken archive: too large,
    too many files, paths that leave the bundle, links, encryption, a member that unpacks far beyond its size."""
    if len(data) > ZIP_BYTES:
        raise refused(f"压缩包超过 {ZIP_BYTES // 1024 // 1024} MiB (the .zip is larger than "
                       f"{ZIP_BYTES // 1024 // 1024} MiB)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = [e for e in archive.infolist() if not e.is_dir() and not _ARCHIVER_LITTER.search(e.filename)]
            _check_entries(entries)
            files: dict[str, str] = {}
            for entry in entries:
                name = clean_name(entry.filename)
                with archive.open(entry) as member:
                    content = member.read(bundle.MAX_FILE_BYTES + 1)
                if name in files:
                    raise refused(f"压缩包中 {name} 出现两次 (the .zip holds {name} twice)")
                files[name] = file_text(name, content)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise refused("损坏、加密或无法读取的压缩包 (a broken, encrypted or unreadable .zip)") from None
    return _strip_folder(files)


def _check_entries(entries: list[zipfile.ZipInfo]) -> None:
    if len(entries) > bundle.MAX_FILES:
        raise refused(f"压缩包含 {len(entries)} 个文件，至多 {bundle.MAX_FILES} 个 (the .zip holds more than "
                       f"{bundle.MAX_FILES} files)")
    if sum(e.file_size for e in entries) > ZIP_UNPACKED:
        raise refused(f"压缩包解压后超过 {ZIP_UNPACKED // 1024 // 1024} MiB（疑为压缩炸弹） (the .zip unpacks to more "
                       f"than {ZIP_UNPACKED // 1024 // 1024} MiB)")
    for entry in entries:
        if entry.flag_bits & 0x1:
            raise refused("不接受加密的压缩包 (an encrypted .zip is refused)")
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise refused(f"压缩包中的 {entry.filename[:80]} 是符号链接 (symbolic links are refused)")
        if entry.file_size > bundle.MAX_FILE_BYTES:
            raise refused(f"压缩包中的 {entry.filename[:80]} 超过 {bundle.MAX_FILE_BYTES // 1024} KiB (a file of the "
                           f".zip is larger than {bundle.MAX_FILE_BYTES // 1024} KiB)")
        if entry.file_size > ZIP_RATIO_FLOOR and entry.file_size > ZIP_RATIO * max(entry.compress_size, 1):
            raise refused(f"压缩包中的 {entry.filename[:80]} 压缩比超过 {ZIP_RATIO} 倍（疑为压缩炸弹） (a member "
                           f"unpacks to more than {ZIP_RATIO} times its size: a zip bomb?)")


def _strip_folder(files: dict[str, str]) -> dict[str, str]:
    """A bundle zipped with its folder (``ziyang-2016/bundle.yaml``) is the same bundle."""
    if "bundle.yaml" in files:
        return files
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        top = tops.pop()
        if f"{top}/bundle.yaml" in files:
            return {name.split("/", 1)[1]: text for name, text in files.items()}
    raise refused("压缩包中没有 bundle.yaml：请上传整个流程包 (the .zip has no bundle.yaml: upload a whole bundle)")


def zip_bytes(draft) -> bytes:
    """Every file of a draft (or of a version: anything with ``variant`` and ``files``) as a .zip, in a folder
    named for its variant; an upload of it gives the same files."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(draft.files):
            info = zipfile.ZipInfo(f"{draft.variant}/{name}", date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, draft.files[name].encode("utf-8"))
    return out.getvalue()
