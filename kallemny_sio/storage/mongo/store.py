"""The MongoDB store, on pymongo's native asyncio client (``AsyncMongoClient``).

Collections (one document per thing, ids are ``ObjectId`` and leave as strings):

``users``
    ``username`` (as typed), ``username_lower``, ``display_name``,
    ``password_hash``, ``created_at``, ``last_seen``.
``rooms``
    ``type``, ``name``, ``is_public``, ``created_by``, ``created_at``,
    ``last_activity_at``, ``last_seq`` and ``last_message`` (a copy of the
    latest message, so that a room list takes three queries however many rooms
    it shows) and, for private rooms only, ``pair_key`` (the two user ids,
    sorted, joined by ``:``).
``memberships``
    ``room``, ``user``, ``joined_at`` and the member's read pointer
    (``read_seq``, ``read_message_id``, ``read_at``). Read state lives here, not
    in a collection of its own: it exists exactly as long as the membership
    (ending a membership drops it, joining starts it), every query that needs it
    (room summaries, unread counts) already reads the membership, and moving it
    is a single-document update, atomic without a transaction.
``messages``
    ``room``, ``seq``, ``sender``, ``sender_username``, ``content``,
    ``created_at`` and ``client_message_id`` (only when the client gave one).

Ordering: every message takes the position after the highest one stored in its
room, and the unique (room, seq) index refuses a position already taken (see
``_insert_in_order`` for why not a counter). Positions are dense and become
visible in order, so a client catching up with ``after=<last id>`` never skips
a message. History pages on ``(room, seq)``.

No operation needs a transaction, so a standalone server, a replica set and
Atlas (``mongodb+srv://``) all work. Every driver error becomes a domain error
(:class:`~kallemny_sio.errors.Unavailable` when the database cannot be
reached) without the driver's text; no driver type leaves this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from typing import Any, AsyncIterator, Hashable, Iterable, Sequence

import pymongo
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.collation import Collation
from pymongo.errors import DuplicateKeyError

from ...errors import Conflict, NotFound, Unavailable
from ..base import (
    MessagePage,
    MessageRecord,
    NewMessage,
    ReadState,
    RoomRecord,
    RoomSummary,
    StoredMessage,
    Store,
    UserRecord,
)
from .driver import Doc, guarded, new_client, open_error, write_concern

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "kallemny"

PING_TIMEOUT_SECONDS = 2.0

#: How long add_message keeps trying for a free position in its room (only senders
#: on other nodes compete: those on this node queue on a per-room lock)...
POSITION_DEADLINE_SECONDS = 10.0
#: ...and how long a sender queues on that lock before going ahead without it.
ROOM_LOCK_WAIT_SECONDS = 10.0


#: Usernames are unique and looked up case-insensitively through this collation.
#: Every query on ``users.username`` must pass it, or it cannot use the index.
USERNAME_COLLATION = Collation(locale="en", strength=2)




# -- ids and documents → records ---------------------------------------------


def _oid(value: object) -> ObjectId | None:
    """The ObjectId spelled by ``value``, or None when it cannot be one (never raises)."""
    if not isinstance(value, str) or len(value) != 24:
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def _require_oid(value: str, what: str) -> ObjectId:
    """Like :func:`_oid`, for writes that cannot proceed without the thing.

    Raises:
        NotFound: ``value`` is not an id this store could have made.
    """
    oid = _oid(value)
    if oid is None:
        raise NotFound(f"{what} not found")
    return oid


def _str_or_none(value: ObjectId | None) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: Any) -> int | None:
    # BSON int64 decodes as bson.Int64: hand out plain ints.
    return None if value is None else int(value)


def _user(doc: Doc) -> UserRecord:
    return UserRecord(
        id=str(doc["_id"]),
        username=doc["username"],
        display_name=doc["display_name"],
        password_hash=doc["password_hash"],
        created_at=int(doc["created_at"]),
        last_seen=_int_or_none(doc.get("last_seen")),
    )


def _room(doc: Doc) -> RoomRecord:
    return RoomRecord(
        id=str(doc["_id"]),
        type=doc["type"],
        name=doc.get("name"),
        is_public=bool(doc["is_public"]),
        created_by=str(doc["created_by"]),
        created_at=int(doc["created_at"]),
        last_activity_at=int(doc["last_activity_at"]),
    )


def _message(doc: Doc) -> MessageRecord:
    return MessageRecord(
        id=str(doc["_id"]),
        room_id=str(doc["room"]),
        sender_id=str(doc["sender"]),
        sender_username=doc["sender_username"],
        content=doc["content"],
        created_at=int(doc["created_at"]),
        client_message_id=doc.get("client_message_id"),
    )


def _read_state(doc: Doc) -> ReadState:
    return ReadState(
        room_id=str(doc["room"]),
        user_id=str(doc["user"]),
        last_read_message_id=_str_or_none(doc.get("read_message_id")),
        read_at=_int_or_none(doc.get("read_at")),
    )


def _membership(room: ObjectId, user: ObjectId, joined_at: int, latest: Doc | None = None) -> Doc:
    """A membership document whose read pointer starts at ``latest`` (a message) or nowhere."""
    return {
        "_id": ObjectId(),
        "room": room,
        "user": user,
        "joined_at": joined_at,
        "read_seq": int(latest["seq"]) if latest else 0,
        "read_message_id": latest["_id"] if latest else None,
        "read_at": None,  # the pointer was placed, not read: no read time yet
    }


def _message_doc(room: ObjectId, sender: ObjectId, message: NewMessage) -> Doc:
    """A message document without its position (``seq``)."""
    doc: Doc = {
        "_id": ObjectId(),
        "room": room,
        "sender": sender,
        "sender_username": message.sender_username,
        "content": message.content,
        "created_at": message.created_at,
    }
    if message.client_message_id is not None:
        doc["client_message_id"] = message.client_message_id
    return doc


def _pair_key(user_a: ObjectId, user_b: ObjectId) -> str:
    """The same key for (a, b) and (b, a): what makes a private room unique per pair."""
    return ":".join(sorted((str(user_a), str(user_b))))


class _RoomSlot:
    """A room's send lock on this node, and the last position this node stored there."""

    __slots__ = ("lock", "users", "last_seq")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        self.last_seq: int | None = None


class _RoomSlots:
    """One :class:`_RoomSlot` per room, kept only while someone holds or awaits it.

    The lock makes contention cheap; correctness never depends on it (the
    unique index does that). A caller that waited ``max_wait`` seconds goes
    ahead without it, so an outage cannot queue every sender behind every other.
    """

    def __init__(self) -> None:
        self._slots: dict[Hashable, _RoomSlot] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable, max_wait: float) -> AsyncIterator[_RoomSlot | None]:
        """Yield the room's slot with its lock held, or ``None`` after waiting ``max_wait`` seconds."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _RoomSlot()
        slot.users += 1
        acquired = False
        try:
            try:
                async with asyncio.timeout(max_wait):
                    await slot.lock.acquire()
                acquired = True
            except TimeoutError:
                pass
            yield slot if acquired else None
        finally:
            if acquired:
                slot.lock.release()
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]


class MongoStore(Store):
    """The storage interface on MongoDB (a standalone server, a replica set or Atlas)."""

    def __init__(self, database_url: str) -> None:
        """Remember the URL; nothing connects before :meth:`open`.

        Args:
            database_url: a ``mongodb://`` or ``mongodb+srv://`` URL. Its path names
                the database (default ``kallemny``); its options override ours.
        """
        self._url = database_url
        self._client: AsyncMongoClient[Doc] | None = None
        self._db: AsyncDatabase[Doc] | None = None
        self._room_slots = _RoomSlots()

    # -- lifecycle -------------------------------------------------------------

    async def open(self) -> None:
        """Connect, check the server answers, and create the indexes (idempotent).

        Raises:
            Unavailable: the URL is unusable or the server cannot be reached; the
                message names ``DATABASE_URL`` and never carries driver text.
        """
        if self._db is not None:
            return
        client = new_client(self._url)
        try:
            db = client.get_default_database(DEFAULT_DATABASE, write_concern=write_concern(client))
            await db.command("ping")
            await self._create_indexes(db)
        except BaseException as exc:
            await client.close()
            error = open_error(exc)
            if error is exc:
                raise
            raise error from None
        self._client, self._db = client, db

    async def close(self) -> None:
        """Close the client; safe to call twice."""
        client, self._client, self._db = self._client, None, None
        if client is not None:
            await client.close()

    @guarded
    async def ping(self) -> None:
        """Return when the server answers a ``ping`` within a couple of seconds.

        Raises:
            Unavailable: it does not.
        """
        with pymongo.timeout(PING_TIMEOUT_SECONDS):
            await self._database().command("ping")

    @staticmethod
    async def _create_indexes(db: AsyncDatabase[Doc]) -> None:
        """Create every index the queries below need (creating an existing one is a no-op)."""
        # get_user_by_username, and the "username taken" rule of create_user.
        await db.users.create_index("username", name="username_ci", unique=True, collation=USERNAME_COLLATION)
        # search_users: an anchored regex on a lower-case copy is a tight index range
        # (a regex cannot use a collated index that way).
        await db.users.create_index("username_lower", name="username_lower")
        # get_or_create_private_room: concurrent creations for one pair make one room.
        await db.rooms.create_index(
            "pair_key", name="private_pair", unique=True, partialFilterExpression={"pair_key": {"$type": "string"}}
        )
        # is_member, room_ids_for_user, list_room_summaries, mark_read (read state is here).
        await db.memberships.create_index([("user", 1), ("room", 1)], name="user_room", unique=True)
        # member_ids, contact_ids, room summaries' member lists.
        await db.memberships.create_index([("room", 1), ("user", 1)], name="room_user")
        # list_messages paging, the latest message, unread counts (a range count).
        await db.messages.create_index([("room", 1), ("seq", 1)], name="room_seq", unique=True)
        # add_message: a resend (same room, sender, client id) cannot make a second message.
        await db.messages.create_index(
            [("room", 1), ("sender", 1), ("client_message_id", 1)],
            name="idempotent_send",
            unique=True,
            partialFilterExpression={"client_message_id": {"$type": "string"}},
        )

    def _database(self) -> AsyncDatabase[Doc]:
        if self._db is None:
            raise Unavailable("database unavailable")
        return self._db

    @property
    def _users(self) -> AsyncCollection[Doc]:
        return self._database().users

    @property
    def _rooms(self) -> AsyncCollection[Doc]:
        return self._database().rooms

    @property
    def _memberships(self) -> AsyncCollection[Doc]:
        return self._database().memberships

    @property
    def _messages(self) -> AsyncCollection[Doc]:
        return self._database().messages

    # -- users -----------------------------------------------------------------

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
        return _user(doc)

    @guarded
    async def get_user_by_username(self, username: str) -> UserRecord | None:
        """Find a user by username, case-insensitively (same collation as the unique index)."""
        doc = await self._users.find_one({"username": username}, collation=USERNAME_COLLATION)
        return None if doc is None else _user(doc)

    @guarded
    async def get_users(self, user_ids: Iterable[str]) -> list[UserRecord]:
        """The users among ``user_ids`` that exist; malformed ids are skipped."""
        oids = list({oid for oid in map(_oid, user_ids) if oid is not None})
        if not oids:
            return []
        return [_user(doc) async for doc in self._users.find({"_id": {"$in": oids}})]

    @guarded
    async def search_users(self, prefix: str, limit: int) -> list[UserRecord]:
        """Users whose username starts with ``prefix`` (case-insensitive), by username."""
        if limit <= 0:  # a driver limit of 0 would mean "no limit"
            return []
        query = {"username_lower": {"$regex": "^" + re.escape(prefix.lower())}}
        cursor = self._users.find(query).sort("username_lower", 1).limit(limit)
        return [_user(doc) async for doc in cursor]

    @guarded
    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash; an unknown id changes nothing."""
        oid = _oid(user_id)
        if oid is not None:
            await self._users.update_one({"_id": oid}, {"$set": {"password_hash": password_hash}})

    @guarded
    async def set_last_seen(self, user_id: str, last_seen: int) -> None:
        """Record when the user's last connection closed; an unknown id changes nothing."""
        oid = _oid(user_id)
        if oid is not None:
            await self._users.update_one({"_id": oid}, {"$set": {"last_seen": last_seen}})

    # -- rooms and memberships -------------------------------------------------

    @guarded
    async def create_group_room(
        self, created_by: str, name: str, is_public: bool, member_ids: Sequence[str], created_at: int
    ) -> RoomRecord:
        """Create a group room and its memberships (duplicates in ``member_ids`` count once).

        Raises:
            NotFound: an id is not one this store could have made.
        """
        creator = _require_oid(created_by, "user")
        members = list(dict.fromkeys(_require_oid(uid, "user") for uid in member_ids))
        doc = {
            "_id": ObjectId(),
            "type": "group",
            "name": name,
            "is_public": bool(is_public),
            "created_by": creator,
            "created_at": created_at,
            "last_activity_at": created_at,
            "last_seq": 0,
            "last_message": None,
        }
        await self._rooms.insert_one(doc)
        if members:
            await self._memberships.insert_many([_membership(doc["_id"], uid, created_at) for uid in members])
        return _room(doc)

    @guarded
    async def get_or_create_private_room(self, user_a: str, user_b: str, created_at: int) -> tuple[RoomRecord, bool]:
        """The one private room of the pair, created if missing; ``True`` when created now.

        The unique partial index on ``pair_key`` decides the race: of concurrent
        creators exactly one insert succeeds, the others read the winner's room.

        Raises:
            NotFound: an id is not one this store could have made.
        """
        a, b = _require_oid(user_a, "user"), _require_oid(user_b, "user")
        key = _pair_key(a, b)
        room, created = await self._rooms.find_one({"pair_key": key}), False
        if room is None:
            candidate = {
                "_id": ObjectId(),
                "type": "private",
                "name": None,
                "is_public": False,
                "created_by": a,
                "created_at": created_at,
                "last_activity_at": created_at,
                "last_seq": 0,
                "last_message": None,
                "pair_key": key,
            }
            try:
                await self._rooms.insert_one(candidate)
                room, created = candidate, True
            except DuplicateKeyError:
                room = await self._rooms.find_one({"pair_key": key})
        if room is None:  # only if the room was deleted between the two statements
            raise Unavailable("database unavailable")
        # Every caller, not only the creator, makes sure both memberships exist: a
        # caller that lost the race must not return a room whose members are not
        # written yet.
        for user in dict.fromkeys((a, b)):
            await self._insert_membership(_membership(room["_id"], user, int(room["created_at"])))
        return _room(room), created

    async def _insert_membership(self, doc: Doc) -> bool:
        """Insert a membership; ``False`` if the (user, room) pair already exists."""
        try:
            await self._memberships.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    @guarded
    async def get_room(self, room_id: str) -> RoomRecord | None:
        """A room by id, or ``None`` (also for a malformed id)."""
        oid = _oid(room_id)
        doc = None if oid is None else await self._rooms.find_one({"_id": oid})
        return None if doc is None else _room(doc)

    @guarded
    async def member_ids(self, room_id: str) -> list[str]:
        """The room's members' ids, in the order they joined (empty for an unknown room)."""
        oid = _oid(room_id)
        if oid is None:
            return []
        cursor = self._memberships.find({"room": oid}, {"user": 1}).sort("_id", 1)
        return [str(doc["user"]) async for doc in cursor]

    @guarded
    async def is_member(self, room_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is a member of ``room_id``."""
        room, user = _oid(room_id), _oid(user_id)
        if room is None or user is None:
            return False
        return await self._memberships.find_one({"user": user, "room": room}, {"_id": 1}) is not None

    @guarded
    async def add_member(self, room_id: str, user_id: str, joined_at: int) -> bool:
        """Add a member whose read pointer starts at the room's latest message.

        Returns:
            ``False`` if they already were a member, or the room does not exist.
        """
        room, user = _oid(room_id), _oid(user_id)
        if room is None or user is None or await self._rooms.find_one({"_id": room}, {"_id": 1}) is None:
            return False
        latest = await self._latest_message(room)
        return await self._insert_membership(_membership(room, user, joined_at, latest))

    @guarded
    async def remove_member(self, room_id: str, user_id: str) -> bool:
        """End a membership (and with it the read pointer); ``False`` if there was none."""
        room, user = _oid(room_id), _oid(user_id)
        if room is None or user is None:
            return False
        result = await self._memberships.delete_one({"user": user, "room": room})
        return result.deleted_count == 1

    @guarded
    async def room_ids_for_user(self, user_id: str) -> list[str]:
        """Ids of every room the user belongs to."""
        user = _oid(user_id)
        if user is None:
            return []
        return [str(doc["room"]) async for doc in self._memberships.find({"user": user}, {"room": 1})]

    @guarded
    async def contact_ids(self, user_id: str) -> list[str]:
        """Ids of the other users who share at least one room with ``user_id``."""
        user = _oid(user_id)
        if user is None:
            return []
        rooms = await self._memberships.distinct("room", {"user": user})
        if not rooms:
            return []
        others = await self._memberships.distinct("user", {"room": {"$in": rooms}, "user": {"$ne": user}})
        return [str(oid) for oid in others]

    @guarded
    async def list_room_summaries(self, user_id: str) -> list[RoomSummary]:
        """The user's rooms, most recent activity (last message, else creation) first."""
        user = _oid(user_id)
        if user is None:
            return []
        memberships = await self._memberships.find({"user": user}).to_list()
        room_oids = [m["room"] for m in memberships]
        if not room_oids:
            return []
        rooms = {doc["_id"]: doc async for doc in self._rooms.find({"_id": {"$in": room_oids}})}
        members = await self._members_by_room(list(rooms))
        summaries = [
            self._summary(rooms[m["room"]], m, members.get(m["room"], [])) for m in memberships if m["room"] in rooms
        ]
        # Three queries whatever the number of rooms. Room ids break ties so that the
        # order is stable between calls.
        return sorted(summaries, key=lambda s: (s.room.last_activity_at, s.room.id), reverse=True)

    @guarded
    async def get_room_summary(self, room_id: str, user_id: str) -> RoomSummary | None:
        """One room as :meth:`list_room_summaries` would show it to ``user_id``.

        ``None`` when the room does not exist or ``user_id`` is not a member: the
        list would not show it to them either (the core relies on this to refuse
        non-members).
        """
        room_oid, user = _oid(room_id), _oid(user_id)
        if room_oid is None or user is None:
            return None
        membership = await self._memberships.find_one({"user": user, "room": room_oid})
        room = None if membership is None else await self._rooms.find_one({"_id": room_oid})
        if room is None:
            return None
        members = await self._members_by_room([room_oid])
        return self._summary(room, membership, members.get(room_oid, []))

    async def _members_by_room(self, room_oids: list[ObjectId]) -> dict[ObjectId, list[str]]:
        """Member ids of each room, in joining order, in one query."""
        members: dict[ObjectId, list[str]] = {}
        cursor = self._memberships.find({"room": {"$in": room_oids}}, {"room": 1, "user": 1}).sort("_id", 1)
        async for doc in cursor:
            members.setdefault(doc["room"], []).append(str(doc["user"]))
        return members

    @staticmethod
    def _summary(room: Doc, membership: Doc, member_ids: list[str]) -> RoomSummary:
        """One summary, from the room document (which carries its last message) and the membership."""
        latest = room.get("last_message")
        # Positions are dense (see _insert_in_order), so the unread messages are
        # exactly the positions after the read pointer: no count query per room.
        unread = max(0, int(room.get("last_seq") or 0) - int(membership["read_seq"]))
        return RoomSummary(
            room=_room(room),
            member_ids=tuple(member_ids),
            last_message=None if latest is None else _message(latest),
            unread_count=unread,
            last_read_message_id=_str_or_none(membership.get("read_message_id")),
        )

    # -- messages ----------------------------------------------------------------

    @guarded
    async def add_message(self, message: NewMessage) -> StoredMessage:
        """Store a message durably (majority write concern unless the URL says otherwise).

        A resend (same room, sender and client id) returns the stored message with
        ``created=False``. The unique partial index on (room, sender, client id)
        decides it, so two concurrent sends cannot both create; the lookup first
        is only the cheap path for the common, sequential resend.

        Raises:
            NotFound: the room does not exist (or an id is malformed).
        """
        room = _require_oid(message.room_id, "room")
        sender = _require_oid(message.sender_id, "user")
        doc = None if message.client_message_id is None else await self._find_resend(room, sender, message)
        created = False
        if doc is None:
            if await self._rooms.find_one({"_id": room}, {"_id": 1}) is None:
                raise NotFound("room not found")
            async with self._room_slots.hold(room, ROOM_LOCK_WAIT_SECONDS) as slot:
                doc, created = await self._insert_in_order(room, sender, message, slot)
        # Also on a resend: if the first attempt died between its writes, this one
        # completes it (the update only ever moves the room forward). Once the
        # message itself is stored these follow-ups must not fail the send: an
        # error ack would make the client resend, get created=False, and no
        # member would ever receive the message live.
        try:
            await self._record_last_message(room, doc)
            if created:
                await self._advance_read_pointer(room, sender, doc, message.created_at)
        except Unavailable:
            log.warning("message %s stored; its room summary will be completed by the next send", doc["_id"])
        return StoredMessage(_message(doc), created=created)

    async def _insert_in_order(
        self, room: ObjectId, sender: ObjectId, message: NewMessage, slot: _RoomSlot | None
    ) -> tuple[Doc, bool]:
        """Insert at the position after the room's highest stored one; ``(doc, created)``.

        Why not a counter (``$inc`` on the room, then insert): a counter hands out
        positions before the messages exist, so position 6 can become visible
        before position 5, and a client catching up with ``after=<4>`` at that
        moment skips 5 for good. Taking the position from what is stored, with
        the unique (room, seq) index refusing a taken one, means a position is
        only taken once every lower one is visible: positions are dense and
        appear in order, on every node. Senders on this node queue on the room's
        ``slot`` (which also remembers the last position, saving a read), so
        only senders on other nodes collide, and then retry.

        Raises:
            Unavailable: no free position could be taken for ``POSITION_DEADLINE_SECONDS``.
        """
        doc = _message_doc(room, sender, message)
        deadline = asyncio.get_running_loop().time() + POSITION_DEADLINE_SECONDS
        attempt = 0
        while True:
            doc["seq"] = await self._next_position(room, slot)
            try:
                await self._messages.insert_one(doc)
            except DuplicateKeyError:
                if message.client_message_id is not None:  # a concurrent resend may have won
                    existing = await self._find_resend(room, sender, message)
                    if existing is not None:
                        return existing, False
            else:
                if slot is not None:
                    slot.last_seq = doc["seq"]
                return doc, True
            # The position was taken (by another node): forget it and back off a little.
            if slot is not None:
                slot.last_seq = None
            attempt += 1
            if asyncio.get_running_loop().time() > deadline:
                raise Unavailable("database unavailable")
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt, 25)))

    async def _next_position(self, room: ObjectId, slot: _RoomSlot | None) -> int:
        """The position after the room's highest: remembered by this node, or read."""
        if slot is not None and slot.last_seq is not None:
            return slot.last_seq + 1
        latest = await self._messages.find_one({"room": room}, {"seq": 1}, sort=[("seq", -1)])
        return int(latest["seq"]) + 1 if latest else 1

    async def _record_last_message(self, room: ObjectId, message: Doc) -> None:
        """Make ``message`` the room's last message and activity, unless a later one already is.

        The room document carries its last message and position so that a room
        list needs no query per room.
        """
        seq = int(message["seq"])
        await self._rooms.update_one(
            {"_id": room, "last_seq": {"$lt": seq}},
            {"$set": {"last_seq": seq, "last_message": message}, "$max": {"last_activity_at": message["created_at"]}},
        )

    async def _find_resend(self, room: ObjectId, sender: ObjectId, message: NewMessage) -> Doc | None:
        """The stored message this one resends (same room, sender and client id), if any."""
        query = {"room": room, "sender": sender, "client_message_id": message.client_message_id}
        return await self._messages.find_one(query)

    async def _latest_message(self, room: ObjectId) -> Doc | None:
        return await self._messages.find_one({"room": room}, sort=[("seq", -1)])

    async def _advance_read_pointer(self, room: ObjectId, user: ObjectId, message: Doc, read_at: int) -> Doc | None:
        """Move ``user``'s pointer forward to ``message``, never back.

        This is ``$max`` on ``read_seq``, written as a condition on the filter so
        that the message id and the read time move with the position, atomically.

        Returns:
            The membership after the move, or ``None`` if nothing moved (no
            membership, or its pointer was already at or past ``message``).
        """
        seq = int(message["seq"])
        return await self._memberships.find_one_and_update(
            {"user": user, "room": room, "read_seq": {"$lt": seq}},
            {"$set": {"read_seq": seq, "read_message_id": message["_id"], "read_at": read_at}},
            return_document=ReturnDocument.AFTER,
        )

    @guarded
    async def list_messages(
        self, room_id: str, limit: int, before: str | None = None, after: str | None = None
    ) -> MessagePage | None:
        """A page of history, oldest first (see :meth:`Store.list_messages`).

        With both ``before`` and ``after`` the page walks forward from ``after``
        and stops short of ``before``.
        """
        room = _oid(room_id)
        bounds: dict[str, int] = {}
        for operator, cursor_id in (("$lt", before), ("$gt", after)):
            if cursor_id is not None:
                seq = await self._seq_of(room, cursor_id)
                if seq is None:
                    return None
                bounds[operator] = seq
        if room is None:
            return MessagePage(messages=[], has_more=False)
        query: Doc = {"room": room, "seq": bounds} if bounds else {"room": room}
        forward = after is not None
        limit = max(limit, 0)  # one extra document tells whether there are more
        docs = await self._messages.find(query).sort("seq", 1 if forward else -1).limit(limit + 1).to_list()
        page = docs[:limit] if forward else docs[:limit][::-1]
        return MessagePage(messages=[_message(doc) for doc in page], has_more=len(docs) > limit)

    async def _seq_of(self, room: ObjectId | None, message_id: str) -> int | None:
        """The position of ``message_id`` in ``room``, or None if it is not a message of that room."""
        doc = await self._message_in_room(room, message_id)
        return None if doc is None else int(doc["seq"])

    async def _message_in_room(self, room: ObjectId | None, message_id: str) -> Doc | None:
        """The message ``message_id`` if it belongs to ``room`` (never raises for a malformed id)."""
        oid = _oid(message_id)
        if room is None or oid is None:
            return None
        return await self._messages.find_one({"_id": oid, "room": room})

    @guarded
    async def mark_read(self, room_id: str, user_id: str, message_id: str | None, read_at: int) -> ReadState | None:
        """Move the user's read pointer forward to ``message_id`` (or the latest), never back.

        Returns:
            The pointer after the call (unchanged, read time included, if the target
            was not newer), or ``None`` when ``message_id`` is not a message of this
            room or the user is not a member (non-members have no read pointer).
        """
        room, user = _oid(room_id), _oid(user_id)
        if room is None or user is None:
            return None
        if message_id is None:
            target = await self._latest_message(room)
        else:
            target = await self._message_in_room(room, message_id)
            if target is None:
                return None
        if target is not None:
            moved = await self._advance_read_pointer(room, user, target, read_at)
            if moved is not None:
                return _read_state(moved)
        membership = await self._memberships.find_one({"user": user, "room": room})
        return None if membership is None else _read_state(membership)
