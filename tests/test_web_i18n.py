"""Both catalogues (Chinese, the default, and English) translate every message the web app shows."""

from __future__ import annotations

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from engine import config

WEB = config.ROOT / "web"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]


def _messages() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(WEB), METHODS, keywords={"_": None, "gettext": None}):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_catalogue_is_complete_and_compiled(lang):
    po = WEB / "translations" / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id: m.string for m in catalogue if m.id and m.string and not m.fuzzy}
    missing = sorted(_messages() - set(translated))
    assert not missing, f"untranslated in {po.name} ({lang}): {missing} — run `make translations` and translate"
    mo = po.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime, "run `make setup` to compile the catalogues"


def test_chinese_is_the_default_language(client):
    page = client.get("/login").text
    assert '<html lang="zh-CN">' in page and "登录" in page and "质量工作考核" in page


# -- what a bundle shows, in English (english.yaml) ---------------------------------------------------------
@pytest.fixture
def national(engine):
    """A national campaign for Beijing whose targets are filed: self-evaluation is ready."""
    from drive import Driver
    from web_fixtures import BEIJING, add_web_user, set_passwords

    from engine.people.accounts import Grant

    drive = Driver(engine, "national-2013", [BEIJING])
    drive.file_targets(BEIJING)
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    set_passwords(engine)
    return drive


def _pages(client, drive) -> dict[str, str]:
    """The pages a region and the lead agency read: inbox, task page, instance page, board, campaigns, diagram."""
    from web_fixtures import login

    task = drive.ready("Task_self_evaluation")[0]
    login(client, "gov-bj")
    pages = {"inbox": client.get("/inbox?scope=claimable").text, "task": client.get(f"/tasks/{task.id}").text}
    client.post("/logout", data={"csrf_token": _csrf(client)})
    login(client, "lead_agency")
    pages["instance"] = client.get(f"/instances/{task.instance_id}").text
    pages["board"] = client.get(f"/campaigns/{drive.campaign.id}").text
    pages["campaigns"] = client.get("/campaigns").text
    pages["diagram"] = client.get(f"/instances/{task.instance_id}/diagram.bpmn").text
    return pages


def _csrf(client) -> str:
    from web_fixtures import csrf

    return csrf(client)


def test_in_english_the_pages_show_the_bundles_english_names(client, national):
    client.get("/lang/en")
    pages = _pages(client, national)
    inbox, task = pages["inbox"], pages["task"]
    assert ">Self-evaluation</a>" in inbox and "自我评价" not in inbox
    assert '<option value="Task_self_evaluation">Self-evaluation</option>' in inbox  # the step menu
    assert "Quality work assessment (General Office of the State Council" in inbox  # the campaign menu's title
    assert "<title>Self-evaluation" in task and "<h1>Self-evaluation · " in task
    assert '<section class="instructions" id="instructions"><h2>Self-evaluation</h2>' in task
    assert "<strong>By 15 July</strong>" in task
    assert "Role: Provincial people&#39;s government" in task
    assert ">Self-evaluation scores" in task and ">Self-evaluation report" in task
    assert "T1 Pass rate of manufactured products (15 points)" in task
    assert "Give a score for each indicator, not above its points" in task  # the field's help
    for chinese in ("自我评价", "自评得分", "自评报告", "瞒报", "制造业产品质量合格率", "被考核政府"):
        assert chinese not in task, chinese
    instance = pages["instance"]
    assert "Quality work assessment: a province (autonomous region, municipality)" in instance
    assert ">Self-evaluation</a>" in instance  # the current task
    assert '<h3>Target filing</h3>' in instance and '<h3>Filing review</h3>' in instance  # submissions
    assert "Accept the filing" in instance and "Quality targets" in instance  # their fields and options
    assert "Handled · Target filing" in instance  # the timeline
    for chinese in ("目标备案", "备案审核", "质量目标", "省（区、市）考核"):  # 予以备案 is a comment typed
        assert chinese not in instance, chinese
    board = pages["board"]
    assert '<th title="Task_target_filing">Target filing</th>' in board
    assert "<th>Compilation and preliminary finding</th>" in board
    assert "Guobanfa [2013] No. 47" in board and "目标备案" not in board
    assert "Guobanfa [2013] No. 47" in pages["campaigns"] and "国办发" not in pages["campaigns"]
    assert 'name="Target filing"' in pages["diagram"] and 'name="Provincial people\'s government"' in pages["diagram"]
    # regions by their English names (english.yaml ``regions:``): inbox rows and menu, task heading, board
    assert "<td>Beijing</td>" in inbox and '<option value="110000">Beijing</option>' in inbox
    assert "<h1>Self-evaluation · Beijing" in task
    assert ">Beijing</a></th>" in board
    for page in (inbox, task, board):
        assert "北京市" not in page



def test_in_english_the_inbox_finds_a_step_by_its_english_name(client, national):
    from web_fixtures import login

    login(client, "gov-bj")
    client.get("/lang/en")
    assert ">Self-evaluation</a>" in client.get("/inbox?scope=claimable&q=self-eval").text
    assert 'id="inbox-empty"' in client.get("/inbox?scope=claimable&q=Interview").text
    assert ">Self-evaluation</a>" in client.get("/inbox?scope=claimable&q=自我").text  # the Chinese still finds it


def test_in_chinese_the_pages_are_as_they_were(client, national):
    pages = _pages(client, national)
    assert ">自我评价</a>" in pages["inbox"]
    task = pages["task"]
    assert "<h1>自我评价 · " in task and "<h2>自我评价</h2>" in task and "T1 制造业产品质量合格率（15 分）" in task
    assert "角色: 被考核政府" in task or "角色：被考核政府" in task
    assert "<h3>目标备案</h3>" in pages["instance"] and "予以备案" in pages["instance"]
    assert '<th title="Task_target_filing">目标备案</th>' in pages["board"]
    assert "质量工作考核（国办发〔2013〕47号）" in pages["campaigns"]
    assert 'name="目标备案"' in pages["diagram"]
    assert "<h1>自我评价 · 北京市" in task and "<td>北京市</td>" in pages["inbox"]
    assert ">北京市</a></th>" in pages["board"]
    for page in pages.values():
        assert "Target filing" not in page and "Self-evaluation" not in page


def test_a_bundle_without_a_catalogue_shows_its_chinese_in_english(client, engine, national, tmp_path):
    """Version 2 of national-2013 without english.yaml: its campaign's tasks stay Chinese, beside the English
    ones of the campaign on version 1, on one inbox page."""
    import shutil

    from conftest import NATIONAL
    from drive import Driver
    from web_fixtures import BEIJING, login

    folder = tmp_path / "national"
    shutil.copytree(NATIONAL, folder)
    (folder / "english.yaml").unlink()
    engine.deploy(folder)
    plain = Driver(engine, "national-2013", [BEIJING], year=2026)
    client.get("/lang/en")
    login(client, "gov-bj")
    inbox = client.get("/inbox?scope=claimable").text
    assert ">目标备案</a>" in inbox and ">Self-evaluation</a>" in inbox
    task = client.get(f"/tasks/{plain.ready('Task_target_filing')[0].id}").text
    assert "<h1>目标备案 · " in task and "<h2>目标备案</h2>" in task and ">质量目标" in task
    assert "Role: Assessed government" in task  # the built-in role's English name: the bundle has none of its own
    assert "Inbox" in task  # the frame is English all the same


def test_in_english_a_group_of_notices_is_headed_by_the_steps_english_name(client, engine):
    """The heading of a group of notices names the step and the campaign's year in English."""
    from datetime import datetime

    from web_fixtures import BEIJING, TIANJIN, login, set_passwords

    from engine.clock import CHINA
    from engine.running.reminders import send_reminders

    engine.start_campaign("national-2013", 2025, [BEIJING, TIANJIN])
    set_passwords(engine)
    engine.clock.set(datetime(2025, 7, 1, 9, tzinfo=CHINA))
    send_reminders(engine)
    client.get("/lang/en")
    login(client, "lead_agency")
    notices = client.get("/notifications").text.split('id="notices"')[1]
    group = notices.split('class="group unread"')[1]
    assert 'data-step="Target filing"' in group and "：Target filing</strong> · 2025–2026 assessment year" in group
    assert "年度" not in notices


def test_in_english_grades_that_are_words_take_the_catalogues_names(client, engine, tmp_path):
    """thousand-points grades 优秀 … 不合格: with a catalogue naming them, the board's ranking and chart say
    Excellent in English, 优秀 in Chinese; the Excel export keeps the bundle's own."""
    import io
    import shutil
    from pathlib import Path

    from drive import Driver
    from openpyxl import load_workbook
    from web_fixtures import login, set_passwords

    folder = tmp_path / "thousand-points"
    shutil.copytree(Path(__file__).parent / "bundles" / "thousand-points", folder)
    (folder / "english.yaml").write_text("title: Thousand-point assessment (test)\n"
                                         "grades: {优秀: Excellent, 良好: Good, 合格: Pass, 不合格: Fail}\n",
                                         encoding="utf-8")
    engine.load_regions(engine.check(folder))
    engine.deploy(folder)
    set_passwords(engine)
    drive = Driver(engine, "thousand-points", ["991001"])
    drive.file_targets("991001", opinions=False)
    drive.score("991001", "905.5", onsite=False)
    login(client, "lead_agency")
    chinese = client.get(f"/campaigns/{drive.campaign.id}").text.split('id="grade-chart"')[1]
    assert "<td>优秀</td>" in chinese and ">优秀</text>" in chinese
    client.get("/lang/en")
    board = client.get(f"/campaigns/{drive.campaign.id}").text
    assert "Thousand-point assessment (test)" in board
    shown = board.split('id="grade-chart"')[1]
    assert "<td>Excellent</td>" in shown and ">Excellent</text>" in shown and ">Fail</text>" in shown
    assert ">优秀<" not in shown  # (its bar keeps the class grade-优秀)
    results = client.get(f"/campaigns/{drive.campaign.id}/results").text
    assert "<td>Excellent</td>" in results
    sheet = load_workbook(io.BytesIO(client.get(f"/campaigns/{drive.campaign.id}/results.xlsx").data)).active
    assert sheet["E3"].value == "优秀"


def test_in_english_the_ranking_names_regions_in_english(client, engine):
    """Results and the public announcement: Beijing in English, 北京市 in Chinese (names as announced)."""
    from drive import Driver
    from web_fixtures import BEIJING, login, set_passwords

    drive = Driver(engine, "national-2013", [BEIJING])
    drive.file_targets(BEIJING)
    drive.score(BEIJING, "92.5")
    drive.approve_and_announce()
    set_passwords(engine)
    login(client, "lead_agency")
    results = client.get(f"/campaigns/{drive.campaign.id}/results").text
    assert "<td>北京市</td>" in results
    client.get("/lang/en")
    results = client.get(f"/campaigns/{drive.campaign.id}/results").text
    assert "<td>Beijing</td>" in results and "北京市" not in results
    public = client.get(f"/public/campaigns/{drive.campaign.id}").text
    assert "<td>Beijing</td>" in public and "北京市" not in public


def test_notices_read_in_the_readers_language_and_the_choice_is_kept_on_the_account(client, engine):
    """A reminder written once reads in English for one who chose English (the step and region by their English
    names), in Chinese otherwise; the header's choice is kept on the account, for mails (issue 12, item 11)."""
    from datetime import datetime

    from sqlalchemy import select
    from web_fixtures import BEIJING, add_web_user, login, set_passwords

    from engine.clock import CHINA
    from engine.people.accounts import Grant
    from engine.running.reminders import send_reminders
    from engine.store.models import Notification, User

    engine.start_campaign("national-2013", 2025, [BEIJING])
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    set_passwords(engine)
    engine.clock.set(datetime(2025, 7, 1, 9, tzinfo=CHINA))
    send_reminders(engine)
    with engine.store.write() as session:  # a notice written before notices kept their message
        user = session.scalars(select(User).where(User.username == "gov-bj")).one()
        session.add(Notification(user_id=user.id, at=engine.clock.now(), kind="incident", title="旧的通知",
                                 body="写入时的文字"))
    login(client, "gov-bj")
    chinese = client.get("/notifications").text
    assert "【质量工作考核】已逾期：北京市的“目标备案”" in chinese
    client.get("/lang/en")
    with engine.store.read() as session:
        assert session.scalars(select(User.language).where(User.username == "gov-bj")).one() == "en"
    english = client.get("/notifications").text
    assert "[Quality work assessment] Overdue: “Target filing” of Beijing" in english
    assert "Deadline: 30 June 2025, 24:00 (Beijing time)" in english
    assert "目标备案" not in english and "北京市" not in english
    assert "旧的通知" in english and "写入时的文字" in english  # an old notice reads as it was written
