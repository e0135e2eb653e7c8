"""The storage contract: every backend passes this suite unchanged.

Each test runs once per backend (test ids ``sqlite`` and ``mongo-compat``, or
``mongodb`` when ``KALLEMNY_TEST_MONGODB_URL`` names a real MongoDB), on a
fresh, empty store. The interface is :class:`kallemny_sio.storage.base.Store`;
where its docstrings leave a choice open, the test says which reading it takes.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import pytest

from kallemny_sio.errors import Conflict
from kallemny_sio.storage.base import MessagePage, NewMessage, ReadState, RoomRecord, RoomSummary, Store, UserRecord
from tests.storage.helpers import BAD_IDS, T0, World, contents, ids

# -- users ---------------------------------------------------------------------


async def test_create_user_returns_the_stored_record(world: World) -> None:
    user = await world.store.create_user("Alice", "Alice A.", "argon2$hash", T0)

    assert isinstance(user, UserRecord)
    assert user.id and isinstance(user.id, str)
    assert (user.username, user.display_name, user.password_hash) == ("Alice", "Alice A.", "argon2$hash")
    assert user.created_at == T0
    assert user.last_seen is None
    assert await world.store.get_user_by_username("Alice") == user
    assert await world.store.get_users([user.id]) == [user]


async def test_user_ids_are_distinct(world: World) -> None:
    users = await world.users("alice", "bob", "carol")

    assert len(set(ids(users))) == 3


@pytest.mark.parametrize("taken", ["alice", "ALICE", "aLiCe", "Alice"])
async def test_username_is_taken_case_insensitively(world: World, taken: str) -> None:
    await world.store.create_user("Alice", "Alice", "h", T0)

    with pytest.raises(Conflict):
        await world.store.create_user(taken, "Other", "h2", T0 + 1)
    assert [u.username for u in await world.store.search_users("", 10)] == ["Alice"]


async def test_concurrent_registrations_of_one_name_make_one_user(world: World) -> None:
    names = ["bob", "Bob", "BOB", "boB"] * 3

    results = await asyncio.gather(
        *(world.store.create_user(name, name, "h", T0 + i) for i, name in enumerate(names)), return_exceptions=True
    )

    created = [r for r in results if isinstance(r, UserRecord)]
    assert len(created) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, UserRecord))


@pytest.mark.parametrize("spelling", ["alice", "ALICE", "Alice", "aLICE"])
async def test_get_user_by_username_in_any_case(world: World, spelling: str) -> None:
    alice = await world.store.create_user("Alice", "Alice", "h", T0)
    await world.user("alicia")

    found = await world.store.get_user_by_username(spelling)

    assert found == alice
    assert found is not None and found.username == "Alice"  # kept as typed


async def test_get_user_by_unknown_username(world: World) -> None:
    await world.user("alice")

    assert await world.store.get_user_by_username("alic") is None
    assert await world.store.get_user_by_username("alice2") is None
    assert await world.store.get_user_by_username("") is None


async def test_search_users_by_prefix_in_username_order(world: World) -> None:
    # Names chosen so that byte order and case-insensitive order agree.
    await world.users("alice", "Albert", "alfred", "bob", "carol_al", "ALZ_9")

    assert [u.username for u in await world.store.search_users("al", 10)] == ["Albert", "alfred", "alice", "ALZ_9"]
    assert [u.username for u in await world.store.search_users("AL", 10)] == ["Albert", "alfred", "alice", "ALZ_9"]
    assert [u.username for u in await world.store.search_users("ali", 10)] == ["alice"]
    assert [u.username for u in await world.store.search_users("alice", 10)] == ["alice"]
    assert await world.store.search_users("zed", 10) == []


async def test_search_users_respects_the_limit(world: World) -> None:
    await world.users(*(f"user{i:02d}" for i in range(12)))

    page = await world.store.search_users("user", 5)

    assert [u.username for u in page] == [f"user{i:02d}" for i in range(5)]
    assert len(await world.store.search_users("", 100)) == 12
    assert len(await world.store.search_users("u", 1)) == 1


async def test_search_users_treats_the_prefix_literally(world: World) -> None:
    # "_" and "." are legal in usernames and special in LIKE patterns and regexes.
    await world.users("car_x", "carax", "dot.user", "dotxuser", "a-b", "a+b")

    assert [u.username for u in await world.store.search_users("car_", 10)] == ["car_x"]
    assert [u.username for u in await world.store.search_users("dot.", 10)] == ["dot.user"]
    assert [u.username for u in await world.store.search_users("a+", 10)] == ["a+b"]
    assert await world.store.search_users("%", 10) == []
    assert await world.store.search_users(".*", 10) == []
    assert await world.store.search_users("[a", 10) == []


async def test_set_password_hash(world: World) -> None:
    alice = await world.user("alice")

    await world.store.set_password_hash(alice.id, "argon2$new")

    found = await world.store.get_user_by_username("alice")
    assert found is not None and found.password_hash == "argon2$new"
    assert found.username == "alice" and found.created_at == alice.created_at


async def test_set_last_seen(world: World) -> None:
    alice, bob = await world.users("alice", "bob")

    await world.store.set_last_seen(alice.id, T0 + 5000)

    by_id = {u.id: u for u in await world.store.get_users([alice.id, bob.id])}
    assert by_id[alice.id].last_seen == T0 + 5000
    assert by_id[bob.id].last_seen is None
    await world.store.set_last_seen(alice.id, T0 + 9000)
    assert (await world.store.get_users([alice.id]))[0].last_seen == T0 + 9000


async def test_get_users_skips_unknown_and_malformed_ids(world: World) -> None:
    alice, bob = await world.users("alice", "bob")

    found = await world.store.get_users([alice.id, *BAD_IDS, bob.id, alice.id])

    assert sorted(ids(found)) == sorted([alice.id, bob.id])
    assert await world.store.get_users([]) == []
    assert await world.store.get_users(BAD_IDS) == []
    assert ids(await world.store.get_users(iter([bob.id]))) == [bob.id]  # any iterable


# -- private rooms -------------------------------------------------------------


async def test_private_room_is_created_once_per_pair(world: World) -> None:
    alice, bob = await world.users("alice", "bob")

    room, created = await world.store.get_or_create_private_room(alice.id, bob.id, T0 + 100)
    again, created_again = await world.store.get_or_create_private_room(alice.id, bob.id, T0 + 200)
    reverse, created_reverse = await world.store.get_or_create_private_room(bob.id, alice.id, T0 + 300)

    assert (created, created_again, created_reverse) == (True, False, False)
    assert room == again == reverse
    assert (room.type, room.name, room.is_public) == ("private", None, False)
    assert room.created_by == alice.id
    assert room.created_at == room.last_activity_at == T0 + 100
    assert sorted(await world.store.member_ids(room.id)) == sorted([alice.id, bob.id])
    assert await world.store.get_room(room.id) == room


async def test_private_rooms_of_different_pairs_differ(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")

    ab, _ = await world.store.get_or_create_private_room(alice.id, bob.id, T0)
    ac, _ = await world.store.get_or_create_private_room(alice.id, carol.id, T0)
    bc, _ = await world.store.get_or_create_private_room(carol.id, bob.id, T0)

    assert len({ab.id, ac.id, bc.id}) == 3
    assert sorted(await world.store.member_ids(bc.id)) == sorted([bob.id, carol.id])


async def warm_up(world: World, callers: int) -> None:
    """Let a pooled backend open its connections first, so the racers below really race."""
    await asyncio.gather(*(world.store.get_room("0" * 24) for _ in range(callers)))


async def test_concurrent_private_room_creation_makes_one_room(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    await warm_up(world, 20)

    async def get_or_create(i: int) -> tuple[RoomRecord, bool, list[str]]:
        pair = (alice.id, bob.id) if i % 2 else (bob.id, alice.id)
        room, created = await world.store.get_or_create_private_room(*pair, T0 + i)
        # Every caller, a loser of the race included, gets a room whose members exist.
        return room, created, sorted(await world.store.member_ids(room.id))

    results = await asyncio.gather(*(get_or_create(i) for i in range(20)))

    assert len({room.id for room, _, _ in results}) == 1
    assert [created for _, created, _ in results].count(True) == 1
    assert all(members == sorted([alice.id, bob.id]) for _, _, members in results)
    room = results[0][0]
    assert room.id in await world.store.room_ids_for_user(alice.id)
    assert room.id in await world.store.room_ids_for_user(bob.id)


# -- group rooms and memberships -------------------------------------------------


async def test_create_group_room(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")

    room = await world.store.create_group_room(alice.id, "Général ☕", True, [alice.id, bob.id, carol.id], T0 + 50)

    assert isinstance(room, RoomRecord)
    assert (room.type, room.name, room.is_public, room.created_by) == ("group", "Général ☕", True, alice.id)
    assert room.created_at == room.last_activity_at == T0 + 50
    assert await world.store.get_room(room.id) == room
    assert sorted(await world.store.member_ids(room.id)) == sorted([alice.id, bob.id, carol.id])


async def test_group_rooms_with_one_name_are_distinct(world: World) -> None:
    alice, bob = await world.users("alice", "bob")

    first = await world.group(alice, bob, name="team")
    second = await world.group(alice, bob, name="team")
    private = await world.store.create_group_room(alice.id, "secret", False, [alice.id], T0)

    assert first.id != second.id
    assert private.is_public is False
    assert await world.store.member_ids(private.id) == [alice.id]


async def test_add_and_remove_members(world: World) -> None:
    alice, bob, dave = await world.users("alice", "bob", "dave")
    room = await world.group(alice, bob)

    assert await world.store.is_member(room.id, dave.id) is False
    assert await world.store.add_member(room.id, dave.id, world.tick()) is True
    assert await world.store.add_member(room.id, dave.id, world.tick()) is False
    assert await world.store.is_member(room.id, dave.id) is True
    assert sorted(await world.store.member_ids(room.id)) == sorted([alice.id, bob.id, dave.id])

    assert await world.store.remove_member(room.id, dave.id) is True
    assert await world.store.remove_member(room.id, dave.id) is False
    assert await world.store.is_member(room.id, dave.id) is False
    assert sorted(await world.store.member_ids(room.id)) == sorted([alice.id, bob.id])
    assert await world.store.room_ids_for_user(dave.id) == []


async def test_concurrent_adds_of_one_member_add_once(world: World) -> None:
    alice, dave = await world.users("alice", "dave")
    room = await world.group(alice)

    results = await asyncio.gather(*(world.store.add_member(room.id, dave.id, T0 + i) for i in range(10)))

    assert results.count(True) == 1
    assert sorted(await world.store.member_ids(room.id)) == sorted([alice.id, dave.id])


async def test_member_can_rejoin_after_leaving(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)

    assert await world.store.remove_member(room.id, bob.id) is True
    assert await world.store.add_member(room.id, bob.id, world.tick()) is True
    assert await world.store.is_member(room.id, bob.id) is True


async def test_room_ids_for_user(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")
    group = await world.group(alice, bob)
    private, _ = await world.store.get_or_create_private_room(alice.id, carol.id, world.tick())
    other = await world.group(bob, carol)

    assert sorted(await world.store.room_ids_for_user(alice.id)) == sorted([group.id, private.id])
    assert sorted(await world.store.room_ids_for_user(bob.id)) == sorted([group.id, other.id])
    assert await world.store.room_ids_for_user((await world.user("dave")).id) == []


async def test_contact_ids_are_the_other_users_sharing_a_room(world: World) -> None:
    alice, bob, carol, dave, erin = await world.users("alice", "bob", "carol", "dave", "erin")
    await world.group(alice, bob, carol)
    await world.store.get_or_create_private_room(alice.id, bob.id, world.tick())  # bob again: counted once
    left = await world.group(alice, dave)
    await world.store.remove_member(left.id, dave.id)
    await world.group(bob, erin)

    assert sorted(await world.store.contact_ids(alice.id)) == sorted([bob.id, carol.id])
    assert sorted(await world.store.contact_ids(bob.id)) == sorted([alice.id, carol.id, erin.id])
    assert await world.store.contact_ids(dave.id) == []


async def test_get_room_of_unknown_id(world: World) -> None:
    alice = await world.user("alice")
    await world.group(alice)

    for bad in BAD_IDS:
        assert await world.store.get_room(bad) is None
        assert await world.store.member_ids(bad) == []


# -- room summaries ------------------------------------------------------------


async def test_summaries_list_most_recent_activity_first(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    first = await world.group(alice, bob, name="first")
    second = await world.group(alice, bob, name="second")
    third = await world.group(alice, name="third")

    assert [s.room.id for s in await world.store.list_room_summaries(alice.id)] == [third.id, second.id, first.id]

    await world.send(first, bob, "wake up", at=T0 + 10_000)

    summaries = await world.store.list_room_summaries(alice.id)
    assert [s.room.id for s in summaries] == [first.id, third.id, second.id]
    assert summaries[0].room.last_activity_at == T0 + 10_000
    assert [s.room.id for s in await world.store.list_room_summaries(bob.id)] == [first.id, second.id]
    assert (await world.store.get_room(first.id)).last_activity_at == T0 + 10_000  # type: ignore[union-attr]


async def test_summary_of_a_room_without_messages(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob, name="quiet")

    [summary] = await world.store.list_room_summaries(alice.id)

    assert isinstance(summary, RoomSummary)
    assert summary.room == room
    assert sorted(summary.member_ids) == sorted([alice.id, bob.id])
    assert summary.last_message is None
    assert summary.unread_count == 0
    assert summary.last_read_message_id is None


async def test_summary_counts_others_messages_after_the_read_pointer(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    sent = await world.messages(room, alice, 3)

    bob_view = await world.store.get_room_summary(room.id, bob.id)
    alice_view = await world.store.get_room_summary(room.id, alice.id)

    assert bob_view is not None and alice_view is not None
    assert bob_view.unread_count == 3
    assert bob_view.last_message == sent[-1]
    assert bob_view.last_read_message_id is None
    assert alice_view.unread_count == 0  # one's own messages are never unread
    assert alice_view.last_read_message_id == sent[-1].id
    assert alice_view.last_message == sent[-1]


async def test_sending_moves_the_senders_read_pointer(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    await world.messages(room, alice, 2)

    reply = (await world.send(room, bob, "reply")).message

    bob_view = await world.store.get_room_summary(room.id, bob.id)
    alice_view = await world.store.get_room_summary(room.id, alice.id)
    assert bob_view is not None and alice_view is not None
    assert (bob_view.unread_count, bob_view.last_read_message_id) == (0, reply.id)
    assert alice_view.unread_count == 1


async def test_new_member_does_not_count_older_history_as_unread(world: World) -> None:
    alice, bob, dave = await world.users("alice", "bob", "dave")
    room = await world.group(alice, bob)
    history = await world.messages(room, alice, 5)

    await world.store.add_member(room.id, dave.id, world.tick())

    dave_view = await world.store.get_room_summary(room.id, dave.id)
    assert dave_view is not None
    assert dave_view.unread_count == 0
    assert dave_view.last_read_message_id == history[-1].id
    assert dave_view.last_message == history[-1]

    await world.send(room, bob, "welcome")
    dave_view = await world.store.get_room_summary(room.id, dave.id)
    assert dave_view is not None and dave_view.unread_count == 1
    # The pointer was placed at joining, not read: marking older history leaves it,
    # with no read time yet.
    unchanged = await world.store.mark_read(room.id, dave.id, history[0].id, T0 + 90_000)
    assert unchanged == ReadState(room.id, dave.id, history[-1].id, None)


async def test_new_member_of_an_empty_room(world: World) -> None:
    alice, dave = await world.users("alice", "dave")
    room = await world.group(alice)

    await world.store.add_member(room.id, dave.id, world.tick())
    await world.send(room, alice, "first")

    dave_view = await world.store.get_room_summary(room.id, dave.id)
    assert dave_view is not None
    assert (dave_view.unread_count, dave_view.last_read_message_id) == (1, None)


async def test_get_room_summary_matches_the_list(world: World) -> None:
    alice, bob, carol = await world.users("alice", "bob", "carol")
    group = await world.group(alice, bob, carol)
    private, _ = await world.store.get_or_create_private_room(alice.id, bob.id, world.tick())
    await world.messages(group, bob, 2)
    await world.send(private, alice, "psst")

    for summary in await world.store.list_room_summaries(alice.id):
        assert await world.store.get_room_summary(summary.room.id, alice.id) == summary
    for bad in BAD_IDS:
        assert await world.store.get_room_summary(bad, alice.id) is None


async def test_room_summary_is_for_members_only(world: World) -> None:
    # Reading of the interface: "as list_room_summaries would show it to user_id",
    # and the list does not show a room to a non-member (the core relies on this).
    alice, bob, eve = await world.users("alice", "bob", "eve")
    room = await world.group(alice, bob, public=True)
    await world.send(room, alice, "members only")

    assert await world.store.get_room_summary(room.id, eve.id) is None
    assert await world.store.remove_member(room.id, bob.id) is True
    assert await world.store.get_room_summary(room.id, bob.id) is None
    assert [s.room.id for s in await world.store.list_room_summaries(bob.id)] == []


async def test_summaries_of_many_rooms(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    rooms = [await world.group(alice, bob, name=f"r{i}") for i in range(12)]
    for i, room in enumerate(rooms):
        await world.messages(room, bob, i % 4, prefix=f"r{i}-")

    summaries = await world.store.list_room_summaries(alice.id)

    assert len(summaries) == 12
    by_id = {s.room.id: s for s in summaries}
    for i, room in enumerate(rooms):
        assert by_id[room.id].unread_count == i % 4
        expected_last = f"r{i}-{i % 4}" if i % 4 else None
        last = by_id[room.id].last_message
        assert (last.content if last else None) == expected_last
    activity = [s.room.last_activity_at for s in summaries]
    assert activity == sorted(activity, reverse=True)


async def test_summaries_for_user_without_rooms(world: World) -> None:
    alice = await world.user("alice")

    assert await world.store.list_room_summaries(alice.id) == []


# -- messages: records and paging -------------------------------------------------


async def test_add_message_returns_the_stored_record(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)

    stored = await world.send(room, alice, "hello bob", at=T0 + 777)
    tagged = await world.send(room, alice, "tagged", client_message_id="c-1")

    assert stored.created is True
    message = stored.message
    assert message.id and isinstance(message.id, str)
    assert (message.room_id, message.sender_id, message.sender_username) == (room.id, alice.id, "alice")
    assert (message.content, message.created_at, message.client_message_id) == ("hello bob", T0 + 777, None)
    assert tagged.message.client_message_id == "c-1"
    page = await world.store.list_messages(room.id, 10)
    assert page is not None and page.messages == [message, tagged.message]


async def test_empty_room_has_an_empty_page(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)

    page = await world.store.list_messages(room.id, 50)

    assert page == MessagePage(messages=[], has_more=False)


async def test_latest_page_without_cursor(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)
    sent = await world.messages(room, alice, 5)

    three = await world.store.list_messages(room.id, 3)
    five = await world.store.list_messages(room.id, 5)  # the exact boundary
    ten = await world.store.list_messages(room.id, 10)
    one = await world.store.list_messages(room.id, 1)

    assert three is not None and (three.messages, three.has_more) == (sent[2:], True)
    assert five is not None and (five.messages, five.has_more) == (sent, False)
    assert ten is not None and (ten.messages, ten.has_more) == (sent, False)
    assert one is not None and (one.messages, one.has_more) == (sent[4:], True)


async def test_page_before_a_cursor(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)
    m = await world.messages(room, alice, 5)

    cases = [
        (m[4].id, 2, m[2:4], True),
        (m[2].id, 2, m[0:2], False),  # exactly the rest: nothing older
        (m[2].id, 5, m[0:2], False),
        (m[3].id, 2, m[1:3], True),
        (m[0].id, 2, [], False),
    ]
    for before, limit, expected, has_more in cases:
        page = await world.store.list_messages(room.id, limit, before=before)
        assert page is not None
        assert (contents(page.messages), page.has_more) == (contents(expected), has_more), (before, limit)


async def test_page_after_a_cursor(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)
    m = await world.messages(room, alice, 5)

    cases = [
        (m[0].id, 2, m[1:3], True),
        (m[2].id, 2, m[3:5], False),  # exactly the rest: nothing newer
        (m[2].id, 5, m[3:5], False),
        (m[1].id, 2, m[2:4], True),
        (m[4].id, 2, [], False),
    ]
    for after, limit, expected, has_more in cases:
        page = await world.store.list_messages(room.id, limit, after=after)
        assert page is not None
        assert (contents(page.messages), page.has_more) == (contents(expected), has_more), (after, limit)


async def test_walking_history_both_ways_sees_every_message_once(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    sent = [(await world.send(room, (alice, bob)[i % 2], f"m{i}")).message for i in range(25)]

    backward: list = []
    page = await world.store.list_messages(room.id, 7)
    while True:
        assert page is not None
        backward = page.messages + backward
        if not page.has_more:
            break
        page = await world.store.list_messages(room.id, 7, before=page.messages[0].id)

    forward: list = []
    page = await world.store.list_messages(room.id, 7, after=sent[0].id)
    while True:
        assert page is not None
        forward += page.messages
        if not page.has_more:
            break
        page = await world.store.list_messages(room.id, 7, after=page.messages[-1].id)

    assert ids(backward) == ids(sent)
    assert ids(forward) == ids(sent[1:])


async def test_messages_of_one_millisecond_page_in_acceptance_order(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    same_ms = T0 + 50_000
    sent = [(await world.send(room, (alice, bob)[i % 3 == 0], f"same-{i:02d}", at=same_ms)).message for i in range(30)]

    latest = await world.store.list_messages(room.id, 10)
    before = await world.store.list_messages(room.id, 10, before=sent[15].id)
    after = await world.store.list_messages(room.id, 10, after=sent[15].id)
    everything = await world.store.list_messages(room.id, 100)

    assert latest is not None and ids(latest.messages) == ids(sent[20:])
    assert before is not None and ids(before.messages) == ids(sent[5:15])
    assert after is not None and ids(after.messages) == ids(sent[16:26])
    assert everything is not None and ids(everything.messages) == ids(sent)


async def test_concurrent_sends_are_all_kept_in_one_order(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)

    results = await asyncio.gather(*(world.send(room, (alice, bob)[i % 2], f"c{i}", at=T0 + 1) for i in range(30)))

    assert all(r.created for r in results)
    everything = await world.store.list_messages(room.id, 100)
    assert everything is not None and sorted(contents(everything.messages)) == sorted(f"c{i}" for i in range(30))
    # One order, whichever way it is read: walking back in small pages agrees.
    walked: list = []
    page = await world.store.list_messages(room.id, 4)
    while page is not None:
        walked = page.messages + walked
        if not page.has_more:
            break
        page = await world.store.list_messages(room.id, 4, before=page.messages[0].id)
    assert ids(walked) == ids(everything.messages)


async def test_catching_up_while_others_send_never_skips_a_message(
    world: World, make_store: Callable[[], Store]
) -> None:
    # The contract's "no gap": a client that follows after=<last id it saw> while
    # messages keep arriving (here from two store instances on one database, as
    # two server nodes would) sees every message exactly once, in history order.
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    start = (await world.send(room, bob, "start")).message
    other_node = make_store()
    await other_node.open()
    nodes = [world.store, other_node]
    sending = True

    async def sender(k: int) -> None:
        for i in range(10):
            new = NewMessage(room.id, alice.id, "alice", f"s{k}-{i}", T0 + 1000 + i)
            await nodes[k % 2].add_message(new)

    async def catch_up(last: str) -> tuple[list, str]:
        seen: list = []
        while True:
            page = await world.store.list_messages(room.id, 7, after=last)
            assert page is not None
            seen += page.messages
            last = page.messages[-1].id if page.messages else last
            if not page.has_more:
                return seen, last

    async def reader() -> list:
        seen: list = []
        last = start.id
        while sending:
            more, last = await catch_up(last)
            seen += more
            await asyncio.sleep(0)
        more, last = await catch_up(last)
        return seen + more

    try:
        reading = asyncio.create_task(reader())
        await asyncio.gather(*(sender(k) for k in range(8)))
        sending = False
        seen = await reading
        everything = await world.store.list_messages(room.id, 100)
    finally:
        await other_node.close()

    assert everything is not None and len(everything.messages) == 81
    assert ids(seen) == ids(everything.messages[1:])


async def test_unknown_cursor_gives_none(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)
    await world.messages(room, alice, 3)

    for bad in BAD_IDS:
        assert await world.store.list_messages(room.id, 10, before=bad) is None, bad
        assert await world.store.list_messages(room.id, 10, after=bad) is None, bad


async def test_cursor_from_another_room_gives_none(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice, name="here")
    other = await world.group(alice, name="there")
    await world.messages(room, alice, 3)
    stranger = (await world.send(other, alice, "elsewhere")).message

    assert await world.store.list_messages(room.id, 10, before=stranger.id) is None
    assert await world.store.list_messages(room.id, 10, after=stranger.id) is None


async def test_messages_stay_in_their_room(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    one = await world.group(alice, bob, name="one")
    two = await world.group(alice, bob, name="two")
    for i in range(4):
        await world.send(one, alice, f"one-{i}")
        await world.send(two, bob, f"two-{i}")

    page_one = await world.store.list_messages(one.id, 10)
    page_two = await world.store.list_messages(two.id, 10)

    assert page_one is not None and contents(page_one.messages) == [f"one-{i}" for i in range(4)]
    assert page_two is not None and contents(page_two.messages) == [f"two-{i}" for i in range(4)]


CONTENTS = [
    "héllo wörld — ça va ?",
    "emoji 👩🏽‍💻🎉🇳🇴 and a ZWJ family 👨‍👩‍👧‍👦",
    "مرحبا بالعالم",  # right to left
    "日本語のテキスト、中文、한국어",
    "combining: e\u0301 vs \u00e9",
    "line one\nline two\ttabbed\r\n",
    "quotes ' \" ` and backslash \\ and {$gt: 1} and '; DROP TABLE messages; --",
    "x" * 4000,
    "🙂" * 4000,  # 4000 characters, 16000 bytes of UTF-8
]


@pytest.mark.parametrize("content", CONTENTS, ids=range(len(CONTENTS)))
async def test_content_round_trips(world: World, content: str) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)

    stored = await world.send(room, alice, content, client_message_id=content[:100])

    page = await world.store.list_messages(room.id, 10)
    assert stored.message.content == content
    assert page is not None and page.messages[0].content == content
    assert page.messages[0].client_message_id == content[:100]


async def test_unicode_names_round_trip(world: World) -> None:
    user = await world.store.create_user("Ærøskøbing", "Zoë 🦊 Ōkubo", "h", T0)

    room = await world.store.create_group_room(user.id, "Café ☕ 東京", True, [user.id], T0)

    assert await world.store.get_user_by_username("Ærøskøbing") == user
    assert (await world.store.get_users([user.id]))[0].display_name == "Zoë 🦊 Ōkubo"
    assert (await world.store.get_room(room.id)).name == "Café ☕ 東京"  # type: ignore[union-attr]


# -- idempotent sends ----------------------------------------------------------


async def test_resend_returns_the_stored_message(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)

    first = await world.send(room, alice, "once", client_message_id="cm-1")
    again = await world.send(room, alice, "once (retried)", client_message_id="cm-1")

    assert (first.created, again.created) == (True, False)
    assert again.message == first.message  # the stored one, not the resent text
    page = await world.store.list_messages(room.id, 10)
    assert page is not None and ids(page.messages) == [first.message.id]


async def test_concurrent_identical_sends_store_one_message(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    new = NewMessage(room.id, alice.id, "alice", "just once", T0 + 1, client_message_id="same-client-id")
    await warm_up(world, 20)

    results = await asyncio.gather(*(world.store.add_message(new) for _ in range(20)))

    assert [r.created for r in results].count(True) == 1
    assert len({r.message.id for r in results}) == 1
    assert len({r.message for r in results}) == 1
    page = await world.store.list_messages(room.id, 50)
    assert page is not None and ids(page.messages) == [results[0].message.id]
    # However the store numbered the attempts, the count stays right.
    bob_view = await world.store.get_room_summary(room.id, bob.id)
    assert bob_view is not None and bob_view.unread_count == 1
    following = (await world.send(room, alice, "next")).message
    assert (await world.store.get_room_summary(room.id, bob.id)).unread_count == 2  # type: ignore[union-attr]
    after = await world.store.list_messages(room.id, 10, after=results[0].message.id)
    assert after is not None and ids(after.messages) == [following.id] and after.has_more is False


async def test_client_message_id_is_scoped_to_sender_and_room(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob, name="one")
    other = await world.group(alice, bob, name="two")

    mine = await world.send(room, alice, "a", client_message_id="42")
    theirs = await world.send(room, bob, "b", client_message_id="42")
    elsewhere = await world.send(other, alice, "c", client_message_id="42")

    assert mine.created and theirs.created and elsewhere.created
    assert len({mine.message.id, theirs.message.id, elsewhere.message.id}) == 3
    assert (await world.send(room, bob, "b again", client_message_id="42")).message == theirs.message
    assert (await world.send(other, alice, "c again", client_message_id="42")).message == elsewhere.message


async def test_messages_without_client_id_are_never_merged(world: World) -> None:
    alice = await world.user("alice")
    room = await world.group(alice)

    first = await world.send(room, alice, "same text", at=T0 + 1)
    second = await world.send(room, alice, "same text", at=T0 + 1)

    assert first.created and second.created
    assert first.message.id != second.message.id


async def test_resend_does_not_move_activity_or_add_unread(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    first = await world.send(room, alice, "hi", client_message_id="r1")
    await world.store.mark_read(room.id, bob.id, None, world.tick())

    again = await world.send(room, alice, "hi", client_message_id="r1")

    assert again.created is False
    bob_view = await world.store.get_room_summary(room.id, bob.id)
    assert bob_view is not None
    assert (bob_view.unread_count, bob_view.last_message) == (0, first.message)


# -- read pointers -------------------------------------------------------------


async def test_mark_read_moves_the_pointer_and_the_count(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    m = await world.messages(room, alice, 4)

    state = await world.store.mark_read(room.id, bob.id, m[1].id, T0 + 90_000)

    assert state == ReadState(room_id=room.id, user_id=bob.id, last_read_message_id=m[1].id, read_at=T0 + 90_000)
    bob_view = await world.store.get_room_summary(room.id, bob.id)
    assert bob_view is not None and (bob_view.unread_count, bob_view.last_read_message_id) == (2, m[1].id)


async def test_mark_read_never_moves_back(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    m = await world.messages(room, alice, 4)
    newer = await world.store.mark_read(room.id, bob.id, m[2].id, T0 + 90_000)

    older = await world.store.mark_read(room.id, bob.id, m[0].id, T0 + 95_000)
    same = await world.store.mark_read(room.id, bob.id, m[2].id, T0 + 96_000)

    assert newer is not None and newer.last_read_message_id == m[2].id
    assert older == newer  # unchanged, its read time included
    assert same == newer
    bob_view = await world.store.get_room_summary(room.id, bob.id)
    assert bob_view is not None and (bob_view.unread_count, bob_view.last_read_message_id) == (1, m[2].id)


async def test_mark_read_without_message_means_the_latest(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    m = await world.messages(room, alice, 3)

    state = await world.store.mark_read(room.id, bob.id, None, T0 + 90_000)

    assert state == ReadState(room.id, bob.id, m[-1].id, T0 + 90_000)
    assert (await world.store.get_room_summary(room.id, bob.id)).unread_count == 0  # type: ignore[union-attr]


async def test_mark_read_of_an_empty_room(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)

    state = await world.store.mark_read(room.id, bob.id, None, T0 + 90_000)

    assert state is not None
    assert (state.room_id, state.user_id, state.last_read_message_id) == (room.id, bob.id, None)


async def test_mark_read_of_a_message_not_in_the_room(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob, name="here")
    other = await world.group(alice, bob, name="there")
    await world.messages(room, alice, 2)
    stranger = (await world.send(other, alice, "elsewhere")).message

    assert await world.store.mark_read(room.id, bob.id, stranger.id, T0 + 90_000) is None
    for bad in BAD_IDS:
        assert await world.store.mark_read(room.id, bob.id, bad, T0 + 90_000) is None, bad
    bob_view = await world.store.get_room_summary(room.id, bob.id)
    assert bob_view is not None and (bob_view.unread_count, bob_view.last_read_message_id) == (2, None)


async def test_mark_read_by_a_non_member_is_none(world: World) -> None:
    # Reading of the interface: non-members have no read pointer to return.
    alice, eve = await world.users("alice", "eve")
    room = await world.group(alice)
    sent = (await world.send(room, alice, "hi")).message

    assert await world.store.mark_read(room.id, eve.id, sent.id, T0 + 90_000) is None
    assert await world.store.mark_read(room.id, eve.id, None, T0 + 90_000) is None
    assert await world.store.is_member(room.id, eve.id) is False


async def test_concurrent_mark_reads_end_at_the_newest(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    m = await world.messages(room, alice, 10)

    await asyncio.gather(*(world.store.mark_read(room.id, bob.id, msg.id, T0 + 90_000 + i) for i, msg in enumerate(m)))

    bob_view = await world.store.get_room_summary(room.id, bob.id)
    assert bob_view is not None and (bob_view.unread_count, bob_view.last_read_message_id) == (0, m[-1].id)


# -- ids no backend hands out ----------------------------------------------------


@pytest.mark.parametrize("bad", BAD_IDS, ids=["zzz", "123", "empty", "zeros24", "minus1", "ff24", "long"])
async def test_unknown_and_malformed_ids_are_not_found(world: World, bad: str) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    await world.send(room, alice, "hi")
    store = world.store

    assert await store.get_room(bad) is None
    assert await store.member_ids(bad) == []
    assert await store.is_member(bad, alice.id) is False
    assert await store.is_member(room.id, bad) is False
    assert await store.remove_member(bad, alice.id) is False
    assert await store.remove_member(room.id, bad) is False
    assert await store.room_ids_for_user(bad) == []
    assert await store.contact_ids(bad) == []
    assert await store.list_room_summaries(bad) == []
    assert await store.get_room_summary(bad, alice.id) is None
    assert await store.get_users([bad]) == []
    # Unspecified for a room that does not exist (the core checks the room first):
    # an empty page or None, but never an error or a message.
    assert await store.list_messages(bad, 10) in (None, MessagePage(messages=[], has_more=False))
    assert await store.list_messages(room.id, 10, before=bad) is None
    assert await store.mark_read(bad, alice.id, None, T0) is None
    assert await store.add_member(bad, alice.id, T0) is False
    await store.set_password_hash(bad, "h")  # no error, nothing changes
    await store.set_last_seen(bad, T0)
    assert sorted(await store.member_ids(room.id)) == sorted([alice.id, bob.id])
    assert sorted(ids(await store.get_users([alice.id, bob.id]))) == sorted([alice.id, bob.id])


# -- lifecycle -------------------------------------------------------------------


async def test_ping(world: World) -> None:
    await world.store.ping()


async def test_close_twice_is_safe(world: World) -> None:
    await world.store.close()
    await world.store.close()


async def test_data_survives_reopening(world: World, make_store: Callable[[], Store]) -> None:
    alice, bob = await world.users("alice", "bob")
    room = await world.group(alice, bob)
    sent = await world.messages(room, alice, 3)
    await world.store.mark_read(room.id, bob.id, sent[0].id, T0 + 90_000)
    await world.store.close()

    reopened = make_store()
    await reopened.open()  # opening an existing database again: schema creation is idempotent
    try:
        page = await reopened.list_messages(room.id, 10)
        bob_view = await reopened.get_room_summary(room.id, bob.id)
        assert page is not None and page.messages == sent
        assert bob_view is not None and (bob_view.unread_count, bob_view.last_read_message_id) == (2, sent[0].id)
        assert await reopened.get_user_by_username("ALICE") == alice
        with pytest.raises(Conflict):
            await reopened.create_user("Bob", "Bob", "h", T0)
    finally:
        await reopened.close()
