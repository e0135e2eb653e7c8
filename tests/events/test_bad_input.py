"""Malformed events: an error ack where the client asked for one, and nobody else notices.

Contract section 4: a malformed event (wrong types, unknown room, oversize
payload, unknown event name) gets an ``invalid``/``not_found`` ack where the
client asked for one and never disconnects other clients or stops the server.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from .helpers import WAIT, assert_error, count, send, sync_marker

EVENTS = ["SendMessage", "JoinChatRoom", "LeaveChatRoom", "SendTypingIndicator", "MarkMessagesAsRead"]
TRANSPORTS = [pytest.param(["websocket"], id="websocket"), pytest.param(["polling"], id="polling")]


@pytest.fixture
async def pair(api, connect):
    """Alice and Bob connected, with their private room."""
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    return alice, bob, room, await connect(alice), await connect(bob)


async def raw_call(client: Any, event: str, args: tuple[Any, ...]) -> Any:
    """Emit ``event`` with exactly ``args`` (none at all for ``()``) and return the ack."""
    return await client.sio.call(event, args, namespace="/chat", timeout=WAIT)


@pytest.mark.parametrize("event", ["NoSuchEvent", "sendMessage", "SendMessage ", "sendmessage", "", "connect_error",
                                   "ReceiveMessage", "message"])
async def test_unknown_event_is_not_found(pair, event):
    alice, bob, room, a, b = pair
    assert_error(await raw_call(a, event, ({"roomId": room["id"], "content": "x"},)), "not_found")
    assert_error(await raw_call(a, event, ()), "not_found")
    await a.sio.emit(event, {"roomId": room["id"]}, namespace="/chat")  # without an ack: silently ignored
    await sync_marker(a, room["id"], [a, b])
    assert [d for d in b.events("ReceiveMessage") if d["content"] == "x"] == []


@pytest.mark.parametrize("event", ["connect", "disconnect"])
async def test_lifecycle_event_names_sent_by_a_client_are_just_unknown_events(pair, api, event):
    """A client cannot fake its own connect or disconnect by emitting an event with that name."""
    alice, bob, room, a, b = pair
    payload = {"token": alice.token} if event == "connect" else "client namespace disconnect"
    assert_error(await raw_call(a, event, (payload,)), "not_found")
    assert_error(await raw_call(a, event, ()), "not_found")
    # The connection is still alice's, still counted online, still served.
    message = await send(a, room["id"], "still here")
    assert message["senderId"] == alice.id
    await sync_marker(a, room["id"], [a, b])
    assert count(b, "UserOffline", userId=alice.id) == 0
    status, users = await api.request("GET", "/api/chat/users", token=bob.token, params={"q": alice.username})
    assert status == 200 and [u["isOnline"] for u in users if u["id"] == alice.id] == [True], users


@pytest.mark.parametrize("event", EVENTS)
async def test_no_payload_is_invalid(pair, event):
    alice, bob, room, a, b = pair
    assert_error(await raw_call(a, event, ()), "invalid")
    assert_error(await raw_call(a, event, ({},)), "invalid")


@pytest.mark.parametrize("event, args", [
    ("SendMessage", ("ROOM", "content", "client-id", "extra")),
    ("SendMessage", ({"roomId": "ROOM", "content": "x"}, "extra")),
    ("JoinChatRoom", ("ROOM", "extra")),
    ("JoinChatRoom", ({"roomId": "ROOM"}, {"roomId": "ROOM"})),
    ("LeaveChatRoom", ("ROOM", "extra")),
    ("SendTypingIndicator", ("ROOM", True, "extra")),
    ("SendTypingIndicator", ({"roomId": "ROOM", "isTyping": True}, True)),
    ("MarkMessagesAsRead", ("ROOM", None, "extra")),
], ids=lambda v: v if isinstance(v, str) else str(len(v)))
async def test_too_many_arguments_is_invalid(pair, event, args):
    alice, bob, room, a, b = pair
    filled = tuple(room["id"] if v == "ROOM" else ({**v, "roomId": room["id"]} if isinstance(v, dict) else v)
                   for v in args)
    assert_error(await raw_call(a, event, filled), "invalid")
    await sync_marker(a, room["id"], [b])
    assert b.events("UserTyping") == [] and b.events("MessagesRead") == []


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("payload", [
    42, 4.5, True, "", ["ROOM"], [], b"\x00\x01binary", {"roomId": b"bytes"}, {"roomId": ["ROOM"]},
    {"roomId": {"$gt": ""}}, {"roomId": {"$where": "1"}}, {"roomId": 1e300}, {"RoomId": "ROOM"},
], ids=["int", "float", "bool", "empty-string", "list", "empty-list", "bytes", "bytes-room", "list-room",
        "gt-room", "where-room", "huge-number-room", "wrong-case-key"])
async def test_wrong_types_are_invalid(pair, api, event, payload):
    alice, bob, room, a, b = pair

    def fill(v: Any) -> Any:
        if v == "ROOM":
            return room["id"]
        if isinstance(v, dict):
            return {k: fill(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fill(x) for x in v]
        return v

    ack = await raw_call(a, event, (fill(payload),))
    assert_error(ack, "invalid")
    assert (await api.history(bob, room["id"]))["messages"] == []


async def test_content_over_the_limit_but_under_the_socket_limit_is_invalid(pair, api):
    alice, bob, room, a, b = pair
    assert_error(await a.call("SendMessage", room["id"], "x" * 100_000), "invalid")
    assert a.sio.connected
    await sync_marker(a, room["id"], [a, b])
    assert [m["content"] for m in (await api.history(bob, room["id"]))["messages"]][0].startswith("marker-")


async def oversize_closes_only_that_connection(api, connect, transports: list[str], size: int) -> None:
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    big = await connect(alice, transports=transports)
    other_device, b = await connect(alice), await connect(bob, transports=transports)
    closed = asyncio.Event()
    big.sio.on("disconnect", lambda *reason: closed.set(), namespace="/chat")

    await big.sio.emit("SendMessage", {"roomId": room["id"], "content": "x" * size}, namespace="/chat")
    await asyncio.wait_for(closed.wait(), WAIT)
    assert not big.sio.connected

    # Everyone else carries on, the oversize message was never stored, and new connections are served.
    await sync_marker(other_device, room["id"], [other_device, b])
    await sync_marker(b, room["id"], [other_device, b])
    assert all(len(m["content"]) < 4001 for m in (await api.history(bob, room["id"]))["messages"])
    again = await connect(alice, transports=transports)
    await sync_marker(again, room["id"], [again, other_device, b])


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_oversize_payload_closes_only_that_connection(api, connect, transports):
    await oversize_closes_only_that_connection(api, connect, transports, 300_000)


@pytest.mark.server_settings(max_socket_payload_bytes=32 * 1024)
async def test_socket_payload_limit_is_the_setting(api, connect):
    await oversize_closes_only_that_connection(api, connect, ["websocket"], 40_000)


# -- packets no Socket.IO client would send ------------------------------------

GARBAGE = [
    "42/chat,[",                                    # truncated JSON
    "42/chat,5",                                    # an event without data
    '42/chat,6{"a":1}',                             # data not an array
    '42/chat,7["SendMessage"',                      # truncated, with an ack id
    "42/chat,8[]",                                  # an event without a name
    "42/chat,9[" + "[" * 5000 + "]" * 5000 + "]",   # nested beyond the parser's depth limit
    '42/chat,10["SendMessage","\\ud800"]',          # a lone surrogate, escaped
    '42/nowhere,11["SendMessage",{}]',              # a namespace that does not exist
    "41/nowhere,",                                  # leaving a namespace never joined
    "4Z",                                           # an unknown packet type
    "9",                                            # an unknown Engine.IO packet type
]


async def open_raw(http: aiohttp.ClientSession, server: Any, token: str) -> aiohttp.ClientWebSocketResponse:
    """A bare Engine.IO WebSocket connected to ``/chat``."""
    ws = await http.ws_connect(server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket")
    assert (await ws.receive_str(timeout=WAIT)).startswith("0")
    await ws.send_str("40/chat," + json.dumps({"token": token}))
    assert (await ws.receive_str(timeout=WAIT)).startswith("40/chat,")
    return ws


async def raw_ack(ws: aiohttp.ClientWebSocketResponse, ack_id: int, data: list[Any]) -> Any:
    """Send an event packet with an ack id over a bare socket and return the ack's data."""
    await ws.send_str(f"42/chat,{ack_id}" + json.dumps(data))

    async def receive() -> Any:
        while True:
            frame = await ws.receive_str()
            if frame == "2":
                await ws.send_str("3")
            elif frame.startswith(f"43/chat,{ack_id}["):
                return json.loads(frame[len(f"43/chat,{ack_id}"):])[0]

    return await asyncio.wait_for(receive(), WAIT)


async def test_garbage_packets_break_nothing(server, api, connect, http):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    b = await connect(bob)
    ws = await open_raw(http, server, alice.token)
    try:
        for number, garbage in enumerate(GARBAGE):
            await ws.send_str(garbage)
            # The same bare socket is still served after each bad packet.
            ack = await raw_ack(ws, 1000 + number, ["SendMessage", {"roomId": room["id"], "content": f"ok {number}"}])
            assert ack["ok"] is True, (garbage, ack)
            await b.wait_for("ReceiveMessage", lambda d, m=ack["message"]: d["id"] == m["id"], timeout=WAIT)
        await ws.send_bytes(b"\x00\xff not a packet")
        await ws.send_str("")
    finally:
        await ws.close()
    a = await connect(alice)
    await sync_marker(b, room["id"], [a, b])
    await sync_marker(a, room["id"], [a, b])


async def test_after_all_the_bad_input_the_server_still_serves(pair, api, connect):
    alice, bob, room, a, b = pair
    for event in EVENTS + ["NoSuchEvent"]:
        for args in [(), (None,), ({"roomId": {"$gt": ""}},), (room["id"], 1, 2, 3), (b"\xff",)]:
            ack = await raw_call(a, event, args)
            assert isinstance(ack, dict) and ack["ok"] is False, (event, args, ack)
    assert_error(await a.call("SendMessage", room["id"], "x" * 4001), "invalid")
    assert_error(await a.call("JoinChatRoom", "999999999"), "not_found")
    message = await send(a, room["id"], "a normal message")
    assert await b.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT) == message
    carol = await api.register()
    c = await connect(carol, transports=["polling"])
    group = await api.create_group(carol, [alice, bob], name="after")
    await sync_marker(c, group["id"], [a, b, c])
