"""A real fault on the MongoDB store: kill -9 the database under a running server.

The database is a MongoDB-compatible test server (SecantusDB) of this test's own,
started with sync-on-commit and killed with SIGKILL as a crash would; with
``KALLEMNY_TEST_MONGODB_URL`` set the test is skipped (a shared real server is
not ours to kill). Checks issue-level behaviour over real sockets: ``/healthz``
turns 503 and ``SendMessage`` acks ``unavailable`` within 15 s while the server
stays up; after the database restarts on the same data directory and port the
server recovers by itself and every message acked before the fault is in the
history.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, AsyncIterator

import aiohttp
import pytest

from tests.conftest import Api, ChatClient, RunningServer, make_settings

FAULT_BOUND_S = 15.0
RECOVERY_BOUND_S = 30.0

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("KALLEMNY_TEST_MONGODB_URL")), reason="kills its own database server; not done to a shared one"
)


@pytest.fixture
async def mongo_node(private_mongo: Any) -> AsyncIterator[RunningServer]:
    server = await RunningServer(make_settings(private_mongo.database_url("fault"))).start()
    yield server
    await server.stop()


async def _health(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url + "/healthz") as r:
        return r.status


async def _until(predicate: Any, bound: float, what: str) -> float:
    """Await ``predicate()`` becoming true; returns the seconds it took (bounded)."""
    start = time.monotonic()
    while not await predicate():
        assert time.monotonic() - start < bound, f"{what} not within {bound} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def test_kill_9_then_restart(private_mongo: Any, mongo_node: RunningServer) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(mongo_node.url, session)
        alice, bob = await api.register(), await api.register()
        room = await api.create_private(alice, bob)
        sender, receiver = ChatClient(), ChatClient()
        await sender.connect(mongo_node.url, alice.token)
        await receiver.connect(mongo_node.url, bob.token)
        acked = []
        for i in range(10):
            ack = await sender.call("SendMessage", {"roomId": room["id"], "content": f"before {i}", "clientMessageId": f"b{i}"})
            assert ack["ok"], ack
            acked.append(ack["message"]["id"])

        await asyncio.to_thread(private_mongo.kill)
        started = time.monotonic()
        await _until(lambda: _health_ok(session, mongo_node.url, 503), FAULT_BOUND_S, "/healthz 503")
        while True:
            ack = await sender.call("SendMessage", {"roomId": room["id"], "content": "during", "clientMessageId": "d0"}, timeout=15)
            if not ack["ok"]:
                break
            assert time.monotonic() - started < FAULT_BOUND_S, "sends still acked ok with the database dead"
        assert ack["error"]["code"] == "unavailable", ack
        assert "pymongo" not in str(ack).lower() and "Traceback" not in str(ack)
        assert sender.sio.connected and receiver.sio.connected, "the server dropped its clients"

        await asyncio.to_thread(private_mongo.restart)
        await _until(lambda: _health_ok(session, mongo_node.url, 200), RECOVERY_BOUND_S, "recovery")
        ack = await sender.call("SendMessage", {"roomId": room["id"], "content": "after", "clientMessageId": "a0"})
        assert ack["ok"], ack
        await receiver.wait_for("ReceiveMessage", lambda m: m["id"] == ack["message"]["id"])

        page = await api.history(bob, room["id"], limit=100)
        ids = [m["id"] for m in page["messages"]]
        assert ids[: len(acked)] == acked, "a message acked before the fault is missing or out of order"
        assert len(ids) == len(set(ids))
        await sender.close()
        await receiver.close()


async def _health_ok(session: aiohttp.ClientSession, url: str, status: int) -> bool:
    return await _health(session, url) == status
