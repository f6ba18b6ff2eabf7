"""What a request may carry (web/limits.py): body caps per route, drafts within the form's limits, short error
echoes, and a 400 (never a 500) for CR/LF, deep JSON and huge integers on every route of the app."""

from __future__ import annotations

import io
import json
import re

import pytest
from drive import FORMS, Driver
from sqlalchemy import select
from web_fixtures import BEIJING, TIANJIN, add_web_user, csrf, login, post, set_passwords
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from engine.people import signin
from engine.people.accounts import Grant
from engine.store.models import AuditEntry, TaskDraft

MIB = 1024 * 1024
HUGE = str(2**64)


@pytest.fixture
def drive(engine):
    drive = Driver(engine, "national-2013", [BEIJING, TIANJIN])
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    add_web_user(engine, "gov-tj", Grant("assessed", region=TIANJIN))
    set_passwords(engine)
    return drive


def bearer(engine, username: str) -> dict:
    return {"Authorization": f"Bearer {signin.issue_token(engine.store, engine.clock.now(), username, 'test')}"}


# -- item 5: bodies ---------------------------------------------------------------------------------
def test_a_json_body_over_the_form_limit_is_refused_before_it_is_read(client, engine, drive):
    [task] = drive.ready("Task_target_filing", BEIJING)
    body = json.dumps({"targets": [{"indicator": "T1", "target": "x" * (2 * MIB)}]})
    response = client.post(f"/api/v1/tasks/{task.id}/complete", headers=bearer(engine, "gov-bj"), data=body,
                           content_type="application/json")
    assert response.status_code == 413
    answer = response.get_json()
    assert answer["error"] == "too_large" and "1 MiB" in answer["message"] and "JSON" in answer["message"]
    assert len(response.data) < 1000
    assert drive.ready("Task_target_filing", BEIJING)[0].id == task.id


def test_a_form_post_over_the_limit_is_refused_naming_the_limit(client, drive):
    [task] = drive.ready("Task_target_filing", BEIJING)
    login(client, "gov-bj")
    response = post(client, f"/tasks/{task.id}", {"action": "save", "targets-0-indicator": "T1",
                                                  "targets-0-target": "x" * (2 * MIB)})
    assert response.status_code == 413
    assert "请求内容超过上限" in response.text and "1 MiB" in response.text and len(response.data) < 100_000
    with drive.engine.store.read() as session:
        assert session.scalars(select(TaskDraft)).all() == []


def test_the_form_limit_is_configurable(engine, drive, tmp_path):
    from web import create_app

    app = create_app({"ENGINE": engine, "TESTING": True, "SECRET_KEY": "x", "UPLOAD_FOLDER": str(tmp_path),
                      "MAX_FORM_BYTES": 4096})
    client = app.test_client()
    response = client.post("/api/v1/tasks/x/complete", headers=bearer(engine, "gov-bj"),
                           json={"a": "x" * 5000})
    assert response.status_code == 413 and "4 KiB" in response.get_json()["message"]


def test_an_upload_gets_the_file_limit_not_the_form_limit(client, engine, drive):
    drive.file_targets(BEIJING)
    [task] = drive.ready("Task_self_evaluation", BEIJING)
    big = b"%PDF-1.7\n" + b"0" * (3 * MIB) + b"\n%%EOF\n"
    # Encoded here: the test client spools a large multipart body to a file it never closes (a ResourceWarning).
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(big), "big.pdf")})
    stored = client.post(f"/api/v1/tasks/{task.id}/files", headers=bearer(engine, "gov-bj"), data=body,
                         content_type=f"multipart/form-data; boundary={boundary}")
    assert stored.status_code == 201 and stored.get_json()["size"] == len(big)


def test_a_draft_is_held_to_the_forms_size_limits(client, drive):
    drive.file_targets(BEIJING)
    [task] = drive.ready("Task_self_evaluation", BEIJING)
    login(client, "gov-bj")
    too_long = post(client, f"/tasks/{task.id}", {"action": "save", "report": "长" * 20_001})
    assert too_long.status_code == 400 and "最多 20000 个字符" in too_long.text
    rows = {f"self_scores-{n}-indicator": f"T{n}" for n in range(201)}
    too_many = post(client, f"/tasks/{task.id}", {"action": "save", **rows})
    assert too_many.status_code == 400 and "最多 200 项" in too_many.text
    with drive.engine.store.read() as session:
        assert session.scalars(select(TaskDraft)).all() == []
    unfinished = post(client, f"/tasks/{task.id}", {"action": "save", "report": "长" * 20_000,
                                                    "self_scores-0-score": "not yet a number"})
    assert unfinished.status_code == 302  # nothing required, nothing typed: only sizes are held to


def test_an_error_echoes_only_a_short_prefix_of_the_value(client, engine, drive):
    [task] = drive.ready("Task_target_filing", BEIJING)
    value = "x" * 400_000
    response = client.post(f"/api/v1/tasks/{task.id}/complete", headers=bearer(engine, "gov-bj"),
                           json={"targets": [{"indicator": value, "target": value}]})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_data"
    assert len(response.data) < 10_000


# -- item 9: answers, not server errors ----------------------------------------------------------------
@pytest.mark.parametrize("target", ["/inbox\r\nSet-Cookie: x=1", "/inbox%0d%0aX: y", "/inbox\n"])
def test_a_next_address_with_cr_lf_is_a_400_and_signs_nobody_in(client, drive, target):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": "gov-bj", "password": "Kaohe@2025",
                                           "next": target.replace("%0d%0a", "\r\n")})
    assert response.status_code == 400 and "控制字符" in response.text
    assert client.get("/inbox").status_code == 302  # still signed out


def test_a_next_address_with_cr_lf_claims_nothing(client, drive):
    [task] = drive.ready("Task_target_filing", BEIJING)
    login(client, "gov-bj")
    assert post(client, f"/tasks/{task.id}/claim", {"next": "/inbox\r\nX: y"}).status_code == 400
    assert drive.ready("Task_target_filing", BEIJING)[0].assignee is None


def test_json_nested_deeply_is_a_400(client, engine, drive):
    [task] = drive.ready("Task_target_filing", BEIJING)
    for depth in (1000, 100_000, 40):
        body = "[" * depth + "]" * depth
        response = client.post(f"/api/v1/tasks/{task.id}/complete", headers=bearer(engine, "gov-bj"), data=body,
                               content_type="application/json")
        assert response.status_code == 400 and "嵌套超过 32 层" in response.get_json()["message"], depth


@pytest.mark.parametrize("url", [f"/instances/{HUGE}", f"/api/v1/instances/{HUGE}", f"/inbox?campaign={HUGE}",
                                 f"/inbox?page={HUGE}", f"/api/v1/tasks?offset={HUGE}", f"/campaigns/{HUGE}"])
def test_integers_no_column_holds_are_a_400(client, engine, drive, url):
    login(client, "lead_agency")
    response = client.get(url, headers=bearer(engine, "lead_agency") if url.startswith("/api/") else {})
    assert response.status_code == 400 and "is out of range" in response.text


def _path(rule, hostile: bool) -> str:
    ints = {name for name, converter in rule._converters.items() if type(converter).__name__ == "BoundedInt"}
    # an <any(...)> part takes only its own words: the first of them
    fixed = {name: sorted(converter.items)[0] for name, converter in rule._converters.items()
             if hasattr(converter, "items")}
    hostile_or_not = {name: (HUGE if name in ints else "a\r\nb") if hostile else (1 if name in ints else "x")
                      for name in rule.arguments}
    values = {name: fixed.get(name, value) for name, value in hostile_or_not.items()}
    return rule.build(values, append_unknown=False)[1]


def test_no_route_answers_500_to_hostile_values(app, engine, drive):
    """Every route of the app and each of its methods, as an administrator (pages) and a lead agency (API),
    three times: huge integers in int path parts and CR/LF in the others; int-looking query arguments above
    2**63 and CR/LF in the rest; the same in a form body, or JSON nested 1,000 deep to the API."""
    web, api = app.test_client(), app.test_client()
    login(web, "admin")
    headers = bearer(engine, "lead_agency")
    hostile = {name: HUGE for name in ("page", "campaign", "limit", "offset", "id", "year", "instance", "user")}
    hostile |= {name: "x\r\ny" for name in ("next", "scope", "state", "step", "region", "q", "name", "unread",
                                             "variant", "code", "username", "role", "unit", "day", "kind")}
    # Routes that may end the walker's own session (user 1 is the administrator) come last, each signed in anew.
    ends = {"auth.end_session", "admin.reset_password", "admin.end_sessions", "admin.update_user"}
    rules = sorted((r for r in app.url_map.iter_rules() if r.endpoint != "static"),
                   key=lambda r: (r.endpoint in ends, r.endpoint == "auth.logout"))  # signing out last
    walked = 0
    for rule in rules:
        if rule.endpoint in ends:
            login(web, "admin")
        is_api = rule.endpoint.startswith("api.")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for variant in ("path", "query", "body"):
                kwargs = {"headers": headers} if is_api else {}
                if variant == "query":
                    kwargs["query_string"] = hostile
                if method != "GET" and is_api:
                    kwargs |= {"data": "[" * 1000 + "]" * 1000 if variant == "body" else "{}",
                               "content_type": "application/json"}
                elif method != "GET":
                    kwargs["data"] = {"csrf_token": csrf(web), **(hostile if variant == "body" else {})}
                path = _path(rule, hostile=variant == "path")
                response = (api if is_api else web).open(path, method=method, **kwargs)
                walked += 1
                assert response.status_code < 500, (method, path, variant, response.status_code)
                assert b"Traceback" not in response.data and b"Error:" not in response.data, (method, path, variant)
        if rule.endpoint == "auth.logout":
            break
        if rule.endpoint not in ends:
            assert web.get("/inbox").status_code == 200, rule  # still signed in: the routes were reached
    assert walked > 150


# -- item 11: smaller ---------------------------------------------------------------------------------------
def test_the_api_says_only_not_yours_of_a_task_it_cannot_see(client, engine, drive):
    [task] = drive.ready("Task_target_filing", TIANJIN)
    response = client.post(f"/api/v1/tasks/{task.id}/complete", headers=bearer(engine, "gov-bj"),
                           json=FORMS["Task_target_filing"](drive))
    assert response.status_code == 403
    message = response.get_json()["message"]
    assert message.startswith("无权办理该任务") and TIANJIN not in message and "assessed" not in message


def test_pages_and_api_answers_are_not_stored_by_caches(client, engine, drive):
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    login(client, "gov-bj")
    assert client.get("/inbox").headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/tasks", headers=bearer(engine, "gov-bj")).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("secure", [False, True])
def test_hsts_is_sent_when_cookies_are_secure(engine, tmp_path, secure):
    from web import create_app

    app = create_app({"ENGINE": engine, "TESTING": True, "SECRET_KEY": "x", "UPLOAD_FOLDER": str(tmp_path),
                      "SESSION_COOKIE_SECURE": secure})
    headers = app.test_client().get("/login").headers
    assert ("Strict-Transport-Security" in headers) is secure
    if secure:
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")


def _upload(client, headers, task_id: str, content: bytes, name: str):
    return client.post(f"/api/v1/tasks/{task_id}/files", headers=headers, data={"file": (io.BytesIO(content), name)})


def test_each_upload_keeps_its_own_name_and_every_download_is_audited(client, app, engine, drive):
    drive.file_targets(BEIJING)
    [task] = drive.ready("Task_self_evaluation", BEIJING)
    headers = bearer(engine, "gov-bj")
    text = "完成情况说明\n".encode()
    first, second = (_upload(client, headers, task.id, text, name).get_json() for name in ("一.txt", "二.txt"))
    assert first["sha256"] == second["sha256"]
    data = FORMS["Task_self_evaluation"](drive) | {"evidence": [{"name": "二.txt", "sha256": second["sha256"]}]}
    assert client.post(f"/api/v1/tasks/{task.id}/complete", headers=headers, json=data).status_code == 200
    web = app.test_client()
    login(web, "gov-bj")
    page = web.get(f"/instances/{task.instance_id}").text
    link = re.search(rf'href="(/instances/{task.instance_id}/files/{second["sha256"]}\?name=[^"]+)">二.txt', page)
    with web.get(link.group(1).replace("&amp;", "&")) as download:
        assert download.status_code == 200 and download.data == text
        assert "filename*=UTF-8''%E4%BA%8C.txt" in download.headers["Content-Disposition"]
        assert download.headers["Content-Type"] == "text/plain; charset=utf-8"  # one charset
        assert download.headers["Cache-Control"] == "no-store"
    with engine.store.read() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "download"))
    assert (entry.actor, entry.instance_id, entry.data["name"]) == ("gov-bj", task.instance_id, "二.txt")
