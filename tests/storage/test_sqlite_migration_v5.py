"""A database made by schema version 4 migrates to 5: the change feed indexes only changed messages.

Version 4 kept every message in a unique (room, change_seq) index; version 5
keeps there only messages changed after they were sent, and finds the others
through (room, seq). The file is made as the version-4 store made it: the
version-1 file of ``test_sqlite_migration``, scripts 2-4, then messages that
take the room's next ``change_seq`` and an edit that moves one of them on.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kallemny_sio.storage.base import NewMessage
from kallemny_sio.storage.sqlite import SQLiteStore
from kallemny_sio.storage.sqlite.schema import MIGRATIONS
from tests.storage.helpers import T0, read_changes
from tests.storage.test_sqlite_migration import build_version_1


def build_version_4(path: Path) -> dict[int, list[int]]:
    """The version-1 file, migrated to 4, with two more messages in room 1 and an edit of its first message."""
    ids = build_version_1(path)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for number in (2, 3, 4):
            for statement in MIGRATIONS[number - 1].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute("BEGIN")
        for content in ("v4 one", "v4 two"):
            seq, change = db.execute("SELECT last_seq + 1, last_change_seq + 1 FROM rooms WHERE id = 1").fetchone()
            cur = db.execute(
                "INSERT INTO messages (room_id, seq, sender_id, sender_username, content, created_at, updated_at,"
                " change_seq) VALUES (1, ?, 2, 'bob', ?, ?, ?, ?)", (seq, content, T0 + 900 + seq, T0 + 900 + seq, change))
            ids[1].append(cur.lastrowid)  # type: ignore[arg-type]
            db.execute("UPDATE rooms SET last_seq = ?, last_change_seq = ?, last_message_id = ? WHERE id = 1",
                       (seq, change, cur.lastrowid))
        (change,) = db.execute(
            "UPDATE rooms SET last_change_seq = last_change_seq + 1 WHERE id = 1 RETURNING last_change_seq").fetchone()
        db.execute("UPDATE messages SET content = 'edited in v4', edited_at = ?, updated_at = ?, change_seq = ?"
                   " WHERE id = ?", (T0 + 990, T0 + 990, change, ids[1][0]))
        db.execute("COMMIT")
    finally:
        db.close()
    return ids


async def test_version_4_file_migrates_and_its_change_feed_keeps_every_change(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    ids = build_version_4(path)
    store = SQLiteStore(path)
    await store.open()
    try:
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5
            indexes = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'").fetchall())
            assert "messages_by_room_change" not in indexes
            assert "WHERE change_seq > created_change_seq" in indexes["messages_changed"]
        finally:
            db.close()

        before, last = await read_changes(store, "1")
        # room 1: four v1 messages (positions 1-4), two v4 ones (5, 6), then the edit of the first (7)
        assert [m.content for m in before] == ["hi alice", "carol here", "last in group", "v4 one", "v4 two",
                                              "edited in v4"]
        assert [m.change_seq for m in before] == [2, 3, 4, 5, 6, 7] and last == 7
        assert before[-1].id == str(ids[1][0])

        # After the migration: a new message takes 8 (not indexed as changed), an edit of an old one 9.
        sent = await store.add_message(NewMessage("1", "3", "carol", "after v5", T0 + 2000))
        assert sent.message.change_seq == 8
        assert await store.get_message("1", sent.message.id) == sent.message  # the defaults read back as sent
        assert (sent.message.type, sent.message.reply_to_id, sent.message.custom_data) == ("user", None, None)
        edited = await store.edit_message("1", str(ids[1][5]), "v4 two, edited", None, False, T0 + 2001)
        assert edited.message is not None and edited.message.change_seq == 9

        every, last = await read_changes(store, "1")
        assert [(m.content, m.change_seq) for m in every] == [
            ("hi alice", 2), ("carol here", 3), ("last in group", 4), ("v4 one", 5), ("edited in v4", 7),
            ("after v5", 8), ("v4 two, edited", 9)]
        assert last == 9
        for after in range(0, 10):  # every starting point sees exactly the later changes, each once
            page = await store.list_changes("1", after, 100)
            assert [m.change_seq for m in page.messages] == [m.change_seq for m in every if m.change_seq > after]
            assert page.covered == 9 and not page.has_more
    finally:
        await store.close()
