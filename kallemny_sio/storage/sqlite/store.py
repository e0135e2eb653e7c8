"""The embedded store: one SQLite file in WAL mode, the zero-setup default.

Writes run on one dedicated thread that owns the write connection, so the
event loop never waits on an fsync. Every write runs in ``BEGIN IMMEDIATE`` …
``COMMIT`` and returns only after the commit (``synchronous=FULL``: the WAL is
fsynced on commit), so an acknowledged write survives a crash of the process
and of the machine; ``NORMAL`` (a setting) still survives the process being
killed, but not a power loss. Messages are
group-committed: the sends that arrive while one commit is being fsynced share
the next transaction (one fsync for many acks, each still acked only after its
commit). Several processes may share one file: the write lock plus
``busy_timeout`` serialise them, and every multi-statement write happens
inside one such transaction.

Reads use a second connection directly on the event loop: in WAL mode a read
never waits for a writer, and an indexed lookup (tens of microseconds) costs
less than a hop to a thread.

Ids are SQLite integer keys rendered as strings; a string that is not a
decimal integer can name nothing and is simply not found.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Iterator, Sequence

from ...errors import NotFound, Unavailable
from ..base import (
    MemberRecord,
    MessagePage,
    NewMessage,
    ReadState,
    RoomRecord,
    RoomSummary,
    Store,
    StoredMessage,
)
from . import messages as msgs
from . import rooms, rows
from .messages import MessageChangesStore
from .rooms import RoomAdminStore
from .users import UsersStore
from .rows import MESSAGE_COLUMNS as _MESSAGE_COLUMNS, ROOM_COLUMNS as _ROOM_COLUMNS, ROOM_WIDTH, key as _key

log = logging.getLogger(__name__)
_CHUNK = 500  # stays under SQLite's bound-parameter limit

_user = rows.user
_room = rows.room
_message = rows.message


def _members(packed: str | None) -> tuple[MemberRecord, ...]:
    """``"id:role:muted_until:joined_at,…"`` (a room summary's member column) → records."""
    if not packed:
        return ()
    out = []
    for item in packed.split(","):
        user, role, muted, joined = item.split(":")
        out.append(MemberRecord(user, role, int(muted) if muted else None, int(joined)))
    return tuple(out)


def _chunks(items: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class SQLiteStore(UsersStore, RoomAdminStore, MessageChangesStore, Store):
    """:class:`Store` on one SQLite file."""

    def __init__(self, path: Path | str, synchronous: str = "FULL") -> None:
        super().__init__(path, synchronous)
        self._pending: list[tuple[int, int, NewMessage, asyncio.Future[StoredMessage]]] = []
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None
        self._system: int | None = None

    async def _system_user(self) -> int | None:
        """The key of the row that stands for the server as the sender of system messages."""
        if self._system is None:
            row = self._query("SELECT id FROM users WHERE username = '~system'", one=True)
            self._system = row[0] if row else None
        return self._system

    # -- rooms and memberships --------------------------------------------

    async def create_group_room(
        self, created_by: str, name: str, is_public: bool, member_ids: Sequence[str], created_at: int
    ) -> RoomRecord:
        members = sorted({k for k in map(_key, member_ids) if k is not None})

        def _create() -> RoomRecord:
            with self._write() as db:
                cur = db.execute(
                    "INSERT INTO rooms (type, name, is_public, created_by, created_at, last_activity_at)"
                    " VALUES ('group', ?, ?, ?, ?, ?)",
                    (name, int(is_public), _key(created_by), created_at, created_at),
                )
                room_id = cur.lastrowid
                creator = _key(created_by)
                db.executemany(
                    "INSERT OR IGNORE INTO memberships (user_id, room_id, joined_at, role) VALUES (?, ?, ?, ?)",
                    [(m, room_id, created_at, "owner" if m == creator else "member") for m in members],
                )
            return RoomRecord(str(room_id), "group", name, is_public, created_by, created_at, created_at)

        return await self._run(_create)

    async def get_or_create_private_room(self, user_a: str, user_b: str, created_at: int) -> tuple[RoomRecord, bool]:
        ka, kb = _key(user_a), _key(user_b)
        if ka is None or kb is None:
            raise NotFound("user not found")
        a, b = sorted((ka, kb))
        pair = f"{a}:{b}"

        def _get_or_create() -> tuple[RoomRecord, bool]:
            # The write lock is held from the SELECT on, so two callers cannot both
            # miss; the UNIQUE private_key is the backstop across any bug.
            with self._write() as db:
                row = db.execute(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE private_key = ?", (pair,)).fetchone()
                if row:
                    return _room(row), False
                cur = db.execute(
                    "INSERT INTO rooms (type, name, is_public, created_by, created_at, last_activity_at, private_key)"
                    " VALUES ('private', NULL, 0, ?, ?, ?, ?)",
                    (_key(user_a), created_at, created_at, pair),
                )
                room_id = cur.lastrowid
                db.executemany(
                    "INSERT INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, ?)",
                    [(a, room_id, created_at), (b, room_id, created_at)],
                )
            return RoomRecord(str(room_id), "private", None, False, user_a, created_at, created_at), True

        return await self._run(_get_or_create)

    async def get_room(self, room_id: str) -> RoomRecord | None:
        key = _key(room_id)
        if key is None:
            return None
        sql = f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE id = ? AND deleted_at IS NULL"
        row = self._query(sql, (key,), one=True)
        return _room(row) if row else None

    async def member_ids(self, room_id: str) -> list[str]:
        key = _key(room_id)
        if key is None:
            return []
        sql = "SELECT user_id FROM memberships WHERE room_id = ? ORDER BY joined_at, user_id"
        return [str(r[0]) for r in self._query(sql, (key,))]

    async def is_member(self, room_id: str, user_id: str) -> bool:
        args = (_key(user_id), _key(room_id))
        if None in args:
            return False
        sql = "SELECT 1 FROM memberships WHERE user_id = ? AND room_id = ?"
        return bool(self._query(sql, args, one=True))

    async def add_member(self, room_id: str, user_id: str, joined_at: int) -> bool:
        room, user = _key(room_id), _key(user_id)
        if room is None or user is None:
            return False

        def _add() -> bool:
            with self._write() as db:
                cur = db.execute(
                    "INSERT OR IGNORE INTO memberships (user_id, room_id, joined_at, last_read_seq, last_read_message_id)"
                    " SELECT ?, id, ?, last_seq, last_message_id FROM rooms WHERE id = ? AND deleted_at IS NULL"
                    " AND NOT EXISTS (SELECT 1 FROM bans WHERE room_id = ? AND user_id = ?)",
                    (user, joined_at, room, room, user),
                )
                return cur.rowcount == 1

        return await self._run(_add)

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        args = (_key(user_id), _key(room_id))
        if None in args:
            return False

        return await self._in_write(rooms.remove_member_txn, args[1], args[0])

    async def room_ids_for_user(self, user_id: str) -> list[str]:
        sql = "SELECT room_id FROM memberships WHERE user_id = ?"
        return [str(r[0]) for r in self._query(sql, (_key(user_id),))]

    async def contact_ids(self, user_id: str) -> list[str]:
        sql = (
            "SELECT DISTINCT o.user_id FROM memberships m JOIN memberships o ON o.room_id = m.room_id"
            " WHERE m.user_id = ? AND o.user_id != m.user_id"
        )
        return [str(r[0]) for r in self._query(sql, (_key(user_id),))]

    async def list_room_summaries(
        self, user_id: str, limit: int | None = None, after: tuple[int, str] | None = None
    ) -> list[RoomSummary]:
        after_key = None if after is None else (after[0], _key(after[1]) or 0)
        return self._read(self._summaries, _key(user_id), None, limit, after_key)

    async def get_room_summary(self, room_id: str, user_id: str) -> RoomSummary | None:
        room = _key(room_id)
        if room is None:
            return None
        found = self._read(self._summaries, _key(user_id), room, None, None)
        return found[0] if found else None

    @staticmethod
    def _summaries(db: sqlite3.Connection, user: int | None, room: int | None, limit: int | None,
                   after: tuple[int, int] | None) -> list[RoomSummary]:
        # The page is chosen first (the member's rooms by activity, from the
        # cursor, LIMIT), then only its rooms get the expensive columns: the
        # member list, the unread mention count and the last message. Unread
        # count is O(1): seq is dense per room (taken in the insert's
        # transaction), so it is last seq minus the reader's; unread mentions
        # are a range count on the mentions key.
        w = ROOM_WIDTH
        where, args = "m.user_id = ?", [user]
        if room is not None:
            where += " AND m.room_id = ?"
            args.append(room)
        if after is not None:
            where += " AND (r.last_activity_at < ? OR (r.last_activity_at = ? AND r.id < ?))"
            args += [after[0], after[0], after[1]]
        sql = (
            "WITH page AS MATERIALIZED (SELECT m.room_id, m.user_id, m.last_read_seq, m.last_read_message_id"
            f" FROM memberships m JOIN rooms r ON r.id = m.room_id WHERE {where}"
            " ORDER BY r.last_activity_at DESC, r.id DESC" + (" LIMIT ?" if limit is not None else "") + ")"
            f" SELECT {rows.prefixed(_ROOM_COLUMNS, 'r')}, r.last_seq - p.last_read_seq, p.last_read_message_id,"
            " (SELECT group_concat(x.user_id || ':' || x.role || ':' || ifnull(x.muted_until, '') || ':' || x.joined_at)"
            "  FROM (SELECT * FROM memberships y WHERE y.room_id = r.id ORDER BY y.joined_at, y.user_id) x),"
            " (SELECT count(*) FROM mentions n WHERE n.user_id = p.user_id AND n.room_id = r.id"
            "  AND n.seq > p.last_read_seq),"
            f" {rows.prefixed(_MESSAGE_COLUMNS, 'l')}"
            " FROM page p JOIN rooms r ON r.id = p.room_id LEFT JOIN messages l ON l.id = r.last_message_id"
            " ORDER BY r.last_activity_at DESC, r.id DESC"
        )
        if limit is not None:
            args.append(limit)
        out = []
        for r in db.execute(sql, args).fetchall():
            members = _members(r[w + 2])
            out.append(RoomSummary(
                room=_room(r),
                member_ids=tuple(m.user_id for m in members),
                last_message=_message(r[w + 4:]) if r[w + 4] is not None else None,
                unread_count=max(0, r[w]),
                last_read_message_id=str(r[w + 1]) if r[w + 1] is not None else None,
                unread_mention_count=r[w + 3],
                members=members,
            ))
        return out

    # -- messages ----------------------------------------------------------

    async def add_message(self, message: NewMessage) -> StoredMessage:
        room = _key(message.room_id)
        sender = _key(message.sender_id) if message.sender_id is not None else await self._system_user()
        if room is None or sender is None:
            raise NotFound("room not found")
        future: asyncio.Future[StoredMessage] = asyncio.get_running_loop().create_future()
        self._pending.append((room, sender, message, future))
        if not self._flushing:
            self._flushing = True
            self._flusher = asyncio.get_running_loop().create_task(self._flush_messages(), name="sqlite-group-commit")
        return await future

    async def _flush_messages(self) -> None:
        """Commit queued messages, one transaction per batch, until the queue is empty.

        Each sender's future resolves only after the transaction holding its
        message has committed; a failure of one message fails only its own future.
        """
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    outcomes = await self._run(self._add_messages, [(r, s, m) for r, s, m, _ in batch])
                except Exception as exc:  # the whole transaction failed: every sender hears it
                    outcomes = [exc] * len(batch)
                for (_, _, _, future), outcome in zip(batch, outcomes):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._flushing = False
            if self._pending:  # cancelled (shutdown): nobody may wait forever for an ack
                batch, self._pending = self._pending, []
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(Unavailable("database unavailable"))

    def _add_messages(self, batch: list[tuple[int, int, NewMessage]]) -> list[StoredMessage | Exception]:
        """Store a batch in one transaction; a message that fails fails alone.

        The common case runs without a savepoint per message (they cost as
        much as a third of the insert): an unknown room writes nothing before
        it is refused. Any other failure rolls the whole batch back, and it is
        redone with one savepoint per message.
        """
        try:
            with self._write() as db:
                return [_add_or_refuse(db, room, sender, message) for room, sender, message in batch]
        except Exception:  # noqa: BLE001 - rolled back; the careful path below finds and reports the culprit
            pass
        outcomes: list[StoredMessage | Exception] = []
        with self._write() as db:
            for index, (room, sender, message) in enumerate(batch):
                db.execute(f"SAVEPOINT m{index}")
                try:
                    outcomes.append(msgs.add_message_txn(db, room, sender, message))
                    db.execute(f"RELEASE m{index}")
                except Exception as exc:  # noqa: BLE001 - one bad message must not sink its batch
                    db.execute(f"ROLLBACK TO m{index}")
                    db.execute(f"RELEASE m{index}")
                    if not isinstance(exc, NotFound):
                        log.error("message not stored: %s", exc)
                        exc = Unavailable("database unavailable")
                    outcomes.append(exc)
        return outcomes

    async def list_messages(
        self, room_id: str, limit: int, before: str | None = None, after: str | None = None
    ) -> MessagePage | None:
        room = _key(room_id)
        if room is None:
            return None
        return self._read(msgs.page, room, limit, before, after)

    async def mark_read(self, room_id: str, user_id: str, message_id: str | None, read_at: int) -> ReadState | None:
        room, user = _key(room_id), _key(user_id)
        if room is None or user is None:
            return None
        if message_id is not None and _key(message_id) is None:
            return None
        return await self._run(self._mark_read, room, user, _key(message_id) if message_id else None, read_at)

    def _mark_read(self, room: int, user: int, message: int | None, read_at: int) -> ReadState | None:
        with self._write() as db:
            return msgs.mark_read_txn(db, room, user, message, read_at)


def _add_or_refuse(db: sqlite3.Connection, room: int, sender: int, message: NewMessage) -> StoredMessage | Exception:
    """One message of a batch: stored, or ``NotFound`` (its room is gone; nothing was written)."""
    try:
        return msgs.add_message_txn(db, room, sender, message)
    except NotFound as exc:
        return exc
