"""Auditable random sampling: nobody knows the sample before the draw, anyone can check it afterwards."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from web_fixtures import login, post, set_passwords

from engine.cli import main
from engine.errors import ExpressionError
from engine.records import audit
from engine.running import sampling
from engine.running.simulate import run_simulation
from engine.store import Store
from engine.store.models import AuditEntry

SAMPLED = Path(__file__).parent / "bundles" / "sampled-onsite"
CODES = [str(990101 + n) for n in range(10)]


def test_a_draw_is_k_of_the_population_from_a_fresh_seed_and_can_be_redrawn():
    first, second = sampling.draw_sample(CODES, k=3), sampling.draw_sample(CODES, k=3)
    assert first["seed"] != second["seed"] and len(first["seed"]) == 32  # 128 bits from the system's source
    assert len(first["sample"]) == 3 and set(first["sample"]) <= set(CODES)
    assert sampling.redraw(first) == first["sample"] and sampling.redraw(second) == second["sample"]
    # the order the population was given in does not change what a seed draws
    assert sampling.redraw(dict(first, population=list(reversed(CODES)))) == first["sample"]
    # a fixed seed always draws the same (here, from Python's documented seeding of a string)
    assert sampling.redraw({"seed": "kaohe", "population": CODES, "k": 3}) == \
        sorted(random.Random("kaohe").sample(CODES, 3))


def test_a_share_is_rounded_up():
    assert sampling.draw_sample(CODES, share=0.3)["k"] == 3
    assert sampling.draw_sample(CODES, share=0.31)["k"] == 4
    assert sampling.draw_sample(CODES, share=1)["sample"] == CODES


@pytest.mark.parametrize(("args", "message"), [
    ({"population": CODES}, "give either k or share"),
    ({"population": CODES, "k": 2, "share": 0.5}, "give either k or share"),
    ({"population": CODES, "k": 11}, "from 0 to 10"),
    ({"population": CODES, "k": 2.5}, "from 0 to 10"),
    ({"population": CODES, "share": 1.5}, "between 0 and 1"),
    ({"population": "110000", "k": 1}, "needs a list"),
])
def test_a_draw_asked_wrongly_is_an_expression_error(args, message):
    with pytest.raises(ExpressionError, match=message):
        sampling.draw_sample(**args)


def test_the_draw_of_a_running_campaign_is_in_the_audit_log_and_decides_who_is_checked(engine):
    engine.load_regions(engine.check(SAMPLED))
    engine.deploy(SAMPLED)
    campaign = engine.start_campaign("sampled-onsite", 2025)
    [plan] = engine.tasks(campaign_id=campaign.id)
    engine.complete(plan.id, {"method": "random", "basis": "第八条：重点抽查"}, "lead_agency")
    with engine.store.read() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "sample_draw"))
    drawn = entry.data
    assert drawn["population"] == CODES and drawn["k"] == 3 and sampling.redraw(drawn) == drawn["sample"]
    onsite = engine.tasks(campaign_id=campaign.id)
    assert sorted(t.region for t in onsite) == drawn["sample"] and {t.name for t in onsite} == {"实地核查"}


def test_kaohe_simulate_exercises_the_draw_and_kaohe_sample_verify_checks_it(tmp_path, monkeypatch, migrated_sqlite):
    result = run_simulation(str(SAMPLED), 2025, seed=2)
    [drawn] = result["draws"]
    checked = {e["region"] for e in result["timeline"] if e.get("task") == "Task_onsite"}
    assert sorted(checked) == drawn["sample"] and len(checked) == 3
    assert any(e["event"].startswith("随机抽取 3/10") and drawn["seed"] in e["event"] for e in result["timeline"])

    database = tmp_path / "kaohe.db"
    shutil.copy(migrated_sqlite, database)
    monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{database}")
    # A database holding the recorded draw, as an auditor would be given, and a forged one: another sample
    # claimed for the same seed.
    forged = dict(drawn, sample=sorted(set(CODES) - set(drawn["sample"]))[:3])
    store = Store(f"sqlite:///{database}")
    with store.write() as session:
        for record in (drawn, forged):
            audit.record(session, datetime(2025, 1, 6, tzinfo=UTC), "system", "sample_draw", instance_id=1,
                         data={k: record[k] for k in ("sample", "seed", "population", "k")})
    store.dispose()
    runner = CliRunner()
    ok = runner.invoke(main, ["sample", "verify", "1"])
    assert ok.exit_code == 0 and "一致 (the same)" in ok.stdout and drawn["seed"] in ok.stdout
    bad = runner.invoke(main, ["sample", "verify", "2"])
    assert bad.exit_code == 1 and "MISMATCH" in bad.stderr
    assert runner.invoke(main, ["sample", "verify", "99"]).exit_code == 2


def test_the_lead_agency_may_tick_the_regions_itself_by_name(client, engine):
    """The manual alternative: the form lists the campaign's regions by name; what is ticked is what is checked,
    and a region outside the campaign is refused with nothing changed."""
    engine.load_regions(engine.check(SAMPLED))
    engine.deploy(SAMPLED)
    campaign = engine.start_campaign("sampled-onsite", 2025, CODES[:4])
    [plan] = engine.tasks(campaign_id=campaign.id)
    set_passwords(engine)
    login(client, "lead_agency")
    page = client.get(f"/tasks/{plan.id}").text
    assert page.count('type="checkbox" name="sampled"') == 4 and "测试县1</label>" in page and CODES[4] not in page
    refused = post(client, f"/tasks/{plan.id}",
                   {"method": "manual", "basis": "第八条", "sampled": [CODES[0], "110000"]})
    assert refused.status_code == 400 and "110000 不是本考核的考核对象" in refused.text
    assert [t.id for t in engine.tasks(campaign_id=campaign.id)] == [plan.id]
    done = post(client, f"/tasks/{plan.id}", {"method": "manual", "basis": "第八条", "sampled": [CODES[2], CODES[0]]})
    assert done.status_code == 302
    assert sorted(t.region for t in engine.tasks(campaign_id=campaign.id)) == [CODES[0], CODES[2]]
    submitted = client.get(f"/tasks/{plan.id}").text
    assert "测试县3、测试县1" in submitted  # what was ticked, by name
