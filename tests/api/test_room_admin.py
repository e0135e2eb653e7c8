"""Rooms and members (contract section 7) over REST: who may do what, and bad input.

The permission table runs every endpoint of section 7 for each actor role
(owner, admin, member, non-member) against each kind of target, allowed and
refused; a refusal is ``403 forbidden`` and changes nothing. Rules the
contract leaves open follow the issue's decisions (private rooms have no
management, unknown user in ``userIds`` is ``invalid`` and adds nobody, a
banned one is ``forbidden`` and adds nobody, the owner hands over rather
than demoting themselves). Events are in ``tests/events/test_room_admin_events.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.api.helpers import assert_error, iso_in, my_room, roles, room_path, send
from tests.conftest import Account
from tests.events.helpers import assert_member_shape, assert_room_shape, assert_user_shape

UNKNOWN_ID = "ffffffffffffffffffffffff"


@dataclasses.dataclass
class Cast:
    """A group: its owner, two admins, two members; an outsider and a newcomer; a private room."""

    owner: Account
    admin: Account
    admin2: Account
    member: Account
    member2: Account
    outsider: Account
    newcomer: Account
    room: str
    private: str  # owner and member

    def actor(self, role: str) -> Account:
        return {"owner": self.owner, "admin": self.admin, "member": self.member, "non-member": self.outsider}[role]

    def target(self, kind: str | None, actor: Account) -> Account | None:
        """``member``/``admin`` are the *other* member/admin, so an actor never targets itself by accident."""
        return {None: None, "self": actor, "owner": self.owner, "admin": self.admin2, "member": self.member2,
                "newcomer": self.newcomer}[kind]


async def call(api, method: str, who: Account, path: str, json: Any = None) -> tuple[int, Any]:
    return await api.request(method, path, token=who.token, json=json)


async def set_role(api, owner: Account, room_id: str, user: Account, role: str) -> dict[str, Any]:
    status, body = await call(api, "PATCH", owner, room_path(room_id, "members", user.id), {"role": role})
    assert status == 200, body
    return body


@pytest.fixture
async def cast(api) -> Cast:
    owner, admin, admin2, member, member2, outsider, newcomer = [await api.register() for _ in range(7)]
    room = await api.create_group(owner, [admin, admin2, member, member2], name="managed")
    for who in (admin, admin2):
        await set_role(api, owner, room["id"], who, "admin")
    private = await api.create_private(owner, member)
    return Cast(owner, admin, admin2, member, member2, outsider, newcomer, room["id"], private["id"])


async def snapshot(api, cast: Cast) -> Any:
    """What a refused call must leave as it was: the room's settings and its members' roles and mutes."""
    room = await my_room(api, cast.owner, cast.room)
    if room is None:
        return None
    return ({k: room[k] for k in ("name", "topic", "isPublic", "customData")},
            sorted((m["id"], m["role"], m["mutedUntil"]) for m in room["members"]))


# -- the permission table -------------------------------------------------------------------


def operation(op: str, cast: Cast, target: Account | None) -> tuple[str, str, Any]:
    """``(method, path, body)`` of one section 7 call."""
    room = cast.room
    if op == "patch-room":
        return "PATCH", room_path(room), {"topic": "a new topic"}
    if op == "add-members":
        return "POST", room_path(room, "members"), {"userIds": [target.id]}
    if op == "remove":
        return "DELETE", room_path(room, "members", target.id), None
    if op == "set-role":
        return "PATCH", room_path(room, "members", target.id), {"role": "member" if target is cast.admin2 else "admin"}
    if op == "mute":
        return "PATCH", room_path(room, "members", target.id), {"mutedUntil": iso_in(3600)}
    if op == "unmute":
        return "PATCH", room_path(room, "members", target.id), {"mutedUntil": None}
    if op == "ban":
        return "PUT", room_path(room, "bans", target.id), None
    if op == "unban":
        return "DELETE", room_path(room, "bans", target.id), None
    if op == "delete-room":
        return "DELETE", room_path(room), None
    raise AssertionError(op)


CELLS = [
    # PATCH /rooms/{id}: owner, admin
    ("patch-room", "owner", None, 200),
    ("patch-room", "admin", None, 200),
    ("patch-room", "member", None, 403),
    ("patch-room", "non-member", None, 403),
    # POST /rooms/{id}/members: owner, admin
    ("add-members", "owner", "newcomer", 200),
    ("add-members", "admin", "newcomer", 200),
    ("add-members", "member", "newcomer", 403),
    ("add-members", "non-member", "newcomer", 403),
    # DELETE /rooms/{id}/members/{userId}: owner, admin (not on the owner, an admin not on an admin); anyone on themselves
    ("remove", "owner", "member", 204),
    ("remove", "owner", "admin", 204),
    ("remove", "admin", "member", 204),
    ("remove", "admin", "admin", 403),
    ("remove", "admin", "owner", 403),
    ("remove", "member", "member", 403),
    ("remove", "member", "admin", 403),
    ("remove", "member", "owner", 403),
    ("remove", "non-member", "member", 403),
    ("remove", "owner", "self", 204),
    ("remove", "admin", "self", 204),
    ("remove", "member", "self", 204),
    # PATCH /rooms/{id}/members/{userId} {"role"}: the owner only
    ("set-role", "owner", "member", 200),
    ("set-role", "owner", "admin", 200),
    ("set-role", "admin", "member", 403),
    ("set-role", "admin", "admin", 403),
    ("set-role", "member", "member", 403),
    ("set-role", "non-member", "member", 403),
    # PATCH … {"mutedUntil"}: owner, admin; not on the owner, an admin not on an admin
    ("mute", "owner", "member", 200),
    ("mute", "owner", "admin", 200),
    ("mute", "admin", "member", 200),
    ("mute", "admin", "admin", 403),
    ("mute", "admin", "owner", 403),
    ("mute", "admin", "self", 403),
    ("mute", "owner", "self", 403),
    ("mute", "member", "member", 403),
    ("mute", "member", "self", 403),
    ("mute", "non-member", "member", 403),
    ("unmute", "owner", "member", 200),
    ("unmute", "admin", "member", 200),
    ("unmute", "member", "member", 403),
    # PUT /rooms/{id}/bans/{userId}: owner, admin; the removal rules; a non-member may be banned ahead of time
    ("ban", "owner", "member", 204),
    ("ban", "owner", "admin", 204),
    ("ban", "owner", "newcomer", 204),
    ("ban", "admin", "member", 204),
    ("ban", "admin", "newcomer", 204),
    ("ban", "admin", "admin", 403),
    ("ban", "admin", "owner", 403),
    ("ban", "admin", "self", 403),
    ("ban", "owner", "self", 403),
    ("ban", "member", "member", 403),
    ("ban", "member", "newcomer", 403),
    ("ban", "non-member", "member", 403),
    # DELETE /rooms/{id}/bans/{userId}: owner, admin
    ("unban", "owner", "newcomer", 204),
    ("unban", "admin", "newcomer", 204),
    ("unban", "member", "newcomer", 403),
    ("unban", "non-member", "newcomer", 403),
    # DELETE /rooms/{id}: the owner only
    ("delete-room", "owner", None, 204),
    ("delete-room", "admin", None, 403),
    ("delete-room", "member", None, 403),
    ("delete-room", "non-member", None, 403),
]


def cell_id(cell: tuple[str, str, str | None, int]) -> str:
    op, actor, target, status = cell
    return f"{op}-by-{actor}" + (f"-on-{target}" if target else "") + f"-{status}"


@pytest.mark.parametrize("op,actor_role,target_kind,want", CELLS, ids=[cell_id(c) for c in CELLS])
async def test_permission_cell(api, cast, op, actor_role, target_kind, want):
    actor = cast.actor(actor_role)
    target = cast.target(target_kind, actor)
    if op == "unban":  # something to lift
        status, body = await call(api, "PUT", cast.owner, room_path(cast.room, "bans", cast.newcomer.id))
        assert status == 204, body
    if op == "unmute":
        status, body = await call(api, "PATCH", cast.owner, room_path(cast.room, "members", target.id),
                                  {"mutedUntil": iso_in(3600)})
        assert status == 200, body
    before = await snapshot(api, cast)
    method, path, body = operation(op, cast, target)

    status, answer = await call(api, method, actor, path, body)

    if want == 403:
        assert_error(status, answer, 403, "forbidden")
        assert await snapshot(api, cast) == before, "a refused call changed the room"
        return
    assert status == want, (status, answer)
    await _check_effect(api, cast, op, actor, target, body, answer)


async def _check_effect(api, cast: Cast, op: str, actor: Account, target: Account | None, sent: Any,
                        answer: Any) -> None:
    """The allowed call did what it says (the table's 2xx cells)."""
    viewer = cast.owner if actor is not cast.owner else cast.admin  # a member who is still there
    if op == "delete-room":
        assert answer is None
        status, body = await call(api, "GET", cast.member, room_path(cast.room, "messages"))
        assert_error(status, body, 404, "not_found")
        assert await my_room(api, cast.member, cast.room) is None
        return
    members = await roles(api, viewer, cast.room)
    if op == "patch-room":
        assert_room_shape(answer)
        assert answer["id"] == cast.room and answer["topic"] == "a new topic" and answer["name"] == "managed"
        assert answer["myRole"] == ("owner" if actor is cast.owner else "admin")
        assert (await my_room(api, cast.member, cast.room))["topic"] == "a new topic"
    elif op == "add-members":
        assert_room_shape(answer)
        assert target.id in {m["id"] for m in answer["members"]}
        assert members[target.id] == ("member", None)
        assert await my_room(api, target, cast.room) is not None
    elif op in ("remove", "ban"):
        assert answer is None
        assert target.id not in members
        assert await my_room(api, target, cast.room) is None
        status, body = await call(api, "GET", target, room_path(cast.room, "messages"))
        assert_error(status, body, 403, "forbidden")
    elif op == "set-role":
        assert_member_shape(answer)
        assert answer["id"] == target.id and answer["role"] == sent["role"]
        assert members[target.id][0] == sent["role"]
    elif op in ("mute", "unmute"):
        assert_member_shape(answer)
        assert answer["id"] == target.id and answer["mutedUntil"] == sent["mutedUntil"]
        assert members[target.id] == (members[target.id][0], sent["mutedUntil"])
    elif op == "unban":
        assert answer is None
        status, body = await call(api, "POST", cast.owner, room_path(cast.room, "members"), {"userIds": [target.id]})
        assert status == 200, body
    else:
        raise AssertionError(op)


# -- unknown rooms and users, private rooms ------------------------------------------------

ALL_OPS = ["patch-room", "add-members", "remove", "set-role", "mute", "ban", "unban", "delete-room"]


@pytest.mark.parametrize("op", ALL_OPS)
async def test_unknown_room_is_not_found(api, cast, op):
    method, path, body = operation(op, cast, cast.member2)
    path = path.replace(cast.room, UNKNOWN_ID)
    status, answer = await call(api, method, cast.owner, path, body)
    assert_error(status, answer, 404, "not_found")


@pytest.mark.parametrize("op", ALL_OPS + ["leave"])
async def test_private_room_has_no_management(api, cast, op):
    target = cast.member if op != "add-members" else cast.newcomer
    method, path, body = operation("remove" if op == "leave" else op, cast, target)
    path = path.replace(cast.room, cast.private)
    who = cast.member if op == "leave" else cast.owner
    status, answer = await call(api, method, who, path, body)
    assert_error(status, answer, 403, "forbidden")
    assert set(await roles(api, cast.owner, cast.private)) == {cast.owner.id, cast.member.id}


@pytest.mark.parametrize("op", ["remove", "set-role", "mute"])
async def test_target_who_is_not_a_member_is_not_found(api, cast, op):
    method, path, body = operation(op, cast, cast.outsider)
    status, answer = await call(api, method, cast.owner, path, body)
    assert_error(status, answer, 404, "not_found")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("user_id", [UNKNOWN_ID, "no-such-user"])
async def test_banning_or_unbanning_an_unknown_user_is_not_found(api, cast, method, user_id):
    status, answer = await call(api, method, cast.owner, room_path(cast.room, "bans", user_id))
    assert_error(status, answer, 404, "not_found")


# -- adding members ---------------------------------------------------------------------------


async def test_adding_more_than_100_ids_is_invalid(api, cast):
    status, body = await call(api, "POST", cast.owner, room_path(cast.room, "members"),
                              {"userIds": [cast.newcomer.id] * 101})
    assert_error(status, body, 400, "invalid", field="userIds")
    assert cast.newcomer.id not in await roles(api, cast.owner, cast.room)


async def test_adding_100_ids_is_allowed(api, cast):
    status, body = await call(api, "POST", cast.owner, room_path(cast.room, "members"),
                              {"userIds": [cast.newcomer.id] * 99 + [cast.outsider.id]})
    assert status == 200, body
    members = await roles(api, cast.owner, cast.room)
    assert {cast.newcomer.id, cast.outsider.id} <= set(members) and len(members) == 7


@pytest.mark.parametrize("body", [{}, {"userIds": []}, {"userIds": "x"}, {"userIds": [1, 2]}, {"userIds": None}],
                         ids=["missing", "empty", "string", "numbers", "null"])
async def test_malformed_user_ids_are_invalid(api, cast, body):
    status, answer = await call(api, "POST", cast.owner, room_path(cast.room, "members"), body)
    assert_error(status, answer, 400, "invalid", field="userIds")


@pytest.mark.parametrize("unknown", [UNKNOWN_ID, "no-such-user", "999999999"])
async def test_an_unknown_user_id_adds_nobody(api, cast, unknown):
    status, body = await call(api, "POST", cast.owner, room_path(cast.room, "members"),
                              {"userIds": [cast.newcomer.id, unknown, cast.outsider.id]})
    assert_error(status, body, 400, "invalid", field="userIds")
    members = await roles(api, cast.owner, cast.room)
    assert cast.newcomer.id not in members and cast.outsider.id not in members
    assert await my_room(api, cast.newcomer, cast.room) is None


async def test_a_banned_user_adds_nobody(api, cast):
    status, body = await call(api, "PUT", cast.owner, room_path(cast.room, "bans", cast.outsider.id))
    assert status == 204, body
    status, body = await call(api, "POST", cast.admin, room_path(cast.room, "members"),
                              {"userIds": [cast.newcomer.id, cast.outsider.id]})
    assert_error(status, body, 403, "forbidden")
    members = await roles(api, cast.owner, cast.room)
    assert cast.newcomer.id not in members and cast.outsider.id not in members


async def test_lifting_a_ban_lets_the_user_be_added_again(api, cast):
    path = room_path(cast.room, "bans", cast.member2.id)
    assert (await call(api, "PUT", cast.owner, path))[0] == 204
    assert cast.member2.id not in await roles(api, cast.owner, cast.room)
    for _ in range(2):  # lifting is idempotent
        status, body = await call(api, "DELETE", cast.admin, path)
        assert status == 204, body
    status, body = await call(api, "POST", cast.owner, room_path(cast.room, "members"), {"userIds": [cast.member2.id]})
    assert status == 200, body
    assert (await roles(api, cast.owner, cast.room))[cast.member2.id] == ("member", None)


async def test_banning_twice_is_fine(api, cast):
    path = room_path(cast.room, "bans", cast.member2.id)
    for _ in range(2):
        status, body = await call(api, "PUT", cast.owner, path)
        assert status == 204, body


async def test_existing_members_in_user_ids_are_skipped(api, cast):
    status, body = await call(api, "POST", cast.owner, room_path(cast.room, "members"),
                              {"userIds": [cast.member.id, cast.admin.id, cast.newcomer.id]})
    assert status == 200, body
    ids = [m["id"] for m in body["members"]]
    assert len(ids) == len(set(ids)) == 6
    members = await roles(api, cast.owner, cast.room)
    assert members[cast.admin.id] == ("admin", None), "adding an existing admin must not change their role"


# -- changing the room --------------------------------------------------------------------------


async def test_patch_room_changes_only_the_given_fields(api, cast):
    path = room_path(cast.room)
    status, room = await call(api, "PATCH", cast.owner, path, {"topic": "t1", "customData": {"k": [1, "ü"]}})
    assert status == 200, room
    assert (room["name"], room["topic"], room["isPublic"], room["customData"]) == ("managed", "t1", False, {"k": [1, "ü"]})
    status, room = await call(api, "PATCH", cast.admin, path, {"name": "renamed", "isPublic": True})
    assert status == 200, room
    assert (room["name"], room["topic"], room["isPublic"], room["customData"]) == ("renamed", "t1", True, {"k": [1, "ü"]})
    status, room = await call(api, "PATCH", cast.owner, path, {"topic": None, "customData": None})
    assert status == 200, room
    assert (room["name"], room["topic"], room["customData"]) == ("renamed", None, None)
    assert {k: v for k, v in (await my_room(api, cast.member, cast.room)).items() if k in ("name", "topic", "isPublic")} \
        == {"name": "renamed", "topic": None, "isPublic": True}


async def test_patch_room_topic_of_500_characters_is_allowed(api, cast):
    status, room = await call(api, "PATCH", cast.owner, room_path(cast.room), {"topic": "t" * 500})
    assert status == 200 and room["topic"] == "t" * 500, room


@pytest.mark.parametrize("body,field", [
    ({}, None),
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "n" * 101}, "name"),
    ({"name": 5}, "name"),
    ({"isPublic": None}, "isPublic"),
    ({"isPublic": "yes"}, "isPublic"),
    ({"topic": "t" * 501}, "topic"),
    ({"topic": 7}, "topic"),
    ({"customData": [1, 2]}, "customData"),
    ({"customData": "text"}, "customData"),
    ({"customData": {"blob": "x" * 5000}}, "customData"),
], ids=["empty", "name-null", "name-empty", "name-101", "name-number", "isPublic-null", "isPublic-string",
        "topic-501", "topic-number", "customData-list", "customData-string", "customData-over-4KiB"])
async def test_patch_room_bad_input_is_invalid(api, cast, body, field):
    before = await snapshot(api, cast)
    status, answer = await call(api, "PATCH", cast.owner, room_path(cast.room), body)
    assert_error(status, answer, 400, "invalid", field=field)
    assert await snapshot(api, cast) == before


# -- roles and mutes ------------------------------------------------------------------------------


@pytest.mark.parametrize("body,field", [
    ({}, None),
    ({"role": "king"}, "role"),
    ({"role": None}, None),
    ({"mutedUntil": "tomorrow"}, "mutedUntil"),
    ({"mutedUntil": 12345}, "mutedUntil"),
], ids=["empty", "role-unknown", "role-null-only", "mutedUntil-not-a-time", "mutedUntil-number"])
async def test_patch_member_bad_input_is_invalid(api, cast, body, field):
    before = await snapshot(api, cast)
    status, answer = await call(api, "PATCH", cast.owner, room_path(cast.room, "members", cast.member.id), body)
    assert_error(status, answer, 400, "invalid", field=field)
    assert await snapshot(api, cast) == before


@pytest.mark.parametrize("role", ["admin", "member"])
async def test_the_owner_cannot_demote_themselves(api, cast, role):
    status, answer = await call(api, "PATCH", cast.owner, room_path(cast.room, "members", cast.owner.id), {"role": role})
    assert_error(status, answer, 400, "invalid", field="role")
    assert (await roles(api, cast.owner, cast.room))[cast.owner.id][0] == "owner"


async def test_giving_owner_hands_the_group_over(api, cast):
    member = await set_role(api, cast.owner, cast.room, cast.member, "owner")
    assert_member_shape(member)
    assert member["id"] == cast.member.id and member["role"] == "owner"
    members = await roles(api, cast.owner, cast.room)
    assert members[cast.member.id][0] == "owner" and members[cast.owner.id][0] == "admin"
    assert [r for r, _ in members.values()].count("owner") == 1
    # The old owner is now an admin: no more roles, no room deletion.
    status, body = await call(api, "PATCH", cast.owner, room_path(cast.room, "members", cast.member2.id), {"role": "admin"})
    assert_error(status, body, 403, "forbidden")
    assert_error(*await call(api, "DELETE", cast.owner, room_path(cast.room)), 403, "forbidden")
    assert (await my_room(api, cast.member, cast.room))["myRole"] == "owner"


async def test_mute_and_role_in_one_call(api, cast):
    until = iso_in(600)
    status, member = await call(api, "PATCH", cast.owner, room_path(cast.room, "members", cast.member.id),
                                {"role": "admin", "mutedUntil": until})
    assert status == 200, member
    assert (member["role"], member["mutedUntil"]) == ("admin", until)
    assert (await roles(api, cast.admin, cast.room))[cast.member.id] == ("admin", until)


async def test_muted_until_with_an_offset_is_stored_in_utc(api, cast):
    status, member = await call(api, "PATCH", cast.owner, room_path(cast.room, "members", cast.member.id),
                                {"mutedUntil": "2099-01-01T12:00:00.250+02:00"})
    assert status == 200, member
    assert member["mutedUntil"] == "2099-01-01T10:00:00.250Z"


# -- leaving, ownership, deletion -----------------------------------------------------------------


async def test_owner_leaving_hands_over_to_the_longest_standing_admin(api):
    owner, early, late, plain = [await api.register() for _ in range(4)]
    room = (await api.create_group(owner, [early, plain], name="heirs"))["id"]
    assert (await call(api, "POST", owner, room_path(room, "members"), {"userIds": [late.id]}))[0] == 200
    await set_role(api, owner, room, late, "admin")  # promoted first, but joined later
    await set_role(api, owner, room, early, "admin")
    status, body = await call(api, "DELETE", owner, room_path(room, "members", owner.id))
    assert status == 204, body
    members = await roles(api, plain, room)
    assert owner.id not in members
    assert members[early.id][0] == "owner" and members[late.id][0] == "admin" and members[plain.id][0] == "member"


async def test_owner_leaving_without_admins_hands_over_to_the_longest_standing_member(api):
    owner, first, second = [await api.register() for _ in range(3)]
    room = (await api.create_group(owner, [first], name="heirs"))["id"]
    assert (await call(api, "POST", owner, room_path(room, "members"), {"userIds": [second.id]}))[0] == 200
    assert (await call(api, "DELETE", owner, room_path(room, "members", owner.id)))[0] == 204
    members = await roles(api, second, room)
    assert members == {first.id: ("owner", None), second.id: ("member", None)}


async def test_the_last_member_leaving_deletes_the_group(api):
    owner, other = await api.register(), await api.register()
    room = (await api.create_group(owner, [other], name="short-lived"))["id"]
    assert (await call(api, "DELETE", other, room_path(room, "members", other.id)))[0] == 204
    assert (await call(api, "DELETE", owner, room_path(room, "members", owner.id)))[0] == 204
    for who in (owner, other):
        status, body = await call(api, "GET", who, room_path(room, "messages"))
        assert_error(status, body, 404, "not_found")
        assert await my_room(api, who, room) is None


async def test_deleting_the_room_removes_it_and_its_history(api, cast, connect):
    o = await connect(cast.owner)
    await send(o, cast.room, "soon gone")
    assert (await call(api, "DELETE", cast.owner, room_path(cast.room)))[0] == 204
    for who in (cast.owner, cast.admin, cast.member):
        status, body = await call(api, "GET", who, room_path(cast.room, "messages"))
        assert_error(status, body, 404, "not_found")
        assert await my_room(api, who, cast.room) is None
    assert_error(*await call(api, "DELETE", cast.owner, room_path(cast.room)), 404, "not_found")


@pytest.mark.parametrize("how", ["deleted", "emptied"])
async def test_a_gone_rooms_id_is_never_given_to_a_new_room(api, cast, how):
    # A client that missed RoomDeleted still holds the id and a changeSeq cursor for it: a new room
    # under the same id would look like the old one whose changes "after" that cursor it already has.
    owner, member = await api.register(), await api.register()
    gone = (await api.create_group(owner, [member], name="gone"))["id"]
    if how == "deleted":
        assert (await call(api, "DELETE", owner, room_path(gone)))[0] == 204
    else:
        for who in (member, owner):
            assert (await call(api, "DELETE", who, room_path(gone, "members", who.id)))[0] == 204
    fresh = [(await api.create_group(cast.outsider, [member], name=f"fresh {i}"))["id"] for i in range(2)]
    fresh.append((await api.create_private(cast.outsider, cast.newcomer))["id"])
    assert gone not in fresh


async def test_leaving_twice_is_refused(api, cast):
    path = room_path(cast.room, "members", cast.member.id)
    assert (await call(api, "DELETE", cast.member, path))[0] == 204
    status, body = await call(api, "DELETE", cast.member, path)
    assert status in (403, 404), body  # no longer a member of the room: either answer refuses


# -- blocks ------------------------------------------------------------------------------------------


async def test_block_list_put_and_delete_are_idempotent(api, cast):
    for _ in range(2):
        status, body = await call(api, "PUT", cast.owner, f"/api/chat/blocks/{cast.member.id}")
        assert status == 204, body
    status, blocked = await call(api, "GET", cast.owner, "/api/chat/blocks")
    assert status == 200 and [u["id"] for u in blocked] == [cast.member.id], blocked
    for user in blocked:
        assert_user_shape(user)
    status, theirs = await call(api, "GET", cast.member, "/api/chat/blocks")
    assert status == 200 and theirs == [], theirs  # only what the caller blocked
    for _ in range(2):
        status, body = await call(api, "DELETE", cast.owner, f"/api/chat/blocks/{cast.member.id}")
        assert status == 204, body
    assert await call(api, "GET", cast.owner, "/api/chat/blocks") == (200, [])


async def test_blocking_oneself_is_invalid(api, cast):
    assert_error(*await call(api, "PUT", cast.owner, f"/api/chat/blocks/{cast.owner.id}"), 400, "invalid")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_blocking_an_unknown_user_is_not_found(api, cast, method):
    assert_error(*await call(api, method, cast.owner, f"/api/chat/blocks/{UNKNOWN_ID}"), 404, "not_found")


@pytest.mark.parametrize("blocker", ["creator", "other"])
async def test_a_private_room_with_a_blocked_user_cannot_be_opened(api, cast, blocker):
    creator, other = cast.admin, cast.outsider
    by = creator if blocker == "creator" else other
    against = other if by is creator else creator
    assert (await call(api, "PUT", by, f"/api/chat/blocks/{against.id}"))[0] == 204
    status, body = await call(api, "POST", creator, "/api/chat/rooms", {"type": "private", "memberIds": [other.id]})
    assert_error(status, body, 403, "forbidden")
    # A group with both is unaffected.
    status, body = await call(api, "POST", creator, "/api/chat/rooms",
                              {"type": "group", "name": "both", "memberIds": [other.id]})
    assert status == 201, body
    assert (await call(api, "DELETE", by, f"/api/chat/blocks/{against.id}"))[0] == 204
    status, body = await call(api, "POST", creator, "/api/chat/rooms", {"type": "private", "memberIds": [other.id]})
    assert status == 201, body


async def test_an_existing_private_room_is_not_returned_while_blocked(api, cast):
    assert (await call(api, "PUT", cast.member, f"/api/chat/blocks/{cast.owner.id}"))[0] == 204
    status, body = await call(api, "POST", cast.owner, "/api/chat/rooms", {"type": "private", "memberIds": [cast.member.id]})
    assert_error(status, body, 403, "forbidden")


# -- reports --------------------------------------------------------------------------------------------


async def test_reporting_a_message(api, cast, connect):
    o = await connect(cast.owner)
    message = await send(o, cast.room, "report me")
    path = room_path(cast.room, "messages", message["id"], "reports")
    status, body = await call(api, "POST", cast.member, path, {"reason": "spam"})
    assert status == 202 and set(body) == {"id"} and isinstance(body["id"], str) and body["id"], body
    assert_error(*await call(api, "POST", cast.outsider, path, {"reason": "spam"}), 403, "forbidden")
    for bad in ({"reason": ""}, {"reason": "r" * 1001}, {}, {"reason": 5}):
        assert_error(*await call(api, "POST", cast.member, path, bad), 400, "invalid", field="reason")
    unknown = room_path(cast.room, "messages", UNKNOWN_ID, "reports")
    assert_error(*await call(api, "POST", cast.member, unknown, {"reason": "spam"}), 404, "not_found")
