"""How ``engine/store/state-dictionary-1.txt`` was made: the states every shipped procedure's instances have
right after a campaign's launch (and a national region's after its targets are filed), the national region
process at launch last: deflate reaches the end of its dictionary best, and every region instance starts there.

The codec (``engine/store/state.py``) compresses each state with raw deflate primed with this text, so a
4 KB state stores in about 0.5 KB. Old rows need the file byte for byte: never rewrite it. A better
dictionary is a new file and a new codec mark, the old one kept for reading. Run:
``.venv/bin/python benchmarks/state_dictionary.py NEW-FILE``.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from drive import Driver  # noqa: E402
from sqlalchemy import select  # noqa: E402

from engine import config  # noqa: E402
from engine.clock import CHINA, VirtualClock  # noqa: E402
from engine.engine import Engine  # noqa: E402
from engine.people import accounts  # noqa: E402
from engine.people.accounts import Grant  # noqa: E402
from engine.store import Store, upgrade  # noqa: E402
from engine.store.models import Instance, Region  # noqa: E402

#: The dictionary's size: deflate could look back 32 KiB, but priming it with 32 KiB costs ~150 µs per save
#: against ~25 µs for 8 KiB, for a state 2% smaller (measured on the national region state).
WINDOW = 8 * 1024
#: The most common state last: the national procedure's, the one most instances run.
ORDER = ["ziyang-2016", "yangling-2016", "dazhou-2015", "guangdong-2019", "national-2013"]


def states() -> list[str]:
    """Region and campaign states of every shipped procedure at launch, national last."""
    found: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/dictionary.db")
        upgrade(store)
        engine = Engine(store, clock=VirtualClock(datetime(2025, 6, 2, 9, tzinfo=CHINA)))
        with store.write() as session:
            accounts.ensure_roles(session)
            for role in accounts.ROLE_NAMES:
                accounts.create_user(session, role, role, [Grant(role)])
        for variant in ORDER:
            bundle = engine.check(config.PROCESSES / variant)
            engine.load_regions(bundle)
            engine.deploy(config.PROCESSES / variant)
            with store.read() as session:
                regions = list(session.scalars(select(Region.code).where(Region.region_set == variant)
                                               .order_by(Region.code).limit(2)))
            drive = Driver(engine, variant, regions)
            if variant == "national-2013":
                drive.file_targets(regions[0])
            with store.read() as session:
                rows = session.scalars(select(Instance).where(Instance.campaign_id == drive.campaign.id)
                                       .order_by(Instance.region.is_not(None), Instance.region))
                # the campaign, the region whose targets were filed, the one at launch (deflate reaches the end best)
                found += [row.state for row in rows]
    return found


def main() -> None:
    text = "".join(states()).encode()[-WINDOW:].decode(errors="ignore").encode()  # whole characters
    Path(sys.argv[1]).write_bytes(text)
    print(f"{len(text)} bytes written to {sys.argv[1]}")


if __name__ == "__main__":
    main()
