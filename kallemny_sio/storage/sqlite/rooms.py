"""Rooms and members after they are created, on SQLite: roles, mutes, bans, blocks, reports.

Functions named ``*_txn`` run inside a write transaction the caller holds,
so a rule that spans rows (an owner who leaves hands the group over; the last
member's departure deletes it; a ban ends the membership) is one commit.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Sequence

from ...errors import NotFound
from ..base import MemberRecord, ReportRecord, RoomMembers, RoomRecord
from . import rows
from .connection import Connection
from .rows import ROOM_COLUMNS, key

_ROOM_FIELDS = {"name", "topic", "is_public", "custom_data"}


def members(db: sqlite3.Connection, room: int) -> RoomMembers | None:
    """The room and its members in joining order; private rooms say whether the pair has a block."""
    found = db.execute(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ? AND deleted_at IS NULL", (room,)).fetchone()
    if found is None:
        return None
    listed = db.execute(
        "SELECT user_id, role, muted_until, joined_at FROM memberships WHERE room_id = ? ORDER BY joined_at, user_id",
        (room,),
    ).fetchall()
    record = rows.room(found)
    roster = {str(u): MemberRecord(str(u), role, muted, joined) for u, role, muted, joined in listed}
    blocked = False
    if record.type == "private" and len(listed) == 2:
        a, b = listed[0][0], listed[1][0]
        blocked = db.execute(
            "SELECT 1 FROM blocks WHERE (blocker_id = ? AND blocked_id = ?) OR (blocker_id = ? AND blocked_id = ?)",
            (a, b, b, a),
        ).fetchone() is not None
    return RoomMembers(record, roster, blocked)


def update_room_txn(db: sqlite3.Connection, room: int, fields: dict[str, Any]) -> bool:
    """Set the given room fields; ``False`` if the room does not exist."""
    unknown = set(fields) - _ROOM_FIELDS
    if unknown:
        raise ValueError(f"not room fields: {sorted(unknown)}")
    if not fields:
        return db.execute("SELECT 1 FROM rooms WHERE id = ?", (room,)).fetchone() is not None
    values = [int(v) if k == "is_public" else v for k, v in fields.items()]
    assignments = ", ".join(f"{k} = ?" for k in fields)  # names checked against _ROOM_FIELDS above
    return db.execute(f"UPDATE rooms SET {assignments} WHERE id = ?", (*values, room)).rowcount == 1


def add_members_txn(db: sqlite3.Connection, room: int, users: Sequence[int], joined_at: int) -> list[int]:
    """Add members (not the banned, not existing ones); read pointers start at the latest message."""
    added = []
    for user in users:
        cur = db.execute(
            "INSERT OR IGNORE INTO memberships (user_id, room_id, joined_at, last_read_seq, last_read_message_id)"
            " SELECT ?, id, ?, last_seq, last_message_id FROM rooms WHERE id = ? AND deleted_at IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM bans WHERE room_id = ? AND user_id = ?)",
            (user, joined_at, room, room, user),
        )
        if cur.rowcount == 1:
            added.append(user)
    return added


def remove_member_txn(db: sqlite3.Connection, room: int, user: int) -> bool:
    """End a membership; hand an owner's group over; delete a group left empty."""
    row = db.execute("SELECT role FROM memberships WHERE user_id = ? AND room_id = ?", (user, room)).fetchone()
    if row is None:
        return False
    db.execute("DELETE FROM mentions WHERE user_id = ? AND room_id = ?", (user, room))
    db.execute("DELETE FROM memberships WHERE user_id = ? AND room_id = ?", (user, room))
    (kind,) = db.execute("SELECT type FROM rooms WHERE id = ?", (room,)).fetchone()
    if kind != "group":
        return True
    heir = db.execute(
        "SELECT user_id FROM memberships WHERE room_id = ?"
        " ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, joined_at, user_id LIMIT 1",
        (room,),
    ).fetchone()
    if heir is None:
        delete_room_txn(db, room)
    elif row[0] == "owner":
        db.execute("UPDATE memberships SET role = 'owner' WHERE user_id = ? AND room_id = ?", (heir[0], room))
    return True


def set_member_txn(
    db: sqlite3.Connection, room: int, user: int, role: str | None, muted_until: int | None, set_muted_until: bool
) -> MemberRecord | None:
    """Change a role (``"owner"`` hands the group over) and/or a mute."""
    if db.execute("SELECT 1 FROM memberships WHERE user_id = ? AND room_id = ?", (user, room)).fetchone() is None:
        return None
    if role == "owner":
        db.execute("UPDATE memberships SET role = 'admin' WHERE room_id = ? AND role = 'owner' AND user_id != ?",
                   (room, user))
    if role is not None:
        db.execute("UPDATE memberships SET role = ? WHERE user_id = ? AND room_id = ?", (role, user, room))
    if set_muted_until:
        db.execute("UPDATE memberships SET muted_until = ? WHERE user_id = ? AND room_id = ?", (muted_until, user, room))
    found = db.execute(
        "SELECT role, muted_until, joined_at FROM memberships WHERE user_id = ? AND room_id = ?", (user, room)
    ).fetchone()
    return MemberRecord(str(user), found[0], found[1], found[2])


def ban_txn(db: sqlite3.Connection, room: int, user: int, by: int | None, at: int) -> bool:
    """Ban a user and end their membership, in one write; whether a membership ended."""
    if db.execute("SELECT 1 FROM rooms WHERE id = ? AND deleted_at IS NULL", (room,)).fetchone() is None:
        return False
    db.execute("INSERT OR IGNORE INTO bans (room_id, user_id, banned_by, banned_at) VALUES (?, ?, ?, ?)",
               (room, user, by, at))
    return remove_member_txn(db, room, user)


def delete_room_txn(db: sqlite3.Connection, room: int, at: int = 0) -> bool:
    """Delete a room and everything in it (reports stay for the operator).

    The room's row stays, marked deleted, so that its id is never given to a
    new room (a client that missed ``RoomDeleted`` must not mistake a new room
    for the old one and its change positions).
    """
    for sql in (
        "DELETE FROM reactions WHERE message_id IN (SELECT id FROM messages WHERE room_id = ?)",
        "DELETE FROM mentions WHERE room_id = ?",
        "DELETE FROM bans WHERE room_id = ?",
        "DELETE FROM memberships WHERE room_id = ?",
        "UPDATE rooms SET last_message_id = NULL WHERE id = ?",
        "DELETE FROM messages WHERE room_id = ?",
    ):
        db.execute(sql, (room,))
    return db.execute("UPDATE rooms SET deleted_at = ?, name = NULL, topic = NULL, custom_data = NULL, private_key = NULL"
                      " WHERE id = ? AND deleted_at IS NULL", (max(at, 1), room)).rowcount == 1


def set_block_txn(db: sqlite3.Connection, blocker: int, blocked: int, blocking: bool, at: int) -> None:
    if blocking:
        db.execute("INSERT OR IGNORE INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)",
                   (blocker, blocked, at))
    else:
        db.execute("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?", (blocker, blocked))


def add_report_txn(
    db: sqlite3.Connection, room: int, message: int, reporter: int, reason: str, snapshot: str, at: int
) -> str:
    cur = db.execute(
        "INSERT INTO reports (room_id, message_id, reporter_id, reason, created_at, message) VALUES (?, ?, ?, ?, ?, ?)",
        (room, message, reporter, reason, at, snapshot),
    )
    return str(cur.lastrowid)


def reports(db: sqlite3.Connection, after: int, limit: int) -> tuple[list[ReportRecord], bool]:
    found = db.execute(
        "SELECT id, room_id, message_id, reporter_id, reason, created_at, message FROM reports"
        " WHERE id > ? ORDER BY id LIMIT ?", (after, limit + 1),
    ).fetchall()
    records = [ReportRecord(str(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4], r[5], r[6]) for r in found[:limit]]
    return records, len(found) > limit


class RoomAdminStore(Connection):
    """The store's methods for rooms and members after they are created (contract section 7)."""

    async def room_members(self, room_id: str) -> RoomMembers | None:
        room = key(room_id)
        return None if room is None else self._read(members, room)

    async def update_room(self, room_id: str, fields: dict[str, Any]) -> RoomRecord | None:
        room = key(room_id)
        if room is None or not await self._in_write(update_room_txn, room, fields):
            return None
        return await self.get_room(room_id)

    async def add_members(self, room_id: str, user_ids: Sequence[str], joined_at: int) -> list[str]:
        room = key(room_id)
        users = [k for k in dict.fromkeys(map(key, user_ids)) if k is not None]
        if room is None or not users:
            return []
        return [str(u) for u in await self._in_write(add_members_txn, room, users, joined_at)]

    async def set_member(
        self, room_id: str, user_id: str, role: str | None = None, muted_until: int | None = None,
        set_muted_until: bool = False,
    ) -> MemberRecord | None:
        room, user = key(room_id), key(user_id)
        if room is None or user is None:
            return None
        return await self._in_write(set_member_txn, room, user, role, muted_until, set_muted_until)

    async def ban(self, room_id: str, user_id: str, banned_by: str, at: int) -> bool:
        room, user = key(room_id), key(user_id)
        if room is None or user is None:
            return False
        return await self._in_write(ban_txn, room, user, key(banned_by), at)

    async def unban(self, room_id: str, user_id: str) -> bool:
        args = (key(room_id), key(user_id))
        if None in args:
            return False
        return await self._write_one("DELETE FROM bans WHERE room_id = ? AND user_id = ?", args) == 1

    async def is_banned(self, room_id: str, user_id: str) -> bool:
        args = (key(room_id), key(user_id))
        if None in args:
            return False
        return bool(self._query("SELECT 1 FROM bans WHERE room_id = ? AND user_id = ?", args, one=True))

    async def delete_room(self, room_id: str) -> bool:
        room = key(room_id)
        return room is not None and await self._in_write(delete_room_txn, room, int(time.time() * 1000))

    async def set_block(self, blocker_id: str, blocked_id: str, blocking: bool, at: int) -> None:
        blocker, blocked = key(blocker_id), key(blocked_id)
        if blocker is not None and blocked is not None:
            await self._in_write(set_block_txn, blocker, blocked, blocking, at)

    async def blocked_ids(self, blocker_id: str) -> list[str]:
        sql = "SELECT blocked_id FROM blocks WHERE blocker_id = ? ORDER BY created_at, blocked_id"
        return [str(r[0]) for r in self._query(sql, (key(blocker_id),))]

    async def blocked_between(self, user_a: str, user_b: str) -> bool:
        a, b = key(user_a), key(user_b)
        sql = "SELECT 1 FROM blocks WHERE (blocker_id = ? AND blocked_id = ?) OR (blocker_id = ? AND blocked_id = ?)"
        return None not in (a, b) and bool(self._query(sql, (a, b, b, a), one=True))

    async def add_report(
        self, room_id: str, message_id: str, reporter_id: str, reason: str, message: str, at: int
    ) -> str:
        room, msg, reporter = key(room_id), key(message_id), key(reporter_id)
        if room is None or msg is None or reporter is None:
            raise NotFound("message not found")
        return await self._in_write(add_report_txn, room, msg, reporter, reason, message, at)

    async def list_reports(self, after: str | None, limit: int) -> tuple[list[ReportRecord], bool]:
        start = 0 if after is None else key(after)
        if start is None:
            return [], False
        return self._read(reports, start, limit)
