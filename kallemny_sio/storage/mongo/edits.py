"""Changes to stored messages: edits, deletions and reactions, each one entry of the change log.

Every change starts from the message's latest state in the log, computes
the next state (:mod:`.revisions`) and appends it after that state's
position (:meth:`~.change_log.ChangeLogPart._append_change`). When another
writer (on this node or another) changed the message first, the append is
refused, and the change is computed again from the newer state: two
reactions racing on two nodes both count, an edit racing a reaction keeps
both, and a reaction racing a deletion finds the tombstone.
"""

from __future__ import annotations

from typing import Callable

from bson import ObjectId
from pymongo.errors import PyMongoError

from ...errors import Unavailable
from ..base import MessageChange
from .database import ROOM_LOCK_WAIT_SECONDS, PositionRace, tolerable
from .documents import message_record, oid
from .driver import Doc, guarded
from .messages import MessagesPart
from .revisions import Revision, deleted, edited, reacted, unreacted
from .room_slots import RoomSlot

Revise = Callable[[Doc], Revision]


class EditsPart(MessagesPart):
    """Edits, deletions and reactions."""

    @guarded
    async def edit_message(
        self, room_id: str, message_id: str, content: str | None, custom_data: str | None, set_custom_data: bool,
        at: int,
    ) -> MessageChange:
        """Replace the content (unless ``None``) and the custom data (when ``set_custom_data``); see :class:`Store`."""
        return await self._change(room_id, message_id, lambda s: edited(s, content, custom_data, set_custom_data, at))

    @guarded
    async def delete_message(self, room_id: str, message_id: str, at: int) -> MessageChange:
        """Make the message a tombstone; its unread mentions go with it. A tombstone is no change."""
        return await self._change(room_id, message_id, lambda state: deleted(state, at))

    @guarded
    async def add_reaction(
        self, room_id: str, message_id: str, user_id: str, emoji: str, at: int, max_emoji: int
    ) -> MessageChange:
        """Record ``user_id``'s reaction ``emoji`` (one per user and emoji); see :class:`Store`."""
        user = oid(user_id)
        if user is None:
            return MessageChange(None)
        return await self._change(room_id, message_id, lambda state: reacted(state, user, emoji, at, max_emoji))

    @guarded
    async def remove_reaction(self, room_id: str, message_id: str, user_id: str, emoji: str, at: int) -> MessageChange:
        """Withdraw ``user_id``'s reaction ``emoji``; removing what is not there is no change."""
        user = oid(user_id)
        if user is None:
            return MessageChange(None)
        return await self._change(room_id, message_id, lambda state: unreacted(state, user, emoji, at))

    async def _change(self, room_id: str, message_id: str, revise: Revise) -> MessageChange:
        """Apply ``revise`` to the message's latest state and log the result, then bring the copies forward."""
        room, message = oid(room_id), oid(message_id)
        if room is None or message is None:
            return MessageChange(None)
        async with self._room_slots.hold(room, ROOM_LOCK_WAIT_SECONDS) as slot:
            outcome = await self._append_revision(room, message, revise, slot)
        if isinstance(outcome, MessageChange):
            return outcome
        await self._settle(room, outcome)
        return MessageChange(message_record(outcome["state"]), changed=True)

    async def _append_revision(
        self, room: ObjectId, message: ObjectId, revise: Revise, slot: RoomSlot | None
    ) -> Doc | MessageChange:
        """The logged change, or the outcome when there is nothing to log (no message, no change, refused)."""
        race: PositionRace | None = None
        state = await self._current(room, message)
        while state is not None:
            revision = revise(state)
            if revision.state is None:
                return MessageChange(message_record(state), changed=False, refused=revision.refused)
            change = await self._append_change(room, revision.state, int(state["change_seq"]), slot)
            if change is not None:
                return change
            race = race or PositionRace()
            await race.lost()  # another writer changed the message first: start again from its state
            state = await self._current(room, message)
        return MessageChange(None)

    async def _settle(self, room: ObjectId, change: Doc) -> None:
        """Bring the copies forward after a logged change; an outage leaves that for later (see :func:`tolerable`)."""
        state = change["state"]
        try:
            await self._bring_forward(room, change)
            if state.get("deleted_at") is not None:  # only the deletion itself can change a tombstone
                await self._drop_mentions(room, int(state["seq"]))
        except (Unavailable, PyMongoError) as exc:
            if not tolerable(exc, f"change {change['seq']} of message {state['_id']}"):
                raise
