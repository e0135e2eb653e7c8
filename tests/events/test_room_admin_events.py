"""Rooms and members (contract section 7) as Socket.IO clients see them.

Who gets ``AddedToRoom`` / ``UserJoinedRoom`` / ``RemovedFromRoom`` /
``UserLeftRoom`` / ``MemberUpdated`` / ``RoomUpdated`` / ``RoomDeleted``: every
connection of the right users, and nobody else (absence proven with a marker
message on the same connection); delivery following membership; mutes, bans,
blocks, ownership hand-over and moderators deleting messages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest

from tests.api.helpers import assert_iso, iso_in, my_room, roles, room_path
from tests.conftest import Account
from .helpers import (
    WAIT,
    assert_error,
    assert_member_shape,
    assert_room_shape,
    assert_user_shape,
    count,
    send,
    sync_marker,
)


@dataclasses.dataclass
class Group:
    """A group of owner, admin and member (the member on two connections); an outsider sharing a
    private room with the owner and another with the member, all connected; and a newcomer (not connected).

    ``side`` rooms are where markers reach users outside the group.
    """

    owner: Account
    admin: Account
    member: Account
    outsider: Account
    newcomer: Account
    room: str
    o: Any
    a: Any
    m1: Any
    m2: Any
    x: Any
    side_member: str  # owner + member, private
    side_outsider: str  # owner + outsider, private

    @property
    def everyone(self) -> list[Any]:
        return [self.o, self.a, self.m1, self.m2]


async def rest(api, method: str, who: Account, path: str, json: Any = None, want: int = 200) -> Any:
    status, body = await api.request(method, path, token=who.token, json=json)
    assert status == want, (method, path, json, status, body)
    return body


@pytest.fixture
async def group(api, connect) -> Group:
    owner, admin, member, outsider, newcomer = [await api.register() for _ in range(5)]
    room = (await api.create_group(owner, [admin, member], name="crew"))["id"]
    await rest(api, "PATCH", owner, room_path(room, "members", admin.id), {"role": "admin"})
    side_member = (await api.create_private(owner, member))["id"]
    side_outsider = (await api.create_private(owner, outsider))["id"]
    o, a, x = await connect(owner), await connect(admin), await connect(outsider)
    m1, m2 = await connect(member), await connect(member, transports=["polling"])
    return Group(owner, admin, member, outsider, newcomer, room, o, a, m1, m2, x, side_member, side_outsider)


async def outsider_saw_nothing(g: Group, *events: str) -> None:
    """The outsider's connection, once it has a later marker, never got any of ``events`` about the room."""
    await sync_marker(g.o, g.side_outsider, [g.x])
    for event in events:
        assert [d for d in g.x.events(event) if d.get("roomId") == g.room] == [], event
    assert [d for d in g.x.events("ReceiveMessage") if d["roomId"] == g.room] == []


# -- adding members ----------------------------------------------------------------------------


async def test_added_member_gets_added_to_room_on_every_connection(api, connect, group):
    g = group
    n1, n2 = await connect(g.newcomer), await connect(g.newcomer, transports=["polling"])
    await rest(api, "POST", g.admin, room_path(g.room, "members"), {"userIds": [g.newcomer.id]})
    for client in (n1, n2):
        room = await client.wait_for("AddedToRoom", lambda d: d["id"] == g.room, timeout=WAIT)
        assert_room_shape(room)
        assert room["myRole"] == "member" and room["name"] == "crew"
        assert {m["id"] for m in room["members"]} == {g.owner.id, g.admin.id, g.member.id, g.newcomer.id}


async def test_members_get_user_joined_room_with_added_by(api, connect, group):
    g = group
    n = await connect(g.newcomer)
    await rest(api, "POST", g.admin, room_path(g.room, "members"), {"userIds": [g.newcomer.id]})
    for client in g.everyone:  # the actor included, every connection
        joined = await client.wait_for("UserJoinedRoom", lambda d: d["roomId"] == g.room, timeout=WAIT)
        assert set(joined) == {"roomId", "user", "addedBy"}, joined
        assert_user_shape(joined["user"])
        assert joined["user"]["id"] == g.newcomer.id and joined["addedBy"] == g.admin.id
        assert joined["user"]["isOnline"] is True
    # The newcomer hears AddedToRoom, not UserJoinedRoom about themselves; members get no AddedToRoom.
    await sync_marker(g.o, g.room, [n, *g.everyone])
    assert count(n, "UserJoinedRoom", roomId=g.room) == 0 and count(n, "AddedToRoom", id=g.room) == 1
    for client in g.everyone:
        assert count(client, "UserJoinedRoom", roomId=g.room) == 1
        assert count(client, "AddedToRoom") == 0
    await outsider_saw_nothing(g, "UserJoinedRoom", "AddedToRoom")


async def test_one_user_joined_room_per_new_member_and_none_for_existing_ones(api, connect, group):
    g = group
    await rest(api, "POST", g.owner, room_path(g.room, "members"),
               {"userIds": [g.newcomer.id, g.outsider.id, g.member.id]})
    await g.x.wait_for("AddedToRoom", lambda d: d["id"] == g.room, timeout=WAIT)
    await sync_marker(g.o, g.room, [*g.everyone, g.x])
    for client in (g.o, g.a, g.m1):
        joined = {d["user"]["id"]: d["user"]["isOnline"] for d in client.events("UserJoinedRoom")
                  if d["roomId"] == g.room}
        assert joined == {g.newcomer.id: False, g.outsider.id: True}  # live presence: only the outsider is connected


async def test_added_member_receives_the_next_message(api, connect, group):
    g = group
    n1, n2 = await connect(g.newcomer), await connect(g.newcomer, transports=["polling"])
    before = await send(g.o, g.room, "before the newcomer")
    await rest(api, "POST", g.owner, room_path(g.room, "members"), {"userIds": [g.newcomer.id]})
    after = await send(g.o, g.room, "welcome")  # sent right after the 200, not after AddedToRoom arrived
    for client in (n1, n2):
        await client.wait_for("ReceiveMessage", lambda d: d["id"] == after["id"], timeout=WAIT)
        assert count(client, "ReceiveMessage", id=before["id"]) == 0
    reply = await send(n2, g.room, "thanks")  # and may send there
    await g.m1.wait_for("ReceiveMessage", lambda d: d["id"] == reply["id"], timeout=WAIT)


async def test_added_member_receives_typing_and_read_receipts(api, connect, group):
    g = group
    n = await connect(g.newcomer)
    await rest(api, "POST", g.owner, room_path(g.room, "members"), {"userIds": [g.newcomer.id]})
    assert (await g.a.call("SendTypingIndicator", {"roomId": g.room, "isTyping": True}))["ok"] is True
    typing = await n.wait_for("UserTyping", lambda d: d["roomId"] == g.room, timeout=WAIT)
    assert typing["userId"] == g.admin.id and typing["isTyping"] is True
    message = await send(g.o, g.room, "read me")
    assert (await g.m1.call("MarkMessagesAsRead", {"roomId": g.room, "messageId": message["id"]}))["ok"] is True
    await n.wait_for("MessagesRead", lambda d: d["roomId"] == g.room and d["userId"] == g.member.id, timeout=WAIT)


async def test_removed_then_added_again_receives_again(api, group):
    g = group
    await rest(api, "DELETE", g.owner, room_path(g.room, "members", g.member.id), want=204)
    await g.m1.wait_for("RemovedFromRoom", lambda d: d["roomId"] == g.room, timeout=WAIT)
    await rest(api, "POST", g.owner, room_path(g.room, "members"), {"userIds": [g.member.id]})
    for client in (g.m1, g.m2):
        await client.wait_for("AddedToRoom", lambda d: d["id"] == g.room, timeout=WAIT)
    message = await send(g.o, g.room, "welcome back")
    for client in (g.m1, g.m2):
        await client.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)
        assert count(client, "ReceiveMessage", id=message["id"]) == 1


async def test_refused_add_sends_no_events(api, connect, group):
    g = group
    side = (await api.create_private(g.owner, g.newcomer))["id"]
    n = await connect(g.newcomer)
    status, _ = await api.request("POST", room_path(g.room, "members"), token=g.member.token,
                                  json={"userIds": [g.newcomer.id]})
    assert status == 403
    await sync_marker(g.o, side, [n])
    await sync_marker(g.o, g.room, g.everyone)
    assert n.events("AddedToRoom") == []
    for client in g.everyone:
        assert client.events("UserJoinedRoom") == []


# -- removing, leaving, banning ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["removed", "left", "banned"])
async def test_departure_events_and_delivery_stops(api, group, how):
    g = group
    if how == "removed":
        await rest(api, "DELETE", g.admin, room_path(g.room, "members", g.member.id), want=204)
    elif how == "left":
        await rest(api, "DELETE", g.member, room_path(g.room, "members", g.member.id), want=204)
    else:
        await rest(api, "PUT", g.admin, room_path(g.room, "bans", g.member.id), want=204)
    # Sent right after the 204: it must not reach the one who went.
    after = await send(g.o, g.room, "after the departure")
    for client in (g.m1, g.m2):
        gone = await client.wait_for("RemovedFromRoom", lambda d: d["roomId"] == g.room, timeout=WAIT)
        assert gone == {"roomId": g.room, "reason": how}
    for client in (g.o, g.a):
        left = await client.wait_for("UserLeftRoom", lambda d: d["roomId"] == g.room, timeout=WAIT)
        assert left == {"roomId": g.room, "userId": g.member.id, "reason": how}
        await client.wait_for("ReceiveMessage", lambda d: d["id"] == after["id"], timeout=WAIT)
    await sync_marker(g.o, g.side_member, [g.m1, g.m2])
    for client in (g.m1, g.m2):
        assert count(client, "ReceiveMessage", id=after["id"]) == 0
        assert count(client, "UserLeftRoom") == 0  # the remaining members' event
        assert count(client, "RemovedFromRoom") == 1
    for client in (g.o, g.a):
        assert count(client, "RemovedFromRoom") == 0
    await outsider_saw_nothing(g, "UserLeftRoom", "RemovedFromRoom")
    assert_error(await g.m1.call("SendMessage", g.room, "still here?"), "forbidden")


async def test_a_removed_member_no_longer_sees_typing_or_read_receipts(api, group):
    g = group
    await rest(api, "DELETE", g.owner, room_path(g.room, "members", g.member.id), want=204)
    assert (await g.a.call("SendTypingIndicator", {"roomId": g.room, "isTyping": True}))["ok"] is True
    assert (await g.a.call("MarkMessagesAsRead", {"roomId": g.room}))["ok"] is True
    await g.o.wait_for("UserTyping", lambda d: d["roomId"] == g.room, timeout=WAIT)
    await g.o.wait_for("MessagesRead", lambda d: d["roomId"] == g.room, timeout=WAIT)
    await sync_marker(g.o, g.side_member, [g.m1, g.m2])
    for client in (g.m1, g.m2):
        assert [d for d in client.events("UserTyping") if d["roomId"] == g.room] == []
        assert [d for d in client.events("MessagesRead") if d["roomId"] == g.room] == []


async def test_leave_chat_room_is_the_same_as_removing_oneself(api, group):
    g = group
    assert await g.m1.call("LeaveChatRoom", {"roomId": g.room}) == {"ok": True}
    for client in (g.m1, g.m2):
        assert await client.wait_for("RemovedFromRoom", lambda d: d["roomId"] == g.room, timeout=WAIT) \
            == {"roomId": g.room, "reason": "left"}
    assert await g.o.wait_for("UserLeftRoom", lambda d: d["roomId"] == g.room, timeout=WAIT) \
        == {"roomId": g.room, "userId": g.member.id, "reason": "left"}
    assert g.member.id not in await roles(api, g.owner, g.room)


async def test_refused_removal_sends_no_events_and_keeps_delivering(api, group):
    g = group
    status, _ = await api.request("DELETE", room_path(g.room, "members", g.owner.id), token=g.admin.token)
    assert status == 403
    message = await sync_marker(g.o, g.room, [*g.everyone])
    assert message["roomId"] == g.room
    for client in g.everyone:
        assert client.events("UserLeftRoom") == [] and client.events("RemovedFromRoom") == []


async def test_a_banned_user_cannot_join_a_public_group_until_unbanned(api, group):
    g = group
    await rest(api, "PATCH", g.owner, room_path(g.room), {"isPublic": True})
    await rest(api, "PUT", g.owner, room_path(g.room, "bans", g.outsider.id), want=204)  # ahead of time
    assert_error(await g.x.call("JoinChatRoom", g.room), "forbidden")
    assert_error(await g.x.call("JoinChatRoom", {"roomId": g.room}), "forbidden")
    assert g.outsider.id not in await roles(api, g.owner, g.room)
    await rest(api, "DELETE", g.admin, room_path(g.room, "bans", g.outsider.id), want=204)
    ack = await g.x.call("JoinChatRoom", g.room)
    assert ack["ok"] is True, ack
    await g.o.wait_for("UserJoinedRoom", lambda d: d["roomId"] == g.room and d["user"]["id"] == g.outsider.id,
                       timeout=WAIT)


async def test_a_banned_member_cannot_join_back(api, group):
    g = group
    await rest(api, "PATCH", g.owner, room_path(g.room), {"isPublic": True})
    await rest(api, "PUT", g.owner, room_path(g.room, "bans", g.member.id), want=204)
    await g.m1.wait_for("RemovedFromRoom", lambda d: d["roomId"] == g.room, timeout=WAIT)
    assert_error(await g.m1.call("JoinChatRoom", g.room), "forbidden")
    assert_error(await g.m1.call("SendMessage", g.room, "let me back"), "forbidden")


# -- roles and mutes ---------------------------------------------------------------------------------------


async def test_member_updated_reaches_every_member_connection(api, group):
    g = group
    member = await rest(api, "PATCH", g.owner, room_path(g.room, "members", g.member.id), {"role": "admin"})
    want = {"roomId": g.room, "userId": g.member.id, "role": "admin", "mutedUntil": None}
    assert (member["role"], member["mutedUntil"]) == ("admin", None)
    for client in g.everyone:
        assert await client.wait_for("MemberUpdated", lambda d: d["roomId"] == g.room, timeout=WAIT) == want
    until = iso_in(600)
    await rest(api, "PATCH", g.admin, room_path(g.room, "members", g.member.id), {"role": "member"}, want=403)
    await rest(api, "PATCH", g.owner, room_path(g.room, "members", g.member.id), {"mutedUntil": until})
    for client in g.everyone:
        got = await client.wait_for("MemberUpdated", lambda d: d["mutedUntil"] is not None, timeout=WAIT)
        assert got == {"roomId": g.room, "userId": g.member.id, "role": "admin", "mutedUntil": until}
    await sync_marker(g.o, g.room, g.everyone)
    for client in g.everyone:
        assert count(client, "MemberUpdated") == 2  # not one for the refused call
    await outsider_saw_nothing(g, "MemberUpdated")


async def test_an_unchanged_member_sends_no_member_updated(api, group):
    g = group
    await rest(api, "PATCH", g.owner, room_path(g.room, "members", g.admin.id), {"role": "admin"})
    await rest(api, "PATCH", g.owner, room_path(g.room, "members", g.member.id), {"mutedUntil": None})
    await sync_marker(g.o, g.room, g.everyone)
    for client in g.everyone:
        assert count(client, "MemberUpdated") == 0


async def test_handing_over_ownership_announces_both_members(api, group):
    g = group
    answer = await rest(api, "PATCH", g.owner, room_path(g.room, "members", g.member.id), {"role": "owner"})
    assert_member_shape(answer)
    assert answer["role"] == "owner"
    for client in g.everyone:
        for user, role in ((g.member, "owner"), (g.owner, "admin")):
            got = await client.wait_for("MemberUpdated", lambda d, u=user: d["userId"] == u.id, timeout=WAIT)
            assert got == {"roomId": g.room, "userId": user.id, "role": role, "mutedUntil": None}


async def test_mute_blocks_send_edit_and_react_then_expires(api, group):
    g = group
    mine = await send(g.m1, g.room, "said before the mute")
    other = await send(g.o, g.room, "something to react to")
    until = iso_in(2.0)
    member = await rest(api, "PATCH", g.admin, room_path(g.room, "members", g.member.id), {"mutedUntil": until})
    assert member["mutedUntil"] == until
    await g.m2.wait_for("MemberUpdated", lambda d: d["userId"] == g.member.id, timeout=WAIT)

    refused = [
        await g.m1.call("SendMessage", {"roomId": g.room, "content": "muted?"}),
        await g.m2.call("EditMessage", {"roomId": g.room, "messageId": mine["id"], "content": "edited"}),
        await g.m1.call("AddReaction", {"roomId": g.room, "messageId": other["id"], "emoji": "👍"}),
        await g.m1.call("RemoveReaction", {"roomId": g.room, "messageId": other["id"], "emoji": "👍"}),
    ]
    for ack in refused:
        assert_error(ack, "forbidden")
        assert until in ack["error"]["message"], ack
    # Deleting one's own message is still allowed; other rooms are unaffected.
    deleted = await g.m1.call("DeleteMessage", {"roomId": g.room, "messageId": mine["id"]})
    assert deleted["ok"] is True and deleted["message"]["deletedAt"] is not None, deleted
    await send(g.m1, g.side_member, "elsewhere I can talk")

    # No event marks the expiry: poll, bounded, until sending works; never before the time.
    deadline = assert_iso(until).timestamp() + 3.0
    while True:
        ack = await g.m1.call("SendMessage", {"roomId": g.room, "content": "free again"})
        if ack.get("ok"):
            break
        assert_error(ack, "forbidden")
        assert time.time() < deadline, f"still muted {time.time() - assert_iso(until).timestamp():.1f} s after {until}"
        await asyncio.sleep(0.1)
    assert time.time() >= assert_iso(until).timestamp() - 0.05, "the mute ended before mutedUntil"
    assert (await g.m1.call("AddReaction", {"roomId": g.room, "messageId": other["id"], "emoji": "👍"}))["ok"] is True
    await g.o.wait_for("ReceiveMessage", lambda d: d["id"] == ack["message"]["id"], timeout=WAIT)


async def test_mute_also_refuses_rest_edits_and_reactions(api, group):
    g = group
    mine = await send(g.m1, g.room, "mine")
    await rest(api, "PATCH", g.owner, room_path(g.room, "members", g.member.id), {"mutedUntil": iso_in(3600)})
    message_path = room_path(g.room, "messages", mine["id"])
    for method, path, body in (("PATCH", message_path, {"content": "edited"}),
                               ("PUT", message_path + "/reactions/%F0%9F%91%8D", None),
                               ("DELETE", message_path + "/reactions/%F0%9F%91%8D", None)):
        status, answer = await api.request(method, path, token=g.member.token, json=body)
        assert status == 403 and answer["error"]["code"] == "forbidden", (method, path, status, answer)
    status, tombstone = await api.request("DELETE", message_path, token=g.member.token)
    assert status == 200 and tombstone["deletedAt"] is not None, tombstone


async def test_lifting_a_mute_allows_at_once(api, group):
    g = group
    await rest(api, "PATCH", g.owner, room_path(g.room, "members", g.member.id), {"mutedUntil": iso_in(3600)})
    assert_error(await g.m1.call("SendMessage", g.room, "muted"), "forbidden")
    await rest(api, "PATCH", g.owner, room_path(g.room, "members", g.member.id), {"mutedUntil": None})
    for client in g.everyone:
        await client.wait_for("MemberUpdated", lambda d: d["mutedUntil"] is None, timeout=WAIT)
    message = await send(g.m1, g.room, "unmuted")
    await g.a.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)


# -- room settings and deletion ----------------------------------------------------------------------


async def test_room_updated_reaches_every_member_connection(api, group):
    g = group
    answer = await rest(api, "PATCH", g.admin, room_path(g.room), {"topic": "new topic", "customData": {"color": "red"}})
    for client in g.everyone:
        room = await client.wait_for("RoomUpdated", lambda d: d["id"] == g.room, timeout=WAIT)
        assert_room_shape(room)
        assert room["topic"] == "new topic" and room["customData"] == {"color": "red"} and room["name"] == "crew"
        assert room == answer  # one payload, the actor's view
    await sync_marker(g.o, g.room, g.everyone)
    for client in g.everyone:
        assert count(client, "RoomUpdated") == 1
    await outsider_saw_nothing(g, "RoomUpdated")


async def test_room_deleted_reaches_every_member_connection(api, group):
    g = group
    await rest(api, "DELETE", g.owner, room_path(g.room), want=204)
    for client in g.everyone:
        assert await client.wait_for("RoomDeleted", lambda d: d["roomId"] == g.room, timeout=WAIT) == {"roomId": g.room}
    await outsider_saw_nothing(g, "RoomDeleted")
    ack = await g.m1.call("SendMessage", g.room, "anyone?")
    assert ack["ok"] is False and ack["error"]["code"] in ("not_found", "forbidden"), ack
    status, _ = await api.request("GET", room_path(g.room, "messages"), token=g.member.token)
    assert status == 404
    # The connections still work for their other rooms.
    await sync_marker(g.o, g.side_member, [g.o, g.m1, g.m2])


async def test_refused_room_changes_send_nothing(api, group):
    g = group
    await rest(api, "PATCH", g.member, room_path(g.room), {"topic": "mine now"}, want=403)
    await rest(api, "DELETE", g.admin, room_path(g.room), want=403)
    await sync_marker(g.o, g.room, g.everyone)
    for client in g.everyone:
        assert client.events("RoomUpdated") == [] and client.events("RoomDeleted") == []


# -- ownership when the owner leaves; the last member -------------------------------------------------


async def test_owner_leaving_announces_the_heir(api, connect):
    owner, admin, member = [await api.register() for _ in range(3)]
    room = (await api.create_group(owner, [member, admin], name="succession"))["id"]
    await rest(api, "PATCH", owner, room_path(room, "members", admin.id), {"role": "admin"})
    o, a, m = await connect(owner), await connect(admin), await connect(member)
    assert await o.call("LeaveChatRoom", room) == {"ok": True}
    for client in (a, m):
        await client.wait_for("UserLeftRoom", lambda d: d["userId"] == owner.id, timeout=WAIT)
        heir = await client.wait_for("MemberUpdated", lambda d: d["roomId"] == room, timeout=WAIT)
        assert heir == {"roomId": room, "userId": admin.id, "role": "owner", "mutedUntil": None}
    assert (await my_room(api, admin, room))["myRole"] == "owner"
    await sync_marker(a, room, [a, m])
    assert count(m, "MemberUpdated") == 1 and count(o, "MemberUpdated") == 0


async def test_the_last_member_leaving_deletes_the_group(api, connect):
    owner, member = await api.register(), await api.register()
    room = (await api.create_group(owner, [member], name="ending"))["id"]
    o, m = await connect(owner), await connect(member)
    assert await m.call("LeaveChatRoom", room) == {"ok": True}
    assert await o.call("LeaveChatRoom", room) == {"ok": True}
    assert await o.wait_for("RemovedFromRoom", lambda d: d["roomId"] == room, timeout=WAIT) \
        == {"roomId": room, "reason": "left"}
    for who in (owner, member):
        status, _ = await api.request("GET", room_path(room, "messages"), token=who.token)
        assert status == 404


# -- moderators delete others' messages ---------------------------------------------------------------


@pytest.mark.parametrize("moderator", ["owner", "admin"])
async def test_owner_and_admin_delete_another_members_message(api, group, moderator):
    g = group
    actor = g.o if moderator == "owner" else g.a
    message = await send(g.m1, g.room, "inappropriate")
    ack = await actor.call("DeleteMessage", {"roomId": g.room, "messageId": message["id"]})
    assert ack["ok"] is True and ack["message"]["deletedAt"] is not None and ack["message"]["content"] == "", ack
    for client in g.everyone:
        await client.wait_for("MessageDeleted", lambda d: d["id"] == message["id"], timeout=WAIT)


async def test_a_member_cannot_delete_anothers_message_and_a_moderator_can_over_rest(api, group):
    g = group
    message = await send(g.a, g.room, "from the admin")
    assert_error(await g.m1.call("DeleteMessage", {"roomId": g.room, "messageId": message["id"]}), "forbidden")
    status, _ = await api.request("DELETE", room_path(g.room, "messages", message["id"]), token=g.member.token)
    assert status == 403
    status, body = await api.request("DELETE", room_path(g.room, "messages", message["id"]), token=g.owner.token)
    assert status == 200 and body["deletedAt"] is not None, body


async def test_moderation_does_not_reach_private_rooms(api, group):
    g = group
    message = await send(g.m1, g.side_member, "just between us")
    # The owner of the group is a plain member of their private room: deleting the other's message is refused.
    assert_error(await g.o.call("DeleteMessage", {"roomId": g.side_member, "messageId": message["id"]}), "forbidden")


# -- blocks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("blocker", ["owner", "member"])
async def test_a_block_stops_both_sides_of_a_private_room(api, group, blocker):
    g = group
    by, other = (g.owner, g.member) if blocker == "owner" else (g.member, g.owner)
    await rest(api, "PUT", by, f"/api/chat/blocks/{other.id}", want=204)
    for client in (g.o, g.m1):
        assert_error(await client.call("SendMessage", g.side_member, "hello?"), "forbidden")
    for creator, partner in ((g.owner, g.member), (g.member, g.owner)):
        status, body = await api.request("POST", "/api/chat/rooms", token=creator.token,
                                         json={"type": "private", "memberIds": [partner.id]})
        assert status == 403 and body["error"]["code"] == "forbidden", body
    # Their group is unaffected.
    in_group = await send(g.m1, g.room, "the group still works")
    await g.o.wait_for("ReceiveMessage", lambda d: d["id"] == in_group["id"], timeout=WAIT)
    # Nothing from the refused sends reached anyone.
    await sync_marker(g.a, g.room, [g.o, g.m1, g.m2])
    for client in (g.o, g.m1, g.m2):
        assert [d for d in client.events("ReceiveMessage") if d["roomId"] == g.side_member] == []
    # Unblocking restores the private room.
    await rest(api, "DELETE", by, f"/api/chat/blocks/{other.id}", want=204)
    again = await send(g.m1, g.side_member, "back on speaking terms")
    await g.o.wait_for("ReceiveMessage", lambda d: d["id"] == again["id"], timeout=WAIT)


# -- concurrent changes ------------------------------------------------------------------------------------


async def test_two_admins_adding_the_same_user_at_once_announce_it_once(api, connect, group):
    g = group
    n = await connect(g.newcomer)
    path = room_path(g.room, "members")
    answers = await asyncio.gather(*(api.request("POST", path, token=who.token, json={"userIds": [g.newcomer.id]})
                                     for who in (g.owner, g.admin)))
    assert [status for status, _ in answers] == [200, 200], answers
    await sync_marker(g.o, g.room, [n, *g.everyone])
    assert count(n, "AddedToRoom", id=g.room) == 1
    for client in g.everyone:
        assert count(client, "UserJoinedRoom", roomId=g.room) == 1
    assert list(await roles(api, g.owner, g.room)).count(g.newcomer.id) == 1


async def test_leaving_while_being_removed_announces_one_departure(api, group):
    g = group
    path = room_path(g.room, "members", g.member.id)
    answers = await asyncio.gather(api.request("DELETE", path, token=g.owner.token),
                                   api.request("DELETE", path, token=g.member.token))
    statuses = sorted(status for status, _ in answers)
    assert statuses[0] == 204 and statuses[1] in (204, 403, 404), answers
    await sync_marker(g.o, g.side_member, [g.m1, g.m2])
    await sync_marker(g.o, g.room, [g.o, g.a])
    for client in (g.m1, g.m2):
        assert count(client, "RemovedFromRoom", roomId=g.room) == 1
    for client in (g.o, g.a):
        assert count(client, "UserLeftRoom", roomId=g.room) == 1


async def test_a_ban_racing_a_join_leaves_the_user_out(api, group):
    g = group
    await rest(api, "PATCH", g.owner, room_path(g.room), {"isPublic": True})
    ban = api.request("PUT", room_path(g.room, "bans", g.outsider.id), token=g.owner.token)
    (status, _), join = await asyncio.gather(ban, g.x.call("JoinChatRoom", g.room))
    assert status == 204
    assert g.outsider.id not in await roles(api, g.owner, g.room), f"banned, yet a member (join ack {join})"
    if join.get("ok"):  # joined first: the ban then removed them
        await g.x.wait_for("RemovedFromRoom", lambda d: d["roomId"] == g.room, timeout=WAIT)
    else:
        assert_error(join, "forbidden")
    assert_error(await g.x.call("JoinChatRoom", g.room), "forbidden")


async def test_a_ban_racing_an_add_leaves_the_user_out(api, group):
    g = group
    ban = api.request("PUT", room_path(g.room, "bans", g.newcomer.id), token=g.owner.token)
    add = api.request("POST", room_path(g.room, "members"), token=g.admin.token, json={"userIds": [g.newcomer.id]})
    (ban_status, _), (add_status, _) = await asyncio.gather(ban, add)
    assert ban_status == 204 and add_status in (200, 403), (ban_status, add_status)
    assert g.newcomer.id not in await roles(api, g.owner, g.room), f"banned, yet a member (add answered {add_status})"
