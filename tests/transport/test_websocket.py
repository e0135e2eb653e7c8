"""The WebSocket fast lane of ``kallemny_sio/transport/websocket.py``.

Covers: the installed python-engineio and aiohttp are those the module was
written for; a WebSocket-only client and a long-polling client that upgrades
are both served by the fast lane; the stock engineio path when
permessage-deflate is negotiated or the lane is turned off; packets pushed in
one loop turn go out in one write and arrive intact, in order, one WebSocket
message each (every frame-length encoding, text and binary); a client that
stops reading is moved to the backlog and cut past ``SLOW_CONSUMER_LIMIT``;
pings come from timers (no ``_send_ping`` task) and a client that stops
answering them is closed.

The clients are raw: aiohttp's WebSocket client speaking Engine.IO and
Socket.IO packets by hand, or a bare TCP socket that stops reading after the
handshake. The server runs in this process, so the tests reach its engineio
sockets through ``server.app[SIO].eio.sockets``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket as socketlib
from typing import Any, Callable

import aiohttp
import pytest
from engineio import packet as eio_packet

from kallemny_sio.transport import websocket as websocket_transport
from kallemny_sio.keys import SIO
from kallemny_sio.transport.websocket import FastLane, _frame, fast_lane_unavailable

from tests.events.helpers import WAIT, marker_text, send

# -- raw clients ---------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ws_url(server: Any, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket" + query


async def receive_text(ws: aiohttp.ClientWebSocketResponse, timeout: float = WAIT) -> str:
    """The next text message that is not a PING (PINGs are answered on the way)."""
    async def _next() -> str:
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, f"the connection ended: {msg}"
            if msg.data != "2":
                return msg.data
            await ws.send_str("3")
    return await asyncio.wait_for(_next(), timeout)


async def receive_matching(ws: aiohttp.ClientWebSocketResponse, prefix: str) -> str:
    """The first text message starting with ``prefix`` (others, such as presence events, skipped)."""
    async def _next() -> str:
        while not (text := await receive_text(ws)).startswith(prefix):
            pass
        return text
    return await asyncio.wait_for(_next(), WAIT)


async def open_engineio(http: aiohttp.ClientSession, server: Any, token: str,
                        **kwargs: Any) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """A WebSocket-only Engine.IO connection; returns it and the OPEN packet's data."""
    ws = await http.ws_connect(ws_url(server), headers=bearer(token), **kwargs)
    first = await receive_text(ws)
    assert first.startswith("0{"), first
    return ws, json.loads(first[1:])


async def join_chat(ws: aiohttp.ClientWebSocketResponse) -> str:
    """Socket.IO CONNECT to ``/chat`` (the token is the handshake's header); returns the Socket.IO sid."""
    await ws.send_str("40/chat,")
    reply = await receive_matching(ws, "40/chat,")
    assert reply.startswith("40/chat,{"), reply
    return json.loads(reply[len("40/chat,"):])["sid"]


async def raw_ack(ws: aiohttp.ClientWebSocketResponse, ack_id: int, data: list[Any]) -> Any:
    """An event with an ack id over a raw connection; returns the ack's data."""
    await ws.send_str(f"42/chat,{ack_id}" + json.dumps(data))
    reply = await receive_matching(ws, f"43/chat,{ack_id}[")
    return json.loads(reply[len(f"43/chat,{ack_id}"):])[0]


async def assert_served(ws: aiohttp.ClientWebSocketResponse, ack_id: int = 1) -> None:
    """The connection reads and answers: an unknown event gets its ``not_found`` ack."""
    ack = await raw_ack(ws, ack_id, ["NoSuchEvent"])
    assert ack["ok"] is False and ack["error"]["code"] == "not_found", ack


async def open_tcp_websocket(server: Any, token: str) -> socketlib.socket:
    """A WebSocket handshake over a bare TCP socket with a tiny receive buffer.

    Reads the 101 response byte by byte, so nothing past it is consumed; the
    caller then does not read, and the server's writes pile up.
    """
    loop = asyncio.get_running_loop()
    sock = socketlib.socket()
    sock.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", server.settings.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                   f"Host: 127.0.0.1:{server.settings.port}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   f"Authorization: Bearer {token}\r\n\r\n")
        await loop.sock_sendall(sock, request.encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            byte = await asyncio.wait_for(loop.sock_recv(sock, 1), WAIT)
            assert byte, head
            head += byte
        assert head.startswith(b"HTTP/1.1 101"), head
        return sock
    except BaseException:
        sock.close()
        raise


async def read_to_end(sock: socketlib.socket, timeout: float = 10) -> tuple[bytes, bool]:
    """Everything left on ``sock`` until the server ends the connection; and whether it was a reset."""
    loop = asyncio.get_running_loop()
    sock.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_RCVBUF, 1 << 20)
    chunks: list[bytes] = []

    async def _read() -> bool:
        while True:
            try:
                chunk = await loop.sock_recv(sock, 1 << 20)
            except ConnectionResetError:
                return True
            if not chunk:
                return False
            chunks.append(chunk)

    reset = await asyncio.wait_for(_read(), timeout)
    return b"".join(chunks), reset


def parse_frames(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Unmasked server frames as ``(opcode, payload)``, and an incomplete tail."""
    frames, i = [], 0
    while len(data) - i >= 2:
        first, n, j = data[i], data[i + 1] & 0x7F, i + 2
        assert first & 0x80 and not data[i + 1] & 0x80, f"not a final unmasked frame at {i}"
        if n >= 126:
            width = 2 if n == 126 else 8
            if len(data) - j < width:
                break
            n, j = int.from_bytes(data[j:j + width], "big"), j + width
        if len(data) - j < n:
            break
        frames.append((first & 0x0F, data[j:j + n]))
        i = j + n
    return frames, data[i:]


# -- the server side -----------------------------------------------------------


async def eventually(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll a condition that has no event to await, for at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := condition()):
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)
    return value


def engine_socket(server: Any, eio_sid: str) -> Any:
    return server.app[SIO].eio.sockets[eio_sid]


def lane_of(server: Any, eio_sid: str) -> FastLane | None:
    return getattr(engine_socket(server, eio_sid), "kallemny_lane", None)


async def only_lane(server: Any) -> FastLane:
    """The fast lane of the server's one connection, once it runs."""
    def lane() -> FastLane | None:
        sockets = list(server.app[SIO].eio.sockets.values())
        return getattr(sockets[0], "kallemny_lane", None) if len(sockets) == 1 else None
    return await eventually(lane, "the connection's fast lane")


def send_ping_tasks() -> list[asyncio.Task[Any]]:
    """Live tasks running engineio's ``AsyncSocket._send_ping`` (the stock way to ping)."""
    return [t for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "").endswith("_send_ping") and not t.done()]


class CountingTransport:
    """Stands in for a lane's transport, recording every write before passing it on."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


# -- the libraries -------------------------------------------------------------


def test_fast_lane_is_available_with_the_installed_libraries() -> None:
    """The installed python-engineio and aiohttp are as the module expects.

    This is the test that fails when an upgrade of either library leaves the
    supported version ranges or moves an internal the fast lane relies on:
    the server would then quietly fall back to the stock engineio transport.
    """
    assert fast_lane_unavailable() is None


# -- which path a connection takes -----------------------------------------------


async def test_websocket_client_is_served_by_the_fast_lane(server, api, http):
    """A WebSocket-only client gets OPEN and the ``/chat`` CONNECT reply over a ``FastLane``."""
    alice = await api.register()
    ws, opened = await open_engineio(http, server, alice.token)
    try:
        assert opened["upgrades"] == []
        socket = engine_socket(server, opened["sid"])
        lane = lane_of(server, opened["sid"])
        assert isinstance(lane, FastLane) and lane.socket is socket
        assert socket.send == lane.send and socket.connected and socket.upgraded
        sid = await join_chat(ws)
        assert server.app[SIO].manager.is_connected(sid, "/chat")
        await assert_served(ws)
        assert not lane.dead and lane.drain_task is None
    finally:
        await ws.close()


async def test_an_idle_lane_connection_holds_no_http_leftovers(server, api, http):
    """Once connected: aiohttp's HTTP parser and request queue are released, the handshake environ is cut
    down to what authentication reads, and the read loop holds no packet."""
    alice = await api.register()
    ws, opened = await open_engineio(http, server, alice.token)
    try:
        await join_chat(ws)
        lane = lane_of(server, opened["sid"])
        protocol = lane.ws._req.protocol
        assert protocol._parser is None and len(protocol._messages) == 0
        sio = server.app[SIO]
        environ = sio.environ[opened["sid"]]
        assert set(environ) <= {"QUERY_STRING", "HTTP_AUTHORIZATION"}, sorted(environ)
        assert environ["HTTP_AUTHORIZATION"] == f"Bearer {alice.token}"
        await assert_served(ws)  # still works after all that
    finally:
        await ws.close()


async def test_polling_client_upgrades_onto_the_fast_lane(server, api, http, connect):
    """Long-polling handshake, probe and upgrade by hand: the socket ends on the lane and still works."""
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    b = await connect(bob)
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    async with http.get(base, headers=bearer(alice.token)) as r:
        assert r.status == 200
        body = await r.text()
    assert body.startswith("0{"), body
    opened = json.loads(body[1:])
    assert "websocket" in opened["upgrades"]
    eio_sid = opened["sid"]
    polling = f"{base}&sid={eio_sid}"
    async with http.post(polling, data="40/chat,") as r:
        assert r.status == 200, await r.text()
    async with http.get(polling) as r:
        packets = (await r.text()).split("\x1e")
    assert any(p.startswith("40/chat,{") for p in packets), packets
    assert not hasattr(engine_socket(server, eio_sid), "kallemny_lane")

    async def poll() -> str:
        async with http.get(polling) as r:
            assert r.status == 200
            return await r.text()

    pending_poll = asyncio.ensure_future(poll())
    ws = await http.ws_connect(ws_url(server, f"&sid={eio_sid}"))
    try:
        await ws.send_str("2probe")
        assert await receive_text(ws) == "3probe"
        assert await asyncio.wait_for(pending_poll, WAIT) == "6"  # the NOOP that ends the pending poll
        await ws.send_str("5")
        socket = engine_socket(server, eio_sid)
        lane = await eventually(lambda: getattr(socket, "kallemny_lane", None), "the lane after the upgrade")
        assert isinstance(lane, FastLane) and socket.upgraded and not socket.upgrading
        # Bob's message reaches Alice over the upgraded socket...
        message = await send(b, room["id"], marker_text())
        received = await receive_matching(ws, '42/chat,["ReceiveMessage",')
        assert json.loads(received[len("42/chat,"):]) == ["ReceiveMessage", message]
        # ...and Alice's send over it reaches Bob.
        ack = await raw_ack(ws, 1, ["SendMessage", {"roomId": room["id"], "content": "over the lane"}])
        assert ack["ok"] is True, ack
        await b.wait_for("ReceiveMessage", lambda d: d["id"] == ack["message"]["id"], timeout=WAIT)
    finally:
        pending_poll.cancel()
        await ws.close()


@pytest.mark.server_settings(websocket_compression=True)
async def test_negotiated_compression_takes_the_stock_path(server, api, http):
    """permessage-deflate negotiated: stock engineio path, and the connection works end to end."""
    alice = await api.register()
    ws, opened = await open_engineio(http, server, alice.token, compress=15)
    plain, plain_opened = await open_engineio(http, server, alice.token)
    try:
        assert "permessage-deflate" in ws._response.headers.get("Sec-WebSocket-Extensions", "")
        assert not hasattr(engine_socket(server, opened["sid"]), "kallemny_lane")
        await join_chat(ws)
        await assert_served(ws)
        # On the same server, a client that offers no compression is on the lane.
        assert isinstance(lane_of(server, plain_opened["sid"]), FastLane)
        await join_chat(plain)
        await assert_served(plain)
    finally:
        await ws.close()
        await plain.close()


@pytest.mark.server_settings(websocket_compression=True)
async def test_stock_path_socket_is_pinged_through_the_timer(server, api, http):
    """A stock-path (compressed) socket gets its PINGs from the timer's queue fallback, not a task."""
    sio = server.app[SIO]
    sio.eio.ping_interval = 0.2
    alice = await api.register()
    ws, opened = await open_engineio(http, server, alice.token, compress=15)
    try:
        socket = engine_socket(server, opened["sid"])
        assert not hasattr(socket, "kallemny_lane")
        for _ in range(2):
            assert await ws.receive_str(timeout=WAIT) == "2"
            await ws.send_str("3")
            await eventually(lambda: socket.last_ping is None, "the PONG to be handled")
            assert send_ping_tasks() == []
        await join_chat(ws)
    finally:
        await ws.close()


@pytest.mark.server_settings(websocket_fast_lane=False)
async def test_fast_lane_can_be_turned_off(server, api, http, connect):
    """``websocket_fast_lane=False``: no socket gets a lane, stock pings, and both transports work."""
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    ws, opened = await open_engineio(http, server, alice.token)
    try:
        await join_chat(ws)
        await assert_served(ws)
        b = await connect(bob, transports=["polling", "websocket"])
        assert b.sio.eio.current_transport == "websocket"
        sockets = list(server.app[SIO].eio.sockets.values())
        assert len(sockets) == 2 and not any(hasattr(s, "kallemny_lane") for s in sockets)
        assert "start_background_task" not in vars(server.app[SIO].eio)  # ping timers not installed
        message = await send(b, room["id"], marker_text())
        received = await receive_matching(ws, '42/chat,["ReceiveMessage",')
        assert json.loads(received[len("42/chat,"):]) == ["ReceiveMessage", message]
    finally:
        await ws.close()


# -- writing -------------------------------------------------------------------


async def test_emits_of_one_loop_turn_go_in_one_write_and_arrive_in_order(server, api, http):
    """50 emits without yielding: nothing written until the turn ends, then one write, 50 messages in order."""
    alice = await api.register()
    ws, opened = await open_engineio(http, server, alice.token)
    try:
        sid = await join_chat(ws)
        lane = lane_of(server, opened["sid"])
        counting = CountingTransport(lane.transport)
        lane.transport = counting
        sio = server.app[SIO]
        for i in range(50):
            await sio.emit("X", {"i": i, "pad": "p" * i * 7}, to=sid, namespace="/chat")
        assert counting.writes == [] and len(lane.pending) == 50
        received = [await receive_text(ws) for _ in range(50)]
        assert [json.loads(r[len("42/chat,"):]) for r in received] == [
            ["X", {"i": i, "pad": "p" * i * 7}] for i in range(50)]
        assert len(counting.writes) == 1 and lane.pending == []
    finally:
        await ws.close()


async def test_frames_of_every_length_encoding_arrive_intact(server, api, http):
    """Text and binary packets across the 7-bit, 16-bit and 64-bit length boundaries, joined in one write."""
    alice = await api.register()
    ws, opened = await open_engineio(http, server, alice.token)
    try:
        lane = lane_of(server, opened["sid"])
        counting = CountingTransport(lane.transport)
        lane.transport = counting
        # Engine.IO MESSAGE text is "4" + data: these lengths put the payload at
        # 1, 125, 126, 65535, 65536 and 200001 bytes.
        texts = ["", "a" * 124, "b" * 125, "c" * 65534, "d" * 65535, "e" * 200_000,
                 "é" * 63,  # 63 characters, 126 bytes: the length is counted in bytes
                 "中文 👋🏽" * 5000]
        blobs = [b"", bytes(range(125)), bytes(126), os.urandom(65535), os.urandom(65536), os.urandom(70_000)]
        packets = [eio_packet.Packet(eio_packet.MESSAGE, t) for t in texts]
        packets += [eio_packet.Packet(eio_packet.MESSAGE, b) for b in blobs]
        shared = packets[1]
        for pkt in packets + [shared]:  # the same packet twice: framed once, sent twice
            await lane.send(pkt)
        assert counting.writes == []
        expected = [(aiohttp.WSMsgType.TEXT, "4" + t) for t in texts]
        expected += [(aiohttp.WSMsgType.BINARY, b) for b in blobs]
        expected.append((aiohttp.WSMsgType.TEXT, "4" + texts[1]))
        received = []
        for _ in expected:
            msg = await ws.receive(timeout=WAIT)
            received.append((msg.type, msg.data))
        assert received == expected
        assert len(counting.writes) == 1
        assert shared.kallemny_frame is _frame(shared)
    finally:
        await ws.close()


# -- a client that does not read ---------------------------------------------------

SMALL_LIMIT = 256 * 1024


async def fill_until_cut(lane: FastLane, frame: bytes, max_pushes: int = 4000) -> tuple[int, bool]:
    """Push ``frame`` once per loop turn until the lane is cut; returns the pushes and whether it drained."""
    pushes, drained = 0, False
    while not lane.dead and pushes < max_pushes:
        lane.push(frame)
        pushes += 1
        await asyncio.sleep(0)  # the flush runs
        drained = drained or lane.drain_task is not None
    return pushes, drained


async def test_slow_consumer_is_backlogged_then_cut(server, api, http, monkeypatch):
    """A client that stops reading: drain mode, then cut past the limit; it gets whole frames, others go on."""
    monkeypatch.setattr(websocket_transport, "SLOW_CONSUMER_LIMIT", SMALL_LIMIT)
    alice = await api.register()
    sock = await open_tcp_websocket(server, alice.token)
    try:
        lane = await only_lane(server)
        payload = "x" * 65536
        frame = _frame(eio_packet.Packet(eio_packet.MESSAGE, payload))
        pushes, drained = await fill_until_cut(lane, frame)
        assert drained, "the lane never went to drain mode"
        assert lane.dead, f"still not cut after {pushes} frames of 64 KiB"
        assert lane.backlog == [] and lane.transport.is_closing()
        # The server goes on serving others.
        other, _ = await open_engineio(http, server, alice.token)
        try:
            await join_chat(other)
            await assert_served(other)
        finally:
            await other.close()
        # Reading now, the client finds the frames it was sent, whole and in
        # order (OPEN, then 64 KiB messages, fewer than were pushed: the backlog
        # was dropped), perhaps a cut-off last one, then the end of the connection.
        data, _reset = await read_to_end(sock)
        frames, _tail = parse_frames(data)
        if frames:
            assert frames[0][0] == 0x1 and frames[0][1].startswith(b"0{"), frames[:1]
        assert frames[1:] == [(0x1, ("4" + payload).encode())] * len(frames[1:])
        assert len(frames) - 1 < pushes
    finally:
        sock.close()


@pytest.mark.parametrize("cut_by", ["limit", "pong"])
async def test_cut_connection_is_released_without_the_client_reading(server, api, monkeypatch, cut_by):
    """A lane cut while its client is not reading lets go of the connection on the server side."""
    monkeypatch.setattr(websocket_transport, "SLOW_CONSUMER_LIMIT", SMALL_LIMIT)
    monkeypatch.setattr(websocket_transport, "PONG_GRACE", 0.1, raising=False)
    alice = await api.register()
    sock = await open_tcp_websocket(server, alice.token)
    try:
        lane = await only_lane(server)
        frame = _frame(eio_packet.Packet(eio_packet.MESSAGE, "x" * 65536))
        if cut_by == "limit":
            await fill_until_cut(lane, frame)
        else:
            # Unread frames above the high-water mark (well under the limit), then a ping left unanswered.
            for _ in range(4000):
                if lane.drain_task is not None:
                    break
                lane.push(frame)
                await asyncio.sleep(0)
            assert lane.drain_task is not None and not lane.dead
            server.app[SIO].eio.ping_timeout = 0.2
            lane.ping_due()
            await eventually(lambda: lane.dead, "the unanswered ping to cut the lane", 3)
        assert lane.dead
        # aiohttp's protocol sees connection_lost: the server has let go of the socket.
        await eventually(lambda: lane.protocol.transport is None, "the server to release the connection", 2)
        await eventually(lambda: lane.drain_task is None, "the drain task to end", 1)
    finally:
        sock.close()


# -- pings -----------------------------------------------------------------------


async def test_pings_come_from_timers_and_a_silent_client_is_closed(server, api, http, monkeypatch):
    """PINGs keep coming while answered, with no ``_send_ping`` task; unanswered, the server closes."""
    sio = server.app[SIO]
    sio.eio.ping_interval, sio.eio.ping_timeout = 0.2, 0.3
    monkeypatch.setattr(websocket_transport, "PONG_GRACE", 0.2, raising=False)
    grace = getattr(websocket_transport, "PONG_GRACE", 0)
    alice = await api.register()
    loop = asyncio.get_running_loop()
    ws = await http.ws_connect(ws_url(server), headers=bearer(alice.token))
    try:
        first = await ws.receive_str(timeout=WAIT)
        assert first.startswith("0{"), first
        socket = engine_socket(server, json.loads(first[1:])["sid"])
        assert isinstance(getattr(socket, "kallemny_lane", None), FastLane)
        await ws.send_str("40/chat,")
        pings: list[float] = []
        connected = False
        while len(pings) < 4 or not connected:
            text = await ws.receive_str(timeout=WAIT)
            if text.startswith("40/chat,{"):
                connected = True
            elif text == "2":
                pings.append(loop.time())
                await ws.send_str("3")
                await eventually(lambda: socket.last_ping is None, "the PONG to be handled")
                assert send_ping_tasks() == []
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.1 < gap < 1.5 for gap in gaps), gaps
        # Stop answering: the next PING goes unanswered, and the server closes.
        while await ws.receive_str(timeout=WAIT) != "2":
            pass
        unanswered = loop.time()
        while (msg := await ws.receive(timeout=WAIT)).type is aiohttp.WSMsgType.TEXT:
            assert msg.data in ("1", "6"), msg  # nothing but CLOSE/NOOP after an unanswered PING
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
        assert 0.15 < loop.time() - unanswered < 0.3 + grace + 1.0, loop.time() - unanswered
        await eventually(lambda: socket.closed, "the engineio socket to close")
        assert send_ping_tasks() == []
    finally:
        await ws.close()


async def test_a_ping_outstanding_at_the_upgrade_still_times_out(server, api, http, monkeypatch):
    """A ping sent over polling and never answered: once upgraded to the lane, the silent client is dropped.

    The lane's read loop waits without a timeout, so the lane must arm the pong
    deadline of a ping that went out before it existed.
    """
    monkeypatch.setattr(websocket_transport, "PONG_GRACE", 0.1)
    sio = server.app[SIO]
    monkeypatch.setattr(sio.eio, "ping_interval", 0.3)
    monkeypatch.setattr(sio.eio, "ping_timeout", 0.3)
    alice = await api.register()
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    async with http.get(base, headers=bearer(alice.token)) as r:
        opened = json.loads((await r.text())[1:])
    eio_sid = opened["sid"]
    polling = f"{base}&sid={eio_sid}"
    async with http.post(polling, data="40/chat,") as r:
        assert r.status == 200
    got_ping = False
    while not got_ping:  # each long-poll returns when a packet is queued; the PING comes within 0.3 s
        async with http.get(polling) as r:
            got_ping = "2" in (await r.text()).split("\x1e")
    socket = engine_socket(server, eio_sid)
    assert socket.last_ping
    ws = await http.ws_connect(ws_url(server, f"&sid={eio_sid}"))
    try:
        await ws.send_str("2probe")
        assert (await ws.receive_str(timeout=WAIT)) == "3probe"
        await ws.send_str("5")
        lane = await eventually(lambda: getattr(socket, "kallemny_lane", None), "lane")
        msg = await ws.receive(timeout=WAIT)
        while msg.type is aiohttp.WSMsgType.TEXT:  # never answered: the server must hang up
            msg = await ws.receive(timeout=WAIT)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert lane.dead
    finally:
        await ws.close()
