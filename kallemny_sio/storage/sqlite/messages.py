"""Messages on SQLite: sends, changes after the send, history pages and the change feed.

Functions named ``*_txn`` run inside a write transaction the caller holds
(``BEGIN IMMEDIATE``), so a change and the change position it takes commit
together, and the write lock orders positions: a reader never sees position
N before N-1 (contract section 6). The others are reads on the read
connection.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable

import orjson

from ...errors import NotFound
from ..base import ChangePage, MessageChange, MessagePage, MessageRecord, NewMessage, ReadState, StoredMessage
from . import rows
from .connection import Connection
from .rows import MESSAGE_COLUMNS, key

_SELECT = f"SELECT {MESSAGE_COLUMNS} FROM messages"


def _dump(value: Any) -> str:
    return orjson.dumps(value).decode()


_INSERT_FULL = (
    "INSERT INTO messages (room_id, seq, sender_id, sender_username, content, created_at, client_message_id,"
    " type, reply_to_id, mentioned_user_ids, custom_data, updated_at, change_seq, created_change_seq)"
    " SELECT id, last_seq + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, last_change_seq + 1, last_change_seq + 1"
    " FROM rooms WHERE id = ?"
    " RETURNING id, seq, change_seq"
)
_INSERT_PLAIN = (
    "INSERT INTO messages (room_id, seq, sender_id, sender_username, content, created_at, client_message_id,"
    " updated_at, change_seq, created_change_seq)"
    " SELECT id, last_seq + 1, ?, ?, ?, ?, ?, ?, last_change_seq + 1, last_change_seq + 1"
    " FROM rooms WHERE id = ?"
    " RETURNING id, seq, change_seq"
)


def add_message_txn(db: sqlite3.Connection, room: int, sender: int, m: NewMessage) -> StoredMessage:
    """Insert a message at the room's next position and next change position.

    Raises:
        NotFound: no such room.
    """
    if m.client_message_id is not None:
        # Safe as a read-then-write: the write lock is already held, and the
        # unique index on (room, sender, client id) backs it up.
        row = db.execute(
            f"{_SELECT} WHERE room_id = ? AND sender_id = ? AND client_message_id = ?",
            (room, sender, m.client_message_id),
        ).fetchone()
        if row:
            return StoredMessage(rows.message(row), created=False)
    # One statement takes the room's next positions and inserts: nothing is
    # written when the room does not exist (so no savepoint is needed for it).
    if m.type == "user" and m.reply_to_id is None and not m.mentioned_user_ids and m.custom_data is None:
        # the common message: the optional columns keep their defaults ('user', NULL)
        row = db.execute(_INSERT_PLAIN, (sender, m.sender_username, m.content, m.created_at, m.client_message_id,
                                         m.created_at, room)).fetchone()
    else:
        mentions = _dump(list(m.mentioned_user_ids)) if m.mentioned_user_ids else None
        row = db.execute(_INSERT_FULL, (sender, m.sender_username, m.content, m.created_at, m.client_message_id,
                                        m.type, key(m.reply_to_id), mentions, m.custom_data, m.created_at,
                                        room)).fetchone()
    if row is None:
        raise NotFound("room not found")
    msg_id, seq, change = row
    db.execute(
        "UPDATE rooms SET last_seq = ?, last_change_seq = ?, last_message_id = ?,"
        " last_activity_at = max(last_activity_at, ?) WHERE id = ?",
        (seq, change, msg_id, m.created_at, room),
    )
    db.execute(
        "UPDATE memberships SET last_read_seq = ?, last_read_message_id = ?, read_at = ?"
        " WHERE user_id = ? AND room_id = ? AND last_read_seq < ?",
        (seq, msg_id, m.created_at, sender, room, seq),
    )
    if m.mentioned_user_ids:
        mentioned = {k for k in map(key, m.mentioned_user_ids) if k is not None and k != sender}
        db.executemany(
            "INSERT OR IGNORE INTO mentions (user_id, room_id, seq, message_id) VALUES (?, ?, ?, ?)",
            [(u, room, seq, msg_id) for u in sorted(mentioned)],
        )
    record = MessageRecord(
        str(msg_id), str(room), m.sender_id, m.sender_username if m.sender_id is not None else None, m.content,
        m.created_at, m.client_message_id,
        type=m.type, reply_to_id=m.reply_to_id, mentioned_user_ids=tuple(m.mentioned_user_ids),
        custom_data=m.custom_data, updated_at=m.created_at, change_seq=change,
    )
    return StoredMessage(record, created=True)


def find_txn(db: sqlite3.Connection, room: int, message: int) -> MessageRecord | None:
    """The message ``message`` if it belongs to ``room``."""
    row = db.execute(f"{_SELECT} WHERE id = ? AND room_id = ?", (message, room)).fetchone()
    return rows.message(row) if row else None


def _next_change_txn(db: sqlite3.Connection, room: int) -> int:
    """Take the room's next change position."""
    (change,) = db.execute(
        "UPDATE rooms SET last_change_seq = last_change_seq + 1 WHERE id = ? RETURNING last_change_seq", (room,)
    ).fetchone()
    return int(change)


def edit_txn(
    db: sqlite3.Connection, room: int, message: int, content: str | None, custom_data: str | None,
    set_custom_data: bool, at: int,
) -> MessageChange:
    """Replace content and/or custom data (see :meth:`Store.edit_message`)."""
    found = find_txn(db, room, message)
    if found is None:
        return MessageChange(None)
    if found.deleted_at is not None:
        return MessageChange(found, refused="deleted")
    new_content = found.content if content is None else content
    new_data = custom_data if set_custom_data else found.custom_data
    if new_content == found.content and new_data == found.custom_data:
        return MessageChange(found)
    change = _next_change_txn(db, room)
    db.execute(
        "UPDATE messages SET content = ?, custom_data = ?, edited_at = ?, updated_at = ?, change_seq = ? WHERE id = ?",
        (new_content, new_data, at, at, change, message),
    )
    return MessageChange(find_txn(db, room, message), changed=True)


def delete_txn(db: sqlite3.Connection, room: int, message: int, at: int) -> MessageChange:
    """Make the message a tombstone (see :meth:`Store.delete_message`)."""
    found = find_txn(db, room, message)
    if found is None or found.deleted_at is not None:
        return MessageChange(found)
    change = _next_change_txn(db, room)
    db.execute(
        "UPDATE messages SET content = '', custom_data = NULL, reactions = NULL, mentioned_user_ids = NULL,"
        " deleted_at = ?, updated_at = ?, change_seq = ? WHERE id = ?",
        (at, at, change, message),
    )
    db.execute("DELETE FROM reactions WHERE message_id = ?", (message,))
    db.execute("DELETE FROM mentions WHERE message_id = ?", (message,))
    return MessageChange(find_txn(db, room, message), changed=True)


def react_txn(
    db: sqlite3.Connection, room: int, message: int, user: int, emoji: str, adding: bool, at: int, max_emoji: int
) -> MessageChange:
    """Add or withdraw one user's reaction; the counts on the message follow."""
    found = find_txn(db, room, message)
    if found is None:
        return MessageChange(None)
    if found.deleted_at is not None:
        return MessageChange(found, refused="deleted")
    counts = {r.emoji: r.count for r in found.reactions}  # insertion order = first use
    if adding:
        if emoji not in counts and len(counts) >= max_emoji:
            return MessageChange(found, refused="too_many_emoji")
        sql = "INSERT OR IGNORE INTO reactions (message_id, emoji, user_id) VALUES (?, ?, ?)"
    else:
        sql = "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?"
    if db.execute(sql, (message, emoji, user)).rowcount != 1:
        return MessageChange(found)
    counts[emoji] = counts.get(emoji, 0) + (1 if adding else -1)
    if counts[emoji] <= 0:
        del counts[emoji]
    change = _next_change_txn(db, room)
    db.execute(
        "UPDATE messages SET reactions = ?, updated_at = ?, change_seq = ? WHERE id = ?",
        (_dump([[e, c] for e, c in counts.items()]) if counts else None, at, change, message),
    )
    return MessageChange(find_txn(db, room, message), changed=True)


def page(db: sqlite3.Connection, room: int, limit: int, before: str | None, after: str | None) -> MessagePage | None:
    """A page of history by position (see :meth:`Store.list_messages`)."""
    cursor = before if before is not None else after
    if cursor is not None:
        row = db.execute("SELECT seq FROM messages WHERE id = ? AND room_id = ?", (key(cursor), room)).fetchone()
        if row is None:
            return None
    base = f"{_SELECT} WHERE room_id = ?"
    if after is not None:
        found = db.execute(base + " AND seq > ? ORDER BY seq ASC LIMIT ?", (room, row[0], limit + 1)).fetchall()
        return MessagePage([rows.message(r) for r in found[:limit]], len(found) > limit)
    if before is not None:
        found = db.execute(base + " AND seq < ? ORDER BY seq DESC LIMIT ?", (room, row[0], limit + 1)).fetchall()
    else:
        found = db.execute(base + " ORDER BY seq DESC LIMIT ?", (room, limit + 1)).fetchall()
    messages = [rows.message(r) for r in found[:limit]]
    messages.reverse()
    return MessagePage(messages, len(found) > limit)


def changes(db: sqlite3.Connection, room: int, after: int, limit: int) -> ChangePage:
    """The change feed (see :meth:`Store.list_changes`), read in one snapshot.

    Two ranges make it: messages changed since they were sent (the partial
    index on (room, change_seq)), and messages never changed, whose positions
    are the ones they took when created and rise with ``seq`` (the first one
    after ``after`` is found by a binary search on ``seq``, then the (room,
    seq) index walks on). The page is the first ``limit`` of the two merged.
    The room's latest position bounds both: every position up to it has
    committed (a change and its position commit together), so ``covered``
    never passes a change the page did not see.
    """
    db.execute("BEGIN")
    try:
        last = db.execute("SELECT last_change_seq, last_seq FROM rooms WHERE id = ?", (room,)).fetchone()
        if last is None:
            return ChangePage([], False, 0)
        bound, last_seq = int(last[0]), int(last[1])
        changed = db.execute(
            f"{_SELECT} WHERE room_id = ? AND change_seq > ? AND change_seq <= ? AND change_seq > created_change_seq"
            " ORDER BY change_seq ASC LIMIT ?",
            (room, after, bound, limit + 1),
        ).fetchall()
        start = _first_created_after(db, room, after, last_seq)
        unchanged = db.execute(
            f"{_SELECT} WHERE room_id = ? AND seq >= ? AND change_seq = created_change_seq AND change_seq <= ?"
            " ORDER BY seq ASC LIMIT ?",
            (room, start, bound, limit + 1),
        ).fetchall() if start is not None else []
    finally:
        db.execute("COMMIT")
    found = sorted(changed + unchanged, key=lambda r: r[rows.CHANGE_SEQ])[:limit + 1]
    messages = [rows.message(r) for r in found[:limit]]
    if len(found) > limit:
        return ChangePage(messages, True, messages[-1].change_seq)
    return ChangePage(messages, False, bound)


def _first_created_after(db: sqlite3.Connection, room: int, after: int, last_seq: int) -> int | None:
    """The lowest ``seq`` whose creation position is past ``after`` (they rise with ``seq``), or None."""
    lo, hi = 1, last_seq + 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = db.execute("SELECT created_change_seq FROM messages WHERE room_id = ? AND seq = ?", (room, mid)).fetchone()
        if row is not None and row[0] > after:
            hi = mid
        else:
            lo = mid + 1
    return lo if lo <= last_seq else None


def mark_read_txn(db: sqlite3.Connection, room: int, user: int, message: int | None, read_at: int) -> ReadState | None:
    """Move the read pointer forward; mentions up to it are read with it."""
    if message is None:
        target = db.execute("SELECT last_seq, last_message_id FROM rooms WHERE id = ?", (room,)).fetchone()
    else:
        target = db.execute("SELECT seq, id FROM messages WHERE id = ? AND room_id = ?", (message, room)).fetchone()
    if target is None:
        return None
    seq, msg_id = target
    if msg_id is not None:
        moved = db.execute(
            "UPDATE memberships SET last_read_seq = ?, last_read_message_id = ?, read_at = ?"
            " WHERE user_id = ? AND room_id = ? AND last_read_seq < ?",
            (seq, msg_id, read_at, user, room, seq),
        ).rowcount
        if moved:
            db.execute("DELETE FROM mentions WHERE user_id = ? AND room_id = ? AND seq <= ?", (user, room, seq))
    row = db.execute(
        "SELECT last_read_message_id, read_at FROM memberships WHERE user_id = ? AND room_id = ?", (user, room)
    ).fetchone()
    if row is None:
        return None
    return ReadState(str(room), str(user), str(row[0]) if row[0] is not None else None, row[1])


class MessageChangesStore(Connection):
    """The store's methods for messages after they are sent (contract section 6)."""

    async def get_message(self, room_id: str, message_id: str) -> MessageRecord | None:
        room, message = key(room_id), key(message_id)
        if room is None or message is None:
            return None
        return self._read(find_txn, room, message)

    async def _change(self, room_id: str, message_id: str, fn: Callable[..., MessageChange], *args: Any) -> MessageChange:
        """Run ``fn(db, room, message, *args)`` in one write transaction."""
        room, message = key(room_id), key(message_id)
        if room is None or message is None:
            return MessageChange(None)

        def _in_transaction() -> MessageChange:
            with self._write() as db:
                return fn(db, room, message, *args)

        return await self._run(_in_transaction)

    async def edit_message(
        self, room_id: str, message_id: str, content: str | None, custom_data: str | None, set_custom_data: bool,
        at: int,
    ) -> MessageChange:
        return await self._change(room_id, message_id, edit_txn, content, custom_data, set_custom_data, at)

    async def delete_message(self, room_id: str, message_id: str, at: int) -> MessageChange:
        return await self._change(room_id, message_id, delete_txn, at)

    async def add_reaction(
        self, room_id: str, message_id: str, user_id: str, emoji: str, at: int, max_emoji: int
    ) -> MessageChange:
        user = key(user_id)
        if user is None:
            return MessageChange(await self.get_message(room_id, message_id))
        return await self._change(room_id, message_id, react_txn, user, emoji, True, at, max_emoji)

    async def remove_reaction(self, room_id: str, message_id: str, user_id: str, emoji: str, at: int) -> MessageChange:
        user = key(user_id)
        if user is None:
            return MessageChange(await self.get_message(room_id, message_id))
        return await self._change(room_id, message_id, react_txn, user, emoji, False, at, 0)

    async def list_changes(self, room_id: str, after: int, limit: int) -> ChangePage:
        room = key(room_id)
        if room is None:
            return ChangePage([], False, 0)
        return self._read(changes, room, after, limit)
