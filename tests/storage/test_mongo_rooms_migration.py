"""MongoDB databases of schema 2 (before roles) get schema 3 on ``open()``, on one node or two.

Each test inserts documents in the previous shape with pymongo (memberships
without ``role`` and ``muted_until``, rooms without ``topic`` and
``custom_data``, ``meta`` at version 2) and opens :class:`MongoStore` on
them: a group's creator becomes its owner (a creator who left: the oldest
membership), everyone else a member, private rooms' memberships members. They
run on the MongoDB-compatible test server, or on the real MongoDB named by
``KALLEMNY_TEST_MONGODB_URL``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Iterator

import pymongo
import pytest
from bson import ObjectId

from kallemny_sio.storage.mongo import MongoStore
from tests.storage.helpers import T0
from tests.storage.test_mongo_migration import build_old_database
from tests.support.mongo_server import MongoTestServer

Doc = dict[str, Any]


@dataclasses.dataclass
class V2Database:
    """Ids by name of what :func:`build_v2_database` wrote."""

    users: dict[str, ObjectId]
    rooms: dict[str, ObjectId]


def v2_room(kind: str, creator: ObjectId, name: str | None, **extra: Any) -> Doc:
    """A room document as schema 2 stored it (no topic, no custom data)."""
    return {"_id": ObjectId(), "type": kind, "name": name, "is_public": False, "created_by": creator,
            "created_at": T0, "last_activity_at": T0, "last_seq": 0, "last_change_seq": 0, "last_message": None,
            **extra}


def v2_membership(room: ObjectId, user: ObjectId, joined_at: int) -> Doc:
    """A membership as schema 2 stored it (no role, no mute)."""
    return {"_id": ObjectId(), "room": room, "user": user, "joined_at": joined_at, "read_seq": 0,
            "read_message_id": None, "read_at": None, "unread_mentions": []}


def connect(url: str) -> pymongo.MongoClient[Doc]:
    return pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)


def build_v2_database(url: str, extra_groups: int = 0) -> V2Database:
    """Users a-e; rooms:

    ``team`` (creator a, members a b c), ``orphaned`` (creator a, who left;
    members d, then b, then c, joined in that order, inserted in another),
    ``private`` (a, b), and ``extra_groups`` more groups of creator a with
    members a, b.
    """
    client = connect(url)
    try:
        db = client.get_default_database()
        users = {name: ObjectId() for name in "abcde"}
        db.users.insert_many([{"_id": oid, "username": name, "username_lower": name, "display_name": name,
                               "password_hash": "h", "created_at": T0, "last_seen": None}
                              for name, oid in users.items()])
        a, b, c, d = (users[n] for n in "abcd")
        team = v2_room("group", a, "team")
        orphaned = v2_room("group", a, "orphaned")
        private = v2_room("private", a, None, pair_key=":".join(sorted(map(str, (a, b)))))
        extras = [v2_room("group", a, f"g{i}") for i in range(extra_groups)]
        db.rooms.insert_many([team, orphaned, private, *extras])
        memberships = [v2_membership(team["_id"], user, T0) for user in (a, b, c)]
        memberships += [v2_membership(orphaned["_id"], c, T0 + 3), v2_membership(orphaned["_id"], b, T0 + 2),
                        v2_membership(orphaned["_id"], d, T0 + 1)]
        memberships += [v2_membership(private["_id"], user, T0) for user in (a, b)]
        memberships += [v2_membership(room["_id"], user, T0) for room in extras for user in (a, b)]
        db.memberships.insert_many(memberships)
        db.meta.insert_one({"_id": "schema", "version": 2})
        rooms = {"team": team["_id"], "orphaned": orphaned["_id"], "private": private["_id"]}
        rooms.update({f"g{i}": room["_id"] for i, room in enumerate(extras)})
        return V2Database(users, rooms)
    finally:
        client.close()


def stored(url: str, collection: str, query: Doc | None = None) -> list[Doc]:
    client = connect(url)
    try:
        return list(client.get_default_database()[collection].find(query or {}))
    finally:
        client.close()


@pytest.fixture
def url(mongo_server: MongoTestServer) -> Iterator[str]:
    database = mongo_server.new_database_url()
    yield database
    mongo_server.drop_database(database)


async def opened(url: str) -> MongoStore:
    store = MongoStore(url)
    await store.open()
    return store


async def roles(store: MongoStore, room: ObjectId) -> dict[str, str]:
    found = await store.room_members(str(room))
    assert found is not None
    return {user: m.role for user, m in found.members.items()}


def by_name(old: V2Database, **named_roles: str) -> dict[str, str]:
    return {str(old.users[name]): role for name, role in named_roles.items()}


# -- one node ---------------------------------------------------------------------------


async def test_creators_become_owners_and_everyone_else_members(url: str) -> None:
    old = build_v2_database(url)
    store = await opened(url)
    try:
        team, orphaned, private = (old.rooms[n] for n in ("team", "orphaned", "private"))

        assert await roles(store, team) == by_name(old, a="owner", b="member", c="member")
        # the creator left: the oldest membership (d joined first), in joining order
        assert await roles(store, orphaned) == by_name(old, d="owner", b="member", c="member")
        assert list(await roles(store, orphaned)) == [str(old.users[n]) for n in "dbc"]
        assert await roles(store, private) == by_name(old, a="member", b="member")
        members = (await store.room_members(str(team))).members.values()  # type: ignore[union-attr]
        assert all(m.muted_until is None and m.joined_at == T0 for m in members)
        room = await store.get_room(str(team))
        assert room is not None and (room.topic, room.custom_data) == (None, None)
        summary = await store.get_room_summary(str(orphaned), str(old.users["b"]))
        assert summary is not None
        assert [(m.user_id, m.role) for m in summary.members] == [
            (str(old.users["d"]), "owner"), (str(old.users["b"]), "member"), (str(old.users["c"]), "member")]
    finally:
        await store.close()
    assert stored(url, "meta") == [{"_id": "schema", "version": 3}]
    assert stored(url, "memberships", {"role": {"$exists": False}}) == []
    assert stored(url, "memberships", {"muted_until": {"$exists": False}}) == []
    assert stored(url, "rooms", {"$or": [{"topic": {"$exists": False}}, {"custom_data": {"$exists": False}}]}) == []


async def test_migrated_groups_follow_the_new_rules(url: str) -> None:
    old = build_v2_database(url)
    store = await opened(url)
    try:
        team, a, b, c = str(old.rooms["team"]), *(str(old.users[n]) for n in "abc")
        assert await store.set_member(team, c, role="admin") is not None

        assert await store.remove_member(team, a)
        assert await roles(store, old.rooms["team"]) == {b: "member", c: "owner"}
        assert await store.set_member(team, b, role="owner") is not None
        assert await roles(store, old.rooms["team"]) == {b: "owner", c: "admin"}
        for user in (b, c):
            assert await store.remove_member(team, user)
        assert await store.get_room(team) is None
    finally:
        await store.close()


async def test_a_schema_1_database_gets_both_migrations(url: str) -> None:
    old = build_old_database(url)
    store = await opened(url)
    try:
        user0, user1, user2 = (str(old.users[f"user{i}"]) for i in range(3))
        assert await roles(store, old.rooms["team"]) == {user0: "owner", user1: "member", user2: "member"}
        assert await roles(store, old.rooms["private"]) == {user0: "member", user1: "member"}
        assert await roles(store, old.rooms["empty"]) == {user0: "owner"}
        assert (await store.list_changes(str(old.rooms["team"]), 0, 100)).covered == 5
    finally:
        await store.close()
    assert stored(url, "meta") == [{"_id": "schema", "version": 3}]


async def test_opening_again_or_after_an_interrupted_migration_changes_nothing(url: str) -> None:
    old = build_v2_database(url)
    await (await opened(url)).close()
    # As if a node died mid-migration, after which the group was handed over: back to
    # version 2, the orphaned room's memberships without roles again, the team's owner
    # now b (a hand-over) and c's membership without a role.
    client = connect(url)
    try:
        db = client.get_default_database()
        db.meta.update_one({"_id": "schema"}, {"$set": {"version": 2}})
        db.memberships.update_many({"room": old.rooms["orphaned"]}, {"$unset": {"role": "", "muted_until": ""}})
        db.memberships.update_one({"room": old.rooms["team"], "user": old.users["a"]}, {"$set": {"role": "admin"}})
        db.memberships.update_one({"room": old.rooms["team"], "user": old.users["b"]}, {"$set": {"role": "owner"}})
        db.memberships.update_one({"room": old.rooms["team"], "user": old.users["c"]}, {"$unset": {"role": ""}})
        db.rooms.update_one({"_id": old.rooms["team"]}, {"$set": {"topic": "kept"}})
    finally:
        client.close()

    for _ in range(2):
        store = await opened(url)
        try:
            assert await roles(store, old.rooms["team"]) == by_name(old, a="admin", b="owner", c="member")
            assert await roles(store, old.rooms["orphaned"]) == by_name(old, d="owner", b="member", c="member")
            assert (await store.get_room(str(old.rooms["team"]))).topic == "kept"  # type: ignore[union-attr]
        finally:
            await store.close()
        assert stored(url, "meta") == [{"_id": "schema", "version": 3}]


# -- two nodes --------------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_two_nodes_opening_at_once_give_each_group_one_owner(url: str) -> None:
    old = build_v2_database(url, extra_groups=600)  # more memberships than one migration batch
    nodes = [MongoStore(url), MongoStore(url)]

    await asyncio.gather(*(node.open() for node in nodes))

    try:
        owners = stored(url, "memberships", {"role": "owner"})
        groups = [room for name, room in old.rooms.items() if name != "private"]
        assert sorted(doc["room"] for doc in owners) == sorted(groups)  # one owner per group
        assert stored(url, "memberships", {"role": {"$exists": False}}) == []
        assert await roles(nodes[1], old.rooms["g599"]) == by_name(old, a="owner", b="member")
        assert await roles(nodes[0], old.rooms["orphaned"]) == by_name(old, d="owner", b="member", c="member")
    finally:
        for node in nodes:
            await node.close()
    assert stored(url, "meta") == [{"_id": "schema", "version": 3}]
