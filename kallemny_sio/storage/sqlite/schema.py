"""The SQLite schema and its versioned migrations, applied on open.

``PRAGMA user_version`` records how many migrations a file has had; each
migration runs once, inside the opening write transaction.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: users, rooms, memberships (with read state), messages.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL COLLATE NOCASE UNIQUE,  -- login lookup, case-insensitive uniqueness, prefix search
        display_name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen INTEGER
    );
    CREATE TABLE rooms (
        id INTEGER PRIMARY KEY,
        type TEXT NOT NULL CHECK (type IN ('private', 'group')),
        name TEXT,
        is_public INTEGER NOT NULL DEFAULT 0,
        created_by INTEGER NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        last_activity_at INTEGER NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,        -- dense per-room message sequence
        last_message_id INTEGER,
        private_key TEXT UNIQUE                      -- "lo:hi" user ids: one private room per pair
    );
    CREATE TABLE memberships (
        user_id INTEGER NOT NULL REFERENCES users(id),
        room_id INTEGER NOT NULL REFERENCES rooms(id),
        joined_at INTEGER NOT NULL,
        last_read_seq INTEGER NOT NULL DEFAULT 0,
        last_read_message_id INTEGER,
        read_at INTEGER,
        PRIMARY KEY (user_id, room_id)               -- a user's rooms, is_member
    ) WITHOUT ROWID;
    CREATE INDEX memberships_by_room ON memberships (room_id, user_id);  -- a room's members
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,        -- never reused, so ids stay unique forever
        room_id INTEGER NOT NULL REFERENCES rooms(id),
        seq INTEGER NOT NULL,
        sender_id INTEGER NOT NULL REFERENCES users(id),
        sender_username TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        client_message_id TEXT
    );
    CREATE UNIQUE INDEX messages_by_room_seq ON messages (room_id, seq);  -- history pages, cursors
    CREATE UNIQUE INDEX messages_idempotency ON messages (room_id, sender_id, client_message_id)
        WHERE client_message_id IS NOT NULL;                              -- resends return the stored message
    """,
    # 2: messages after they are sent (contract section 6): change positions,
    # edits, tombstones, reactions, replies, mentions, custom data.
    """
    ALTER TABLE rooms ADD COLUMN last_change_seq INTEGER NOT NULL DEFAULT 0;  -- the room's latest change position
    UPDATE rooms SET last_change_seq = last_seq;
    ALTER TABLE messages ADD COLUMN type TEXT NOT NULL DEFAULT 'user';
    ALTER TABLE messages ADD COLUMN reply_to_id INTEGER;
    ALTER TABLE messages ADD COLUMN mentioned_user_ids TEXT;                  -- JSON array of ids, NULL when none
    ALTER TABLE messages ADD COLUMN custom_data TEXT;                         -- JSON object as given, or NULL
    ALTER TABLE messages ADD COLUMN reactions TEXT;                           -- JSON [[emoji, count], ...] in first-use order
    ALTER TABLE messages ADD COLUMN edited_at INTEGER;
    ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
    ALTER TABLE messages ADD COLUMN updated_at INTEGER;
    ALTER TABLE messages ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
    UPDATE messages SET change_seq = seq, updated_at = created_at;           -- creation order was the only change so far
    CREATE UNIQUE INDEX messages_by_room_change ON messages (room_id, change_seq);  -- the change feed
    CREATE TABLE reactions (
        message_id INTEGER NOT NULL REFERENCES messages(id),
        emoji TEXT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id),
        PRIMARY KEY (message_id, emoji, user_id)     -- one reaction per user and emoji
    ) WITHOUT ROWID;
    CREATE TABLE mentions (
        user_id INTEGER NOT NULL REFERENCES users(id),
        room_id INTEGER NOT NULL REFERENCES rooms(id),
        seq INTEGER NOT NULL,                        -- the mentioning message's position (rows go when read)
        message_id INTEGER NOT NULL,
        PRIMARY KEY (user_id, room_id, seq)          -- unread mentions of a member: a range count
    ) WITHOUT ROWID
    """,
    # 3: rooms and members after they are created (contract section 7): roles,
    # mutes, topic and custom data, bans, blocks, reports.
    """
    ALTER TABLE memberships ADD COLUMN role TEXT NOT NULL DEFAULT 'member';  -- owner, admin, member
    ALTER TABLE memberships ADD COLUMN muted_until INTEGER;
    UPDATE memberships SET role = 'owner'
        WHERE room_id IN (SELECT id FROM rooms WHERE type = 'group')
          AND user_id = (SELECT created_by FROM rooms WHERE rooms.id = memberships.room_id);
    UPDATE memberships SET role = 'owner'                                  -- a group whose creator left: its oldest member
        WHERE (room_id, user_id) IN (
            SELECT r.id, (SELECT x.user_id FROM memberships x WHERE x.room_id = r.id ORDER BY x.joined_at, x.user_id LIMIT 1)
            FROM rooms r WHERE r.type = 'group'
              AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.room_id = r.id AND o.role = 'owner'));
    ALTER TABLE rooms ADD COLUMN topic TEXT;
    ALTER TABLE rooms ADD COLUMN custom_data TEXT;                        -- JSON object as given, or NULL
    CREATE TABLE bans (
        room_id INTEGER NOT NULL REFERENCES rooms(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        banned_by INTEGER,
        banned_at INTEGER NOT NULL,
        PRIMARY KEY (room_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE blocks (
        blocker_id INTEGER NOT NULL REFERENCES users(id),
        blocked_id INTEGER NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (blocker_id, blocked_id)
    ) WITHOUT ROWID;
    CREATE TABLE reports (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room_id INTEGER NOT NULL,                    -- no foreign keys: a report outlives its room and message
        message_id INTEGER NOT NULL,
        reporter_id INTEGER NOT NULL,
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        message TEXT NOT NULL                        -- the Message as reported (JSON)
    )
    """,
    # 4: the host application's users and the token lifecycle (contract section 8).
    """
    ALTER TABLE users ADD COLUMN external_id TEXT;
    ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN deleted_at INTEGER;
    ALTER TABLE rooms ADD COLUMN deleted_at INTEGER;                        -- a deleted room keeps its row: ids are never reused
    CREATE UNIQUE INDEX users_by_external_id ON users (external_id)
        WHERE external_id IS NOT NULL AND deleted_at IS NULL;                -- one live user per external id
    CREATE INDEX users_deleted_by_external_id ON users (external_id, deleted_at) WHERE deleted_at IS NOT NULL;
    INSERT INTO users (username, display_name, password_hash, created_at, deleted_at)
        VALUES ('~system', 'System', '', 0, 0);                             -- the sender of system messages (no login)
    CREATE TABLE revoked_tokens (
        token_id TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    # 5: the change feed indexes only messages changed after they were sent. A
    # message never changed keeps the position it took when created, and those
    # positions rise with ``seq``, so the (room, seq) index finds them: sending
    # no longer writes a second index entry. Rows from before keep the old rule
    # (``created_change_seq`` -1: every one of them is in the index).
    """
    ALTER TABLE messages ADD COLUMN created_change_seq INTEGER NOT NULL DEFAULT -1;
    DROP INDEX messages_by_room_change;
    CREATE UNIQUE INDEX messages_changed ON messages (room_id, change_seq)
        WHERE change_seq > created_change_seq                                  -- the change feed: changed messages
    """,
]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this file has not had yet; returns the new version."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(f"database schema version {version} is newer than this server ({len(MIGRATIONS)})")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        for statement in script.split(";"):  # no ";" inside the scripts but as separators
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)
