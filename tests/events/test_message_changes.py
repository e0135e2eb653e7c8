"""Messages after they are sent (contract section 6) over Socket.IO.

``SendMessage`` with ``replyToId``, ``mentionedUserIds`` and ``customData``;
``EditMessage``, ``DeleteMessage``, ``AddReaction`` / ``RemoveReaction`` and
the ``MessageUpdated`` / ``MessageDeleted`` events; unread mentions and the
rooms' ``lastChangeSeq``. Rules the contract leaves open follow the issue's
decisions (tombstones keep ``replyToId`` and ``editedAt``; a no-op answers ok
with no event and no new ``changeSeq``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

from tests.conftest import Account

from .helpers import (
    ISO_MS,
    WAIT,
    assert_error,
    assert_full_message_shape,
    count,
    delete,
    edit,
    react,
    reactions,
    room_view,
    send,
    sync_marker,
    wait_change,
    watch_changes,
)

UNKNOWN_MESSAGE_IDS = ["ffffffffffffffffffffffff", "999999999", "no-such-message"]
UNKNOWN_ROOM_ID = "ffffffffffffffffffffffff"
CHANGE_EVENTS = ["EditMessage", "DeleteMessage", "AddReaction", "RemoveReaction"]


@dataclasses.dataclass
class Chat:
    """Alice (two connections) and Bob in a private room; Carol shares only ``elsewhere`` with Alice."""

    alice: Account
    bob: Account
    carol: Account
    room: str
    elsewhere: str
    a1: Any
    a2: Any
    b: Any
    c: Any
    own_id: str = ""  # set by tests that need a message of ``room`` …
    foreign_id: str = ""  # … or of ``elsewhere``

    @property
    def everyone(self) -> list[Any]:
        """Every connection of every member of ``room``."""
        return [self.a1, self.a2, self.b]


@pytest.fixture
async def chat(api, connect) -> Chat:
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    elsewhere = await api.create_group(alice, [carol], name="elsewhere")
    a1, a2, b, c = [watch_changes(await connect(who)) for who in (alice, alice, bob, carol)]
    return Chat(alice, bob, carol, room["id"], elsewhere["id"], a1, a2, b, c)


def payload(event: str, room_id: str, message_id: Any) -> dict[str, Any]:
    """A valid payload of a change event, aimed at ``message_id``."""
    extra = {"EditMessage": {"content": "changed"}, "DeleteMessage": {}}.get(event, {"emoji": "👍"})
    return {"roomId": room_id, "messageId": message_id, **extra}


async def history(api, who: Account, room_id: str, **params: Any) -> list[dict[str, Any]]:
    return (await api.history(who, room_id, **params))["messages"]


async def received(client: Any, message: dict[str, Any]) -> dict[str, Any]:
    return await client.wait_for("ReceiveMessage", lambda d: d.get("id") == message["id"], timeout=WAIT)


# -- the Message shape -------------------------------------------------------------------


async def test_a_new_message_has_all_16_keys_in_ack_event_and_history(chat, api):
    message = await send(chat.a1, chat.room, "plain")
    assert_full_message_shape(message)
    assert message["type"] == "user" and message["senderId"] == chat.alice.id
    assert message["replyToId"] is None and message["mentionedUserIds"] == [] and message["customData"] is None
    assert message["reactions"] == [] and message["editedAt"] is None and message["deletedAt"] is None
    assert message["updatedAt"] == message["createdAt"]
    for client in chat.everyone:
        assert await received(client, message) == message
    assert (await history(api, chat.bob, chat.room)) == [message]


async def test_each_new_message_takes_a_higher_change_seq(chat):
    first, second = await send(chat.a1, chat.room, "one"), await send(chat.b, chat.room, "two")
    assert second["changeSeq"] > first["changeSeq"] >= 1


# -- SendMessage: replyToId, mentionedUserIds, customData --------------------------------


async def test_reply_mentions_and_custom_data_are_stored_and_delivered(chat, api):
    question = await send(chat.b, chat.room, "question")
    data = {"b": 1, "a": {"z": None, "y": [1.5, "é", True]}, "emoji": "👍"}
    message = await send(chat.a1, chat.room, "answer", replyToId=question["id"],
                         mentionedUserIds=[chat.bob.id, chat.alice.id], customData=data)
    assert_full_message_shape(message)
    assert message["replyToId"] == question["id"]
    assert message["mentionedUserIds"] == [chat.bob.id, chat.alice.id]  # in the order given
    assert json.dumps(message["customData"]) == json.dumps(data)  # as given, key order included
    assert await received(chat.b, message) == message
    assert (await history(api, chat.bob, chat.room))[-1] == message


async def test_duplicate_mentions_are_dropped(chat):
    message = await send(chat.a1, chat.room, "hey", mentionedUserIds=[chat.bob.id, chat.bob.id])
    assert message["mentionedUserIds"] == [chat.bob.id]


async def test_empty_mentions_and_null_custom_data_are_accepted(chat):
    message = await send(chat.a1, chat.room, "plain", mentionedUserIds=[], customData=None)
    assert message["mentionedUserIds"] == [] and message["customData"] is None


BAD_SENDS = [
    pytest.param(lambda c: {"replyToId": c.foreign_id}, "replyToId", id="reply-to-another-rooms-message"),
    pytest.param(lambda c: {"replyToId": "ffffffffffffffffffffffff"}, "replyToId", id="reply-to-unknown-id"),
    pytest.param(lambda c: {"replyToId": "999999999"}, "replyToId", id="reply-to-unknown-number-id"),
    pytest.param(lambda c: {"replyToId": "0" + c.own_id}, "replyToId", id="reply-to-zero-padded-id"),
    pytest.param(lambda c: {"replyToId": 5}, "replyToId", id="reply-to-not-a-string"),
    pytest.param(lambda c: {"mentionedUserIds": [c.carol.id]}, "mentionedUserIds", id="mention-non-member"),
    pytest.param(lambda c: {"mentionedUserIds": [c.bob.id, c.carol.id]}, "mentionedUserIds",
                 id="mention-member-and-non-member"),
    pytest.param(lambda c: {"mentionedUserIds": ["ffffffffffffffffffffffff"]}, "mentionedUserIds",
                 id="mention-unknown-user"),
    pytest.param(lambda c: {"mentionedUserIds": c.bob.id}, "mentionedUserIds", id="mentions-not-a-list"),
    pytest.param(lambda c: {"mentionedUserIds": [7]}, "mentionedUserIds", id="mention-not-a-string"),
    pytest.param(lambda c: {"customData": [1, 2]}, "customData", id="custom-data-list"),
    pytest.param(lambda c: {"customData": "text"}, "customData", id="custom-data-string"),
    pytest.param(lambda c: {"customData": 42}, "customData", id="custom-data-number"),
    pytest.param(lambda c: {"customData": True}, "customData", id="custom-data-bool"),
    pytest.param(lambda c: {"customData": {"k": "x" * 4089}}, "customData", id="custom-data-4097-bytes"),
    pytest.param(lambda c: {"customData": {"k": "é" * 2044 + "x"}}, "customData", id="custom-data-4097-bytes-utf8"),
]


@pytest.mark.parametrize("extra, field", BAD_SENDS)
async def test_invalid_send_extras_are_refused_and_nothing_is_stored(chat, api, extra, field):
    chat.foreign_id = (await send(chat.a1, chat.elsewhere, "in another room"))["id"]
    chat.own_id = (await send(chat.a1, chat.room, "in this room"))["id"]
    before = await history(api, chat.alice, chat.room)
    ack = await chat.a1.call("SendMessage", {"roomId": chat.room, "content": "refused", **extra(chat)})
    assert_error(ack, "invalid")
    assert field in ack["error"]["message"], ack
    assert await history(api, chat.alice, chat.room) == before


@pytest.mark.parametrize("data", [
    pytest.param({"k": "x" * 4088}, id="4096-bytes-ascii"),
    pytest.param({"k": "é" * 2044}, id="4096-bytes-utf8"),  # 2 bytes each in UTF-8 (not \\u escapes)
    pytest.param({}, id="empty-object"),
    pytest.param({"nested": {"deep": [{"a": None}]}, "n": -1.25e3}, id="nested"),
])
async def test_custom_data_up_to_4_kib_is_kept_as_given(chat, api, data):
    assert len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()) <= 4096
    message = await send(chat.a1, chat.room, "with data", customData=data)
    assert message["customData"] == data
    assert (await history(api, chat.bob, chat.room))[-1]["customData"] == data


async def test_at_most_50_mentions(api, connect):
    owner = await api.register()
    others = [await api.register() for _ in range(51)]
    room = (await api.create_group(owner, others, name="crowd"))["id"]
    client = await connect(owner)
    ids = [o.id for o in others]
    ack = await client.call("SendMessage", {"roomId": room, "content": "too many", "mentionedUserIds": ids})
    assert_error(ack, "invalid")
    assert "mentionedUserIds" in ack["error"]["message"], ack
    assert (await api.history(owner, room))["messages"] == []
    message = await send(client, room, "fifty", mentionedUserIds=ids[:50])
    assert message["mentionedUserIds"] == ids[:50]


# -- EditMessage -------------------------------------------------------------------------


async def test_sender_edit_reaches_every_connection_of_every_member(chat, api):
    original = await send(chat.a1, chat.room, "first draft", customData={"v": 1})
    edited = await edit(chat.a1, chat.room, original["id"], content="final text")
    assert_full_message_shape(edited)
    assert edited["content"] == "final text" and edited["customData"] == {"v": 1}  # custom data kept
    assert ISO_MS.match(edited["editedAt"]) and edited["updatedAt"] == edited["editedAt"]
    assert edited["editedAt"] >= original["createdAt"] and edited["createdAt"] == original["createdAt"]
    assert edited["changeSeq"] > original["changeSeq"]
    for client in chat.everyone:  # the editor's own connection and her second one included
        assert await wait_change(client, "MessageUpdated", original["id"], original["changeSeq"]) == edited
    assert await history(api, chat.bob, chat.room) == [edited]


async def test_edit_of_custom_data_only_keeps_the_content(chat):
    original = await send(chat.a1, chat.room, "keep me", customData={"v": 1})
    edited = await edit(chat.a1, chat.room, original["id"], customData={"v": 2, "w": [1]})
    assert edited["content"] == "keep me" and edited["customData"] == {"v": 2, "w": [1]}
    assert edited["editedAt"] is not None
    assert await wait_change(chat.b, "MessageUpdated", original["id"], original["changeSeq"]) == edited


async def test_edit_with_null_custom_data_clears_it(chat):
    original = await send(chat.a1, chat.room, "data", customData={"v": 1})
    edited = await edit(chat.a1, chat.room, original["id"], customData=None)
    assert edited["customData"] is None and edited["content"] == "data"


async def test_edit_keeps_reply_and_mentions(chat):
    question = await send(chat.b, chat.room, "q")
    original = await send(chat.a1, chat.room, "a", replyToId=question["id"], mentionedUserIds=[chat.bob.id])
    edited = await edit(chat.a1, chat.room, original["id"], content="a, edited")
    assert edited["replyToId"] == question["id"] and edited["mentionedUserIds"] == [chat.bob.id]


async def test_edit_by_another_member_is_forbidden(chat, api):
    original = await send(chat.a1, chat.room, "mine")
    ack = await chat.b.call("EditMessage", {"roomId": chat.room, "messageId": original["id"], "content": "yours"})
    assert_error(ack, "forbidden")
    assert await history(api, chat.alice, chat.room) == [original]


async def test_edit_that_changes_nothing_is_ok_without_event(chat):
    original = await send(chat.a1, chat.room, "same", customData={"v": 1})
    await received(chat.b, original)
    assert await edit(chat.a1, chat.room, original["id"], content="same") == original
    assert await edit(chat.a1, chat.room, original["id"], customData={"v": 1}) == original
    await sync_marker(chat.a1, chat.room, chat.everyone)
    for client in chat.everyone:
        assert count(client, "MessageUpdated", id=original["id"]) == 0


@pytest.mark.parametrize("fields, field", [
    pytest.param({}, None, id="neither-content-nor-custom-data"),
    pytest.param({"content": ""}, "content", id="empty-content"),
    pytest.param({"content": "  \n "}, "content", id="blank-content"),
    pytest.param({"content": "a" * 4001}, "content", id="content-4001"),
    pytest.param({"content": 42}, "content", id="content-number"),
    pytest.param({"content": None}, None, id="content-null"),
    pytest.param({"customData": [1]}, "customData", id="custom-data-list"),
    pytest.param({"customData": {"k": "x" * 4089}}, "customData", id="custom-data-4097-bytes"),
])
async def test_invalid_edit_is_refused_and_changes_nothing(chat, api, fields, field):
    original = await send(chat.a1, chat.room, "untouched", customData={"v": 1})
    ack = await chat.a1.call("EditMessage", {"roomId": chat.room, "messageId": original["id"], **fields})
    assert_error(ack, "invalid")
    if field:
        assert field in ack["error"]["message"], ack
    assert await history(api, chat.alice, chat.room) == [original]


async def test_edit_of_a_tombstone_is_invalid(chat, api):
    original = await send(chat.a1, chat.room, "soon gone")
    tombstone = await delete(chat.a1, chat.room, original["id"])
    ack = await chat.a1.call("EditMessage", {"roomId": chat.room, "messageId": original["id"], "content": "back"})
    assert_error(ack, "invalid")
    assert await history(api, chat.alice, chat.room) == [tombstone]


async def test_edited_content_is_trimmed_like_a_sent_one(chat):
    original = await send(chat.a1, chat.room, "x")
    assert (await edit(chat.a1, chat.room, original["id"], content="  y \n"))["content"] == "y"


# -- ids and membership, for every change event --------------------------------------------


@pytest.mark.parametrize("event", CHANGE_EVENTS)
@pytest.mark.parametrize("message_id", UNKNOWN_MESSAGE_IDS + ["another-room", "zero-padded"])
async def test_unknown_or_another_rooms_message_is_not_found(chat, api, event, message_id):
    own = await send(chat.a1, chat.room, "here")
    foreign = await send(chat.a1, chat.elsewhere, "alice may change this, but in its own room")
    # Ids are opaque strings: "0" + an id is no id, even where ids look like numbers.
    target = {"another-room": foreign["id"], "zero-padded": "0" + own["id"]}.get(message_id, message_id)
    ack = await chat.a1.call(event, payload(event, chat.room, target))
    assert_error(ack, "not_found")
    assert "messageId" in ack["error"]["message"], ack
    assert await history(api, chat.alice, chat.elsewhere) == [foreign]
    assert await history(api, chat.alice, chat.room) == [own]


@pytest.mark.parametrize("event", CHANGE_EVENTS)
async def test_non_member_is_forbidden(chat, api, event):
    message = await send(chat.a1, chat.room, "members only")
    assert_error(await chat.c.call(event, payload(event, chat.room, message["id"])), "forbidden")
    assert await history(api, chat.alice, chat.room) == [message]


@pytest.mark.parametrize("event", CHANGE_EVENTS)
async def test_former_member_is_forbidden_even_on_her_own_message(chat, api, event):
    message = await send(chat.c, chat.elsewhere, "before I left")
    assert (await chat.c.call("LeaveChatRoom", {"roomId": chat.elsewhere}))["ok"] is True
    assert_error(await chat.c.call(event, payload(event, chat.elsewhere, message["id"])), "forbidden")
    assert await history(api, chat.alice, chat.elsewhere) == [message]


@pytest.mark.parametrize("event", CHANGE_EVENTS)
async def test_unknown_room_is_not_found(chat, event):
    message = await send(chat.a1, chat.room, "real")
    assert_error(await chat.a1.call(event, payload(event, UNKNOWN_ROOM_ID, message["id"])), "not_found")


@pytest.mark.parametrize("event", CHANGE_EVENTS)
@pytest.mark.parametrize("bad", [
    pytest.param({"messageId": 12}, id="message-id-number"),
    pytest.param({"messageId": None}, id="message-id-null"),
    pytest.param({"messageId": {"$ne": None}}, id="message-id-operator"),
    pytest.param({"roomId": ["x"]}, id="room-id-list"),
    pytest.param("missing", id="message-id-missing"),
])
async def test_malformed_ids_are_invalid(chat, event, bad):
    message = await send(chat.a1, chat.room, "target")
    data = payload(event, chat.room, message["id"])
    if bad == "missing":
        del data["messageId"]
    else:
        data.update(bad)
    assert_error(await chat.a1.call(event, data), "invalid")


async def test_non_members_receive_no_change_events(chat):
    message = await send(chat.a1, chat.room, "private")
    await edit(chat.a1, chat.room, message["id"], content="private, edited")
    await react(chat.b, chat.room, message["id"], "👀")
    await delete(chat.a1, chat.room, message["id"])
    await sync_marker(chat.a1, chat.elsewhere, [chat.c])  # Carol's connection is served, and in order
    assert count(chat.c, "MessageUpdated") == count(chat.c, "MessageDeleted") == 0


# -- DeleteMessage -------------------------------------------------------------------------


async def test_sender_delete_sends_the_tombstone_to_every_connection(chat, api):
    question = await send(chat.b, chat.room, "q")
    original = await send(chat.a1, chat.room, "regret", replyToId=question["id"],
                          mentionedUserIds=[chat.bob.id], customData={"v": 1})
    await react(chat.b, chat.room, original["id"], "👍")
    edited = await edit(chat.a1, chat.room, original["id"], content="regret, edited")
    tombstone = await delete(chat.a1, chat.room, original["id"])
    assert_full_message_shape(tombstone)
    assert tombstone["content"] == "" and tombstone["customData"] is None
    assert tombstone["reactions"] == [] and tombstone["mentionedUserIds"] == []
    assert ISO_MS.match(tombstone["deletedAt"]) and tombstone["updatedAt"] == tombstone["deletedAt"]
    assert tombstone["changeSeq"] > edited["changeSeq"]
    # Kept: who, when, what it answered, that it had been edited.
    for key in ("id", "roomId", "senderId", "senderUsername", "createdAt", "clientMessageId", "type",
                "replyToId", "editedAt"):
        assert tombstone[key] == edited[key], key
    for client in chat.everyone:
        assert await wait_change(client, "MessageDeleted", original["id"]) == tombstone
    assert (await history(api, chat.bob, chat.room))[-1] == tombstone


async def test_tombstone_stays_in_place_and_cursors_on_it_work(chat, api):
    m1, m2, m3 = [await send(chat.a1, chat.room, f"m{i}") for i in (1, 2, 3)]
    tombstone = await delete(chat.a1, chat.room, m2["id"])
    assert await history(api, chat.bob, chat.room) == [m1, tombstone, m3]
    assert await history(api, chat.bob, chat.room, before=m2["id"]) == [m1]
    assert await history(api, chat.bob, chat.room, after=m2["id"]) == [m3]
    assert await history(api, chat.bob, chat.room, after=m1["id"], limit=1) == [tombstone]


async def test_delete_by_another_member_is_forbidden(chat, api):
    original = await send(chat.a1, chat.room, "mine")
    assert_error(await chat.b.call("DeleteMessage", {"roomId": chat.room, "messageId": original["id"]}), "forbidden")
    assert await history(api, chat.alice, chat.room) == [original]


async def test_deleting_twice_is_ok_and_sends_one_event(chat):
    original = await send(chat.a1, chat.room, "once")
    tombstone = await delete(chat.a1, chat.room, original["id"])
    await wait_change(chat.b, "MessageDeleted", original["id"])
    assert await delete(chat.a2, chat.room, original["id"]) == tombstone
    await sync_marker(chat.a1, chat.room, chat.everyone)
    for client in chat.everyone:
        assert count(client, "MessageDeleted", id=original["id"]) == 1
        assert count(client, "MessageUpdated", id=original["id"]) == 0


async def test_in_a_group_the_owner_deletes_any_message_but_edits_only_her_own(api, connect):
    owner, bob, dave = await api.register(), await api.register(), await api.register()
    room = (await api.create_group(owner, [bob, dave], name="moderated"))["id"]
    o, b, d = [watch_changes(await connect(who)) for who in (owner, bob, dave)]
    message = await send(b, room, "bob's")
    ack = await o.call("EditMessage", {"roomId": room, "messageId": message["id"], "content": "owner's words"})
    assert_error(ack, "forbidden")
    assert_error(await d.call("DeleteMessage", {"roomId": room, "messageId": message["id"]}), "forbidden")
    tombstone = await delete(o, room, message["id"])
    assert tombstone["content"] == "" and tombstone["senderId"] == bob.id and tombstone["deletedAt"] is not None
    for client in (o, b, d):
        assert await wait_change(client, "MessageDeleted", message["id"]) == tombstone


# -- reactions -------------------------------------------------------------------------------


async def test_reactions_of_two_users_count_in_first_use_order(chat):
    message = await send(chat.a1, chat.room, "react to me")
    steps = [
        (chat.a1, "👍", True, [("👍", 1)]),
        (chat.b, "❤️", True, [("👍", 1), ("❤️", 1)]),
        (chat.b, "👍", True, [("👍", 2), ("❤️", 1)]),
        (chat.a1, "👍", False, [("👍", 1), ("❤️", 1)]),
        (chat.b, "👍", False, [("❤️", 1)]),  # a count that falls to 0 disappears
        (chat.a2, "👍", True, [("❤️", 1), ("👍", 1)]),  # used again, it goes to the end
    ]
    seq = message["changeSeq"]
    for client, emoji, add, want in steps:
        acked = await react(client, chat.room, message["id"], emoji, add)
        assert reactions(acked) == want, (emoji, add)
        assert acked["changeSeq"] > seq and acked["editedAt"] is None
        for other in chat.everyone:  # the reacting connection included
            assert await wait_change(other, "MessageUpdated", message["id"], seq) == acked
        seq = acked["changeSeq"]


async def test_repeated_add_and_absent_remove_are_ok_without_event(chat):
    message = await send(chat.a1, chat.room, "react")
    once = await react(chat.b, chat.room, message["id"], "🎉")
    await wait_change(chat.a1, "MessageUpdated", message["id"], message["changeSeq"])
    assert await react(chat.b, chat.room, message["id"], "🎉") == once
    assert await react(chat.b, chat.room, message["id"], "🙈", add=False) == once
    assert await react(chat.a1, chat.room, message["id"], "🎉", add=False) == once  # Alice never reacted 🎉
    await sync_marker(chat.a1, chat.room, chat.everyone)
    for client in chat.everyone:
        assert count(client, "MessageUpdated", id=message["id"]) == 1


@pytest.mark.parametrize("emoji", [
    pytest.param("👍🏽", id="skin-tone"),
    pytest.param("🇫🇮", id="flag"),
    pytest.param("👨‍👩‍👧‍👦", id="zwj-family"),
    pytest.param("😀" * 32, id="32-code-points-beyond-the-bmp"),
    pytest.param("a" * 32, id="32-ascii"),
    pytest.param("+1", id="plain-text"),
])
async def test_any_emoji_of_1_to_32_characters(chat, api, emoji):
    message = await send(chat.a1, chat.room, "react")
    assert reactions(await react(chat.b, chat.room, message["id"], emoji)) == [(emoji, 1)]
    assert reactions((await history(api, chat.alice, chat.room))[0]) == [(emoji, 1)]
    assert reactions(await react(chat.b, chat.room, message["id"], emoji, add=False)) == []


@pytest.mark.parametrize("add", [True, False], ids=["add", "remove"])
@pytest.mark.parametrize("emoji", [
    pytest.param("a" * 33, id="33-characters"),
    pytest.param("😀" * 33, id="33-code-points"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("\ud83d", id="lone-surrogate"),
    pytest.param(1, id="number"),
    pytest.param(None, id="null"),
])
async def test_invalid_emoji_is_refused(chat, api, add, emoji):
    message = await send(chat.a1, chat.room, "react")
    event = "AddReaction" if add else "RemoveReaction"
    assert_error(await chat.b.call(event, {"roomId": chat.room, "messageId": message["id"], "emoji": emoji}), "invalid")
    assert await history(api, chat.alice, chat.room) == [message]


async def test_the_51st_distinct_emoji_is_invalid(chat, api):
    message = await send(chat.a1, chat.room, "popular")
    emoji = [chr(0x1F600 + i) for i in range(51)]
    for e in emoji[:50]:
        full = await react(chat.a1, chat.room, message["id"], e)
    assert len(full["reactions"]) == 50
    ack = await chat.b.call("AddReaction", {"roomId": chat.room, "messageId": message["id"], "emoji": emoji[50]})
    assert_error(ack, "invalid")
    assert (await history(api, chat.alice, chat.room))[0] == full
    # One of the 50 again is fine; and once one disappears, a new one takes the free place at the end.
    assert reactions(await react(chat.b, chat.room, message["id"], emoji[0]))[0] == (emoji[0], 2)
    await react(chat.a1, chat.room, message["id"], emoji[1], add=False)
    assert reactions(await react(chat.b, chat.room, message["id"], emoji[50]))[-1] == (emoji[50], 1)


@pytest.mark.parametrize("add", [True, False], ids=["add", "remove"])
async def test_reaction_on_a_tombstone_is_invalid(chat, add):
    message = await send(chat.a1, chat.room, "gone")
    await react(chat.b, chat.room, message["id"], "👍")
    await delete(chat.a1, chat.room, message["id"])
    event = "AddReaction" if add else "RemoveReaction"
    assert_error(await chat.b.call(event, {"roomId": chat.room, "messageId": message["id"], "emoji": "👍"}), "invalid")


# -- unread mentions, lastChangeSeq -------------------------------------------------------


async def call_ok_read(client: Any, room_id: str, message_id: str | None) -> None:
    data = {"roomId": room_id} if message_id is None else {"roomId": room_id, "messageId": message_id}
    ack = await client.call("MarkMessagesAsRead", data)
    assert isinstance(ack, dict) and ack.get("ok") is True, ack


async def test_a_mention_counts_until_read(chat, api):
    await send(chat.a1, chat.room, "@bob one", mentionedUserIds=[chat.bob.id])
    m2 = await send(chat.a1, chat.room, "no mention")
    m3 = await send(chat.a1, chat.room, "@bob two", mentionedUserIds=[chat.bob.id])
    assert (await room_view(api, chat.bob, chat.room))["unreadMentionCount"] == 2
    assert (await room_view(api, chat.alice, chat.room))["unreadMentionCount"] == 0
    await call_ok_read(chat.b, chat.room, m2["id"])
    assert (await room_view(api, chat.bob, chat.room))["unreadMentionCount"] == 1
    await call_ok_read(chat.b, chat.room, None)
    bob_view = await room_view(api, chat.bob, chat.room)
    assert bob_view["unreadMentionCount"] == 0 and bob_view["lastReadMessageId"] == m3["id"]


async def test_mentioning_oneself_never_counts(chat, api):
    await send(chat.b, chat.room, "note to self", mentionedUserIds=[chat.bob.id])
    assert (await room_view(api, chat.bob, chat.room))["unreadMentionCount"] == 0


async def test_deleting_a_message_removes_its_unread_mention(chat, api):
    message = await send(chat.a1, chat.room, "@bob", mentionedUserIds=[chat.bob.id])
    assert (await room_view(api, chat.bob, chat.room))["unreadMentionCount"] == 1
    await delete(chat.a1, chat.room, message["id"])
    assert (await room_view(api, chat.bob, chat.room))["unreadMentionCount"] == 0


async def test_concurrent_changes_take_distinct_positions(chat, api):
    message = await send(chat.a1, chat.room, "busy")
    emoji = [chr(0x1F600 + i) for i in range(24)]
    clients = (chat.a1, chat.a2, chat.b)
    acked = await asyncio.gather(*(react(clients[i % 3], chat.room, message["id"], e) for i, e in enumerate(emoji)))
    seqs = [m["changeSeq"] for m in acked]  # every call is a change: each (user, emoji) pair is new
    assert len(set(seqs)) == len(seqs) and min(seqs) > message["changeSeq"]
    final = (await history(api, chat.bob, chat.room))[0]
    assert sorted(reactions(final)) == sorted((e, 1) for e in emoji)
    assert final["changeSeq"] == max(seqs) == (await room_view(api, chat.alice, chat.room))["lastChangeSeq"]


async def test_room_list_last_message_shows_the_latest_state(chat, api):
    message = await send(chat.a1, chat.room, "v1")
    edited = await edit(chat.a1, chat.room, message["id"], content="v2")
    assert (await room_view(api, chat.bob, chat.room))["lastMessage"] == edited


async def test_rooms_carry_the_latest_change_seq(chat, api):
    view = await room_view(api, chat.alice, chat.room)
    assert {"unreadMentionCount", "lastChangeSeq"} <= set(view) and view["lastChangeSeq"] == 0
    message = await send(chat.a1, chat.room, "x")
    assert (await room_view(api, chat.bob, chat.room))["lastChangeSeq"] == message["changeSeq"]
    for step in (lambda: edit(chat.a1, chat.room, message["id"], content="y"),
                 lambda: react(chat.b, chat.room, message["id"], "👍"),
                 lambda: delete(chat.a1, chat.room, message["id"])):
        latest = (await step())["changeSeq"]
        for who in (chat.alice, chat.bob):
            assert (await room_view(api, who, chat.room))["lastChangeSeq"] == latest
    assert (await room_view(api, chat.alice, chat.elsewhere))["lastChangeSeq"] == 0  # positions are per room
