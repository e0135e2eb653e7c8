"""Records → the JSON shapes of contract section 2 (camelCase, ISO times).

Pure functions shared by the REST routes and the events the core emits, so a
Message looks the same in a history page and in ``ReceiveMessage``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import orjson

from .clock import iso
from ..storage.base import MemberRecord, MessageRecord, ReadState, RoomSummary, UserRecord


def user_view(user: UserRecord, online: bool) -> dict[str, Any]:
    """A User; ``online`` comes from presence, never from the store."""
    return {
        "id": user.id,
        "username": user.username,
        "displayName": user.display_name,
        "isOnline": online,
        "lastSeen": iso(user.last_seen),
        "externalId": user.external_id,
    }


def member_view(user: UserRecord, online: bool, role: str, muted_until: int | None) -> dict[str, Any]:
    """A Member: a User plus the role and mute in one room."""
    return {**user_view(user, online), "role": role, "mutedUntil": iso(muted_until)}


def message_view(message: MessageRecord) -> dict[str, Any]:
    """A Message, in its latest state (a tombstone once deleted)."""
    created = iso(message.created_at)
    updated_at, edited_at, deleted_at = message.updated_at, message.edited_at, message.deleted_at
    return {
        "id": message.id,
        "roomId": message.room_id,
        "senderId": message.sender_id,
        "senderUsername": message.sender_username,
        "content": message.content,
        "createdAt": created,
        "clientMessageId": message.client_message_id,
        "type": message.type,
        "replyToId": message.reply_to_id,
        "mentionedUserIds": list(message.mentioned_user_ids),
        "customData": orjson.loads(message.custom_data) if message.custom_data is not None else None,
        "reactions": [{"emoji": r.emoji, "count": r.count} for r in message.reactions] if message.reactions else [],
        "editedAt": iso(edited_at) if edited_at is not None else None,
        "deletedAt": iso(deleted_at) if deleted_at is not None else None,
        "updatedAt": created if updated_at is None or updated_at == message.created_at else iso(updated_at),
        "changeSeq": message.change_seq,
    }


def room_view(
    summary: RoomSummary, users: Mapping[str, UserRecord], online: Iterable[str], viewer_id: str | None = None
) -> dict[str, Any]:
    """A Room as one member sees it (their own unread count and read pointer)."""
    room, online_ids = summary.room, set(online)
    members = summary.members or tuple(MemberRecord(m, "member", None, 0) for m in summary.member_ids)
    return {
        "id": room.id,
        "type": room.type,
        "name": room.name,
        "topic": room.topic,
        "isPublic": room.is_public,
        "customData": orjson.loads(room.custom_data) if room.custom_data is not None else None,
        "createdBy": room.created_by,
        "createdAt": iso(room.created_at),
        "members": [member_view(users[m.user_id], m.user_id in online_ids, m.role, m.muted_until)
                    for m in members if m.user_id in users],
        "lastMessage": message_view(summary.last_message) if summary.last_message else None,
        "unreadCount": summary.unread_count,
        "unreadMentionCount": summary.unread_mention_count,
        "lastReadMessageId": summary.last_read_message_id,
        "myRole": next((m.role for m in members if m.user_id == viewer_id), "member"),
        "lastChangeSeq": room.last_change_seq,
    }


def read_view(state: ReadState) -> dict[str, Any]:
    """The ``MessagesRead`` payload and the body of a read ack."""
    return {
        "roomId": state.room_id,
        "userId": state.user_id,
        "lastReadMessageId": state.last_read_message_id,
        "readAt": iso(state.read_at),
    }
