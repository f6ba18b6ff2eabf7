"""Outages said in words: a database that cannot be reached, or cannot write, is a 503 that says nothing was saved."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from conftest import web_app
from sqlalchemy.exc import OperationalError
from web_fixtures import login, post, set_passwords

from engine.engine import Engine
from engine.store import Store

WORDS = "数据库暂时不可用，本次提交未保存，请稍后重试"


@pytest.fixture
def unreachable(tmp_path):
    """The web app over a PostgreSQL server that is not there (nothing listens on port 1)."""
    store = Store("postgresql+psycopg://postgres@127.0.0.1:1/kaohe")
    yield web_app(Engine(store), tmp_path).test_client()
    store.dispose()


def test_an_unreachable_database_is_a_503_in_words_for_pages_and_the_api(unreachable, caplog):
    caplog.set_level(logging.ERROR)
    page = unreachable.post("/login", data={"username": "admin", "password": "x", "csrf_token": "t"})
    if page.status_code == 400:  # the CSRF check answered first: sign in needs the token of the page
        page = login(unreachable, "admin")
    assert page.status_code == 503 and WORDS in page.text and "Traceback" not in page.text
    api = unreachable.get("/api/v1/tasks", headers={"Authorization": "Bearer whatever"})
    assert api.status_code == 503 and api.get_json()["error"] == "unavailable" and WORDS in api.get_json()["message"]
    assert api.headers["Retry-After"]
    lines = [r for r in caplog.records if r.name == "web.errors"]
    assert lines and all(r.exc_info is None and "unreachable" in r.getMessage() for r in lines)


def test_a_full_disk_is_a_503_and_the_submission_is_not_applied(client, engine, monkeypatch, caplog):
    from drive import Driver
    set_passwords(engine)
    drive = Driver(engine, "national-2013", ["110000"])
    [task] = drive.ready("Task_target_filing", "110000")
    login(client, "assessed")

    def full(*args, **kwargs):
        raise OperationalError("INSERT INTO audit_log ...", {}, sqlite3.OperationalError("database or disk is full"))
    monkeypatch.setattr(Engine, "complete", full)
    caplog.set_level(logging.ERROR)
    response = post(client, f"/tasks/{task.id}", {"action": "submit"})
    assert response.status_code == 503 and WORDS in response.text
    monkeypatch.undo()
    assert engine.task(task.id).id == task.id  # still ready: nothing was half-applied
    assert [r.getMessage() for r in caplog.records if r.name == "web.errors"] == [
        f"database disk_full: POST /tasks/{task.id}"]
