"""Who receives what: ``ReceiveMessage``, ``RoomCreated``, ``UserOnline`` / ``UserOffline``.

Absence is proven with a marker: once a connection has a marker message sent
after the event in question, it has everything the server ever sent it
before, so an event it has not recorded was not sent to it.
"""

from __future__ import annotations

import pytest

from .helpers import ISO_MS, WAIT, assert_room_shape, count, send, sync_marker


async def test_receive_message_reaches_every_connection_of_every_member_only(api, connect):
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    group = await api.create_group(alice, [bob], name="pair")
    side = await api.create_private(bob, carol)
    a1, a2 = await connect(alice), await connect(alice, transports=["polling"])
    b1, b2 = await connect(bob), await connect(bob)
    c = await connect(carol)

    message = await send(a1, group["id"], "to every member")
    for client in (a1, a2, b1, b2):  # the sending connection included
        assert await client.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT) == message
    reply = await send(b2, group["id"], "reply")
    await sync_marker(b1, group["id"], [a1, a2, b1, b2])
    await sync_marker(b1, side["id"], [c])
    for client in (a1, a2, b1, b2):
        assert count(client, "ReceiveMessage", id=message["id"]) == 1
        assert count(client, "ReceiveMessage", id=reply["id"]) == 1
    assert [d for d in c.events("ReceiveMessage") if d["roomId"] == group["id"]] == []


async def test_a_connection_receives_its_rooms_without_joining(api, connect):
    alice, bob = await api.register(), await api.register()
    first = await api.create_private(alice, bob)
    second = await api.create_group(alice, [bob], name="second")
    b = await connect(bob)
    a = await connect(alice)
    for room in (first, second):
        message = await send(b, room["id"], "no join needed")
        await a.wait_for("ReceiveMessage", lambda d, m=message: d["id"] == m["id"], timeout=WAIT)


async def test_room_created_reaches_every_connection_of_every_member(api, connect):
    alice, bob, carol, dave = (await api.register(), await api.register(), await api.register(),
                               await api.register())
    side = await api.create_private(carol, alice)  # carol's marker room, created before anyone connects
    a1, a2 = await connect(alice), await connect(alice)
    b1, b2 = await connect(bob), await connect(bob, transports=["polling"])
    c, d = await connect(carol), await connect(dave)

    status, room = await api.request("POST", "/api/chat/rooms", token=alice.token,
                                     json={"type": "group", "name": "new", "memberIds": [bob.id]})
    assert status == 201, room
    for client in (a1, a2, b1, b2):  # the creator's connections included
        created = await client.wait_for("RoomCreated", lambda x: x["id"] == room["id"], timeout=WAIT)
        assert_room_shape(created)
        assert created["type"] == "group" and created["name"] == "new" and created["createdBy"] == alice.id
        assert {m["id"] for m in created["members"]} == {alice.id, bob.id}

    # The new room's messages reach them at once, without a join.
    message = await send(b2, room["id"], "first words")
    for client in (a1, a2, b1, b2):
        await client.wait_for("ReceiveMessage", lambda x: x["id"] == message["id"], timeout=WAIT)

    # Non-members get neither the room nor its messages.
    await sync_marker(a1, side["id"], [c])
    assert count(c, "RoomCreated", id=room["id"]) == 0
    assert [x for x in c.events("ReceiveMessage") if x["roomId"] == room["id"]] == []
    assert d.events("RoomCreated") == [] and d.events("ReceiveMessage") == []


async def test_private_room_created_once(api, connect):
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    side = await api.create_private(alice, carol)
    a, b = await connect(alice), await connect(bob)
    status, room = await api.request("POST", "/api/chat/rooms", token=bob.token,
                                     json={"type": "private", "memberIds": [alice.id]})
    assert status == 201, room
    for client in (a, b):
        created = await client.wait_for("RoomCreated", lambda x: x["id"] == room["id"], timeout=WAIT)
        assert created["type"] == "private" and created["name"] is None and created["isPublic"] is False
    status, again = await api.request("POST", "/api/chat/rooms", token=alice.token,
                                      json={"type": "private", "memberIds": [bob.id]})
    assert status == 200 and again["id"] == room["id"], again
    message = await send(a, room["id"], "hi bob")
    await b.wait_for("ReceiveMessage", lambda x: x["id"] == message["id"], timeout=WAIT)
    await sync_marker(a, room["id"], [a, b])
    assert count(a, "RoomCreated", id=room["id"]) == 1 and count(b, "RoomCreated", id=room["id"]) == 1
    assert count(a, "RoomCreated", id=side["id"]) == 0  # created before alice connected


def presence(event_user_id):
    """Matches a ``UserOnline`` / ``UserOffline`` payload about ``event_user_id``."""
    return lambda d: d["userId"] == event_user_id


@pytest.mark.server_settings(typing_ttl_seconds=30)
async def test_online_and_offline_once_per_transition(api, connect):
    alice, bob, carol, dave = (await api.register(), await api.register(), await api.register(),
                               await api.register())
    shared = await api.create_private(alice, bob)
    apart = await api.create_private(carol, dave)  # carol shares no room with alice
    b1, b2 = await connect(bob), await connect(bob, transports=["polling"])
    c, d = await connect(carol), await connect(dave)

    # First connection: UserOnline to bob's connections.
    a1 = await connect(alice)
    for client in (b1, b2):
        online = await client.wait_for("UserOnline", presence(alice.id), timeout=WAIT)
        assert online == {"userId": alice.id, "username": alice.username, "isOnline": True, "lastSeen": None}

    # Second connection: nothing new (its connect handler ran before connect() returned).
    a2 = await connect(alice)
    await sync_marker(a2, shared["id"], [b1, b2])
    for client in (b1, b2):
        assert count(client, "UserOnline", userId=alice.id) == 1

    # Closing the first: nothing. A typing state on it makes its disconnect observable.
    assert (await a1.call("SendTypingIndicator", shared["id"], True))["ok"] is True
    await b1.wait_for("UserTyping", lambda x: x["userId"] == alice.id and x["isTyping"], timeout=WAIT)
    await a1.close()
    await b1.wait_for("UserTyping", lambda x: x["userId"] == alice.id and not x["isTyping"], timeout=WAIT)
    await sync_marker(a2, shared["id"], [b1, b2])
    for client in (b1, b2):
        assert count(client, "UserOffline", userId=alice.id) == 0
    status, users = await api.request("GET", "/api/chat/users", token=bob.token, params={"q": alice.username})
    assert status == 200 and [u["isOnline"] for u in users if u["id"] == alice.id] == [True], users

    # Closing the last: UserOffline, once.
    await a2.close()
    for client in (b1, b2):
        offline = await client.wait_for("UserOffline", presence(alice.id), timeout=WAIT)
        assert set(offline) == {"userId", "username", "isOnline", "lastSeen"}
        assert offline["username"] == alice.username and offline["isOnline"] is False
        assert ISO_MS.match(offline["lastSeen"]), offline
    await sync_marker(b1, shared["id"], [b1, b2])
    for client in (b1, b2):
        assert count(client, "UserOffline", userId=alice.id) == 1
    last_seen = b1.events("UserOffline")[0]["lastSeen"]

    # Back online: a second UserOnline, now with the last-seen time.
    await connect(alice)
    again = await b1.wait_for("UserOnline", lambda x: x["userId"] == alice.id and x["lastSeen"], timeout=WAIT)
    assert again == {"userId": alice.id, "username": alice.username, "isOnline": True, "lastSeen": last_seen}
    await sync_marker(b2, shared["id"], [b1, b2])
    assert count(b1, "UserOnline", userId=alice.id) == 2 and count(b2, "UserOnline", userId=alice.id) == 2

    # Carol, who shares no room with alice, heard none of it.
    await sync_marker(d, apart["id"], [c])
    assert count(c, "UserOnline", userId=alice.id) == 0 and count(c, "UserOffline", userId=alice.id) == 0
