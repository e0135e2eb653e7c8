"""Rooms and members after they are created (contract section 7): settings, roles, mutes, bans, deletion.

Every rule that spans documents is one of the transaction-free protocols of
:mod:`.lifecycle`; this module states which it uses where.
"""

from __future__ import annotations

from typing import Any, Sequence

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ..base import MemberRecord, RoomMembers, RoomRecord
from .database import PositionRace
from .documents import joining_order, member_record, oid, room_record
from .driver import Doc, guarded
from .rooms import RoomsPart
from .safety import blocked_either_way

ROOM_FIELDS = frozenset({"name", "topic", "is_public", "custom_data"})


class RoomAdminPart(RoomsPart):
    """Room settings, members' roles and mutes, bans, and deleting a room."""

    @guarded
    async def room_members(self, room_id: str) -> RoomMembers | None:
        """The room and its members in joining order; a private room says whether its pair has a block."""
        room = oid(room_id)
        doc = None if room is None else await self._rooms.find_one({"_id": room}, {"last_message": 0})
        if doc is None:
            return None
        roster = sorted(await self._memberships.find({"room": room}, {"read_seq": 0, "read_message_id": 0,
                                                                        "unread_mentions": 0}).to_list(),
                        key=joining_order)
        blocked = False
        if doc["type"] == "private" and len(roster) == 2:
            blocked = await blocked_either_way(self._blocks, roster[0]["user"], roster[1]["user"])
        return RoomMembers(room_record(doc), {str(m["user"]): member_record(m) for m in roster}, blocked)

    @guarded
    async def update_room(self, room_id: str, fields: dict[str, Any]) -> RoomRecord | None:
        """Set some of ``name``, ``topic``, ``is_public``, ``custom_data`` in one write; ``None``: no such room.

        Raises:
            ValueError: a field that is not one of those.
        """
        unknown = set(fields) - ROOM_FIELDS
        if unknown:
            raise ValueError(f"not room fields: {sorted(unknown)}")
        room = oid(room_id)
        if room is None:
            return None
        if not fields:
            doc = await self._rooms.find_one({"_id": room})
        else:
            values = {k: bool(v) if k == "is_public" else v for k, v in fields.items()}
            doc = await self._rooms.find_one_and_update(
                {"_id": room}, {"$set": values}, return_document=ReturnDocument.AFTER
            )
        return None if doc is None else room_record(doc)

    @guarded
    async def add_members(self, room_id: str, user_ids: Sequence[str], joined_at: int) -> list[str]:
        """Add members (role ``"member"``) in one insert; those added, in the order given.

        Existing members and banned users are skipped; a ban or a deletion of
        the room racing the insert is handled as :meth:`RoomsPart._add_members` says.
        """
        room = oid(room_id)
        users = [u for u in dict.fromkeys(map(oid, user_ids)) if u is not None]
        if room is None or not users:
            return []
        return [str(user) for user in await self._add_members(room, users, joined_at)]

    @guarded
    async def set_member(
        self, room_id: str, user_id: str, role: str | None = None, muted_until: int | None = None,
        set_muted_until: bool = False,
    ) -> MemberRecord | None:
        """Change a member's role and/or mute; ``None``: not a member.

        A role or a mute alone is one write. ``role="owner"`` hands the group
        over: the current owner is made an admin, then the target the owner
        (the one-owner index allows no other order). If another hand-over (an
        owner leaving) promoted someone in between, the index refuses the
        promotion and both steps are repeated; if the target left in between,
        the group gets an heir as when an owner leaves. A crash between the
        two writes leaves the group with no owner until its next departure.
        """
        room, user = oid(room_id), oid(user_id)
        if room is None or user is None:
            return None
        changes: Doc = {}
        if role is not None:
            changes["role"] = role
        if set_muted_until:
            changes["muted_until"] = muted_until
        where = {"room": room, "user": user}
        if not changes:
            doc = await self._memberships.find_one(where)
        elif role == "owner":
            doc = await self._hand_over(room, user, changes)
        else:
            doc = await self._memberships.find_one_and_update(
                where, {"$set": changes}, return_document=ReturnDocument.AFTER
            )
        return None if doc is None else member_record(doc)

    async def _hand_over(self, room: ObjectId, user: ObjectId, changes: Doc) -> Doc | None:
        """Make ``user`` the owner (the previous owner an admin); their membership after, or ``None``."""
        where = {"room": room, "user": user}
        if await self._memberships.find_one(where, {"_id": 1}) is None:
            return None
        race: PositionRace | None = None
        while True:
            await self._memberships.update_many(
                {"room": room, "role": "owner", "user": {"$ne": user}}, {"$set": {"role": "admin"}}
            )
            try:
                doc = await self._memberships.find_one_and_update(
                    where, {"$set": changes}, return_document=ReturnDocument.AFTER
                )
            except DuplicateKeyError:  # an owner's departure promoted an heir meanwhile: again
                race = race or PositionRace()
                await race.lost()
                continue
            if doc is None:  # the target left meanwhile, and we may have demoted the owner
                kind = await self._rooms.find_one({"_id": room}, {"type": 1})
                if kind is not None and kind.get("type") == "group":
                    await self._settle_group(room, owner_left=True)
            return doc

    @guarded
    async def ban(self, room_id: str, user_id: str, banned_by: str, at: int) -> bool:
        """Ban a user, then end their membership as :meth:`remove_member` does; whether a membership ended.

        The ban is written before the membership is ended: a join racing it
        either is ended here or sees the ban after its insert and backs out
        (see :meth:`RoomsPart._add_members`), so what this returns is what
        happened, not what an earlier read saw. Banning again is harmless
        (the unique (room, user) index keeps one ban). An unknown room bans
        nobody.
        """
        room, user = oid(room_id), oid(user_id)
        if room is None or user is None or await self._rooms.find_one({"_id": room}, {"_id": 1}) is None:
            return False
        try:
            await self._bans.insert_one(
                {"_id": ObjectId(), "room": room, "user": user, "banned_by": oid(banned_by), "banned_at": at}
            )
        except DuplicateKeyError:
            pass  # banned already
        return await self._depart(room, user)

    @guarded
    async def unban(self, room_id: str, user_id: str) -> bool:
        """Lift a ban; ``False`` if there was none."""
        room, user = oid(room_id), oid(user_id)
        if room is None or user is None:
            return False
        return (await self._bans.delete_one({"room": room, "user": user})).deleted_count == 1

    @guarded
    async def is_banned(self, room_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is banned from ``room_id``."""
        room, user = oid(room_id), oid(user_id)
        if room is None or user is None:
            return False
        return await self._bans.find_one({"room": room, "user": user}, {"_id": 1}) is not None

    @guarded
    async def delete_room(self, room_id: str) -> bool:
        """Delete a room: its document first (gone for every reader at once), then everything in it.

        Memberships, messages (reactions and unread mentions live in them and
        in the memberships), the change log and bans go; reports stay. A join
        racing the deletion backs out (see :mod:`.lifecycle`). ``False``: no
        such room.
        """
        room = oid(room_id)
        if room is None or (await self._rooms.delete_one({"_id": room})).deleted_count == 0:
            return False
        await self._purge(room)
        return True
