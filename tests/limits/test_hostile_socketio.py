"""Hostile Socket.IO clients: lone surrogates, packed polling POSTs, idle and broken connections, slow pollers."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import aiohttp
import pytest
import socketio

from kallemny_sio.config import Limits
from kallemny_sio.keys import SIO
from kallemny_sio.transport import websocket as transport_websocket
from tests.conftest import ChatClient

from .helpers import (WAIT, Polling, ack_of, assert_ack_error, connect_error_message, eio_sid, raw_ws, raw_ws_chat,
                      receive_packet, refused, session_gone, wait_closed, ws_call)


async def _pair(api):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    assert room.status == 201, room
    return alice, bob, room.body["id"]


async def _marker(sender: ChatClient, room_id: str, receivers: list[ChatClient] = ()) -> dict:
    """Send a marker and wait until each receiver has it (so the server served them all since)."""
    ack = await sender.call("SendMessage", {"roomId": room_id, "content": f"marker-{uuid.uuid4().hex}"})
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    for receiver in receivers:
        await receiver.wait_for("ReceiveMessage", lambda d: d.get("id") == ack["message"]["id"])
    return ack["message"]


# -- 16. lone surrogates over Socket.IO ---------------------------------------------------


async def test_lone_surrogates_in_an_event_are_invalid_and_nothing_is_stored(start_server, http_for, clients):
    server = await start_server(Limits.off())
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    a, b = await clients(server, alice), await clients(server, bob)

    # python-socketio's client sends "\ud800" as the JSON escape, as JavaScript does.
    ack = await a.call("SendMessage", {"roomId": room_id, "content": "ab\ud800"})
    assert_ack_error(ack, "invalid")
    assert "content" in ack["error"]["message"], ack
    ack = await a.call("SendMessage", {"roomId": room_id, "content": "fine", "clientMessageId": "id-\udc00"})
    assert_ack_error(ack, "invalid")
    assert "clientMessageId" in ack["error"]["message"], ack
    ack = await a.call("SendMessage", room_id, "plain \ud83d arguments")
    assert_ack_error(ack, "invalid")

    # Control: the same text without the cut character is sent; only it was stored.
    ok = await a.call("SendMessage", {"roomId": room_id, "content": "ab\U0001F600", "clientMessageId": "id-1"})
    assert ok.get("ok") is True and ok["message"]["content"] == "ab\U0001F600", ok
    marker = await _marker(a, room_id, [b])
    stored = await api.messages(bob, room_id)
    assert [m["content"] for m in stored] == ["ab\U0001F600", marker["content"]], stored
    assert [d["content"] for d in b.events("ReceiveMessage")] == ["ab\U0001F600", marker["content"]]


async def test_a_lone_surrogate_token_is_refused_unauthorized(start_server, http_for, clients):
    server = await start_server(Limits.off())
    alice = await http_for(server).register()
    data = await refused(server.url, auth={"token": "\ud800"})
    assert connect_error_message(data) == "unauthorized", data
    data = await refused(server.url, auth={"token": alice.token + "\udfff"})
    assert connect_error_message(data) == "unauthorized", data
    assert (await clients(server, alice)).sio.connected  # control


# -- 17. many packets in one long-polling POST ------------------------------------------------


@pytest.mark.parametrize("count", [18, 100])
async def test_many_events_in_one_polling_post_are_all_acked_and_stored(start_server, http_for, http, count):
    server = await start_server(Limits.off())
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    session = Polling(http, server)
    await session.open()
    answer = await session.connect_chat(alice.token)
    assert answer.startswith("40/chat,"), answer

    contents = [f"packed {n}" for n in range(count)]
    await session.post(*(f"42/chat,{n + 1}" + json.dumps(["SendMessage", {"roomId": room_id, "content": c}])
                         for n, c in enumerate(contents)))

    acks: dict[int, object] = {}

    def all_acked(packets: list[str]) -> bool:
        for packet in packets:
            found = ack_of(packet)
            if found is not None:
                acks[found[0]] = found[1]
        return len(acks) >= count

    await session.until(all_acked, timeout=10)
    assert sorted(acks) == list(range(1, count + 1))
    assert all(isinstance(a, dict) and a.get("ok") is True for a in acks.values()), acks
    assert sorted(acks[n + 1]["message"]["content"] for n in range(count)) == sorted(contents)
    stored = await api.messages(bob, room_id, limit=100)
    assert sorted(m["content"] for m in stored) == sorted(contents)


# -- 18. only /chat ----------------------------------------------------------------------------


async def test_only_the_chat_namespace_accepts_connections(start_server, http_for, clients):
    server = await start_server(Limits.off())
    alice = await http_for(server).register()
    client = socketio.AsyncClient(reconnection=False)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(server.url, namespaces=["/"], auth={"token": alice.token},
                                 transports=["websocket"], wait_timeout=WAIT)
        assert "/" not in client.namespaces
    finally:
        if client.eio.state == "connected":
            await client.eio.disconnect(abort=True)
    for other in ("/admin", "/chat2"):
        await refused(server.url, namespace=other, auth={"token": alice.token})
    assert (await clients(server, alice)).sio.connected  # control: /chat with the same token


# -- 19-21. connections the server ends ------------------------------------------------------------
#
# For each: the server ends the Engine.IO session at once (it no longer holds it, and nothing sent on it
# is served any more), and an innocent client alongside is unaffected; then, separately, the WebSocket
# itself is expected to close within a few seconds.



async def _ended_and_not_served(server, api, ws, bob, room_id, bystander: ChatClient) -> None:
    """The server no longer holds ``ws``'s session, serves nothing sent on it, and still serves ``bystander``."""
    await session_gone(server, eio_sid(ws))
    if not ws.closed:
        try:
            await ws.send_str("42/chat,900" + json.dumps(["SendMessage", {"roomId": room_id, "content": "ghost"}]))
        except (ConnectionError, RuntimeError):
            pass
    await _marker(bystander, room_id, [bystander])
    assert "ghost" not in [m["content"] for m in await api.messages(bob, room_id)]
    assert bystander.sio.connected


async def _unauthenticated(server, http, connect_with):
    idle = await raw_ws(http, server)
    if connect_with is not None:
        await idle.send_str("40/chat," + json.dumps({"token": connect_with}))
        refusal = await receive_packet(idle, lambda p: p.startswith("44/chat,"))
        assert json.loads(refusal[len("44/chat,"):])["message"] == "unauthorized"
    return idle


@pytest.mark.parametrize("connect_with", [None, "not-a-token"], ids=["never-connects", "bad-token"])
async def test_an_unauthenticated_session_is_ended_after_the_timeout(start_server, http_for, http, clients,
                                                                     connect_with):
    server = await start_server(Limits.off(), unauthenticated_timeout_seconds=0.5)
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    authenticated = await raw_ws_chat(http, server, alice.token)  # opened first: its timer fires first
    b = await clients(server, bob)
    loop = asyncio.get_running_loop()
    opened = loop.time()
    idle = await _unauthenticated(server, http, connect_with)
    try:
        assert eio_sid(idle) in server.app[SIO].eio.sockets
        await session_gone(server, eio_sid(idle), timeout=3)
        assert loop.time() - opened >= 0.4  # not before the timeout
        await _ended_and_not_served(server, api, idle, bob, room_id, b)
        # Control: the authenticated one, past its own timeout, is open and served.
        ack = await ws_call(authenticated, 1, "SendMessage", {"roomId": room_id, "content": "still here"})
        assert ack.get("ok") is True, ack
        assert eio_sid(authenticated) in server.app[SIO].eio.sockets
    finally:
        await idle.close()
        await authenticated.close()


async def test_an_unauthenticated_websocket_is_closed_after_the_timeout(start_server, http):
    server = await start_server(Limits.off(), unauthenticated_timeout_seconds=0.5)
    idle = await _unauthenticated(server, http, None)
    try:
        await session_gone(server, eio_sid(idle), timeout=3)  # the session ends ...
        await wait_closed(idle, timeout=3)  # ... and so must the WebSocket
    finally:
        await idle.close()


# -- 20. a binary event whose placeholders do not match ---------------------------------------------


async def _bad_binary(ws, placeholder: int) -> None:
    await ws.send_str('451-/chat,7["SendMessage",{"_placeholder":true,"num":%d}]' % placeholder)
    await ws.send_bytes(b"\x00\x01\x02")


async def test_a_binary_event_with_a_bad_placeholder_ends_that_connection(start_server, http_for, http, clients):
    server = await start_server(Limits.off())
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    b = await clients(server, bob)
    good, bad = await raw_ws_chat(http, server, alice.token), await raw_ws_chat(http, server, alice.token)
    try:
        # Control: a well-formed binary event is answered (bytes are no payload: invalid); the socket stays.
        await _bad_binary(good, 0)
        ack = await receive_packet(good, lambda p: p.startswith("43/chat,7["))
        assert_ack_error(json.loads(ack[len("43/chat,7"):])[0], "invalid")
        assert (await ws_call(good, 8, "SendMessage", {"roomId": room_id, "content": "x"})).get("ok") is True

        await _bad_binary(bad, 5)
        await _ended_and_not_served(server, api, bad, bob, room_id, b)
        assert (await ws_call(good, 9, "SendMessage", {"roomId": room_id, "content": "y"})).get("ok") is True
    finally:
        await good.close()
        await bad.close()


async def test_a_binary_event_with_a_bad_placeholder_closes_the_websocket(start_server, http_for, http):
    server = await start_server(Limits.off())
    alice = await http_for(server).register()
    ws = await raw_ws_chat(http, server, alice.token)
    try:
        await _bad_binary(ws, 5)
        await session_gone(server, eio_sid(ws))
        await wait_closed(ws, timeout=3)
    finally:
        await ws.close()


# -- 21. undecodable packets ------------------------------------------------------------------------------


async def _send_garbage(ws, count: int) -> int:
    sent = 0
    for _ in range(count):
        if ws.closed:
            break
        try:
            await ws.send_str("42/chat,[bad")
        except (ConnectionError, RuntimeError):
            break
        sent += 1
    return sent


async def test_undecodable_packets_end_the_connection_quietly(start_server, http_for, http, clients, caplog):
    caplog.set_level(logging.WARNING)
    server = await start_server(Limits.off())
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    b = await clients(server, bob)
    ws = await raw_ws_chat(http, server, alice.token)
    try:
        assert await _send_garbage(ws, 5) == 5
        # Control: a few bad packets are survived; the same socket is still served.
        assert (await ws_call(ws, 1, "SendMessage", {"roomId": room_id, "content": "after 5"})).get("ok") is True
        await _send_garbage(ws, 195)
        await _ended_and_not_served(server, api, ws, bob, room_id, b)
        await _marker(b, room_id, [b])  # the innocent client keeps getting acks
    finally:
        await ws.close()
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    about_it = [r for r in caplog.records if "undecodable" in r.getMessage().lower()]
    assert 1 <= len(about_it) <= 2, [r.getMessage() for r in about_it]
    assert len(caplog.records) <= 3, [r.getMessage() for r in caplog.records]


async def test_the_connection_ends_after_about_twenty_undecodable_packets(start_server, http_for, http):
    server = await start_server(Limits.off())
    alice = await http_for(server).register()
    ws = await raw_ws_chat(http, server, alice.token)
    try:
        await _send_garbage(ws, 15)
        assert (await ws_call(ws, 1, "JoinChatRoom", "no-such-room")).get("ok") is False  # answered: still served
        assert eio_sid(ws) in server.app[SIO].eio.sockets
        await _send_garbage(ws, 10)
        await session_gone(server, eio_sid(ws))
    finally:
        await ws.close()


async def test_undecodable_packets_close_the_websocket(start_server, http_for, http):
    server = await start_server(Limits.off())
    alice = await http_for(server).register()
    ws = await raw_ws_chat(http, server, alice.token)
    try:
        await _send_garbage(ws, 200)
        await session_gone(server, eio_sid(ws))
        await wait_closed(ws, timeout=3)
    finally:
        await ws.close()


# -- 22. a long-polling session that never polls ---------------------------------------------------------------


async def _flood_until_gone(sender: ChatClient, room_id: str, eio_sockets: dict, sid: str, limit: int) -> int:
    """Send ~3 KB messages until ``sid`` is gone or 4x ``limit`` bytes were sent; the bytes sent."""
    sent = 0
    while sid in eio_sockets and sent < 4 * limit:
        ack = await sender.call("SendMessage", {"roomId": room_id, "content": "y" * 3000})
        assert ack.get("ok") is True, ack
        sent += 3000
    return sent


async def test_a_polling_session_that_never_polls_is_cut_at_slow_consumer_limit(start_server, http_for, http,
                                                                                 clients, monkeypatch):
    monkeypatch.setattr(transport_websocket, "SLOW_CONSUMER_LIMIT", 20_000)
    await _never_polls_is_cut(start_server, http_for, http, clients, 20_000)


async def test_a_polling_session_that_never_polls_is_cut_at_its_bound(start_server, http_for, http, clients,
                                                                      monkeypatch):
    """The same, with the bound set where create_sio applies it (the mechanism, whatever the constant does)."""
    import kallemny_sio.transport as transport

    stock = transport.bound_polling_queues
    monkeypatch.setattr(transport, "bound_polling_queues", lambda eio: stock(eio, limit=20_000))
    await _never_polls_is_cut(start_server, http_for, http, clients, 20_000)


async def _never_polls_is_cut(start_server, http_for, http, clients, limit: int) -> None:
    server = await start_server(Limits.off())
    api = http_for(server)
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    group = await api.create_group(alice, [bob, carol], name="slow")
    room_id = group.body["id"]
    sender = await clients(server, alice)
    eio_sockets = server.app[SIO].eio.sockets

    stalled, polling = Polling(http, server), Polling(http, server)
    for session, who in ((stalled, bob), (polling, carol)):
        await session.open()
        assert (await session.connect_chat(who.token)).startswith("40/chat,")

    # Control: carol's session keeps polling through the same flood and stays.
    received: list[str] = []

    async def keep_polling() -> None:
        while True:
            received.extend(p for p in await polling.get(timeout=30) if "ReceiveMessage" in p)

    poller = asyncio.ensure_future(keep_polling())
    try:
        sent = await _flood_until_gone(sender, room_id, eio_sockets, stalled.sid, limit)
        assert stalled.sid not in eio_sockets, f"still there after {sent} bytes"
        assert sent <= limit + 3 * 3000 + 3000, sent
        async with http.get(stalled.url) as r:
            assert r.status == 400, r.status
        marker = await _marker(sender, room_id)

        async def carol_has_marker() -> None:
            while not any(marker["id"] in p for p in received):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(carol_has_marker(), WAIT)
        assert polling.sid in eio_sockets
        assert sender.sio.connected
    finally:
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
