"""Both catalogues (Chinese, the default, and English) translate every message the web app shows."""

from __future__ import annotations

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from engine import config

WEB = config.ROOT / "web"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]


def _messages() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(WEB), METHODS, keywords={"_": None, "gettext": None}):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_catalogue_is_complete_and_compiled(lang):
    po = WEB / "translations" / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id: m.string for m in catalogue if m.id and m.string and not m.fuzzy}
    missing = sorted(_messages() - set(translated))
    assert not missing, f"untranslated in {po.name} ({lang}): {missing} — run `make translations` and translate"
    mo = po.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime, "run `make setup` to compile the catalogues"


def test_chinese_is_the_default_language(client):
    page = client.get("/login").text
    assert '<html lang="zh-CN">' in page and "登录" in page and "质量工作考核" in page
