"""Small assertions shared by the REST suite (contract sections 2 and 3)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import socketio
from pydantic import BaseModel

from kallemny_sio.schemas import ErrorOut
from tests.conftest import TEST_SECRET

ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ERROR_CODES = {"invalid", "unauthorized", "forbidden", "not_found", "conflict",
               "too_large", "rate_limited", "unavailable", "internal"}
# Nothing a response carries may contain these (contract section 2).
NEVER_IN_RESPONSES = ("Traceback", "$argon2", TEST_SECRET)


def assert_error(status: int, body: Any, want_status: int, code: str, field: str | None = None) -> str:
    """Check a contract-shaped REST error; returns its message.

    Args:
        status, body: what the server answered.
        want_status, code: the expected HTTP status and error code.
        field: a field name the message must name.
    """
    assert status == want_status, (status, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert error["code"] in ERROR_CODES
    assert isinstance(error["message"], str) and error["message"], error
    assert_conforms(ErrorOut, body)
    if field is not None:
        assert field in error["message"], f"message {error['message']!r} does not name {field!r}"
    return error["message"]


def assert_iso(value: Any) -> datetime:
    """An ISO 8601 UTC time with milliseconds and ``Z``; returns it parsed."""
    assert isinstance(value, str) and ISO_MS_Z.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def assert_conforms(model: type[BaseModel], body: Any) -> None:
    """``body`` is exactly what ``model`` declares: valid (strictly) and no undeclared keys."""
    parsed = model.model_validate(body, strict=True)
    assert parsed.model_dump(by_alias=True, exclude_unset=True) == body


async def clock_passes(iso_time: str) -> None:
    """Return once the wall clock is past ``iso_time`` (ms), so later activity sorts strictly later.

    Times are kept in milliseconds; two things in the same millisecond have no
    defined order. This waits for at most a few milliseconds of clock, not for
    the server.
    """
    next_ms = assert_iso(iso_time) + timedelta(milliseconds=1)
    while datetime.now(timezone.utc) < next_ms:
        await asyncio.sleep(0.001)


async def send(client: Any, room_id: str, content: str, **extra: Any) -> dict[str, Any]:
    """Send a message over Socket.IO and return the acknowledged Message."""
    ack = await client.call("SendMessage", {"roomId": room_id, "content": content, **extra})
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    return ack["message"]


def server_holds(server: Any, sid: str, namespace: str = "/chat") -> bool:
    """Whether the in-process ``server`` still counts connection ``sid`` as a participant."""
    from kallemny_sio.keys import SIO

    return any(s == sid for s, _ in server.app[SIO].manager.get_participants(namespace, None))


async def server_forgets(server: Any, sid: str, namespace: str = "/chat", timeout: float = 5.0) -> None:
    """Return once the server has finished handling the disconnect of connection ``sid``.

    python-socketio awaits the namespace's disconnect handler and only then
    removes the connection from its manager's participants, so "gone from the
    participants" means "handled" (``is_connected`` turns false earlier, before
    the handler runs). Closing a non-last connection emits nothing a client
    could await, hence this bounded poll.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while server_holds(server, sid, namespace):
        assert loop.time() < deadline, f"the server still holds connection {sid}"
        await asyncio.sleep(0.01)


# -- messages after they are sent (contract section 6) ---------------------------------


def message_path(room_id: str, message_id: str) -> str:
    """``/api/chat/rooms/{id}/messages/{messageId}`` (ids percent-encoded)."""
    return f"/api/chat/rooms/{quote(room_id, safe='')}/messages/{quote(message_id, safe='')}"


def reaction_path(room_id: str, message_id: str, emoji: str) -> str:
    """``…/messages/{messageId}/reactions/{emoji}``, the emoji percent-encoded as UTF-8 (``/`` too)."""
    return f"{message_path(room_id, message_id)}/reactions/{quote(emoji, safe='')}"


def changes_path(room_id: str) -> str:
    """``/api/chat/rooms/{id}/changes``."""
    return f"/api/chat/rooms/{quote(room_id, safe='')}/changes"


async def message_call(api: Any, method: str, who: Any, room_id: str, message_id: str, *,
                       emoji: str | None = None, json: Any = None) -> tuple[int, Any]:
    """One call on a message (or, with ``emoji``, on one of its reactions); returns ``(status, body)``."""
    path = message_path(room_id, message_id) if emoji is None else reaction_path(room_id, message_id, emoji)
    return await api.request(method, path, token=who.token, json=json)


async def message_ok(api: Any, method: str, who: Any, room_id: str, message_id: str, *,
                     emoji: str | None = None, json: Any = None) -> dict[str, Any]:
    """:func:`message_call` that must answer 200 with a Message; returns it."""
    status, body = await message_call(api, method, who, room_id, message_id, emoji=emoji, json=json)
    assert status == 200, (method, emoji, json, status, body)
    assert isinstance(body, dict) and body.get("id") == message_id, body
    return body


async def changes(api: Any, who: Any, room_id: str, **params: Any) -> dict[str, Any]:
    """``GET …/changes`` that must answer 200; returns the page."""
    status, body = await api.request("GET", changes_path(room_id), token=who.token,
                                     params={k: str(v) for k, v in params.items()})
    assert status == 200, (params, status, body)
    assert isinstance(body, dict) and set(body) == {"messages", "hasMore", "lastChangeSeq"}, body
    assert isinstance(body["hasMore"], bool) and type(body["lastChangeSeq"]) is int, body
    return body


# -- rooms and members (contract section 7) ---------------------------------------------


def room_path(room_id: str, *parts: str) -> str:
    """``/api/chat/rooms/{id}[/part…]`` (each segment percent-encoded)."""
    return "/".join([f"/api/chat/rooms/{quote(room_id, safe='')}", *(quote(p, safe="") for p in parts)])


def iso_in(seconds: float) -> str:
    """The contract's time format (ms, ``Z``) for now plus ``seconds``."""
    when = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


async def my_room(api: Any, who: Any, room_id: str) -> dict[str, Any] | None:
    """``who``'s Room ``room_id`` from ``GET /api/chat/rooms``, or None when it is not in their list."""
    status, rooms = await api.request("GET", "/api/chat/rooms", token=who.token)
    assert status == 200, rooms
    return next((r for r in rooms if r["id"] == room_id), None)


async def roles(api: Any, who: Any, room_id: str) -> dict[str, tuple[str, Any]]:
    """``{userId: (role, mutedUntil)}`` of the room's members, as ``who`` sees them."""
    room = await my_room(api, who, room_id)
    assert room is not None, f"room {room_id} is not in the list of {who.username}"
    return {m["id"]: (m["role"], m["mutedUntil"]) for m in room["members"]}


# -- the host application's users, the server API, tokens (contract section 8) ----------

#: ``KALLEMNY_API_KEY`` of the test servers that turn the server API on (at least 32 bytes).
API_KEY = "test-server-api-key-" + "k" * 32
CUT_SECONDS = 1.0  # contract section 8: revoked sockets are disconnected within 1 s


def server_path(*parts: str) -> str:
    """``/api/server/part/…`` (each segment percent-encoded)."""
    return "/".join(["/api/server", *(quote(p, safe="") for p in parts)])


def on_disconnect(client: Any) -> asyncio.Event:
    """An event set when the server ends ``client``'s ``/chat`` connection (register before the cause)."""
    ended = asyncio.Event()
    client.sio.on("disconnect", lambda *reason: ended.set(), namespace="/chat")
    return ended


async def cut_within(ended: asyncio.Event, what: str, seconds: float = CUT_SECONDS) -> None:
    """``ended`` is set within ``seconds`` from now; call it as soon as the REST answer arrived."""
    try:
        await asyncio.wait_for(ended.wait(), seconds)
    except asyncio.TimeoutError:
        raise AssertionError(f"{what} was still connected {seconds} s after the REST answer") from None


async def still_served(client: Any, room_id: str) -> None:
    """``client`` is connected and served: its own message comes back to it."""
    assert client.sio.connected, f"{client.name} was disconnected"
    message = await send(client, room_id, f"still here {uuid.uuid4().hex[:8]}")
    await client.wait_for("ReceiveMessage", lambda m: m["id"] == message["id"])


async def connect_refused(url: str, token: str | None, timeout: float = 5.0) -> Any:
    """Connect to ``/chat`` over WebSocket with ``token`` expecting a refusal; returns the ``connect_error`` data."""
    client = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[Any] = asyncio.Queue()
    client.on("connect_error", lambda data=None: errors.put_nowait(data), namespace="/chat")
    try:
        try:
            await client.connect(url, namespaces=["/chat"], transports=["websocket"], wait_timeout=timeout,
                                 auth={"token": token} if token is not None else None)
        except socketio.exceptions.ConnectionError:
            return await asyncio.wait_for(errors.get(), timeout)
        raise AssertionError("the connection was accepted")
    finally:
        if client.eio.state == "connected":
            await asyncio.wait_for(client.eio.disconnect(abort=True), timeout)


async def assert_token_refused(api: Any, socket_url: str, token: str) -> None:
    """``token`` answers 401 ``unauthorized`` on REST and ``connect_error`` ``"unauthorized"`` on Socket.IO."""
    status, body = await api.request("GET", "/api/auth/me", token=token)
    assert_error(status, body, 401, "unauthorized")
    status, body = await api.request("GET", "/api/chat/rooms", token=token)
    assert_error(status, body, 401, "unauthorized")
    data = await connect_refused(socket_url, token)
    assert isinstance(data, dict) and data.get("message") == "unauthorized", data


async def login(api: Any, username: str, password: str = "correct horse battery") -> str:
    """A fresh token for an own account (``POST /api/auth/login``)."""
    status, body = await api.request("POST", "/api/auth/login", json={"username": username, "password": password})
    assert status == 200, body
    return body["token"]
