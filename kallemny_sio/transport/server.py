"""python-socketio's ``AsyncServer``, hardened for clients that are hostile or buggy.

- A Socket.IO packet that cannot be decoded (bad JSON, an unknown packet
  type, a binary packet out of place) costs one log line, rate-limited and
  without a traceback; it is counted, and a connection that keeps sending
  them is closed. python-socketio would log a traceback for each.
- A binary event whose placeholders do not match its attachments closes that
  connection with a clear reason (python-socketio would leave the socket
  waiting for attachments that never come).
- An Engine.IO connection that has not connected the chat namespace with a
  valid token within ``unauthenticated_timeout`` seconds is closed.

JSON text with lone UTF-16 surrogates is decoded (see :mod:`.json_shim`) so
that the handlers can refuse it with an ``invalid`` ack instead of the packet
vanishing without one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import socketio

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 10  # binary attachments one event may declare (a chat event needs none)
BAD_PACKETS_BEFORE_CLOSE = 20  # undecodable packets a connection may send before it is closed
LOG_EVERY_SECONDS = 10.0


class _RateLimitedLog:
    """At most one line per interval; the lines skipped are counted in the next."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last = -interval
        self._skipped = 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            self._skipped += 1
            return
        skipped, self._skipped, self._last = self._skipped, 0, now
        suffix = f" ({skipped} more like it not logged)" if skipped else ""
        log.warning(message + suffix, *args)


class HardenedServer(socketio.AsyncServer):
    """``AsyncServer`` that survives malformed input and closes idle unauthenticated sockets."""

    def __init__(self, *args: Any, namespace: str, unauthenticated_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, namespaces=[namespace], **kwargs)
        self.chat_namespace = namespace
        self._unauthenticated_timeout = unauthenticated_timeout
        self._bad_packets: dict[str, int] = {}
        self._bad_log = _RateLimitedLog(LOG_EVERY_SECONDS)

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        result = await super()._handle_eio_connect(eio_sid, environ)
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None and "transport=polling" in environ.get("QUERY_STRING", ""):
            socket.handle_post_request = self._guarded_post(eio_sid, socket.handle_post_request)
        asyncio.get_running_loop().call_later(self._unauthenticated_timeout, self._close_if_unauthenticated, eio_sid)
        return result

    def _guarded_post(self, eio_sid: str, handle: Any) -> Any:
        """A long-polling POST whose payload cannot be decoded ends that session (400), with one log line.

        engineio would log a traceback for it and answer ``200 OK``.
        """
        from engineio.exceptions import EngineIOError

        async def handle_post_request(environ: dict[str, Any]) -> Any:
            try:
                return await handle(environ)
            except EngineIOError:
                raise
            except Exception as exc:
                self._bad_log.warning("undecodable long-polling payload from connection %s (%s)", eio_sid,
                                      exc.__class__.__name__)
                raise EngineIOError("undecodable payload") from None

        return handle_post_request

    def _close_if_unauthenticated(self, eio_sid: str) -> None:
        if eio_sid in self.eio.sockets and self.manager.sid_from_eio_sid(eio_sid, self.chat_namespace) is None:
            log.info("closing connection %s: no authenticated %s connection within %.0f s",
                     eio_sid, self.chat_namespace, self._unauthenticated_timeout)
            asyncio.ensure_future(self._close_socket(eio_sid))

    async def cut(self, sid: str, namespace: str, why: str) -> None:
        """Close the whole connection (not only the namespace) of Socket.IO ``sid``, at once."""
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace)
        if eio_sid is not None:
            log.info("closing connection %s: %s", eio_sid, why)
            await self._close_socket(eio_sid)

    async def _close_socket(self, eio_sid: str) -> None:
        """End the Engine.IO session and cut its transport (a WebSocket is aborted, not left to linger)."""
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None:
            try:
                # A polling client learns of it from a CLOSE packet on its pending GET.
                await socket.close(wait=False, abort=bool(socket.upgraded), reason=self.eio.reason.SERVER_DISCONNECT)
            except Exception as exc:  # already gone
                log.debug("closing %s: %s", eio_sid, exc)
            self.eio.sockets.pop(eio_sid, None)
            lane = getattr(socket, "kallemny_lane", None)
            if lane is not None:
                lane.cut("closed by the server")

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        binary_pending = eio_sid in self._binary_packet
        if binary_pending and not isinstance(data, bytes):
            self._binary_packet.pop(eio_sid, None)
            log.info("closing connection %s: a text packet where a binary attachment was due", eio_sid)
            await self._close_socket(eio_sid)
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
            pending = self._binary_packet.get(eio_sid)
            if pending is not None and not binary_pending and (
                    pending.packet_type == socketio.packet.BINARY_ACK or pending.attachment_count > MAX_ATTACHMENTS):
                raise ValueError("unexpected binary packet")
        except Exception as exc:
            if binary_pending or eio_sid in self._binary_packet:
                self._binary_packet.pop(eio_sid, None)
                log.info("closing connection %s: binary attachments do not match the event's placeholders", eio_sid)
                await self._close_socket(eio_sid)
                return
            count = self._bad_packets.get(eio_sid, 0) + 1
            self._bad_packets[eio_sid] = count
            self._bad_log.warning("undecodable Socket.IO packet from connection %s (%s)", eio_sid,
                                  exc.__class__.__name__)
            if count >= BAD_PACKETS_BEFORE_CLOSE:
                log.info("closing connection %s: %d undecodable packets", eio_sid, count)
                await self._close_socket(eio_sid)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        self._bad_packets.pop(eio_sid, None)
        self._binary_packet.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)
