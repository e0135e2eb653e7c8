"""Messages: sending in history order, history pages, read pointers and unread mentions.

History positions (``messages.seq``): every message takes the position after
the highest one stored in its room, and the unique (room, seq) index refuses
a position already taken (see :meth:`MessagesPart._insert_in_order` for why
not a counter). Positions are dense and become visible in order, so a client
catching up with ``after=<last id>`` never skips a message, and a member's
unread count is the distance from their read pointer to the room's last
position. Its creation then goes into the change log (:mod:`.change_log`).

Unread mentions: each membership lists the positions of the unread messages
that mention the member (``$addToSet`` on send, ``$pull`` up to the pointer
when it moves, ``$pull`` of one position when the message is deleted), so a
room list reads them with the membership, at no extra query.
"""

from __future__ import annotations

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from ...errors import NotFound, Unavailable
from ..base import MessagePage, MessageRecord, NewMessage, ReadState, StoredMessage
from .change_log import ChangeLogPart
from .database import ROOM_LOCK_WAIT_SECONDS, PositionRace, tolerable
from .documents import HIDE_REACTORS, SYSTEM_SENDER, message_doc, message_record, oid, read_state, require_oid
from .driver import Doc, guarded
from .room_slots import RoomSlot


class MessagesPart(ChangeLogPart):
    """Sending, history, read pointers and mentions."""

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
        room = require_oid(message.room_id, "room")
        sender = SYSTEM_SENDER if message.sender_id is None else require_oid(message.sender_id, "user")
        doc = None if message.client_message_id is None else await self._find_resend(room, sender, message)
        created, change = False, None
        if doc is None:
            if await self._rooms.find_one({"_id": room}, {"_id": 1}) is None:
                raise NotFound("room not found")
            async with self._room_slots.hold(room, ROOM_LOCK_WAIT_SECONDS) as slot:
                doc, created = await self._insert_in_order(room, sender, message, slot)
                if created:  # in the room's lock too, so that this node logs its sends in history order
                    change = await self._create_or_leave(room, doc, slot)
        if created and change is None:  # the database failed just after the insert: no second wait
            return StoredMessage(message_record(doc), created=True)
        doc = await self._complete_send(room, doc, change, message.created_at if created else None)
        return StoredMessage(message_record(doc), created=created)

    async def _insert_in_order(
        self, room: ObjectId, sender: ObjectId, message: NewMessage, slot: RoomSlot | None
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
        doc = message_doc(room, sender, message)
        race = PositionRace()
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
            await race.lost()

    async def _next_position(self, room: ObjectId, slot: RoomSlot | None) -> int:
        """The position after the room's highest: remembered by this node, or read."""
        if slot is not None and slot.last_seq is not None:
            return slot.last_seq + 1
        latest = await self._latest_message(room)
        return int(latest["seq"]) + 1 if latest else 1

    async def _find_resend(self, room: ObjectId, sender: ObjectId, message: NewMessage) -> Doc | None:
        """The stored message this one resends (same room, sender and client id), if any."""
        query = {"room": room, "sender": sender, "client_message_id": message.client_message_id}
        return await self._messages.find_one(query)

    async def _create_or_leave(self, room: ObjectId, doc: Doc, slot: RoomSlot | None) -> Doc | None:
        """Log a new message's creation; ``None`` if the database fails (a resend or a later send completes it)."""
        try:
            return await self._create(room, doc, slot)
        except (Unavailable, PyMongoError) as exc:
            if not tolerable(exc, f"message {doc['_id']}"):
                raise
            return None

    async def _complete_send(self, room: ObjectId, doc: Doc, change: Doc | None, read_at: int | None) -> Doc:
        """Everything after the message is stored; never fails the send for an outage.

        Also on a resend: if the first attempt died between its writes, this one
        completes it (every update here only moves things forward). An error
        ack instead would make the client resend, get ``created=False``, and no
        member would ever receive the message live.

        Args:
            read_at: the send's time for a new message (its sender's read pointer
                moves to it); ``None`` for a resend.

        Returns:
            The message as stored, with its change position once logged.
        """
        try:
            if change is None and not doc.get("change_seq"):
                change = await self._create(room, doc, None)
            if change is not None:
                doc = change["state"]
                await self._bring_forward(room, change)
            else:
                await self._note_in_room(room, doc)
            await self._note_mentions(room, doc)
            if read_at is not None:
                await self._advance_read_pointer(room, doc["sender"], doc, read_at)
                await self._complete_stale_creations(room, read_at)
        except (Unavailable, PyMongoError) as exc:
            if not tolerable(exc, f"message {doc['_id']}"):
                raise
        return doc

    # -- unread mentions -----------------------------------------------------------

    async def _note_mentions(self, room: ObjectId, doc: Doc) -> None:
        """One more unread mention for each mentioned member but the sender who has not read past it yet."""
        mentioned = [user for user in doc.get("mentions", ()) if user != doc.get("sender")]
        if not mentioned:
            return
        seq = int(doc["seq"])
        await self._memberships.update_many(
            {"room": room, "user": {"$in": mentioned}, "read_seq": {"$lt": seq}},
            {"$addToSet": {"unread_mentions": seq}},
        )
        # A deletion drops its mentions after marking the message deleted; if it
        # dropped them before they were added here, this read sees the mark.
        current = await self._messages.find_one({"_id": doc["_id"]}, {"deleted_at": 1})
        if current is None or current.get("deleted_at") is not None:
            await self._drop_mentions(room, seq)

    async def _drop_mentions(self, room: ObjectId, seq: int) -> None:
        """Forget the message at ``seq`` in every member's unread mentions."""
        await self._memberships.update_many({"room": room, "unread_mentions": seq}, {"$pull": {"unread_mentions": seq}})

    # -- history -------------------------------------------------------------------

    @guarded
    async def list_messages(
        self, room_id: str, limit: int, before: str | None = None, after: str | None = None
    ) -> MessagePage | None:
        """A page of history, oldest first, each message in its latest state (see :meth:`Store.list_messages`).

        With both ``before`` and ``after`` the page walks forward from ``after``
        and stops short of ``before``.
        """
        room = oid(room_id)
        bounds: dict[str, int] = {}
        for operator, cursor_id in (("$lt", before), ("$gt", after)):
            if cursor_id is not None:
                cursor = await self._message_in_room(room, cursor_id, {"seq": 1})
                if cursor is None:
                    return None
                bounds[operator] = int(cursor["seq"])
        if room is None:
            return MessagePage(messages=[], has_more=False)
        query: Doc = {"room": room, "seq": bounds} if bounds else {"room": room}
        forward = after is not None
        limit = max(limit, 0)  # one extra document tells whether there are more
        cursor = self._messages.find(query, HIDE_REACTORS).sort("seq", 1 if forward else -1).limit(limit + 1)
        docs = await cursor.to_list()
        page = docs[:limit] if forward else docs[:limit][::-1]
        page = await self._refreshed(room, page)
        return MessagePage(messages=[message_record(doc) for doc in page], has_more=len(docs) > limit)

    @guarded
    async def get_message(self, room_id: str, message_id: str) -> MessageRecord | None:
        """A message of ``room_id`` in its latest state, or ``None`` (unknown, malformed, or of another room)."""
        room = oid(room_id)
        doc = await self._message_in_room(room, message_id, HIDE_REACTORS)
        if room is None or doc is None:
            return None
        [doc] = await self._refreshed(room, [doc])
        return message_record(doc)

    async def _message_in_room(self, room: ObjectId | None, message_id: str, projection: Doc) -> Doc | None:
        """The message ``message_id`` if it belongs to ``room`` (never raises for a malformed id)."""
        message = oid(message_id)
        if room is None or message is None:
            return None
        return await self._messages.find_one({"_id": message, "room": room}, projection)

    # -- read pointers ---------------------------------------------------------------

    @guarded
    async def mark_read(self, room_id: str, user_id: str, message_id: str | None, read_at: int) -> ReadState | None:
        """Move the user's read pointer forward to ``message_id`` (or the latest), never back.

        Returns:
            The pointer after the call (unchanged, read time included, if the target
            was not newer), or ``None`` when ``message_id`` is not a message of this
            room or the user is not a member (non-members have no read pointer).
        """
        room, user = oid(room_id), oid(user_id)
        if room is None or user is None:
            return None
        if message_id is None:
            target = await self._latest_message(room)
        else:
            target = await self._message_in_room(room, message_id, {"seq": 1})
            if target is None:
                return None
        if target is not None:
            moved = await self._advance_read_pointer(room, user, target, read_at)
            if moved is not None:
                return read_state(moved)
        membership = await self._memberships.find_one({"user": user, "room": room})
        return None if membership is None else read_state(membership)

    async def _advance_read_pointer(self, room: ObjectId, user: ObjectId, message: Doc, read_at: int) -> Doc | None:
        """Move ``user``'s pointer forward to ``message``, never back; the mentions up to it are read.

        This is ``$max`` on ``read_seq``, written as a condition on the filter so
        that the message id, the read time and the mentions move with the
        position, atomically.

        Returns:
            The membership after the move, or ``None`` if nothing moved (no
            membership, or its pointer was already at or past ``message``).
        """
        seq = int(message["seq"])
        return await self._memberships.find_one_and_update(
            {"user": user, "room": room, "read_seq": {"$lt": seq}},
            {
                "$set": {"read_seq": seq, "read_message_id": message["_id"], "read_at": read_at},
                "$pull": {"unread_mentions": {"$lte": seq}},
            },
            return_document=ReturnDocument.AFTER,
        )
