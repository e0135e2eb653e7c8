"""Messages after they are sent (contract section 6) over REST.

``GET`` / ``PATCH`` / ``DELETE /api/chat/rooms/{id}/messages/{messageId}``,
``PUT`` / ``DELETE …/reactions/{emoji}`` and ``GET /api/chat/rooms/{id}/changes``:
results, the events they cause for Socket.IO clients, errors, membership.
Messages are sent over Socket.IO (REST has no send endpoint for users).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from tests.api.helpers import (
    assert_error,
    changes,
    changes_path,
    message_call,
    message_ok,
    message_path,
    reaction_path,
    send,
)
from tests.conftest import Account
from tests.events.helpers import (
    assert_full_message_shape,
    count,
    react,
    reactions,
    room_view,
    sync_marker,
    wait_change,
    watch_changes,
)

UNKNOWN_ID = "ffffffffffffffffffffffff"


@dataclasses.dataclass
class Chat:
    """Alice and Bob in a private room, each connected; Carol shares only ``elsewhere`` with Alice."""

    alice: Account
    bob: Account
    carol: Account
    room: str
    elsewhere: str
    a: Any
    b: Any


@pytest.fixture
async def chat(api, connect) -> Chat:
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    elsewhere = await api.create_group(alice, [carol], name="elsewhere")
    a, b = watch_changes(await connect(alice)), watch_changes(await connect(bob))
    return Chat(alice, bob, carol, room["id"], elsewhere["id"], a, b)


async def stored(api, chat: Chat, message_id: str) -> dict[str, Any]:
    return await message_ok(api, "GET", chat.alice, chat.room, message_id)


# -- GET a message ---------------------------------------------------------------------


async def test_get_message_returns_the_whole_message(api, chat):
    question = await send(chat.b, chat.room, "q")
    message = await send(chat.a, chat.room, "a", replyToId=question["id"], mentionedUserIds=[chat.bob.id],
                         customData={"k": [1, "two"]}, clientMessageId="c-1")
    got = await message_ok(api, "GET", chat.bob, chat.room, message["id"])
    assert_full_message_shape(got)
    assert got == message


async def test_get_message_shows_the_latest_state(api, chat):
    message = await send(chat.a, chat.room, "v1")
    edited = await message_ok(api, "PATCH", chat.alice, chat.room, message["id"], json={"content": "v2"})
    assert await message_ok(api, "GET", chat.bob, chat.room, message["id"]) == edited


# -- PATCH -------------------------------------------------------------------------------


async def test_patch_by_the_sender_edits_and_members_get_message_updated(api, chat):
    message = await send(chat.a, chat.room, "draft", customData={"v": 1})
    edited = await message_ok(api, "PATCH", chat.alice, chat.room, message["id"], json={"content": "final"})
    assert_full_message_shape(edited)
    assert edited["content"] == "final" and edited["customData"] == {"v": 1}
    assert edited["editedAt"] is not None and edited["updatedAt"] == edited["editedAt"]
    assert edited["changeSeq"] > message["changeSeq"]
    for client in (chat.a, chat.b):
        assert await wait_change(client, "MessageUpdated", message["id"], message["changeSeq"]) == edited
    assert await stored(api, chat, message["id"]) == edited


async def test_patch_custom_data_replaces_or_clears_it(api, chat):
    message = await send(chat.a, chat.room, "data", customData={"v": 1})
    replaced = await message_ok(api, "PATCH", chat.alice, chat.room, message["id"], json={"customData": {"v": 2}})
    assert replaced["customData"] == {"v": 2} and replaced["content"] == "data"
    cleared = await message_ok(api, "PATCH", chat.alice, chat.room, message["id"], json={"customData": None})
    assert cleared["customData"] is None and cleared["changeSeq"] > replaced["changeSeq"]


async def test_patch_that_changes_nothing_is_200_without_event(api, chat):
    message = await send(chat.a, chat.room, "same")
    assert await message_ok(api, "PATCH", chat.alice, chat.room, message["id"], json={"content": "same"}) == message
    await sync_marker(chat.a, chat.room, [chat.b])
    assert count(chat.b, "MessageUpdated", id=message["id"]) == 0


@pytest.mark.parametrize("body, field", [
    pytest.param({}, None, id="empty-object"),
    pytest.param({"content": ""}, "content", id="empty-content"),
    pytest.param({"content": " "}, "content", id="blank-content"),
    pytest.param({"content": "a" * 4001}, "content", id="content-4001"),
    pytest.param({"content": 5}, "content", id="content-number"),
    pytest.param({"customData": "x"}, "customData", id="custom-data-string"),
    pytest.param({"customData": {"k": "x" * 4089}}, "customData", id="custom-data-4097-bytes"),
    pytest.param([], None, id="body-list"),
])
async def test_invalid_patch_is_400_and_changes_nothing(api, chat, body, field):
    message = await send(chat.a, chat.room, "untouched")
    status, answer = await message_call(api, "PATCH", chat.alice, chat.room, message["id"], json=body)
    assert_error(status, answer, 400, "invalid", field)
    assert await stored(api, chat, message["id"]) == message


async def test_patch_by_another_member_is_403(api, chat):
    message = await send(chat.a, chat.room, "mine")
    status, body = await message_call(api, "PATCH", chat.bob, chat.room, message["id"], json={"content": "yours"})
    assert_error(status, body, 403, "forbidden")
    assert await stored(api, chat, message["id"]) == message


async def test_patch_of_a_tombstone_is_400(api, chat):
    message = await send(chat.a, chat.room, "gone")
    tombstone = await message_ok(api, "DELETE", chat.alice, chat.room, message["id"])
    status, body = await message_call(api, "PATCH", chat.alice, chat.room, message["id"], json={"content": "back"})
    assert_error(status, body, 400, "invalid")
    assert await stored(api, chat, message["id"]) == tombstone


# -- DELETE ------------------------------------------------------------------------------


async def test_delete_by_the_sender_answers_the_tombstone_and_members_get_message_deleted(api, chat):
    message = await send(chat.a, chat.room, "regret", customData={"v": 1}, mentionedUserIds=[chat.bob.id])
    tombstone = await message_ok(api, "DELETE", chat.alice, chat.room, message["id"])
    assert_full_message_shape(tombstone)
    assert tombstone["content"] == "" and tombstone["customData"] is None and tombstone["mentionedUserIds"] == []
    assert tombstone["deletedAt"] is not None and tombstone["changeSeq"] > message["changeSeq"]
    for client in (chat.a, chat.b):
        assert await wait_change(client, "MessageDeleted", message["id"]) == tombstone
    assert (await api.history(chat.bob, chat.room))["messages"] == [tombstone]


async def test_delete_twice_is_200_with_one_event(api, chat):
    message = await send(chat.a, chat.room, "once")
    tombstone = await message_ok(api, "DELETE", chat.alice, chat.room, message["id"])
    assert await message_ok(api, "DELETE", chat.alice, chat.room, message["id"]) == tombstone
    await sync_marker(chat.a, chat.room, [chat.b])
    assert count(chat.b, "MessageDeleted", id=message["id"]) == 1


async def test_delete_by_another_member_is_403(api, chat):
    message = await send(chat.a, chat.room, "mine")
    status, body = await message_call(api, "DELETE", chat.bob, chat.room, message["id"])
    assert_error(status, body, 403, "forbidden")
    assert await stored(api, chat, message["id"]) == message


# -- reactions ---------------------------------------------------------------------------


async def test_put_and_delete_reaction_count_per_user_and_emoji(api, chat):
    message = await send(chat.a, chat.room, "react")
    one = await message_ok(api, "PUT", chat.alice, chat.room, message["id"], emoji="👍")
    assert reactions(one) == [("👍", 1)] and one["editedAt"] is None and one["changeSeq"] > message["changeSeq"]
    assert await wait_change(chat.b, "MessageUpdated", message["id"], message["changeSeq"]) == one
    two = await message_ok(api, "PUT", chat.bob, chat.room, message["id"], emoji="👍")
    assert reactions(two) == [("👍", 2)]
    assert await message_ok(api, "PUT", chat.bob, chat.room, message["id"], emoji="👍") == two  # again: no change
    assert await message_ok(api, "DELETE", chat.bob, chat.room, message["id"], emoji="🎉") == two  # absent
    back = await message_ok(api, "DELETE", chat.alice, chat.room, message["id"], emoji="👍")
    assert reactions(back) == [("👍", 1)]
    await sync_marker(chat.a, chat.room, [chat.b])
    assert [d["changeSeq"] for d in chat.b.events("MessageUpdated")] == [one["changeSeq"], two["changeSeq"],
                                                                          back["changeSeq"]]


@pytest.mark.parametrize("emoji", [
    pytest.param("🇫🇮", id="flag"),
    pytest.param("👨‍👩‍👧‍👦", id="zwj-family"),
    pytest.param("👍🏽", id="skin-tone"),
    pytest.param("❤️", id="variation-selector"),
    pytest.param("a/b", id="slash"),
    pytest.param("a b", id="space"),
    pytest.param("100%", id="percent"),
    pytest.param("?#&+", id="query-characters"),
    pytest.param("😀" * 32, id="32-code-points"),
])
async def test_emoji_in_the_url_is_percent_encoded_utf8(api, chat, emoji):
    message = await send(chat.a, chat.room, "react")
    via_rest = await message_ok(api, "PUT", chat.alice, chat.room, message["id"], emoji=emoji)
    assert reactions(via_rest) == [(emoji, 1)]
    ack = await chat.b.call("AddReaction", {"roomId": chat.room, "messageId": message["id"], "emoji": emoji})
    assert ack["ok"] is True and reactions(ack["message"]) == [(emoji, 2)], ack  # the same emoji both ways
    assert reactions(await message_ok(api, "DELETE", chat.alice, chat.room, message["id"], emoji=emoji)) == [(emoji, 1)]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("emoji", [
    pytest.param("a" * 33, id="33-characters"),
    pytest.param("😀" * 33, id="33-code-points"),
    pytest.param(" ", id="blank"),
])
async def test_invalid_emoji_is_400(api, chat, method, emoji):
    message = await send(chat.a, chat.room, "react")
    status, body = await message_call(api, method, chat.alice, chat.room, message["id"], emoji=emoji)
    assert_error(status, body, 400, "invalid")
    assert await stored(api, chat, message["id"]) == message


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("encoded", [
    pytest.param("%FF", id="not-utf8"),
    pytest.param("%E2%9D", id="truncated-utf8"),
    pytest.param("%ED%A0%BD", id="encoded-surrogate"),
])
async def test_emoji_that_is_not_percent_encoded_utf8_is_400(api, chat, method, encoded):
    message = await send(chat.a, chat.room, "react")
    path = f"{message_path(chat.room, message['id'])}/reactions/{encoded}"
    status, body = await api.request(method, path, token=chat.alice.token)
    assert_error(status, body, 400, "invalid")
    assert await stored(api, chat, message["id"]) == message


async def test_the_51st_distinct_emoji_is_400(api, chat):
    message = await send(chat.a, chat.room, "popular")
    for i in range(50):
        full = await message_ok(api, "PUT", chat.alice, chat.room, message["id"], emoji=chr(0x1F600 + i))
    status, body = await message_call(api, "PUT", chat.bob, chat.room, message["id"], emoji=chr(0x1F600 + 50))
    assert_error(status, body, 400, "invalid")
    assert await stored(api, chat, message["id"]) == full


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_reaction_on_a_tombstone_is_400(api, chat, method):
    message = await send(chat.a, chat.room, "gone")
    tombstone = await message_ok(api, "DELETE", chat.alice, chat.room, message["id"])
    status, body = await message_call(api, method, chat.bob, chat.room, message["id"], emoji="👍")
    assert_error(status, body, 400, "invalid")
    assert await stored(api, chat, message["id"]) == tombstone


# -- membership and ids, on every endpoint -------------------------------------------------

MESSAGE_OPS = [
    pytest.param("GET", None, None, id="get"),
    pytest.param("PATCH", None, {"content": "changed"}, id="patch"),
    pytest.param("DELETE", None, None, id="delete"),
    pytest.param("PUT", "👍", None, id="put-reaction"),
    pytest.param("DELETE", "👍", None, id="delete-reaction"),
]


@pytest.mark.parametrize("method, emoji, body", MESSAGE_OPS)
async def test_non_member_is_403(api, chat, method, emoji, body):
    message = await send(chat.a, chat.room, "members only")
    status, answer = await message_call(api, method, chat.carol, chat.room, message["id"], emoji=emoji, json=body)
    assert_error(status, answer, 403, "forbidden")
    assert "members only" not in str(answer)
    assert await stored(api, chat, message["id"]) == message


@pytest.mark.parametrize("method, emoji, body", MESSAGE_OPS)
async def test_former_member_is_403_even_on_her_own_message(api, chat, connect, method, emoji, body):
    carol = await connect(chat.carol)
    message = await send(carol, chat.elsewhere, "before I left")
    assert (await carol.call("LeaveChatRoom", {"roomId": chat.elsewhere}))["ok"] is True
    status, answer = await message_call(api, method, chat.carol, chat.elsewhere, message["id"], emoji=emoji, json=body)
    assert_error(status, answer, 403, "forbidden")
    assert await message_ok(api, "GET", chat.alice, chat.elsewhere, message["id"]) == message


@pytest.mark.parametrize("method, emoji, body", MESSAGE_OPS)
async def test_unknown_room_is_404(api, chat, method, emoji, body):
    message = await send(chat.a, chat.room, "real")
    status, answer = await message_call(api, method, chat.alice, UNKNOWN_ID, message["id"], emoji=emoji, json=body)
    assert_error(status, answer, 404, "not_found")


@pytest.mark.parametrize("target", ["ffffffffffffffffffffffff", "999999999", "nope", "another-room", "zero-padded"])
@pytest.mark.parametrize("method, emoji, body", MESSAGE_OPS)
async def test_unknown_or_another_rooms_message_is_404(api, chat, method, emoji, body, target):
    own = await send(chat.a, chat.room, "lives here")
    foreign = await send(chat.a, chat.elsewhere, "lives elsewhere")
    # Ids are opaque strings: "0" + an id is no id, even where ids look like numbers.
    message_id = {"another-room": foreign["id"], "zero-padded": "0" + own["id"]}.get(target, target)
    status, answer = await message_call(api, method, chat.alice, chat.room, message_id, emoji=emoji, json=body)
    assert_error(status, answer, 404, "not_found")
    assert await message_ok(api, "GET", chat.alice, chat.elsewhere, foreign["id"]) == foreign
    assert await stored(api, chat, own["id"]) == own


@pytest.mark.parametrize("method, emoji, body", MESSAGE_OPS)
async def test_without_a_token_is_401(api, chat, method, emoji, body):
    message = await send(chat.a, chat.room, "secret")
    path = message_path(chat.room, message["id"]) if emoji is None else reaction_path(chat.room, message["id"], emoji)
    status, answer = await api.request(method, path, json=body)
    assert_error(status, answer, 401, "unauthorized")
    assert await stored(api, chat, message["id"]) == message


# -- GET changes ----------------------------------------------------------------------------


async def test_changes_of_an_empty_room(api, chat):
    assert await changes(api, chat.alice, chat.room) == {"messages": [], "hasMore": False, "lastChangeSeq": 0}


async def test_changes_from_the_beginning_list_each_message_once_in_change_order(api, chat):
    m1, m2, m3 = [await send(chat.a, chat.room, f"m{i}") for i in (1, 2, 3)]
    await message_ok(api, "PATCH", chat.alice, chat.room, m1["id"], json={"content": "m1 v2"})
    m1_latest = await message_ok(api, "PATCH", chat.alice, chat.room, m1["id"], json={"content": "m1 v3"})
    page = await changes(api, chat.bob, chat.room, after=0)
    assert page == {"messages": [m2, m3, m1_latest], "hasMore": False, "lastChangeSeq": m1_latest["changeSeq"]}
    assert await changes(api, chat.bob, chat.room) == page  # after defaults to 0
    for message in page["messages"]:
        assert_full_message_shape(message)


async def test_changes_after_a_position_hold_only_later_changes_in_latest_state(api, chat):
    m1, m2, m3 = [await send(chat.a, chat.room, f"m{i}") for i in (1, 2, 3)]
    held = m3["changeSeq"]
    await message_ok(api, "PUT", chat.bob, chat.room, m2["id"], emoji="👍")
    m1_gone = await message_ok(api, "DELETE", chat.alice, chat.room, m1["id"])
    m2_latest = await message_ok(api, "PUT", chat.alice, chat.room, m2["id"], emoji="🎉")
    page = await changes(api, chat.bob, chat.room, after=held)
    assert page == {"messages": [m1_gone, m2_latest], "hasMore": False, "lastChangeSeq": m2_latest["changeSeq"]}
    assert (await room_view(api, chat.bob, chat.room))["lastChangeSeq"] == m2_latest["changeSeq"]


async def test_changes_page_by_limit_until_has_more_is_false(api, chat):
    sent = [await send(chat.a, chat.room, f"m{i}") for i in range(7)]
    seen: list[dict[str, Any]] = []
    after, pages = 0, 0
    while True:
        page = await changes(api, chat.bob, chat.room, after=after, limit=3)
        pages += 1
        seen += page["messages"]
        if not page["hasMore"]:
            break
        assert len(page["messages"]) == 3 and page["lastChangeSeq"] == page["messages"][-1]["changeSeq"]
        after = page["lastChangeSeq"]
    assert seen == sent and pages == 3
    room_latest = (await room_view(api, chat.bob, chat.room))["lastChangeSeq"]
    assert page["lastChangeSeq"] == sent[-1]["changeSeq"] == room_latest


async def test_changes_after_the_latest_position_are_empty(api, chat):
    message = await send(chat.a, chat.room, "only")
    latest = message["changeSeq"]
    for after in (latest, latest + 1000):
        assert await changes(api, chat.bob, chat.room, after=after) == {"messages": [], "hasMore": False,
                                                                        "lastChangeSeq": latest}


async def test_changes_limit_defaults_to_100_and_allows_500(api, chat):
    sent = [await send(chat.a, chat.room, f"m{i}") for i in range(101)]
    first = await changes(api, chat.bob, chat.room)
    assert first["messages"] == sent[:100] and first["hasMore"] is True
    assert first["lastChangeSeq"] == sent[99]["changeSeq"]
    assert await changes(api, chat.bob, chat.room, limit=500) == {
        "messages": sent, "hasMore": False, "lastChangeSeq": sent[-1]["changeSeq"]}


async def test_following_changes_during_concurrent_writes_misses_nothing(api, chat, connect):
    messages = [await send(chat.a, chat.room, f"m{i}") for i in range(5)]
    writers_clients = (chat.a, await connect(chat.alice), chat.b)
    held: dict[str, dict[str, Any]] = {}
    after = 0

    async def follow() -> None:
        """Apply ``changes?after=`` pages until ``hasMore`` is false, as a client does."""
        nonlocal after
        while True:
            page = await changes(api, chat.bob, chat.room, after=after, limit=3)
            assert page["lastChangeSeq"] >= after
            for message in page["messages"]:
                if message["id"] not in held or message["changeSeq"] > held[message["id"]]["changeSeq"]:
                    held[message["id"]] = message
            after = page["lastChangeSeq"]
            if not page["hasMore"]:
                return

    async def write(n: int) -> None:
        for i in range(12):
            await react(writers_clients[n], chat.room, messages[(i + n) % 5]["id"], chr(0x1F600 + 12 * n + i))

    writers = asyncio.gather(*(write(n) for n in range(3)))
    while not writers.done():
        await follow()
    await writers
    await follow()
    assert held == {m["id"]: m for m in (await api.history(chat.bob, chat.room))["messages"]}


@pytest.mark.parametrize("params, field", [
    pytest.param({"after": "-1"}, "after", id="after-negative"),
    pytest.param({"after": "abc"}, "after", id="after-text"),
    pytest.param({"after": "1.5"}, "after", id="after-fraction"),
    pytest.param({"after": ""}, "after", id="after-empty"),
    pytest.param({"limit": "0"}, "limit", id="limit-0"),
    pytest.param({"limit": "501"}, "limit", id="limit-501"),
    pytest.param({"limit": "-1"}, "limit", id="limit-negative"),
    pytest.param({"limit": "x"}, "limit", id="limit-text"),
    pytest.param({"limit": ""}, "limit", id="limit-empty"),
])
async def test_changes_with_bad_after_or_limit_is_400(api, chat, params, field):
    status, body = await api.request("GET", changes_path(chat.room), token=chat.alice.token, params=params)
    assert_error(status, body, 400, "invalid", field)


async def test_changes_membership_404_and_401(api, chat):
    await send(chat.a, chat.room, "members only")
    status, body = await api.request("GET", changes_path(chat.room), token=chat.carol.token)
    assert_error(status, body, 403, "forbidden")
    assert "members only" not in str(body)
    status, body = await api.request("GET", changes_path(UNKNOWN_ID), token=chat.alice.token)
    assert_error(status, body, 404, "not_found")
    status, body = await api.request("GET", changes_path(chat.room))
    assert_error(status, body, 401, "unauthorized")
