"""The host application's users and the token lifecycle (contract section 8), on MongoDB.

A user of the host application carries ``external_id``, unique among live
users (a unique partial index on the string field). Deleting a user moves
its external id to ``deleted_external_id``, so the id is free for a new
account while :meth:`AccountsPart.external_id_deleted_at` still knows when
the old one went. Revoked token ids live in ``revoked_tokens`` until their
expiry (a TTL index removes them; the read filters by time as well, since
the TTL monitor runs only once a minute).
"""

from __future__ import annotations

import datetime

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ...errors import Conflict
from ..base import UserRecord
from .database import Database
from .documents import oid, user_record
from .driver import guarded


def _taken(exc: DuplicateKeyError) -> Conflict:
    return Conflict("externalId: already taken" if "external_id" in str(exc) else "username: already taken")


class AccountsPart(Database):
    """External ids, renames, token generations, deletions, revoked tokens."""

    @guarded
    async def get_user_by_external_id(self, external_id: str) -> UserRecord | None:
        doc = await self._users.find_one({"external_id": external_id})
        return None if doc is None else user_record(doc)

    @guarded
    async def external_id_deleted_at(self, external_id: str) -> int | None:
        doc = await self._users.find_one({"deleted_external_id": external_id}, {"deleted_at": 1},
                                         sort=[("deleted_at", -1)])
        return None if doc is None else int(doc["deleted_at"])

    @guarded
    async def create_external_user(
        self, external_id: str, username: str, display_name: str, created_at: int
    ) -> UserRecord:
        doc = {
            "_id": ObjectId(),
            "username": username,
            "username_lower": username.lower(),
            "display_name": display_name,
            "password_hash": "",
            "created_at": created_at,
            "last_seen": None,
            "external_id": external_id,
        }
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError as exc:
            raise _taken(exc) from None
        return user_record(doc)

    @guarded
    async def update_user(
        self, user_id: str, display_name: str | None = None, username: str | None = None
    ) -> UserRecord | None:
        user = oid(user_id)
        if user is None:
            return None
        changes: dict[str, object] = {}
        if display_name is not None:
            changes["display_name"] = display_name
        if username is not None:
            changes.update(username=username, username_lower=username.lower())
        query = {"_id": user, "deleted_at": None}
        try:
            if changes:
                doc = await self._users.find_one_and_update(query, {"$set": changes},
                                                            return_document=ReturnDocument.AFTER)
            else:
                doc = await self._users.find_one(query)
        except DuplicateKeyError as exc:
            raise _taken(exc) from None
        return None if doc is None else user_record(doc)

    @guarded
    async def bump_token_generation(self, user_id: str, password_hash: str | None = None) -> int:
        user = oid(user_id)
        if user is None:
            return 0
        update: dict[str, object] = {"$inc": {"token_generation": 1}}
        if password_hash is not None:
            update["$set"] = {"password_hash": password_hash}
        doc = await self._users.find_one_and_update({"_id": user}, update, return_document=ReturnDocument.AFTER)
        return 0 if doc is None else int(doc.get("token_generation", 0))

    @guarded
    async def delete_user(self, user_id: str, at: int) -> bool:
        user = oid(user_id)
        if user is None:
            return False
        doc = await self._users.find_one({"_id": user, "deleted_at": None})
        if doc is None:
            return False
        # "~" is not allowed in usernames: the renamed one frees the name and can never be taken.
        renamed = f"~deleted~{user}"
        update: dict[str, object] = {
            "$set": {"deleted_at": at, "username": renamed, "username_lower": renamed, "password_hash": ""},
            "$inc": {"token_generation": 1},
        }
        if doc.get("external_id") is not None:
            update["$set"]["deleted_external_id"] = doc["external_id"]  # type: ignore[index]
            update["$unset"] = {"external_id": ""}
        result = await self._users.update_one({"_id": user, "deleted_at": None}, update)
        return result.modified_count == 1

    @guarded
    async def revoke_token(self, token_id: str, expires_at: int) -> None:
        expires = datetime.datetime.fromtimestamp(expires_at / 1000, tz=datetime.timezone.utc)
        await self._database().revoked_tokens.update_one(
            {"_id": token_id}, {"$set": {"expires_at": expires_at, "expires": expires}}, upsert=True)

    @guarded
    async def revoked_tokens(self, now: int) -> list[tuple[str, int]]:
        cursor = self._database().revoked_tokens.find({"expires_at": {"$gt": now}})
        return [(str(doc["_id"]), int(doc["expires_at"])) async for doc in cursor]
