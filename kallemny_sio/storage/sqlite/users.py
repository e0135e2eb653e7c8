"""Users on SQLite: own accounts, the host application's users, and the token lifecycle."""

from __future__ import annotations

import sqlite3
from typing import Iterable, Iterator

from ...errors import Conflict
from ..base import UserRecord
from . import rows
from .connection import Connection
from .rows import USER_COLUMNS, key

_CHUNK = 500  # stays under SQLite's bound-parameter limit
_SELECT = f"SELECT {USER_COLUMNS} FROM users"


def _chunks(items: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _taken(exc: sqlite3.IntegrityError) -> Conflict:
    what = "externalId" if "external_id" in str(exc) else "username"
    return Conflict(f"{what}: already taken")


class UsersStore(Connection):
    """The store's methods for users."""

    async def create_user(self, username: str, display_name: str, password_hash: str, created_at: int) -> UserRecord:
        return await self._insert_user(username, display_name, password_hash, created_at, None)

    async def create_external_user(
        self, external_id: str, username: str, display_name: str, created_at: int
    ) -> UserRecord:
        return await self._insert_user(username, display_name, "", created_at, external_id)

    async def _insert_user(
        self, username: str, display_name: str, password_hash: str, created_at: int, external_id: str | None
    ) -> UserRecord:
        def _create() -> UserRecord:
            with self._write() as db:
                cur = db.execute(
                    "INSERT INTO users (username, display_name, password_hash, created_at, external_id)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (username, display_name, password_hash, created_at, external_id),
                )
            return UserRecord(str(cur.lastrowid), username, display_name, password_hash, created_at, None, external_id)

        try:
            return await self._run(_create)
        except sqlite3.IntegrityError as exc:
            raise _taken(exc) from None

    async def get_user_by_username(self, username: str) -> UserRecord | None:
        row = self._query(f"{_SELECT} WHERE username = ?", (username,), one=True)
        return rows.user(row) if row else None

    async def get_user_by_external_id(self, external_id: str) -> UserRecord | None:
        row = self._query(f"{_SELECT} WHERE external_id = ? AND deleted_at IS NULL", (external_id,), one=True)
        return rows.user(row) if row else None

    async def external_id_deleted_at(self, external_id: str) -> int | None:
        row = self._query("SELECT max(deleted_at) FROM users WHERE external_id = ? AND deleted_at IS NOT NULL",
                          (external_id,), one=True)
        return row[0] if row else None

    async def get_users(self, user_ids: Iterable[str]) -> list[UserRecord]:
        keys = sorted({k for k in map(key, user_ids) if k is not None})
        out: list[UserRecord] = []
        for chunk in _chunks(keys):
            found = self._query(f"{_SELECT} WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            out.extend(map(rows.user, found))
        return out

    async def search_users(self, prefix: str, limit: int) -> list[UserRecord]:
        # Usernames hold only letters, digits, "_", "." and "-", so a range on the
        # NOCASE index is an exact prefix match (no LIKE wildcards to escape).
        sql = f"{_SELECT} WHERE username >= ? AND username < ? AND deleted_at IS NULL ORDER BY username LIMIT ?"
        return [rows.user(r) for r in self._query(sql, (prefix, prefix + "\U0010ffff", limit))]

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._write_one("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, key(user_id)))

    async def set_last_seen(self, user_id: str, last_seen: int) -> None:
        await self._write_one("UPDATE users SET last_seen = ? WHERE id = ?", (last_seen, key(user_id)))

    async def update_user(
        self, user_id: str, display_name: str | None = None, username: str | None = None
    ) -> UserRecord | None:
        user = key(user_id)
        if user is None:
            return None
        fields = {k: v for k, v in (("display_name", display_name), ("username", username)) if v is not None}
        if fields:
            assignments = ", ".join(f"{k} = ?" for k in fields)  # names from the fixed list above
            try:
                await self._write_one(f"UPDATE users SET {assignments} WHERE id = ? AND deleted_at IS NULL",
                                      (*fields.values(), user))
            except sqlite3.IntegrityError as exc:
                raise _taken(exc) from None
        found = await self.get_users([user_id])
        return found[0] if found and found[0].deleted_at is None else None

    async def bump_token_generation(self, user_id: str, password_hash: str | None = None) -> int:
        def _bump() -> int:
            with self._write() as db:
                if password_hash is not None:
                    db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, key(user_id)))
                row = db.execute("UPDATE users SET token_generation = token_generation + 1 WHERE id = ?"
                                 " RETURNING token_generation", (key(user_id),)).fetchone()
            return int(row[0]) if row else 0

        return await self._run(_bump)

    async def delete_user(self, user_id: str, at: int) -> bool:
        # The username is freed by renaming it to one no account can take ("~" is
        # not allowed in usernames); the external id stays, for external_id_deleted_at.
        sql = ("UPDATE users SET deleted_at = ?, username = '~deleted~' || id, password_hash = '',"
               " token_generation = token_generation + 1 WHERE id = ? AND deleted_at IS NULL")
        return await self._write_one(sql, (at, key(user_id))) == 1

    async def revoke_token(self, token_id: str, expires_at: int) -> None:
        await self._write_one("INSERT OR REPLACE INTO revoked_tokens (token_id, expires_at) VALUES (?, ?)",
                              (token_id, expires_at))

    async def revoked_tokens(self, now: int) -> list[tuple[str, int]]:
        return [(r[0], r[1]) for r in self._query(
            "SELECT token_id, expires_at FROM revoked_tokens WHERE expires_at > ?", (now,))]
