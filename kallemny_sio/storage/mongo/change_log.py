"""The change log: every change a member can see takes its room's next change position.

One ``changes`` document per change (creation, edit, deletion, reaction):
``room``, ``seq`` (the change position), ``message``, ``prev`` (the message's
previous change position, 0 for its creation) and ``state`` (the message's
whole document after the change). Two unique indexes carry the guarantees,
so that no transaction is needed (a standalone server works):

(room, seq): positions are dense and become visible in order.
    A change takes the position after the highest one stored in its room, and
    the index refuses a taken one (the writer then takes the next). So
    position N is only ever written by someone who saw N-1 stored: when a
    reader sees N, every lower position is already visible. A counter
    (``$inc``, then insert) would hand out N before N-1 is written, and a
    reader catching up from N at that moment would skip N-1 for good. This
    is ``messages.seq``'s rule (see :mod:`.messages`), applied to changes.
(message, prev): a message's changes form one chain.
    A writer reads the message's latest state S (position p), computes the
    new state from S and inserts it with ``prev=p``. Of two writers that
    started from the same S (two reactions on two nodes), the index lets one
    in; the other finds ``prev=p`` taken, reloads the latest state and
    recomputes, so no concurrent change is ever lost.

The change document is the commit. The ``messages`` document (what history
and :meth:`get_message` read), the room's last change position and its copy
of its last message are then brought forward with conditional updates
(``change_seq < N``), which any later reader or writer repeats if the
committer died in between (:meth:`ChangeLogPart._refreshed`,
:meth:`ChangeLogPart._current`). A superseded change keeps its place in the
chain but loses its ``state`` (a message reacted to a thousand times keeps
one full copy, not a thousand); that only happens once its successor is
stored, so a change without a state always has a visible later one.

The feed (:meth:`ChangeLogPart.list_changes`) reads the log up to the highest
position H it saw: every position up to H is visible, so nothing below H can
appear later. From each message it keeps only the change no later change
follows; a message whose later change commits after H appears again above
H, where the next call (from ``covered``) finds it.

A new message is inserted into ``messages`` first (with ``change_seq`` 0:
not in the log yet) and its creation appended to the log just after; a
resend or a later send in the room completes a creation that a crash or an
outage interrupted (:meth:`ChangeLogPart._complete_stale_creations`).
"""

from __future__ import annotations

import logging
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError, PyMongoError

from ...errors import Unavailable
from ..base import ChangePage
from .database import Database, PositionRace, tolerable
from .documents import message_record, oid, room_copy
from .driver import Doc, guarded
from .room_slots import RoomSlot

log = logging.getLogger(__name__)

#: A creation this much older than a new message in its room is taken as interrupted and completed.
STALE_CREATION_MS = 60_000
#: How many interrupted creations one send completes at most.
STALE_CREATIONS_PER_SEND = 10
#: The feed reads the log in batches of at most this many changes.
SCAN_BATCH_MAX = 500
#: How often to re-read a message's latest change whose state was pruned under the reader.
LATEST_ATTEMPTS = 20

#: The feed's projection: the state without who reacted.
FEED_PROJECTION: Doc = {"state.reactions.users": 0}


class ChangeLogPart(Database):
    """Appending changes, bringing copies forward, and reading the feed."""

    # -- appending -------------------------------------------------------------

    async def _append_change(self, room: ObjectId, state: Doc, prev: int, slot: RoomSlot | None) -> Doc | None:
        """Commit ``state`` as the change following position ``prev`` of its message, at the room's next position.

        Returns:
            The change document (its state carries the new ``change_seq``), or
            ``None`` when another change already follows ``prev``: the caller
            reloads the message and decides again.

        Raises:
            Unavailable: no free position could be taken in time.
        """
        change: Doc = {"_id": ObjectId(), "room": room, "message": state["_id"], "prev": prev}
        race = PositionRace()
        while True:
            change["seq"] = await self._next_change_position(room, slot)
            change["state"] = {**state, "change_seq": change["seq"]}
            try:
                await self._changes.insert_one(change)
            except DuplicateKeyError:
                follower = await self._changes.find_one({"message": state["_id"], "prev": prev}, {"_id": 1})
                if follower is not None and follower["_id"] != change["_id"]:
                    return None  # someone else changed the message first
                if follower is None:  # only the position was taken (by another node)
                    if slot is not None:
                        slot.last_change_seq = None
                    await race.lost()
                    continue
            if slot is not None:  # inserted (or our own retried write was)
                slot.last_change_seq = change["seq"]
            return change

    async def _next_change_position(self, room: ObjectId, slot: RoomSlot | None) -> int:
        """The position after the room's highest change: remembered by this node, or read."""
        if slot is not None and slot.last_change_seq is not None:
            return slot.last_change_seq + 1
        return await self._highest_change(room) + 1

    async def _highest_change(self, room: ObjectId) -> int:
        top = await self._changes.find_one({"room": room}, {"seq": 1}, sort=[("seq", -1)])
        return int(top["seq"]) if top else 0

    async def _create(self, room: ObjectId, doc: Doc, slot: RoomSlot | None) -> Doc:
        """Append a stored message's creation to the log (idempotent); the change that covers it."""
        change = await self._append_change(room, doc, 0, slot)
        if change is None:  # a resend on another node, a sweep or an early edit got there first
            change = await self._latest_change(doc["_id"])
        if change is None:  # a follower of position 0 exists, so this cannot happen
            raise Unavailable("database unavailable")
        return change

    # -- reading the latest state ----------------------------------------------

    async def _latest_change(self, message: ObjectId) -> Doc | None:
        """The message's latest change (with its state), or ``None`` before its creation is logged.

        Along the chain ``prev`` grows with ``seq``, so the (message, prev)
        index finds the latest change directly.
        """
        for _ in range(LATEST_ATTEMPTS):
            change = await self._changes.find_one({"message": message}, sort=[("prev", -1)])
            if change is None or "state" in change:
                return change
            # Pruned between the index and the fetch: a later change exists, read again.
        raise Unavailable("database unavailable")

    async def _current(self, room: ObjectId, message: ObjectId) -> Doc | None:
        """The message's latest state (``None``: no such message in ``room``), as a writer must start from it."""
        change = await self._latest_change(message)
        if change is None:
            return await self._messages.find_one({"_id": message, "room": room})
        return change["state"] if change["room"] == room else None

    async def _refreshed(self, room: ObjectId, docs: list[Doc]) -> list[Doc]:
        """``docs`` (message documents), each replaced by its latest state where the log is ahead of it.

        One query finds the documents some change follows; those (only when a
        committer died or is still writing) are read from the log and brought
        forward.
        """
        positions = [(doc["_id"], int(doc.get("change_seq", doc["seq"]))) for doc in docs]
        behind = {message for message, _ in await self._followed(positions)}
        if not behind:
            return docs
        return [await self._caught_up(room, doc) if doc["_id"] in behind else doc for doc in docs]

    async def _followed(self, positions: list[tuple[ObjectId, int]]) -> set[tuple[ObjectId, int]]:
        """Which of the (message, change position) pairs some change follows, in one query.

        One range per message on the (message, prev) index, from the lowest
        position asked. For the feed that reads little more than the pairs: a
        candidate is its message's latest state, so the message's other changes
        in the range lie in the batch just scanned. For a history page it reads
        the page's messages' changes since the oldest of their positions: few,
        unless one of them was changed very often since. (``$or`` of exact pairs
        would be as cheap on MongoDB, but the MongoDB-compatible test server
        answers it with a collection scan per clause.)
        """
        if not positions:
            return set()
        wanted = set(positions)
        messages = list({message for message, _ in positions})
        query = {"message": {"$in": messages}, "prev": {"$gte": min(position for _, position in positions)}}
        followed = set()
        async for change in self._changes.find(query, {"_id": 0, "message": 1, "prev": 1}):
            pair = (change["message"], int(change["prev"]))
            if pair in wanted:
                followed.add(pair)
        return followed

    async def _caught_up(self, room: ObjectId, doc: Doc) -> Doc:
        """The latest state of the message ``doc`` lags behind, brought forward where possible."""
        change = await self._latest_change(doc["_id"])
        if change is None:
            return doc
        try:
            await self._bring_forward(room, change)
        except (Unavailable, PyMongoError) as exc:
            if not tolerable(exc, f"change {change['seq']} of message {doc['_id']}"):
                raise
        return change["state"]

    # -- bringing copies forward -----------------------------------------------

    async def _bring_forward(self, room: ObjectId, change: Doc) -> None:
        """Make the message document and the room reflect ``change`` (each update only moves forward)."""
        state = change["state"]
        await self._messages.replace_one({"_id": state["_id"], "change_seq": {"$lt": state["change_seq"]}}, state)
        await self._note_in_room(room, state)
        if change["prev"]:
            await self._changes.update_one({"room": room, "seq": change["prev"]}, {"$unset": {"state": ""}})

    async def _note_in_room(self, room: ObjectId, state: Doc) -> None:
        """Move the room's last change position, and its last message if ``state`` is newer than its copy.

        The copy is replaced by a new message (a higher ``seq``) or by a later
        state of the same message; room lists then need no query per room.
        """
        seq, change_seq = int(state["seq"]), int(state["change_seq"])
        newer = {"$or": [{"last_seq": {"$lt": seq}}, {"last_seq": seq, "last_message.change_seq": {"$lt": change_seq}}]}
        result = await self._rooms.update_one(
            {"_id": room, **newer},
            {
                "$set": {"last_seq": seq, "last_message": room_copy(state)},
                "$max": {"last_activity_at": state["created_at"], "last_change_seq": change_seq},
            },
        )
        if result.matched_count == 0:
            await self._rooms.update_one({"_id": room}, {"$max": {"last_change_seq": change_seq}})

    async def _complete_stale_creations(self, room: ObjectId, now: int) -> None:
        """Log the creations that an outage or a crash left out of the log (without a resend to finish them).

        Racing the original sender is harmless: the (message, prev) index lets
        one creation in, and the other adopts it.
        """
        query = {"room": room, "change_seq": 0, "created_at": {"$lt": now - STALE_CREATION_MS}}
        async for doc in self._messages.find(query).limit(STALE_CREATIONS_PER_SEND):
            log.info("completing the interrupted creation of message %s", doc["_id"])
            await self._bring_forward(room, await self._create(room, doc, None))

    # -- the feed ----------------------------------------------------------------

    @guarded
    async def list_changes(self, room_id: str, after: int, limit: int) -> ChangePage:
        """The room's change feed after position ``after``: each message once, latest state, in position order.

        ``covered`` is the position of the last message returned when more
        follow, else the highest position this call saw (the room's
        ``last_change_seq``, or a newer one not yet noted in the room).
        """
        room = oid(room_id)
        highest = 0 if room is None else await self._highest_change(room)
        after = max(after, 0)
        if room is None or limit <= 0:
            return ChangePage([], after < highest, min(after, highest))
        found = await self._unfollowed_states(room, after, highest, limit + 1)
        page = found[:limit]
        has_more = len(found) > limit
        covered = int(page[-1]["change_seq"]) if has_more else highest
        return ChangePage([message_record(state) for state in page], has_more, covered)

    async def _unfollowed_states(self, room: ObjectId, after: int, highest: int, wanted: int) -> list[Doc]:
        """Up to ``wanted`` states of changes in (``after``, ``highest``] that no later change follows."""
        found: list[Doc] = []
        batch = min(wanted, SCAN_BATCH_MAX)
        while len(found) < wanted and after < highest:
            query = {"room": room, "seq": {"$gt": after, "$lte": highest}}
            changes = await self._changes.find(query, FEED_PROJECTION).sort("seq", 1).limit(batch).to_list()
            if not changes:  # cannot happen: every position up to `highest` is stored
                break
            found += await self._unfollowed(changes)
            after = int(changes[-1]["seq"])
            batch = min(batch * 2, SCAN_BATCH_MAX)
        return found[:wanted]

    async def _unfollowed(self, changes: list[Doc]) -> list[Any]:
        """The states of ``changes`` that are their message's latest, in order (one indexed query)."""
        live = [change for change in changes if "state" in change]  # a pruned one has a later change
        if not live:
            return []
        followed = await self._followed([(change["message"], int(change["seq"])) for change in live])
        return [change["state"] for change in live if (change["message"], int(change["seq"])) not in followed]
