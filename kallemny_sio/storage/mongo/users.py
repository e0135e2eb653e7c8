"""Users: unique usernames (case-insensitive), lookups and prefix search."""

from __future__ import annotations

import re
from typing import Iterable

from bson import ObjectId
from pymongo.collation import Collation
from pymongo.errors import DuplicateKeyError

from ...errors import Conflict
from ..base import UserRecord
from .database import Database
from .documents import oid, user_record
from .driver import guarded

#: Usernames are unique and looked up case-insensitively through this collation.
#: Every query on ``users.username`` must pass it, or it cannot use the index.
USERNAME_COLLATION = Collation(locale="en", strength=2)


class UsersPart(Database):
    """Accounts as the store keeps them."""

    @guarded
    async def create_user(self, username: str, display_name: str, password_hash: str, created_at: int) -> UserRecord:
        """Create a user; the unique collated index decides "taken" (no read-then-write).

        Raises:
            Conflict: the username is taken, compared case-insensitively.
        """
        doc = {
            "_id": ObjectId(),
            "username": username,
            "username_lower": username.lower(),
            "display_name": display_name,
            "password_hash": password_hash,
            "created_at": created_at,
            "last_seen": None,
        }
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError:
            raise Conflict("username: already taken") from None
        return user_record(doc)

    @guarded
    async def get_user_by_username(self, username: str) -> UserRecord | None:
        """Find a user by username, case-insensitively (same collation as the unique index)."""
        doc = await self._users.find_one({"username": username}, collation=USERNAME_COLLATION)
        return None if doc is None else user_record(doc)

    @guarded
    async def get_users(self, user_ids: Iterable[str]) -> list[UserRecord]:
        """The users among ``user_ids`` that exist; malformed ids are skipped."""
        oids = list({found for found in map(oid, user_ids) if found is not None})
        if not oids:
            return []
        return [user_record(doc) async for doc in self._users.find({"_id": {"$in": oids}})]

    @guarded
    async def search_users(self, prefix: str, limit: int) -> list[UserRecord]:
        """Users whose username starts with ``prefix`` (case-insensitive), by username."""
        if limit <= 0:  # a driver limit of 0 would mean "no limit"
            return []
        query = {"username_lower": {"$regex": "^" + re.escape(prefix.lower())}, "deleted_at": None}
        cursor = self._users.find(query).sort("username_lower", 1).limit(limit)
        return [user_record(doc) async for doc in cursor]

    @guarded
    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash; an unknown id changes nothing."""
        user = oid(user_id)
        if user is not None:
            await self._users.update_one({"_id": user}, {"$set": {"password_hash": password_hash}})

    @guarded
    async def set_last_seen(self, user_id: str, last_seen: int) -> None:
        """Record when the user's last connection closed; an unknown id changes nothing."""
        user = oid(user_id)
        if user is not None:
            await self._users.update_one({"_id": user}, {"$set": {"last_seen": last_seen}})
