"""Storage: one interface (:mod:`.base`), one backend per database."""

from __future__ import annotations

from ..config import Settings
from .base import Store


def create_store(settings: Settings) -> Store:
    """The store selected by ``DATABASE_URL`` (not opened yet)."""
    if settings.database_kind == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(settings.sqlite_path, synchronous=settings.sqlite_synchronous)
    from .mongo import MongoStore

    return MongoStore(settings.database_url)
