"""``MarkMessagesAsRead`` and ``MessagesRead``: the read pointer only moves forward."""

from __future__ import annotations

import pytest

from .helpers import ISO_MS, WAIT, assert_error, count, send, sync_marker


@pytest.fixture
async def chat(api, connect):
    """Alice (one connection) wrote three messages to bob (two connections)."""
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    a, b1, b2 = await connect(alice), await connect(bob), await connect(bob)
    messages = [await send(a, room["id"], f"m{i}") for i in range(1, 4)]
    for client in (b1, b2):
        await client.wait_for("ReceiveMessage", lambda d: d["id"] == messages[-1]["id"], timeout=WAIT)
    return alice, bob, room, a, b1, b2, messages


async def unread(api, who, room_id):
    status, rooms = await api.request("GET", "/api/chat/rooms", token=who.token)
    assert status == 200, rooms
    room = next(r for r in rooms if r["id"] == room_id)
    return room["unreadCount"], room["lastReadMessageId"]


def read_by(room_id, user_id, message_id):
    return lambda d: d["roomId"] == room_id and d["userId"] == user_id and d["lastReadMessageId"] == message_id


@pytest.mark.parametrize("form", ["plain", "object"])
async def test_mark_latest(api, chat, form):
    alice, bob, room, a, b1, b2, messages = chat
    assert await unread(api, bob, room["id"]) == (3, None)
    ack = await b1.call("MarkMessagesAsRead", room["id"] if form == "plain" else {"roomId": room["id"]})
    assert set(ack) >= {"ok", "roomId", "lastReadMessageId", "readAt"}, ack  # (it also carries userId)
    assert ack["ok"] is True and ack["roomId"] == room["id"] and ack["lastReadMessageId"] == messages[-1]["id"]
    assert ISO_MS.match(ack["readAt"]), ack
    expected = {"roomId": room["id"], "userId": bob.id, "lastReadMessageId": messages[-1]["id"],
                "readAt": ack["readAt"]}
    for client in (a, b1, b2):  # members' connections, the reader's other device included
        event = await client.wait_for("MessagesRead", read_by(room["id"], bob.id, messages[-1]["id"]), timeout=WAIT)
        assert event == expected
    assert await unread(api, bob, room["id"]) == (0, messages[-1]["id"])
    assert (await unread(api, alice, room["id"]))[0] == 0  # her own messages count as read for her


async def test_mark_up_to_a_message_then_forward_never_back(api, chat):
    alice, bob, room, a, b1, b2, messages = chat
    m1, m2, m3 = messages
    ack = await b1.call("MarkMessagesAsRead", {"roomId": room["id"], "messageId": m2["id"]})
    assert ack["ok"] is True and ack["lastReadMessageId"] == m2["id"], ack
    await a.wait_for("MessagesRead", read_by(room["id"], bob.id, m2["id"]), timeout=WAIT)
    assert await unread(api, bob, room["id"]) == (1, m2["id"])

    older = await b2.call("MarkMessagesAsRead", {"roomId": room["id"], "messageId": m1["id"]})
    assert older["ok"] is True and older["lastReadMessageId"] == m2["id"], older
    assert await unread(api, bob, room["id"]) == (1, m2["id"])

    latest = await b2.call("MarkMessagesAsRead", {"roomId": room["id"]})
    assert latest["lastReadMessageId"] == m3["id"], latest
    again_older = await b1.call("MarkMessagesAsRead", {"roomId": room["id"], "messageId": m2["id"]})
    assert again_older["lastReadMessageId"] == m3["id"], again_older
    assert await unread(api, bob, room["id"]) == (0, m3["id"])
    await sync_marker(a, room["id"], [a, b1, b2])
    assert all(e["lastReadMessageId"] != m1["id"] for e in a.events("MessagesRead"))


async def test_new_messages_count_as_unread_after_marking(api, chat):
    alice, bob, room, a, b1, b2, messages = chat
    assert (await b1.call("MarkMessagesAsRead", room["id"]))["ok"] is True
    await send(a, room["id"], "m4")
    assert await unread(api, bob, room["id"]) == (1, messages[-1]["id"])


async def test_marking_an_empty_room(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    b = await connect(bob)
    ack = await b.call("MarkMessagesAsRead", room["id"])
    assert ack["ok"] is True and ack["roomId"] == room["id"] and ack["lastReadMessageId"] is None, ack


async def test_non_members_do_not_hear_reads(api, chat, connect):
    alice, bob, room, a, b1, b2, messages = chat
    eve = await api.register()
    e = await connect(eve)
    side = await api.create_private(eve, alice)
    assert (await b1.call("MarkMessagesAsRead", room["id"]))["ok"] is True
    await a.wait_for("MessagesRead", read_by(room["id"], bob.id, messages[-1]["id"]), timeout=WAIT)
    await sync_marker(a, side["id"], [e])
    assert e.events("MessagesRead") == []


@pytest.mark.parametrize("message_id", ["999999999", "ffffffffffffffffffffffff", "no-such-message", "OTHER_ROOM"])
async def test_unknown_message_is_not_found(api, chat, message_id):
    alice, bob, room, a, b1, b2, messages = chat
    if message_id == "OTHER_ROOM":
        group = await api.create_group(alice, [bob])
        message_id = (await send(a, group["id"], "elsewhere"))["id"]
    assert_error(await b1.call("MarkMessagesAsRead", {"roomId": room["id"], "messageId": message_id}), "not_found")
    assert await unread(api, bob, room["id"]) == (3, None)
    await sync_marker(a, room["id"], [a, b2])
    assert count(a, "MessagesRead", userId=bob.id) == 0 and count(b2, "MessagesRead", userId=bob.id) == 0


@pytest.mark.parametrize("payload, code", [
    ({"roomId": "999999999"}, "not_found"),
    ("no-such-room", "not_found"),
    ("STRANGER", "forbidden"),
    ({"roomId": "STRANGER", "messageId": "STRANGER_MSG"}, "forbidden"),
    ({"roomId": {"$gt": ""}}, "invalid"),
    ({"roomId": 1}, "invalid"),
    ({"roomId": "ROOM", "messageId": 5}, "invalid"),
    ({"roomId": "ROOM", "messageId": {"$gt": ""}}, "invalid"),
    ({"messageId": "x"}, "invalid"),
    (7, "invalid"),
    (["ROOM"], "invalid"),
], ids=["unknown-object", "unknown-plain", "not-member", "not-member-with-message", "operator-room",
        "number-room", "number-message", "operator-message", "no-room", "number", "list"])
async def test_mark_errors(api, chat, connect, payload, code):
    alice, bob, room, a, b1, b2, messages = chat
    eve = await api.register()
    stranger = await api.create_private(alice, eve)
    stranger_msg = await send(a, stranger["id"], "not for bob")
    names = {"ROOM": room["id"], "STRANGER": stranger["id"], "STRANGER_MSG": stranger_msg["id"]}

    def fill(value):
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    assert_error(await b1.call("MarkMessagesAsRead", fill(payload)), code)
    await sync_marker(a, room["id"], [a, b2])
    assert count(a, "MessagesRead", userId=bob.id) == 0
