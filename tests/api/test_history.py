"""``GET /api/chat/rooms/{id}/messages``: membership, limits and paging by message cursors."""

from __future__ import annotations

import pytest

from kallemny_sio.schemas import MessagePageOut
from tests.api.helpers import assert_conforms, assert_error, send


def _path(room_id: str) -> str:
    return f"/api/chat/rooms/{room_id}/messages"


@pytest.fixture
async def pair(api):
    alice, bob = await api.register(), await api.register()
    return alice, bob, await api.create_private(alice, bob)


async def _fill(client, room_id: str, count: int, prefix: str = "m") -> list[dict]:
    return [await send(client, room_id, f"{prefix}{i}") for i in range(1, count + 1)]


async def _page(api, who, room_id: str, **params) -> tuple[list[str], bool]:
    body = await api.history(who, room_id, **params)
    assert_conforms(MessagePageOut, body)
    return [m["content"] for m in body["messages"]], body["hasMore"]


async def test_empty_room_has_an_empty_page(api, pair):
    alice, _, room = pair
    assert await _page(api, alice, room["id"]) == ([], False)


async def test_messages_are_oldest_first_and_whole(api, pair, connect):
    alice, bob, room = pair
    client = await connect(alice)
    sent = [await send(client, room["id"], "first", clientMessageId="c1"), await send(client, room["id"], "second")]
    body = await api.history(bob, room["id"])
    assert body == {"messages": sent, "hasMore": False}
    assert body["messages"][0]["clientMessageId"] == "c1"
    assert body["messages"][1]["clientMessageId"] is None


async def test_default_limit_is_50_and_the_latest(api, pair, connect):
    alice, _, room = pair
    await _fill(await connect(alice), room["id"], 51)
    contents, more = await _page(api, alice, room["id"])
    assert contents == [f"m{i}" for i in range(2, 52)]
    assert more is True


@pytest.mark.parametrize("count, limit, more", [
    pytest.param(3, 3, False, id="exactly-limit"),
    pytest.param(4, 3, True, id="limit-plus-one"),
    pytest.param(2, 3, False, id="fewer-than-limit"),
    pytest.param(3, 1, True, id="limit-one"),
])
async def test_has_more_without_a_cursor(api, pair, connect, count, limit, more):
    alice, _, room = pair
    await _fill(await connect(alice), room["id"], count)
    contents, has_more = await _page(api, alice, room["id"], limit=limit)
    assert contents == [f"m{i}" for i in range(count - min(count, limit) + 1, count + 1)]
    assert has_more is more


async def test_limit_100_is_allowed(api, pair, connect):
    alice, _, room = pair
    await _fill(await connect(alice), room["id"], 3)
    assert await _page(api, alice, room["id"], limit=100) == (["m1", "m2", "m3"], False)


async def test_before_pages_backwards_oldest_first(api, pair, connect):
    alice, _, room = pair
    messages = await _fill(await connect(alice), room["id"], 7)
    ids = [m["id"] for m in messages]
    assert await _page(api, alice, room["id"], limit=2, before=ids[4]) == (["m3", "m4"], True)
    assert await _page(api, alice, room["id"], limit=2, before=ids[2]) == (["m1", "m2"], False)
    assert await _page(api, alice, room["id"], limit=2, before=ids[1]) == (["m1"], False)
    assert await _page(api, alice, room["id"], limit=2, before=ids[0]) == ([], False)


async def test_walking_back_with_before_visits_every_message_once(api, pair, connect):
    alice, _, room = pair
    messages = await _fill(await connect(alice), room["id"], 11)
    seen: list[str] = []
    body = await api.history(alice, room["id"], limit=3)
    while True:
        seen[:0] = [m["id"] for m in body["messages"]]
        if not body["hasMore"]:
            break
        body = await api.history(alice, room["id"], limit=3, before=body["messages"][0]["id"])
    assert seen == [m["id"] for m in messages]


async def test_after_pages_forwards_for_catch_up(api, pair, connect):
    alice, _, room = pair
    messages = await _fill(await connect(alice), room["id"], 7)
    ids = [m["id"] for m in messages]
    assert await _page(api, alice, room["id"], limit=2, after=ids[1]) == (["m3", "m4"], True)
    assert await _page(api, alice, room["id"], limit=2, after=ids[4]) == (["m6", "m7"], False)
    assert await _page(api, alice, room["id"], limit=3, after=ids[4]) == (["m6", "m7"], False)
    assert await _page(api, alice, room["id"], limit=2, after=ids[6]) == ([], False)
    assert await _page(api, alice, room["id"], after=ids[0]) == ([f"m{i}" for i in range(2, 8)], False)


async def test_catching_up_with_after_gets_exactly_the_missed_messages(api, pair, connect):
    alice, bob, room = pair
    client = await connect(alice)
    seen = await _fill(client, room["id"], 3, "old")
    missed = await _fill(client, room["id"], 8, "new")
    got: list[dict] = []
    cursor = seen[-1]["id"]
    while True:
        body = await api.history(bob, room["id"], limit=3, after=cursor)
        got += body["messages"]
        if not body["hasMore"]:
            break
        cursor = body["messages"][-1]["id"]
    assert got == missed


async def test_not_a_member_is_forbidden(api, pair, connect):
    alice, _, room = pair
    await _fill(await connect(alice), room["id"], 1)
    stranger = await api.register()
    status, body = await api.request("GET", _path(room["id"]), token=stranger.token)
    assert_error(status, body, 403, "forbidden")
    assert "m1" not in str(body)


@pytest.mark.parametrize("room_id", ["nope", "0123456789abcdef01234567", "999999"])
async def test_no_such_room_is_404(api, room_id):
    me = await api.register()
    status, body = await api.request("GET", _path(room_id), token=me.token)
    assert_error(status, body, 404, "not_found")


@pytest.mark.parametrize("params, field", [
    pytest.param({"limit": "0"}, "limit", id="limit-0"),
    pytest.param({"limit": "101"}, "limit", id="limit-101"),
    pytest.param({"limit": "-1"}, "limit", id="limit-negative"),
    pytest.param({"limit": "abc"}, "limit", id="limit-abc"),
    pytest.param({"limit": "1.5"}, "limit", id="limit-fraction"),
    pytest.param({"limit": ""}, "limit", id="limit-empty"),
    pytest.param({"before": ""}, "before", id="before-empty"),
    pytest.param({"after": ""}, "after", id="after-empty"),
    pytest.param({"before": "x" * 200}, "before", id="before-too-long"),
])
async def test_invalid_query_names_the_parameter(api, pair, params, field):
    alice, _, room = pair
    status, body = await api.request("GET", _path(room["id"]), token=alice.token, params=params)
    assert_error(status, body, 400, "invalid", field)


async def test_before_and_after_together_are_invalid(api, pair, connect):
    alice, _, room = pair
    messages = await _fill(await connect(alice), room["id"], 3)
    status, body = await api.request("GET", _path(room["id"]), token=alice.token,
                                     params={"before": messages[2]["id"], "after": messages[0]["id"]})
    message = assert_error(status, body, 400, "invalid")
    assert "before" in message or "after" in message


@pytest.mark.parametrize("field", ["before", "after"])
@pytest.mark.parametrize("cursor", ["nope", "0123456789abcdef01234567", "999999"])
async def test_unknown_cursor_names_the_field(api, pair, connect, field, cursor):
    alice, _, room = pair
    await _fill(await connect(alice), room["id"], 2)
    status, body = await api.request("GET", _path(room["id"]), token=alice.token, params={field: cursor})
    assert_error(status, body, 400, "invalid", field)


@pytest.mark.parametrize("field", ["before", "after"])
async def test_cursor_from_another_room_is_invalid(api, pair, connect, field):
    alice, bob, room = pair
    other = await api.create_group(alice, [bob], name="other")
    client = await connect(alice)
    await _fill(client, room["id"], 2)
    foreign = await send(client, other["id"], "elsewhere")
    status, body = await api.request("GET", _path(room["id"]), token=alice.token, params={field: foreign["id"]})
    assert_error(status, body, 400, "invalid", field)


async def test_a_member_who_left_a_group_can_no_longer_read_it(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_group(alice, [bob], name="g")
    bob_client = await connect(bob)
    assert (await bob_client.call("LeaveChatRoom", {"roomId": room["id"]}))["ok"] is True
    status, body = await api.request("GET", _path(room["id"]), token=bob.token)
    assert_error(status, body, 403, "forbidden")
