"""Records → the JSON shapes of contract section 2 (camelCase, ISO times).

Pure functions shared by the REST routes and the events the core emits, so a
Message looks the same in a history page and in ``ReceiveMessage``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .clock import iso
from ..storage.base import MessageRecord, ReadState, RoomSummary, UserRecord


def user_view(user: UserRecord, online: bool) -> dict[str, Any]:
    """A User; ``online`` comes from presence, never from the store."""
    return {
        "id": user.id,
        "username": user.username,
        "displayName": user.display_name,
        "isOnline": online,
        "lastSeen": iso(user.last_seen),
    }


def message_view(message: MessageRecord) -> dict[str, Any]:
    """A Message."""
    return {
        "id": message.id,
        "roomId": message.room_id,
        "senderId": message.sender_id,
        "senderUsername": message.sender_username,
        "content": message.content,
        "createdAt": iso(message.created_at),
        "clientMessageId": message.client_message_id,
    }


def room_view(summary: RoomSummary, users: Mapping[str, UserRecord], online: Iterable[str]) -> dict[str, Any]:
    """A Room as one member sees it (their own unread count and read pointer)."""
    room, online_ids = summary.room, set(online)
    return {
        "id": room.id,
        "type": room.type,
        "name": room.name,
        "isPublic": room.is_public,
        "createdBy": room.created_by,
        "createdAt": iso(room.created_at),
        "members": [user_view(users[m], m in online_ids) for m in summary.member_ids if m in users],
        "lastMessage": message_view(summary.last_message) if summary.last_message else None,
        "unreadCount": summary.unread_count,
        "lastReadMessageId": summary.last_read_message_id,
    }


def read_view(state: ReadState) -> dict[str, Any]:
    """The ``MessagesRead`` payload and the body of a read ack."""
    return {
        "roomId": state.room_id,
        "userId": state.user_id,
        "lastReadMessageId": state.last_read_message_id,
        "readAt": iso(state.read_at),
    }
