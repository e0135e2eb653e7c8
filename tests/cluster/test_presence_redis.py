"""Shared presence against a real ``redis-server`` when Redis loses this node's entries.

Each test drives :class:`RedisPresence` objects (one per "node") in this process
over real connections to a real Redis that is restarted empty or that sweeps a
node as dead. Heartbeats are 30 s apart, so nothing here can be the heartbeat's
doing. The multi-process view of the same rules is in ``test_faults.py``.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from kallemny_sio.cluster.presence_redis import RedisPresence
from kallemny_sio.cluster.redis_link import redis_options
from tests.cluster.conftest import eventually
from tests.support.redis_server import RedisTestServer

PREFIX = "test:presence"
SLOW_HEARTBEAT_SECONDS = 30.0


class Node:
    """One node's presence, with what it announced."""

    def __init__(self, presence: RedisPresence, client: "Redis[bytes]") -> None:
        self.presence = presence
        self.client = client
        self.lost: list[str] = []
        self.found: list[str] = []

    async def on_lost(self, users: list[str]) -> None:
        self.lost.extend(users)

    async def on_found(self, users: list[str]) -> None:
        self.found.extend(users)

    async def redis_answers(self) -> bool:
        """True once a command on this node's client succeeds (a restart leaves dead pooled connections)."""
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def node(redis_server: RedisTestServer) -> AsyncIterator[NodeFactory]:
    started: list[Node] = []

    async def start(heartbeat: float = SLOW_HEARTBEAT_SECONDS, ttl: float = 3 * SLOW_HEARTBEAT_SECONDS) -> Node:
        client = Redis.from_url(redis_server.url, **redis_options())
        presence = RedisPresence(PREFIX, uuid.uuid4().hex, heartbeat, ttl)
        presence.use_client(client)
        one = Node(presence, client)
        await presence.start(one.on_lost, one.on_found)
        started.append(one)
        return one

    yield start
    for one in started:
        with contextlib.suppress(Exception):
            await one.presence.stop()
        await one.client.aclose()


def restart_empty(redis_server: RedisTestServer) -> None:
    redis_server.stop()
    redis_server.start()  # same port, no data


async def test_a_disconnect_after_redis_lost_its_data_is_the_last_and_restores_the_rest(
        node: NodeFactory, redis_server: RedisTestServer) -> None:
    a = await node()
    assert await a.presence.connected("leaver", "s1") is True
    assert await a.presence.connected("stayer", "s2") is True

    restart_empty(redis_server)
    await eventually(a.redis_answers, what="Redis to answer again")
    assert not a.presence.degraded  # presence still believes Redis holds its entries

    # Its entry is gone with the rest: this node's own connections decide.
    assert await a.presence.disconnected("leaver", "s1") is True

    # And the node registers what it still holds at once, not at the next heartbeat.
    assert await eventually(lambda: a.presence.online(["stayer"]), timeout=5, what="stayer back in Redis") == {"stayer"}
    with contextlib.closing(redis_server.client()) as check:
        assert check.exists(f"{PREFIX}:node:{a.presence.node_id}") == 1
        assert check.exists(f"{PREFIX}:user:leaver") == 0
    assert a.found == ["stayer"]  # came back online cluster-wide (a repeat for clients, which is harmless)


async def test_a_disconnect_after_redis_lost_its_data_is_not_last_while_another_node_holds_one(
        node: NodeFactory, redis_server: RedisTestServer) -> None:
    a, b = await node(), await node()
    assert await a.presence.connected("both", "on-a") is True

    restart_empty(redis_server)
    for one in (a, b):
        await eventually(one.redis_answers, what="Redis to answer again")
    assert await b.presence.connected("both", "on-b") is True  # Redis now knows only node b's connection

    assert await a.presence.disconnected("both", "on-a") is False
    assert await b.presence.online(["both"]) == {"both"}
    assert await b.presence.disconnected("both", "on-b") is True


async def test_a_disconnect_after_the_node_was_swept_as_dead_is_not_announced_twice(
        node: NodeFactory, redis_server: RedisTestServer) -> None:
    # a: heartbeat 30 s but a TTL of 0.5 s, so its heartbeat really expires; b sweeps every ~0.2 s.
    a = await node(heartbeat=SLOW_HEARTBEAT_SECONDS, ttl=0.5)
    b = await node(heartbeat=0.2, ttl=2.0)
    assert await a.presence.connected("paused", "s1") is True

    await eventually(lambda: b.lost == ["paused"], timeout=5, what="node b to sweep node a")
    # The sweeper announced "paused" offline; a's own disconnect must not do it again.
    assert await a.presence.disconnected("paused", "s1") is False
