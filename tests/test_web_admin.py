"""Administration: users, their roles by procedure, region and unit, regions and role names."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from sqlalchemy import select
from web_fixtures import BEIJING, login, post, set_passwords

from engine.clock import CHINA
from engine.people import accounts
from engine.people.accounts import Grant
from engine.store.models import AuditEntry, Instance, Mail, Region, Role, Timer, User


def _grants(engine, username):
    with engine.store.read() as session:
        return accounts.grants_of(session, username)


@pytest.mark.parametrize("url", ["/admin/users", "/admin/regions", "/admin/users/1", "/admin/deadlines"])
def test_only_the_administrator_enters(client, engine, url):
    set_passwords(engine)
    assert client.get(url).status_code == 302  # signed out: to the sign-in page
    login(client, "lead_agency")
    assert client.get(url).status_code == 403
    assert post(client, "/admin/users", {"username": "x", "password": "Abcdefg1!"}).status_code == 403


def test_the_administrator_creates_a_user_and_gives_a_role_in_a_region(admin, app, engine):
    response = post(admin, "/admin/users", {"username": "gov-bj", "display_name": "北京市人民政府",
                                            "password": "Beijing#2025"})
    assert response.status_code == 302
    user_id = int(response.location.rsplit("/", 1)[1])
    post(admin, f"/admin/users/{user_id}/grants", {"role": "assessed", "variant": "national-2013",
                                                   "region": BEIJING, "unit": ""})
    assert _grants(engine, "gov-bj") == [Grant("assessed", BEIJING, None, "national-2013")]
    page = admin.get(f"/admin/users/{user_id}").text
    grant_id = re.search(rf"/admin/users/{user_id}/grants/(\d+)/delete", page).group(1)
    other = app.test_client()
    assert login(other, "gov-bj", "Beijing#2025").status_code == 302
    post(admin, f"/admin/users/{user_id}/grants/{grant_id}/delete")
    assert _grants(engine, "gov-bj") == []
    with engine.store.read() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.actor == "admin"))]
    assert {"user_create", "grant_add", "grant_remove"} <= set(actions)


@pytest.mark.parametrize(("form", "status"), [
    ({"username": "weak", "password": "password"}, 400),
    ({"username": "bad name!", "password": "Strong#2025"}, 400),
    ({"username": "admin", "password": "Strong#2025"}, 409),
])
def test_refused_users(admin, form, status):
    assert post(admin, "/admin/users", form).status_code == status


def test_unknown_roles_and_regions_are_refused(admin, engine):
    with engine.store.read() as session:
        user_id = session.scalars(select(User.id).where(User.username == "assessed")).one()
    assert post(admin, f"/admin/users/{user_id}/grants", {"role": "king"}).status_code == 400
    assert post(admin, f"/admin/users/{user_id}/grants", {"role": "assessed", "region": "999999"}).status_code == 400


def test_deactivating_a_user_signs_them_out(admin, app, engine):
    other = app.test_client()
    login(other, "approver")
    with engine.store.read() as session:
        user_id = session.scalars(select(User.id).where(User.username == "approver")).one()
    post(admin, f"/admin/users/{user_id}", {"display_name": "审定机关"})  # no "active": deactivated
    assert other.get("/inbox").status_code == 302
    assert login(other, "approver").status_code == 401


def test_a_locked_account_is_unlocked_and_a_password_reset(admin, app, engine):
    other = app.test_client()
    for _ in range(5):
        login(other, "approver", "wrong")
    with engine.store.read() as session:
        user_id = session.scalars(select(User.id).where(User.username == "approver")).one()
    assert "锁定至" in admin.get(f"/admin/users/{user_id}").text
    post(admin, f"/admin/users/{user_id}/unlock")
    assert post(admin, f"/admin/users/{user_id}/password", {"password": "short"}).status_code == 400
    post(admin, f"/admin/users/{user_id}/password", {"password": "Approve#2026"})
    assert login(other, "approver", "Approve#2026").status_code == 302


def test_regions_and_role_names(admin, engine):
    assert post(admin, "/admin/regions", {"code": "990000", "name": "试点区", "region_set": "national-2013"}
                ).status_code == 302
    assert post(admin, "/admin/regions", {"code": "abc", "name": "x", "region_set": "y"}).status_code == 400
    assert post(admin, "/admin/regions", {"code": "99000", "name": "x", "region_set": "national-2013"}
                ).status_code == 400  # five digits: not a GB/T 2260 code
    assert post(admin, "/admin/regions", {"code": "YL-GWH", "name": "杨凌示范区管委会", "region_set": "national-2013"}
                ).status_code == 302  # no GB/T 2260 code: letters
    post(admin, "/admin/roles/recipient", {"name": "结果运用机关"})
    with engine.store.read() as session:
        assert session.get(Region, "990000").name == "试点区"
        assert session.get(Role, "recipient").name == "结果运用机关"
    post(admin, "/admin/regions/990000/delete")
    with engine.store.read() as session:
        assert session.get(Region, "990000") is None


def test_an_assessed_region_cannot_be_deleted(admin, engine):
    from drive import Driver

    Driver(engine, "national-2013", [BEIJING])
    assert post(admin, f"/admin/regions/{BEIJING}/delete").status_code == 409


def test_the_administrator_enters_next_years_holidays_and_the_warning_goes(admin, engine):
    engine.clock.set(datetime(2026, 11, 25, 9, tzinfo=CHINA))  # 2027 is not in the package yet
    login(admin, "admin")  # a year and a half later: the idle session ended long ago
    page = admin.get("/admin/deadlines").text
    assert "2027年节假日安排尚未录入" in page
    assert post(admin, "/admin/deadlines/calendar", {"day": "2027-02-08", "kind": "holiday", "name": "春节"}
                ).status_code == 302
    assert engine.calendar.is_day_off(date(2027, 2, 8))  # 周一, off by the administrator's word
    page = admin.get("/admin/deadlines").text
    assert "2027年节假日安排尚未录入" not in page and "春节" in page
    assert post(admin, "/admin/deadlines/calendar", {"day": "2027-02-08", "remove": "1"}).status_code == 302
    assert not engine.calendar.is_day_off(date(2027, 2, 8))
    assert post(admin, "/admin/deadlines/calendar", {"day": "8 Feb", "kind": "holiday"}).status_code == 400
    with engine.store.read() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.actor == "admin"))]
    assert actions.count("calendar_day") == 2


def test_failed_mails_and_timers_are_listed_and_can_be_tried_again(admin, engine):
    now = engine.clock.now()
    engine.start_campaign("national-2013", 2025, [BEIJING])
    with engine.store.write() as session:
        instance = session.scalars(select(Instance)).first()
        session.add(Mail(to_addr="bj@example.gov.cn", subject="【质量工作考核】提醒", body="…", created_at=now,
                         next_attempt_at=now, attempts=11, failed_at=now, last_error="550 5.1.1 no such user"))
        session.add(Timer(instance_id=instance.id, task_id="t-1", bpmn_id="Wait_date", kind="timeDate", due_at=now,
                          attempts=5, error="ExpressionError: boom"))
    page = admin.get("/admin/deadlines").text
    assert "550 5.1.1 no such user" in page and "ExpressionError: boom" in page
    with engine.store.read() as session:
        mail_id = session.scalars(select(Mail.id)).one()
        timer_id = session.scalars(select(Timer.id)).one()
    assert post(admin, f"/admin/deadlines/mails/{mail_id}/retry").status_code == 302
    assert post(admin, f"/admin/deadlines/timers/{timer_id}/retry").status_code == 302
    with engine.store.read() as session:
        mail, timer = session.get(Mail, mail_id), session.get(Timer, timer_id)
        assert (mail.failed_at, mail.attempts, timer.attempts, timer.error) == (None, 0, 0, None)


def test_regions_are_imported_from_excel_all_or_nothing_and_exported(admin, engine):
    import io

    from openpyxl import Workbook, load_workbook

    def workbook(*rows) -> io.BytesIO:
        book = Workbook()
        for row in rows:
            book.active.append(list(row))
        out = io.BytesIO()
        book.save(out)
        out.seek(0)
        return out

    bad = workbook(["代码", "名称", "流程"], [610403, "杨陵区人民政府", "ziyang-2016"],
                   ["61040", "五位", "ziyang-2016"], ["YL-FGJ", "区发展改革局", "nowhere"])
    response = post(admin, "/admin/regions/import", {"file": (bad, "yl.xlsx")}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "第 3 行 (row 3)" in response.text and "第 4 行 (row 4)" in response.text and "nowhere" in response.text
    with engine.store.read() as session:
        assert session.get(Region, "610403") is None  # the good row was not imported either
    good = workbook(["代码", "名称"], [610403, "杨陵区人民政府"], ["YL-FGJ", "区发展改革局"])
    response = post(admin, "/admin/regions/import", {"file": (good, "yl.xlsx"), "variant": "ziyang-2016"},
                    content_type="multipart/form-data")
    assert response.status_code == 302
    with engine.store.read() as session:
        assert session.get(Region, "YL-FGJ").region_set == "ziyang-2016"
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "regions_import")).one().data == {
            "added": ["610403", "YL-FGJ"], "changed": []}
    exported = admin.get("/admin/regions/export.xlsx?variant=ziyang-2016")
    assert exported.status_code == 200
    rows = list(load_workbook(io.BytesIO(exported.data)).active.iter_rows(values_only=True))
    assert ("610403", "杨陵区人民政府", "ziyang-2016") in rows and len(rows) == 1 + 6
    csv = admin.get("/admin/regions/export.csv").data.decode("utf-8-sig")
    assert "YL-FGJ,区发展改革局,ziyang-2016" in csv and "110000,北京市,national-2013" in csv


def test_the_administrator_makes_an_earlier_version_current_and_campaigns_start_on_it(admin, engine, tmp_path):
    from conftest import deploy_renamed_national

    deploy_renamed_national(engine, tmp_path)
    assert 'action="/admin/versions/national-2013/1/publish"' in admin.get("/admin/regions").text
    assert post(admin, "/admin/versions/national-2013/1/publish").status_code == 302
    page = admin.get("/admin/regions").text
    assert 'action="/admin/versions/national-2013/2/publish"' in page
    assert 'action="/admin/versions/national-2013/1/publish"' not in page
    campaign = engine.start_campaign("national-2013", 2025, [BEIJING])
    assert {t.name for t in engine.tasks(campaign_id=campaign.id)} == {"目标备案"}
    assert post(admin, "/admin/versions/national-2013/9/publish").status_code == 404


def test_a_refused_form_comes_back_as_typed_with_the_reason(admin, engine):
    """A weak password, a bad region code, an unknown member unit: the page again with what was typed and why,
    not an error page that loses it (issue 12, item 12)."""
    page = post(admin, "/admin/users", {"username": "gov-tj", "display_name": "天津市人民政府",
                                        "email": "tj@example.gov.cn", "password": "password"})
    assert page.status_code == 400
    form = page.text.split('id="new-user"')[1].split("</form>")[0]
    assert 'value="gov-tj"' in form and 'value="天津市人民政府"' in form and 'value="tj@example.gov.cn"' in form
    assert 'id="new-user-problem"' in page.text
    assert '<input name="password" type="password" autocomplete="new-password" required>' in form  # not echoed

    page = post(admin, "/admin/regions", {"code": "120116", "name": "滨海新区" * 30, "region_set": "national-2013"})
    assert page.status_code == 400 and 'id="region-problem"' in page.text
    form = page.text.split('id="region-form"')[1].split("</form>")[0]
    assert 'value="120116"' in form and "滨海新区滨海新区" in form and '<option value="national-2013" selected>' in form

    with engine.store.read() as session:
        user_id = session.scalar(select(User.id).where(User.username == "member_unit"))
    page = post(admin, f"/admin/users/{user_id}/grants", {"role": "member_unit", "variant": "national-2013",
                                                          "region": "", "unit": "aqsiqq"})
    assert page.status_code == 400 and "aqsiqq" in page.text.split('id="grant-problem"')[1].split("</div>")[0]
    assert '<option value="member_unit" selected>' in page.text
    with engine.store.read() as session:
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "grant_add")) is None


def test_the_grant_form_picks_names_and_has_no_default_role(admin, engine):
    with engine.store.read() as session:
        user_id = session.scalar(select(User.id).where(User.username == "member_unit"))
    form = admin.get(f"/admin/users/{user_id}").text.split('id="add-grant"')[1].split("</form>")[0]
    roles = form.split('name="role"')[1].split("</select>")[0]
    assert roles.startswith(' required><option value="">') and "selected" not in roles
    assert roles.rindex('value="admin"') > roles.rindex('value="member_unit"')  # the administrator comes last
    assert '<option value="aqsiq">国家质量监督检验检疫总局 (aqsiq)</option>' in form  # units by name
    assert "质量工作考核（国办发〔2013〕47号）" in form  # procedures by title
    assert post(admin, f"/admin/users/{user_id}/grants", {"role": ""}).status_code == 400
    assert post(admin, f"/admin/users/{user_id}/grants", {"role": "member_unit", "variant": "national-2013",
                                                          "unit": "aqsiq"}).status_code == 302
    assert Grant("member_unit", None, "aqsiq", "national-2013") in _grants(engine, "member_unit")


def test_a_years_holidays_are_entered_at_once_or_not_at_all(admin, engine):
    holidays = "2027-01-01~2027-01-03 元旦\n2027-02-06 ~ 2027-02-14 春节\n"
    bad = post(admin, "/admin/deadlines/calendar/bulk", {"holidays": holidays + "2027-02-30 无此日\n2027/05/01 劳动节",
                                                         "workdays": "2027-02-20 春节调休"})
    assert bad.status_code == 400
    problem = bad.text.split('id="bulk-problem"')[1].split("</div>")[0]
    assert "第 3 行" in problem and "第 4 行" in problem and "未保存" in problem
    assert "2027-01-01~2027-01-03 元旦" in bad.text.split('name="holidays"')[1].split("</textarea>")[0]
    with engine.store.read() as session:
        from engine.store.models import CalendarDay
        assert session.scalar(select(CalendarDay.day).where(CalendarDay.day >= date(2027, 1, 1))) is None
    done = post(admin, "/admin/deadlines/calendar/bulk", {"holidays": holidays, "workdays": "2027-02-20 春节调休"})
    assert done.status_code == 302
    assert engine.calendar.is_workday(date(2027, 2, 20)) and not engine.calendar.is_workday(date(2027, 2, 8))
    assert not engine.calendar.is_workday(date(2027, 1, 1))
    both = post(admin, "/admin/deadlines/calendar/bulk", {"holidays": "2027-03-01 x", "workdays": "2027-03-01 y"})
    assert both.status_code == 400 and "既是休息日又是调休上班日" in both.text
