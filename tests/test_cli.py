"""The ``kaohe`` command, as an administrator or a user at a terminal would run it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import NATIONAL

from engine import bootstrap
from engine.cli import main


@pytest.fixture
def kaohe(tmp_path, monkeypatch, migrated_sqlite):
    """Run ``kaohe`` against a fresh SQLite database; returns (exit code, stdout, stderr)."""
    database = tmp_path / "kaohe.db"
    shutil.copy(migrated_sqlite, database)
    monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{database}")
    # Hashing every demo password at full strength is slow and tests nothing here.
    monkeypatch.setattr(bootstrap.accounts, "hash_password", lambda password: "test-only")
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_init_deploys_both_procedures_and_is_safe_to_run_again(kaohe):
    code, out, _ = kaohe("init")
    assert code == 0
    assert "national-2013 v1" in out and "ziyang-2016 v1" in out and "regions added: 35" in out
    assert "gov-110000" in out and "ziyang-gov-512002" in out and "unit-aqsiq" in out
    code, out, _ = kaohe("init")
    assert code == 0 and "(unchanged)" in out and "regions added: 0" in out


def test_a_campaign_is_worked_from_the_command_line(kaohe, tmp_path):
    kaohe("init")
    code, out, _ = kaohe("campaign", "start", "national-2013", "--year", "2025")
    assert code == 0 and "2025—2026年度, 31 regions" in out
    code, out, _ = kaohe("tasks", "--as", "gov-110000", "--json")
    [task] = json.loads(out)
    assert (task["task"], task["region"], task["role"]) == ("Task_target_filing", "110000", "assessed")

    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"targets": [{"indicator": "T1", "target": "≥ 93%"}]}), encoding="utf-8")
    code, out, _ = kaohe("complete", task["id"], "--as", "gov-110000", "--data", f"@{targets}")
    assert code == 0 and "completed" in out
    code, out, _ = kaohe("tasks", "--role", "member_unit", "--region", "110000", "--json")
    assert {t["task"] for t in json.loads(out)} == {"Task_filing_opinion"}


@pytest.mark.parametrize(("args", "message"), [
    (["complete", "no-such-task", "--as", "gov-110000", "--data", "{}"], "不存在"),
    (["complete", "x", "--as", "gov-110000", "--data", "{not json"], "不是合法的 JSON"),
    (["campaign", "start", "nowhere-2020", "--year", "2025"], "尚未部署"),
    (["deploy", "/nonexistent/bundle"], "bundle folder not found"),
])
def test_errors_are_one_clear_line_and_exit_code_2(kaohe, args, message):
    kaohe("init")
    code, out, err = kaohe(*args)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_a_user_outside_the_region_is_refused(kaohe):
    kaohe("init")
    kaohe("campaign", "start", "national-2013", "--year", "2025", "--region", "110000")
    _, out, _ = kaohe("tasks", "--region", "110000", "--json")
    [task] = json.loads(out)
    code, _, err = kaohe("complete", task["id"], "--as", "gov-120000", "--data", '{"targets": []}')
    assert code == 2 and "无权办理" in err


def test_deploy_reports_a_new_version_or_the_same_one(kaohe, tmp_path):
    kaohe("init")
    copy = tmp_path / "bundle"
    shutil.copytree(NATIONAL, copy)
    code, out, _ = kaohe("deploy", str(copy))
    assert code == 0 and "unchanged" in out and "version 1" in out
    bpmn = copy / "assessment.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace('name="自我评价"', 'name="年度自评"', 1),
                    encoding="utf-8")
    code, out, _ = kaohe("deploy", str(copy))
    assert code == 0 and "deployed version 2" in out


def test_deploy_refuses_forbidden_code_naming_file_and_element(kaohe, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(NATIONAL, copy)
    bpmn = copy / "assessment.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace("results = []", "import os", 1), encoding="utf-8")
    code, _, err = kaohe("deploy", str(copy))
    assert code == 2 and "assessment.bpmn:" in err and "import is not allowed" in err


def test_deploy_warns_of_the_years_a_campaign_would_need_without_holiday_data(kaohe, monkeypatch):
    from datetime import datetime

    from engine.clock import CHINA, SystemClock

    monkeypatch.setattr(SystemClock, "now", lambda self: datetime(2030, 3, 1, 9, tzinfo=CHINA))
    code, out, err = kaohe("deploy", str(Path(__file__).parent / "bundles" / "sept-year"))
    assert code == 0 and "sept-year: deployed version 1" in out
    # 1 March 2030 is in the 2029—2030 year (from 1 September); it and the next need 2029 to 2031.
    assert [line.split("：")[0] for line in err.splitlines()] == [
        f"警告 warning: {year}年节假日安排尚未录入" for year in (2029, 2030, 2031)]
