"""Create or upgrade the schema with Alembic, from code (no alembic.ini to find)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .db import Store

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(store: Store) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = store.engine
    return config


def is_current(store: Store) -> bool:
    """Whether the database has been migrated to the newest revision (``kaohe init`` does it)."""
    heads = set(ScriptDirectory.from_config(alembic_config(store)).get_heads())
    with store.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads


def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the database to ``revision``; a no-op when it is already there."""
    command.upgrade(alembic_config(store), revision)
