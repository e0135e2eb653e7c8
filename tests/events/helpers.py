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
MESSAGE_KEYS = {"id", "roomId", "senderId", "senderUsername", "content", "createdAt", "clientMessageId", "type",
                "replyToId", "mentionedUserIds", "customData", "reactions", "editedAt", "deletedAt", "updatedAt",
                "changeSeq"}
USER_KEYS = {"id", "username", "displayName", "isOnline", "lastSeen", "externalId"}
ROOM_KEYS = {"id", "type", "name", "topic", "isPublic", "customData", "createdBy", "createdAt", "members",
             "lastMessage", "unreadCount", "unreadMentionCount", "lastReadMessageId", "myRole", "lastChangeSeq"}
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


def assert_member_shape(member: Any) -> None:
    """``member`` is a contract Member: a User plus ``role`` and ``mutedUntil``."""
    assert isinstance(member, dict) and set(member) == USER_KEYS | {"role", "mutedUntil"}, member
    assert member["role"] in ("owner", "admin", "member"), member
    assert member["mutedUntil"] is None or ISO_MS.match(member["mutedUntil"]), member
    assert_user_shape({k: v for k, v in member.items() if k in USER_KEYS})


def assert_room_shape(room: Any) -> None:
    """``room`` is a contract Room."""
    assert isinstance(room, dict) and set(room) == ROOM_KEYS, room
    assert room["type"] in ("private", "group"), room
    assert ISO_MS.match(room["createdAt"]), room
    for member in room["members"]:
        assert_member_shape(member)
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


# -- messages after they are sent (contract section 6) ---------------------------------

FULL_MESSAGE_KEYS = {"id", "roomId", "senderId", "senderUsername", "content", "createdAt", "clientMessageId",
                     "type", "replyToId", "mentionedUserIds", "customData", "reactions", "editedAt", "deletedAt",
                     "updatedAt", "changeSeq"}
CHANGE_EVENTS = ("MessageUpdated", "MessageDeleted")


def assert_full_message_shape(message: Any) -> None:
    """``message`` is a contract Message with all 16 keys (section 2) and well-typed values."""
    assert isinstance(message, dict) and set(message) == FULL_MESSAGE_KEYS, message
    for key in ("id", "roomId", "senderId", "senderUsername"):
        assert isinstance(message[key], str) and message[key], (key, message)
    assert isinstance(message["content"], str), message
    assert message["type"] == "user", message
    for key in ("createdAt", "updatedAt"):
        assert isinstance(message[key], str) and ISO_MS.match(message[key]), (key, message)
    for key in ("editedAt", "deletedAt"):
        assert message[key] is None or (isinstance(message[key], str) and ISO_MS.match(message[key])), (key, message)
    for key in ("clientMessageId", "replyToId"):
        assert message[key] is None or isinstance(message[key], str), (key, message)
    assert isinstance(message["mentionedUserIds"], list), message
    assert all(isinstance(u, str) for u in message["mentionedUserIds"]), message
    assert message["customData"] is None or isinstance(message["customData"], dict), message
    assert isinstance(message["reactions"], list), message
    for reaction in message["reactions"]:
        assert isinstance(reaction, dict) and set(reaction) == {"emoji", "count"}, message
        assert isinstance(reaction["emoji"], str) and type(reaction["count"]) is int and reaction["count"] >= 1, message
    assert type(message["changeSeq"]) is int and message["changeSeq"] >= 1, message
    assert message["updatedAt"] >= message["createdAt"], message


def watch_changes(client: Any) -> Any:
    """Make a ``ChatClient`` also record ``MessageUpdated`` and ``MessageDeleted``; returns it.

    Handlers are looked up when an event arrives, so registering them on a
    connected client is enough as long as nothing was sent to it yet.
    """
    for event in CHANGE_EVENTS:
        client.sio.on(event, client._recorder(event), namespace="/chat")
    return client


async def call_ok(client: Any, event: str, payload: Any) -> dict[str, Any]:
    """Emit ``event`` with an ack that must be ``{"ok": true, "message"}``; returns the Message."""
    ack = await client.call(event, payload)
    assert isinstance(ack, dict) and ack.get("ok") is True and "message" in ack, (event, payload, ack)
    return ack["message"]


async def edit(client: Any, room_id: str, message_id: str, **fields: Any) -> dict[str, Any]:
    """``EditMessage`` (``content=``, ``customData=``); returns the acked Message."""
    return await call_ok(client, "EditMessage", {"roomId": room_id, "messageId": message_id, **fields})


async def delete(client: Any, room_id: str, message_id: str) -> dict[str, Any]:
    """``DeleteMessage``; returns the acked tombstone."""
    return await call_ok(client, "DeleteMessage", {"roomId": room_id, "messageId": message_id})


async def react(client: Any, room_id: str, message_id: str, emoji: str, add: bool = True) -> dict[str, Any]:
    """``AddReaction`` (or ``RemoveReaction`` with ``add=False``); returns the acked Message."""
    event = "AddReaction" if add else "RemoveReaction"
    return await call_ok(client, event, {"roomId": room_id, "messageId": message_id, "emoji": emoji})


def reactions(message: dict[str, Any]) -> list[tuple[str, int]]:
    """A Message's reactions as ``[(emoji, count), …]``."""
    return [(r["emoji"], r["count"]) for r in message["reactions"]]


async def wait_change(client: Any, event: str, message_id: str, min_seq: int = 0,
                      timeout: float = WAIT) -> dict[str, Any]:
    """The first ``event`` about ``message_id`` whose ``changeSeq`` is above ``min_seq``."""
    return await client.wait_for(event, lambda d: d.get("id") == message_id and d.get("changeSeq", 0) > min_seq,
                                 timeout=timeout)


async def room_view(api: Any, who: Any, room_id: str) -> dict[str, Any]:
    """``who``'s Room ``room_id`` as ``GET /api/chat/rooms`` lists it."""
    status, rooms = await api.request("GET", "/api/chat/rooms", token=who.token)
    assert status == 200, rooms
    return next(r for r in rooms if r["id"] == room_id)
