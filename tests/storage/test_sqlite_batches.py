"""SQLite's group commit: the messages sent at once share one transaction, and one that fails fails alone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import pytest

from kallemny_sio.errors import NotFound, Unavailable
from kallemny_sio.storage.base import NewMessage
from kallemny_sio.storage.sqlite import SQLiteStore

from .helpers import World, contents


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "kallemny.db")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def _new(room_id: str, sender_id: str, content: str, at: int) -> NewMessage:
    return NewMessage(room_id=room_id, sender_id=sender_id, sender_username="x", content=content, created_at=at)


async def test_a_failing_message_fails_alone_and_its_batch_commits(store: SQLiteStore) -> None:
    world = World(store)
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    sends = [
        store.add_message(_new(room.id, alice.id, "first", world.tick())),
        # a sender the database does not know: the foreign key refuses it mid-batch
        store.add_message(_new(room.id, "987654", "no such sender", world.tick())),
        store.add_message(_new("987655", alice.id, "no such room", world.tick())),
        store.add_message(_new(room.id, bob.id, "last", world.tick())),
    ]
    first, unknown_sender, unknown_room, last = await asyncio.wait_for(
        asyncio.gather(*sends, return_exceptions=True), 10)

    assert isinstance(unknown_sender, Unavailable)
    assert isinstance(unknown_room, NotFound)
    assert not isinstance(first, BaseException) and not isinstance(last, BaseException)
    assert (first.message.change_seq, last.message.change_seq) == (1, 2)  # no position taken by the failures
    page = await store.list_messages(room.id, 10)
    assert page is not None and contents(page.messages) == ["first", "last"]
    assert await world.position(room) == 2

    # The same batch without the bad sender takes the fast path: everything commits.
    more = await asyncio.wait_for(asyncio.gather(
        store.add_message(_new(room.id, alice.id, "again", world.tick())),
        store.add_message(_new("987655", alice.id, "still no room", world.tick())),
        return_exceptions=True), 10)
    assert not isinstance(more[0], BaseException) and more[0].message.change_seq == 3
    assert isinstance(more[1], NotFound)


@pytest.mark.parametrize("size", [1, 50])
async def test_a_batch_keeps_positions_dense(store: SQLiteStore, size: int) -> None:
    world = World(store)
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    stored = await asyncio.wait_for(asyncio.gather(
        *(store.add_message(_new(room.id, alice.id, f"m{i}", world.tick())) for i in range(size))), 10)
    assert sorted(s.message.change_seq for s in stored) == list(range(1, size + 1))
    page = await store.list_messages(room.id, 100)
    assert page is not None and len(page.messages) == size
    assert await world.position(room) == size
