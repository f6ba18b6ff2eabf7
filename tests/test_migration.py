"""Migrating running instances to a newer version of their procedure (engine/migration.py)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import LAB, ZIYANG, make_engine
from drive import Driver, unit_scores, veto_rows
from sqlalchemy import func, select

from engine.cli import main
from engine.config import PROCESSES
from engine.errors import NotFound, ValidationError
from engine.procedure import migration
from engine.running import timers
from engine.running.serializer import find_task
from engine.running.timers import fire_due_timers
from engine.store import db
from engine.store.models import AuditEntry, Campaign, InboxTask, Instance, ProcessVersion, Region, Timer

REGIONS = ["512002", "512021", "512022"]
FILING_CONDITION = "filing_decision == 'return'"


def edited(tmp_path: Path, source: Path, name: str, edits: dict[str, list[tuple[str, str]]]) -> Path:
    """A copy of a bundle with each file's (old, new) replacements made (each old text must be there)."""
    folder = tmp_path / name
    shutil.copytree(source, folder)
    for file, pairs in edits.items():
        path = folder / file
        text = path.read_text(encoding="utf-8")
        for old, new in pairs:
            assert old in text, f"{old!r} not in {file}"
            text = text.replace(old, new, 1)
        path.write_text(text, encoding="utf-8")
    return folder


def presentation_only(tmp_path: Path) -> Path:
    """Ziyang with a form label, a task's instructions and a task's name changed: nothing that runs."""
    return edited(tmp_path, ZIYANG, "ziyang-v2", {
        "forms/score-confirmation.schema.json": [('"title": "确认结论"', '"title": "考核组确认结论"')],
        "assessment.bpmn": [("逐项填写后报市质量强市工作领导小组办公室审核备案", "逐项填写后报送审核"),
                            ('name="审核备案"', 'name="审核目标备案"')]})


def changed_gateway(tmp_path: Path) -> Path:
    """Ziyang whose filing gateway (备案审核结论) decides on a changed condition."""
    return edited(tmp_path, ZIYANG, "ziyang-v2", {
        "assessment.bpmn": [(FILING_CONDITION, "filing_decision != 'accept'")]})


@pytest.fixture
def campaign(engine):
    """A ziyang campaign: 雁江区 past filing (at self-evaluation), 安岳县 filed (at the review), 乐至县 at filing."""
    driver = Driver(engine, "ziyang-2016", REGIONS)
    driver.file_targets("512002")
    driver.do("Task_target_filing", region="512021")
    return driver


def _instances(engine, campaign_id: int) -> dict:
    with engine.store.read() as session:
        return {i.region: i for i in session.scalars(select(Instance).where(Instance.campaign_id == campaign_id))}


def _version(engine, instance: Instance) -> int:
    with engine.store.read() as session:
        return session.get(ProcessVersion, instance.version_id).version


def _finish(driver: Driver) -> None:
    """Work every region from where it stands to its score, then approve and announce."""
    for region in REGIONS:
        ready = {t.bpmn_id for t in driver.ready(region=region)}
        if "Task_target_filing" in ready:
            driver.do("Task_target_filing", region=region)
            ready = {"Task_filing_review"}
        if "Task_filing_review" in ready:
            driver.do("Task_filing_review", {"filing_decision": "accept", "comment": "予以备案"}, region=region)
        if driver.ready("Task_self_evaluation", region):
            driver.do("Task_self_evaluation", region=region)
        for unit, scores in unit_scores(driver.scheme, "95").items():
            driver.do("Task_indicator_scoring", {"scores": scores}, region=region, unit=unit)
        driver.do("Task_score_confirmation", {"confirmation": "confirm", "veto_items": veto_rows(driver.scheme),
                                              "comment": "确认"}, region=region)
    driver.approve_and_announce()


def test_presentation_changes_let_every_instance_move_and_it_runs_to_the_end_on_the_new_version(
        engine, campaign, tmp_path):
    engine.deploy(presentation_only(tmp_path))
    plan = migration.preview(engine, campaign.campaign.id)
    assert plan.to_version == 2
    assert [(r.region, r.migratable, r.reasons) for r in plan.rows] == [
        (None, True, []), ("512002", True, []), ("512021", True, []), ("512022", True, [])]
    assert {r.region: r.at for r in plan.rows}["512021"] == ["审核备案"]  # where it stands, by step name
    assert all(_version(engine, i) == 1 for i in _instances(engine, campaign.campaign.id).values())  # a preview

    done = migration.migrate(engine, "admin", campaign.campaign.id)
    assert [(r.region, r.outcome) for r in done.rows] == [
        (None, "migrated"), ("512002", "migrated"), ("512021", "migrated"), ("512022", "migrated")]
    instances = _instances(engine, campaign.campaign.id)
    assert {_version(engine, i) for i in instances.values()} == {2}
    with engine.store.read() as session:
        assert session.get(ProcessVersion, session.get(Campaign, campaign.campaign.id).version_id).version == 2
        moves = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "instance_migrate")))
    assert sorted(m.instance_id for m in moves) == sorted(i.id for i in instances.values())
    assert {(m.actor, m.data["from"], m.data["to"]) for m in moves} == {("admin", 1, 2)}
    # The ready task's inbox row has the new name; the new instructions and form label are what users get.
    [review] = campaign.ready("Task_filing_review", "512021")
    assert review.name == "审核目标备案"
    _finish(campaign)
    [confirm] = [e for e in _instances(engine, campaign.campaign.id).values() if e.region == "512002"]
    assert confirm.status == "completed" and _version(engine, confirm) == 2
    assert [r["grade"] for r in campaign.results()] == ["a", "a", "a"]


def test_member_units_scoring_when_moved_keep_their_unit_and_the_new_form_applies(engine, campaign, tmp_path):
    campaign.do("Task_self_evaluation", region="512002")  # its member units' scoring tasks are ready
    units = {t.id: t.unit for t in campaign.ready("Task_indicator_scoring", "512002")}
    engine.deploy(presentation_only(tmp_path))
    migration.migrate(engine, "admin", campaign.campaign.id)
    with engine.store.read() as session:
        instance = session.get(Instance, next(iter(engine.tasks(region="512002"))).instance_id)
        workflow = engine.runner.load(instance, engine.version(session, instance.version_id))
    assert {task_id: find_task(workflow, task_id).data.get("unit") for task_id in units} == units
    for unit, rows in unit_scores(campaign.scheme, "91.5").items():
        campaign.do("Task_indicator_scoring", {"scores": rows}, region="512002", unit=unit)
    [confirm] = campaign.ready("Task_score_confirmation", "512002")
    assert engine.form_for(confirm)["properties"]["confirmation"]["title"] == "考核组确认结论"
    campaign.do("Task_score_confirmation", {"confirmation": "confirm", "veto_items": veto_rows(campaign.scheme),
                                            "comment": "确认"}, region="512002")
    data = campaign.region_data("512002")
    assert (str(data["score"]), data["grade"]) == ("91.5", "b")  # 85 ≤ score < 95


def test_an_instance_past_a_changed_step_is_refused_with_the_reason_and_left_untouched(engine, campaign, tmp_path):
    engine.deploy(changed_gateway(tmp_path))
    before = _instances(engine, campaign.campaign.id)["512002"]
    with engine.store.read() as session:
        inbox_before = sorted((t.id, t.name, t.due_at) for t in session.scalars(
            select(InboxTask).where(InboxTask.instance_id == before.id)))
    plan = migration.preview(engine, campaign.campaign.id)
    verdicts = {r.region: r for r in plan.rows}
    assert verdicts["512002"].reasons == [
        "已办理的步骤“备案审核结论”在新版本中已改变：条件 (the step '备案审核结论' it has passed changed: conditions)"]
    assert [r for r in verdicts if not verdicts[r].migratable] == ["512002"]

    done = {r.region: r for r in migration.migrate(engine, "admin", campaign.campaign.id).rows}
    assert {region: r.outcome for region, r in done.items()} == {
        None: "migrated", "512002": "refused", "512021": "migrated", "512022": "migrated"}
    assert done["512002"].reasons == verdicts["512002"].reasons
    after = _instances(engine, campaign.campaign.id)
    untouched = after["512002"]
    assert (untouched.state, untouched.revision, untouched.version_id, untouched.updated_at) == (
        before.state, before.revision, before.version_id, before.updated_at)
    with engine.store.read() as session:
        assert sorted((t.id, t.name, t.due_at) for t in session.scalars(
            select(InboxTask).where(InboxTask.instance_id == before.id))) == inbox_before
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "instance_migrate", AuditEntry.instance_id == before.id)) == 0
        # The campaign stays on version 1 while one of its instances does.
        assert session.get(Campaign, campaign.campaign.id).version_id == before.version_id
    assert _version(engine, after["512021"]) == 2 and _version(engine, after["512022"]) == 2
    # The refused one still runs on version 1, the moved ones on version 2, under the new condition.
    campaign.do("Task_filing_review", {"filing_decision": "return", "comment": "退回修改"}, region="512021")
    assert [t.bpmn_id for t in campaign.ready(region="512021")] == ["Task_target_filing"]
    campaign.do("Task_self_evaluation", region="512002")


def test_refusals_name_what_is_wrong_and_write_nothing(engine, campaign, tmp_path):
    engine.deploy(presentation_only(tmp_path))
    states = {r: i.state for r, i in _instances(engine, campaign.campaign.id).items()}
    with pytest.raises(NotFound, match=r"没有第 7 版（已部署：1, 2）"):
        migration.migrate(engine, "admin", campaign.campaign.id, to_version=7)
    with pytest.raises(NotFound, match="考核 999 不存在"):
        migration.preview(engine, 999)
    with pytest.raises(ValidationError, match="请指定考核或流程实例"):
        migration.preview(engine)
    other = Driver(engine, "national-2013", ["110000"]).campaign
    national = [i.id for i in engine.campaign_instances(other.id)]
    with pytest.raises(NotFound, match="不属于该考核"):
        migration.migrate(engine, "admin", campaign.campaign.id, instance_ids=national)
    same = migration.migrate(engine, "admin", campaign.campaign.id, to_version=1)
    assert {r.outcome for r in same.rows} == {"refused"}
    assert same.rows[0].reasons == ["已在第 1 版，不早于第 1 版 (already on version 1, not older than 1)"]
    assert {r: i.state for r, i in _instances(engine, campaign.campaign.id).items()} == states


def test_chosen_instances_move_alone(engine, campaign, tmp_path):
    engine.deploy(presentation_only(tmp_path))
    chosen = _instances(engine, campaign.campaign.id)["512022"].id
    plan = migration.migrate(engine, "admin", instance_ids=[chosen])
    assert [(r.instance_id, r.outcome) for r in plan.rows] == [(chosen, "migrated")]
    versions = {r: _version(engine, i) for r, i in _instances(engine, campaign.campaign.id).items()}
    assert versions == {None: 1, "512002": 1, "512021": 1, "512022": 2}


def test_an_ended_instance_is_not_moved(engine, tmp_path):
    driver = Driver(engine, "ziyang-2016", ["512002"])
    engine.deploy(presentation_only(tmp_path))
    with engine.store.write() as session:
        row = session.scalars(select(Instance).where(Instance.region == "512002")).one()
        row.status = "cancelled"
    verdicts = {r.region: r for r in migration.preview(engine, driver.campaign.id).rows}
    assert verdicts["512002"].reasons == ["流程实例已结束，无需迁移 (the instance has ended)"]


def test_a_waiting_timer_keeps_its_due_time_through_the_move(lab, tmp_path):
    campaign = lab.start_campaign("timer-lab", 2025, ["990001"])
    instance = next(i.id for i in lab.campaign_instances(campaign.id) if i.region == "990001")
    [wait] = _waiting(lab, instance)
    lab.clock.set(wait.due_at)
    assert fire_due_timers(lab) == 1
    [late] = _waiting(lab, instance)
    assert late.bpmn_id == "Late_file"  # 30 days after the task became ready
    lab.clock.advance(days=10)
    lab.deploy(edited(tmp_path, LAB, "lab-v2", {"lab.bpmn": [('name="报送材料"', 'name="报送整改材料"')]}))
    [moved] = migration.migrate(lab, "admin", instance_ids=[instance]).rows
    assert moved.outcome == "migrated", moved.reasons
    [kept] = _waiting(lab, instance)
    assert (kept.id, kept.due_at) == (late.id, late.due_at)  # not restarted on the day of the move
    [task] = [t for t in lab.tasks(campaign_id=campaign.id) if t.region == "990001"]
    assert (task.name, task.due_at) == ("报送整改材料", late.due_at)
    lab.clock.set(late.due_at - timedelta(seconds=1))
    assert fire_due_timers(lab) == 0
    lab.clock.set(late.due_at)
    assert fire_due_timers(lab) == 1
    assert [t.bpmn_id for t in lab.tasks(campaign_id=campaign.id) if t.region == "990001"] == ["Task_chase"]


def _waiting(engine, instance_id: int) -> list[Timer]:
    with engine.store.read() as session:
        return list(session.scalars(select(Timer).where(Timer.instance_id == instance_id, timers.WAITING)))


def test_a_plan_is_json_for_the_api(engine, campaign, tmp_path):
    engine.deploy(changed_gateway(tmp_path))
    body = json.loads(json.dumps(migration.preview(engine, campaign.campaign.id).as_json()))
    assert (body["to_version"], body["migratable"], body["refused"]) == (2, 3, 1)
    [refused] = [i for i in body["instances"] if not i["migratable"]]
    assert (refused["region"], refused["region_name"], refused["at"]) == ("512002", "雁江区", ["自我评价"])


def test_the_command_line_previews_with_dry_run_then_migrates(sqlite_engine, tmp_path, monkeypatch):
    engine = sqlite_engine
    driver = Driver(engine, "ziyang-2016", REGIONS)
    driver.file_targets("512002")
    engine.deploy(changed_gateway(tmp_path))
    monkeypatch.setenv("KAOHE_DATABASE_URL", str(engine.store.url))
    runner = CliRunner()
    states = {r: i.state for r, i in _instances(engine, driver.campaign.id).items()}
    result = runner.invoke(main, ["procedures", "migrate", str(driver.campaign.id), "--to", "2", "--dry-run"])
    assert result.exit_code == 1
    assert "ziyang-2016 → 第 2 版 (version 2)（预览 dry run）" in result.stdout
    assert "雁江区 v1: 不可迁移 cannot move\n      已办理的步骤“备案审核结论”在新版本中已改变" in result.stdout
    assert "可迁移 3，不可迁移 1" in result.stdout
    assert {r: i.state for r, i in _instances(engine, driver.campaign.id).items()} == states
    result = runner.invoke(main, ["procedures", "migrate", str(driver.campaign.id), "--as", "admin"])
    assert result.exit_code == 1 and result.stdout.count("已迁移 migrated") == 3
    assert "雁江区 v1: 未迁移 refused" in result.stdout
    result = runner.invoke(main, ["procedures", "migrate", str(driver.campaign.id), "--to", "9"])
    assert result.exit_code == 2 and "没有第 9 版（已部署：1, 2）" in result.stderr


def test_a_changed_step_ahead_of_a_multi_instance_in_progress_is_named_and_ahead_of_the_others_runs_new(
        engine, campaign, tmp_path):
    campaign.do("Task_self_evaluation", region="512002")  # 雁江区: the member units are scoring
    engine.deploy(edited(tmp_path, ZIYANG, "ziyang-v2", {"assessment.bpmn": [
        ("<bpmn:script>score = total_score(unit_scores)</bpmn:script>",
         "<bpmn:script>score = total_score(unit_scores)\nrecounted = True</bpmn:script>")]}))
    done = {r.region: r for r in migration.migrate(engine, "admin", campaign.campaign.id).rows}
    assert done["512002"].reasons == [
        "步骤“指标评分”进行中，其后的步骤“计算得分”在新版本中已改变：脚本 (the step '计算得分' after '指标评分', "
        "which is in progress, changed: script)"]
    assert {region: r.outcome for region, r in done.items()} == {
        None: "migrated", "512002": "refused", "512021": "migrated", "512022": "migrated"}
    _finish(campaign)
    assert "recounted" not in campaign.region_data("512002")  # still on version 1
    assert campaign.region_data("512021")["recounted"] is True  # reached the changed script on version 2


def without_filing_review(tmp_path: Path) -> Path:
    """Ziyang with its filing review (审核备案) removed: filing goes straight to the gateway."""
    folder = edited(tmp_path, ZIYANG, "ziyang-v2", {"assessment.bpmn": [
        ("<bpmn:flowNodeRef>Task_filing_review</bpmn:flowNodeRef>", ""),
        ('<bpmn:sequenceFlow id="Flow_r02" sourceRef="Task_target_filing" targetRef="Task_filing_review" />',
         '<bpmn:sequenceFlow id="Flow_r02" sourceRef="Task_target_filing" targetRef="Gateway_filing" />'),
        ('<bpmn:sequenceFlow id="Flow_r04" sourceRef="Task_filing_review" targetRef="Gateway_filing" />', ""),
        ("<bpmn:incoming>Flow_r04</bpmn:incoming>", "<bpmn:incoming>Flow_r02</bpmn:incoming>"),
        (FILING_CONDITION, "False")]})  # nobody decides on the filing any more
    path = folder / "assessment.bpmn"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'<bpmn:userTask id="Task_filing_review".*?</bpmn:userTask>', "", text, flags=re.S)
    text = re.sub(r'<bpmndi:BPMN(Shape|Edge) id="(Task_filing_review|Flow_r04)_di".*?</bpmndi:BPMN\1>', "", text)
    path.write_text(text, encoding="utf-8")
    # and its English: a catalogue naming a step the bundle no longer has is refused
    path = folder / "english.yaml"
    text = path.read_text(encoding="utf-8").replace("  Task_filing_review: Filing review\n", "")
    path.write_text(re.sub(r"  Task_filing_review: \|-\n(    .*\n|\n)*", "", text), encoding="utf-8")
    return folder


def test_a_removed_step_an_instance_is_at_or_has_passed_is_named(engine, campaign, tmp_path):
    engine.deploy(without_filing_review(tmp_path))
    states = {r: i.state for r, i in _instances(engine, campaign.campaign.id).items()}
    verdicts = {r.region: r for r in migration.migrate(engine, "admin", campaign.campaign.id).rows}
    passed = "已办理的步骤“审核备案”在新版本中已删除 (the step '审核备案' it has passed was removed)"
    assert passed in verdicts["512002"].reasons
    at = "所在的步骤“审核备案”在新版本中已删除 (the step '审核备案' it is at was removed)"
    assert at in verdicts["512021"].reasons
    # Filing itself now flows elsewhere: changed for the one at it, as for those past it.
    assert verdicts["512022"].reasons == [
        "所在的步骤“目标备案”在新版本中已改变：后续流向 (the step '目标备案' it is at changed: outgoing flows)"]
    assert {r: v.outcome for r, v in verdicts.items()} == {
        None: "migrated", "512002": "refused", "512021": "refused", "512022": "refused"}
    after = {r: i.state for r, i in _instances(engine, campaign.campaign.id).items()}
    assert {r: after[r] == states[r] for r in REGIONS} == dict.fromkeys(REGIONS, True)


@pytest.mark.postgres
def test_an_instance_another_transaction_holds_is_reported_busy_and_the_others_move(pg_store, clock, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setattr(db, "LOCK_TIMEOUT_SECONDS", 0.5)
    pg_store.engine.dispose()  # new connections take the short lock timeout
    engine = make_engine(pg_store, clock)
    driver = Driver(engine, "ziyang-2016", REGIONS)
    engine.deploy(presentation_only(tmp_path))
    held = _instances(engine, driver.campaign.id)["512021"]
    other = pg_store.another()
    try:
        with other.write() as session:
            other.lock_instance(session, held.id)  # a completion in progress, say
            plan = {r.region: r for r in migration.migrate(engine, "admin", driver.campaign.id).rows}
    finally:
        other.dispose()
    assert plan["512021"].outcome == "refused"
    assert plan["512021"].reasons == ["另一个操作正在处理该流程实例，请稍后重试 (the instance is busy; try again)"]
    assert {r: v.outcome for r, v in plan.items() if r != "512021"} == dict.fromkeys([None, "512002", "512022"],
                                                                                      "migrated")
    assert _instances(engine, driver.campaign.id)["512021"].state == held.state
    again = {r.region: r for r in migration.migrate(engine, "admin", driver.campaign.id).rows}
    assert again["512021"].outcome == "migrated"  # once it is free, the same command moves it


@pytest.mark.parametrize("variant", sorted(p.name for p in PROCESSES.iterdir() if (p / "bundle.yaml").exists()))
def test_every_shipped_procedure_moves_to_a_version_that_changes_nothing_that_runs(sqlite_engine, tmp_path, variant):
    engine = sqlite_engine
    folder = PROCESSES / variant
    engine.load_regions(engine.check(folder))
    engine.deploy(folder)
    with engine.store.read() as session:
        first = session.scalars(select(Region.code).where(Region.region_set == variant).order_by(Region.code)).first()
    campaign = engine.start_campaign(variant, 2025, [first])
    bpmn = next(folder.glob("*.bpmn")).name
    engine.deploy(edited(tmp_path, folder, "v2", {bpmn: [("</bpmn:definitions>",
                                                           "<!-- 第 2 版 -->\n</bpmn:definitions>")]}))
    plan = migration.migrate(engine, "admin", campaign.id)
    assert [(r.outcome, r.reasons) for r in plan.rows] == [("migrated", [])] * 2
    for instance in engine.campaign_instances(campaign.id):  # each loads and waits where it waited
        assert engine.waiting_on(instance.id) == next(r.at for r in plan.rows if r.instance_id == instance.id)


SUB_REGION = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="sub_definitions"
                  targetNamespace="http://kaohe.example/migration">
  <bpmn:process id="corpus_region" name="子流程地区" isExecutable="true">
    <bpmn:laneSet id="Lanes">
      <bpmn:lane id="Lane_region" name="地区">
        <bpmn:flowNodeRef>Start_region</bpmn:flowNodeRef><bpmn:flowNodeRef>Sub</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Sub_start</bpmn:flowNodeRef><bpmn:flowNodeRef>Task_inner</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Sub_end</bpmn:flowNodeRef><bpmn:flowNodeRef>Task_after</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>End_region</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="Start_region"/>
    <bpmn:sequenceFlow id="F1" sourceRef="Start_region" targetRef="Sub"/>
    <bpmn:subProcess id="Sub" name="材料准备">
      <bpmn:startEvent id="Sub_start"/>
      <bpmn:sequenceFlow id="S1" sourceRef="Sub_start" targetRef="Task_inner"/>
      <bpmn:manualTask id="Task_inner" name="准备材料"/>
      <bpmn:sequenceFlow id="S2" sourceRef="Task_inner" targetRef="Sub_end"/>
      <bpmn:endEvent id="Sub_end"/>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="F2" sourceRef="Sub" targetRef="Task_after"/>
    <bpmn:manualTask id="Task_after" name="送达材料"/>
    <bpmn:sequenceFlow id="F3" sourceRef="Task_after" targetRef="End_region"/>
    <bpmn:endEvent id="End_region"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _sub_bundle(tmp_path: Path, name: str, region: str = SUB_REGION) -> Path:
    folder = tmp_path / name
    shutil.copytree(Path(__file__).parent / "corpus" / "base", folder)
    (folder / "decision-caller.bpmn").unlink()
    (folder / "region.bpmn").write_text(region, encoding="utf-8")
    return folder


@pytest.mark.parametrize("inner, outcome", [
    ('<bpmn:manualTask id="Task_inner" name="准备并上传材料"/>', "migrated"),  # a new name: presentation
    ('<bpmn:scriptTask id="Task_inner" name="准备材料"><bpmn:script>ready = True</bpmn:script></bpmn:scriptTask>',
     "refused"),  # now a script: the step it is at inside the sub-process changed its type
])
def test_an_instance_inside_a_sub_process_moves_with_it_or_is_refused_by_the_inner_step(engine, tmp_path, inner,
                                                                                        outcome):
    folder = _sub_bundle(tmp_path, "v1")
    engine.load_regions(engine.check(folder))
    engine.deploy(folder)
    campaign = engine.start_campaign("corpus", 2025, ["990001"])
    [inner_task] = engine.tasks(campaign_id=campaign.id)
    assert inner_task.bpmn_id == "Task_inner"
    engine.deploy(_sub_bundle(tmp_path, "v2", SUB_REGION.replace('<bpmn:manualTask id="Task_inner" name="准备材料"/>',
                                                                 inner)))
    [region] = [r for r in migration.migrate(engine, "admin", campaign.id).rows if r.region == "990001"]
    assert region.outcome == outcome
    if outcome == "refused":
        assert region.reasons == ["所在的步骤“准备材料”在新版本中已改变：元素类型 (the step '准备材料' it is at "
                                  "changed: type)"]
        assert [t.id for t in engine.tasks(campaign_id=campaign.id)] == [inner_task.id]
        return
    [moved] = engine.tasks(campaign_id=campaign.id)
    assert (moved.id, moved.name) == (inner_task.id, "准备并上传材料")
    engine.complete(moved.id, {}, "assessed")
    [after] = engine.tasks(campaign_id=campaign.id)
    assert after.name == "送达材料"
    engine.complete(after.id, {}, "assessed")
    assert {i.status for i in engine.campaign_instances(campaign.id)} == {"completed"}
