"""The storage contract for messages after they are sent (contract section 6).

Every backend passes this suite unchanged, as ``test_store_contract.py``:
new message fields, change positions, edits, tombstones, reactions, the
change feed (``list_changes``), unread mentions, and the same from two store
instances on one database (two server nodes). Where ``base.py`` and
``/tmp/k15/decisions.md`` leave a choice open, the test says which reading it
takes. Positions are dense on SQLite and only growing on MongoDB
(:func:`~tests.storage.helpers.dense`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Awaitable, Callable

import pytest

from kallemny_sio.storage.base import (
    ChangePage,
    MessageChange,
    MessageRecord,
    NewMessage,
    Reaction,
    RoomRecord,
    Store,
    UserRecord,
)
from tests.storage.helpers import (
    BAD_IDS,
    KEEP,
    MAX_EMOJI,
    T0,
    World,
    apply_changes,
    check_page,
    counts,
    dense,
    ids,
    read_changes,
)

CUSTOM = '{"b": 2, "a" :[1, 2.50, 1e3],"é":"\\u00e9 😀", "n": null}'  # not canonical JSON: kept as written


BAD_ID_NAMES = ["zzz", "123", "empty", "zeros24", "minus1", "ff24", "long"]


async def room_of(world: World, *names: str) -> tuple[RoomRecord, list[UserRecord]]:
    users = await world.users(*names)
    return await world.group(*users), users


def assert_next(store: Store, previous: int, got: int) -> None:
    """``got`` is the position after ``previous``: the very next one where positions are dense."""
    assert got == previous + 1 if dense(store) else got > previous, (previous, got)


# -- new fields ----------------------------------------------------------------------


async def test_new_message_fields_are_stored_and_returned(world: World) -> None:
    room, (alice, bob, carol) = await room_of(world, "alice", "bob", "carol")
    first = await world.say(room, bob, "first")

    sent = await world.say(room, alice, "reply", reply_to=first, mentions=[carol, bob, alice], custom_data=CUSTOM)

    assert (sent.type, sent.reply_to_id, sent.custom_data) == ("user", first.id, CUSTOM)
    assert sent.mentioned_user_ids == (carol.id, bob.id, alice.id)  # a tuple, in the order given
    assert sent.reactions == ()
    assert (sent.edited_at, sent.deleted_at) == (None, None)
    assert sent.updated_at == sent.created_at
    assert (first.change_seq, first.reply_to_id, first.mentioned_user_ids, first.custom_data) == (1, None, (), None)
    assert_next(world.store, first.change_seq, sent.change_seq)
    assert await world.store.get_message(room.id, sent.id) == sent
    page = await world.store.list_messages(room.id, 10)
    assert page is not None and page.messages == [first, sent]
    assert (await world.store.list_changes(room.id, 0, 10)).messages == [first, sent]


@pytest.mark.parametrize("kind", ["user", "system"])
async def test_message_type_round_trips(world: World, kind: str) -> None:
    room, (alice,) = await room_of(world, "alice")

    sent = await world.say(room, alice, "x", type=kind)

    assert sent.type == kind
    assert (await world.latest(sent)).type == kind


CUSTOM_DATA = [
    "{}",
    '{"a":1}',
    CUSTOM,
    '{\n  "nested": {"deep": [true, false, null]},\n  "a": 1\n}',
    '{"text": "quotes \\" and \\\\ and \\n", "big": 12345678901234567890}',
    '{"a":1,"a":2}',  # a duplicate key: still not the store's business
    '{"pad":"' + "é" * 2040 + '"}',  # about 4 kB of UTF-8
]


@pytest.mark.parametrize("custom_data", CUSTOM_DATA, ids=range(len(CUSTOM_DATA)))
async def test_custom_data_text_is_kept_byte_exact(world: World, custom_data: str) -> None:
    room, (alice,) = await room_of(world, "alice")

    sent = await world.say(room, alice, custom_data=custom_data)

    page = await world.store.list_messages(room.id, 10)
    changes = await world.store.list_changes(room.id, 0, 10)
    assert sent.custom_data == custom_data
    assert (await world.latest(sent)).custom_data == custom_data
    assert page is not None and page.messages[0].custom_data == custom_data
    assert changes.messages[0].custom_data == custom_data


async def test_resend_returns_the_stored_message_and_takes_no_position(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    first = await world.say(room, alice, "once", mentions=[bob], custom_data='{"a":1}', client_message_id="c1")

    again = await world.say(room, alice, "twice", mentions=[bob], custom_data='{"b":2}', client_message_id="c1")

    assert again == first
    assert await world.position(room) == first.change_seq
    assert await world.mentions(room, bob) == 1  # counted once


# -- change positions ---------------------------------------------------------------


async def test_every_change_takes_the_rooms_next_position(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    assert room.last_change_seq == 0 and await world.position(room) == 0
    m1 = await world.say(room, alice, "one")
    m2 = await world.say(room, bob, "two")
    steps: list[Callable[[], Awaitable[Any]]] = [
        lambda: world.say(room, alice, "three"),
        lambda: world.edit(m1, "one, edited"),
        lambda: world.edit(m2, custom_data='{"x":1}'),
        lambda: world.react(m2, alice, "👍"),
        lambda: world.react(m2, bob, "👍"),
        lambda: world.unreact(m2, alice, "👍"),
        lambda: world.delete(m1),
    ]
    assert m1.change_seq == 1
    assert_next(world.store, m1.change_seq, m2.change_seq)
    previous = m2.change_seq

    for step in steps:
        result = await step()
        message = result if isinstance(result, MessageRecord) else result.message
        assert isinstance(result, MessageRecord) or result.changed is True
        assert_next(world.store, previous, message.change_seq)
        assert await world.position(room) == message.change_seq
        assert (await world.latest(message)).change_seq == message.change_seq
        previous = message.change_seq


async def test_positions_are_per_room(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    one = await world.group(alice, bob, name="one")
    two = await world.group(alice, bob, name="two")
    a1 = await world.say(one, alice)
    b1 = await world.say(two, alice)
    a2 = await world.say(one, bob)
    b2 = await world.say(two, bob)
    await world.react(b2, alice, "🎉")
    await world.edit(b1, "edited")

    assert (a1.change_seq, b1.change_seq) == (1, 1)
    assert await world.position(one) == a2.change_seq
    assert await world.position(two) > b2.change_seq
    assert ids((await world.store.list_changes(one.id, 0, 10)).messages) == [a1.id, a2.id]
    if dense(world.store):
        assert (a2.change_seq, b2.change_seq, await world.position(two)) == (2, 2, 4)


Action = Callable[[World, MessageRecord, MessageRecord, MessageRecord, UserRecord, UserRecord], Awaitable[Any]]
NO_CHANGES: dict[str, Action] = {
    # on (a message with custom data and alice's 👍, a plain message, a tombstone, alice, bob)
    "repeat reaction": lambda w, m, p, d, a, b: w.react(m, a, "👍"),
    "remove absent reaction": lambda w, m, p, d, a, b: w.unreact(m, a, "🎉"),
    "remove another user's reaction": lambda w, m, p, d, a, b: w.unreact(m, b, "👍"),
    "delete twice": lambda w, m, p, d, a, b: w.delete(d),
    "edit with identical content": lambda w, m, p, d, a, b: w.edit(m, "hello"),
    "edit with nothing": lambda w, m, p, d, a, b: w.edit(m),
    "edit with identical custom data": lambda w, m, p, d, a, b: w.edit(m, custom_data='{"a":1}'),
    "edit with identical content and custom data": lambda w, m, p, d, a, b: w.edit(m, "hello", '{"a":1}'),
    "clear absent custom data": lambda w, m, p, d, a, b: w.edit(p, custom_data=None),
    "identical content, clear absent custom data": lambda w, m, p, d, a, b: w.edit(p, "plain", None),
}


@pytest.mark.parametrize("action", NO_CHANGES.values(), ids=NO_CHANGES.keys())
async def test_no_change_takes_no_position(world: World, action: Action) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    message = await world.say(room, alice, "hello", custom_data='{"a":1}')
    plain = await world.say(room, alice, "plain")
    tombstone = (await world.delete(await world.say(room, alice, "gone"))).message
    message = (await world.react(message, alice, "👍")).message
    assert message is not None and tombstone is not None
    position = await world.position(room)

    result = await action(world, message, plain, tombstone, alice, bob)

    assert result.changed is False
    assert result.message in (message, plain, tombstone)
    # "delete twice" may or may not name the tombstone as the reason; nothing else is refused here.
    assert result.refused in ((None, "deleted") if result.message == tombstone else (None,))
    assert await world.latest(result.message) == result.message
    assert await world.position(room) == position
    assert await world.store.list_changes(room.id, position, 10) == ChangePage([], False, position)


REFUSALS: dict[str, tuple[Callable[[World, MessageRecord, MessageRecord, UserRecord], Awaitable[Any]], bool, str]] = {
    # action on (message with three emoji, tombstone, a user) -> (acts on the tombstone?, refused)
    "edit a tombstone": (lambda w, m, d, u: w.edit(d, "back"), True, "deleted"),
    "edit a tombstone's custom data": (lambda w, m, d, u: w.edit(d, custom_data='{"a":1}'), True, "deleted"),
    "react to a tombstone": (lambda w, m, d, u: w.react(d, u, "👍"), True, "deleted"),
    "unreact to a tombstone": (lambda w, m, d, u: w.unreact(d, u, "👍"), True, "deleted"),
    "one emoji too many": (lambda w, m, d, u: w.react(m, u, "🚀", 3), False, "too_many_emoji"),
}


@pytest.mark.parametrize("action, on_tombstone, reason", REFUSALS.values(), ids=REFUSALS.keys())
async def test_refused_changes_take_no_position(
    world: World, action: Callable[..., Awaitable[MessageChange]], on_tombstone: bool, reason: str
) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    message = await world.say(room, alice, "hello")
    for emoji in ("👍", "🎉", "❤️"):
        await world.react(message, alice, emoji)
    victim = await world.say(room, alice, "gone")
    await world.react(victim, bob, "👍")
    tombstone = (await world.delete(victim)).message
    message = await world.latest(message)
    position = await world.position(room)

    result = await action(world, message, tombstone, bob)

    assert result == MessageChange(tombstone if on_tombstone else message, changed=False, refused=reason)
    assert await world.latest(message) == message and await world.latest(victim) == tombstone
    assert await world.position(room) == position


async def test_room_last_change_seq_in_get_room_and_summaries(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    private, _ = await world.store.get_or_create_private_room(alice.id, bob.id, world.tick())
    assert (room.last_change_seq, private.last_change_seq) == (0, 0)
    for user in (alice, bob):
        summary = await world.store.get_room_summary(room.id, user.id)
        assert summary is not None and summary.room.last_change_seq == 0
    message = await world.say(room, alice)
    await world.say(private, bob)
    latest = (await world.react(message, bob, "👍")).message
    assert latest is not None

    assert (await world.store.get_room(room.id)).last_change_seq == latest.change_seq  # type: ignore[union-attr]
    for user in (alice, bob):
        summary = await world.store.get_room_summary(room.id, user.id)
        assert summary is not None and summary.room.last_change_seq == latest.change_seq
        [listed] = [s for s in await world.store.list_room_summaries(user.id) if s.room.id == room.id]
        assert listed.room.last_change_seq == latest.change_seq
        assert listed.last_message == summary.last_message == latest  # the last message, in its latest state


# -- edits ---------------------------------------------------------------------------

EDITS = {
    # (content, custom_data) -> (content, custom data) afterwards, from ("hello", '{"a":1}')
    "content only": (("new text", KEEP), ("new text", '{"a":1}')),
    "custom data only": ((None, '{"b": [2]}'), ("hello", '{"b": [2]}')),
    "clear custom data": ((None, None), ("hello", None)),
    "both": (("new text", '{"c":3}'), ("new text", '{"c":3}')),
    "content to empty": (("", KEEP), ("", '{"a":1}')),
}


@pytest.mark.parametrize("edit, expected", EDITS.values(), ids=EDITS.keys())
async def test_edit_replaces_what_it_names_and_keeps_the_rest(
    world: World, edit: tuple[str | None, Any], expected: tuple[str, str | None]
) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    first = await world.say(room, bob, "first")
    message = await world.say(room, alice, "hello", reply_to=first, mentions=[bob], custom_data='{"a":1}')
    message = (await world.react(message, bob, "👍")).message
    assert message is not None

    result = await world.edit(message, *edit)

    at = world.now
    assert result.changed is True and result.refused is None
    edited = result.message
    assert edited is not None
    assert (edited.content, edited.custom_data) == expected
    assert (edited.edited_at, edited.updated_at, edited.deleted_at) == (at, at, None)
    assert_next(world.store, message.change_seq, edited.change_seq)
    unchanged = dataclasses.replace(edited, content=message.content, custom_data=message.custom_data)
    assert unchanged == dataclasses.replace(message, edited_at=at, updated_at=at, change_seq=edited.change_seq)
    assert await world.latest(message) == edited


async def test_edit_again_moves_edited_at(world: World) -> None:
    room, (alice,) = await room_of(world, "alice")
    message = await world.say(room, alice, "v1")

    once = (await world.edit(message, "v2")).message
    twice = (await world.edit(message, "v3")).message

    assert once is not None and twice is not None
    assert (twice.content, twice.created_at) == ("v3", message.created_at)
    assert once.edited_at is not None and twice.edited_at == twice.updated_at == world.now > once.edited_at
    assert twice.change_seq > once.change_seq


# -- deletion ------------------------------------------------------------------------


async def test_delete_leaves_a_tombstone(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    first = await world.say(room, bob, "first")
    message = await world.say(room, alice, "secret", reply_to=first, mentions=[bob], custom_data='{"a":1}')
    await world.edit(message, "edited secret")
    await world.react(message, bob, "👍")
    before = await world.latest(message)

    result = await world.delete(message)

    at = world.now
    assert result.changed is True and result.refused is None
    tombstone = result.message
    assert tombstone is not None
    assert_next(world.store, before.change_seq, tombstone.change_seq)
    assert tombstone == dataclasses.replace(
        before, content="", custom_data=None, reactions=(), mentioned_user_ids=(),
        deleted_at=at, updated_at=at, change_seq=tombstone.change_seq,
    )  # reply_to_id, edited_at, sender, type and creation time kept
    assert tombstone.edited_at is not None and tombstone.reply_to_id == first.id
    assert await world.latest(message) == tombstone


async def test_delete_again_returns_the_tombstone_unchanged(world: World) -> None:
    room, (alice,) = await room_of(world, "alice")
    message = await world.say(room, alice, "bye")
    tombstone = (await world.delete(message)).message

    again = await world.delete(message)

    assert again.message == tombstone and again.changed is False
    assert again.refused in (None, "deleted")  # unspecified which


async def test_tombstone_stays_in_history_in_place_and_cursors_work(world: World) -> None:
    room, (alice,) = await room_of(world, "alice")
    m = await world.messages(room, alice, 5)

    tombstone = (await world.delete(m[2])).message

    assert tombstone is not None
    everything = await world.store.list_messages(room.id, 10)
    before = await world.store.list_messages(room.id, 10, before=tombstone.id)
    after = await world.store.list_messages(room.id, 10, after=tombstone.id)
    just_before_m3 = await world.store.list_messages(room.id, 1, before=m[3].id)
    assert everything is not None and everything.messages == [m[0], m[1], tombstone, m[3], m[4]]
    assert before is not None and (before.messages, before.has_more) == (m[:2], False)
    assert after is not None and (after.messages, after.has_more) == (m[3:], False)
    assert just_before_m3 is not None and (just_before_m3.messages, just_before_m3.has_more) == ([tombstone], True)


# -- reactions -----------------------------------------------------------------------


async def test_reactions_count_users_per_emoji_in_order_of_first_use(world: World) -> None:
    room, (alice, bob, carol) = await room_of(world, "alice", "bob", "carol")
    message = await world.say(room, alice)

    await world.react(message, alice, "👍")
    await world.react(message, bob, "❤️")
    await world.react(message, carol, "👍")
    last = await world.react(message, bob, "👍")

    assert counts(last.message) == [("👍", 3), ("❤️", 1)]
    assert last.message is not None and last.message.reactions == (Reaction("👍", 3), Reaction("❤️", 1))
    assert await world.latest(message) == last.message
    page = await world.store.list_messages(room.id, 10)
    assert page is not None and page.messages == [last.message]


async def test_reaction_sets_updated_at_but_not_edited_at(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    message = await world.say(room, alice)

    added = (await world.react(message, bob, "👍")).message
    added_at = world.now
    removed = (await world.unreact(message, bob, "👍")).message

    assert added is not None and (added.updated_at, added.edited_at) == (added_at, None)
    assert removed is not None and (removed.updated_at, removed.edited_at) == (world.now, None)
    assert (removed.content, removed.created_at) == (message.content, message.created_at)


async def test_removing_a_reaction_lowers_its_count_in_place(world: World) -> None:
    room, (alice, bob, carol) = await room_of(world, "alice", "bob", "carol")
    message = await world.say(room, alice)
    for user, emoji in [(alice, "👍"), (bob, "❤️"), (carol, "👍"), (carol, "🎉")]:
        await world.react(message, user, emoji)

    result = await world.unreact(message, alice, "👍")

    assert result.changed is True
    assert counts(result.message) == [("👍", 1), ("❤️", 1), ("🎉", 1)]


async def test_an_emoji_whose_count_falls_to_zero_goes_and_comes_back_last(world: World) -> None:
    room, (alice, bob, carol) = await room_of(world, "alice", "bob", "carol")
    message = await world.say(room, alice)
    for user, emoji in [(alice, "👍"), (bob, "❤️"), (carol, "🎉")]:
        await world.react(message, user, emoji)

    gone = await world.unreact(message, alice, "👍")
    back = await world.react(message, bob, "👍")

    assert counts(gone.message) == [("❤️", 1), ("🎉", 1)]
    assert counts(back.message) == [("❤️", 1), ("🎉", 1), ("👍", 1)]
    assert counts(await world.latest(message)) == [("❤️", 1), ("🎉", 1), ("👍", 1)]


async def test_max_emoji_refuses_a_new_emoji_but_not_an_existing_one(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    message = await world.say(room, alice)
    for emoji in ("a", "b", "c"):
        assert (await world.react(message, alice, emoji, 3)).changed is True

    refused = await world.react(message, bob, "d", 3)
    existing = await world.react(message, bob, "b", 3)
    await world.unreact(message, alice, "a")
    room_again = await world.react(message, bob, "d", 3)

    assert (refused.changed, refused.refused, counts(refused.message)) == (False, "too_many_emoji", [
        ("a", 1), ("b", 1), ("c", 1)])
    assert (existing.changed, existing.refused, counts(existing.message)) == (True, None, [
        ("a", 1), ("b", 2), ("c", 1)])
    assert (room_again.changed, counts(room_again.message)) == (True, [("b", 2), ("c", 1), ("d", 1)])


async def test_the_default_limit_allows_fifty_distinct_emoji(world: World) -> None:
    room, (alice,) = await room_of(world, "alice")
    message = await world.say(room, alice)
    for i in range(MAX_EMOJI):
        assert (await world.react(message, alice, f"e{i}")).changed is True

    assert (await world.react(message, alice, "one more")).refused == "too_many_emoji"
    assert counts(await world.latest(message)) == [(f"e{i}", 1) for i in range(MAX_EMOJI)]


async def test_emoji_are_kept_exactly_as_given(world: World) -> None:
    # No normalisation: "❤" and "❤️" (with its variation selector), "A" and "a" are different emoji.
    room, (alice,) = await room_of(world, "alice")
    message = await world.say(room, alice)
    emoji = ["❤", "❤️", "👨‍👩‍👧‍👦", "🇳🇴", "e\u0301", "\u00e9", "A", "a", "x" * 32]
    emoji += ["{$gt: 1}", "'; --", "$set", "a.b", "."]  # field names a document store must not take literally

    for e in emoji:
        assert (await world.react(message, alice, e)).changed is True

    assert counts(await world.latest(message)) == [(e, 1) for e in emoji]


async def test_reactions_are_per_message(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    one = await world.say(room, alice, "one")
    two = await world.say(room, alice, "two")

    await world.react(one, bob, "👍")

    assert counts(await world.latest(two)) == []
    assert (await world.react(two, bob, "👍")).changed is True
    assert (await world.unreact(two, bob, "👍")).changed is True
    assert counts(await world.latest(one)) == [("👍", 1)]


# -- unknown ids ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_IDS, ids=BAD_ID_NAMES)
async def test_unknown_or_malformed_message_ids_are_not_found(world: World, bad: str) -> None:
    room, (alice,) = await room_of(world, "alice")
    message = await world.say(room, alice)
    store, at = world.store, world.tick()

    assert await store.get_message(room.id, bad) is None
    assert await store.edit_message(room.id, bad, "x", None, True, at) == MessageChange(None)
    assert await store.delete_message(room.id, bad, at) == MessageChange(None)
    assert await store.add_reaction(room.id, bad, alice.id, "👍", at, MAX_EMOJI) == MessageChange(None)
    assert await store.remove_reaction(room.id, bad, alice.id, "👍", at) == MessageChange(None)
    # The same message asked for in a room that does not exist.
    assert await store.get_message(bad, message.id) is None
    assert await store.edit_message(bad, message.id, "x", None, True, at) == MessageChange(None)
    assert await store.delete_message(bad, message.id, at) == MessageChange(None)
    assert await store.add_reaction(bad, message.id, alice.id, "👍", at, MAX_EMOJI) == MessageChange(None)
    assert await store.remove_reaction(bad, message.id, alice.id, "👍", at) == MessageChange(None)
    assert await world.latest(message) == message
    assert await world.position(room) == message.change_seq


async def test_a_message_of_another_room_is_not_found_there(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    here = await world.group(alice, bob, name="here")
    there = await world.group(alice, bob, name="there")
    await world.say(here, alice, "local")
    stranger = await world.say(there, alice, "elsewhere")
    store, at = world.store, world.tick()
    positions = (await world.position(here), await world.position(there))

    assert await store.get_message(here.id, stranger.id) is None
    assert await store.edit_message(here.id, stranger.id, "x", None, False, at) == MessageChange(None)
    assert await store.add_reaction(here.id, stranger.id, bob.id, "👍", at, MAX_EMOJI) == MessageChange(None)
    assert await store.remove_reaction(here.id, stranger.id, bob.id, "👍", at) == MessageChange(None)
    assert await store.delete_message(here.id, stranger.id, at) == MessageChange(None)
    assert await world.latest(stranger) == stranger
    assert (await world.position(here), await world.position(there)) == positions


# -- the change feed -------------------------------------------------------------------


async def changed_room(world: World) -> tuple[RoomRecord, list[MessageRecord]]:
    """A room of 6 messages, then changes to some: the expected feed, in change order."""
    room, (alice, bob) = await room_of(world, "alice", "bob")
    m = await world.messages(room, alice, 6)
    await world.edit(m[1], "m2, edited")
    await world.react(m[4], bob, "👍")
    await world.delete(m[0])
    await world.react(m[1], bob, "🎉")
    await world.edit(m[1], custom_data='{"v":2}')
    order = [m[2], m[3], m[5], m[4], m[0], m[1]]
    return room, [await world.latest(message) for message in order]


async def test_list_changes_gives_each_message_once_in_latest_state_in_change_order(world: World) -> None:
    room, expected = await changed_room(world)

    page = await world.store.list_changes(room.id, 0, 100)

    assert page == ChangePage(expected, has_more=False, covered=expected[-1].change_seq)
    assert page.covered == await world.position(room)
    seqs = [m.change_seq for m in page.messages]
    assert seqs == sorted(seqs)
    if dense(world.store):
        assert seqs == [3, 4, 6, 8, 9, 11]  # 6 sends, then 5 changes


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 6, 7])
async def test_paging_with_covered_reaches_everything(world: World, limit: int) -> None:
    room, expected = await changed_room(world)

    seen, covered = await read_changes(world.store, room.id, 0, limit)

    assert seen == expected
    assert covered == await world.position(room)


async def test_has_more_and_covered(world: World) -> None:
    room, expected = await changed_room(world)
    seq = [m.change_seq for m in expected]
    last = await world.position(room)
    cases = [
        # (after, limit) -> (messages, has_more, covered)
        ((0, 2), (expected[:2], True, seq[1])),
        ((seq[1], 2), (expected[2:4], True, seq[3])),
        ((seq[3], 2), (expected[4:], False, last)),  # exactly the rest: nothing more
        ((seq[3], 3), (expected[4:], False, last)),
        ((seq[2], 1), (expected[3:4], True, seq[3])),
        ((seq[0] - 1, 1), (expected[:1], True, seq[0])),
        ((seq[5] - 1, 5), (expected[5:], False, last)),
        ((last, 5), ([], False, last)),
    ]

    for (after, limit), (messages, has_more, covered) in cases:
        page = await world.store.list_changes(room.id, after, limit)
        assert page == ChangePage(messages, has_more, covered), (after, limit)


async def test_list_changes_skips_positions_a_message_moved_away_from(world: World) -> None:
    # A message changed three times is in the feed once, at its latest position only.
    room, (alice, bob) = await room_of(world, "alice", "bob")
    message = await world.say(room, alice)
    other = await world.say(room, bob)
    await world.edit(message, "v2")
    await world.react(message, bob, "👍")
    latest = await world.latest(message)

    from_start = await world.store.list_changes(room.id, 0, 10)
    after_creation = await world.store.list_changes(room.id, message.change_seq, 10)

    assert from_start.messages == [other, latest]
    assert after_creation.messages == [other, latest]


@pytest.mark.parametrize("bad", [*BAD_IDS, "an empty room"], ids=[*BAD_ID_NAMES, "empty room"])
async def test_list_changes_of_an_unknown_or_empty_room_is_empty(world: World, bad: str) -> None:
    room, (alice,) = await room_of(world, "alice")
    await world.messages(room, alice, 2)
    empty = await world.group(alice, name="empty")
    room_id = empty.id if bad == "an empty room" else bad

    assert await world.store.list_changes(room_id, 0, 10) == ChangePage([], False, 0)


# -- unread mentions -----------------------------------------------------------------


async def test_a_mention_counts_for_each_mentioned_member_but_not_the_sender(world: World) -> None:
    room, (alice, bob, carol, dave) = await room_of(world, "alice", "bob", "carol", "dave")

    await world.say(room, alice, "hi all", mentions=[bob, carol, alice])
    await world.say(room, alice, "bob again", mentions=[bob])

    assert [await world.mentions(room, u) for u in (alice, bob, carol, dave)] == [0, 2, 1, 0]
    assert (await world.store.get_room_summary(room.id, bob.id)).unread_count == 2  # type: ignore[union-attr]


async def test_mentions_are_counted_per_room(world: World) -> None:
    alice, bob = await world.users("alice", "bob")
    one = await world.group(alice, bob, name="one")
    two = await world.group(alice, bob, name="two")

    await world.say(one, alice, mentions=[bob])

    assert (await world.mentions(one, bob), await world.mentions(two, bob)) == (1, 0)


async def test_mark_read_clears_mentions_up_to_the_message_only(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    first = await world.say(room, alice, "1", mentions=[bob])
    plain = await world.say(room, alice, "2")
    await world.say(room, alice, "3", mentions=[bob])

    await world.store.mark_read(room.id, bob.id, first.id, world.tick())
    after_first = await world.mentions(room, bob)
    await world.store.mark_read(room.id, bob.id, plain.id, world.tick())
    after_plain = await world.mentions(room, bob)
    await world.store.mark_read(room.id, bob.id, None, world.tick())

    assert (after_first, after_plain, await world.mentions(room, bob)) == (1, 1, 0)


async def test_marking_older_messages_read_brings_no_mention_back(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    first = await world.say(room, alice, "1", mentions=[bob])
    await world.say(room, alice, "2", mentions=[bob])
    await world.store.mark_read(room.id, bob.id, None, world.tick())

    await world.store.mark_read(room.id, bob.id, first.id, world.tick())

    assert await world.mentions(room, bob) == 0


async def test_sending_reads_ones_earlier_mentions(world: World) -> None:
    # The sender's read pointer moves to their new message, and mentions up to the pointer are read.
    room, (alice, bob) = await room_of(world, "alice", "bob")
    await world.say(room, alice, "1", mentions=[bob])
    await world.say(room, alice, "2", mentions=[bob])

    await world.say(room, bob, "answer")
    await world.say(room, alice, "3", mentions=[bob])

    assert await world.mentions(room, bob) == 1


@pytest.mark.parametrize("read_first", [False, True], ids=["unread", "already read"])
async def test_deleting_a_message_removes_its_mentions(world: World, read_first: bool) -> None:
    room, (alice, bob, carol) = await room_of(world, "alice", "bob", "carol")
    doomed = await world.say(room, alice, "1", mentions=[bob, carol, alice])
    await world.say(room, alice, "2", mentions=[carol])
    if read_first:
        await world.store.mark_read(room.id, bob.id, doomed.id, world.tick())

    await world.delete(doomed)
    await world.delete(doomed)  # twice: nothing more goes

    assert [await world.mentions(room, u) for u in (alice, bob, carol)] == [0, 0, 1]


async def test_editing_keeps_the_mentions(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    message = await world.say(room, alice, "1", mentions=[bob])

    await world.edit(message, "1, edited", '{"a":1}')
    await world.react(message, bob, "👍")

    assert await world.mentions(room, bob) == 1
    assert (await world.latest(message)).mentioned_user_ids == (bob.id,)


async def test_remove_member_drops_their_unread_mentions(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    await world.say(room, alice, "1", mentions=[bob])
    await world.say(room, alice, "2", mentions=[bob])

    assert await world.store.remove_member(room.id, bob.id) is True
    await world.store.add_member(room.id, bob.id, world.tick())
    back = await world.mentions(room, bob)
    await world.say(room, alice, "3", mentions=[bob])

    assert (back, await world.mentions(room, bob)) == (0, 1)


# -- history ----------------------------------------------------------------------------


async def test_history_shows_the_latest_state(world: World) -> None:
    room, (alice, bob) = await room_of(world, "alice", "bob")
    m = await world.messages(room, alice, 4)
    await world.edit(m[0], "m1, edited", '{"a":1}')
    await world.react(m[1], bob, "👍")
    await world.delete(m[2])
    await world.react(m[3], bob, "🎉")
    await world.unreact(m[3], bob, "🎉")
    latest = [await world.latest(message) for message in m]

    everything = await world.store.list_messages(room.id, 10)
    newest = await world.store.list_messages(room.id, 2)
    before = await world.store.list_messages(room.id, 2, before=m[3].id)
    after = await world.store.list_messages(room.id, 2, after=m[0].id)

    assert everything is not None and everything.messages == latest
    assert [message.content for message in latest] == ["m1, edited", "m2", "", "m4"]
    assert newest is not None and newest.messages == latest[2:]
    assert before is not None and before.messages == latest[1:3]
    assert after is not None and after.messages == latest[1:3]
    summary = await world.store.get_room_summary(room.id, bob.id)
    assert summary is not None and summary.last_message == latest[3]


# -- two nodes on one database --------------------------------------------------------


@pytest.fixture
async def node2(make_store: Callable[[], Store], store: Store) -> Any:
    """A second store instance on the test's database: another server node."""
    other = make_store()
    await other.open()
    try:
        yield other
    finally:
        await other.close()


async def crowd(world: World, count: int) -> tuple[RoomRecord, list[UserRecord]]:
    return await room_of(world, *(f"user{i:02d}" for i in range(count)))


async def test_concurrent_reactions_on_two_nodes_lose_none(world: World, node2: Store) -> None:
    room, users = await crowd(world, 20)
    message = await world.say(room, users[0])
    nodes = [world.store, node2]

    results = await asyncio.gather(*(
        nodes[i % 2].add_reaction(room.id, message.id, u.id, "👍", T0 + 10_000 + i, MAX_EMOJI)
        for i, u in enumerate(users)
    ))

    assert all(r.changed for r in results)
    assert len({r.message.change_seq for r in results if r.message}) == 20
    final = await world.latest(message)
    assert counts(final) == [("👍", 20)]
    assert final.change_seq == max(r.message.change_seq for r in results if r.message) == await world.position(room)
    if dense(world.store):
        assert final.change_seq == message.change_seq + 20
    removed = await asyncio.gather(*(
        nodes[i % 2].remove_reaction(room.id, message.id, u.id, "👍", T0 + 20_000 + i) for i, u in enumerate(users)
    ))
    assert all(r.changed for r in removed) and counts(await world.latest(message)) == []


async def test_concurrent_new_emoji_respect_max_emoji(world: World, node2: Store) -> None:
    room, users = await crowd(world, 10)
    message = await world.say(room, users[0])
    nodes = [world.store, node2]

    results = await asyncio.gather(*(
        nodes[i % 2].add_reaction(room.id, message.id, u.id, f"e{i}", T0 + 10_000 + i, 4) for i, u in enumerate(users)
    ))

    assert [r.changed for r in results].count(True) == 4
    assert all(r.refused == "too_many_emoji" for r in results if not r.changed)
    assert len((await world.latest(message)).reactions) == 4


async def test_an_edit_racing_reactions_keeps_both(world: World, node2: Store) -> None:
    room, users = await crowd(world, 12)
    message = await world.say(room, users[0], "v1", custom_data='{"v":1}')
    nodes = [world.store, node2]

    edit = world.store.edit_message(room.id, message.id, "v2", None, False, T0 + 10_000)
    reactions = [
        nodes[i % 2].add_reaction(room.id, message.id, u.id, "👍", T0 + 10_001 + i, MAX_EMOJI)
        for i, u in enumerate(users)
    ]
    results = await asyncio.gather(*reactions[:6], edit, *reactions[6:])

    assert all(r.changed for r in results)
    final = await world.latest(message)
    assert (final.content, final.custom_data, counts(final)) == ("v2", '{"v":1}', [("👍", 12)])
    assert final.edited_at == T0 + 10_000
    assert final.change_seq == await world.position(room)
    if dense(world.store):
        assert final.change_seq == message.change_seq + 13


async def test_a_delete_racing_reactions_leaves_no_reaction(world: World, node2: Store) -> None:
    room, users = await crowd(world, 12)
    message = await world.say(room, users[0])
    nodes = [world.store, node2]

    delete = node2.delete_message(room.id, message.id, T0 + 10_000)
    reactions = [
        nodes[i % 2].add_reaction(room.id, message.id, u.id, "👍", T0 + 10_001 + i, MAX_EMOJI)
        for i, u in enumerate(users)
    ]
    results = await asyncio.gather(*reactions[:6], delete, *reactions[6:])

    deleted = results.pop(6)
    assert deleted.changed is True
    assert all(r.changed or r.refused == "deleted" for r in results)
    final = await world.latest(message)
    assert final == deleted.message  # the deletion was the message's last change
    assert final.reactions == () and final.deleted_at == T0 + 10_000


async def test_a_reader_misses_no_message_while_the_same_node_sends(world: World) -> None:
    # One node is enough to race: the store's own writes commit while the feed is being read.
    room, (alice, bob) = await room_of(world, "alice", "bob")
    writing = True

    async def sender(k: int) -> None:
        for i in range(20):
            await world.store.add_message(NewMessage(room.id, alice.id, "alice", f"{k}-{i}", T0 + 1000 + i))

    async def reader(held: dict[str, MessageRecord]) -> None:
        covered = 0
        while writing:
            page = await world.store.list_changes(room.id, covered, 2)
            apply_changes(held, page.messages)
            covered = page.covered
            await asyncio.sleep(0)
        apply_changes(held, (await read_changes(world.store, room.id, covered, 3))[0])

    held: dict[str, MessageRecord] = {}
    reading = asyncio.create_task(reader(held))
    try:
        await asyncio.gather(*(sender(k) for k in range(6)))
    finally:
        writing = False
        await reading

    everything = await world.store.list_messages(room.id, 200)
    assert everything is not None and len(everything.messages) == 120
    assert sorted(held) == sorted(ids(everything.messages))


async def test_a_reader_on_another_node_misses_no_change_while_two_nodes_write(world: World, node2: Store) -> None:
    # The contract's "no gap in changes": following list_changes from `covered` while
    # sends, edits and reactions commit on two nodes ends holding every message in
    # its final state.
    room, users = await crowd(world, 6)
    own = [await world.say(room, u, f"seed-{i}") for i, u in enumerate(users)]
    nodes = [world.store, node2]
    reader_node = node2
    writing = True

    async def writer(k: int) -> None:
        node, user = nodes[k % 2], users[k]
        for i in range(6):
            at = T0 + 100_000 + 100 * k + i
            emoji = ["👍", "🎉", "❤️"][i % 3]
            await node.add_reaction(room.id, own[(k + i) % 6].id, user.id, emoji, at, MAX_EMOJI)
            await node.edit_message(room.id, own[k].id, f"seed-{k} v{i}", None, False, at)
            await node.add_message(NewMessage(room.id, user.id, user.username, f"n{k}-{i}", at))

    async def reader(held: dict[str, MessageRecord]) -> int:
        covered = 0
        while writing:
            page = await reader_node.list_changes(room.id, covered, 3)
            check_page(page, covered, 3)
            apply_changes(held, page.messages)
            covered = page.covered
            await asyncio.sleep(0)
        seen, covered = await read_changes(reader_node, room.id, covered, 3)
        apply_changes(held, seen)
        return covered

    held: dict[str, MessageRecord] = {}
    reading = asyncio.create_task(reader(held))
    try:
        await asyncio.gather(*(writer(k) for k in range(6)))
    finally:
        writing = False
        covered = await reading

    everything = await world.store.list_messages(room.id, 1000)
    assert everything is not None and len(everything.messages) == 6 + 36
    assert covered == await world.position(room)
    assert held == {m.id: m for m in everything.messages}
    for i, message in enumerate(everything.messages[:6]):
        assert message.content == f"seed-{i} v5"
        assert sum(r.count for r in message.reactions) == 6  # each user once per message, one emoji each
    if dense(world.store):
        assert covered == 6 + 6 * 6 * 3
    assert (await node2.list_changes(room.id, 0, 1000)) == (await world.store.list_changes(room.id, 0, 1000))
