"""Helpers shared by the Socket.IO event suite: shapes, sends, markers, tokens."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any, Iterable

import jwt

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MESSAGE_KEYS = {"id", "roomId", "senderId", "senderUsername", "content", "createdAt", "clientMessageId"}
USER_KEYS = {"id", "username", "displayName", "isOnline", "lastSeen"}
ROOM_KEYS = {"id", "type", "name", "isPublic", "createdBy", "createdAt", "members", "lastMessage",
             "unreadCount", "lastReadMessageId"}
WAIT = 5.0  # seconds to wait for an event that must arrive


def marker_text() -> str:
    """Content no other message in a test shares."""
    return f"marker-{uuid.uuid4().hex}"


def assert_message_shape(message: Any) -> None:
    """``message`` is a contract Message (section 2)."""
    assert isinstance(message, dict) and set(message) == MESSAGE_KEYS, message
    for key in ("id", "roomId", "senderId", "senderUsername", "content"):
        assert isinstance(message[key], str) and message[key], (key, message)
    assert ISO_MS.match(message["createdAt"]), message
    assert message["clientMessageId"] is None or isinstance(message["clientMessageId"], str), message


def assert_user_shape(user: Any) -> None:
    """``user`` is a contract User."""
    assert isinstance(user, dict) and set(user) == USER_KEYS, user
    assert isinstance(user["isOnline"], bool), user
    assert user["lastSeen"] is None or ISO_MS.match(user["lastSeen"]), user


def assert_room_shape(room: Any) -> None:
    """``room`` is a contract Room."""
    assert isinstance(room, dict) and set(room) == ROOM_KEYS, room
    assert room["type"] in ("private", "group"), room
    assert ISO_MS.match(room["createdAt"]), room
    for member in room["members"]:
        assert_user_shape(member)
    if room["lastMessage"] is not None:
        assert_message_shape(room["lastMessage"])
    assert isinstance(room["unreadCount"], int), room


def assert_error(ack: Any, code: str) -> None:
    """``ack`` is an error acknowledgement with ``code`` and a message."""
    assert isinstance(ack, dict) and ack.get("ok") is False, ack
    assert isinstance(ack.get("error"), dict) and ack["error"].get("code") == code, ack
    assert isinstance(ack["error"].get("message"), str) and ack["error"]["message"], ack


async def send(client: Any, room_id: str, content: str, **extra: Any) -> dict[str, Any]:
    """Send a message in the object form; returns the acked Message."""
    ack = await client.call("SendMessage", {"roomId": room_id, "content": content, **extra})
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    return ack["message"]


async def sync_marker(sender: Any, room_id: str, receivers: Iterable[Any], timeout: float = WAIT) -> dict[str, Any]:
    """Send a marker message and wait until every receiver has it.

    The server emits to one connection in order, so once a receiver has the
    marker it has everything the server sent it before the marker was sent:
    what it has not recorded by then was never sent to it.
    """
    message = await send(sender, room_id, marker_text())
    for receiver in receivers:
        await receiver.wait_for("ReceiveMessage", lambda d: d.get("id") == message["id"], timeout=timeout)
    return message


def count(client: Any, event: str, **fields: Any) -> int:
    """How many ``event`` payloads ``client`` recorded whose fields match ``fields``."""
    return sum(1 for d in client.events(event) if all(d.get(k) == v for k, v in fields.items()))


def make_token(server: Any, user_id: str, *, secret: str | None = None, lifetime_s: int = 3600,
               issued_ago_s: int = 0, like: str | None = None) -> str:
    """A JWT for ``user_id`` shaped like the server's, signed with ``secret`` (default: the server's).

    ``like``: a token the server issued to that user, whose user binding (``uct``) is copied.
    """
    now = int(time.time()) - issued_ago_s
    claims = {"sub": user_id, "iat": now, "exp": now + lifetime_s, "iss": server.settings.jwt_issuer,
              "jti": uuid.uuid4().hex}
    if like is not None:
        payload = like.split(".")[1]
        claims["uct"] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["uct"]
    return jwt.encode(claims, secret or server.settings.jwt_secret, algorithm="HS256")
