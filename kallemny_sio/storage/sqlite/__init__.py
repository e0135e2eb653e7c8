"""The embedded SQLite store: :mod:`.store` (reads, group-committed writes), :mod:`.schema` (tables, migrations)."""

from .store import SQLiteStore

__all__ = ["SQLiteStore"]
