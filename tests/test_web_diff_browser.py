"""In Chromium: the diff page draws both diagrams, colours what 资阳 removes and changes from the national
template, moves both views together, and a row of the table shows its element. Screenshot in test-artifacts/."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from test_web_browser import ARTIFACTS, Person, app, browser, server  # noqa: F401 (fixtures)
from web_fixtures import set_passwords

from engine.procedure import drafts
from engine.store.models import ProcessVersion

pytestmark = pytest.mark.browser


def test_the_diff_page_colours_both_diagrams(browser, server, sqlite_engine):  # noqa: F811
    set_passwords(sqlite_engine)
    with sqlite_engine.store.read() as session:
        ids = dict(session.execute(select(ProcessVersion.variant, ProcessVersion.id)).all())
    admin = Person(browser, server, "admin")
    admin.sign_in()
    page = admin.page
    page.goto(f"{server}/admin/procedures/diff?from={ids['national-2013']}&to={ids['ziyang-2016']}")
    page.wait_for_selector("#diff-diagrams[data-ready=true]")
    before, after = "#diff-before", "#diff-after"
    # Each side draws its own diagram: the national one still has 实地核查, 资阳's has not.
    assert page.locator(f'{before} [data-element-id="Task_onsite_check"]').count() == 1
    assert page.locator(f'{after} [data-element-id="Task_onsite_check"]').count() == 0
    # Removed in red on the old side, changed on both; the flow rewired around the removed step is changed.
    assert page.locator(f'{before} .djs-element.diff-removed[data-element-id="Task_onsite_check"]').count() == 1
    assert page.locator(f'{before} .djs-element.diff-removed[data-element-id="Task_filing_opinion"]').count() == 1
    for side in (before, after):
        assert page.locator(f'{side} .djs-element.diff-changed[data-element-id="Task_filing_review"]').count() == 1
        assert page.locator(f'{side} .djs-element.diff-changed[data-element-id="Flow_r08"]').count() == 1
    # Nothing is marked added: 资阳 adds no step.
    assert page.locator(f"{after} .djs-element.diff-added").count() == 0
    # The marker is drawn: the removed task's outline is red.
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "diff-national-ziyang.png"))  # the diagrams, as the page opens
    stroke = page.eval_on_selector(f'{before} [data-element-id="Task_onsite_check"] .djs-visual > :first-child',
                                   "el => getComputedStyle(el).stroke")
    assert stroke == "rgb(185, 28, 28)"
    # Both views show the same part of the plane.
    viewbox = "el => el.querySelector('svg > .viewport').getAttribute('transform').match(/-?[0-9.]+/g).join(' ')"
    assert page.eval_on_selector(before, viewbox) == page.eval_on_selector(after, viewbox)
    # A row of the table centres each diagram on its own copy of the element (the two are laid out apart).
    page.click('.diff-table[data-section=bpmn] .diff-row[data-element="Task_filing_review"]')
    offset = """side => {
        const box = document.querySelector(side).getBoundingClientRect();
        const el = document.querySelector(side + ' [data-element-id="Task_filing_review"]').getBoundingClientRect();
        return Math.hypot(el.x + el.width / 2 - box.x - box.width / 2, el.y + el.height / 2 - box.y - box.height / 2);
    }"""
    assert page.evaluate(offset, before) < 5 and page.evaluate(offset, after) < 5
    page.screenshot(path=str(ARTIFACTS / "diff-national-ziyang-row.png"))
    # Moving one moves the other.
    box = page.locator(after).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 200)
    page.wait_for_function("""() => {
        const t = (s) => document.querySelector(s + ' svg > .viewport').getAttribute('transform')
            .match(/-?[0-9.]+/g).join(' ');
        return t('#diff-before') === t('#diff-after');
    }""")
    admin.close()


def draft_of(engine, variant: str, name: str, old: str, new: str) -> int:
    """A draft of the variant's current version with one replacement in one file, saved."""
    with engine.store.write() as session:
        base = session.scalars(select(ProcessVersion).where(ProcessVersion.variant == variant,
                                                            ProcessVersion.is_current.is_(True))).one()
        row = drafts.create(session, base, "admin", engine.clock.now(), comment="调整分数线")
        assert old in row.files[name]
        drafts.save_file(session, row, name, row.files[name].replace(old, new, 1), row.revision, "admin",
                         engine.clock.now())
        return row.id


def test_a_published_version_against_the_one_before(browser, server, sqlite_engine):  # noqa: F811
    set_passwords(sqlite_engine)
    draft = draft_of(sqlite_engine, "ziyang-2016", "grade.dmn", "85 &lt;= ? &lt; 95", "88 &lt;= ? &lt; 95")
    with sqlite_engine.store.write() as session:  # the band above moved: so must the band below
        row = drafts.get(session, draft)
        drafts.save_file(session, row, "grade.dmn", row.files["grade.dmn"].replace("60 &lt;= ? &lt; 85",
                                                                                    "60 &lt;= ? &lt; 88", 1),
                         row.revision, "admin", sqlite_engine.clock.now())
    version = drafts.publish(sqlite_engine, draft, "b 级提高到 88 分", "admin")
    admin = Person(browser, server, "admin")
    admin.sign_in()
    page = admin.page
    page.goto(f"{server}/admin/procedures/versions/{version.id}")
    page.click("#version-diff a:has-text('与上一版比较')")
    page.wait_for_selector("#diff-diagrams[data-ready=true]")
    assert "2 处不同" in page.inner_text("#diff-summary")
    rows = page.locator(".diff-table[data-section=dmn] .diff-row")
    assert rows.count() == 2
    assert "85 <= ? < 95" in rows.nth(0).inner_text() and "88 <= ? < 95" in rows.nth(0).inner_text()
    # The diagrams are the same: nothing coloured on either side.
    assert page.locator("#diff-diagrams .djs-element[class*='diff-']").count() == 0
    page.screenshot(path=str(ARTIFACTS / "diff-version-before.png"), full_page=True)
    admin.close()


def test_a_draft_whose_diagram_is_broken_still_shows_the_other(browser, server, sqlite_engine):  # noqa: F811
    set_passwords(sqlite_engine)
    draft = draft_of(sqlite_engine, "ziyang-2016", "assessment.bpmn", "</bpmn:definitions>", "")
    admin = Person(browser, server, "admin")
    admin.sign_in()
    page = admin.page
    page.goto(f"{server}/admin/procedures/drafts/{draft}")
    page.click("#diff-base")
    page.wait_for_selector("#diff-diagrams[data-ready=true]")
    assert "此流程图无法显示" in page.inner_text("#diff-after")
    assert page.locator('#diff-before [data-element-id="Task_filing_review"]').count() == 1
    assert "assessment.bpmn" in page.inner_text(".diff-table[data-section=files]")
    admin.close()
