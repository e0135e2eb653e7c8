"""The room-members cache (``kallemny_sio/core/membership.py``) on a real SQLite store.

The cache must answer exactly what the store would: these tests interleave
reads with membership changes at the store's await points (a gate inside
``room_members``) and check that no answer older than a committed change is
ever served. The outside view (who receives what after join and leave) is
covered by ``tests/events/test_recipients.py`` and ``test_join_leave.py``,
which run with the cache on (a single node).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import pytest

from kallemny_sio.core import membership
from kallemny_sio.core.membership import Membership
from kallemny_sio.storage.sqlite import SQLiteStore


class GatedStore(SQLiteStore):
    """The real SQLite store; ``room_members`` can be held at its await point and counts its calls."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.waiting = asyncio.Event()

    async def room_members(self, room_id: str):  # type: ignore[no-untyped-def]
        self.reads += 1
        answer = await super().room_members(room_id)
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        return answer


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatedStore]:
    s = GatedStore(tmp_path / "kallemny.db")
    await s.open()
    yield s
    await s.close()


async def _users(store: GatedStore, *names: str) -> list[str]:
    return [(await store.create_user(n, n, "x", 1)).id for n in names]


async def test_hits_are_served_without_reading_the_store(store: GatedStore) -> None:
    a, b = await _users(store, "alice", "bob")
    room = await store.create_group_room(a, "r", True, [a, b], 1)
    cache = Membership(store, cached=True)
    assert set(await cache.members(room.id)) == {a, b}
    assert set(await cache.members(room.id)) == {a, b}
    assert store.reads == 1


async def test_uncached_reads_the_store_every_time(store: GatedStore) -> None:
    a, b = await _users(store, "alice", "bob")
    room = await store.create_group_room(a, "r", True, [a, b], 1)
    cache = Membership(store, cached=False)
    await cache.members(room.id)
    await cache.members(room.id)
    assert store.reads == 2


async def test_join_and_leave_are_seen_at_once(store: GatedStore) -> None:
    a, b, c = await _users(store, "alice", "bob", "carol")
    room = await store.create_group_room(a, "r", True, [a, b], 1)
    cache = Membership(store, cached=True)
    assert set(await cache.members(room.id)) == {a, b}
    async with cache.changing(room.id):
        await store.add_member(room.id, c, 2)
    assert set(await cache.members(room.id)) == {a, b, c}
    async with cache.changing(room.id):
        await store.remove_member(room.id, b)
    assert set(await cache.members(room.id)) == {a, c}


async def test_a_room_being_changed_is_read_from_the_store(store: GatedStore) -> None:
    a, b = await _users(store, "alice", "bob")
    room = await store.create_group_room(a, "r", True, [a, b], 1)
    cache = Membership(store, cached=True)
    await cache.members(room.id)
    async with cache.changing(room.id):
        assert set(await cache.members(room.id)) == {a, b}  # read before the commit: not kept
        await store.remove_member(room.id, b)
        # committed, the change not yet finished: the store's answer, not the old copy
        assert set(await cache.members(room.id)) == {a}
    assert set(await cache.members(room.id)) == {a}


async def test_a_read_overlapping_a_change_is_not_kept(store: GatedStore) -> None:
    a, b = await _users(store, "alice", "bob")
    room = await store.create_group_room(a, "r", True, [a, b], 1)
    cache = Membership(store, cached=True)
    store.gate = asyncio.Event()
    stale_read = asyncio.create_task(cache.members(room.id))
    await asyncio.wait_for(store.waiting.wait(), 5)  # it has read {a, b} and is held
    store.gate.set()
    store.gate = None
    async with cache.changing(room.id):
        await store.remove_member(room.id, b)
    assert set(await asyncio.wait_for(stale_read, 5)) == {a, b}  # it started before the leave
    assert set(await cache.members(room.id)) == {a}  # and was not kept


async def test_unknown_rooms_are_not_cached(store: GatedStore) -> None:
    (a,) = await _users(store, "alice")
    cache = Membership(store, cached=True)
    assert await cache.members("999") == ()
    room = await store.create_group_room(a, "r", True, [a], 1)
    cache.forget(room.id)
    assert await cache.members(room.id) == (a,)


async def test_the_cache_is_bounded(store: GatedStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(membership, "MAX_ROOMS", 2)
    (a,) = await _users(store, "alice")
    rooms = [await store.create_group_room(a, f"r{i}", True, [a], 1) for i in range(3)]
    cache = Membership(store, cached=True)
    for room in rooms:
        await cache.members(room.id)
    assert store.reads == 3
    await cache.members(rooms[2].id)  # still cached
    assert store.reads == 3
    await cache.members(rooms[0].id)  # the oldest was dropped
    assert store.reads == 4
