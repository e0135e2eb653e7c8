"""SQLite rows → records, and the column lists the queries select.

Ids are SQLite integer keys rendered as strings; a string that is not a
decimal integer can name nothing (:func:`key` gives ``None``).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

import orjson

from ..base import MessageRecord, Reaction, RoomRecord, UserRecord

MESSAGE_COLUMNS = (
    "id, room_id, sender_id, sender_username, content, created_at, client_message_id, type, reply_to_id,"
    " mentioned_user_ids, custom_data, reactions, edited_at, deleted_at, updated_at, change_seq"
)
MESSAGE_WIDTH = 16
CHANGE_SEQ = 15  # where change_seq is in a row of MESSAGE_COLUMNS
ROOM_COLUMNS = "id, type, name, is_public, created_by, created_at, last_activity_at, last_change_seq, topic, custom_data"
ROOM_WIDTH = 10
USER_COLUMNS = "id, username, display_name, password_hash, created_at, last_seen, external_id, token_generation, deleted_at"


def key(value: str | None) -> int | None:
    """An external id as an integer key, or ``None`` when it cannot name a row.

    Only the id's own spelling names it: ``"01"`` is not ``"1"``.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19 and value[0] != "0":
        return int(value)
    return None


def prefixed(columns: str, alias: str) -> str:
    """``"a, b"`` → ``"x.a, x.b"``."""
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def user(row: sqlite3.Row | Sequence[Any]) -> UserRecord:
    return UserRecord(str(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])


def room(row: Sequence[Any]) -> RoomRecord:
    return RoomRecord(str(row[0]), row[1], row[2], bool(row[3]), str(row[4]), row[5], row[6], row[7], row[8], row[9])


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def reactions(text: str | None) -> tuple[Reaction, ...]:
    """The ``reactions`` column (``[[emoji, count], …]``) as records."""
    if not text:
        return ()
    return tuple(Reaction(emoji, count) for emoji, count in orjson.loads(text))


def message(row: Sequence[Any]) -> MessageRecord:
    mentions, system = row[9], row[7] == "system"
    return MessageRecord(
        str(row[0]), str(row[1]), None if system else _str(row[2]), None if system else row[3], row[4], row[5], row[6],
        type=row[7],
        reply_to_id=_str(row[8]),
        mentioned_user_ids=tuple(orjson.loads(mentions)) if mentions else (),
        custom_data=row[10],
        reactions=reactions(row[11]),
        edited_at=row[12],
        deleted_at=row[13],
        updated_at=row[14] if row[14] is not None else row[5],
        change_seq=row[15],
    )
