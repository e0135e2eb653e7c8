"""Workload (f): the store's hot queries on a big database.

Fills a SQLite database with one room of 1,000,000 messages and one user who
belongs to 1,000 rooms (each with a last message and unread messages), then
times, through the storage interface, the queries the server runs:

- a history page (the latest 50, a page deep in the past with ``before``,
  a catch-up page with ``after``);
- the room list with unread counts for the 1,000-room user;
- the private-pair lookup (``get_or_create_private_room`` on an existing pair).

The fill writes rows in bulk with plain SQL in the store's own schema (going
through ``add_message`` a million times would measure fsyncs, not queries).

Usage: python bench/storage_bench.py [--messages N] [--rooms N] [--runs N] [--db PATH] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kallemny_sio.storage.sqlite import SQLiteStore  # noqa: E402


async def _open_store(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    await store.open()
    return store


def fill(path: Path, messages: int, rooms: int) -> dict[str, str]:
    """Bulk-fill the schema: users 1..rooms+1, room 1 with ``messages`` messages, user 1 in ``rooms`` rooms."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    now = 1_764_000_000_000
    db.executemany("INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, 'x', ?)",
                   [(i, f"user{i}", f"User {i}", now) for i in range(1, rooms + 2)])
    # Room 1: the big group; rooms 2..rooms: private rooms of user 1 with user i.
    db.execute("INSERT INTO rooms (id, type, name, is_public, created_by, created_at, last_activity_at) "
               "VALUES (1, 'group', 'big', 1, 1, ?, ?)", (now, now))
    db.executemany("INSERT INTO rooms (id, type, name, is_public, created_by, created_at, last_activity_at, private_key) "
                   "VALUES (?, 'private', NULL, 0, 1, ?, ?, ?)",
                   [(r, now, now + r, f"1:{r}") for r in range(2, rooms + 1)])
    db.executemany("INSERT INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, ?)",
                   [(1, r, now) for r in range(1, rooms + 1)] + [(r, r, now) for r in range(2, rooms + 1)])
    batch: list[tuple[Any, ...]] = []
    for seq in range(1, messages + 1):
        batch.append((seq, 1, seq, 2, "user2", f"message {seq} " + "x" * 48, now + seq, None))
        if len(batch) == 50_000:
            db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
    db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
    db.execute("UPDATE rooms SET last_seq = ?, last_message_id = ?, last_activity_at = ? WHERE id = 1",
               (messages, messages, now + messages))
    # Every private room gets 5 messages from the other user, none read.
    next_id = messages + 1
    rows = []
    for r in range(2, rooms + 1):
        for seq in range(1, 6):
            rows.append((next_id, r, seq, r, f"user{r}", f"hello {seq}", now + r + seq, None))
            next_id += 1
    db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("UPDATE rooms SET last_seq = 5, last_message_id = (SELECT max(id) FROM messages m WHERE m.room_id = rooms.id) "
               "WHERE id > 1")
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()
    return {"big_room": "1", "deep_cursor": str(messages // 2), "user": "1", "pair_other": str(rooms // 2)}


async def timed(runs: int, fn: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    """p50 / p99 / max in milliseconds of ``runs`` sequential calls (after 5 warm-ups)."""
    for _ in range(5):
        await fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 3),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
            "max_ms": round(samples[-1], 3)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "storage-bench.db"
    store = await _open_store(path)  # creates the schema
    await store.close()
    t0 = time.perf_counter()
    ids = fill(path, args.messages, args.rooms)
    fill_s = time.perf_counter() - t0
    store = await _open_store(path)
    try:
        summaries = await store.list_room_summaries(ids["user"])
        assert len(summaries) == args.rooms and summaries[1].unread_count == 5
        results = {
            "history latest 50": await timed(args.runs, lambda: store.list_messages(ids["big_room"], 50)),
            "history before (deep)": await timed(args.runs, lambda: store.list_messages(ids["big_room"], 50, before=ids["deep_cursor"])),
            "history after (catch-up)": await timed(args.runs, lambda: store.list_messages(ids["big_room"], 50, after=ids["deep_cursor"])),
            f"room list ({args.rooms} rooms, unread counts)": await timed(max(20, args.runs // 10), lambda: store.list_room_summaries(ids["user"])),
            "private-pair lookup": await timed(args.runs, lambda: store.get_or_create_private_room(ids["user"], ids["pair_other"], 0)),
            "membership check": await timed(args.runs, lambda: store.member_ids(ids["big_room"])),
        }
    finally:
        await store.close()
    return {"messages": args.messages, "rooms": args.rooms, "fill_seconds": round(fill_s, 1), "queries": results}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--rooms", type=int, default=1_000)
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--db", help="database file to create (default: a temporary file)")
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args()
    result = asyncio.run(run(args))
    print(f"SQLite store, {result['messages']:,} messages in one room, one user in {result['rooms']:,} rooms "
          f"(filled in {result['fill_seconds']} s)")
    print("| query | p50 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: |")
    for name, r in result["queries"].items():
        print(f"| {name} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
