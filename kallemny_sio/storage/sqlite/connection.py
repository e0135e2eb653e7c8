"""The SQLite connections and transactions every part of the store runs on.

Writes run on one dedicated thread that owns the write connection, so the
event loop never waits on an fsync; every write is one ``BEGIN IMMEDIATE`` …
``COMMIT``. Reads use a second connection directly on the event loop (see
the store's docstring for why).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from ...errors import Unavailable
from .schema import migrate

log = logging.getLogger(__name__)
T = TypeVar("T")
BUSY_TIMEOUT_MS = 10_000


def _enable_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL, waiting out other processes that open it at the same moment.

    Changing the journal mode takes an exclusive lock without going through
    ``busy_timeout``, so processes starting together on a new file can get
    "database is locked" here: retry for as long as the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Connection:
    """The write thread and connection, the read connection, and their error mapping."""

    def __init__(self, path: Path | str, synchronous: str = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self.path = Path(path)
        self._synchronous = synchronous
        self._db: sqlite3.Connection | None = None  # writes, on the writer thread
        self._rdb: sqlite3.Connection | None = None  # reads, on the event loop
        self._executor: ThreadPoolExecutor | None = None

    # -- plumbing ----------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise Unavailable("database unavailable")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            log.error("SQLite error in %s: %s", getattr(fn, "__name__", fn), exc)
            raise Unavailable("database unavailable") from None

    def _query(self, sql: str, args: Sequence[Any] = (), one: bool = False) -> Any:
        """Run a read on the read connection (synchronously: see the module docstring)."""
        if self._rdb is None:
            raise Unavailable("database unavailable")
        try:
            cur = self._rdb.execute(sql, args)
            return cur.fetchone() if one else cur.fetchall()
        except sqlite3.Error as exc:
            log.error("SQLite read error: %s", exc)
            raise Unavailable("database unavailable") from None

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(read_connection, *args)`` with errors mapped to Unavailable."""
        if self._rdb is None:
            raise Unavailable("database unavailable")
        try:
            return fn(self._rdb, *args)
        except sqlite3.Error as exc:
            log.error("SQLite read error in %s: %s", getattr(fn, "__name__", fn), exc)
            raise Unavailable("database unavailable") from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock from its first statement."""
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # also when COMMIT itself failed (disk full, I/O error)
                db.execute("ROLLBACK")
            raise

    def _connect(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enable_wal(db)
        db.execute(f"PRAGMA synchronous = {self._synchronous}")
        db.execute("PRAGMA foreign_keys = ON")
        self._db = db
        with self._write():
            migrate(db)
        reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=1.0)
        reader.execute("PRAGMA busy_timeout = 1000")  # reads run on the loop: never wait long
        self._rdb = reader

    async def open(self) -> None:
        """Open the file (creating it and its schema on first start)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)
        except sqlite3.Error as exc:
            # Start-up ends with this one line (see __main__), so it says what and why.
            raise Unavailable(f"DATABASE_URL: cannot open the SQLite database {str(self.path)!r} ({exc})") from None

    async def close(self) -> None:
        """Close the connection and stop the database thread."""
        executor, self._executor = self._executor, None
        if executor is None:
            return

        def _close() -> None:
            for conn in (self._db, self._rdb):
                if conn is not None:
                    conn.close()
            self._db = self._rdb = None

        await asyncio.get_running_loop().run_in_executor(executor, _close)
        executor.shutdown(wait=True)

    async def ping(self) -> None:
        """Run a trivial query."""
        self._query("SELECT 1", one=True)

    async def _write_one(self, sql: str, args: Sequence[Any]) -> int:
        def _exec() -> int:
            with self._write() as db:
                return db.execute(sql, args).rowcount

        return await self._run(_exec)
    async def _in_write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(db, *args)`` in one write transaction on the writer thread."""

        def _in_transaction() -> T:
            with self._write() as db:
                return fn(db, *args)

        return await self._run(_in_transaction)
