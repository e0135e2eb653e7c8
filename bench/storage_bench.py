"""Workload (f): the store's hot queries on a big database.

Fills a SQLite database with one group room of 1,000,000 messages and one user
who belongs to 1,000 rooms, then times, through the storage interface, the
queries the server runs:

- a history page (the latest 50, a page deep in the past with ``before``,
  a catch-up page with ``after``);
- a change-feed page (``list_changes``, the API's default 100): from an early
  position, from the middle, and the tail catch-up of a client 100 positions
  behind (the page that reaches the end, then reads the room's last position);
- ``get_message`` (random messages of the big room);
- the room list with unread counts and unread mention counts for the
  1,000-room user;
- the private-pair lookup (``get_or_create_private_room`` on an existing pair);
- the membership check (``member_ids`` of the big room).

The data (schema version 2 and later, contract section 6):

- the big room has 50 members; users 2..50 take turns sending. Its messages
  take history positions 1..N and change positions 1..N in creation order (a
  version-1 room after the migration), then a shuffled stream of later changes
  moves messages to positions N+1.. (each message keeps the position of its
  latest change; the ones it left are gaps, as in a live room):
  reactions on 10 % of the messages (1-4 emoji each, each from 1-6 members,
  one change per reaction), edits of 1 %, deletions of 0.2 % (tombstones).
  5 % of the messages reply to a recent one, 1 % mention one or two members
  (user 1 in a fifth of them). ``rooms.last_change_seq`` is the last position;
- the reactions are in both places the store keeps them: the message's
  ``reactions`` column (``[[emoji, count], ...]`` in first-use order) and one
  ``reactions`` row per user and emoji;
- ``mentions`` holds a row per unread mention: user 1 has read the big room
  up to 10,000 messages before its end (about 20 unread mentions there), each
  other member up to their own last message; rooms 2..1,000 are private rooms
  of user 1 with user r, 5 unread messages each, two of which mention user 1
  in two rooms out of three.

The fill writes rows in bulk with plain SQL in the store's own schema (the
store is opened first so that its migrations create it; going through
``add_message`` a million times would measure fsyncs, not queries). The
target is < 5 ms p99 for the history pages, the change-feed pages and the
room list; the others are shown without one.

Usage: python bench/storage_bench.py [--messages N] [--rooms N] [--runs N] [--db PATH] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kallemny_sio.storage.sqlite import SQLiteStore  # noqa: E402

TARGET_P99_MS = 5.0
TARGETED = ("history", "change feed", "room list page of 100")  # query-name prefixes the target applies to
CHANGE_PAGE = 100  # ChangesQuery's default limit
BIG_ROOM_MEMBERS = 50
EMOJI = ("👍", "❤️", "😂", "🎉", "🙏", "🔥", "😮", "👀")
NOW = 1_764_000_000_000
BATCH = 50_000

_MESSAGE_INSERT = (
    "INSERT INTO messages (id, room_id, seq, sender_id, sender_username, content, created_at, client_message_id,"
    " type, reply_to_id, mentioned_user_ids, custom_data, reactions, edited_at, deleted_at, updated_at, change_seq)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'user', ?, ?, NULL, ?, ?, ?, ?, ?)"
)


async def _open_store(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    await store.open()
    return store


def _ids(values: Any) -> str:
    """Mentioned ids as the store writes them: a JSON array of id strings."""
    return json.dumps([str(v) for v in values])


def _batches(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(path: Path, messages: int, rooms: int, seed: int = 1) -> dict[str, Any]:
    """Bulk-fill the schema (see the module docstring); returns the ids and positions the queries use."""
    rng = random.Random(seed)
    n = messages
    members = list(range(1, min(BIG_ROOM_MEMBERS, rooms + 1) + 1))  # users 1..rooms+1 exist
    senders = members[1:]
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    # schema version 4 creates the sender of system messages ('~system', id 1; the store finds it
    # by username): move whatever the schema created past the ids this fill uses
    db.execute("UPDATE users SET id = id + ? WHERE id <= ?", (rooms + 1, rooms + 1))
    db.executemany("INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, 'x', ?)",
                   [(i, f"user{i}", f"User {i}", NOW) for i in range(1, rooms + 2)])

    # -- the big room: who sends, replies, mentions; what changes later -----------
    def sender(s: int) -> int:
        return senders[s % len(senders)]

    mentions: dict[int, tuple[int, ...]] = {}
    replies: dict[int, int] = {}
    for s in range(1, n + 1):
        x = rng.random()
        if x < 0.01:
            others = [u for u in members if u != sender(s)]
            chosen = set(rng.sample(others, min(len(others), rng.randint(1, 2))))
            if rng.random() < 0.2:
                chosen.add(1)
            mentions[s] = tuple(sorted(chosen))
        elif x < 0.06 and s > 1:
            replies[s] = s - rng.randint(1, min(s - 1, 500))
    reacted = sorted(rng.sample(range(1, n + 1), n // 10))
    reactions: dict[int, list[tuple[str, list[int]]]] = {
        m: [(e, rng.sample(members, rng.randint(1, min(6, len(members))))) for e in rng.sample(EMOJI, rng.randint(1, 4))]
        for m in reacted
    }
    edited = set(rng.sample(range(1, n + 1), n // 100))
    plain = [s for s in range(1, n + 1) if s not in reactions and s not in edited and s not in mentions]
    deleted = set(rng.sample(plain, min(len(plain), n // 500)))
    del plain
    # The later changes, shuffled: one event per reaction (a message's own
    # reactions keep their order, so first use is the order listed), one per
    # edit or deletion. Event i takes change position n + 1 + i.
    events = [2 * m for m, rs in reactions.items() for _, users in rs for _ in users]
    events += [2 * m + 1 for m in edited]
    events += [2 * m + 1 for m in deleted]
    rng.shuffle(events)
    change_seq: dict[int, int] = {}
    changed_at: dict[int, int] = {}  # edit or deletion position
    for i, event in enumerate(events):
        m = event >> 1
        change_seq[m] = n + 1 + i
        if event & 1:
            changed_at[m] = n + 1 + i
    last_change = n + len(events)

    # Read pointers: user 1 is 10,000 messages behind, the senders read up to their own last message.
    last_read = {1: max(0, n - 10_000)}
    for i, u in enumerate(senders):
        last = n - ((n - i) % len(senders))
        last_read[u] = last if last >= 1 else 0

    db.execute("INSERT INTO rooms (id, type, name, is_public, created_by, created_at, last_activity_at, last_seq,"
               " last_message_id, last_change_seq) VALUES (1, 'group', 'big', 1, 1, ?, ?, ?, ?, ?)",
               (NOW, NOW + n, n, n if n else None, last_change))
    db.executemany("INSERT INTO memberships (user_id, room_id, joined_at, last_read_seq, last_read_message_id, read_at)"
                   " VALUES (?, 1, ?, ?, ?, ?)",
                   [(u, NOW, last_read[u], last_read[u] or None, NOW + last_read[u] if last_read[u] else None)
                    for u in members])

    def big_room_rows() -> Iterator[tuple[Any, ...]]:
        for s in range(1, n + 1):
            u = sender(s)
            cs = change_seq.get(s, s)
            content = f"message {s} " + "x" * 48
            mention = _ids(mentions[s]) if s in mentions else None
            counts = None
            edited_at = deleted_at = None
            if s in deleted:
                content, mention, deleted_at = "", None, NOW + changed_at[s]
            elif s in edited:
                content, edited_at = f"message {s} (edited) " + "y" * 39, NOW + changed_at[s]
            if s in reactions:
                counts = json.dumps([[e, len(users)] for e, users in reactions[s]], ensure_ascii=False)
            yield (s, 1, s, u, f"user{u}", content, NOW + s, f"c-{s:x}", replies.get(s), mention, counts,
                   edited_at, deleted_at, NOW + cs, cs)

    for batch in _batches(big_room_rows()):
        db.executemany(_MESSAGE_INSERT, batch)
    db.executemany("INSERT INTO reactions (message_id, emoji, user_id) VALUES (?, ?, ?)",
                   ((m, e, u) for m in reacted for e, users in reactions[m] for u in users))
    db.executemany("INSERT INTO mentions (user_id, room_id, seq, message_id) VALUES (?, 1, ?, ?)",
                   ((u, s, s) for s, us in sorted(mentions.items()) if s not in deleted
                    for u in us if s > last_read[u]))

    # -- rooms 2..rooms: private rooms of user 1 with user r, 5 messages from r, unread by user 1 --
    db.executemany("INSERT INTO rooms (id, type, name, is_public, created_by, created_at, last_activity_at, private_key)"
                   " VALUES (?, 'private', NULL, 0, 1, ?, ?, ?)",
                   [(r, NOW, NOW + r, f"1:{r}") for r in range(2, rooms + 1)])
    next_id = n + 1
    rows, mention_rows = [], []
    for r in range(2, rooms + 1):
        for seq in range(1, 6):
            mentioned = r % 3 != 0 and seq in (2, 4)
            rows.append((next_id, r, seq, r, f"user{r}", f"hello {seq}", NOW + r + seq, f"c-{next_id:x}", None,
                         _ids([1]) if mentioned else None, None, None, None, NOW + r + seq, seq))
            if mentioned:
                mention_rows.append((1, r, seq, next_id))
            next_id += 1
    db.executemany(_MESSAGE_INSERT, rows)
    db.executemany("INSERT INTO mentions (user_id, room_id, seq, message_id) VALUES (?, ?, ?, ?)", mention_rows)
    db.execute("UPDATE rooms SET last_seq = 5, last_change_seq = 5,"
               " last_message_id = (SELECT max(id) FROM messages m WHERE m.room_id = rooms.id),"
               " last_activity_at = (SELECT max(created_at) FROM messages m WHERE m.room_id = rooms.id) WHERE id > 1")
    db.executemany("INSERT INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, ?)",
                   [(1, r, NOW) for r in range(2, rooms + 1)])
    db.executemany("INSERT INTO memberships (user_id, room_id, joined_at, last_read_seq, last_read_message_id, read_at)"
                   " SELECT ?, ?, ?, 5, last_message_id, last_activity_at FROM rooms WHERE id = ?",
                   [(r, r, NOW, r) for r in range(2, rooms + 1)])
    if "role" in {c[1] for c in db.execute("PRAGMA table_info(memberships)")}:  # schema version 3 and later
        db.execute("UPDATE memberships SET role = 'owner' WHERE room_id = 1 AND user_id = 1")
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()

    reacted_sample = rng.sample(reacted, min(len(reacted), 1000))
    return {
        "big_room": "1", "deep_cursor": str(n // 2), "user": "1", "pair_other": str(max(2, rooms // 2)),
        "last_change": last_change, "early_change": n // 100, "middle_change": last_change // 2,
        "get_ids": [str(rng.randint(1, n)) for _ in range(1000)] if n else ["1"],
        "reacted_ids": [str(m) for m in reacted_sample] or ["1"],
        "counts": {
            "change_events": len(events), "reacted_messages": len(reacted),
            "reaction_rows": sum(len(users) for rs in reactions.values() for _, users in rs),
            "edited": len(edited), "deleted": len(deleted),
            "mentioning_messages": len(mentions) + len(mention_rows),  # one private-room mention row per message
            "user1_unread_mentions_big_room": sum(1 for s, us in mentions.items()
                                                  if 1 in us and s > last_read[1] and s not in deleted),
        },
    }


async def timed(runs: int, fn: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    """p50 / p99 / max in milliseconds of ``runs`` sequential calls (after 5 warm-ups).

    Wall-clock time, which is what the target is about; ``p99_cpu_ms`` is the
    p99 of the CPU time this thread spent in each call: on a busy machine a
    wall-clock p99 far above it is time the process spent descheduled.
    """
    for _ in range(5):
        await fn()
    samples, cpu = [], []
    for _ in range(runs):
        c0, t0 = time.thread_time(), time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    samples.sort()
    cpu.sort()
    p99 = min(len(samples) - 1, int(len(samples) * 0.99))
    return {"p50_ms": round(statistics.median(samples), 3), "p99_ms": round(samples[p99], 3),
            "max_ms": round(samples[-1], 3), "p99_cpu_ms": round(cpu[p99], 3)}


async def _check(store: SQLiteStore, ids: dict[str, Any], args: argparse.Namespace) -> None:
    """The filled data reads back through the store as intended (a wrong fill would time the wrong thing)."""
    summaries = await store.list_room_summaries(ids["user"])
    middle = summaries[len(summaries) // 2].room
    ids["room_cursor"] = (middle.last_activity_at, middle.id)  # type: ignore[assignment]
    assert len(summaries) == args.rooms, len(summaries)
    by_id = {s.room.id: s for s in summaries}
    if args.messages > args.rooms + 5:
        assert summaries[0].room.id == "1", "the big room has the latest activity"
    if args.rooms > 3:
        assert by_id["2"].unread_count == 5 and by_id["2"].unread_mention_count == 2, by_id["2"]
        assert by_id["3"].unread_mention_count == 0, by_id["3"]
    big = by_id["1"]
    assert big.room.last_change_seq == ids["last_change"], (big.room.last_change_seq, ids["last_change"])
    assert big.unread_mention_count == ids["counts"]["user1_unread_mentions_big_room"], big.unread_mention_count
    assert big.unread_count == min(args.messages, 10_000), big.unread_count
    tail = await store.list_changes(ids["big_room"], ids["last_change"] - 1, 10)
    assert len(tail.messages) == 1 and not tail.has_more and tail.covered == ids["last_change"], tail
    page = await store.list_changes(ids["big_room"], ids["middle_change"], CHANGE_PAGE)
    seqs = [m.change_seq for m in page.messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] > ids["middle_change"], seqs[:5]
    if args.messages >= 10:
        m = await store.get_message(ids["big_room"], ids["reacted_ids"][0])
        assert m is not None and m.reactions and m.change_seq > args.messages, m


async def run(args: argparse.Namespace) -> dict[str, Any]:
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "storage-bench.db"
    load_before = os.getloadavg()[0]
    store = await _open_store(path)  # creates the schema
    await store.close()
    t0 = time.perf_counter()
    ids = fill(path, args.messages, args.rooms)
    fill_s = time.perf_counter() - t0
    store = await _open_store(path)
    room, runs = ids["big_room"], args.runs
    try:
        await _check(store, ids, args)
        get_ids = itertools.cycle(ids["get_ids"])
        results = {
            "history latest 50": await timed(runs, lambda: store.list_messages(room, 50)),
            "history before (deep)": await timed(
                runs, lambda: store.list_messages(room, 50, before=ids["deep_cursor"])),
            "history after (catch-up)": await timed(
                runs, lambda: store.list_messages(room, 50, after=ids["deep_cursor"])),
            f"change feed {CHANGE_PAGE} from an early position": await timed(
                runs, lambda: store.list_changes(room, ids["early_change"], CHANGE_PAGE)),
            f"change feed {CHANGE_PAGE} from the middle": await timed(
                runs, lambda: store.list_changes(room, ids["middle_change"], CHANGE_PAGE)),
            f"change feed tail catch-up (the last {CHANGE_PAGE} positions)": await timed(
                runs, lambda: store.list_changes(room, ids["last_change"] - CHANGE_PAGE, CHANGE_PAGE)),
            "get_message (random ids)": await timed(runs, lambda: store.get_message(room, next(get_ids))),
            # What GET /api/chat/rooms reads: a page (100 by default, 500 at most; the
            # store reads one more to know whether more follow), then every room at once.
            f"room list page of 100 ({args.rooms} rooms, unread + mention counts)": await timed(
                runs, lambda: store.list_room_summaries(ids["user"], limit=101)),
            f"room list page of 100 after a cursor ({args.rooms} rooms)": await timed(
                runs, lambda: store.list_room_summaries(ids["user"], limit=101, after=ids["room_cursor"])),
            f"room list page of 500 ({args.rooms} rooms, the largest page)": await timed(
                max(20, runs // 5), lambda: store.list_room_summaries(ids["user"], limit=501)),
            f"all {args.rooms} rooms at once (no page; for comparison)": await timed(
                max(20, runs // 10), lambda: store.list_room_summaries(ids["user"])),
            "private-pair lookup": await timed(
                runs, lambda: store.get_or_create_private_room(ids["user"], ids["pair_other"], 0)),
            "membership check": await timed(runs, lambda: store.member_ids(room)),
        }
    finally:
        await store.close()
    for name, r in results.items():
        if name.startswith(TARGETED):
            r["target_met"] = r["p99_ms"] < TARGET_P99_MS
    return {"messages": args.messages, "rooms": args.rooms, "fill_seconds": round(fill_s, 1),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)], "target_p99_ms": TARGET_P99_MS,
            "data": ids["counts"] | {"last_change_seq": ids["last_change"]}, "queries": results}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--rooms", type=int, default=1_000)
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--db", help="database file to create (default: a temporary file)")
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args()
    if args.messages < 1 or args.rooms < 2:
        p.error("--messages must be at least 1 and --rooms at least 2")
    result = asyncio.run(run(args))
    d = result["data"]
    print(f"SQLite store, {result['messages']:,} messages in one room, one user in {result['rooms']:,} rooms "
          f"(filled in {result['fill_seconds']} s); {d['reacted_messages']:,} messages with "
          f"{d['reaction_rows']:,} reactions, {d['edited']:,} edited, {d['deleted']:,} deleted, "
          f"{d['change_events']:,} changes after creation (last change position {d['last_change_seq']:,})")
    print(f"load average (1 min) {result['load_average'][0]} before, {result['load_average'][1]} after, "
          f"on {os.cpu_count()} CPUs")
    print(f"| query | p50 ms | p99 ms | max ms | p99 CPU ms | p99 < {TARGET_P99_MS:g} ms |\n"
          "| --- | ---: | ---: | ---: | ---: | --- |")
    for name, r in result["queries"].items():
        verdict = "" if "target_met" not in r else ("met" if r["target_met"] else "**NOT met**")
        print(f"| {name} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['p99_cpu_ms']} | {verdict} |")
    for group in TARGETED:
        rs = [r for name, r in result["queries"].items() if name.startswith(group)]
        ok = all(r["target_met"] for r in rs)
        note = ""
        if not ok and all(r["p99_cpu_ms"] < TARGET_P99_MS for r in rs):
            note = "; CPU time meets it: the misses are time spent descheduled on a busy machine, run again"
        print(f"{group}: {'pass' if ok else 'FAIL'} (worst p99 {max(r['p99_ms'] for r in rs)} ms, "
              f"target < {TARGET_P99_MS:g} ms{note})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
