"""The documents the MongoDB store keeps, and how they become plain records.

Collections (one document per thing; ids are ``ObjectId`` and leave as strings):

``users``
    ``username`` (as typed), ``username_lower``, ``display_name``,
    ``password_hash``, ``created_at``, ``last_seen``.
``rooms``
    ``type``, ``name``, ``topic``, ``custom_data`` (JSON text), ``is_public``, ``created_by``, ``created_at``,
    ``last_activity_at``, ``last_seq``, ``last_change_seq`` and ``last_message``
    (a copy of the latest message in its latest state, without who reacted,
    so that a room list takes three queries however many rooms it shows) and,
    for private rooms only, ``pair_key`` (the two user ids, sorted, joined by ``:``).
    ``closing`` is set (to a token) only while an emptied group is being
    deleted, see :mod:`.lifecycle`.
``memberships``
    ``room``, ``user``, ``joined_at``, ``role`` (``"owner"``, ``"admin"``,
    ``"member"``; at most one owner per room, a unique partial index),
    ``muted_until``, the member's read pointer (``read_seq``,
    ``read_message_id``, ``read_at``) and ``unread_mentions`` (the ``seq`` of
    each unread message that mentions them). Read state lives here, not in a
    collection of its own: it exists exactly as long as the membership, every
    query that needs it (room summaries, unread counts) already reads the
    membership, and moving it is a single-document update, atomic without a
    transaction.
``messages``
    A message in its latest state (see :func:`message_doc`): ``room``, ``seq``
    (its place in history), ``change_seq`` (its latest change; 0 while its
    creation is not committed to the change log yet), and ``reactions`` as
    ``[{"emoji", "count", "users"}]`` in order of first use. Reads project
    ``reactions.users`` away (:data:`HIDE_REACTORS`): who reacted never leaves
    the database except to a writer.
``changes``
    The change log, see :mod:`.change_log`.
``bans``
    ``room``, ``user``, ``banned_by``, ``banned_at``; unique (room, user).
``blocks``
    ``blocker``, ``blocked``, ``created_at``; unique (blocker, blocked).
``reports``
    ``_id`` an integer (dense, in the order reports were made, see
    :mod:`.safety`), ``room``, ``message``, ``reporter``, ``reason``,
    ``created_at``, ``message_json`` (the Message as reported). No link is
    enforced: a report outlives its room.
``meta``
    ``{"_id": "schema", "version"}``, see :mod:`.schema`.

Documents written by the previous release lack the fields added since;
:mod:`.schema` fills them in on open, and the readers here default them anyway.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from ...errors import NotFound
from ..base import MemberRecord, MessageRecord, NewMessage, ReadState, Reaction, ReportRecord, RoomRecord, UserRecord
from .driver import Doc

#: Projection for every read that builds records: per-user reactions stay in the database.
HIDE_REACTORS: Doc = {"reactions.users": 0}

# -- ids ------------------------------------------------------------------------


def oid(value: object) -> ObjectId | None:
    """The ObjectId spelled by ``value``, or None when it cannot be one (never raises)."""
    if not isinstance(value, str) or len(value) != 24:
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def require_oid(value: str, what: str) -> ObjectId:
    """Like :func:`oid`, for writes that cannot proceed without the thing.

    Raises:
        NotFound: ``value`` is not an id this store could have made.
    """
    found = oid(value)
    if found is None:
        raise NotFound(f"{what} not found")
    return found


def str_or_none(value: ObjectId | None) -> str | None:
    return None if value is None else str(value)


def int_or_none(value: Any) -> int | None:
    # BSON int64 decodes as bson.Int64: hand out plain ints.
    return None if value is None else int(value)


# -- documents → records --------------------------------------------------------


def user_record(doc: Doc) -> UserRecord:
    return UserRecord(
        id=str(doc["_id"]),
        username=doc["username"],
        display_name=doc["display_name"],
        password_hash=doc["password_hash"],
        created_at=int(doc["created_at"]),
        last_seen=int_or_none(doc.get("last_seen")),
        external_id=doc.get("external_id"),
        token_generation=int(doc.get("token_generation", 0)),
        deleted_at=int_or_none(doc.get("deleted_at")),
    )


def room_record(doc: Doc) -> RoomRecord:
    return RoomRecord(
        id=str(doc["_id"]),
        type=doc["type"],
        name=doc.get("name"),
        is_public=bool(doc["is_public"]),
        created_by=str(doc["created_by"]),
        created_at=int(doc["created_at"]),
        last_activity_at=int(doc["last_activity_at"]),
        last_change_seq=int(doc.get("last_change_seq", doc.get("last_seq") or 0)),
        topic=doc.get("topic"),
        custom_data=doc.get("custom_data"),
    )


def member_record(doc: Doc) -> MemberRecord:
    """A membership as a record (a membership not migrated yet reads as a plain member)."""
    return MemberRecord(
        user_id=str(doc["user"]),
        role=doc.get("role") or "member",
        muted_until=int_or_none(doc.get("muted_until")),
        joined_at=int(doc["joined_at"]),
    )


def joining_order(doc: Doc) -> tuple[int, str]:
    """The sort key of "joining order" (the oldest membership first; ties by user id, as SQLite orders them)."""
    return int(doc["joined_at"]), str(doc["user"])


def report_record(doc: Doc) -> ReportRecord:
    return ReportRecord(
        id=str(doc["_id"]),
        room_id=str(doc["room"]),
        message_id=str(doc["message"]),
        reporter_id=str(doc["reporter"]),
        reason=doc["reason"],
        created_at=int(doc["created_at"]),
        message=doc["message_json"],
    )


def message_record(doc: Doc) -> MessageRecord:
    """The record of a message document, a change's state, or a room's copy of its last message."""
    created_at = int(doc["created_at"])
    system = doc.get("type") == "system"
    return MessageRecord(
        id=str(doc["_id"]),
        room_id=str(doc["room"]),
        sender_id=None if system else str_or_none(doc.get("sender")),
        sender_username=None if system else doc.get("sender_username"),
        content=doc["content"],
        created_at=created_at,
        client_message_id=doc.get("client_message_id"),
        type=doc.get("type", "user"),
        reply_to_id=str_or_none(doc.get("reply_to")),
        mentioned_user_ids=tuple(str(user) for user in doc.get("mentions", ())),
        custom_data=doc.get("custom_data"),
        reactions=tuple(Reaction(r["emoji"], int(r["count"])) for r in doc.get("reactions", ())),
        edited_at=int_or_none(doc.get("edited_at")),
        deleted_at=int_or_none(doc.get("deleted_at")),
        updated_at=int(doc.get("updated_at", created_at)),
        change_seq=int(doc.get("change_seq", doc["seq"])),
    )


def read_state(doc: Doc) -> ReadState:
    return ReadState(
        room_id=str(doc["room"]),
        user_id=str(doc["user"]),
        last_read_message_id=str_or_none(doc.get("read_message_id")),
        read_at=int_or_none(doc.get("read_at")),
    )


def unread_mentions(membership: Doc) -> int:
    """How many messages after the member's read pointer mention them."""
    read_seq = int(membership["read_seq"])
    return sum(1 for seq in membership.get("unread_mentions", ()) if seq > read_seq)


# -- new documents ---------------------------------------------------------------


def membership_doc(
    room: ObjectId, user: ObjectId, joined_at: int, latest: Doc | None = None, role: str = "member"
) -> Doc:
    """A membership with ``role``, unmuted, whose read pointer starts at ``latest`` (a message) or nowhere."""
    return {
        "_id": ObjectId(),
        "room": room,
        "user": user,
        "joined_at": joined_at,
        "role": role,
        "muted_until": None,
        "read_seq": int(latest["seq"]) if latest else 0,
        "read_message_id": latest["_id"] if latest else None,
        "read_at": None,  # the pointer was placed, not read: no read time yet
        "unread_mentions": [],
    }


#: The sender of system messages (the server API's messages without a sender): no user has this id.
SYSTEM_SENDER = ObjectId("000000000000000000000000")


def message_doc(room: ObjectId, sender: ObjectId, message: NewMessage) -> Doc:
    """A new message's document, without its place in history (``seq``) and not yet in the change log."""
    doc: Doc = {
        "_id": ObjectId(),
        "room": room,
        "sender": sender,
        "sender_username": message.sender_username,
        "content": message.content,
        "created_at": message.created_at,
        "type": message.type,
        "reply_to": oid(message.reply_to_id),
        "mentions": [user for user in map(oid, message.mentioned_user_ids) if user is not None],
        "custom_data": message.custom_data,
        "reactions": [],
        "edited_at": None,
        "deleted_at": None,
        "updated_at": message.created_at,
        "change_seq": 0,
    }
    if message.client_message_id is not None:
        doc["client_message_id"] = message.client_message_id
    return doc


def upgraded_message(doc: Doc) -> Doc:
    """A message document of the previous release with this release's fields (its creation is its change)."""
    return {
        "type": "user",
        "reply_to": None,
        "mentions": [],
        "custom_data": None,
        "reactions": [],
        "edited_at": None,
        "deleted_at": None,
        **doc,
        "updated_at": doc.get("updated_at", doc["created_at"]),
        "change_seq": int(doc["seq"]),
    }


def room_copy(state: Doc) -> Doc:
    """What a room keeps of its last message: everything but who reacted."""
    reactions = [{"emoji": r["emoji"], "count": r["count"]} for r in state.get("reactions", ())]
    return {**state, "reactions": reactions}


def group_room_doc(created_by: ObjectId, name: str, is_public: bool, created_at: int) -> Doc:
    return {
        "_id": ObjectId(),
        "type": "group",
        "name": name,
        "topic": None,
        "custom_data": None,
        "is_public": bool(is_public),
        "created_by": created_by,
        "created_at": created_at,
        "last_activity_at": created_at,
        "last_seq": 0,
        "last_change_seq": 0,
        "last_message": None,
    }


def private_room_doc(user_a: ObjectId, user_b: ObjectId, created_at: int) -> Doc:
    return {
        **group_room_doc(user_a, "", False, created_at),
        "type": "private",
        "name": None,
        "pair_key": pair_key(user_a, user_b),
    }


def pair_key(user_a: ObjectId, user_b: ObjectId) -> str:
    """The same key for (a, b) and (b, a): what makes a private room unique per pair."""
    return ":".join(sorted((str(user_a), str(user_b))))
