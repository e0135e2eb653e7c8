"""What only the MongoDB store has: its URL, its write concern, and how it fails.

These run on the MongoDB-compatible test server (SecantusDB), or on the real
MongoDB named by ``KALLEMNY_TEST_MONGODB_URL`` where noted. The kill -9 test
always uses a stand-in of its own, since it must kill the server.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pymongo
import pytest

from kallemny_sio.errors import NotFound, Unavailable
from kallemny_sio.storage.base import NewMessage
from kallemny_sio.storage.mongo import MongoStore
from tests.storage.helpers import T0, World
from tests.support.mongo_server import MongoTestServer, free_port, with_database

DRIVER_WORDS = ("pymongo", "ServerSelection", "Topology", "AutoReconnect", "Errno", "timed out", "refused", "127.0.0.1")


def with_option(url: str, option: str) -> str:
    """``url`` with ``option`` (``key=value``) added to its query string."""
    return url + ("&" if "?" in url else "?") + option


def assert_no_driver_text(error: Exception) -> None:
    text = str(error)
    assert not any(word.lower() in text.lower() for word in DRIVER_WORDS), text
    assert error.__cause__ is None


async def test_open_fails_fast_and_names_the_setting_when_unreachable() -> None:
    store = MongoStore(f"mongodb://127.0.0.1:{free_port()}/kallemny_unreachable")
    started = time.monotonic()

    with pytest.raises(Unavailable) as caught:
        await store.open()

    assert time.monotonic() - started < 15
    assert caught.value.message.startswith("DATABASE_URL:")
    assert_no_driver_text(caught.value)
    await store.close()
    with pytest.raises(Unavailable):  # never opened: every call says unavailable
        await store.ping()


@pytest.mark.parametrize("url", ["mongodb://", "mongodb://127.0.0.1:notaport/x", "mongodb://127.0.0.1:1/a b"])
async def test_open_with_an_unusable_url_names_the_setting(url: str) -> None:
    store = MongoStore(url)

    with pytest.raises(Unavailable) as caught:
        await store.open()

    assert caught.value.message.startswith("DATABASE_URL:")
    assert_no_driver_text(caught.value)


async def test_unacknowledged_writes_are_refused(mongo_server: MongoTestServer) -> None:
    store = MongoStore(with_option(mongo_server.database_url("w0"), "w=0"))

    with pytest.raises(Unavailable) as caught:
        await store.open()

    assert "w=0" in caught.value.message


async def _write_concern_of(url: str) -> dict[str, Any]:
    store = MongoStore(url)
    await store.open()
    try:
        return dict(store._database().write_concern.document)  # the store's own choice
    finally:
        await store.close()


async def test_writes_default_to_majority_and_the_url_overrides(mongo_server: MongoTestServer) -> None:
    url = mongo_server.database_url("wc")

    assert (await _write_concern_of(url))["w"] == "majority"
    assert (await _write_concern_of(with_option(url, "w=1")))["w"] == 1
    assert (await _write_concern_of(with_option(url, "journal=true")))["w"] == "majority"
    mongo_server.drop_database(url)


async def test_database_name_defaults_to_kallemny(mongo_server: MongoTestServer) -> None:
    if mongo_server.label != "mongo-compat":
        pytest.skip("would write to the database 'kallemny' of a real server")
    store = MongoStore(with_database(mongo_server.base_url, "").rstrip("/"))
    await store.open()
    try:
        assert store._database().name == "kallemny"
    finally:
        await store.close()
        mongo_server.drop_database(with_database(mongo_server.base_url, "kallemny"))


async def test_add_message_to_an_unknown_room_is_not_found(world: World) -> None:
    alice = await world.user("alice")

    for room_id in ("0" * 24, "zzz"):
        with pytest.raises(NotFound):
            await world.store.add_message(NewMessage(room_id, alice.id, "alice", "hi", T0))


@pytest.fixture
def store(mongo_server: MongoTestServer) -> MongoStore:  # the plain MongoDB store, for World
    return MongoStore(mongo_server.new_database_url())


@pytest.fixture
async def world(store: MongoStore, mongo_server: MongoTestServer) -> Any:
    await store.open()
    yield World(store)
    await store.close()


@pytest.fixture
def own_server() -> Any:
    server = MongoTestServer(stand_in=True)  # this test kills it
    server.start()
    yield server
    server.stop()


async def _until_pingable(store: MongoStore, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            await store.ping()
            return
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@pytest.mark.timeout(90)
async def test_kill_9_loses_no_acknowledged_write_and_the_store_recovers(own_server: MongoTestServer) -> None:
    store = MongoStore(own_server.database_url("fault"))
    await store.open()
    world = World(store)
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    acked = await world.messages(room, alice, 20)

    own_server.kill()

    with pytest.raises(Unavailable) as on_ping:
        await store.ping()
    assert on_ping.value.message == "database unavailable"
    assert_no_driver_text(on_ping.value)
    with pytest.raises(Unavailable) as on_send:
        await world.send(room, alice, "while down", client_message_id="down-1")
    assert_no_driver_text(on_send.value)
    with pytest.raises(Unavailable):
        await store.list_messages(room.id, 10)

    own_server.restart()
    await _until_pingable(store)

    page = await store.list_messages(room.id, 100)
    assert page is not None
    assert [m.id for m in page.messages[: len(acked)]] == [m.id for m in acked]
    # The send that failed may or may not have been stored; retrying it is safe.
    retried = await world.send(room, alice, "while down", client_message_id="down-1")
    after = await store.list_messages(room.id, 100, after=acked[-1].id)
    assert after is not None and [m.id for m in after.messages] == [retried.message.id]
    await store.close()


def test_the_stand_in_is_labelled_as_such(mongo_server: MongoTestServer) -> None:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        mongo_server.base_url, serverSelectionTimeoutMS=5000
    )
    try:
        assert client.admin.command("ping")["ok"] == 1
    finally:
        client.close()
    assert mongo_server.label in ("mongo-compat", "mongodb")
    assert mongo_server.can_kill == (mongo_server.label == "mongo-compat")
