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


def upload_dir() -> Path:
    """Where evidence files are kept: ``<data dir>/files``."""
    return data_dir() / "files"


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents readable by this account only (0700); existing ones stay as they are."""
    for folder in reversed([path, *path.parents]):
        if not folder.exists():
            folder.mkdir(mode=0o700, exist_ok=True)
    return path
