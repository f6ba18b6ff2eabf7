"""Settings from the environment, with defaults that work on a fresh machine."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"


def data_dir() -> Path:
    """Where the embedded database and uploads live: ``KAOHE_DATA_DIR``, else ``./var``."""
    return Path(os.environ.get("KAOHE_DATA_DIR", "var")).resolve()


def database_url() -> str:
    """``KAOHE_DATABASE_URL`` (e.g. postgresql+psycopg://user@host/db), else an SQLite file."""
    return os.environ.get("KAOHE_DATABASE_URL") or f"sqlite:///{data_dir() / 'kaohe.db'}"
