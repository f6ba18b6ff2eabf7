"""Campaigns of every county in China (2,850 regions): launch, a whole campaign against one of 285, the board.

The whole campaign is ``tests/bundles/mass-campaign``: every region scores itself at launch, so the run is the
engine's own work — each region's report kept as a row, the campaign's one gathered catch, the ranking, the
announcement delivered to every region and the rectification tasks it opens. Linear means the 2,850-region
campaign takes at most ten times the 285-region one, measured in the same run.
"""

from __future__ import annotations

import http.cookiejar
import logging
import re
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

import webapp
from harness import USER, VARIANT, YEAR, Options, Row, Sample, add_regions, duration, ready_engine
from sqlalchemy import insert

from engine.clock import CHINA
from engine.config import ROOT
from engine.engine import Engine
from engine.people import accounts
from engine.people.accounts import Grant
from engine.records import board
from engine.store import Store
from engine.store.models import Region

logger = logging.getLogger(__name__)

COUNTIES = 2850
MASS = ROOT / "tests" / "bundles" / "mass-campaign"
LAUNCH_TARGET = 5.0
LEAD = "bench-lead"
BOARD_TARGET = 0.3
LINEAR_TARGET = 10.0
MEMORY_TARGET = 300 * 2**20
BOARD_VIEWS = 20


def run(options: Options, backend: str, store: Store) -> list[Row]:
    """Launch 2,850 regions of the national procedure, open its board, and run two whole mass campaigns."""
    engine = ready_engine(store)
    engine.deploy(MASS, actor=USER)
    with store.write() as session:
        accounts.create_user(session, LEAD, "基准测试牵头部门", [Grant("lead_agency")]).password_hash = \
            accounts.hash_password(webapp.PASSWORD)
    codes = add_regions(store, COUNTIES)
    launch = Sample()
    launch.time(engine.start_campaign, VARIANT, YEAR, codes, USER)
    campaign = engine.start_campaign(VARIANT, YEAR + 1, codes[:COUNTIES // 10], USER)  # the board's baseline
    large = engine.start_campaign(VARIANT, YEAR + 2, codes, USER)
    logger.info("launched %d regions on %s in %s", COUNTIES, backend, duration(launch.median))
    boards, small_boards = Sample(), Sample()
    now = datetime(YEAR, 7, 1, tzinfo=CHINA)
    for _ in range(2 if options.quick else 5):
        with store.read() as session:
            fresh = Engine(store, clock=engine.clock)  # the version's specs read again, as a new process would
            boards.time(board.build, session, fresh, large, now)
            small_boards.time(board.build, session, fresh, campaign, now)
    resident, baseline_resident, views = _serve_memory(store, large.id)

    whole, small = Sample(), Sample()
    mass_codes = [str(8000000 + n) for n in range(COUNTIES)]  # the test bundle scores by the code
    with store.write() as session:
        session.execute(insert(Region), [{"code": c, "name": f"大规模{c}", "region_set": "mass-campaign"}
                                         for c in mass_codes])
    for n in range(1 if options.quick else 2):
        small.time(_whole_campaign, engine, YEAR + 10 + 2 * n, mass_codes[:COUNTIES // 10])
        whole.time(_whole_campaign, engine, YEAR + 11 + 2 * n, mass_codes)
        logger.info("whole campaign on %s: %s for %d regions, %s for %d", backend, duration(whole.values[-1]),
                    COUNTIES, duration(small.values[-1]), COUNTIES // 10)
    return [
        Row(f"launch a campaign of {COUNTIES} regions", backend, duration(launch.median), "—", 1.0,
            f"≤ {LAUNCH_TARGET:g} s", launch.median <= LAUNCH_TARGET),
        Row(f"campaign board, page 1 of {COUNTIES} regions (server time)", backend,
            f"median {duration(boards.median)}, max {duration(boards.max)}",
            f"{duration(small_boards.median)} (board of {COUNTIES // 10} regions)",
            boards.median / small_boards.median, f"≤ {BOARD_TARGET * 1000:g} ms", boards.median <= BOARD_TARGET),
        Row(f"`kaohe serve` memory after {BOARD_VIEWS} views of the {COUNTIES}-region board", backend,
            f"{resident / 2**20:.0f} MB peak resident (views: median {duration(views.median)})",
            f"{baseline_resident / 2**20:.0f} MB (started, signed in)", resident / baseline_resident,
            f"≤ {MEMORY_TARGET / 2**20:.0f} MB", resident <= MEMORY_TARGET),
        Row(f"a whole campaign of {COUNTIES} regions to its end (mass-campaign)", backend, duration(whole.median),
            f"{duration(small.median)} ({COUNTIES // 10} regions)", whole.median / small.median,
            f"≤ {LINEAR_TARGET:g}× (linear)", whole.median / small.median <= LINEAR_TARGET),
    ]


def _serve_memory(store: Store, campaign_id: int) -> tuple[int, int, Sample]:
    """Peak resident memory of a real ``kaohe serve`` (one process) after the lead agency opens every page
    of the board once over HTTP, against its memory once signed in."""
    views = Sample()
    with webapp.kaohe_serve(store, processes=1) as (port, server):
        pid = server.pid  # one process: the one that serves
        client = _SignedIn(port)
        before = _peak_resident(pid)
        for n in range(BOARD_VIEWS):
            views.time(client.get, f"/campaigns/{campaign_id}?page={n % 29 + 1}")
        return _peak_resident(pid), before, views


class _SignedIn:
    """An HTTP client with the lead agency's session cookie, signed in through the form."""

    def __init__(self, port: int):
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.base = f"http://127.0.0.1:{port}"
        page = self.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = {"csrf_token": token, "username": LEAD, "password": webapp.PASSWORD}
        self.opener.open(self.base + "/login", urllib.parse.urlencode(form).encode()).read()

    def get(self, path: str) -> str:
        return self.opener.open(self.base + path).read().decode()


def _peak_resident(pid: int) -> int:
    """VmHWM: the most memory the process has held resident, in bytes (Linux)."""
    line = next(x for x in (Path("/proc") / str(pid) / "status").read_text().splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) * 1024


def _whole_campaign(engine: Engine, year: int, codes: list[str]) -> None:
    """Launch, announce, and write every rectification report the announcement asks for."""
    campaign = engine.start_campaign("mass-campaign", year, codes, USER)
    [notify] = engine.tasks(campaign_id=campaign.id)
    engine.complete(notify.id, {"announcement": "考核结果通报", "announced_on": f"{year}-12-01"}, LEAD)
    for task in engine.tasks(campaign_id=campaign.id):
        engine.complete(task.id, {"measures": "整改措施", "deadline": f"{year + 1}-01-31",
                                  "evidence": [{"name": "整改方案.pdf", "sha256": "ab" * 32}]}, USER)
    unfinished = [i.id for i in engine.campaign_instances(campaign.id) if i.status != "completed"]
    if unfinished:
        raise RuntimeError(f"campaign {campaign.id} left {len(unfinished)} instances running")
