"""Small assertions shared by the REST suite (contract sections 2 and 3)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone
from typing import Any

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
