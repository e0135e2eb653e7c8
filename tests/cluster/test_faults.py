"""Faults, for real: a node killed with SIGKILL, Redis dropping subscribers, Redis stopped."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from typing import Any

from tests.cluster.conftest import (
    CHANNEL,
    NODE_TTL_SECONDS,
    Cluster,
    count,
    eventually,
    received,
    send,
    settle,
)
from tests.conftest import Account

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
INTERRUPTED = "Redis link interrupted"
# Heartbeats far apart: what a test shows must then happen without waiting for one.
SLOW_HEARTBEAT = {"PRESENCE_HEARTBEAT_SECONDS": "30", "PRESENCE_NODE_TTL_SECONDS": "90"}
PROMPT_SECONDS = 5.0
RESTORED = "Redis link restored"


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


async def test_a_killed_node_stops_counting_its_users_and_offline_goes_out_once(cluster: Cluster) -> None:
    doomed, b, c = await cluster.start(3)
    victim, watcher_b_acc, watcher_c_acc = (await cluster.register(b, "victim"), await cluster.register(b, "wb"),
                                            await cluster.register(c, "wc"))
    room = await cluster.api(b).create_group(watcher_b_acc, [victim, watcher_c_acc], name="vigil")
    watcher_b, watcher_c = await cluster.connect(b, watcher_b_acc), await cluster.connect(c, watcher_c_acc)
    watchers = [watcher_b, watcher_c]
    await cluster.connect(doomed, victim)
    for watcher in watchers:
        await watcher.wait_for("UserOnline", lambda d: d["userId"] == victim.id)

    doomed.kill()  # SIGKILL: no disconnect handler, no cleanup
    killed_at = time.monotonic()
    for watcher in watchers:
        offline = await watcher.wait_for("UserOffline", lambda d: d["userId"] == victim.id,
                                         timeout=NODE_TTL_SECONDS + 8)
        assert offline["isOnline"] is False and ISO_MS.match(offline["lastSeen"])
    assert time.monotonic() - killed_at < NODE_TTL_SECONDS + 8

    # Both surviving nodes sweep; only one may announce.
    await settle(room["id"], watchers, watchers)
    assert [count(w, "UserOffline", lambda d: d["userId"] == victim.id) for w in watchers] == [1, 1]
    for node in (b, c):
        status, users = await cluster.api(node).request("GET", "/api/chat/users", token=watcher_b_acc.token,
                                                       params={"q": victim.username})
        assert status == 200 and [u["isOnline"] for u in users if u["id"] == victim.id] == [False], users
    assert sum(n.log_count("stopped its heartbeat") for n in (b, c)) >= 1


async def test_a_subscription_dropped_by_redis_is_noticed_and_followed_by_resync(cluster: Cluster) -> None:
    test_began = int(time.time() * 1000)
    a, b = await cluster.start(2)
    alice, bob = await cluster.register(a, "alice"), await cluster.register(b, "bob")
    room = await cluster.api(a).create_private(alice, bob)
    alice_a, bob_b = await cluster.connect(a, alice), await cluster.connect(b, bob)
    before = await send(alice_a, room["id"], "before the kill")
    await received(bob_b, before["id"])

    killed_at = int(time.time() * 1000)
    # What Redis does to a subscriber past its output limit; each node has two
    # subscriptions (the Socket.IO link and the control channel).
    assert cluster.redis.client_kill_pubsub() == 4

    for client in (alice_a, bob_b):
        resync = await client.wait_for("Resync", timeout=10)
        assert resync["reason"] == "backplane" and ISO_MS.match(resync["since"]), resync
        # No later than the kill: everything read before "since" had arrived.
        assert test_began <= _ms(resync["since"]) <= killed_at + 50, resync
    for node in (a, b):
        assert node.log_count(INTERRUPTED) == 1, node.log()
        await cluster.wait_backplane(node, "ok")
    await eventually(lambda: cluster.redis.subscribers(CHANNEL) == 2, what="both nodes to re-subscribe")

    after = await send(alice_a, room["id"], "after the kill")
    await received(bob_b, after["id"])
    reply = await send(bob_b, room["id"], "reply after the kill")
    await received(alice_a, reply["id"])
    assert count(alice_a, "Resync") == 1 and count(bob_b, "Resync") == 1


async def test_a_redis_outage_loses_no_acknowledged_message(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    alice, carol, bob = (await cluster.register(a, "alice"), await cluster.register(a, "carol"),
                         await cluster.register(b, "bob"))
    room = await cluster.api(a).create_group(alice, [carol, bob], name="outage")
    alice_a, carol_a, bob_b = (await cluster.connect(a, alice), await cluster.connect(a, carol),
                               await cluster.connect(b, bob))
    acked = [await send(alice_a, room["id"], "before the outage")]
    await received(bob_b, acked[0]["id"])

    cluster.redis.stop()
    for node in (a, b):
        body = await cluster.wait_backplane(node, "degraded")  # /healthz: still 200, says degraded
        assert body["status"] == "degraded" and body["database"] == "ok"

    # Each node keeps storing and delivering to its own clients.
    for i in range(3):
        message = await send(alice_a, room["id"], f"alice during the outage {i}")
        acked.append(message)
        await received(carol_a, message["id"])
    for i in range(2):
        message = await send(bob_b, room["id"], f"bob during the outage {i}")
        acked.append(message)
        await received(bob_b, message["id"])
    status, users = await cluster.api(a).request("GET", "/api/chat/users", token=alice.token, params={"q": "carol"})
    assert status == 200, users
    await asyncio.sleep(3)  # an outage long enough for several failed re-subscribe attempts
    late = await send(alice_a, room["id"], "alice late in the outage")
    acked.append(late)
    await received(carol_a, late["id"])

    cluster.redis.start()  # same port, and empty: a Redis without persistence lost everything
    resyncs = {client.name: await client.wait_for("Resync", timeout=15) for client in (alice_a, carol_a, bob_b)}
    for resync in resyncs.values():
        assert resync["reason"] == "backplane" and ISO_MS.match(resync["since"]), resync
    for node in (a, b):
        await cluster.wait_backplane(node, "ok")

    # Live cross-node delivery is back.
    after = await send(alice_a, room["id"], "after the outage")
    acked.append(after)
    await received(bob_b, after["id"])
    reply = await send(bob_b, room["id"], "bob after the outage")
    acked.append(reply)
    await received(alice_a, reply["id"])

    # The client side of Resync: resume each room from the last message received before
    # the interruption began, and merge by id.
    since = _ms(resyncs[bob_b.name]["since"])
    seen_live = [m for m in bob_b.events("ReceiveMessage") if m["roomId"] == room["id"]]
    before_gap = [m for m in seen_live if _ms(m["createdAt"]) < since]
    fetched = await _fetch_after(cluster, b, bob, room["id"], before_gap[-1]["id"] if before_gap else None)
    fetched_ids = [m["id"] for m in fetched]
    assert len(fetched_ids) == len(set(fetched_ids)), "a page repeated a message"
    have = {m["id"] for m in before_gap} | set(fetched_ids)
    assert {m["id"] for m in acked} <= have
    # Nothing but acked messages, in the order they were stored.
    order = [m["id"] for m in (await cluster.api(a).history(alice, room["id"], limit=100))["messages"]]
    assert fetched_ids == [i for i in order if i in set(fetched_ids)]
    assert set(order) == {m["id"] for m in acked}

    for node in (a, b):  # logged once per outage, not once per emit
        assert node.log_count(INTERRUPTED) == 1, node.log()
        assert node.log_count(RESTORED) == 1, node.log()


async def _fetch_after(cluster: Cluster, node: Any, who: Account, room_id: str, cursor: str | None) -> list[dict[str, Any]]:
    """Every message after ``cursor`` (all of them when None), paging with ``after``."""
    api = cluster.api(node)
    if cursor is None:
        page = await api.history(who, room_id, limit=100)
        assert page["hasMore"] is False
        return page["messages"]
    out: list[dict[str, Any]] = []
    while True:
        page = await api.history(who, room_id, after=cursor, limit=2)  # small pages: paging is exercised
        out.extend(page["messages"])
        if not page["hasMore"]:
            return out
        cursor = page["messages"][-1]["id"]


async def test_a_hung_redis_cannot_hang_a_request(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    alice, carol, bob = (await cluster.register(a, "alice"), await cluster.register(a, "carol"),
                         await cluster.register(b, "bob"))
    room = await cluster.api(a).create_group(alice, [carol, bob], name="frozen")
    alice_a, carol_a, bob_b = (await cluster.connect(a, alice), await cluster.connect(a, carol),
                               await cluster.connect(b, bob))

    cluster.redis.freeze()  # connections stay open, nothing answers
    started = time.monotonic()
    during = await send(alice_a, room["id"], "sent while Redis hangs")
    assert time.monotonic() - started < 5, "a hung Redis held up the ack"
    await received(carol_a, during["id"])
    late = await cluster.connect(a, await cluster.register(a, "late"))  # connecting does not hang either
    assert late.sio.connected
    for node in (a, b):
        await cluster.wait_backplane(node, "degraded", timeout=20)

    cluster.redis.thaw()
    for client in (alice_a, carol_a, bob_b):
        await client.wait_for("Resync", timeout=20)
    for node in (a, b):
        await cluster.wait_backplane(node, "ok", timeout=20)
    after = await send(alice_a, room["id"], "after Redis answers again")
    await received(bob_b, after["id"])


async def test_a_node_started_while_redis_is_down_serves_and_links_up_later(cluster: Cluster) -> None:
    cluster.redis.stop()
    (a,) = await cluster.start(1, backplane="degraded")  # serving, with its own clients only
    alice, bob = await cluster.register(a, "alice"), await cluster.register(a, "bob")
    room = await cluster.api(a).create_private(alice, bob)
    alice_a, bob_a = await cluster.connect(a, alice), await cluster.connect(a, bob)
    early = await send(alice_a, room["id"], "before Redis is up")
    await received(bob_a, early["id"])

    cluster.redis.start()
    await cluster.wait_backplane(a, "ok", timeout=15)
    await bob_a.wait_for("Resync", timeout=10)
    (b,) = await cluster.start(1)
    carol = await cluster.register(b, "carol")
    group = await cluster.api(b).create_group(carol, [alice], name="later")
    carol_b = await cluster.connect(b, carol)
    message = await send(carol_b, group["id"], "across nodes once Redis is up")
    await received(alice_a, message["id"])


async def test_after_redis_restarts_empty_presence_is_back_at_once_and_offline_is_announced(cluster: Cluster) -> None:
    """Redis restarted without its data: each node registers its connections again as soon as its
    link is back (not at its next heartbeat, 30 s away here), so a user leaving is announced."""
    a, b = await cluster.start(2, settings=SLOW_HEARTBEAT)
    alice, bob = await cluster.register(a, "alice"), await cluster.register(b, "bob")
    await cluster.api(b).create_group(bob, [alice], name="restart")
    bob_b = await cluster.connect(b, bob)
    alice_a = await cluster.connect(a, alice)
    about_alice = lambda d: d["userId"] == alice.id  # noqa: E731
    await bob_b.wait_for("UserOnline", about_alice)

    cluster.redis.stop()
    for node in (a, b):
        await cluster.wait_backplane(node, "degraded")
    cluster.redis.start()  # same port, empty
    for client in (alice_a, bob_b):
        await client.wait_for("Resync", timeout=15)  # each node's link is back
    restored_at = time.monotonic()

    # Both users are online again for every node, and presence is shared again, long before a heartbeat.
    for node, viewer, user in ((a, alice, bob), (b, bob, alice)):
        await eventually(lambda: _is_online(cluster, node, viewer, user), PROMPT_SECONDS, f"{user.username} online")
        await cluster.wait_backplane(node, "ok", timeout=PROMPT_SECONDS)

    assert count(bob_b, "UserOffline", about_alice) == 0
    await alice_a.close()
    offline = await bob_b.wait_for("UserOffline", about_alice, timeout=PROMPT_SECONDS)
    assert offline["isOnline"] is False and ISO_MS.match(offline["lastSeen"]), offline
    assert time.monotonic() - restored_at < 30, "only a heartbeat could have done it"
    assert not await _is_online(cluster, b, bob, alice)


async def _is_online(cluster: Cluster, node: Any, viewer: Account, user: Account) -> bool:
    status, users = await cluster.api(node).request("GET", "/api/chat/users", token=viewer.token,
                                                   params={"q": user.username})
    assert status == 200, users
    return [u["isOnline"] for u in users if u["id"] == user.id] == [True]
