"""``SendTypingIndicator`` and ``UserTyping``: who hears it, and the three ways it ends.

The test servers' typing TTL is 0.5 s. Tests about other ways typing ends
use a 30 s TTL, so an expiry cannot be mistaken for them.
"""

from __future__ import annotations

import time

import pytest

from .helpers import WAIT, assert_error, count, send, sync_marker

LONG_TTL = pytest.mark.server_settings(typing_ttl_seconds=30)


def typing(room_id: str, user_id: str, is_typing: bool):
    """Matches a ``UserTyping`` payload about ``user_id`` in ``room_id``."""
    return lambda d: d == {**d, "roomId": room_id, "userId": user_id, "isTyping": is_typing}


@pytest.fixture
async def trio(api, connect):
    """A group of alice (two connections), bob and carol, all connected."""
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    group = await api.create_group(alice, [bob, carol], name="typing")
    clients = dict(a1=await connect(alice), a2=await connect(alice), b=await connect(bob), c=await connect(carol))
    return alice, bob, carol, group, clients


@LONG_TTL
@pytest.mark.parametrize("form", ["plain", "object"])
async def test_others_hear_typing_and_the_typer_does_not(trio, form):
    alice, bob, carol, group, cl = trio
    start = (group["id"], True) if form == "plain" else ({"roomId": group["id"], "isTyping": True},)
    assert await cl["a1"].call("SendTypingIndicator", *start) == {"ok": True}
    for other in (cl["b"], cl["c"]):
        event = await other.wait_for("UserTyping", typing(group["id"], alice.id, True), timeout=WAIT)
        assert event == {"roomId": group["id"], "userId": alice.id, "username": alice.username, "isTyping": True}

    stop = (group["id"], False) if form == "plain" else ({"roomId": group["id"], "isTyping": False},)
    assert await cl["a1"].call("SendTypingIndicator", *stop) == {"ok": True}
    for other in (cl["b"], cl["c"]):
        await other.wait_for("UserTyping", typing(group["id"], alice.id, False), timeout=WAIT)

    await sync_marker(cl["b"], group["id"], cl.values())
    assert cl["a1"].events("UserTyping") == [] and cl["a2"].events("UserTyping") == []


async def test_typing_expires_after_the_ttl(trio, server):
    alice, bob, carol, group, cl = trio
    ttl = server.settings.typing_ttl_seconds
    started = time.monotonic()
    assert (await cl["a1"].call("SendTypingIndicator", group["id"], True))["ok"] is True
    await cl["b"].wait_for("UserTyping", typing(group["id"], alice.id, True), timeout=WAIT)
    expired = await cl["b"].wait_for("UserTyping", typing(group["id"], alice.id, False), timeout=ttl + WAIT)
    assert time.monotonic() - started >= ttl * 0.9
    assert expired["username"] == alice.username
    await cl["c"].wait_for("UserTyping", typing(group["id"], alice.id, False), timeout=WAIT)
    await sync_marker(cl["c"], group["id"], cl.values())
    assert count(cl["b"], "UserTyping", isTyping=False) == 1
    assert cl["a1"].events("UserTyping") == [] and cl["a2"].events("UserTyping") == []


async def test_refreshing_typing_postpones_expiry(trio, server):
    alice, bob, carol, group, cl = trio
    ttl = server.settings.typing_ttl_seconds
    assert (await cl["a1"].call("SendTypingIndicator", group["id"], True))["ok"] is True
    await cl["b"].wait_for("UserTyping", typing(group["id"], alice.id, True), timeout=WAIT)
    refreshed_at = started = time.monotonic()
    # Keep refreshing for twice the TTL: no expiry may arrive meanwhile.
    while time.monotonic() - started < 2 * ttl:
        assert (await cl["a2"].call("SendTypingIndicator", group["id"], True))["ok"] is True
        refreshed_at = time.monotonic()
        await sync_marker(cl["c"], group["id"], [cl["b"]])
        assert count(cl["b"], "UserTyping", isTyping=False) == 0
    await cl["b"].wait_for("UserTyping", typing(group["id"], alice.id, False), timeout=ttl + WAIT)
    assert time.monotonic() - refreshed_at >= ttl * 0.9


@LONG_TTL
async def test_sending_a_message_ends_typing(trio):
    alice, bob, carol, group, cl = trio
    assert (await cl["a1"].call("SendTypingIndicator", group["id"], True))["ok"] is True
    await cl["b"].wait_for("UserTyping", typing(group["id"], alice.id, True), timeout=WAIT)
    message = await send(cl["a2"], group["id"], "done typing")
    for other in (cl["b"], cl["c"]):
        await other.wait_for("UserTyping", typing(group["id"], alice.id, False), timeout=WAIT)
        await other.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)
    await sync_marker(cl["b"], group["id"], cl.values())
    assert cl["a1"].events("UserTyping") == [] and cl["a2"].events("UserTyping") == []
    assert count(cl["b"], "UserTyping", isTyping=False) == 1


@LONG_TTL
async def test_sending_without_typing_sends_no_typing_event(trio):
    alice, bob, carol, group, cl = trio
    await send(cl["a1"], group["id"], "no typing first")
    await sync_marker(cl["c"], group["id"], cl.values())
    assert cl["b"].events("UserTyping") == []


@LONG_TTL
async def test_disconnecting_ends_typing(trio):
    alice, bob, carol, group, cl = trio
    assert (await cl["a1"].call("SendTypingIndicator", group["id"], True))["ok"] is True
    await cl["b"].wait_for("UserTyping", typing(group["id"], alice.id, True), timeout=WAIT)
    await cl["a1"].close()
    for other in (cl["b"], cl["c"]):
        await other.wait_for("UserTyping", typing(group["id"], alice.id, False), timeout=WAIT)
    await sync_marker(cl["b"], group["id"], [cl["a2"], cl["b"]])
    assert cl["a2"].events("UserTyping") == []


@LONG_TTL
async def test_typing_in_one_room_is_not_heard_in_another(api, connect):
    alice, bob, eve = await api.register(), await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    other = await api.create_private(alice, eve)
    a, b, e = await connect(alice), await connect(bob), await connect(eve)
    assert (await a.call("SendTypingIndicator", room["id"], True))["ok"] is True
    await b.wait_for("UserTyping", typing(room["id"], alice.id, True), timeout=WAIT)
    await sync_marker(a, other["id"], [e])
    assert e.events("UserTyping") == []


@pytest.mark.parametrize("args, code", [
    (("ROOM", "yes"), "invalid"),
    (("ROOM", 1), "invalid"),
    (("ROOM", None), "invalid"),
    (("ROOM",), "invalid"),
    (({"roomId": "ROOM"},), "invalid"),
    (({"roomId": "ROOM", "isTyping": "true"},), "invalid"),
    (({"roomId": {"$gt": ""}, "isTyping": True},), "invalid"),
    ((5, True), "invalid"),
    (("ROOM", True, "extra"), "invalid"),
    (("999999999", True), "not_found"),
    (("no-such-room", True), "not_found"),
    (("STRANGER", True), "forbidden"),
], ids=["string-flag", "number-flag", "null-flag", "no-flag", "object-no-flag", "object-string-flag",
        "operator-room", "number-room", "extra-arg", "unknown-numeric", "unknown-name", "not-member"])
async def test_typing_errors(api, connect, args, code):
    alice, bob, eve = await api.register(), await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    stranger = await api.create_private(bob, eve)
    a, b = await connect(alice), await connect(bob)

    def fill(value):
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return {"ROOM": room["id"], "STRANGER": stranger["id"]}.get(value, value) if isinstance(value, str) else value

    ack = await a.sio.call("SendTypingIndicator", tuple(fill(v) for v in args), namespace="/chat", timeout=WAIT)
    assert_error(ack, code)
    await sync_marker(a, room["id"], [b])
    assert b.events("UserTyping") == []
