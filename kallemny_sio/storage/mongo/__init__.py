"""The MongoDB store: :mod:`.store` speaks the domain, :mod:`.driver` speaks pymongo."""

from .store import MongoStore

__all__ = ["MongoStore"]
