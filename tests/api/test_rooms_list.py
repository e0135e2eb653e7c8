"""``GET /api/chat/rooms``: the caller's rooms, most recent activity first, with their own read state."""

from __future__ import annotations

from kallemny_sio.schemas import RoomOut
from tests.api.helpers import assert_conforms, clock_passes, send


async def _rooms(api, who) -> list[dict]:
    status, rooms = await api.request("GET", "/api/chat/rooms", token=who.token)
    assert status == 200, rooms
    for room in rooms:
        assert_conforms(RoomOut, room)
    return rooms


def _by_id(rooms: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in rooms}


async def test_only_the_callers_rooms_are_listed(api):
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    ab = await api.create_private(alice, bob)
    bc = await api.create_group(bob, [carol], name="bc")
    public = await api.create_group(carol, [], name="public", is_public=True)
    assert [r["id"] for r in await _rooms(api, alice)] == [ab["id"]]
    assert {r["id"] for r in await _rooms(api, bob)} == {ab["id"], bc["id"]}
    assert {r["id"] for r in await _rooms(api, carol)} == {bc["id"], public["id"]}


async def test_newest_room_first_and_a_message_moves_a_room_to_the_top(api, connect):
    alice, bob = await api.register(), await api.register()
    first = await api.create_group(alice, [bob], name="first")
    await clock_passes(first["createdAt"])
    second = await api.create_group(alice, [bob], name="second")
    await clock_passes(second["createdAt"])
    third = await api.create_group(alice, [bob], name="third")
    assert [r["id"] for r in await _rooms(api, alice)] == [third["id"], second["id"], first["id"]]

    await clock_passes(third["createdAt"])
    client = await connect(bob)
    message = await send(client, first["id"], "bump")
    for who in (alice, bob):
        assert [r["id"] for r in await _rooms(api, who)] == [first["id"], third["id"], second["id"]]

    await clock_passes(message["createdAt"])
    await send(client, second["id"], "bump again")
    assert [r["id"] for r in await _rooms(api, alice)] == [second["id"], first["id"], third["id"]]


async def test_last_message_is_the_latest_message(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    assert _by_id(await _rooms(api, alice))[room["id"]]["lastMessage"] is None
    client = await connect(alice)
    await send(client, room["id"], "one")
    latest = await send(client, room["id"], "two", clientMessageId="c-2")
    for who in (alice, bob):
        last = _by_id(await _rooms(api, who))[room["id"]]["lastMessage"]
        assert last == latest
        assert last["content"] == "two" and last["clientMessageId"] == "c-2"
        assert last["senderId"] == alice.id and last["senderUsername"] == alice.username


async def test_unread_counts_others_messages_after_the_read_pointer(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    alice_client, bob_client = await connect(alice), await connect(bob)

    first = await send(alice_client, room["id"], "hello")
    second = await send(alice_client, room["id"], "are you there?")
    mine = _by_id(await _rooms(api, alice))[room["id"]]
    theirs = _by_id(await _rooms(api, bob))[room["id"]]
    assert (mine["unreadCount"], mine["lastReadMessageId"]) == (0, second["id"])
    assert (theirs["unreadCount"], theirs["lastReadMessageId"]) == (2, None)

    ack = await bob_client.call("MarkMessagesAsRead", {"roomId": room["id"], "messageId": first["id"]})
    assert ack["ok"] is True, ack
    theirs = _by_id(await _rooms(api, bob))[room["id"]]
    assert (theirs["unreadCount"], theirs["lastReadMessageId"]) == (1, first["id"])

    ack = await bob_client.call("MarkMessagesAsRead", {"roomId": room["id"]})
    assert ack["ok"] is True, ack
    theirs = _by_id(await _rooms(api, bob))[room["id"]]
    assert (theirs["unreadCount"], theirs["lastReadMessageId"]) == (0, second["id"])

    reply = await send(bob_client, room["id"], "yes")
    third = await send(alice_client, room["id"], "good")
    theirs = _by_id(await _rooms(api, bob))[room["id"]]
    mine = _by_id(await _rooms(api, alice))[room["id"]]
    assert (theirs["unreadCount"], theirs["lastReadMessageId"]) == (1, reply["id"])
    assert (mine["unreadCount"], mine["lastReadMessageId"]) == (0, third["id"])


async def test_own_messages_are_never_unread_in_a_group(api, connect):
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    room = await api.create_group(alice, [bob, carol], name="g")
    clients = {who.id: await connect(who) for who in (alice, bob, carol)}
    await send(clients[alice.id], room["id"], "a1")
    await send(clients[bob.id], room["id"], "b1")
    await send(clients[alice.id], room["id"], "a2")
    unread = {who.id: _by_id(await _rooms(api, who))[room["id"]]["unreadCount"] for who in (alice, bob, carol)}
    assert unread == {alice.id: 0, bob.id: 1, carol.id: 3}


async def test_a_resent_message_is_counted_once(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    client = await connect(alice)
    first = await send(client, room["id"], "once", clientMessageId="same")
    again = await send(client, room["id"], "once", clientMessageId="same")
    assert again["id"] == first["id"]
    assert _by_id(await _rooms(api, bob))[room["id"]]["unreadCount"] == 1
