"""Bodies as data: a variant's own bodies do only their own tasks, see what their powers say, and are escalated to."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from drive import Driver
from test_access import READS
from test_web_api import bearer
from web_fixtures import login, post, set_passwords

from engine import bootstrap
from engine.errors import BundleError, PermissionDenied
from engine.people import access, accounts
from engine.people.accounts import Grant
from engine.procedure.bodies import PRESETS
from engine.running.reminders import send_reminders
from engine.running.simulate import run_simulation

FIXTURE = Path(__file__).parent / "bundles" / "two-bodies"
REGIONS = ["994001", "994002"]
REVIEW = {"acknowledged": True}  # the review reuses the results-receipt form
APPROVAL = {"approval": "approve", "comment": "同意"}


def deploy(engine) -> None:
    engine.load_regions(engine.check(FIXTURE))
    engine.deploy(FIXTURE)
    with engine.store.write() as session:
        accounts.create_user(session, "quality_group", "领导小组", [Grant("quality_group", variant="two-bodies")])
        accounts.create_user(session, "city_government", "市政府", [Grant("city_government", variant="two-bodies")])


def to_review(engine) -> Driver:
    """A campaign of the fixture with both regions scored: the report waits for the 领导小组."""
    drive = Driver(engine, "two-bodies", REGIONS)
    for region, total in zip(REGIONS, ("80", "90.5"), strict=True):
        drive.file_targets(region, opinions=False)
        drive.score(region, total, onsite=False)
    drive.do("Task_compile_results")
    return drive


def test_each_body_does_only_its_own_approval(engine):
    deploy(engine)
    drive = to_review(engine)
    [review] = drive.ready("Task_group_review")
    assert review.role == "quality_group"
    for outsider in ("city_government", "approver"):  # the other body, and the built-in approver
        with pytest.raises(PermissionDenied):
            engine.complete(review.id, REVIEW, outsider)
    engine.complete(review.id, REVIEW, "quality_group")
    [approval] = drive.ready("Task_approve_results")
    assert approval.role == "city_government"
    for outsider in ("quality_group", "approver"):
        with pytest.raises(PermissionDenied):
            engine.complete(approval.id, APPROVAL, outsider)
    engine.complete(approval.id, APPROVAL, "city_government")
    drive.do("Task_notify_results")
    assert [r["rank"] for r in drive.results()] == [1, 2]


def test_a_body_is_its_variants_alone(engine):
    """The same code granted for another variant, or for none, covers nothing here."""
    deploy(engine)
    drive = to_review(engine)
    [review] = drive.ready("Task_group_review")
    with engine.store.write() as session:
        accounts.create_user(session, "elsewhere", "别处", [Grant("quality_group", variant="national-2013")])
        accounts.create_user(session, "nowhere", "无流程", [Grant("quality_group")])
    for outsider in ("elsewhere", "nowhere"):
        with pytest.raises(PermissionDenied):
            engine.complete(review.id, REVIEW, outsider)
    with engine.store.read() as session:
        nowhere = access.viewer(session, "nowhere")
    assert not nowhere.sees_board("two-bodies") and not nowhere.sees_instance("two-bodies", REGIONS[0])


def test_powers_decide_what_a_body_sees(engine):
    deploy(engine)
    with engine.store.write() as session:
        accounts.create_user(session, "group-member", "成员", [Grant("quality_group", variant="two-bodies")])
    with engine.store.read() as session:
        group = access.viewer(session, "group-member")
    # like: approver — every region of its own variant, nothing of another
    assert group.sees_board("two-bodies") and group.sees_instance("two-bodies", REGIONS[0])
    assert group.reads_results("two-bodies", announced=False)
    assert not group.sees_board("national-2013") and not group.sees_instance("national-2013", "110000")
    assert not group.can_supervise(type("T", (), {"variant": "two-bodies", "region": None})())


def test_an_overdue_filing_is_escalated_to_the_declared_body(engine):
    deploy(engine)
    Driver(engine, "two-bodies", REGIONS[:1])  # the filing was due 31 March; the clock is in June
    sent = [s for s in send_reminders(engine) if s.step == "escalate"]
    assert [s.task.bpmn_id for s in sent] == ["Task_target_filing"]
    assert sent[0].recipients == ["quality_group"]  # not the lead agency, the default for a region's task


@pytest.mark.parametrize(("change", "message"), [
    ("  - code: approver\n    name: 审定机关\n    like: approver\n", "built-in role"),
    ("  - code: quality_group\n    name: 又一个\n    like: approver\n", "declared twice"),
    ("  - code: Bad-Code\n    name: 坏\n    like: approver\n", "lower-case"),
    ("  - code: third_party\n    name: 第三方\n", "either like"),
    ("  - code: third_party\n    name: 第三方\n    like: admin\n", "like must be one of"),
    ("  - code: third_party\n    name: 第三方\n    powers: [approves]\n", "powers must be a list of"),
    ("  - code: third_party\n    like: approver\n", "needs a name"),
])
def test_a_wrong_body_is_refused_by_name(engine, tmp_path, change, message):
    folder = tmp_path / "bundle"
    shutil.copytree(FIXTURE, folder)
    text = (folder / "bundle.yaml").read_text(encoding="utf-8")
    (folder / "bundle.yaml").write_text(text.replace("lanes:  ", change + "lanes:  ", 1), encoding="utf-8")
    with pytest.raises(BundleError, match=message):
        engine.check(folder)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("市政府: city_government", "市政府: city_govt", "unknown roles in lanes: city_govt"),
    ("quality_group: city_government", "quality_group: mayor", "escalation names unknown roles: mayor"),
])
def test_lanes_and_escalation_name_declared_bodies_only(engine, tmp_path, old, new, message):
    folder = tmp_path / "bundle"
    shutil.copytree(FIXTURE, folder)
    text = (folder / "bundle.yaml").read_text(encoding="utf-8")
    assert old in text
    (folder / "bundle.yaml").write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(BundleError, match=message):
        engine.check(folder)


def test_the_simulation_runs_the_two_approvals_to_the_end():
    result = run_simulation(str(FIXTURE), 2025, seed=3)
    events = [e["event"] for e in result["timeline"]]
    review = next(i for i, e in enumerate(events) if e.startswith("市质量强市工作领导小组 领导小组审议"))
    approval = next(i for i, e in enumerate(events) if e.startswith("市人民政府 市政府审定"))
    assert review < approval
    assert sorted(r["rank"] for r in result["regions"]) == [1, 2, 3, 4]


# -- the web pages and the API ------------------------------------------------------------------
def _signed_in(app, username: str):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def test_on_the_pages_and_the_api_each_body_does_only_its_own_task(app, engine):
    deploy(engine)
    set_passwords(engine)
    drive = to_review(engine)
    [review] = drive.ready("Task_group_review")
    city, group = _signed_in(app, "city_government"), _signed_in(app, "quality_group")
    assert city.get(f"/tasks/{review.id}").status_code == 403
    assert "市质量强市工作领导小组" in group.get(f"/tasks/{review.id}").text  # the task page names its body
    assert post(city, f"/tasks/{review.id}", {"acknowledged": "on", "action": "submit"}).status_code == 403
    api = city.post(f"/api/v1/tasks/{review.id}/complete", json=REVIEW, headers=bearer(engine, "city_government"))
    assert api.status_code == 403 and drive.ready("Task_group_review")
    done = group.post(f"/api/v1/tasks/{review.id}/complete", json=REVIEW, headers=bearer(engine, "quality_group"))
    assert done.status_code == 200
    [approval] = drive.ready("Task_approve_results")
    api = group.post(f"/api/v1/tasks/{approval.id}/complete", json=APPROVAL, headers=bearer(engine, "quality_group"))
    assert api.status_code == 403 and drive.ready("Task_approve_results")
    assert city.post(f"/api/v1/tasks/{approval.id}/complete", json=APPROVAL,
                     headers=bearer(engine, "city_government")).status_code == 200


def test_the_administrator_grants_a_variants_body_by_name_for_that_variant_only(app, engine):
    deploy(engine)
    set_passwords(engine)
    admin = _signed_in(app, "admin")
    user_id = int(post(admin, "/admin/users", {"username": "mayor", "display_name": "市长",
                                               "password": "Mayor#2025x"}).location.rsplit("/", 1)[1])
    page = admin.get(f"/admin/users/{user_id}").text
    assert '<option value="city_government">市人民政府（two-bodies）</option>' in page
    for variant in ("", "national-2013"):  # a body is its variant's alone
        refused = post(admin, f"/admin/users/{user_id}/grants", {"role": "city_government", "variant": variant})
        assert refused.status_code == 400
    assert post(admin, f"/admin/users/{user_id}/grants",
                {"role": "city_government", "variant": "two-bodies"}).status_code == 302
    with engine.store.read() as session:
        assert accounts.grants_of(session, "mayor") == [Grant("city_government", None, None, "two-bodies")]
    assert "<td>市人民政府</td>" in admin.get(f"/admin/users/{user_id}").text
    assert "市质量强市工作领导小组" in admin.get("/admin/regions").text


# -- the access rule reads powers, not names ------------------------------------------------------------
DECLARED = {("national-2013", f"body_{role}"): powers for role, powers in PRESETS.items() if role != "admin"}


def _as_body(role: str | None, variant: str | None) -> str | None:
    return f"body_{role}" if role in PRESETS and role != "admin" and variant == "national-2013" else role


@pytest.mark.parametrize(("grant", "work", "before", "after"), READS)
def test_a_declared_body_reads_what_the_role_of_its_powers_reads(grant, work, before, after):
    """Every case of the role-by-role rule again, each built-in role replaced by a national-2013 body with its
    powers: the same answers (a body of one variant still reads nothing of another)."""
    variant = grant.variant or "national-2013"
    body = Grant(_as_body(grant.role, variant), grant.region, grant.unit, variant)
    wrote = replace(work, role=_as_body(work.role, work.variant))
    who = access.Viewer(1, "someone", "someone", (body,), DECLARED)
    assert (who.reads(wrote, announced=False), who.reads(wrote, announced=True)) == (before, after)


def test_only_a_body_with_the_power_supervises_and_only_in_its_variant():
    declared = {("two-bodies", "office"): frozenset({"supervises"}),
                ("two-bodies", "quality_group"): PRESETS["approver"]}
    task = SimpleNamespace(variant="two-bodies", region="994001")
    office = access.Viewer(1, "o", "o", (Grant("office", variant="two-bodies"),), declared)
    group = access.Viewer(2, "g", "g", (Grant("quality_group", variant="two-bodies"),), declared)
    assert office.can_supervise(task) and not group.can_supervise(task)
    assert not office.can_supervise(SimpleNamespace(variant="national-2013", region="110000"))
    assert not office.sees_board("two-bodies") and group.sees_board("two-bodies")


def test_kaohe_init_makes_a_demo_account_for_each_declared_body(engine, tmp_path, monkeypatch):
    shutil.copytree(FIXTURE, tmp_path / "processes" / "two-bodies")
    monkeypatch.setattr(bootstrap.config, "PROCESSES", tmp_path / "processes")
    monkeypatch.setattr(bootstrap.accounts, "hash_password", lambda password: "test-only")
    made = dict(bootstrap.init(engine).users)
    assert made["two-quality-group"] == "市质量强市工作领导小组" and made["two-city-government"] == "市人民政府"
    with engine.store.read() as session:
        assert accounts.grants_of(session, "two-city-government") == [Grant("city_government", None, None,
                                                                             "two-bodies")]
