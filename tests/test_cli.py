"""The ``kaohe`` command, as an administrator or a user at a terminal would run it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import NATIONAL, ZIYANG
from sqlalchemy import select

from engine import bootstrap, config
from engine.cli import main
from engine.store import Store
from engine.store.models import AuditEntry, User


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


def test_init_deploys_every_shipped_procedure_and_is_safe_to_run_again(kaohe, tmp_path):
    code, out, _ = kaohe("init")
    assert code == 0
    assert "national-2013 v1" in out and "ziyang-2016 v1" in out and "regions added: 70" in out
    assert "gov-110000" in out and "ziyang-gov-512002" in out and "unit-aqsiq" in out
    # The local variants too, with their own accounts: a department is no 人民政府.
    assert all(f"{key} v1" in out for key in ("yangling-2016", "dazhou-2015", "guangdong-2019"))
    assert "dazhou-gov-DZ-JKQ" in out and "guangdong-gov-440100" in out
    assert "yangling-gov-YL-FGJ" in out
    store = Store(f"sqlite:///{tmp_path / 'kaohe.db'}")
    with store.read() as session:
        names = dict(session.execute(select(User.username, User.display_name)
                                     .where(User.username.in_(["yangling-gov-YL-FGJ", "dazhou-gov-511702"]))).all())
    store.dispose()
    assert names == {"yangling-gov-YL-FGJ": "区发展改革局", "dazhou-gov-511702": "通川区人民政府"}
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
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace("unit_scores = []", "import os", 1), encoding="utf-8")
    code, _, err = kaohe("deploy", str(copy))
    assert code == 2 and "assessment.bpmn:" in err and "import is not allowed" in err


def _variant(tmp_path, key: str = "yangling-2017", regions: str | None = None):
    """A new variant made from the 资阳 bundle: another key, its own assessed (a government and a department)."""
    folder = tmp_path / key
    shutil.copytree(ZIYANG, folder)
    manifest = folder / "bundle.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("key: ziyang-2016", f"key: {key}"),
                        encoding="utf-8")
    (folder / "regions.yaml").write_text(regions or (
        "regions:\n  - {code: \"610403\", name: 杨陵区人民政府}\n  - {code: \"YQ-FGJ\", name: 区发展改革局}\n"),
        encoding="utf-8")
    return folder


def _rename_task(folder, old: str, new: str) -> None:
    bpmn = folder / "assessment.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    assert old in text
    bpmn.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_deploy_of_a_new_variant_loads_its_regions_and_accounts_so_a_campaign_can_start(kaohe, tmp_path):
    kaohe("init", "--no-demo")
    folder = _variant(tmp_path)
    code, out, _ = kaohe("deploy", str(folder))
    assert code == 0 and "deployed version 1" in out
    assert "regions added: 2" in out and "610403 杨陵区人民政府" in out and "YQ-FGJ 区发展改革局" in out
    assert "2 个考核对象没有账号" in out and "--accounts" in out and "kaohe campaign start yangling-2017" in out
    code, out, _ = kaohe("deploy", str(folder), "--accounts")
    assert "regions added: 0" in out and "accounts created (no password yet): gov-610403, gov-YQ-FGJ" in out
    code, out, _ = kaohe("campaign", "start", "yangling-2017", "--year", "2025")
    assert code == 0 and "2 regions" in out
    code, out, _ = kaohe("tasks", "--as", "gov-YQ-FGJ", "--json")
    assert [(t["task"], t["region"]) for t in json.loads(out)] == [("Task_target_filing", "YQ-FGJ")]


def test_deploy_again_adds_new_regions_and_keeps_those_an_administrator_edited(kaohe, tmp_path):
    kaohe("init", "--no-demo")
    folder = _variant(tmp_path)
    kaohe("deploy", str(folder))
    edits = tmp_path / "edits.csv"
    edits.write_text("code,name,variant\n610403,杨陵区政府,yangling-2017\n", encoding="utf-8")
    code, out, _ = kaohe("regions", "import", str(edits))
    assert code == 0 and "changed 1" in out
    (folder / "regions.yaml").write_text(
        "regions:\n  - {code: \"610403\", name: 杨陵区人民政府}\n  - {code: \"YQ-FGJ\", name: 区发展改革局}\n"
        "  - {code: \"YQ-SJJ\", name: 区市场监管局}\n", encoding="utf-8")
    code, out, _ = kaohe("deploy", str(folder))
    assert "regions added: 1\n  YQ-SJJ 区市场监管局" in out and "kept as edited" in out and "610403" in out
    code, out, _ = kaohe("regions", "list", "--variant", "yangling-2017")
    assert "杨陵区政府" in out and "杨陵区人民政府" not in out and "3 regions" in out


def test_campaigns_start_on_the_current_version_which_publish_and_make_current_choose(kaohe, tmp_path):
    kaohe("init", "--no-demo")
    folder = _variant(tmp_path)
    kaohe("deploy", str(folder))
    _rename_task(folder, 'name="目标备案"', 'name="年度目标备案"')
    code, out, _ = kaohe("deploy", str(folder))
    assert "deployed version 2" in out
    _rename_task(folder, 'name="年度目标备案"', 'name="目标备案"')  # back to version 1's content
    code, out, _ = kaohe("deploy", str(folder))
    assert code == 0 and "same content as version 1; the current version stays 2" in out
    assert "kaohe publish yangling-2017 1" in out

    def first_task(year: str) -> str:
        kaohe("campaign", "start", "yangling-2017", "--year", year, "--region", "610403")
        _, listed, _ = kaohe("tasks", "--region", "610403", "--json")
        return [t["name"] for t in json.loads(listed)][-1]

    assert first_task("2024") == "年度目标备案"  # still version 2
    code, out, _ = kaohe("deploy", str(folder), "--make-current")
    assert code == 0 and "made current again (was version 2)" in out
    assert first_task("2025") == "目标备案"
    code, out, _ = kaohe("publish", "yangling-2017", "2", "--as", "lead")
    assert code == 0 and "version 2 is current (was 1)" in out
    assert first_task("2026") == "年度目标备案"
    code, _, err = kaohe("publish", "yangling-2017", "7")
    assert code == 2 and "没有第 7 版" in err and "deployed: 1, 2" in err
    store = Store(config.database_url())
    with store.read() as session:
        published = [(e.actor, e.data) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "publish").order_by(AuditEntry.id))]
    store.dispose()
    assert published == [("admin", {"variant": "yangling-2017", "version": 1, "previous": 2}),
                         ("lead", {"variant": "yangling-2017", "version": 2, "previous": 1})]


def test_a_region_file_with_bad_rows_imports_nothing_and_names_every_bad_row(kaohe, tmp_path):
    kaohe("init", "--no-demo")
    bad = tmp_path / "regions.csv"
    bad.write_text("区划代码,名称,考核流程\n"
                   "610403,杨陵区,national-2013\n"  # a good row: not imported either
                   "11000,五位数,national-2013\n"
                   "YL-FGJ,,national-2013\n"
                   "610404,某区,nowhere-2020\n"
                   "610403,重复,national-2013\n"
                   "区 局,中文代码,national-2013\n", encoding="utf-8")
    _, before, _ = kaohe("regions", "list")
    code, _, err = kaohe("regions", "import", str(bad))
    assert code == 2 and "5 处错误，未导入任何地区" in err and "Traceback" not in err
    for row, message in [(3, "6 位 GB/T 2260"), (4, "名称为空"), (5, "nowhere-2020 尚未部署"), (6, "与第 2 行重复"),
                         (7, "非数字代码")]:
        assert f"第 {row} 行 (row {row}): " in err and message in err
    _, after, _ = kaohe("regions", "list")
    assert after == before and "610403" not in after


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_regions_export_and_import_round_trip_in_csv_and_excel(kaohe, tmp_path, suffix):
    kaohe("init", "--no-demo")
    exported = tmp_path / f"ziyang.{suffix}"
    code, out, _ = kaohe("regions", "export", str(exported), "--variant", "ziyang-2016")
    assert code == 0 and "4 regions written" in out
    if suffix == "csv":
        assert exported.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese as UTF-8
        assert "512002,雁江区,ziyang-2016" in exported.read_text(encoding="utf-8-sig")
    code, out, _ = kaohe("regions", "import", str(exported))
    assert code == 0 and "added 0, 修改 changed 0, 未变 unchanged 4" in out


def test_an_excel_file_of_departments_with_numeric_codes_is_imported(kaohe, tmp_path):
    from openpyxl import Workbook

    kaohe("init", "--no-demo")
    book = Workbook()
    book.active.append(["代码", "名称"])
    book.active.append([610403, "杨陵区人民政府"])  # Excel keeps an all-digit code as a number
    book.active.append(["YL-GWH", "杨凌示范区管委会"])
    book.save(tmp_path / "yl.xlsx")
    code, out, err = kaohe("regions", "import", str(tmp_path / "yl.xlsx"))
    assert code == 2 and "缺少 variant 列" in err  # no variant column and no --variant
    code, out, _ = kaohe("regions", "import", str(tmp_path / "yl.xlsx"), "--variant", "ziyang-2016")
    assert code == 0 and "added 2" in out
    _, listed, _ = kaohe("regions", "list", "--variant", "ziyang-2016")
    assert "610403       杨陵区人民政府" in listed and "YL-GWH" in listed and "6 regions" in listed


def test_deploy_warns_of_the_years_a_campaign_would_need_without_holiday_data(kaohe, monkeypatch):
    from datetime import datetime

    from engine.clock import CHINA, SystemClock

    monkeypatch.setattr(SystemClock, "now", lambda self: datetime(2030, 3, 1, 9, tzinfo=CHINA))
    code, out, err = kaohe("deploy", str(Path(__file__).parent / "bundles" / "sept-year"))
    assert code == 0 and "sept-year: 已部署 deployed version 1" in out
    # 1 March 2030 is in the 2029—2030 year (from 1 September); it and the next need 2029 to 2031.
    assert [line.split("：")[0] for line in err.splitlines()] == [
        f"警告 warning: {year}年节假日安排尚未录入" for year in (2029, 2030, 2031)]


def test_a_command_on_a_database_never_set_up_says_to_run_init(tmp_path, monkeypatch):
    monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    result = CliRunner().invoke(main, ["deploy", str(NATIONAL)])
    assert result.exit_code == 2 and "请先运行 kaohe init" in result.stderr and "Traceback" not in result.output
    assert "no such table" not in result.stderr


def test_campaign_start_refuses_a_second_campaign_and_warns_of_passed_deadlines(kaohe):
    kaohe("init", "--no-demo")
    code, _, err = kaohe("campaign", "start", "ziyang-2016", "--year", "2025", "--region", "512002")
    assert code == 0 and "以下期限已过" in err and "目标备案" in err  # told, not stopped: the operator decides
    code, _, err = kaohe("campaign", "start", "ziyang-2016", "--year", "2025", "--region", "512021")
    assert code == 2 and "已经启动" in err
