"""A database made by the previous release (schema version 1) migrates on open.

The file is built here the way the previous release's store built it (its
``_add_message`` and ``_mark_read``): the version-1 script,
``PRAGMA user_version = 1``, then users, rooms, memberships with their read
pointers and messages with a dense per-room ``seq``. Opening a
:class:`SQLiteStore` on it must keep everything and add the section 6 state:
each message's change position is its ``seq``, ``updated_at`` its creation
time, each room's ``last_change_seq`` its ``last_seq``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import AsyncIterator

import pytest

from kallemny_sio.storage.base import MessageRecord, NewMessage, Reaction
from kallemny_sio.storage.sqlite import SQLiteStore
from kallemny_sio.storage.sqlite.schema import MIGRATIONS
from tests.storage.helpers import T0, read_changes

# Old data: users 1-3 (alice, bob, carol); room 1 a group of all three, room 2 the
# private room of alice and bob, room 3 an empty group. Messages interleave the rooms.
USERS = [(1, "alice"), (2, "bob"), (3, "carol")]
MESSAGES = [
    # (room, sender, content, client_message_id)
    (1, 1, "hello group", None),
    (2, 1, "psst bob", "c-1"),
    (1, 2, "hi alice", None),
    (1, 3, "carol here", "c-2"),
    (2, 2, "yes?", None),
    (1, 1, "last in group", None),
]
# Read pointers (user, room) -> seq read, as sending left them (one's own send moves
# one's pointer): in room 1 bob has 2 unread, carol 1; in room 2 alice 1; room 3 none.
READ = {(1, 1): 4, (2, 1): 2, (3, 1): 3, (1, 2): 1, (2, 2): 2}


def build_version_1(path: Path) -> dict[int, list[int]]:
    """Write a version-1 database at ``path``; returns each room's message ids in order."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in MIGRATIONS[0].split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute("BEGIN")
        for user_id, name in USERS:
            db.execute(
                "INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                (user_id, name, name.title(), f"hash:{name}", T0 + user_id),
            )
        db.execute(
            "INSERT INTO rooms (id, type, name, is_public, created_by, created_at, last_activity_at)"
            " VALUES (1, 'group', 'team', 1, 1, ?, ?)",
            (T0 + 10, T0 + 10),
        )
        db.execute(
            "INSERT INTO rooms (id, type, name, is_public, created_by, created_at, last_activity_at, private_key)"
            " VALUES (2, 'private', NULL, 0, 1, ?, ?, '1:2')",
            (T0 + 11, T0 + 11),
        )
        db.execute(
            "INSERT INTO rooms (id, type, name, is_public, created_by, created_at, last_activity_at)"
            " VALUES (3, 'group', 'quiet', 0, 1, ?, ?)",
            (T0 + 12, T0 + 12),
        )
        for user, room in [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (1, 3), (2, 3)]:
            db.execute("INSERT INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, ?)", (user, room, T0 + 10))
        ids: dict[int, list[int]] = {1: [], 2: [], 3: []}
        for i, (room, sender, content, client_id) in enumerate(MESSAGES):
            created = T0 + 100 + i
            (seq,) = db.execute("SELECT last_seq + 1 FROM rooms WHERE id = ?", (room,)).fetchone()
            cur = db.execute(
                "INSERT INTO messages (room_id, seq, sender_id, sender_username, content, created_at,"
                " client_message_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (room, seq, sender, dict(USERS)[sender], content, created, client_id),
            )
            ids[room].append(cur.lastrowid)  # type: ignore[arg-type]
            db.execute(
                "UPDATE rooms SET last_seq = ?, last_message_id = ?, last_activity_at = max(last_activity_at, ?)"
                " WHERE id = ?",
                (seq, cur.lastrowid, created, room),
            )
        for (user, room), seq in READ.items():
            if seq:
                db.execute(
                    "UPDATE memberships SET last_read_seq = ?, last_read_message_id = ?, read_at = ?"
                    " WHERE user_id = ? AND room_id = ?",
                    (seq, ids[room][seq - 1], T0 + 500, user, room),
                )
        db.execute("COMMIT")
    finally:
        db.close()
    return ids


def schema_of(path: Path) -> tuple[int, list[tuple[str, str]]]:
    db = sqlite3.connect(path)
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        return version, db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        db.close()


@pytest.fixture
def old_file(tmp_path: Path) -> tuple[Path, dict[int, list[int]]]:
    path = tmp_path / "old.db"
    return path, build_version_1(path)


@pytest.fixture
async def migrated(old_file: tuple[Path, dict[int, list[int]]]) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(old_file[0])
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def old_messages(ids: dict[int, list[int]], room: int) -> list[MessageRecord]:
    """Room ``room``'s messages as the migrated store must give them."""
    out = []
    for i, (r, sender, content, client_id) in enumerate(MESSAGES):
        if r == room:
            seq = len(out) + 1
            created = T0 + 100 + i
            out.append(MessageRecord(
                id=str(ids[room][seq - 1]), room_id=str(room), sender_id=str(sender),
                sender_username=dict(USERS)[sender], content=content, created_at=created,
                client_message_id=client_id, type="user", updated_at=created, change_seq=seq,
            ))
    return out


async def test_old_messages_are_in_history_with_their_order_as_change_seq(
    migrated: SQLiteStore, old_file: tuple[Path, dict[int, list[int]]]
) -> None:
    ids = old_file[1]
    for room in (1, 2):
        page = await migrated.list_messages(str(room), 100)
        assert page is not None and page.messages == old_messages(ids, room)
        for message in page.messages:
            assert await migrated.get_message(str(room), message.id) == message
    assert await migrated.list_messages("3", 100) is not None


async def test_list_changes_returns_the_old_messages(
    migrated: SQLiteStore, old_file: tuple[Path, dict[int, list[int]]]
) -> None:
    ids = old_file[1]

    for room in (1, 2):
        seen, covered = await read_changes(migrated, str(room), 0, 3)
        assert seen == old_messages(ids, room)
        assert covered == len(ids[room])
    assert (await migrated.list_changes("3", 0, 10)).messages == []


async def test_rooms_last_change_seq_is_their_last_seq(migrated: SQLiteStore) -> None:
    rooms = [await migrated.get_room(room) for room in ("1", "2", "3")]
    positions = {room.id: room.last_change_seq for room in rooms if room is not None}

    assert positions == {"1": 4, "2": 2, "3": 0}
    summaries = {s.room.id: s.room.last_change_seq for s in await migrated.list_room_summaries("1")}
    assert summaries == positions


async def test_unread_counts_survive(migrated: SQLiteStore) -> None:
    expected = {("1", "1"): 0, ("2", "1"): 2, ("3", "1"): 1, ("1", "2"): 1, ("2", "2"): 0, ("1", "3"): 0}

    for (user, room), unread in expected.items():
        summary = await migrated.get_room_summary(room, user)
        assert summary is not None and (summary.unread_count, summary.unread_mention_count) == (unread, 0), (user, room)


async def test_new_changes_take_the_next_positions(
    migrated: SQLiteStore, old_file: tuple[Path, dict[int, list[int]]]
) -> None:
    ids = old_file[1]
    old = old_messages(ids, 1)

    sent = (await migrated.add_message(NewMessage("1", "2", "bob", "new, mentioning carol", T0 + 1000,
                                                  mentioned_user_ids=("3",), reply_to_id=old[0].id))).message
    edited = (await migrated.edit_message("1", old[1].id, "hi alice (edited)", None, False, T0 + 1001)).message
    reacted = (await migrated.add_reaction("1", old[2].id, "1", "👍", T0 + 1002, 50)).message
    deleted = (await migrated.delete_message("1", old[3].id, T0 + 1003)).message
    resend = (await migrated.add_message(NewMessage("1", "3", "carol", "again", T0 + 1004, client_message_id="c-2")))

    assert sent.change_seq == 5 and sent.reply_to_id == old[0].id
    assert edited is not None
    assert (edited.change_seq, edited.content, edited.edited_at) == (6, "hi alice (edited)", T0 + 1001)
    assert reacted is not None and (reacted.change_seq, reacted.reactions) == (7, (Reaction("👍", 1),))
    assert deleted is not None and (deleted.change_seq, deleted.content, deleted.deleted_at) == (8, "", T0 + 1003)
    assert resend.created is False and resend.message == reacted  # old client ids still deduplicate
    assert (await migrated.get_room("1")).last_change_seq == 8  # type: ignore[union-attr]
    seen, covered = await read_changes(migrated, "1", 4)
    assert (seen, covered) == ([sent, edited, reacted, deleted], 8)
    carol = await migrated.get_room_summary("1", "3")
    assert carol is not None and carol.unread_mention_count == 1
    other = (await migrated.add_message(NewMessage("2", "1", "alice", "private again", T0 + 1005))).message
    assert other.change_seq == 3  # the other room's positions are its own
    # a plain message leaves the columns added by the migrations to their defaults: read back as sent
    stored = await migrated.get_message("2", other.id)
    assert stored == other
    assert (stored.type, stored.reply_to_id, stored.mentioned_user_ids, stored.custom_data) == ("user", None, (), None)


async def test_schema_version_is_the_newest(migrated: SQLiteStore, old_file: tuple[Path, dict[int, list[int]]]) -> None:
    version, _ = schema_of(old_file[0])

    assert len(MIGRATIONS) >= 2
    assert version == len(MIGRATIONS)


async def test_opening_again_changes_nothing(old_file: tuple[Path, dict[int, list[int]]]) -> None:
    path, ids = old_file
    first = SQLiteStore(path)
    await first.open()
    try:
        await first.add_reaction("1", str(ids[1][0]), "2", "🎉", T0 + 2000, 50)
        before = [await first.list_changes(room, 0, 100) for room in ("1", "2", "3")]
    finally:
        await first.close()
    schema = schema_of(path)

    again = SQLiteStore(path)
    await again.open()
    try:
        after = [await again.list_changes(room, 0, 100) for room in ("1", "2", "3")]
        bob = await again.get_room_summary("1", "2")
    finally:
        await again.close()

    assert schema_of(path) == schema
    assert after == before
    assert bob is not None and (bob.unread_count, bob.last_read_message_id) == (2, str(ids[1][1]))
    assert before[0].covered == 5


# -- version 3: roles (contract section 7) -------------------------------------------


async def test_old_groups_get_their_creator_as_owner_and_everyone_else_as_member(migrated: SQLiteStore) -> None:
    team = await migrated.room_members("1")
    private = await migrated.room_members("2")

    assert team is not None and private is not None
    assert {m.user_id: m.role for m in team.members.values()} == {"1": "owner", "2": "member", "3": "member"}
    assert {m.role for m in private.members.values()} == {"member"}  # private rooms have no roles
    assert all(m.muted_until is None for m in team.members.values())


async def test_an_old_group_whose_creator_left_is_owned_by_its_oldest_member(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    build_version_1(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DELETE FROM memberships WHERE user_id = 1 AND room_id = 1")  # alice, the creator, had left
    db.execute("UPDATE memberships SET joined_at = joined_at + 5 WHERE user_id = 2 AND room_id = 1")  # carol is older
    db.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        team = await store.room_members("1")
        assert team is not None
        assert {m.user_id: m.role for m in team.members.values()} == {"2": "member", "3": "owner"}
        assert (await store.get_room("1")) is not None
    finally:
        await store.close()
