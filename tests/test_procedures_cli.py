"""``kaohe procedures``: list, export, import, check and publish, as an administrator at a terminal."""

from __future__ import annotations

import shutil
import zipfile

import pytest
from click.testing import CliRunner
from conftest import ZIYANG

from engine import bootstrap
from engine.cli import main

GAP = ("85 &lt;= ? &lt; 95", "86 &lt;= ? &lt; 95")


@pytest.fixture
def kaohe(tmp_path, monkeypatch, migrated_sqlite):
    database = tmp_path / "kaohe.db"
    shutil.copy(migrated_sqlite, database)
    monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setattr(bootstrap.accounts, "hash_password", lambda password: "test-only")
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    assert run("deploy", str(ZIYANG))[0] == 0
    return run


def test_export_edit_import_check_and_publish(kaohe, tmp_path):
    code, out, _ = kaohe("procedures", "export", "ziyang-2016", "-o", str(tmp_path / "ziyang"))
    assert code == 0 and (tmp_path / "ziyang" / "grade.dmn").is_file()
    grade = tmp_path / "ziyang" / "grade.dmn"
    grade.write_text(grade.read_text(encoding="utf-8").replace(*GAP), encoding="utf-8")
    code, out, _ = kaohe("procedures", "import", str(tmp_path / "ziyang"), "--comment", "试改")
    assert code == 0 and "ziyang-2016: draft 1" in out
    code, out, _ = kaohe("procedures", "check", "1")
    assert code == 1 and "grade.dmn" in out and "85 至 86" in out and "1 errors" in out
    code, _, err = kaohe("procedures", "publish", "1", "--comment", "有缺口")
    assert code == 2 and "85 至 86" in err
    code, out, _ = kaohe("procedures", "list")
    assert code == 0 and "v1 *" in out and "draft 1 by admin" in out and "derived from national-2013" in out

    fixed = grade.read_text(encoding="utf-8").replace(GAP[1], GAP[0]).replace("a级：95分及以上", "a级：95分以上")
    grade.write_text(fixed, encoding="utf-8")
    shutil.make_archive(str(tmp_path / "fixed"), "zip", tmp_path, "ziyang")
    code, out, _ = kaohe("procedures", "import", str(tmp_path / "fixed.zip"))
    assert code == 0 and "draft 2" in out
    assert kaohe("procedures", "check", "2")[0] == 0
    code, out, _ = kaohe("procedures", "publish", "2", "--comment", "修订")
    assert code == 0 and "version 2 published and current" in out
    code, out, _ = kaohe("procedures", "export", "ziyang-2016", "--version", "2", "-o", str(tmp_path / "v2.zip"))
    assert code == 0 and "ziyang-2016/grade.dmn" in zipfile.ZipFile(tmp_path / "v2.zip").namelist()


def test_check_of_a_folder_and_refusals(kaohe, tmp_path):
    code, out, _ = kaohe("procedures", "check", str(ZIYANG))
    assert code == 0 and "0 errors" in out
    assert kaohe("procedures", "check", "nowhere")[0] == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    assert kaohe("procedures", "export", "ziyang-2016", "-o", str(tmp_path / "full"))[0] == 2
    assert kaohe("procedures", "export", "nothing", "-o", str(tmp_path / "n.zip"))[0] == 2
