"""Room members (with their roles and mutes), read through a cache that membership changes keep exact.

Every message needs its room's members twice (the sender must be one; the
recipients are read after the commit). On a single node every membership
change goes through :class:`~kallemny_sio.core.chat.ChatService` in this
process, so a cache invalidated by those changes answers exactly what the
store would:

- a room whose membership is being changed is read from the store until the
  change has committed (readers see the store's before or after, never a
  stale copy after the commit);
- a read that overlapped any change is not kept (its answer may predate it);
- empty answers are not kept (a room that does not exist yet may be created);
- an entry lives ``TTL_SECONDS`` at most, a safety net against writers this
  process cannot see (a script on the database, a restored backup).

With several nodes another node may change membership, so the cache is off
and every read goes to the store (the backplane decides: see ``app.py``).
"""

from __future__ import annotations

import contextlib
import time
from typing import AsyncIterator

from ..storage.base import RoomMembers, Store

MAX_ROOMS = 10_000
TTL_SECONDS = 10.0


class Membership:
    """``roster(room_id)`` and ``members(room_id)`` from the store, cached when ``cached`` is true."""

    def __init__(self, store: Store, cached: bool) -> None:
        self._store = store
        self._cached = cached
        self._rooms: dict[str, tuple[RoomMembers, float]] = {}
        self._changing: dict[str, int] = {}
        self._generation = 0

    async def members(self, room_id: str) -> tuple[str, ...]:
        """The ids of the room's members, oldest membership first (empty for an unknown room)."""
        roster = await self.roster(room_id)
        return () if roster is None else roster.ids

    def cached(self, room_id: str) -> RoomMembers | None:
        """The room's roster when the cache holds it, without waiting (else None: ask :meth:`roster`)."""
        found = self._rooms.get(room_id)
        if found is None or found[1] <= time.monotonic() or room_id in self._changing:
            return None
        return found[0]

    async def roster(self, room_id: str) -> RoomMembers | None:
        """The room with its members' roles and mutes, or ``None`` for an unknown room."""
        if not self._cached or room_id in self._changing:
            return await self._store.room_members(room_id)
        found = self._rooms.get(room_id)
        now = time.monotonic()
        if found is not None:
            if found[1] > now:
                return found[0]
            del self._rooms[room_id]
        generation = self._generation
        roster = await self._store.room_members(room_id)
        if roster is not None and roster.members and generation == self._generation:
            if len(self._rooms) >= MAX_ROOMS:
                del self._rooms[next(iter(self._rooms))]  # the oldest entry
            self._rooms[room_id] = (roster, now + TTL_SECONDS)
        return roster

    @contextlib.asynccontextmanager
    async def changing(self, room_id: str) -> AsyncIterator[None]:
        """Wrap a store write that may change ``room_id``'s members, roles or mutes."""
        self._changing[room_id] = self._changing.get(room_id, 0) + 1
        self._forget(room_id)
        try:
            yield
        finally:
            left = self._changing[room_id] - 1
            if left:
                self._changing[room_id] = left
            else:
                del self._changing[room_id]
            self._forget(room_id)

    def forget(self, room_id: str) -> None:
        """Drop what is known of a room (after a write that created it)."""
        self._forget(room_id)

    def forget_all(self) -> None:
        """Drop everything (after a change that may touch any room, such as a block)."""
        self._generation += 1
        self._rooms.clear()

    def _forget(self, room_id: str) -> None:
        self._generation += 1
        self._rooms.pop(room_id, None)
