"""Engine.IO's WebSocket transport on aiohttp, tuned: the one module that reaches into internals.

python-engineio runs every WebSocket connection with a writer task fed by an
``asyncio.Queue``, a task plus ``wait_for`` per incoming frame and a sleeping
task per connection for the next ping; each outgoing packet becomes its own
``transport.write``. Under chat load those costs dominate the server. This
module changes, for one engineio server instance:

- **compression**: aiohttp accepts permessage-deflate whenever a client offers
  it (browsers always do), which costs about 4x the memory and much CPU for
  chat-sized frames. Declined unless the ``WEBSOCKET_COMPRESSION`` setting
  turns it on.
- **direct writes** (the "fast lane"): a packet for a WebSocket connection is
  framed once (the frame is cached on the packet, so a room emit frames it once
  for all recipients) and appended to the connection's pending frames; the
  frames pending for one connection are joined into one ``transport.write``
  at the end of the loop turn. No writer task, no queue.
- **read loop**: ``WebSocketResponse.receive()`` directly, without a task,
  ``wait_for`` or timeout per frame; a client that leaves a ping unanswered
  for the ping timeout is dropped by a timer instead. An undecodable frame
  closes the connection with one log line instead of a traceback.
- **pings**: a timer handle per connection instead of a task sleeping for the
  ping interval.

Fallbacks to the stock path: compression negotiated (aiohttp must frame and
compress), or the structure below not as written for (checked once, logged).
A slow consumer (the transport's buffer above its high-water mark) gets its
frames through aiohttp's own flow control: they wait in the connection's
backlog while a task awaits the transport draining; a client that lets more
than ``SLOW_CONSUMER_LIMIT`` bytes pile up is disconnected (it reconnects and
pages history; nothing acknowledged is lost, and no frame is silently skipped).

Written for python-engineio 4.12-4.15 and aiohttp 3.10-3.14 (``setup.cfg`` pins
them); ``tests/transport/test_websocket.py`` fails when an upgrade
breaks an assumption, so the fast lane never silently turns itself off.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import struct
import time
from importlib.metadata import version
from typing import Any

log = logging.getLogger(__name__)

SUPPORTED_ENGINEIO = ((4, 12), (4, 15))
SUPPORTED_AIOHTTP = ((3, 10), (3, 14))
SLOW_CONSUMER_LIMIT = 8 * 1024 * 1024
PONG_GRACE = 1.0

_OP_TEXT, _OP_BINARY = 0x1, 0x2
_HEADER_16 = struct.Struct("!BBH").pack
_HEADER_64 = struct.Struct("!BBQ").pack


def _minor(dist: str) -> tuple[int, int]:
    major, minor = version(dist).split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def fast_lane_unavailable() -> str | None:
    """Why the fast lane cannot run with the installed libraries, or ``None``."""
    try:
        return _check_libraries()
    except Exception as exc:  # a check that cannot even run is a reason too
        return f"check failed: {exc!r}"


def _check_libraries() -> str | None:
    try:
        from aiohttp import web_ws
        from aiohttp._websocket.writer import WebSocketWriter
        from aiohttp.base_protocol import BaseProtocol
        from aiohttp.web_protocol import RequestHandler
        from engineio import async_socket, packet
        from engineio.async_drivers import aiohttp as driver
    except ImportError as exc:  # pragma: no cover - a library reorganised
        return f"import failed: {exc}"
    for dist, (low, high) in (("python-engineio", SUPPORTED_ENGINEIO), ("aiohttp", SUPPORTED_AIOHTTP)):
        found = _minor(dist)
        if not low <= found <= high:
            return f"{dist} {version(dist)} is outside the versions this module was written for"
    checks = {
        "engineio aiohttp driver WebSocket": hasattr(driver, "WebSocket") and hasattr(driver, "_async"),
        "AsyncSocket._websocket_handler/_send_ping/check_ping_timeout": all(
            hasattr(async_socket.AsyncSocket, name)
            for name in ("_websocket_handler", "_send_ping", "check_ping_timeout", "receive", "close")),
        "engineio Packet(encoded_packet=...)/encode": hasattr(packet.Packet, "encode") and hasattr(packet.Packet, "decode"),
        "AsyncSocket.schedule_ping/queue/last_ping": hasattr(async_socket.AsyncSocket, "schedule_ping") and all(
            name in vars(_bare_socket(async_socket.AsyncSocket)) for name in ("queue", "last_ping", "closing", "closed")),
        "aiohttp WebSocketResponse._writer": hasattr(web_ws.WebSocketResponse, "_writer"),
        "aiohttp WebSocketWriter transport/protocol/use_mask": all(
            name in inspect.signature(WebSocketWriter.__init__).parameters for name in ("protocol", "transport", "use_mask")),
        "aiohttp RequestHandler._parser/_messages": {"_parser", "_messages"} <= {
            name for cls in RequestHandler.__mro__ for name in getattr(cls, "__slots__", ())},
        "aiohttp WebSocketWriter.get_random_bits": "get_random_bits" in inspect.getsource(WebSocketWriter.__init__),
        "aiohttp BaseProtocol._drain_helper/writing_paused": hasattr(BaseProtocol, "_drain_helper")
            and isinstance(getattr(BaseProtocol, "writing_paused", None), property),
    }
    broken = [name for name, ok in checks.items() if not ok]
    return f"not as expected: {', '.join(broken)}" if broken else None


def _bare_socket(socket_class: Any) -> Any:
    """An engineio socket built on a stand-in server, to see which attributes it sets."""

    class _Server:
        def create_queue(self) -> Any:
            return None

    return socket_class(_Server(), "probe")


def _frame(pkt: Any) -> bytes:
    """The WebSocket frame (server to client: unmasked, final) for an engineio packet, built once."""
    frame = getattr(pkt, "kallemny_frame", None)
    if frame is None:
        data = pkt.encode()
        if isinstance(data, str):
            payload, first = data.encode("utf-8"), 0x80 | _OP_TEXT
        else:
            payload, first = bytes(data), 0x80 | _OP_BINARY
        n = len(payload)
        if n < 126:
            frame = bytes((first, n)) + payload
        elif n < 65536:
            frame = _HEADER_16(first, 126, n) + payload
        else:
            frame = _HEADER_64(first, 127, n) + payload
        pkt.kallemny_frame = frame
    return frame


class FastLane:
    """Sends and receives for one engineio socket over one uncompressed WebSocket."""

    __slots__ = ("socket", "ws", "transport", "protocol", "loop", "pending", "scheduled",
                 "backlog", "backlog_bytes", "drain_task", "dead", "pong_timer")

    def __init__(self, socket: Any, ws: Any) -> None:
        self.socket = socket
        self.ws = ws
        writer = ws._writer
        self.transport = writer.transport
        self.protocol = writer.protocol
        self.loop = asyncio.get_running_loop()
        self.pending: list[bytes] = []
        self.scheduled = False
        self.backlog: list[bytes] = []
        self.backlog_bytes = 0
        self.drain_task: asyncio.Task[None] | None = None
        self.dead = False
        self.pong_timer: asyncio.TimerHandle | None = None

    # -- sending ----------------------------------------------------------

    async def send(self, pkt: Any) -> None:
        """Replaces ``AsyncSocket.send`` for this socket: same checks, no queue."""
        socket = self.socket
        if socket.closed:
            from engineio.exceptions import SocketIsClosedError
            raise SocketIsClosedError()
        last_ping = socket.last_ping
        if last_ping and time.time() - last_ping > socket.server.ping_timeout:
            await socket.check_ping_timeout()  # closes the socket, as the stock send does
            self._drop("no pong within the ping timeout")
            return
        self.push(_frame(pkt))

    def push(self, frame: bytes) -> None:
        if self.dead:
            return
        self.pending.append(frame)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the frames pending for this connection in one write."""
        self.scheduled = False
        frames = self.pending
        if not frames or self.dead:
            return
        self.pending = []
        if self.drain_task is not None:
            self._to_backlog(frames)
            return
        if self.ws.closed or self.transport.is_closing():
            self.dead = True
            return
        self.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        if self.protocol.writing_paused:
            # A slow consumer: from now on frames wait for aiohttp's flow control.
            self.drain_task = self.loop.create_task(self._drain())

    def _to_backlog(self, frames: list[bytes]) -> None:
        self.backlog.extend(frames)
        self.backlog_bytes += sum(map(len, frames))
        if self.backlog_bytes > SLOW_CONSUMER_LIMIT:
            log.warning("closing connection %s: %d bytes waiting for a client that does not read",
                        self.socket.sid, self.backlog_bytes)
            self.dead = True
            self.backlog.clear()
            self.transport.abort()  # close() would wait for a client that does not read

    async def _drain(self) -> None:
        try:
            while not self.dead:
                if self.protocol.writing_paused:
                    await self.protocol._drain_helper()
                if not self.backlog or self.dead or self.transport.is_closing():
                    break
                frames, self.backlog, self.backlog_bytes = self.backlog, [], 0
                self.transport.write(b"".join(frames))
        except OSError:  # ConnectionError and the like: the connection is gone
            self.dead = True
        except asyncio.CancelledError:
            self.dead = True
            raise
        finally:
            self.drain_task = None
            if self.pending and not self.scheduled and not self.dead:
                self.scheduled = True
                self.loop.call_soon(self.flush)

    def ping_due(self) -> None:
        socket = self.socket
        if socket.closing or socket.closed:
            # Closed by the server a ping interval ago and the client has not
            # hung up: end the read loop (it waits without a timeout).
            self._drop("closed by the server and not hung up by the client")
            return
        from engineio import packet
        socket.last_ping = sent = time.time()
        self.push(_frame(packet.Packet(packet.PING)))
        self.pong_timer = self.loop.call_later(socket.server.ping_timeout + PONG_GRACE, self._pong_overdue, sent)

    def pong_received(self) -> None:
        """The client answered: its overdue timer (~600 B) need not live on."""
        timer, self.pong_timer = self.pong_timer, None
        if timer is not None:
            timer.cancel()

    def _pong_overdue(self, sent: float) -> None:
        # The read loop waits without a timeout; a client that has not answered
        # this ping is gone: dropping the transport ends the loop (the stock
        # loop's per-frame timeout of ping interval + ping timeout did this).
        self.pong_timer = None
        if self.socket.last_ping == sent or self.socket.closed:
            self._drop("no pong within the ping timeout")

    def cut(self, why: str) -> None:
        """Abort the connection now (the server ended the session)."""
        self._drop(why)

    def _drop(self, why: str) -> None:
        if not self.dead:
            log.info("closing connection %s: %s", self.socket.sid, why)
            self.dead = True
            self.transport.abort()  # close() would wait for a client that does not read

    # -- receiving --------------------------------------------------------

    async def run(self) -> None:
        """Replaces ``AsyncSocket._websocket_handler`` (after the upgrade handshake)."""
        from engineio import packet

        socket, server, ws = self.socket, self.socket.server, self.ws
        socket.kallemny_lane = self
        socket.send = self.send  # shadows the class's method for this socket only
        # Packets queued before the WebSocket existed (the OPEN packet, or what
        # arrived during an upgrade) go first, in order.
        while not socket.queue.empty():
            queued = socket.queue.get_nowait()
            socket.queue.task_done()
            if queued is not None:
                self.push(_frame(queued))
                if queued.packet_type == packet.OPEN:  # engineio's connect frame holds it as long as we run
                    queued.data = queued.encode_cache = queued.kallemny_frame = None
        queued = None
        socket.queue = _LaneQueue(self)  # the asyncio.Queue (four deques, ~3 KB) is not needed any more
        if socket.last_ping:  # a ping went out before the lane (over polling, or during the probe)
            wait = socket.last_ping + server.ping_timeout + PONG_GRACE - time.time()
            self.pong_timer = self.loop.call_later(max(wait, 0.0), self._pong_overdue, socket.last_ping)
        try:
            await self._read(socket, server, ws)
        finally:
            await self._finish(socket, server, ws)

    async def _read(self, socket: Any, server: Any, ws: Any) -> None:
        from engineio import exceptions, packet

        limit = server.max_http_buffer_size
        handlers = server.handlers
        # Frames are read at most ``rate`` per second (bursts of ``burst``): a
        # client that sends faster waits in its own TCP buffers, so a flood
        # costs this node a bounded share of the loop (see ``limit_frames``).
        rate, burst = getattr(server, "kallemny_frame_limit", None) or (0.0, 0.0)
        tokens, tokens_at = burst, self.loop.time()
        while True:
            msg = data = pkt = None  # an idle connection keeps nothing of its last packet
            if rate:
                now = self.loop.time()
                tokens = min(burst, tokens + (now - tokens_at) * rate) - 1.0
                tokens_at = now
                if tokens < 0:
                    await asyncio.sleep(-tokens / rate)
            try:
                msg = await ws.receive()  # no timeout: see ``_pong_overdue``
            except BaseException:  # reset, or cancelled: clean up as the stock loop does
                break
            data = msg.data
            if not isinstance(data, (str, bytes)):
                break  # CLOSE, CLOSING, CLOSED, ERROR
            if len(data) > limit:
                break
            try:
                pkt = packet.Packet(encoded_packet=data)
            except Exception:
                log.info("closing connection %s: undecodable Engine.IO packet", socket.sid)
                break
            if not 0 <= pkt.packet_type < len(packet.packet_names):
                continue  # an unknown Engine.IO packet type: ignored, as the protocol allows
            try:
                if pkt.packet_type == packet.MESSAGE and "message" in handlers:
                    await handlers["message"](socket.sid, pkt.data)
                else:
                    if pkt.packet_type == packet.PONG:
                        self.pong_received()
                    await socket.receive(pkt)
            except exceptions.UnknownPacketError:
                pass
            except exceptions.SocketIsClosedError:
                break
            except Exception:
                log.exception("error handling a packet from %s", socket.sid)

    async def _finish(self, socket: Any, server: Any, ws: Any) -> None:
        """After the read loop, however it ended: send what is pending, close, report the disconnect."""
        try:
            self.flush()
            drain = self.drain_task
            if drain is not None and not self.dead:
                try:
                    await asyncio.wait_for(asyncio.shield(drain), server.ping_timeout)
                except Exception:
                    pass
            self.dead = True
            timer, self.pong_timer = self.pong_timer, None
            if timer is not None:
                timer.cancel()
            await ws.close()
        finally:
            await socket.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


class _LaneQueue:
    """Stands in for a lane socket's ``asyncio.Queue``: what engineio puts goes out through the lane."""

    __slots__ = ("lane",)

    def __init__(self, lane: FastLane) -> None:
        self.lane = lane

    def put_nowait(self, pkt: Any) -> None:
        if pkt is not None:
            self.lane.push(_frame(pkt))

    async def put(self, pkt: Any) -> None:
        self.put_nowait(pkt)

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0

    def get_nowait(self) -> Any:
        raise asyncio.QueueEmpty

    async def get(self) -> Any:
        raise asyncio.QueueEmpty

    def task_done(self) -> None:
        pass

    async def join(self) -> None:
        return None


def _release_http_state(request: Any, ws: Any) -> None:
    """Free what aiohttp keeps for HTTP once the connection speaks WebSocket (~2.7 KB).

    The HTTP parser and the queue of parsed requests are not used again on an
    upgraded connection (aiohttp checks ``_parser`` for ``None`` before each
    use and appends to ``_messages`` only before the upgrade; the connection
    closes when the WebSocket ends); the writer's random source is for
    masking, which only clients do.
    """
    protocol = request.protocol
    protocol._parser = None
    protocol._messages = ()
    ws._writer.get_random_bits = None


async def _upgrade_handshake(socket: Any, ws: Any) -> bool:
    """The polling-to-WebSocket probe, as engineio's handler does it; True when upgraded."""
    from engineio import packet

    async def wait() -> Any:
        data = await ws.wait()
        if data and len(data) > socket.server.max_http_buffer_size:
            raise ValueError("packet is too large")
        return data

    socket.upgrading = True
    try:
        probe = packet.Packet(encoded_packet=await wait())
        if probe.packet_type != packet.PING or probe.data != "probe":
            return False
        await ws.send(packet.Packet(packet.PONG, data="probe").encode())
        await socket.queue.put(packet.Packet(packet.NOOP))  # ends the pending poll
        upgrade = packet.Packet(encoded_packet=await wait())
        if upgrade.packet_type != packet.UPGRADE:
            return False
        socket.upgraded = True
        return True
    except Exception:
        return False
    finally:
        socket.upgrading = False


def tune_websocket_transport(eio_server: Any, *, compression: bool = False, fast_lane: bool = True) -> bool:
    """Apply this module to ``eio_server``; ``True`` when the fast lane is on.

    With the fast lane unavailable, only the compression choice is applied (it
    needs the driver's ``WebSocket`` class alone) and the reason is logged.
    """
    try:
        from aiohttp.web import WebSocketResponse
        from engineio.async_drivers.aiohttp import WebSocket
        from engineio.async_socket import AsyncSocket
    except ImportError:  # pragma: no cover - engineio reorganised
        log.warning("WebSocket transport left stock: engineio's aiohttp driver moved")
        return False
    drivers = getattr(eio_server, "_async", None)
    if not isinstance(drivers, dict) or drivers.get("websocket") is not WebSocket:
        log.warning("WebSocket transport left stock: engineio's driver table is not as expected")
        return False
    why_not = fast_lane_unavailable() if fast_lane else "turned off"
    if fast_lane and why_not:
        log.warning("WebSocket fast lane off, stock engineio transport in use: %s", why_not)
    use_lane = why_not is None

    class TunedWebSocket(WebSocket):  # type: ignore[misc, valid-type]
        async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
            request = environ["aiohttp.request"]
            self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=compression)
            await self._sock.prepare(request)
            self.environ = environ
            socket = getattr(self.handler, "__self__", None)
            if not (use_lane and isinstance(socket, AsyncSocket) and not self._sock.compress
                    and not self._sock._writer.use_mask):
                await self.handler(self)  # stock path
                return self._sock
            _release_http_state(request, self._sock)
            if socket.connected:
                if not await _upgrade_handshake(socket, self):
                    return self._sock
            else:
                socket.connected = True
                socket.upgraded = True
            await FastLane(socket, self._sock).run()
            return self._sock

    # A copy for this server only: the driver's table is shared by every server.
    eio_server._async = {**drivers, "websocket": TunedWebSocket}
    if use_lane:
        _use_ping_timers(eio_server, AsyncSocket)
    return use_lane


def limit_frames(eio_server: Any, per_second: float, burst: float) -> None:
    """Read at most ``per_second`` frames a second (bursts of ``burst``) from each fast-lane connection."""
    eio_server.kallemny_frame_limit = (float(per_second), float(burst))


def bound_polling_queues(eio_server: Any, limit: int | None = None) -> None:
    """Close a long-polling session that lets more than ``limit`` bytes pile up unread.

    engineio queues a polling session's packets without bound until the client
    polls; a client that never polls would grow it forever. Each poll takes the
    whole queue, so the bytes queued since the queue was last empty are what the
    client has not read. WebSocket connections on the fast lane have their own
    bound (``SLOW_CONSUMER_LIMIT``) and are not counted here.
    """
    stock_send_packet = eio_server.send_packet

    async def send_packet(sid: str, pkt: Any) -> None:
        socket = eio_server.sockets.get(sid)
        if socket is not None and getattr(socket, "kallemny_lane", None) is None and not socket.upgraded:
            data = pkt.data
            size = len(data) if isinstance(data, (str, bytes)) else 64
            queued = (0 if socket.queue.qsize() == 0 else getattr(socket, "kallemny_queued", 0)) + size
            socket.kallemny_queued = queued
            if queued > (limit or SLOW_CONSUMER_LIMIT):
                if not socket.closing and not socket.closed:
                    log.info("closing polling session %s: more than %d bytes unread", sid, limit or SLOW_CONSUMER_LIMIT)
                    await socket.close(wait=False, abort=True, reason=eio_server.reason.SERVER_DISCONNECT)
                    eio_server.sockets.pop(sid, None)
                return
        await stock_send_packet(sid, pkt)

    eio_server.send_packet = send_packet


def _use_ping_timers(eio_server: Any, socket_class: Any) -> None:
    """Ping through a timer handle instead of a task that sleeps for the interval."""
    stock_start = eio_server.start_background_task
    send_ping = socket_class._send_ping

    def ping_due(socket: Any) -> None:
        lane = getattr(socket, "kallemny_lane", None)
        if lane is not None:
            lane.ping_due()
        elif not socket.closing and not socket.closed:
            from engineio import packet
            socket.last_ping = time.time()
            socket.queue.put_nowait(packet.Packet(packet.PING))  # what ``send`` does on an unbounded queue

    def start_background_task(target: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(target, "__func__", None) is send_ping and not args and not kwargs:
            return asyncio.get_running_loop().call_later(eio_server.ping_interval, ping_due, target.__self__)
        return stock_start(target, *args, **kwargs)

    eio_server.start_background_task = start_background_task
