"""Helpers for the storage contract suite: readable set-up with explicit, increasing times."""

from __future__ import annotations

import dataclasses

from kallemny_sio.storage.base import MessageRecord, NewMessage, RoomRecord, Store, StoredMessage, UserRecord

#: 2025-11-25T10:00:00.000Z; every time in the suite is this plus a small step.
T0 = 1_764_064_800_000

#: Ids no backend ever hands out: malformed for one backend or another, or well
#: formed but unknown.
BAD_IDS = ["zzz", "123", "", "0" * 24, "-1", "ffffffffffffffffffffffff", "x" * 200]


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


def ids(records: list[MessageRecord] | list[UserRecord]) -> list[str]:
    return [record.id for record in records]


def contents(records: list[MessageRecord]) -> list[str]:
    return [record.content for record in records]
