"""Persistence: the schema, the connection and its migrations."""

from .db import Store
from .migrate import upgrade

__all__ = ["Store", "upgrade"]
