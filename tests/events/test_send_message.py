"""``SendMessage``: forms, ack shape, validation, membership, idempotency."""

from __future__ import annotations

import pytest

from .helpers import WAIT, assert_error, assert_message_shape, count, send, sync_marker

UNKNOWN_ROOM_IDS = ["999999999", "ffffffffffffffffffffffff", "no-such-room"]


@pytest.fixture
async def pair(api, connect):
    """Alice and Bob connected, with their private room."""
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    return alice, bob, room, await connect(alice), await connect(bob)


async def test_object_form_acks_the_stored_message(pair, api):
    alice, bob, room, a, b = pair
    ack = await a.call("SendMessage", {"roomId": room["id"], "content": "hello", "clientMessageId": "c-1"})
    assert ack["ok"] is True and set(ack) == {"ok", "message"}, ack
    message = ack["message"]
    assert_message_shape(message)
    assert message["roomId"] == room["id"]
    assert message["senderId"] == alice.id and message["senderUsername"] == alice.username
    assert message["content"] == "hello" and message["clientMessageId"] == "c-1"
    assert await b.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT) == message
    history = await api.history(bob, room["id"])
    assert history["messages"] == [message]


async def test_plain_arguments_form(pair):
    alice, bob, room, a, b = pair
    ack = await a.call("SendMessage", room["id"], "plain args")
    assert ack["ok"] is True, ack
    assert ack["message"]["content"] == "plain args" and ack["message"]["clientMessageId"] is None
    with_id = await a.call("SendMessage", room["id"], "plain with id", "c-plain")
    assert with_id["ok"] is True and with_id["message"]["clientMessageId"] == "c-plain", with_id
    for message in (ack["message"], with_id["message"]):
        await b.wait_for("ReceiveMessage", lambda d, m=message: d["id"] == m["id"], timeout=WAIT)


@pytest.mark.parametrize("content, stored", [
    ("  padded \n", "padded"),
    ("a" * 4000, "a" * 4000),
    ("  " + "b" * 4000 + "\t", "b" * 4000),
    ("é" * 4000, "é" * 4000),
    ("中文 ñandú Ελληνικά עברית 👋🏽 \u200d", "中文 ñandú Ελληνικά עברית 👋🏽 \u200d"),
    ("line one\nline two", "line one\nline two"),
    # Blank means JavaScript's whitespace, as the document's pattern "\S" (ECMA-262) says: U+0085 and
    # U+001C are text there, though Python's str.strip() would remove them.
    ("\u0085", "\u0085"),
    (" \u001c ", "\u001c"),
], ids=["trimmed", "4000", "4000-after-trim", "4000-non-ascii", "unicode", "newline", "next-line", "file-separator"])
async def test_content_accepted(pair, api, content, stored):
    alice, bob, room, a, b = pair
    message = await send(a, room["id"], content)
    assert message["content"] == stored
    got = await b.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)
    assert got["content"] == stored
    assert (await api.history(bob, room["id"]))["messages"][-1]["content"] == stored


@pytest.mark.parametrize("content", ["", " ", " \n\t ", "\ufeff\u3000\u00a0", "a" * 4001, None, 42, ["x"], {"text": "x"}],
                         ids=["empty", "space", "whitespace", "javascript-whitespace", "4001", "null", "number", "list",
                              "object"])
async def test_invalid_content(pair, api, content):
    alice, bob, room, a, b = pair
    assert_error(await a.call("SendMessage", {"roomId": room["id"], "content": content}), "invalid")
    assert (await api.history(alice, room["id"]))["messages"] == []


async def test_missing_content(pair):
    alice, bob, room, a, b = pair
    assert_error(await a.call("SendMessage", {"roomId": room["id"]}), "invalid")
    assert_error(await a.call("SendMessage", room["id"]), "invalid")


@pytest.mark.parametrize("room_id", [{"$gt": ""}, {"$ne": None}, 1, 0, ["x"], [], True, None, ""],
                         ids=["gt-operator", "ne-operator", "number", "zero", "list", "empty-list", "bool",
                              "null", "empty-string"])
async def test_invalid_room_id(pair, api, room_id):
    alice, bob, room, a, b = pair
    assert_error(await a.call("SendMessage", {"roomId": room_id, "content": "x"}), "invalid")
    if room_id is not None:  # the plain form cannot carry a lone null through this client
        assert_error(await a.call("SendMessage", room_id, "x"), "invalid")
    assert (await api.history(alice, room["id"]))["messages"] == []


@pytest.mark.parametrize("client_message_id", ["", 7, {"a": 1}, "x" * 129], ids=["empty", "number", "object", "129"])
async def test_invalid_client_message_id(pair, client_message_id):
    alice, bob, room, a, b = pair
    ack = await a.call("SendMessage", {"roomId": room["id"], "content": "x", "clientMessageId": client_message_id})
    assert_error(ack, "invalid")


@pytest.mark.parametrize("room_id", UNKNOWN_ROOM_IDS)
async def test_unknown_room(pair, room_id):
    alice, bob, room, a, b = pair
    assert_error(await a.call("SendMessage", {"roomId": room_id, "content": "x"}), "not_found")
    assert_error(await a.call("SendMessage", room_id, "x"), "not_found")


async def test_not_a_member_is_forbidden_and_nothing_is_delivered(pair, api, connect):
    alice, bob, room, a, b = pair
    eve = await api.register()
    e = await connect(eve)
    group = await api.create_group(alice, [bob], is_public=True)
    for target in (room, group):
        assert_error(await e.call("SendMessage", {"roomId": target["id"], "content": "intrusion"}), "forbidden")
    await sync_marker(a, room["id"], [a, b])
    assert not any(d["content"] == "intrusion" for d in a.events("ReceiveMessage") + b.events("ReceiveMessage"))
    assert all(m["content"] != "intrusion" for m in (await api.history(alice, room["id"]))["messages"])


async def test_resend_with_same_client_message_id_is_not_delivered_twice(pair, api, connect):
    alice, bob, room, a, b = pair
    a2 = await connect(alice)
    first = await send(a, room["id"], "once", clientMessageId="dup-1")
    for client in (a, a2, b):
        await client.wait_for("ReceiveMessage", lambda d: d["id"] == first["id"], timeout=WAIT)
    again = await send(a, room["id"], "once", clientMessageId="dup-1")
    assert again == first
    from_other_device = await send(a2, room["id"], "once", clientMessageId="dup-1")
    assert from_other_device["id"] == first["id"]
    plain = await a.call("SendMessage", room["id"], "once", "dup-1")
    assert plain["ok"] is True and plain["message"]["id"] == first["id"], plain
    await sync_marker(b, room["id"], [a, a2, b])
    for client in (a, a2, b):
        assert count(client, "ReceiveMessage", id=first["id"]) == 1, client.name
    ids = [m["id"] for m in (await api.history(bob, room["id"]))["messages"]]
    assert ids.count(first["id"]) == 1 and len(ids) == 2


async def test_client_message_id_is_per_sender_and_per_room(pair, api):
    alice, bob, room, a, b = pair
    group = await api.create_group(alice, [bob])
    mine = await send(a, room["id"], "from alice", clientMessageId="same")
    theirs = await send(b, room["id"], "from bob", clientMessageId="same")
    elsewhere = await send(a, group["id"], "other room", clientMessageId="same")
    assert len({mine["id"], theirs["id"], elsewhere["id"]}) == 3
    assert theirs["senderId"] == bob.id and theirs["content"] == "from bob"
    await a.wait_for("ReceiveMessage", lambda d: d["id"] == theirs["id"], timeout=WAIT)
    await b.wait_for("ReceiveMessage", lambda d: d["id"] == elsewhere["id"], timeout=WAIT)
