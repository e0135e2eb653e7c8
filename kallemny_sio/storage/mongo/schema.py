"""The MongoDB schema: the indexes every query needs, and the migration from the previous release.

Schema versions, kept in ``meta`` as ``{"_id": "schema", "version": N}``:

1 (no ``meta`` document)
    The first release: messages without ``change_seq``, ``type``,
    ``updated_at`` and the other fields of contract section 6, rooms without
    ``last_change_seq``, no ``changes`` collection.
2
    The change log (:mod:`.change_log`) and messages after they are sent.
3
    Rooms and members after they are created (contract section 7):
    memberships have ``role`` and ``muted_until``, rooms ``topic`` and
    ``custom_data``; collections ``bans``, ``blocks``, ``reports``.

Each migration runs in :meth:`MongoStore.open`, those a database has not had
yet in order. From 1: each old message gets
this release's fields (``change_seq = seq``, ``updated_at = created_at``,
type ``"user"``) and a creation entry in the log at position ``seq``, and each
room ``last_change_seq = last_seq``. Every step only fills in what is
missing (an insert that finds its entry there already, an update filtered on
the field being absent), so it is idempotent, resumes after a crash, and two
nodes opening at once only repeat each other's work. A node serves only once
its own migration has finished, and by then no version-1 document is left
(nodes of the previous release must be stopped before, as they would keep
writing version-1 messages).

From 2 (:func:`_migrate_roles`): in each group the creator's membership
becomes the owner's (a creator who left: the oldest membership, in joining
order), the others members; private rooms' memberships are members. Per room,
the owner is set first (only on a membership still without a role), then
every membership still without one becomes a member. Two nodes compute the
same owner from the same documents, and the unique one-owner index refuses a
second owner if the room changed between their reads (a membership then
simply becomes a member), so it is idempotent and safe from two nodes at once,
also while a node that finished first already serves. Rooms get ``topic`` and
``custom_data`` (null), each only where missing so a concurrent update wins.
"""

from __future__ import annotations

import logging
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from .documents import joining_order, upgraded_message
from .driver import Doc
from .users import USERNAME_COLLATION

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
MIGRATION_BATCH = 500
DUPLICATE_KEY = 11000


async def prepare(db: AsyncDatabase[Doc]) -> None:
    """Create the indexes and migrate older documents (idempotent, safe from several nodes at once)."""
    await create_indexes(db)
    version = await _version(db)
    if version < 2:
        await _migrate_messages(db)
        await _migrate_rooms(db)
    if version < 3:
        await _migrate_roles(db)
    if version < SCHEMA_VERSION:
        await _set_version(db)


async def create_indexes(db: AsyncDatabase[Doc]) -> None:
    """Create every index the queries need (creating an existing one is a no-op)."""
    # get_user_by_username, and the "username taken" rule of create_user.
    await db.users.create_index("username", name="username_ci", unique=True, collation=USERNAME_COLLATION)
    # search_users: an anchored regex on a lower-case copy is a tight index range
    # (a regex cannot use a collated index that way).
    await db.users.create_index("username_lower", name="username_lower")
    # get_user_by_external_id, and one live user per external id (deletion moves it away).
    await db.users.create_index(
        "external_id", name="external_id", unique=True, partialFilterExpression={"external_id": {"$type": "string"}}
    )
    # external_id_deleted_at.
    await db.users.create_index(
        [("deleted_external_id", 1), ("deleted_at", -1)], name="deleted_external_id",
        partialFilterExpression={"deleted_external_id": {"$type": "string"}},
    )
    # revoked_tokens: gone once their token expired (the read filters by time too).
    await db.revoked_tokens.create_index("expires", name="expiry", expireAfterSeconds=0)
    # get_or_create_private_room: concurrent creations for one pair make one room.
    await db.rooms.create_index(
        "pair_key", name="private_pair", unique=True, partialFilterExpression={"pair_key": {"$type": "string"}}
    )
    # is_member, room_ids_for_user, list_room_summaries, mark_read (read state is here).
    await db.memberships.create_index([("user", 1), ("room", 1)], name="user_room", unique=True)
    # member_ids, contact_ids, room summaries' member lists, dropping a deleted message's mentions.
    await db.memberships.create_index([("room", 1), ("user", 1)], name="room_user")
    # At most one owner per room: an heir's promotion fails if the room has an owner
    # again (see lifecycle). Memberships without a role (before migration) are outside it.
    await db.memberships.create_index(
        "room", name="one_owner", unique=True, partialFilterExpression={"role": "owner"}
    )
    # is_banned, and a user banned from a room is banned once.
    await db.bans.create_index([("room", 1), ("user", 1)], name="room_user", unique=True)
    # blocked_ids, blocked_between (one range of it), and one block per pair.
    await db.blocks.create_index([("blocker", 1), ("blocked", 1)], name="blocker_blocked", unique=True)
    # reports need none: their _id is their dense position (see safety).
    await _create_message_indexes(db)
    # Dense change positions, visible in order; and one chain of changes per message
    # (see change_log). message_prev also finds a message's latest change.
    await db.changes.create_index([("room", 1), ("seq", 1)], name="room_seq", unique=True)
    await db.changes.create_index([("message", 1), ("prev", 1)], name="message_prev", unique=True)


async def _create_message_indexes(db: AsyncDatabase[Doc]) -> None:
    # list_messages paging, the latest message, unread counts (a range count).
    await db.messages.create_index([("room", 1), ("seq", 1)], name="room_seq", unique=True)
    # add_message: a resend (same room, sender, client id) cannot make a second message.
    await db.messages.create_index(
        [("room", 1), ("sender", 1), ("client_message_id", 1)],
        name="idempotent_send",
        unique=True,
        partialFilterExpression={"client_message_id": {"$type": "string"}},
    )
    # Creations not yet in the change log: only the messages being sent right now
    # (or whose send was interrupted), so the sweep in add_message costs next to nothing.
    await db.messages.create_index(
        [("room", 1), ("created_at", 1)], name="unlogged_creation", partialFilterExpression={"change_seq": 0}
    )


async def _version(db: AsyncDatabase[Doc]) -> int:
    doc = await db.meta.find_one({"_id": "schema"})
    return 1 if doc is None else int(doc["version"])


async def _set_version(db: AsyncDatabase[Doc]) -> None:
    for _ in range(2):  # two concurrent upserts of one _id: the loser retries as an update
        try:
            await db.meta.update_one({"_id": "schema"}, {"$max": {"version": SCHEMA_VERSION}}, upsert=True)
            return
        except DuplicateKeyError:
            continue


async def _migrate_messages(db: AsyncDatabase[Doc]) -> None:
    """Give every version-1 message this release's fields and its creation entry in the log."""
    query: dict[str, Any] = {"change_seq": {"$exists": False}}
    migrated = 0
    while batch := await db.messages.find(query).sort("_id", 1).limit(MIGRATION_BATCH).to_list():
        upgraded = [upgraded_message(doc) for doc in batch]
        # The log first: a message with change_seq is taken as logged.
        await _insert_missing(db.changes, [_creation(doc) for doc in upgraded])
        updates = [
            UpdateOne({"_id": doc["_id"], "change_seq": {"$exists": False}}, {"$set": _without_id(doc)})
            for doc in upgraded
        ]
        await db.messages.bulk_write(updates, ordered=False)
        query["_id"] = {"$gt": batch[-1]["_id"]}
        migrated += len(batch)
    if migrated:
        log.info("schema %d: %d messages given change positions", SCHEMA_VERSION, migrated)


async def _migrate_rooms(db: AsyncDatabase[Doc]) -> None:
    """Give every version-1 room its last change position, and its copy of its last message the new fields."""
    query: dict[str, Any] = {"last_change_seq": {"$exists": False}}
    while batch := await db.rooms.find(query).sort("_id", 1).limit(MIGRATION_BATCH).to_list():
        updates = [
            UpdateOne(
                {"_id": room["_id"], "last_change_seq": {"$exists": False}},
                {"$set": {"last_change_seq": int(room.get("last_seq") or 0), "last_message": _upgraded_copy(room)}},
            )
            for room in batch
        ]
        await db.rooms.bulk_write(updates, ordered=False)
        query["_id"] = {"$gt": batch[-1]["_id"]}


async def _migrate_roles(db: AsyncDatabase[Doc]) -> None:
    """Give every membership without a role one (see the module's docstring), room by room."""
    query: dict[str, Any] = {"role": {"$exists": False}}
    rooms = 0
    while batch := await db.memberships.find(query, {"room": 1}).sort("_id", 1).limit(MIGRATION_BATCH).to_list():
        for room in dict.fromkeys(doc["room"] for doc in batch):
            await _give_roles(db, room)
            rooms += 1
        query["_id"] = {"$gt": batch[-1]["_id"]}
    await db.rooms.update_many({"topic": {"$exists": False}}, {"$set": {"topic": None}})
    await db.rooms.update_many({"custom_data": {"$exists": False}}, {"$set": {"custom_data": None}})
    if rooms:
        log.info("schema %d: memberships of %d rooms given roles", SCHEMA_VERSION, rooms)


async def _give_roles(db: AsyncDatabase[Doc], room: ObjectId) -> None:
    """The owner of a group (its creator, else its oldest membership), then members for the rest."""
    found = await db.rooms.find_one({"_id": room}, {"type": 1, "created_by": 1})
    members = await db.memberships.find({"room": room}, {"user": 1, "joined_at": 1, "role": 1}).to_list()
    if found is not None and found.get("type") == "group" and members:
        if not any(m.get("role") == "owner" for m in members):
            creator = [m for m in members if m["user"] == found.get("created_by")]
            owner = creator[0] if creator else min(members, key=joining_order)
            try:
                await db.memberships.update_one(
                    {"_id": owner["_id"], "role": {"$exists": False}}, {"$set": {"role": "owner", "muted_until": None}}
                )
            except DuplicateKeyError:
                pass  # the room has an owner already (another node, or a hand-over since our read)
    await db.memberships.update_many(
        {"room": room, "role": {"$exists": False}}, {"$set": {"role": "member", "muted_until": None}}
    )


def _creation(message: Doc) -> Doc:
    """The log entry of an old message's creation, at its history position."""
    return {"_id": ObjectId(), "room": message["room"], "seq": message["change_seq"], "message": message["_id"],
            "prev": 0, "state": message}


def _upgraded_copy(room: Doc) -> Doc | None:
    copy = room.get("last_message")
    return None if copy is None else upgraded_message(copy)


def _without_id(doc: Doc) -> Doc:
    return {key: value for key, value in doc.items() if key != "_id"}


async def _insert_missing(collection: AsyncCollection[Doc], docs: list[Doc]) -> None:
    """Insert ``docs``, skipping those a unique index says are there already (another node's work)."""
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if exc.details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
