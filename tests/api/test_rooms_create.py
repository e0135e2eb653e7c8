"""``POST /api/chat/rooms``: private rooms (one per pair) and groups."""

from __future__ import annotations

from typing import Any

import pytest

from kallemny_sio.schemas import RoomOut
from tests.api.helpers import assert_conforms, assert_error, assert_iso

MALFORMED_ID = "no-such-user"
WELL_FORMED_UNKNOWN_ID = "0123456789abcdef01234567"  # the shape of a MongoDB ObjectId


def _member_ids(room: dict[str, Any]) -> set[str]:
    return {m["id"] for m in room["members"]}


async def test_private_room_is_created_once_per_pair(api):
    alice, bob = await api.register(), await api.register()
    status, room = await api.request("POST", "/api/chat/rooms", token=alice.token,
                                     json={"type": "private", "memberIds": [bob.id]})
    assert status == 201, room
    assert_conforms(RoomOut, room)
    assert room["type"] == "private"
    assert room["name"] is None and room["isPublic"] is False
    assert room["createdBy"] == alice.id
    assert_iso(room["createdAt"])
    assert _member_ids(room) == {alice.id, bob.id}
    assert room["lastMessage"] is None and room["unreadCount"] == 0

    status, again = await api.request("POST", "/api/chat/rooms", token=alice.token,
                                      json={"type": "private", "memberIds": [bob.id]})
    assert status == 200, again
    assert again["id"] == room["id"]
    status, other_side = await api.request("POST", "/api/chat/rooms", token=bob.token,
                                           json={"type": "private", "memberIds": [alice.id]})
    assert status == 200, other_side
    assert other_side["id"] == room["id"]
    assert other_side["createdBy"] == alice.id

    status, rooms = await api.request("GET", "/api/chat/rooms", token=bob.token)
    assert [r["id"] for r in rooms] == [room["id"]]


async def test_private_rooms_of_different_pairs_are_different(api):
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    ab = await api.create_private(alice, bob)
    ac = await api.create_private(alice, carol)
    bc = await api.create_private(bob, carol)
    assert len({ab["id"], ac["id"], bc["id"]}) == 3


async def test_members_see_user_shapes_in_rooms(api):
    alice, bob = await api.register(), await api.register(displayName="Bob B.")
    room = await api.create_private(alice, bob)
    members = {m["id"]: m for m in room["members"]}
    assert members[bob.id]["username"] == bob.username
    assert members[bob.id]["displayName"] == "Bob B."
    assert members[bob.id]["isOnline"] is False and members[bob.id]["lastSeen"] is None


async def test_group_room_has_its_name_members_and_visibility(api):
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    status, room = await api.request("POST", "/api/chat/rooms", token=alice.token, json={
        "type": "group", "name": "  Launch team  ", "memberIds": [bob.id, carol.id], "isPublic": True})
    assert status == 201, room
    assert_conforms(RoomOut, room)
    assert room["type"] == "group"
    assert room["name"] == "Launch team"
    assert room["isPublic"] is True
    assert room["createdBy"] == alice.id
    assert _member_ids(room) == {alice.id, bob.id, carol.id}
    for who in (bob, carol):
        status, rooms = await api.request("GET", "/api/chat/rooms", token=who.token)
        assert room["id"] in [r["id"] for r in rooms]


@pytest.mark.parametrize("member_ids", [
    pytest.param("none", id="no-other-members"),
    pytest.param("self", id="creator-listed"),
    pytest.param("self-and-duplicates", id="duplicates"),
])
async def test_group_creator_is_always_a_member_exactly_once(api, member_ids):
    alice, bob = await api.register(), await api.register()
    ids = {"none": [], "self": [alice.id, bob.id], "self-and-duplicates": [bob.id, alice.id, bob.id]}[member_ids]
    status, room = await api.request("POST", "/api/chat/rooms", token=alice.token,
                                     json={"type": "group", "name": "g", "memberIds": ids})
    assert status == 201, room
    listed = [m["id"] for m in room["members"]]
    assert alice.id in listed
    assert len(listed) == len(set(listed))
    assert set(listed) == {alice.id, *ids}


async def test_group_is_private_by_default(api):
    alice = await api.register()
    status, room = await api.request("POST", "/api/chat/rooms", token=alice.token, json={"type": "group", "name": "g"})
    assert status == 201, room
    assert room["isPublic"] is False


async def test_two_groups_with_the_same_name_are_two_rooms(api):
    alice, bob = await api.register(), await api.register()
    first = await api.create_group(alice, [bob], name="same")
    second = await api.create_group(alice, [bob], name="same")
    assert first["id"] != second["id"]


INVALID_ROOMS = [
    # (id, body builder (me, other) -> body, field the message must name)
    ("private-with-oneself", lambda me, other: {"type": "private", "memberIds": [me.id]}, "memberIds"),
    ("private-no-member", lambda me, other: {"type": "private", "memberIds": []}, "memberIds"),
    ("private-member-missing", lambda me, other: {"type": "private"}, "memberIds"),
    ("private-two-members", lambda me, other: {"type": "private", "memberIds": [other.id, me.id]}, "memberIds"),
    ("private-unknown-member", lambda me, other: {"type": "private", "memberIds": [MALFORMED_ID]}, "memberIds"),
    ("private-unknown-well-formed-id", lambda me, other: {"type": "private", "memberIds": [WELL_FORMED_UNKNOWN_ID]}, "memberIds"),
    ("private-with-name", lambda me, other: {"type": "private", "memberIds": [other.id], "name": "x"}, "name"),
    ("private-public", lambda me, other: {"type": "private", "memberIds": [other.id], "isPublic": True}, "isPublic"),
    ("group-unknown-member", lambda me, other: {"type": "group", "name": "g", "memberIds": [other.id, MALFORMED_ID]}, "memberIds"),
    ("group-no-name", lambda me, other: {"type": "group", "memberIds": [other.id]}, "name"),
    ("group-name-null", lambda me, other: {"type": "group", "name": None}, "name"),
    ("group-name-empty", lambda me, other: {"type": "group", "name": ""}, "name"),
    ("group-name-blank", lambda me, other: {"type": "group", "name": "   "}, "name"),
    ("group-name-too-long", lambda me, other: {"type": "group", "name": "n" * 101}, "name"),
    ("group-name-number", lambda me, other: {"type": "group", "name": 5}, "name"),
    ("group-public-string", lambda me, other: {"type": "group", "name": "g", "isPublic": "yes"}, "isPublic"),
    ("member-ids-string", lambda me, other: {"type": "group", "name": "g", "memberIds": other.id}, "memberIds"),
    ("member-id-number", lambda me, other: {"type": "group", "name": "g", "memberIds": [1]}, "memberIds"),
    ("member-id-operator", lambda me, other: {"type": "group", "name": "g", "memberIds": [{"$ne": None}]}, "memberIds"),
    ("member-id-empty", lambda me, other: {"type": "group", "name": "g", "memberIds": [""]}, "memberIds"),
    ("type-unknown", lambda me, other: {"type": "channel", "name": "g"}, "type"),
    ("type-missing", lambda me, other: {"name": "g", "memberIds": [other.id]}, "type"),
    ("not-an-object", lambda me, other: [other.id], "body"),
]


@pytest.mark.parametrize("build, field", [pytest.param(b, f, id=i) for i, b, f in INVALID_ROOMS])
async def test_invalid_room_requests_name_the_field(api, build, field):
    me, other = await api.register(), await api.register()
    status, body = await api.request("POST", "/api/chat/rooms", token=me.token, json=build(me, other))
    assert_error(status, body, 400, "invalid", field)
    status, rooms = await api.request("GET", "/api/chat/rooms", token=me.token)
    assert rooms == [], "a refused request created a room"


async def test_group_name_of_100_characters_is_accepted(api):
    me = await api.register()
    status, room = await api.request("POST", "/api/chat/rooms", token=me.token, json={"type": "group", "name": "n" * 100})
    assert status == 201, room
    assert room["name"] == "n" * 100
