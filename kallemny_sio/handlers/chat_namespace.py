"""The ``/chat`` namespace: authenticate at connect, then one thin handler per event.

A handler parses its payload, calls one core method and returns the ack.
Every failure becomes an error ack (python-socketio sends no ack when a
handler raises), and ``connect`` refuses with ``ConnectionRefusedError`` only
(any other exception would leave the client hanging).
"""

from __future__ import annotations

import logging
from time import perf_counter
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

import socketio
from socketio.exceptions import ConnectionRefusedError as Refused

from ..auth.tokens import bearer_token
from ..core.accounts import Accounts, Caller
from ..core.chat import ChatService
from ..core.delivery import user_channel
from ..core.limits import EventBucket, Guard
from ..core.revocations import Revocations
from ..errors import ChatError, Internal, NotFound, RateLimited, Unauthorized
from ..metrics import UNKNOWN_EVENT, Metrics
from ..schemas import (
    EditMessagePayload,
    MarkReadPayload,
    MessageRefPayload,
    ReactionPayload,
    RoomRefPayload,
    SendMessagePayload,
    TypingPayload,
)
from ..core.tasks import spawn
from .delivery import NAMESPACE
from .payloads import event_payload

log = logging.getLogger(__name__)
Ack = dict[str, Any]


def handshake_token(environ: dict[str, Any], auth: Any) -> str | None:
    """The token from ``auth.token``, an ``Authorization: Bearer`` header or ``?token=``."""
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return auth["token"]
    header = bearer_token(environ.get("HTTP_AUTHORIZATION"))
    if header:
        return header
    values = parse_qs(environ.get("QUERY_STRING", "")).get("token")
    return values[0] if values else None


def _shrink_environ(environ: dict[str, Any]) -> None:
    """Keep only what authentication reads of the handshake (about 1 KB less per connection).

    engineio builds this dict from every request header, and it stays
    referenced for the whole connection (by python-socketio and by engineio's
    request coroutines), so it is emptied in place rather than dropped.
    """
    if len(environ) > 2:
        kept = {k: environ[k] for k in ("QUERY_STRING", "HTTP_AUTHORIZATION") if k in environ}
        environ.clear()
        environ.update(kept)


class ChatNamespace(socketio.AsyncNamespace):
    """Client→server events of contract section 4."""

    def __init__(self, accounts: Accounts, chat: ChatService, guard: Guard, revocations: Revocations,
                 metrics: Metrics | None = None) -> None:
        super().__init__(NAMESPACE)
        revocations.on_end(self._end_sessions)
        self._accounts = accounts
        self._chat = chat
        self._guard = guard
        self._metrics = metrics or Metrics()
        self._timed = self._metrics.enabled
        self._callers: dict[str, Caller] = {}
        self._buckets: dict[str, EventBucket] = {}
        self._in_flight: dict[str, int] = {}
        self._events: dict[str, Callable[[Caller, str, tuple[Any, ...]], Awaitable[Ack]]] = {
            "SendMessage": self.send_message,
            "JoinChatRoom": self.join_chat_room,
            "LeaveChatRoom": self.leave_chat_room,
            "SendTypingIndicator": self.send_typing_indicator,
            "MarkMessagesAsRead": self.mark_messages_as_read,
            "EditMessage": self.edit_message,
            "DeleteMessage": self.delete_message,
            "AddReaction": self.add_reaction,
            "RemoveReaction": self.remove_reaction,
        }

    async def trigger_event(self, event: str, *args: Any) -> Any:
        # python-socketio routes the connection's lifecycle and the client's own
        # events through here alike, and a client may name an event "connect" or
        # "disconnect". Lifecycle calls arrive while the connection is pending
        # (connecting or disconnecting); a client's events only while connected.
        if event in ("connect", "disconnect") and not self.server.manager.is_connected(args[0], self.namespace):
            if event == "connect":
                return await self.on_connect(*args)
            return await self.on_disconnect(args[0])
        sid, payload = args[0], args[1:]
        started = perf_counter() if self._timed else 0.0
        ack = self._over_limit(sid)
        if ack is None:
            self._in_flight[sid] = self._in_flight.get(sid, 0) + 1
            try:
                ack = await self._dispatch(event, sid, payload)
            finally:
                left = self._in_flight.get(sid, 1) - 1
                if left > 0:
                    self._in_flight[sid] = left
                else:
                    self._in_flight.pop(sid, None)
        if self._timed:
            # A client names its events: only the ones handled here get a series of their own.
            name = event if isinstance(event, str) and event in self._events else UNKNOWN_EVENT
            self._metrics.event_handled(name, ack, perf_counter() - started)
        return ack

    def connection_count(self) -> int:
        """Open, authenticated connections of this namespace on this node."""
        return len(self._callers)

    def _over_limit(self, sid: str) -> Ack | None:
        """The connection's event rate, before anything is parsed: an ack when over it, else None.

        A connection also holds at most ``EVENT_BURST`` events in progress (a
        client that does not wait for acks cannot pile up work), and one that
        keeps sending at ten times its rate for ten seconds is disconnected.
        """
        bucket = self._buckets.get(sid)
        if bucket is None:
            return None
        wait = bucket.take()
        if not wait and self._in_flight.get(sid, 0) >= self._guard.limits.event_burst:
            wait = 100
        if not wait:
            return None
        if bucket.abusive:
            self._buckets.pop(sid, None)
            spawn(self._cut(sid, "events at ten times the limit for ten seconds"), name="disconnect-abusive")
        self._metrics.rate_limited("events")
        return RateLimited(f"too many events on this connection; retry in {wait} ms", retry_after_ms=wait).ack()

    async def _cut(self, sid: str, why: str) -> None:
        """Close the whole connection (a hostile client may ignore a namespace disconnect)."""
        cut = getattr(self.server, "cut", None)
        if cut is not None:
            await cut(sid, self.namespace, why)
        else:
            await self.disconnect(sid)

    async def _end_sessions(self, user_id: str, token_id: str | None, below_generation: int | None) -> None:
        """Disconnect this node's connections of ``user_id`` opened with a revoked token (or all of them)."""
        for sid, caller in list(self._callers.items()):
            if caller.user_id != user_id:
                continue
            if token_id is not None and caller.token_id != token_id:
                continue
            if below_generation is not None and caller.generation >= below_generation:
                continue
            await self._cut(sid, "token revoked")

    async def _dispatch(self, event: Any, sid: str, payload: tuple[Any, ...]) -> Ack:
        handler = self._events.get(event) if isinstance(event, str) else None
        caller = self._callers.get(sid)
        try:
            if handler is None:
                raise NotFound(f"event: unknown event {str(event)[:64]!r}")
            if caller is None:
                raise Unauthorized("not authenticated")
            return await handler(caller, sid, payload)
        except ChatError as exc:
            return exc.ack()
        except Exception:
            log.exception("event %s from user %s failed", event, caller.user_id if caller else "?")
            return Internal("internal server error").ack()

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            caller = await self._accounts.authenticate(handshake_token(environ, auth))
        except Unauthorized:
            raise Refused("unauthorized") from None
        except ChatError as exc:
            raise Refused(exc.code) from None
        except Exception:  # anything but Refused would leave the client hanging
            log.exception("authentication failed unexpectedly")
            raise Refused("internal") from None
        if self._guard.too_many_connections(await self._chat.connection_count(caller.user_id)):
            raise Refused("rate_limited")
        self._callers[sid] = caller
        bucket = self._guard.event_bucket()
        if bucket is not None:
            self._buckets[sid] = bucket
        _shrink_environ(environ)
        await self.enter_room(sid, user_channel(caller.user_id))
        try:
            await self._chat.connected(caller, sid)
        except Exception:
            log.exception("presence update failed at connect of user %s", caller.user_id)

    async def on_disconnect(self, sid: str, *reason: Any) -> None:
        self._buckets.pop(sid, None)
        caller = self._callers.pop(sid, None)
        if caller is None:
            return
        try:
            await self._chat.disconnected(caller, sid)
        except Exception:
            log.exception("presence update failed at disconnect of user %s", caller.user_id)

    # -- events ----------------------------------------------------------------

    async def send_message(self, caller: Caller, sid: str, args: tuple[Any, ...]) -> Ack:
        req = event_payload(SendMessagePayload, args, ("roomId", "content", "clientMessageId"))
        return {"ok": True, "message": await self._chat.messages.send(caller, req)}

    async def join_chat_room(self, caller: Caller, sid: str, args: tuple[Any, ...]) -> Ack:
        req = event_payload(RoomRefPayload, args, ("roomId",))
        return {"ok": True, "room": await self._chat.join_room(caller, req.room_id)}

    async def leave_chat_room(self, caller: Caller, sid: str, args: tuple[Any, ...]) -> Ack:
        req = event_payload(RoomRefPayload, args, ("roomId",))
        await self._chat.leave_room(caller, req.room_id)
        return {"ok": True}

    async def send_typing_indicator(self, caller: Caller, sid: str, args: tuple[Any, ...]) -> Ack:
        req = event_payload(TypingPayload, args, ("roomId", "isTyping"))
        await self._chat.set_typing(caller, sid, req.room_id, req.is_typing)
        return {"ok": True}

    async def mark_messages_as_read(self, caller: Caller, sid: str, args: tuple[Any, ...]) -> Ack:
        req = event_payload(MarkReadPayload, args, ("roomId", "messageId"))
        return {"ok": True, **await self._chat.messages.mark_read(caller, req)}

    async def edit_message(self, caller: Caller, sid: str, args: tuple[Any, ...]) -> Ack:
        req = event_payload(EditMessagePayload, args, ("roomId", "messageId", "content"))
        return {"ok": True, "message": await self._chat.messages.edit(caller.user_id, req.room_id, req.message_id, req)}

    async def delete_message(self, caller: Caller, sid: str, args: tuple[Any, ...]) -> Ack:
        req = event_payload(MessageRefPayload, args, ("roomId", "messageId"))
        return {"ok": True, "message": await self._chat.messages.delete(caller.user_id, req.room_id, req.message_id)}

    async def add_reaction(self, caller: Caller, sid: str, args: tuple[Any, ...]) -> Ack:
        return await self._react(caller, args, adding=True)

    async def remove_reaction(self, caller: Caller, sid: str, args: tuple[Any, ...]) -> Ack:
        return await self._react(caller, args, adding=False)

    async def _react(self, caller: Caller, args: tuple[Any, ...], adding: bool) -> Ack:
        req = event_payload(ReactionPayload, args, ("roomId", "messageId", "emoji"))
        message = await self._chat.messages.react(caller.user_id, req.room_id, req.message_id, req.emoji, adding)
        return {"ok": True, "message": message}
