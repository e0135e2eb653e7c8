"""Rooms and memberships, and the room list (summaries) built from them.

Joining and leaving follow the protocols of :mod:`.lifecycle` (owner
hand-over, deletion of an emptied group, no join into a deleted room).
"""

from __future__ import annotations

from typing import Sequence

from bson import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ...errors import Unavailable
from ..base import RoomRecord, RoomSummary
from .documents import (
    group_room_doc,
    joining_order,
    member_record,
    membership_doc,
    message_record,
    oid,
    pair_key,
    private_room_doc,
    require_oid,
    room_record,
    str_or_none,
    unread_mentions,
)
from .driver import Doc, guarded
from .lifecycle import LifecyclePart

DUPLICATE_KEY = 11000


class RoomsPart(LifecyclePart):
    """Rooms, who is in them, and how each member sees them listed."""

    @guarded
    async def create_group_room(
        self, created_by: str, name: str, is_public: bool, member_ids: Sequence[str], created_at: int
    ) -> RoomRecord:
        """Create a group room and its memberships (duplicates in ``member_ids`` count once).

        The creator's membership (when ``member_ids`` has it, as the caller
        ensures) is the owner's, the others are members.

        Raises:
            NotFound: an id is not one this store could have made.
        """
        creator = require_oid(created_by, "user")
        members = list(dict.fromkeys(require_oid(uid, "user") for uid in member_ids))
        doc = group_room_doc(creator, name, is_public, created_at)
        await self._rooms.insert_one(doc)
        if members:
            await self._memberships.insert_many(
                [membership_doc(doc["_id"], uid, created_at, role="owner" if uid == creator else "member")
                 for uid in members]
            )
        return room_record(doc)

    @guarded
    async def get_or_create_private_room(self, user_a: str, user_b: str, created_at: int) -> tuple[RoomRecord, bool]:
        """The one private room of the pair, created if missing; ``True`` when created now.

        The unique partial index on ``pair_key`` decides the race: of concurrent
        creators exactly one insert succeeds, the others read the winner's room.

        Raises:
            NotFound: an id is not one this store could have made.
        """
        a, b = require_oid(user_a, "user"), require_oid(user_b, "user")
        key = pair_key(a, b)
        room, created = await self._rooms.find_one({"pair_key": key}), False
        if room is None:
            candidate = private_room_doc(a, b, created_at)
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
            await self._insert_membership(membership_doc(room["_id"], user, int(room["created_at"])))
        return room_record(room), created

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
        room = oid(room_id)
        doc = None if room is None else await self._rooms.find_one({"_id": room})
        return None if doc is None else room_record(doc)

    @guarded
    async def member_ids(self, room_id: str) -> list[str]:
        """The room's members' ids, in the order they joined (empty for an unknown room)."""
        room = oid(room_id)
        if room is None:
            return []
        docs = await self._memberships.find({"room": room}, {"user": 1, "joined_at": 1}).to_list()
        return [str(doc["user"]) for doc in sorted(docs, key=joining_order)]

    @guarded
    async def is_member(self, room_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is a member of ``room_id``."""
        room, user = oid(room_id), oid(user_id)
        if room is None or user is None:
            return False
        return await self._memberships.find_one({"user": user, "room": room}, {"_id": 1}) is not None

    @guarded
    async def add_member(self, room_id: str, user_id: str, joined_at: int) -> bool:
        """Add a member (role ``"member"``) whose read pointer starts at the room's latest message.

        A user banned from the room is not added; a ban racing the insert is
        checked again after it (see :meth:`_add_members`).

        Returns:
            ``False`` if they already were a member, are banned, or the room does
            not exist (or is deleted while they join).
        """
        room, user = oid(room_id), oid(user_id)
        if room is None or user is None:
            return False
        return bool(await self._add_members(room, [user], joined_at))

    async def _add_members(self, room: ObjectId, users: list[ObjectId], joined_at: int) -> list[ObjectId]:
        """Add ``users`` (distinct) who are neither members nor banned; those added, in the order given.

        A ban that lands while they are inserted is checked again afterwards
        (the ban inserts first and then removes the member, so one of the two
        sees the other; whichever ends the membership reports it), and so is
        the room's deletion (:meth:`_confirm_join`).
        """
        if not users or await self._rooms.find_one({"_id": room}, {"_id": 1}) is None:
            return []
        banned = await self._banned_among(room, users)
        present = set(await self._memberships.distinct("user", {"room": room, "user": {"$in": users}}))
        wanted = [user for user in users if user not in banned and user not in present]
        if not wanted:
            return []
        latest = await self._latest_message(room)
        inserted = await self._insert_memberships([membership_doc(room, user, joined_at, latest) for user in wanted])
        if not inserted or not await self._confirm_join(room, inserted):
            return []
        added = [doc["user"] for doc in inserted]
        backed_out = set()
        for user in await self._banned_among(room, added):
            if await self._depart(room, user):
                backed_out.add(user)
            # else the ban ended the membership, and reports it: it counts as added
            # here, so that the departure it announces follows an announced join.
        return [user for user in added if user not in backed_out]

    async def _insert_memberships(self, docs: list[Doc]) -> list[Doc]:
        """Insert memberships in one write; those that went in (a concurrent join may have made the others)."""
        try:
            await self._memberships.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if exc.details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            failed = {int(e["index"]) for e in errors}
            return [doc for i, doc in enumerate(docs) if i not in failed]
        return docs

    @guarded
    async def remove_member(self, room_id: str, user_id: str) -> bool:
        """End a membership (its read pointer and unread mentions with it); ``False`` if there was none.

        In a group, an owner who leaves hands over and the last member's
        departure deletes the group, as :mod:`.lifecycle` describes.
        """
        room, user = oid(room_id), oid(user_id)
        if room is None or user is None:
            return False
        return await self._depart(room, user)

    @guarded
    async def room_ids_for_user(self, user_id: str) -> list[str]:
        """Ids of every room the user belongs to."""
        user = oid(user_id)
        if user is None:
            return []
        return [str(doc["room"]) async for doc in self._memberships.find({"user": user}, {"room": 1})]

    @guarded
    async def contact_ids(self, user_id: str) -> list[str]:
        """Ids of the other users who share at least one room with ``user_id``."""
        user = oid(user_id)
        if user is None:
            return []
        rooms = await self._memberships.distinct("room", {"user": user})
        if not rooms:
            return []
        others = await self._memberships.distinct("user", {"room": {"$in": rooms}, "user": {"$ne": user}})
        return [str(other) for other in others]

    # -- the room list ---------------------------------------------------------------

    @guarded
    async def list_room_summaries(
        self, user_id: str, limit: int | None = None, after: tuple[int, str] | None = None
    ) -> list[RoomSummary]:
        """The user's rooms, most recent activity (last message, else creation) first, ties by room id descending.

        ``limit``/``after`` page through them (``after`` is the last shown room's
        ``(last_activity_at, id)``). The page is chosen from the rooms' activity
        times alone, then only its rooms are read in full: four queries
        whatever the number of rooms.
        """
        user = oid(user_id)
        if user is None:
            return []
        memberships = {m["room"]: m for m in await self._memberships.find({"user": user}).to_list()}
        if not memberships:
            return []
        times = await self._rooms.find({"_id": {"$in": list(memberships)}}, {"last_activity_at": 1}).to_list()
        order = sorted(((int(doc["last_activity_at"]), doc["_id"]) for doc in times), reverse=True)
        if after is not None:
            at, last = after[0], oid(after[1])
            order = [(t, r) for t, r in order if t < at or (t == at and last is not None and r < last)]
        if limit is not None:
            order = order[:max(limit, 0)]
        page = [room for _, room in order]
        if not page:
            return []
        rooms = {doc["_id"]: doc async for doc in self._rooms.find({"_id": {"$in": page}})}
        members = await self._members_by_room(page)
        return [_summary(rooms[room], memberships[room], members.get(room, [])) for room in page if room in rooms]

    @guarded
    async def get_room_summary(self, room_id: str, user_id: str) -> RoomSummary | None:
        """One room as :meth:`list_room_summaries` would show it to ``user_id``.

        ``None`` when the room does not exist or ``user_id`` is not a member: the
        list would not show it to them either (the core relies on this to refuse
        non-members).
        """
        room_oid, user = oid(room_id), oid(user_id)
        if room_oid is None or user is None:
            return None
        membership = await self._memberships.find_one({"user": user, "room": room_oid})
        room = None if membership is None else await self._rooms.find_one({"_id": room_oid})
        if room is None or membership is None:
            return None
        members = await self._members_by_room([room_oid])
        return _summary(room, membership, members.get(room_oid, []))

    async def _members_by_room(self, room_oids: list[ObjectId]) -> dict[ObjectId, list[Doc]]:
        """The memberships of each room (user, role, mute), in joining order, in one query."""
        members: dict[ObjectId, list[Doc]] = {}
        projection = {"room": 1, "user": 1, "role": 1, "muted_until": 1, "joined_at": 1}
        async for doc in self._memberships.find({"room": {"$in": room_oids}}, projection):
            members.setdefault(doc["room"], []).append(doc)
        for docs in members.values():
            docs.sort(key=joining_order)
        return members


def _summary(room: Doc, membership: Doc, roster: list[Doc]) -> RoomSummary:
    """One summary, from the room document (which carries its last message) and the membership."""
    latest = room.get("last_message")
    # Positions are dense (see MessagesPart._insert_in_order), so the unread messages
    # are exactly the positions after the read pointer: no count query per room.
    unread = max(0, int(room.get("last_seq") or 0) - int(membership["read_seq"]))
    return RoomSummary(
        room=room_record(room),
        member_ids=tuple(str(doc["user"]) for doc in roster),
        last_message=None if latest is None else message_record(latest),
        unread_count=unread,
        last_read_message_id=str_or_none(membership.get("read_message_id")),
        unread_mention_count=unread_mentions(membership),
        members=tuple(member_record(doc) for doc in roster),
    )
