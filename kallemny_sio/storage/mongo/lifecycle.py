"""Joining, leaving and deleting a group without transactions (contract section 7).

A standalone server has no multi-document transactions, so each rule that
spans documents is a short protocol whose every step is a single-document
write, safe when the steps of concurrent calls (on any nodes) interleave:

One owner per group.
    A unique partial index on ``memberships`` (room, where ``role`` is
    ``"owner"``) lets at most one membership of a room be its owner. An heir
    is promoted with a plain update that the index refuses when the room has
    an owner again (another hand-over won): "promote only if the room still
    has no owner" is decided by the database, not by a read before the write.

An owner who leaves hands over (:meth:`LifecyclePart._settle_group`).
    The leaver's membership is taken away first (``find_one_and_delete``: of
    concurrent removals exactly one sees the owner role). Then the heir (the
    admin with the oldest membership, else the oldest member) is promoted;
    if the heir left meanwhile the update matches nothing and the next heir
    is chosen from a fresh read.

A group whose last member leaves is deleted (:meth:`LifecyclePart._close_if_empty`).
    Deleting on "no membership left" would race a join: a joiner that read
    the room before the deletion inserts its membership after it, and is a
    member of a room that no longer exists. So both sides write first, then
    read what the other wrote:

    - the closer marks the room (``closing``: a token of its own, set only if
      no mark is there), then looks for a membership; if one appeared it
      lifts its mark and the group lives on (and gets an owner if it lacks
      one); else it deletes the room document *on condition that its mark is
      still there*, then everything in the room;
    - a joiner inserts its membership, then reads the room
      (:meth:`LifecyclePart._confirm_join`): gone means it takes its
      membership back; a mark means a closer may not have seen it, so it
      lifts that mark (on condition it is still that token) and reads again.

    Whichever order the steps take, either the closer sees the member or the
    joiner sees the mark or the missing room, and the conditional delete
    decides between a lifted mark and a deleted room. A joiner never waits
    on a closer, so a closer that dies after marking holds nobody up (its
    mark is lifted by the next join, or stays on a room without members).

Deleting a room (:meth:`LifecyclePart._purge`).
    The room document goes first, so the room is gone for every reader at
    once and a concurrent joiner backs out; then its memberships, messages,
    change log, and bans. Reports stay for the operator. If the process dies
    in between, what is left belongs to no room: no reader reaches it (every
    path starts from the room or a membership of an existing room). The same
    holds for a message whose send checked the room just before it went.
    Room ids are ObjectIds, never given again, so a deleted room's id cannot
    name a new room (SQLite keeps a marked row for that).
"""

from __future__ import annotations

from typing import Iterable

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from .database import Database, PositionRace
from .driver import Doc

#: An heir is the admin with the oldest membership, else the oldest member.
HEIR_RANK = {"owner": 0, "admin": 1}

ROSTER_PROJECTION: Doc = {"user": 1, "role": 1, "joined_at": 1}


def heir_key(doc: Doc) -> tuple[int, int, str]:
    return HEIR_RANK.get(doc.get("role") or "member", 2), int(doc["joined_at"]), str(doc["user"])


class LifecyclePart(Database):
    """The protocols that keep a group owned, delete it when empty, and keep joins out of deleted rooms."""

    async def _depart(self, room: ObjectId, user: ObjectId) -> bool:
        """End a membership, then settle the group (hand-over, deletion when empty); ``False`` if there was none.

        The membership (with its read pointer and unread mentions) goes in one
        write; what follows only applies to groups.
        """
        gone = await self._memberships.find_one_and_delete({"user": user, "room": room}, {"role": 1})
        if gone is None:
            return False
        doc = await self._rooms.find_one({"_id": room}, {"type": 1})
        if doc is not None and doc.get("type") == "group":
            await self._settle_group(room, owner_left=gone.get("role") == "owner")
        return True

    async def _settle_group(self, room: ObjectId, owner_left: bool) -> None:
        """After a departure: give an ownerless group an heir, or delete the group if nobody is left.

        Each round reads the roster afresh; a round is repeated only when a
        concurrent departure or join changed it under us.
        """
        race: PositionRace | None = None
        needs_owner = owner_left
        while True:
            roster = await self._memberships.find({"room": room}, ROSTER_PROJECTION).to_list()
            if not roster:
                if await self._close_if_empty(room):
                    return
                needs_owner = True  # a join stopped the deletion: the newcomer's group needs an owner
            elif not needs_owner or any(doc.get("role") == "owner" for doc in roster):
                return
            elif await self._promote(min(roster, key=heir_key)):
                return
            race = race or PositionRace()
            await race.lost()

    async def _promote(self, heir: Doc) -> bool:
        """Make ``heir`` the owner; ``True`` when the group has an owner afterwards (theirs or another's).

        ``False``: the heir left meanwhile (choose again).
        """
        try:
            result = await self._memberships.update_one({"_id": heir["_id"]}, {"$set": {"role": "owner"}})
        except DuplicateKeyError:
            return True  # the index: the room has an owner again
        return result.matched_count == 1

    async def _close_if_empty(self, room: ObjectId) -> bool:
        """Delete an emptied group unless a join gets in first; ``True`` unless a member turned up.

        ``True`` also when the room is gone already, or another closer holds
        the mark (that closer then does the rest, a joiner included).
        """
        token = ObjectId()
        marked = await self._rooms.update_one({"_id": room, "closing": None}, {"$set": {"closing": token}})
        if marked.matched_count == 0:
            return True
        if await self._memberships.find_one({"room": room}, {"_id": 1}) is None:
            deleted = await self._rooms.delete_one({"_id": room, "closing": token})
            if deleted.deleted_count == 1:
                await self._purge(room)
                return True
            # A joiner lifted the mark: it is a member now.
        else:
            await self._rooms.update_one({"_id": room, "closing": token}, {"$set": {"closing": None}})
        return False

    async def _confirm_join(self, room: ObjectId, memberships: list[Doc]) -> bool:
        """After inserting ``memberships``: ``True`` if the room still exists; else they are taken back.

        A ``closing`` mark means a closer may have looked for members before
        these were inserted: lift it (only that mark), so that its conditional
        delete fails, then look again.
        """
        doc = await self._rooms.find_one({"_id": room}, {"closing": 1})
        if doc is not None and doc.get("closing") is not None:
            await self._rooms.update_one({"_id": room, "closing": doc["closing"]}, {"$set": {"closing": None}})
            doc = await self._rooms.find_one({"_id": room}, {"_id": 1})
        if doc is None:
            await self._memberships.delete_many({"_id": {"$in": [m["_id"] for m in memberships]}})
            return False
        return True

    async def _banned_among(self, room: ObjectId, users: Iterable[ObjectId]) -> set[ObjectId]:
        return set(await self._bans.distinct("user", {"room": room, "user": {"$in": list(users)}}))

    async def _purge(self, room: ObjectId) -> None:
        """Everything in a room whose document is already deleted (reports stay)."""
        for collection in (self._memberships, self._messages, self._changes, self._bans):
            await collection.delete_many({"room": room})
