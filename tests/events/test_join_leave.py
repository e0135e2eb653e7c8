"""``JoinChatRoom`` and ``LeaveChatRoom``: membership changes and who hears of them."""

from __future__ import annotations

import pytest

from .helpers import WAIT, assert_error, assert_room_shape, assert_user_shape, count, send, sync_marker

UNKNOWN_ROOM_IDS = ["999999999", "ffffffffffffffffffffffff", "no-such-room"]


# -- JoinChatRoom ------------------------------------------------------------


@pytest.mark.parametrize("form", ["plain", "object"])
async def test_member_joins_own_room(api, connect, form):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    a, b = await connect(alice), await connect(bob)
    ack = await a.call("JoinChatRoom", room["id"] if form == "plain" else {"roomId": room["id"]})
    assert ack["ok"] is True and set(ack) == {"ok", "room"}, ack
    assert_room_shape(ack["room"])
    assert ack["room"]["id"] == room["id"] and ack["room"]["type"] == "private"
    assert {m["id"] for m in ack["room"]["members"]} == {alice.id, bob.id}
    # Still exactly one delivery per connection after a (re)join, and no join announcement.
    message = await send(b, room["id"], "after rejoin")
    await sync_marker(b, room["id"], [a, b])
    assert count(a, "ReceiveMessage", id=message["id"]) == 1
    assert a.events("UserJoinedRoom") == [] and b.events("UserJoinedRoom") == []


@pytest.mark.parametrize("form", ["plain", "object"])
async def test_joining_a_public_group(api, connect, form):
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    group = await api.create_group(alice, [bob], name="lobby", is_public=True)
    a, b = await connect(alice), await connect(bob)
    c1, c2 = await connect(carol), await connect(carol, transports=["polling"])

    ack = await c1.call("JoinChatRoom", group["id"] if form == "plain" else {"roomId": group["id"]})
    assert ack["ok"] is True, ack
    assert_room_shape(ack["room"])
    assert ack["room"]["id"] == group["id"] and ack["room"]["name"] == "lobby"
    assert {m["id"] for m in ack["room"]["members"]} == {alice.id, bob.id, carol.id}

    for member in (a, b):
        joined = await member.wait_for("UserJoinedRoom", lambda d: d["roomId"] == group["id"], timeout=WAIT)
        assert set(joined) == {"roomId", "user"}
        assert_user_shape(joined["user"])
        assert joined["user"]["id"] == carol.id and joined["user"]["username"] == carol.username
        assert joined["user"]["isOnline"] is True

    # Every connection of the joiner now receives the room, without a join of its own.
    message = await send(a, group["id"], "welcome carol")
    for client in (a, b, c1, c2):
        got = await client.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)
        assert got == message
    # And carol can send there; the room is in her list.
    from_carol = await send(c2, group["id"], "hi all")
    await b.wait_for("ReceiveMessage", lambda d: d["id"] == from_carol["id"], timeout=WAIT)
    status, rooms = await api.request("GET", "/api/chat/rooms", token=carol.token)
    assert status == 200 and group["id"] in [r["id"] for r in rooms]

    # Joining again changes nothing and announces nothing.
    assert (await c2.call("JoinChatRoom", group["id"]))["ok"] is True
    await sync_marker(a, group["id"], [a, b])
    assert count(a, "UserJoinedRoom", roomId=group["id"]) == 1
    assert count(b, "UserJoinedRoom", roomId=group["id"]) == 1


async def test_cannot_join_a_private_room_or_a_non_public_group(api, connect):
    alice, bob, eve = await api.register(), await api.register(), await api.register()
    private = await api.create_private(alice, bob)
    closed = await api.create_group(alice, [bob], name="closed", is_public=False)
    a, e = await connect(alice), await connect(eve)
    for room in (private, closed):
        assert_error(await e.call("JoinChatRoom", room["id"]), "forbidden")
        assert_error(await e.call("JoinChatRoom", {"roomId": room["id"]}), "forbidden")
    # Still not a member: cannot send, and does not receive.
    assert_error(await e.call("SendMessage", closed["id"], "let me in"), "forbidden")
    eve_room = await api.create_private(eve, alice)
    secret = await send(a, closed["id"], "members only")
    await sync_marker(a, eve_room["id"], [e])
    assert count(e, "ReceiveMessage", id=secret["id"]) == 0
    assert a.events("UserJoinedRoom") == []
    status, _ = await api.request("GET", f"/api/chat/rooms/{closed['id']}/messages", token=eve.token)
    assert status == 403


@pytest.mark.parametrize("room_id", UNKNOWN_ROOM_IDS)
async def test_join_unknown_room(api, connect, room_id):
    alice = await api.register()
    a = await connect(alice)
    assert_error(await a.call("JoinChatRoom", room_id), "not_found")
    assert_error(await a.call("JoinChatRoom", {"roomId": room_id}), "not_found")


# -- LeaveChatRoom -------------------------------------------------------------


@pytest.mark.parametrize("form", ["plain", "object"])
async def test_leaving_a_group(api, connect, form):
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    group = await api.create_group(alice, [bob, carol], name="team")
    side = await api.create_private(alice, bob)  # where markers reach bob after he left
    a, c = await connect(alice), await connect(carol)
    b1, b2 = await connect(bob), await connect(bob, transports=["polling"])
    before = await send(a, group["id"], "before leaving")
    for client in (b1, b2):
        await client.wait_for("ReceiveMessage", lambda d: d["id"] == before["id"], timeout=WAIT)

    ack = await b1.call("LeaveChatRoom", group["id"] if form == "plain" else {"roomId": group["id"]})
    assert ack == {"ok": True}
    for member in (a, c):
        left = await member.wait_for("UserLeftRoom", lambda d: d["roomId"] == group["id"], timeout=WAIT)
        assert left == {"roomId": group["id"], "userId": bob.id, "reason": "left"}
    for client in (b1, b2):  # every connection of the one who left hears why
        gone = await client.wait_for("RemovedFromRoom", lambda d: d["roomId"] == group["id"], timeout=WAIT)
        assert gone == {"roomId": group["id"], "reason": "left"}

    # None of bob's connections receives the room any more.
    after = await send(a, group["id"], "after leaving")
    await c.wait_for("ReceiveMessage", lambda d: d["id"] == after["id"], timeout=WAIT)
    await sync_marker(a, side["id"], [b1, b2])
    for client in (b1, b2):
        assert count(client, "ReceiveMessage", id=after["id"]) == 0
        assert count(client, "UserLeftRoom", roomId=group["id"]) == 0  # sent to the remaining members

    # And bob is no longer a member anywhere it counts.
    assert_error(await b2.call("SendMessage", group["id"], "still here?"), "forbidden")
    assert_error(await b2.call("SendTypingIndicator", group["id"], True), "forbidden")
    assert_error(await b2.call("MarkMessagesAsRead", group["id"]), "forbidden")
    assert_error(await b1.call("LeaveChatRoom", group["id"]), "forbidden")
    status, _ = await api.request("GET", f"/api/chat/rooms/{group['id']}/messages", token=bob.token)
    assert status == 403
    status, rooms = await api.request("GET", "/api/chat/rooms", token=bob.token)
    assert status == 200 and group["id"] not in [r["id"] for r in rooms]


async def test_leave_then_rejoin_a_public_group(api, connect):
    alice, bob = await api.register(), await api.register()
    group = await api.create_group(alice, [bob], name="open", is_public=True)
    a, b = await connect(alice), await connect(bob)
    assert (await b.call("LeaveChatRoom", group["id"]))["ok"] is True
    await a.wait_for("UserLeftRoom", lambda d: d["userId"] == bob.id, timeout=WAIT)
    assert (await b.call("JoinChatRoom", group["id"]))["ok"] is True
    await a.wait_for("UserJoinedRoom", lambda d: d["user"]["id"] == bob.id, timeout=WAIT)
    message = await send(a, group["id"], "welcome back")
    await b.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)


async def test_cannot_leave_a_private_room(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    a, b = await connect(alice), await connect(bob)
    assert_error(await a.call("LeaveChatRoom", room["id"]), "forbidden")
    assert_error(await a.call("LeaveChatRoom", {"roomId": room["id"]}), "forbidden")
    message = await send(b, room["id"], "still together")
    await a.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)
    assert a.events("UserLeftRoom") == [] and b.events("UserLeftRoom") == []


async def test_cannot_leave_a_group_one_is_not_in(api, connect):
    alice, bob, eve = await api.register(), await api.register(), await api.register()
    group = await api.create_group(alice, [bob], is_public=True)
    e = await connect(eve)
    assert_error(await e.call("LeaveChatRoom", group["id"]), "forbidden")


@pytest.mark.parametrize("room_id", UNKNOWN_ROOM_IDS)
async def test_leave_unknown_room(api, connect, room_id):
    alice = await api.register()
    a = await connect(alice)
    assert_error(await a.call("LeaveChatRoom", room_id), "not_found")
    assert_error(await a.call("LeaveChatRoom", {"roomId": room_id}), "not_found")
