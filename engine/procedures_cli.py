"""``kaohe procedures``: the procedure library from the command line (list, export, import, check, publish)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli import _engine, _reports_errors
from .clock import local
from .errors import NotFound, ValidationError
from .procedure import bundle, drafts, library, problems, versions


@click.group()
def procedures() -> None:
    """The procedure library: variants, versions and drafts (the same as /admin/procedures)."""


@procedures.command("list")
@_reports_errors
def procedures_list() -> None:
    """Each variant with its parent, versions (current, campaigns, running instances) and open drafts."""
    with _engine().store.read() as session:
        entries = library.overview(session)
        for entry in entries:
            click.echo(f"{entry.variant}  {entry.title}" + (f"  (derived from {entry.parent})" if entry.parent else ""))
            for v in entry.versions:
                click.echo(f"  v{v.number}{' *' if v.current else '  '} {local(v.at):%Y-%m-%d %H:%M} "
                           f"{v.author or '-':<10} {v.content_hash[:12]} campaigns {v.campaigns}, running "
                           f"{v.running}  {v.comment or ''}".rstrip())
            for d in entry.drafts:
                click.echo(f"  draft {d.id} by {d.owner}, revision {d.revision}, saved by {d.saved_by} "
                           f"{local(d.saved_at):%Y-%m-%d %H:%M}  {d.comment}".rstrip())
    click.echo("* current: new campaigns start on it")


def _source(session, variant: str | None, number: int | None, draft_id: int | None):
    if draft_id is not None:
        return drafts.get(session, draft_id)
    if variant is None:
        raise ValidationError("请给出流程代号或 --draft (give a VARIANT or --draft ID)")
    return library.version(session, variant, number) if number else versions.current_version(session, variant)


@procedures.command("export")
@click.argument("variant", required=False)
@click.option("--version", "number", type=int, help="That version (default: the current one).")
@click.option("--draft", "draft_id", type=int, help="A draft instead of a version.")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="A .zip file, or a folder (new or empty) to write the files into.")
@_reports_errors
def procedures_export(variant: str | None, number: int | None, draft_id: int | None, out: Path) -> None:
    """Write a version or a draft to a folder or a .zip."""
    with _engine().store.read() as session:
        row = _source(session, variant, number, draft_id)
        files, label = dict(row.files), row.variant
        packed = drafts.zip_bytes(row) if out.suffix.lower() == ".zip" else None
    if packed is not None:
        out.write_bytes(packed)
    else:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValidationError(f"{out} 已存在且不是空文件夹 (exists and is not an empty folder)")
        for name, text in files.items():
            target = out / drafts.clean_name(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    click.echo(f"{label}: {len(files)} files -> {out}")


@procedures.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--comment", default="", help="Why (shown on the draft).")
@click.option("--as", "actor", default="admin", show_default=True, help="Who owns the draft (for the audit log).")
@_reports_errors
def procedures_import(source: Path, comment: str, actor: str) -> None:
    """Make a draft from a bundle SOURCE (a folder or a .zip), of the variant its bundle.yaml names."""
    engine = _engine()
    if source.is_dir():
        files = bundle.read_folder(source, engine.forms_library)
    else:
        files = drafts.unzip(source.read_bytes())
    with engine.store.write() as session:
        row = drafts.create_from_files(session, files, actor, engine.clock.now(), comment)
        draft_id, key = row.id, row.variant
    click.echo(f"{key}: draft {draft_id} ({len(files)} files); next: kaohe procedures check {draft_id}")


@procedures.command("check")
@click.argument("target")
@_reports_errors
def procedures_check(target: str) -> None:
    """Every problem of a draft (its id) or a bundle folder; exits 1 when one is an error."""
    engine = _engine()
    helpers = engine.runner.script_engine.environment.globals
    if target.isdigit():
        with engine.store.read() as session:
            found = drafts.findings(drafts.get(session, int(target)), helpers)
    elif Path(target).is_dir():
        found = problems.check_all(bundle.read_folder(Path(target), engine.forms_library), helpers)
    else:
        raise NotFound(f"没有草稿或文件夹 {target} (no draft or folder {target})")
    for f in found:
        click.echo(f"{drafts.where(f) or '-'}: {'错误 error' if f.severity == 'error' else '警告 warning'}: "
                   f"{f.name + ': ' if f.name else ''}{f.reason}")
    errors = problems.errors(found)
    click.echo(f"{len(errors)} errors, {len(found) - len(errors)} warnings")
    if errors:
        sys.exit(1)


@procedures.command("publish")
@click.argument("draft_id", type=int)
@click.option("--comment", required=True, help="What changed and why.")
@click.option("--as", "actor", default="admin", show_default=True, help="Who publishes (for the audit log).")
@_reports_errors
def procedures_publish(draft_id: int, comment: str, actor: str) -> None:
    """Publish a draft as a new version, current for new campaigns (running ones stay on theirs)."""
    version = drafts.publish(_engine(), draft_id, comment, actor)
    click.echo(f"{version.variant}: version {version.version} published and current ({version.content_hash[:12]})")
