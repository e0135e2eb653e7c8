"""The storage contract for rooms and members after they are created (contract section 7).

Roles, mutes, room settings, adding members, hand-over of ownership, deletion
of an emptied group, bans, deleting a room, blocks, reports, and the members
in room summaries. Each test runs once per backend on a fresh store, like
``test_store_contract.py``; the last ones race two store instances (two
nodes) on one database.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Callable

import pytest

from kallemny_sio.errors import NotFound
from kallemny_sio.storage.base import MemberRecord, RoomMembers, RoomRecord, Store, UserRecord
from tests.storage.helpers import BAD_IDS, World

#: Ids that no backend can parse (BAD_IDS also has well-formed unknown ones, which
#: name no user or message, but only the core checks that before these calls).
MALFORMED_IDS = ["zzz", "", "-1", "x" * 200]


@pytest.fixture
async def node2(make_store: Callable[[], Store], store: Store) -> AsyncIterator[Store]:
    """A second store instance on the test's database: another server node."""
    other = make_store()
    await other.open()
    try:
        yield other
    finally:
        await other.close()


async def roster(world: World, room: RoomRecord) -> RoomMembers:
    found = await world.store.room_members(room.id)
    assert found is not None
    return found


async def roles(world: World, room: RoomRecord) -> dict[str, str]:
    """Member id → role, in the order :meth:`Store.room_members` gives them."""
    return {user: m.role for user, m in (await roster(world, room)).members.items()}


async def owners(store: Store, room: RoomRecord) -> list[str]:
    found = await store.room_members(room.id)
    assert found is not None
    return [user for user, m in found.members.items() if m.role == "owner"]


async def joined(world: World, room: RoomRecord, *users: UserRecord) -> None:
    """Add each user with add_member, one tick apart (so their joining order is the order given)."""
    for user in users:
        assert await world.store.add_member(room.id, user.id, world.tick())


async def gone(world: World, room: RoomRecord) -> bool:
    """Whether the room and its history are gone, as every reader sees it."""
    store = world.store
    page = await store.list_messages(room.id, 10)
    return (
        await store.get_room(room.id) is None
        and await store.room_members(room.id) is None
        and await store.member_ids(room.id) == []
        and (page is None or page.messages == [])
    )


# -- roles and the roster ---------------------------------------------------------------


async def test_the_creator_of_a_group_is_its_owner(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")

    room = await world.group(alice, bob, carol)

    found = await roster(world, room)
    assert found.room == room and found.blocked is False
    assert await roles(world, room) == {alice.id: "owner", bob.id: "member", carol.id: "member"}
    assert all(m.muted_until is None and m.joined_at == room.created_at for m in found.members.values())
    assert all(user == m.user_id for user, m in found.members.items())


async def test_private_room_members_are_plain_members(world: World) -> None:
    alice, bob = await world.users("alice", "bob")

    room, _ = await world.store.get_or_create_private_room(alice.id, bob.id, world.tick())

    assert sorted((await roles(world, room)).items()) == sorted([(alice.id, "member"), (bob.id, "member")])


async def test_room_members_are_in_joining_order(world: World) -> None:
    alice, bob, carol, dave = await world.users("alice", "bob", "carol", "dave")
    room = await world.group(alice, name="team")

    await joined(world, room, dave, bob, carol)

    found = await roster(world, room)
    assert list(found.members) == [alice.id, dave.id, bob.id, carol.id]
    assert [m.role for m in found.members.values()] == ["owner", "member", "member", "member"]
    joins = [m.joined_at for m in found.members.values()]
    assert joins == sorted(joins) and len(set(joins)) == 4
    assert found.members[dave.id] == MemberRecord(dave.id, "member", None, joins[1])


async def test_room_members_of_unknown_rooms(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)
    await world.store.remove_member(room.id, alice.id)  # deletes the group

    assert await world.store.room_members(room.id) is None
    for bad in BAD_IDS:
        assert await world.store.room_members(bad) is None


# -- room settings ----------------------------------------------------------------------


async def test_update_room_sets_the_fields_given_and_keeps_the_others(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob, name="team")
    assert (room.topic, room.custom_data) == (None, None)

    updated = await world.store.update_room(room.id, {"topic": "plans", "custom_data": '{"color":"red"}'})

    assert updated is not None
    assert (updated.name, updated.topic, updated.custom_data, updated.is_public) == (
        "team", "plans", '{"color":"red"}', False)
    assert await world.store.get_room(room.id) == updated
    renamed = await world.store.update_room(room.id, {"name": "crew", "is_public": True})
    assert renamed is not None
    assert (renamed.name, renamed.topic, renamed.custom_data, renamed.is_public) == (
        "crew", "plans", '{"color":"red"}', True)
    assert (renamed.created_at, renamed.created_by, renamed.last_activity_at) == (
        room.created_at, room.created_by, room.last_activity_at)
    cleared = await world.store.update_room(room.id, {"topic": None, "custom_data": None})
    assert cleared is not None and (cleared.topic, cleared.custom_data, cleared.name) == (None, None, "crew")
    summary = await world.store.get_room_summary(room.id, bob.id)
    assert summary is not None and summary.room == cleared


async def test_update_room_with_no_fields_changes_nothing(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)

    assert await world.store.update_room(room.id, {}) == room


async def test_update_room_of_unknown_rooms(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)
    await world.store.delete_room(room.id)

    assert await world.store.update_room(room.id, {"topic": "x"}) is None
    for bad in BAD_IDS:
        assert await world.store.update_room(bad, {"name": "x"}) is None


async def test_update_room_refuses_other_fields(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)

    with pytest.raises(ValueError):
        await world.store.update_room(room.id, {"type": "private"})
    assert await world.store.get_room(room.id) == room


# -- adding members ---------------------------------------------------------------------


async def test_add_members_skips_existing_members_and_the_banned(world: World) -> None:
    alice, bob, carol, dave, erin = await world.users("alice", "bob", "carol", "dave", "erin")
    room = await world.group(alice, bob)
    assert await world.store.ban(room.id, carol.id, alice.id, world.tick()) is False  # no membership ended
    at = world.tick()

    added = await world.store.add_members(room.id, [erin.id, bob.id, carol.id, dave.id, erin.id], at)

    assert added == [erin.id, dave.id]  # in the order given, once each
    found = await roster(world, room)
    assert list(found.members)[:2] == [alice.id, bob.id]
    assert set(list(found.members)[2:]) == {erin.id, dave.id}  # joined at the same time
    assert found.members[erin.id] == MemberRecord(erin.id, "member", None, at)
    assert found.members[dave.id] == MemberRecord(dave.id, "member", None, at)
    assert not await world.store.is_member(room.id, carol.id)
    assert await world.store.add_members(room.id, [bob.id, erin.id], world.tick()) == []


async def test_added_members_start_reading_at_the_latest_message(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice)
    history = await world.messages(room, alice, 3)

    assert await world.store.add_members(room.id, [bob.id], world.tick()) == [bob.id]

    summary = await world.store.get_room_summary(room.id, bob.id)
    assert summary is not None
    assert (summary.unread_count, summary.last_read_message_id) == (0, history[-1].id)


async def test_add_members_to_unknown_rooms_or_of_malformed_ids(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice)

    assert await world.store.add_members(room.id, [], world.tick()) == []
    assert await world.store.add_members(room.id, ["zzz", "", bob.id], world.tick()) == [bob.id]
    for bad in BAD_IDS:
        assert await world.store.add_members(bad, [bob.id], world.tick()) == []


# -- roles and mutes --------------------------------------------------------------------


async def test_set_member_changes_role_and_mute(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")
    room = await world.group(alice, bob, carol)
    until = world.now + 60_000

    admin = await world.store.set_member(room.id, bob.id, role="admin")
    muted = await world.store.set_member(room.id, carol.id, muted_until=until, set_muted_until=True)

    assert admin == MemberRecord(bob.id, "admin", None, room.created_at)
    assert muted == MemberRecord(carol.id, "member", until, room.created_at)
    assert (await roster(world, room)).members[carol.id] == muted
    both = await world.store.set_member(room.id, carol.id, role="admin", muted_until=None, set_muted_until=True)
    assert both == MemberRecord(carol.id, "admin", None, room.created_at)
    # muted_until without set_muted_until leaves the mute alone
    again = await world.store.set_member(room.id, carol.id, role="member", muted_until=until)
    assert again == MemberRecord(carol.id, "member", None, room.created_at)
    assert await world.store.set_member(room.id, carol.id) == again
    assert await roles(world, room) == {alice.id: "owner", bob.id: "admin", carol.id: "member"}


async def test_set_member_of_a_non_member(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice)

    assert await world.store.set_member(room.id, bob.id, role="admin") is None
    assert await world.store.set_member(room.id, bob.id, muted_until=1, set_muted_until=True) is None
    for bad in BAD_IDS:
        assert await world.store.set_member(bad, alice.id, role="admin") is None
        assert await world.store.set_member(room.id, bad, role="admin") is None
    assert await roles(world, room) == {alice.id: "owner"}


async def test_giving_owner_hands_the_group_over(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")
    room = await world.group(alice, bob, carol)
    await world.store.set_member(room.id, bob.id, role="admin")

    new_owner = await world.store.set_member(room.id, carol.id, role="owner")

    assert new_owner == MemberRecord(carol.id, "owner", None, room.created_at)
    assert await roles(world, room) == {alice.id: "admin", bob.id: "admin", carol.id: "owner"}
    # giving "owner" to the owner changes nothing
    assert await world.store.set_member(room.id, carol.id, role="owner") == new_owner
    assert await owners(world.store, room) == [carol.id]


# -- leaving ----------------------------------------------------------------------------


async def test_an_owner_who_leaves_hands_over_to_the_oldest_admin(world: World) -> None:
    alice, bob, carol, dave = await world.users("alice", "bob", "carol", "dave")
    room = await world.group(alice)
    await joined(world, room, bob, carol, dave)
    await world.store.set_member(room.id, dave.id, role="admin")
    await world.store.set_member(room.id, carol.id, role="admin")

    assert await world.store.remove_member(room.id, alice.id)

    # carol and dave are admins; carol joined before dave; bob (a member) is older still
    assert await roles(world, room) == {bob.id: "member", carol.id: "owner", dave.id: "admin"}
    assert await world.store.remove_member(room.id, carol.id)
    assert await roles(world, room) == {bob.id: "member", dave.id: "owner"}


async def test_an_owner_without_admins_hands_over_to_the_oldest_member(world: World) -> None:
    alice, bob, carol, dave = await world.users("alice", "bob", "carol", "dave")
    room = await world.group(alice)
    await joined(world, room, dave, bob, carol)
    assert await world.store.remove_member(room.id, dave.id)  # a member leaving hands nothing over
    assert await roles(world, room) == {alice.id: "owner", bob.id: "member", carol.id: "member"}

    assert await world.store.remove_member(room.id, alice.id)

    assert await roles(world, room) == {bob.id: "owner", carol.id: "member"}


async def test_a_group_whose_last_member_leaves_is_deleted(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    message = await world.say(room, alice, "hi", mentions=[bob])
    await world.react(message, bob, "👍")

    assert await world.store.remove_member(room.id, alice.id)
    assert await world.store.get_room(room.id) is not None
    assert await world.store.remove_member(room.id, bob.id)

    assert await gone(world, room)
    assert await world.store.get_message(room.id, message.id) is None
    assert (await world.store.list_changes(room.id, 0, 10)).messages == []
    assert await world.store.list_room_summaries(bob.id) == []
    assert await world.store.remove_member(room.id, bob.id) is False
    assert await world.store.add_member(room.id, bob.id, world.tick()) is False


async def test_a_private_room_is_not_deleted_when_a_member_leaves(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room, _ = await world.store.get_or_create_private_room(alice.id, bob.id, world.tick())

    assert await world.store.remove_member(room.id, alice.id)

    assert await world.store.get_room(room.id) is not None
    assert await roles(world, room) == {bob.id: "member"}


# -- bans -------------------------------------------------------------------------------


async def test_a_ban_removes_the_member_and_keeps_them_out_until_lifted(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")
    room = await world.group(alice, bob, carol)

    assert await world.store.ban(room.id, bob.id, alice.id, world.tick())  # a membership ended

    assert not await world.store.is_member(room.id, bob.id)
    assert await world.store.is_banned(room.id, bob.id)
    assert not await world.store.is_banned(room.id, carol.id)
    assert await world.store.ban(room.id, bob.id, alice.id, world.tick()) is False  # no membership left to end
    assert await world.store.is_banned(room.id, bob.id)
    assert await world.store.add_members(room.id, [bob.id], world.tick()) == []
    assert await world.store.unban(room.id, bob.id)
    assert await world.store.unban(room.id, bob.id) is False
    assert not await world.store.is_banned(room.id, bob.id)
    assert await world.store.add_members(room.id, [bob.id], world.tick()) == [bob.id]


async def test_a_non_member_can_be_banned_ahead(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice)
    other = await world.group(alice)

    assert await world.store.ban(room.id, bob.id, alice.id, world.tick()) is False  # no membership ended

    assert await world.store.is_banned(room.id, bob.id)
    assert await world.store.add_members(room.id, [bob.id], world.tick()) == []
    assert await world.store.add_member(room.id, bob.id, world.tick()) is False
    assert await world.store.add_members(other.id, [bob.id], world.tick()) == [bob.id]  # per room
    assert not await world.store.is_banned(other.id, bob.id)


async def test_banning_the_owner_hands_the_group_over(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")
    room = await world.group(alice)
    await joined(world, room, bob, carol)
    await world.store.set_member(room.id, carol.id, role="admin")

    assert await world.store.ban(room.id, alice.id, carol.id, world.tick())

    assert await roles(world, room) == {bob.id: "member", carol.id: "owner"}


async def test_bans_of_unknown_rooms_and_ids(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)
    for bad in BAD_IDS:
        assert await world.store.ban(bad, alice.id, alice.id, world.tick()) is False
        assert await world.store.is_banned(bad, alice.id) is False
        assert await world.store.is_banned(room.id, bad) is False
        assert await world.store.unban(bad, alice.id) is False
        assert await world.store.unban(room.id, bad) is False
    assert await roles(world, room) == {alice.id: "owner"}


# -- deleting a room --------------------------------------------------------------------


async def test_delete_room_removes_everything_but_reports(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")
    room = await world.group(alice, bob)
    kept = await world.group(alice, bob, name="kept")
    message = await world.say(room, alice, "hi", mentions=[bob])
    await world.react(message, bob, "👍")
    await world.store.ban(room.id, carol.id, alice.id, world.tick())
    report = await world.store.add_report(room.id, message.id, bob.id, "spam", '{"id":"x"}', world.tick())
    other = await world.say(kept, bob, "still here")

    assert await world.store.delete_room(room.id)

    assert await gone(world, room)
    assert await world.store.get_room_summary(room.id, alice.id) is None
    assert [s.room.id for s in await world.store.list_room_summaries(bob.id)] == [kept.id]
    assert await world.store.room_ids_for_user(alice.id) == [kept.id]
    assert await world.store.is_banned(room.id, carol.id) is False
    assert (await world.store.list_changes(room.id, 0, 10)).messages == []
    reports, more = await world.store.list_reports(None, 10)
    assert [r.id for r in reports] == [report] and more is False
    assert await world.store.delete_room(room.id) is False
    assert await world.store.get_message(kept.id, other.id) == other
    for bad in BAD_IDS:
        assert await world.store.delete_room(bad) is False


# -- blocks -----------------------------------------------------------------------------


async def test_a_block_counts_both_ways(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")
    private, _ = await world.store.get_or_create_private_room(alice.id, bob.id, world.tick())
    other, _ = await world.store.get_or_create_private_room(alice.id, carol.id, world.tick())

    await world.store.set_block(alice.id, bob.id, True, world.tick())

    assert await world.store.blocked_between(alice.id, bob.id)
    assert await world.store.blocked_between(bob.id, alice.id)
    assert not await world.store.blocked_between(alice.id, carol.id)
    assert not await world.store.blocked_between(bob.id, carol.id)
    assert (await roster(world, private)).blocked is True
    assert (await roster(world, other)).blocked is False
    assert await world.store.blocked_ids(alice.id) == [bob.id]
    assert await world.store.blocked_ids(bob.id) == []
    await world.store.set_block(alice.id, bob.id, False, world.tick())
    await world.store.set_block(alice.id, bob.id, False, world.tick())  # idempotent
    assert not await world.store.blocked_between(bob.id, alice.id)
    assert (await roster(world, private)).blocked is False


async def test_blocked_ids_are_oldest_block_first_and_blocking_again_keeps_the_first(world: World) -> None:
    alice, bob, carol, dave = await world.users("alice", "bob", "carol", "dave")

    await world.store.set_block(alice.id, dave.id, True, world.tick())
    await world.store.set_block(alice.id, bob.id, True, world.tick())
    await world.store.set_block(alice.id, carol.id, True, world.tick())
    await world.store.set_block(alice.id, dave.id, True, world.tick())

    assert await world.store.blocked_ids(alice.id) == [dave.id, bob.id, carol.id]
    await world.store.set_block(alice.id, bob.id, False, world.tick())
    await world.store.set_block(alice.id, bob.id, True, world.tick())
    assert await world.store.blocked_ids(alice.id) == [dave.id, carol.id, bob.id]


async def test_blocks_with_malformed_ids(world: World) -> None:
    alice = await world.user("alice")
    for bad in MALFORMED_IDS:
        await world.store.set_block(alice.id, bad, True, world.tick())
        assert await world.store.blocked_between(alice.id, bad) is False
        assert await world.store.blocked_ids(bad) == []
    assert await world.store.blocked_ids(alice.id) == []


async def test_blocking_concurrently_keeps_one_block(world: World, node2: Store) -> None:
    alice, bob = await world.users("alice", "bob")

    await asyncio.gather(*(s.set_block(alice.id, bob.id, True, world.tick()) for s in [world.store, node2] * 4))

    assert await world.store.blocked_ids(alice.id) == [bob.id]
    await node2.set_block(alice.id, bob.id, False, world.tick())
    assert await world.store.blocked_ids(alice.id) == []


# -- reports ----------------------------------------------------------------------------


async def test_reports_are_listed_in_order_in_pages(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    message = await world.say(room, alice, "rude")
    made = []
    for i in range(5):
        at = world.tick()
        made.append((await world.store.add_report(room.id, message.id, bob.id, f"reason {i}", f'{{"n":{i}}}', at), at))

    report_ids = [report_id for report_id, _ in made]
    assert len(set(report_ids)) == 5 and all(isinstance(r, str) and r for r in report_ids)
    first, more = await world.store.list_reports(None, 2)
    assert [r.id for r in first] == report_ids[:2] and more is True
    assert first[0].room_id == room.id and first[0].message_id == message.id and first[0].reporter_id == bob.id
    assert (first[1].reason, first[1].created_at, first[1].message) == ("reason 1", made[1][1], '{"n":1}')
    second, more = await world.store.list_reports(first[-1].id, 2)
    assert [r.id for r in second] == report_ids[2:4] and more is True
    third, more = await world.store.list_reports(second[-1].id, 2)
    assert [r.id for r in third] == report_ids[4:] and more is False
    assert await world.store.list_reports(report_ids[-1], 10) == ([], False)
    everything, more = await world.store.list_reports(None, 10)
    assert everything == first + second + third and more is False


async def test_reports_with_malformed_ids(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)
    message = await world.say(room, alice)
    await world.store.add_report(room.id, message.id, alice.id, "why", "{}", world.tick())

    for bad in BAD_IDS:
        assert await world.store.list_reports(bad, 10) == ([], False)
    for bad in MALFORMED_IDS:
        with pytest.raises(NotFound):
            await world.store.add_report(bad, message.id, alice.id, "why", "{}", world.tick())
        with pytest.raises(NotFound):
            await world.store.add_report(room.id, bad, alice.id, "why", "{}", world.tick())
        with pytest.raises(NotFound):
            await world.store.add_report(room.id, message.id, bad, "why", "{}", world.tick())


async def test_reports_from_two_nodes_get_distinct_ordered_ids(world: World, node2: Store) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)
    message = await world.say(room, alice)

    made = await asyncio.gather(*(
        s.add_report(room.id, message.id, alice.id, f"r{i}", "{}", world.tick())
        for i, s in enumerate([world.store, node2] * 10)
    ))

    listed, more = await world.store.list_reports(None, 100)
    assert sorted(r.id for r in listed) == sorted(made) and len(set(made)) == 20 and more is False
    paged: list[str] = []
    after = None
    while True:
        page, more = await node2.list_reports(after, 3)
        paged += [r.id for r in page]
        if not more:
            break
        after = page[-1].id
    assert paged == [r.id for r in listed]


# -- room summaries ---------------------------------------------------------------------


async def test_summaries_carry_members_with_roles_and_mutes(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")
    room = await world.group(alice, bob)
    await joined(world, room, carol)
    await world.store.set_member(room.id, bob.id, role="admin")
    until = world.now + 60_000
    await world.store.set_member(room.id, carol.id, muted_until=until, set_muted_until=True)
    private, _ = await world.store.get_or_create_private_room(alice.id, carol.id, world.tick())

    listed = {s.room.id: s for s in await world.store.list_room_summaries(carol.id)}
    one = await world.store.get_room_summary(room.id, carol.id)

    assert one is not None and listed[room.id] == one
    assert [m.user_id for m in one.members] == list(one.member_ids)
    by_user = {m.user_id: m for m in one.members}
    assert by_user == (await roster(world, room)).members
    assert {u: (m.role, m.muted_until) for u, m in by_user.items()} == {
        alice.id: ("owner", None), bob.id: ("admin", None), carol.id: ("member", until)}
    pair = listed[private.id]
    assert [m.user_id for m in pair.members] == list(pair.member_ids)
    assert sorted((m.user_id, m.role) for m in pair.members) == sorted([(alice.id, "member"), (carol.id, "member")])


# -- two nodes at once ------------------------------------------------------------------


async def test_everyone_leaving_at_once_deletes_the_group_once(world: World, node2: Store) -> None:
    users = await world.users(*(f"user{i}" for i in range(8)))
    room = await world.group(users[0], *users[1:])
    await world.say(room, users[0])

    removed = await asyncio.gather(*(
        (world.store if i % 2 else node2).remove_member(room.id, u.id) for i, u in enumerate(users)
    ))

    assert removed == [True] * 8
    assert await gone(world, room)


async def test_a_join_racing_the_last_departure_never_lands_in_a_deleted_room(world: World, node2: Store) -> None:
    for _ in range(10):
        alice, bob = await world.users(f"a{world.now}", f"b{world.now}")
        room = await world.group(alice)

        left, added = await asyncio.gather(
            world.store.remove_member(room.id, alice.id), node2.add_member(room.id, bob.id, world.tick())
        )

        assert left is True
        if await world.store.get_room(room.id) is None:
            assert added is False and await world.store.member_ids(room.id) == []
            assert not await node2.is_member(room.id, bob.id)
        else:
            assert added is True
            assert await roles(world, room) == {bob.id: "owner"}


async def test_owner_and_heir_leaving_at_once_leave_one_owner(world: World, node2: Store) -> None:
    for _ in range(5):
        alice, bob, carol, dave = await world.users(*(f"{n}{world.now}" for n in "abcd"))
        room = await world.group(alice)
        await joined(world, room, bob, carol, dave)
        await world.store.set_member(room.id, bob.id, role="admin")

        await asyncio.gather(world.store.remove_member(room.id, alice.id), node2.remove_member(room.id, bob.id))

        assert await roles(world, room) == {carol.id: "owner", dave.id: "member"}


async def test_a_hand_over_racing_the_owner_leaving_leaves_one_owner(world: World, node2: Store) -> None:
    for _ in range(5):
        alice, bob, carol = await world.users(*(f"{n}{world.now}" for n in "abc"))
        room = await world.group(alice)
        await joined(world, room, bob, carol)

        await asyncio.gather(world.store.remove_member(room.id, alice.id),
                             node2.set_member(room.id, carol.id, role="owner"))

        found = await roles(world, room)
        assert set(found) == {bob.id, carol.id}
        assert sorted(found.values()) in (["member", "owner"], ["admin", "owner"])


async def test_a_ban_racing_a_join_keeps_the_banned_out(world: World, node2: Store) -> None:
    for _ in range(10):
        alice, bob = await world.users(f"a{world.now}", f"b{world.now}")
        room = await world.group(alice)

        banned, added = await asyncio.gather(world.store.ban(room.id, bob.id, alice.id, world.tick()),
                                             node2.add_members(room.id, [bob.id], world.tick()))

        assert await world.store.is_banned(room.id, bob.id)
        assert await world.store.member_ids(room.id) == [alice.id]
        # a ban that ended a membership ended one that was added (reported both ways)
        assert not banned or added == [bob.id]

