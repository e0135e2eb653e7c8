"""Messages: sending, history, read pointers, and every change after the send.

Each change a member can see (creation, edit, deletion, reaction) takes the
room's next change position in the store, in the same write; the members
then hear of it live (``ReceiveMessage``, ``MessageUpdated``,
``MessageDeleted``), and a client that missed events catches up from the
change feed (:meth:`MessageService.changes`). A call that changes nothing
(a repeated reaction, a second deletion) is answered ``ok`` and announced to
nobody. Who may change what is decided in :mod:`.permissions`.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ..errors import Forbidden, Invalid, NotFound
from ..schemas import (
    MAX_DISTINCT_EMOJI,
    ChangesQuery,
    EditMessageRequest,
    HistoryQuery,
    MarkReadPayload,
    SendMessagePayload,
    custom_data_text,
)
from ..storage.base import MessageChange, MessageRecord, NewMessage, RoomMembers, Store
from .accounts import Caller
from .clock import iso, now_ms
from .delivery import Delivery
from .limits import Guard
from .membership import Membership
from .permissions import is_muted, may_delete, may_edit
from .views import message_view, read_view

_REFUSALS = {
    "deleted": "messageId: the message was deleted",
    "too_many_emoji": f"emoji: a message holds at most {MAX_DISTINCT_EMOJI} distinct emoji",
}


class MessageService:
    """The message rules of one node, over the store, the room members and delivery."""

    def __init__(self, store: Store, members: Membership, delivery: Delivery, guard: Guard,
                 roster_of: Callable[[str, str], Awaitable[RoomMembers]],
                 typing_stopped: Callable[[Caller, str, tuple[str, ...]], Awaitable[None]]) -> None:
        """
        Args:
            roster_of: ``(room_id, user_id)`` → the room and its members, if the
                user is one (raises ``NotFound``/``Forbidden``): the one membership rule.
            typing_stopped: called after a send, to end the sender's typing state.
        """
        self._store = store
        self._members = members
        self._delivery = delivery
        self._guard = guard
        self._roster_of = roster_of
        self._typing_stopped = typing_stopped

    # -- sending -------------------------------------------------------------

    async def send(self, caller: Caller, req: SendMessagePayload) -> dict[str, Any]:
        """Store a message, then deliver it to every member's connections.

        The store commits before this returns and before anyone receives the
        message. A resend with the same ``clientMessageId`` returns the stored
        message and is not delivered again. Sending ends the sender's typing.

        Raises:
            RateLimited: over ``MESSAGES_PER_USER`` (checked first: nothing is read or stored).
            Invalid: ``replyToId`` is not a message of this room, or a mentioned user is not a member.
            Forbidden: the sender is muted, or a block stands between the two users of a private room.
        """
        await self._guard.before_send(caller.user_id)
        # The common case (a cached roster, the sender a member and not muted) waits for nothing.
        roster = self._members.cached(req.room_id)
        if roster is None or (member := roster.members.get(caller.user_id)) is None or member.muted_until is not None:
            roster = await self._may_speak(req.room_id, caller.user_id)
        if roster.blocked:
            raise Forbidden("roomId: a block between the two users stops messages in this private room")
        mentions: tuple[str, ...] = ()
        if req.mentioned_user_ids:
            members = roster.members
            mentions = tuple(dict.fromkeys(req.mentioned_user_ids))
            outsiders = [m for m in mentions if m not in members]
            if outsiders:
                raise Invalid(f"mentionedUserIds: {outsiders[0]!r} is not a member of this room",
                              details={"notMembers": outsiders})
        if req.reply_to_id is not None and await self._store.get_message(req.room_id, req.reply_to_id) is None:
            raise Invalid("replyToId: no such message in this room")
        stored = await self._store.add_message(NewMessage(
            req.room_id, caller.user_id, caller.username, req.content, now_ms(), req.client_message_id,
            reply_to_id=req.reply_to_id, mentioned_user_ids=mentions, custom_data=custom_data_text(req.custom_data),
        ))
        view = message_view(stored.message)
        # Recipients are read after the commit: whoever left while it was being
        # stored must not receive it, whoever joined meanwhile must.
        after = self._members.cached(req.room_id)
        recipients = after.ids if after is not None else await self._members.members(req.room_id)
        if stored.created:
            await self._delivery.emit("ReceiveMessage", view, recipients)
        await self._typing_stopped(caller, req.room_id, recipients)
        return view

    async def post(self, room_id: str, sender: Caller | None, content: str, custom_data: dict[str, Any] | None,
                   client_message_id: str | None) -> dict[str, Any]:
        """The server API's message: from a member (``sender``), or a system message (``sender`` None, ``type`` "system").

        Raises:
            NotFound: no such room.
            Forbidden: the sender is not a member.
        """
        roster = await self._members.roster(room_id)
        if roster is None:
            raise NotFound("roomId: no such room")
        if sender is not None and sender.user_id not in roster.members:
            raise Forbidden("senderExternalId: not a member of this room")
        stored = await self._store.add_message(NewMessage(
            room_id, sender.user_id if sender else None, sender.username if sender else "", content, now_ms(),
            client_message_id, type="user" if sender else "system", custom_data=custom_data_text(custom_data),
        ))
        view = message_view(stored.message)
        if stored.created:
            await self._delivery.emit("ReceiveMessage", view, await self._members.members(room_id))
        return view

    # -- reading ---------------------------------------------------------------

    async def history(self, user_id: str, room_id: str, query: HistoryQuery) -> dict[str, Any]:
        """A page of a room's history, oldest first, each message in its latest state.

        Raises:
            NotFound: no such room.
            Forbidden: not a member.
            Invalid: the cursor is not a message of this room.
        """
        await self._roster_of(room_id, user_id)
        page = await self._store.list_messages(room_id, query.limit, before=query.before, after=query.after)
        if page is None:
            field = "before" if query.before is not None else "after"
            raise Invalid(f"{field}: no such message in this room")
        return {"messages": [message_view(m) for m in page.messages], "hasMore": page.has_more}

    async def get(self, user_id: str, room_id: str, message_id: str) -> dict[str, Any]:
        """One message of a room the caller belongs to."""
        await self._roster_of(room_id, user_id)
        return message_view(await self._existing(room_id, message_id))

    async def changes(self, user_id: str, room_id: str, query: ChangesQuery) -> dict[str, Any]:
        """The room's change feed after position ``query.after`` (contract section 6)."""
        await self._roster_of(room_id, user_id)
        page = await self._store.list_changes(room_id, query.after, query.limit)
        return {"messages": [message_view(m) for m in page.messages], "hasMore": page.has_more,
                "lastChangeSeq": max(page.covered, query.after) if page.has_more else page.covered}

    async def mark_read(self, caller: Caller, req: MarkReadPayload) -> dict[str, Any]:
        """Move the caller's read pointer (and with it their unread mentions) forward; members get ``MessagesRead``.

        Raises:
            NotFound: ``messageId`` is not a message of this room.
        """
        members = (await self._roster_of(req.room_id, caller.user_id)).members
        state = await self._store.mark_read(req.room_id, caller.user_id, req.message_id, now_ms())
        if state is None:
            raise NotFound("messageId: no such message in this room")
        payload = read_view(state)
        await self._delivery.emit("MessagesRead", payload, members)
        return payload

    # -- changes after the send -----------------------------------------------

    async def edit(self, user_id: str, room_id: str, message_id: str, req: EditMessageRequest) -> dict[str, Any]:
        """Edit one's own message; members get ``MessageUpdated``.

        Raises:
            Forbidden: not the sender, or muted.
            Invalid: the message was deleted.
        """
        await self._may_speak(room_id, user_id)
        message = await self._existing(room_id, message_id)
        if not may_edit(message, user_id):
            raise Forbidden("messageId: only the sender may edit a message")
        change = await self._store.edit_message(
            room_id, message_id, req.content, custom_data_text(req.custom_data), req.sets_custom_data, now_ms())
        return await self._announce("MessageUpdated", room_id, change)

    async def delete(self, user_id: str, room_id: str, message_id: str) -> dict[str, Any]:
        """Delete a message, leaving a tombstone in place; members get ``MessageDeleted``.

        Raises:
            Forbidden: neither the sender nor an owner or admin of the group.
        """
        roster = await self._roster_of(room_id, user_id)
        message = await self._existing(room_id, message_id)
        role = roster.members[user_id].role if roster.room.type == "group" else None
        if not may_delete(message, user_id, role):
            raise Forbidden("messageId: only the sender or an owner or admin of the group may delete a message")
        change = await self._store.delete_message(room_id, message_id, now_ms())
        return await self._announce("MessageDeleted", room_id, change)

    async def react(self, user_id: str, room_id: str, message_id: str, emoji: str, adding: bool) -> dict[str, Any]:
        """Add or withdraw the caller's reaction; members get ``MessageUpdated`` when the counts changed.

        Raises:
            Invalid: the message was deleted, or it already holds the most distinct emoji.
            Forbidden: muted.
        """
        await self._may_speak(room_id, user_id)
        if adding:
            change = await self._store.add_reaction(room_id, message_id, user_id, emoji, now_ms(), MAX_DISTINCT_EMOJI)
        else:
            change = await self._store.remove_reaction(room_id, message_id, user_id, emoji, now_ms())
        return await self._announce("MessageUpdated", room_id, change)

    # -- helpers ----------------------------------------------------------------

    async def _existing(self, room_id: str, message_id: str) -> MessageRecord:
        message = await self._store.get_message(room_id, message_id)
        if message is None:
            raise NotFound("messageId: no such message in this room")
        return message

    async def _may_speak(self, room_id: str, user_id: str) -> RoomMembers:
        """The room's roster, provided the user is a member who is not muted.

        Raises:
            Forbidden: muted (the message names until when).
        """
        roster = await self._roster_of(room_id, user_id)
        member = roster.members[user_id]
        if is_muted(member, now_ms()):
            raise Forbidden(f"roomId: you are muted in this room until {iso(member.muted_until)}")
        return roster

    async def _announce(self, event: str, room_id: str, change: MessageChange) -> dict[str, Any]:
        """Turn a store outcome into the answer, and tell the members when something changed."""
        if change.message is None:
            raise NotFound("messageId: no such message in this room")
        if change.refused is not None:
            raise Invalid(_REFUSALS.get(change.refused, "messageId: the change was refused"))
        view = message_view(change.message)
        if change.changed:
            await self._delivery.emit(event, view, await self._members.members(room_id))
        return view
