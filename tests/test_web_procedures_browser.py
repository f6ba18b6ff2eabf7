"""The procedure library in Chromium: an administrator uploads a grade table with a gap into a draft of 资阳,
sees it reported, fixes it, publishes, and a new campaign starts on the new version while a running one stays.
Screenshots go to test-artifacts/ (library-*.png, for docs/library.md)."""

from __future__ import annotations

import pytest
from test_web_browser import Person, app, browser, server  # noqa: F401 - the fixtures, reused
from web_fixtures import set_passwords

from engine.store.models import ProcessVersion

pytestmark = pytest.mark.browser

GAP = ("85 &lt;= ? &lt; 95", "86 &lt;= ? &lt; 95")


def test_a_grade_table_with_a_gap_is_caught_fixed_and_published(browser, server, sqlite_engine, tmp_path):  # noqa: F811
    engine = sqlite_engine
    set_passwords(engine)
    running = engine.start_campaign("ziyang-2016", 2024, actor="admin")
    with engine.store.read() as db:
        grade = db.query(ProcessVersion).filter_by(variant="ziyang-2016").one().files["grade.dmn"]
    (tmp_path / "gap").mkdir()
    (tmp_path / "gap" / "grade.dmn").write_text(grade.replace(*GAP), encoding="utf-8")
    (tmp_path / "fixed").mkdir()
    (tmp_path / "fixed" / "grade.dmn").write_text(grade.replace("a级：95分及以上", "a级：95分以上"), encoding="utf-8")

    admin = Person(browser, server, "admin")
    admin.sign_in()
    page = admin.page
    page.click("a[data-nav=procedures]")
    page.wait_for_selector("#variant-ziyang-2016")
    admin.shot("library-01-variants")
    page.fill("#variant-ziyang-2016 tr.current .new-draft input[name=comment]", "调整b级分数线")
    page.click("#variant-ziyang-2016 tr.current .new-draft button")
    page.wait_for_selector("#no-findings")

    page.set_input_files("#upload-form input[type=file]", str(tmp_path / "gap" / "grade.dmn"))
    page.click("#upload-form button")
    page.wait_for_selector("#findings-summary")
    findings = page.inner_text("#findings")
    assert "grade.dmn" in findings and "85 至 86" in findings
    assert page.is_disabled("#publish-form button")
    admin.shot("library-02-draft-with-a-gap")

    page.set_input_files("#upload-form input[type=file]", str(tmp_path / "fixed" / "grade.dmn"))
    page.click("#upload-form button")
    page.wait_for_selector("#no-findings")
    page.fill("#publish-form input[name=comment]", "a级说明修订")
    page.click("#publish-form button")
    page.wait_for_selector("#variant-ziyang-2016 tr[data-version='2'].current")
    assert "a级说明修订" in page.inner_text("#variant-ziyang-2016")
    admin.shot("library-03-published")
    admin.close()

    later = engine.start_campaign("ziyang-2016", 2025, actor="admin")
    with engine.store.read() as db:
        two = db.query(ProcessVersion).filter_by(variant="ziyang-2016", version=2).one()
    assert later.version_id == two.id != running.version_id
