"""Helpers for the storage contract suite: readable set-up with explicit, increasing times."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from kallemny_sio.storage.base import (
    ChangePage,
    MessageChange,
    MessageRecord,
    NewMessage,
    RoomRecord,
    Store,
    StoredMessage,
    UserRecord,
)

#: 2025-11-25T10:00:00.000Z; every time in the suite is this plus a small step.
T0 = 1_764_064_800_000

#: Ids no backend ever hands out: malformed for one backend or another, or well
#: formed but unknown.
BAD_IDS = ["zzz", "123", "", "0" * 24, "-1", "ffffffffffffffffffffffff", "x" * 200]

#: Passed as ``custom_data`` to :meth:`World.edit`: leave the custom data as it is.
KEEP: Any = object()

#: The limit of distinct emoji per message the core passes (contract section 6).
MAX_EMOJI = 50


@dataclasses.dataclass
class World:
    """A store and a clock that only moves forward, one millisecond per call by default."""

    store: Store
    now: int = T0

    def tick(self, step: int = 1) -> int:
        """Move the clock and return the new time."""
        self.now += step
        return self.now

    async def user(self, username: str) -> UserRecord:
        """Create a user whose display name and hash derive from the username."""
        return await self.store.create_user(username, username.title(), f"hash:{username}", self.tick())

    async def users(self, *usernames: str) -> list[UserRecord]:
        return [await self.user(name) for name in usernames]

    async def group(
        self, creator: UserRecord, *others: UserRecord, name: str = "room", public: bool = False
    ) -> RoomRecord:
        """A group room whose members are the creator and ``others``."""
        member_ids = [creator.id, *(u.id for u in others)]
        return await self.store.create_group_room(creator.id, name, public, member_ids, self.tick())

    async def send(
        self,
        room: RoomRecord,
        sender: UserRecord,
        content: str = "hello",
        client_message_id: str | None = None,
        at: int | None = None,
    ) -> StoredMessage:
        """Add a message (at ``at``, or at the next tick)."""
        new = NewMessage(
            room_id=room.id,
            sender_id=sender.id,
            sender_username=sender.username,
            content=content,
            created_at=self.tick() if at is None else at,
            client_message_id=client_message_id,
        )
        return await self.store.add_message(new)

    async def messages(
        self, room: RoomRecord, sender: UserRecord, count: int, prefix: str = "m"
    ) -> list[MessageRecord]:
        """Send ``count`` messages ``prefix1``, ``prefix2``, … and return them in order."""
        return [(await self.send(room, sender, f"{prefix}{i}")).message for i in range(1, count + 1)]


    # -- messages after they are sent (contract section 6) -------------------

    async def say(
        self,
        room: RoomRecord,
        sender: UserRecord,
        content: str = "hello",
        *,
        reply_to: MessageRecord | None = None,
        mentions: Sequence[UserRecord] = (),
        custom_data: str | None = None,
        type: str = "user",
        client_message_id: str | None = None,
        store: Store | None = None,
    ) -> MessageRecord:
        """Add a message with the section 6 fields, at the next tick; returns the stored record."""
        new = NewMessage(
            room_id=room.id,
            sender_id=sender.id,
            sender_username=sender.username,
            content=content,
            created_at=self.tick(),
            client_message_id=client_message_id,
            type=type,
            reply_to_id=reply_to.id if reply_to else None,
            mentioned_user_ids=tuple(u.id for u in mentions),
            custom_data=custom_data,
        )
        return (await (store or self.store).add_message(new)).message

    async def edit(
        self, message: MessageRecord, content: str | None = None, custom_data: Any = KEEP, store: Store | None = None
    ) -> MessageChange:
        """Edit at the next tick; ``custom_data`` left as :data:`KEEP` keeps it, ``None`` clears it."""
        keep = custom_data is KEEP
        return await (store or self.store).edit_message(
            message.room_id, message.id, content, None if keep else custom_data, not keep, self.tick()
        )

    async def delete(self, message: MessageRecord, store: Store | None = None) -> MessageChange:
        return await (store or self.store).delete_message(message.room_id, message.id, self.tick())

    async def react(
        self, message: MessageRecord, user: UserRecord, emoji: str, max_emoji: int = MAX_EMOJI,
        store: Store | None = None,
    ) -> MessageChange:
        return await (store or self.store).add_reaction(
            message.room_id, message.id, user.id, emoji, self.tick(), max_emoji
        )

    async def unreact(
        self, message: MessageRecord, user: UserRecord, emoji: str, store: Store | None = None
    ) -> MessageChange:
        return await (store or self.store).remove_reaction(message.room_id, message.id, user.id, emoji, self.tick())

    async def latest(self, message: MessageRecord) -> MessageRecord:
        """The message as the store holds it now."""
        found = await self.store.get_message(message.room_id, message.id)
        assert found is not None, message
        return found

    async def position(self, room: RoomRecord) -> int:
        """The room's ``last_change_seq`` as :meth:`Store.get_room` gives it."""
        found = await self.store.get_room(room.id)
        assert found is not None
        return found.last_change_seq

    async def mentions(self, room: RoomRecord, user: UserRecord) -> int:
        """``user``'s unread mentions in ``room``, checked to agree between the two summary calls."""
        one = await self.store.get_room_summary(room.id, user.id)
        assert one is not None
        [listed] = [s for s in await self.store.list_room_summaries(user.id) if s.room.id == room.id]
        assert listed.unread_mention_count == one.unread_mention_count
        return one.unread_mention_count


def dense(store: Store) -> bool:
    """Whether the backend promises dense change positions (SQLite does; MongoDB only growing ones)."""
    return type(store).__name__ == "SQLiteStore"


def check_page(page: ChangePage, after: int, limit: int) -> None:
    """The shape every page of a change feed has, whatever the writers are doing."""
    seqs = [m.change_seq for m in page.messages]
    assert len(seqs) <= limit
    assert seqs == sorted(set(seqs)), seqs  # ascending, each position once
    assert all(seq > after for seq in seqs), (after, seqs)
    assert len({m.id for m in page.messages}) == len(seqs)  # each message once
    if page.has_more:
        assert seqs and page.covered == seqs[-1], (page.covered, seqs)
    assert page.covered >= max(seqs, default=after) and page.covered >= after


async def read_changes(store: Store, room_id: str, after: int = 0, limit: int = 100) -> tuple[list[MessageRecord], int]:
    """Follow the change feed from ``after`` to its end: every page's messages, and the last ``covered``."""
    seen: list[MessageRecord] = []
    while True:
        page = await store.list_changes(room_id, after, limit)
        check_page(page, after, limit)
        seen += page.messages
        after = page.covered
        if not page.has_more:
            return seen, after


def apply_changes(held: dict[str, MessageRecord], messages: list[MessageRecord]) -> None:
    """What a client does with changes: keep each message's copy with the highest ``change_seq``."""
    for message in messages:
        if message.id not in held or held[message.id].change_seq < message.change_seq:
            held[message.id] = message


def counts(message: MessageRecord | None) -> list[tuple[str, int]]:
    """A message's reactions as ``(emoji, count)`` pairs, in the stored order."""
    assert message is not None
    return [(r.emoji, r.count) for r in message.reactions]


def ids(records: list[MessageRecord] | list[UserRecord]) -> list[str]:
    return [record.id for record in records]


def contents(records: list[MessageRecord]) -> list[str]:
    return [record.content for record in records]
