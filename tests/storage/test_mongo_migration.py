"""MongoDB databases made by the previous release work after ``open()``, on one node or two.

Each test builds a database in the previous release's shape (schema 1: messages
without change positions or the fields of contract section 6, rooms without
``last_change_seq``, no ``changes`` collection) by inserting documents with
pymongo, then opens :class:`MongoStore` on it. They run on the MongoDB-compatible
test server, or on the real MongoDB named by ``KALLEMNY_TEST_MONGODB_URL``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, AsyncIterator, Iterator

import pymongo
import pytest
from bson import ObjectId
from pymongo.collation import Collation

from kallemny_sio.storage.base import ChangePage, MessageRecord, NewMessage
from kallemny_sio.storage.mongo import MongoStore
from tests.storage.helpers import MAX_EMOJI, T0, apply_changes, check_page, read_changes
from tests.support.mongo_server import MongoTestServer

Doc = dict[str, Any]
EMOJI = ["👍", "🎉", "🚀", "👀"]


# -- a database of the previous release ---------------------------------------------------


@dataclasses.dataclass
class OldDatabase:
    """What :func:`build_old_database` wrote: ids by name, and each room's messages in order."""

    users: dict[str, ObjectId]
    rooms: dict[str, ObjectId]
    messages: dict[str, list[Doc]]


def old_message(room: ObjectId, seq: int, sender: ObjectId, name: str, client_id: str | None = None) -> Doc:
    """A message document exactly as the previous release stored it."""
    doc = {"_id": ObjectId(), "room": room, "seq": seq, "sender": sender, "sender_username": name,
           "content": f"old {seq}", "created_at": T0 + 1000 + seq}
    if client_id is not None:
        doc["client_message_id"] = client_id
    return doc


def old_room(kind: str, creator: ObjectId, messages: list[Doc], **extra: Any) -> Doc:
    last = messages[-1] if messages else None
    return {"_id": extra.pop("_id", ObjectId()), "type": kind, "name": extra.pop("name", None), "is_public": False,
            "created_by": creator, "created_at": T0, "last_activity_at": last["created_at"] if last else T0,
            "last_seq": last["seq"] if last else 0, "last_message": dict(last) if last else None, **extra}


def old_membership(room: ObjectId, user: ObjectId, read: Doc | None) -> Doc:
    return {"_id": ObjectId(), "room": room, "user": user, "joined_at": T0,
            "read_seq": read["seq"] if read else 0, "read_message_id": read["_id"] if read else None,
            "read_at": T0 + 5000 if read else None}


def create_old_indexes(db: Any) -> None:
    """The previous release's indexes, as its ``open()`` made them."""
    collation = Collation(locale="en", strength=2)
    db.users.create_index("username", name="username_ci", unique=True, collation=collation)
    db.users.create_index("username_lower", name="username_lower")
    db.rooms.create_index("pair_key", name="private_pair", unique=True,
                          partialFilterExpression={"pair_key": {"$type": "string"}})
    db.memberships.create_index([("user", 1), ("room", 1)], name="user_room", unique=True)
    db.memberships.create_index([("room", 1), ("user", 1)], name="room_user")
    db.messages.create_index([("room", 1), ("seq", 1)], name="room_seq", unique=True)
    db.messages.create_index([("room", 1), ("sender", 1), ("client_message_id", 1)], name="idempotent_send",
                             unique=True, partialFilterExpression={"client_message_id": {"$type": "string"}})


def build_old_database(url: str, team_messages: int = 5, member_count: int = 3) -> OldDatabase:
    """A team room (``team_messages`` messages, member 1 read up to the 2nd), a private room, an empty room."""
    client: pymongo.MongoClient[Doc] = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        db = client.get_default_database()
        create_old_indexes(db)
        names = [f"user{i}" for i in range(member_count)]
        users = {name: ObjectId() for name in names}
        db.users.insert_many([{"_id": oid, "username": name, "username_lower": name, "display_name": name.title(),
                               "password_hash": "h", "created_at": T0, "last_seen": None}
                              for name, oid in users.items()])
        first, second = users[names[0]], users[names[1]]
        team, private, empty = ObjectId(), ObjectId(), ObjectId()
        team_docs = [old_message(team, seq, first, names[0], f"c{seq}" if seq == 1 else None)
                     for seq in range(1, team_messages + 1)]
        private_docs = [old_message(private, seq, second, names[1]) for seq in (1, 2)]
        db.messages.insert_many(team_docs + private_docs)
        db.rooms.insert_many([
            old_room("group", first, team_docs, _id=team, name="team"),
            old_room("private", first, private_docs, _id=private, pair_key=":".join(sorted(map(str, (first, second))))),
            old_room("group", first, [], _id=empty, name="empty"),
        ])
        db.memberships.insert_many(
            [old_membership(team, oid, team_docs[-1] if oid == first else team_docs[1] if oid == second else None)
             for oid in users.values()]
            + [old_membership(private, oid, private_docs[-1]) for oid in (first, second)]
            + [old_membership(empty, first, None)]
        )
        return OldDatabase(users, {"team": team, "private": private, "empty": empty},
                           {"team": team_docs, "private": private_docs, "empty": []})
    finally:
        client.close()


@pytest.fixture
def url(mongo_server: MongoTestServer) -> Iterator[str]:
    database = mongo_server.new_database_url()
    yield database
    mongo_server.drop_database(database)


@pytest.fixture
def old(url: str) -> OldDatabase:
    return build_old_database(url)


@pytest.fixture
async def store(url: str, old: OldDatabase) -> AsyncIterator[MongoStore]:
    opened = MongoStore(url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def as_migrated(doc: Doc) -> MessageRecord:
    """The record an old message document must read as: its creation is its only change."""
    return MessageRecord(
        id=str(doc["_id"]), room_id=str(doc["room"]), sender_id=str(doc["sender"]),
        sender_username=doc["sender_username"], content=doc["content"], created_at=doc["created_at"],
        client_message_id=doc.get("client_message_id"), type="user", updated_at=doc["created_at"],
        change_seq=doc["seq"],
    )


def count(url: str, collection: str, query: Doc | None = None) -> int:
    client: pymongo.MongoClient[Doc] = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        return client.get_default_database()[collection].count_documents(query or {})
    finally:
        client.close()


# -- one node -----------------------------------------------------------------------------


async def test_history_change_feed_and_room_list_read_old_documents(store: MongoStore, old: OldDatabase) -> None:
    team, private = str(old.rooms["team"]), str(old.rooms["private"])
    expected = [as_migrated(doc) for doc in old.messages["team"]]
    member = str(old.users["user1"])

    history = await store.list_messages(team, 100)
    feed = await store.list_changes(team, 0, 100)
    paged, covered = await read_changes(store, team, 0, 2)
    summary = await store.get_room_summary(team, member)
    listed = {s.room.id: s for s in await store.list_room_summaries(member)}

    assert history is not None and history.messages == expected
    assert feed == ChangePage(expected, has_more=False, covered=5)
    assert (paged, covered) == (expected, 5)
    assert await store.get_message(team, expected[2].id) == expected[2]
    assert summary is not None and summary == listed[team]
    assert (summary.room.last_change_seq, summary.last_message) == (5, expected[-1])
    assert (summary.unread_count, summary.unread_mention_count, summary.last_read_message_id) == (3, 0, expected[1].id)
    assert listed[private].room.last_change_seq == 2
    assert (await store.get_room(str(old.rooms["empty"]))).last_change_seq == 0  # type: ignore[union-attr]
    assert await store.list_changes(str(old.rooms["empty"]), 0, 10) == ChangePage([], False, 0)


async def test_changes_to_old_messages_take_the_next_positions(store: MongoStore, old: OldDatabase) -> None:
    team = str(old.rooms["team"])
    m = [as_migrated(doc) for doc in old.messages["team"]]
    sender, reader, third = (str(old.users[f"user{i}"]) for i in range(3))

    edited = await store.edit_message(team, m[0].id, "old 1, edited", '{"a":1}', True, T0 + 10_000)
    reacted = await store.add_reaction(team, m[2].id, reader, "👍", T0 + 10_001, MAX_EMOJI)
    sent = await store.add_message(NewMessage(team, sender, "user0", "new", T0 + 10_002, mentioned_user_ids=(third,)))
    deleted = await store.delete_message(team, m[1].id, T0 + 10_003)
    resent = await store.add_message(NewMessage(team, sender, "user0", "again", T0 + 10_004, client_message_id="c1"))

    assert [r.message.change_seq for r in (edited, reacted, deleted)] == [6, 7, 9]  # type: ignore[union-attr]
    assert sent.created and sent.message.change_seq == 8
    assert (resent.created, resent.message) == (False, edited.message)
    latest = [edited.message, deleted.message, reacted.message, m[3], m[4], sent.message]
    history = await store.list_messages(team, 100)
    assert history is not None and history.messages == latest
    assert await store.list_changes(team, 5, 100) == ChangePage(
        [edited.message, reacted.message, sent.message, deleted.message], False, 9)
    third_view = await store.get_room_summary(team, third)
    assert third_view is not None and (third_view.unread_mention_count, third_view.room.last_change_seq) == (1, 9)
    assert await store.mark_read(team, third, None, T0 + 10_005) is not None
    assert (await store.get_room_summary(team, third)).unread_mention_count == 0  # type: ignore[union-attr]


async def test_opening_again_or_after_an_interrupted_migration_changes_nothing(url: str, old: OldDatabase) -> None:
    # As if a node died mid-migration: the first message already has its log entry
    # and its new fields, the others have neither.
    first = MongoStore(url)
    await first.open()
    await first.close()
    client: pymongo.MongoClient[Doc] = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        db = client.get_default_database()
        db.meta.delete_many({})
        untouched = [doc["_id"] for doc in old.messages["team"][1:]]
        db.changes.delete_many({"message": {"$in": untouched}})
        new_fields = {"change_seq": "", "updated_at": "", "type": ""}
        db.messages.update_many({"_id": {"$in": untouched}}, {"$unset": new_fields})
        db.rooms.update_many({}, {"$unset": {"last_change_seq": ""}})
    finally:
        client.close()

    for _ in range(2):
        store = MongoStore(url)
        await store.open()
        feed = await store.list_changes(str(old.rooms["team"]), 0, 100)
        await store.close()
        assert feed == ChangePage([as_migrated(doc) for doc in old.messages["team"]], False, 5)
        assert count(url, "changes") == count(url, "messages") == 7


# -- two nodes ----------------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_two_nodes_opening_at_once_migrate_every_message_once(url: str) -> None:
    old = build_old_database(url, team_messages=1234)  # more than one migration batch
    nodes = [MongoStore(url), MongoStore(url)]

    await asyncio.gather(*(node.open() for node in nodes))

    try:
        team = str(old.rooms["team"])
        assert count(url, "changes") == count(url, "messages") == 1234 + 2
        assert count(url, "messages", {"change_seq": {"$exists": False}}) == 0
        seen, covered = await read_changes(nodes[1], team, 0, 500)
        assert [m.change_seq for m in seen] == list(range(1, 1235)) and covered == 1234
        assert seen == [as_migrated(doc) for doc in old.messages["team"]]
    finally:
        for node in nodes:
            await node.close()


class Workload:
    """Writers on two nodes and a reader on a third, on the team room of an old database.

    Writer ``k`` (one user each, nodes alternating) reacts four times to the first
    message (four emoji), once with ❤️ to each of messages 2-5, edits message 5+k
    four times (writers 0-3 only) and sends four messages.
    """

    def __init__(self, old: OldDatabase, nodes: list[MongoStore]) -> None:
        self.writers, self.reader_node = nodes[:2], nodes[2]
        self.room = str(old.rooms["team"])
        self.users = [(str(oid), name) for name, oid in old.users.items()]
        self.targets = [str(doc["_id"]) for doc in old.messages["team"]]
        self.held: dict[str, MessageRecord] = {}
        self.done = asyncio.Event()

    async def write(self, k: int) -> None:
        node, (user, name), room, targets = self.writers[k % 2], self.users[k], self.room, self.targets
        for i in range(4):
            at = T0 + 100_000 + 100 * k + i
            assert (await node.add_reaction(room, targets[0], user, EMOJI[i], at, MAX_EMOJI)).changed
            assert (await node.add_reaction(room, targets[1 + i], user, "❤️", at, MAX_EMOJI)).changed
            if k < 4:
                assert (await node.edit_message(room, targets[4 + k], f"{k} v{i}", None, False, at)).changed
            assert (await node.add_message(NewMessage(room, user, name, f"n{k}-{i}", at))).created

    async def follow(self) -> int:
        """Poll the feed from ``covered`` until the writers are done, then read to its end; the last ``covered``."""
        covered, pages = 0, 0
        while not self.done.is_set() or pages == 0:
            page = await self.reader_node.list_changes(self.room, covered, 5)
            check_page(page, covered, 5)
            apply_changes(self.held, page.messages)
            covered, pages = page.covered, pages + 1
            await asyncio.sleep(0)  # a turn for the writers
        seen, covered = await read_changes(self.reader_node, self.room, covered, 5)
        apply_changes(self.held, seen)
        return covered

    async def run(self, writers: int) -> int:
        """Run ``writers`` writers and the reader; the reader's last ``covered``."""
        reading = asyncio.create_task(self.follow())
        try:
            await asyncio.gather(*(self.write(k) for k in range(writers)))
        finally:
            self.done.set()
            covered = await reading
        return covered


@pytest.mark.timeout(120)
async def test_two_nodes_writing_at_once_lose_no_change_and_a_reader_misses_none(url: str) -> None:
    # Reactions from both nodes on one message, edits on different messages and sends
    # from both, while a third node follows the change feed from its `covered`.
    old = build_old_database(url, team_messages=8, member_count=16)
    nodes = [MongoStore(url) for _ in range(3)]
    await asyncio.gather(*(node.open() for node in nodes))
    work = Workload(old, nodes)
    try:
        async with asyncio.timeout(100):
            covered = await work.run(writers=16)

        history = await nodes[0].list_messages(work.room, 1000)
        assert history is not None and len(history.messages) == 8 + 16 * 4
        final = {m.id: m for m in history.messages}
        assert work.held == final  # the reader holds every message in its final state
        assert covered == (await nodes[1].get_room(work.room)).last_change_seq  # type: ignore[union-attr]
        assert covered == 8 + 16 * 4 * 3 + 4 * 4  # the old 8, then one per reaction, send and edit
        targets = work.targets
        assert [(r.emoji, r.count) for r in final[targets[0]].reactions] == [(e, 16) for e in EMOJI]
        assert [sum(r.count for r in final[t].reactions) for t in targets[1:5]] == [16] * 4
        assert [final[t].content for t in targets[4:8]] == [f"{k} v3" for k in range(4)]
    finally:
        for node in nodes:
            await node.close()
