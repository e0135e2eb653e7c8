"""Per-room send locks on this node, and the last positions this node took in each room."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Hashable


class RoomSlot:
    """A room's lock on this node, and the last positions this node stored there.

    ``last_seq`` is the room's last history position (``messages.seq``) and
    ``last_change_seq`` its last change position (``changes.seq``), as far as
    this node knows; ``None`` when it must read them.
    """

    __slots__ = ("lock", "users", "last_seq", "last_change_seq")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        self.last_seq: int | None = None
        self.last_change_seq: int | None = None


class RoomSlots:
    """One :class:`RoomSlot` per room, kept only while someone holds or awaits it.

    The lock makes contention cheap; correctness never depends on it (the
    unique indexes do that). A caller that waited ``max_wait`` seconds goes
    ahead without it, so an outage cannot queue every writer behind every other.
    """

    def __init__(self) -> None:
        self._slots: dict[Hashable, RoomSlot] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable, max_wait: float) -> AsyncIterator[RoomSlot | None]:
        """Yield the room's slot with its lock held, or ``None`` after waiting ``max_wait`` seconds."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = RoomSlot()
        slot.users += 1
        acquired = False
        try:
            try:
                async with asyncio.timeout(max_wait):
                    await slot.lock.acquire()
                acquired = True
            except TimeoutError:
                pass
            yield slot if acquired else None
        finally:
            if acquired:
                slot.lock.release()
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]
