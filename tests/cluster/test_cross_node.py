"""Several nodes on one Redis behave as one server (contract section 5)."""

from __future__ import annotations

import re

from tests.cluster.conftest import (
    Cluster,
    Node,
    count,
    eventually,
    received,
    send,
    settle,
)
from tests.conftest import Account
from tests.support.redis_server import RedisSentinelTestServer

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


async def is_online(cluster: Cluster, node: Node, viewer: Account, user: Account) -> bool:
    """``isOnline`` of ``user`` in ``GET /api/chat/users`` on ``node``."""
    status, body = await cluster.api(node).request("GET", "/api/chat/users", token=viewer.token,
                                                  params={"q": user.username})
    assert status == 200, body
    matches = [u for u in body if u["id"] == user.id]
    assert len(matches) == 1, body
    return bool(matches[0]["isOnline"])


async def test_message_sent_on_one_node_reaches_a_member_on_another(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    alice, bob = await cluster.register(a, "alice"), await cluster.register(b, "bob")
    room = await cluster.api(a).create_private(alice, bob)
    alice_a, bob_b = await cluster.connect(a, alice), await cluster.connect(b, bob)

    sent = await send(alice_a, room["id"], "hello from node A")
    got = await received(bob_b, sent["id"])
    assert got == sent
    await received(alice_a, sent["id"])  # the sender's own connection too

    reply = await send(bob_b, room["id"], "hello back from node B")
    assert await received(alice_a, reply["id"]) == reply


async def test_presence_is_the_union_of_nodes_with_one_event_per_transition(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    user, watcher_a_acc, watcher_b_acc = (await cluster.register(a, "u"), await cluster.register(a, "wa"),
                                          await cluster.register(b, "wb"))
    room = await cluster.api(a).create_group(watcher_a_acc, [user, watcher_b_acc], name="presence")
    watcher_a, watcher_b = await cluster.connect(a, watcher_a_acc), await cluster.connect(b, watcher_b_acc)
    watchers = [watcher_a, watcher_b]
    about_user = lambda d: d["userId"] == user.id  # noqa: E731

    user_a = await cluster.connect(a, user)
    for watcher in watchers:
        online = await watcher.wait_for("UserOnline", about_user)
        assert online["isOnline"] is True and online["username"] == user.username

    user_b = await cluster.connect(b, user)  # a second connection, on the other node: no new transition
    await settle(room["id"], watchers, watchers)
    assert [count(w, "UserOnline", about_user) for w in watchers] == [1, 1]
    for node in (a, b):
        assert await is_online(cluster, node, watcher_a_acc, user)

    await user_a.close()  # one connection left, on node B: still online, no event
    await eventually(lambda: _presence_entries(cluster, user.id, 1), what="node A to drop the connection")
    await settle(room["id"], watchers, watchers)
    assert [count(w, "UserOffline", about_user) for w in watchers] == [0, 0]
    for node in (a, b):
        assert await is_online(cluster, node, watcher_b_acc, user)

    await user_b.close()  # the last connection anywhere
    for watcher in watchers:
        offline = await watcher.wait_for("UserOffline", about_user)
        assert offline["isOnline"] is False and ISO_MS.match(offline["lastSeen"])
    await settle(room["id"], watchers, watchers)
    assert [count(w, "UserOffline", about_user) for w in watchers] == [1, 1]
    assert [count(w, "UserOnline", about_user) for w in watchers] == [1, 1]
    for node in (a, b):
        assert not await is_online(cluster, node, watcher_a_acc, user)


async def _presence_entries(cluster: Cluster, user_id: str, expected: int) -> bool:
    """Whether Redis holds ``expected`` open connections for the user (all nodes together)."""
    with cluster.redis.client() as client:
        return client.scard(f"kallemny:presence:user:{user_id}") == expected


async def test_join_and_leave_on_one_node_change_delivery_to_the_users_connection_on_another(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    owner, user = await cluster.register(a, "owner"), await cluster.register(a, "joiner")
    public = await cluster.api(a).create_group(owner, [], name="lobby", is_public=True)
    side = await cluster.api(a).create_private(owner, user)  # for markers
    owner_a, user_a, user_b = (await cluster.connect(a, owner), await cluster.connect(a, user),
                               await cluster.connect(b, user))

    ack = await user_a.call("JoinChatRoom", public["id"])
    assert ack["ok"] is True, ack
    await owner_a.wait_for("UserJoinedRoom", lambda d: d["roomId"] == public["id"] and d["user"]["id"] == user.id)
    first = await send(owner_a, public["id"], "welcome")
    await received(user_b, first["id"])  # the user's connection on node B now receives the room

    ack = await user_a.call("LeaveChatRoom", public["id"])
    assert ack == {"ok": True}
    await owner_a.wait_for("UserLeftRoom", lambda d: d["roomId"] == public["id"] and d["userId"] == user.id)
    after_leave = await send(owner_a, public["id"], "not for leavers")
    marker = await send(owner_a, side["id"], "marker after the leave")
    await received(user_b, marker["id"])
    await received(user_a, marker["id"])
    assert not any(m["id"] == after_leave["id"] for m in user_b.events("ReceiveMessage"))
    assert not any(m["id"] == after_leave["id"] for m in user_a.events("ReceiveMessage"))


async def test_room_created_on_one_node_subscribes_a_connection_on_another(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    owner, member = await cluster.register(a, "owner"), await cluster.register(b, "member")
    owner_a, member_b = await cluster.connect(a, owner), await cluster.connect(b, member)

    room = await cluster.api(a).create_group(owner, [member], name="fresh")
    created = await member_b.wait_for("RoomCreated", lambda r: r["id"] == room["id"])
    assert {m["id"] for m in created["members"]} == {owner.id, member.id}
    first = await send(owner_a, room["id"], "first message in a new room")
    await received(member_b, first["id"])


async def test_typing_expires_the_same_for_members_on_other_nodes(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    typist, reader = await cluster.register(a, "typist"), await cluster.register(b, "reader")
    room = await cluster.api(a).create_private(typist, reader)
    typist_a, reader_b = await cluster.connect(a, typist), await cluster.connect(b, reader)

    assert (await typist_a.call("SendTypingIndicator", room["id"], True))["ok"] is True
    started = await reader_b.wait_for("UserTyping", lambda d: d["isTyping"] is True)
    assert started == {"roomId": room["id"], "userId": typist.id, "username": typist.username, "isTyping": True}
    stopped = await reader_b.wait_for("UserTyping", lambda d: d["isTyping"] is False, timeout=10)
    assert stopped["userId"] == typist.id and stopped["roomId"] == room["id"]


async def test_three_nodes_pass_the_one_node_checks(cluster: Cluster) -> None:
    nodes = await cluster.start(3)
    accounts = [await cluster.register(node, f"n{i}") for i, node in enumerate(nodes)]
    room = await cluster.api(nodes[0]).create_group(accounts[0], accounts[1:], name="three")
    # Tokens are valid on every node (one JWT_SECRET): log in on one node, connect to another.
    status, login = await cluster.api(nodes[2]).request(
        "POST", "/api/auth/login", json={"username": accounts[0].username, "password": "correct horse battery"})
    assert status == 200, login

    clients = [await cluster.connect(node, account) for node, account in zip(nodes[:2], accounts[:2])]
    last = await cluster.connect(nodes[2], accounts[2])
    for client in clients:  # the third user's first connection: UserOnline on the other two nodes
        await client.wait_for("UserOnline", lambda d: d["userId"] == accounts[2].id)
    clients.append(last)

    sent = [await send(client, room["id"], f"from {client.name}") for client in clients]
    for client in clients:
        for message in sent:
            await received(client, message["id"])
        assert count(client, "ReceiveMessage", lambda m: m["roomId"] == room["id"]) == len(sent)
    for node in nodes:
        for account in accounts:
            assert await is_online(cluster, node, accounts[0], account)
        assert (await cluster.healthz(node)) == (200, {"status": "ok", "database": "ok", "backplane": "ok"})

    history = await cluster.api(nodes[1]).history(accounts[1], room["id"])
    assert [m["id"] for m in history["messages"]] == [m["id"] for m in sent]

    await last.close()
    for client in clients[:2]:
        await client.wait_for("UserOffline", lambda d: d["userId"] == accounts[2].id)
    await settle(room["id"], clients[:2], clients[:2])
    for client in clients[:2]:
        assert count(client, "UserOnline", lambda d: d["userId"] == accounts[2].id) == 1
        assert count(client, "UserOffline", lambda d: d["userId"] == accounts[2].id) == 1
    for node in nodes:
        assert not await is_online(cluster, node, accounts[0], accounts[2])


async def test_nodes_find_redis_through_sentinel(cluster: Cluster) -> None:
    sentinel = RedisSentinelTestServer(cluster.redis).start()
    try:
        cluster.redis_url = sentinel.url  # redis+sentinel://host:port/0/service
        a, b = await cluster.start(2)
        alice, bob = await cluster.register(a, "alice"), await cluster.register(b, "bob")
        room = await cluster.api(a).create_private(alice, bob)
        alice_a, bob_b = await cluster.connect(a, alice), await cluster.connect(b, bob)
        sent = await send(alice_a, room["id"], "through the sentinel's primary")
        await received(bob_b, sent["id"])
        assert await is_online(cluster, b, bob, alice)
    finally:
        cluster.stop_all()
        sentinel.close()


async def test_an_emit_published_by_a_plain_python_socketio_emitter_reaches_the_user(cluster: Cluster) -> None:
    """Nodes publish batches (a JSON array per Redis message) but still read python-socketio's single messages."""
    import socketio

    from tests.cluster.conftest import CHANNEL

    a, b = await cluster.start(2)
    bob = await cluster.register(b, "bob")
    bob_b = await cluster.connect(b, bob)
    emitter = socketio.AsyncRedisManager(cluster.redis.url, channel=CHANNEL, write_only=True)
    try:
        payload = {"id": "external-1", "content": "from a worker"}
        await emitter.emit("ReceiveMessage", payload, namespace="/chat", room=f"user:{bob.id}")
        got = await bob_b.wait_for("ReceiveMessage", lambda d: d.get("id") == "external-1")
        assert got == payload
    finally:
        if emitter.redis is not None:
            await emitter.redis.aclose()
