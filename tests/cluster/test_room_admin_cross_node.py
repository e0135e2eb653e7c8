"""Rooms and members (contract section 7) across nodes: membership changes made on one node
take effect on the others before the REST call returns."""

from __future__ import annotations

from tests.cluster.conftest import Cluster, count, received, send, settle


def room_path(room_id: str, *parts: str) -> str:
    return "/".join([f"/api/chat/rooms/{room_id}", *parts])


async def test_a_member_removed_on_node_a_stops_receiving_on_node_b_before_the_204(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    owner, member, third = (await cluster.register(a, "owner"), await cluster.register(b, "member"),
                            await cluster.register(a, "third"))
    group = await cluster.api(a).create_group(owner, [member, third], name="crew")
    side = await cluster.api(a).create_private(owner, member)  # where markers reach the member afterwards
    owner_a, third_b, member_b = (await cluster.connect(a, owner), await cluster.connect(b, third),
                                  await cluster.connect(b, member))
    await settle(group["id"], [owner_a], [member_b, third_b])

    status, body = await cluster.api(a).request("DELETE", room_path(group["id"], "members", member.id),
                                                token=owner.token)
    assert status == 204, body
    after = await send(owner_a, group["id"], "right after the 204")  # no wait in between
    marker = await send(owner_a, side["id"], "marker")

    await received(third_b, after["id"])  # the room still reaches node B's other member
    await received(member_b, marker["id"])
    assert count(member_b, "ReceiveMessage", lambda m: m["id"] == after["id"]) == 0
    gone = await member_b.wait_for("RemovedFromRoom", lambda d: d["roomId"] == group["id"])
    assert gone == {"roomId": group["id"], "reason": "removed"}
    left = await third_b.wait_for("UserLeftRoom", lambda d: d["roomId"] == group["id"])
    assert left == {"roomId": group["id"], "userId": member.id, "reason": "removed"}


async def test_a_member_banned_on_node_a_stops_receiving_on_node_b(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    owner, member = await cluster.register(a, "owner"), await cluster.register(b, "member")
    group = await cluster.api(a).create_group(owner, [member], name="crew")
    side = await cluster.api(a).create_private(owner, member)
    owner_a, member_b = await cluster.connect(a, owner), await cluster.connect(b, member)

    status, body = await cluster.api(a).request("PUT", room_path(group["id"], "bans", member.id), token=owner.token)
    assert status == 204, body
    after = await send(owner_a, group["id"], "right after the ban")
    marker = await send(owner_a, side["id"], "marker")
    await received(member_b, marker["id"])
    assert count(member_b, "ReceiveMessage", lambda m: m["id"] == after["id"]) == 0
    assert (await member_b.wait_for("RemovedFromRoom", lambda d: d["roomId"] == group["id"]))["reason"] == "banned"
    ack = await member_b.call("SendMessage", {"roomId": group["id"], "content": "back?"})
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack


async def test_a_member_added_on_node_a_gets_added_to_room_and_the_next_message_on_node_b(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    owner, newcomer, other = (await cluster.register(a, "owner"), await cluster.register(b, "new"),
                              await cluster.register(b, "other"))
    group = await cluster.api(a).create_group(owner, [other], name="crew")
    owner_a, newcomer_b, other_b = (await cluster.connect(a, owner), await cluster.connect(b, newcomer),
                                    await cluster.connect(b, other))

    status, room = await cluster.api(a).request("POST", room_path(group["id"], "members"), token=owner.token,
                                                json={"userIds": [newcomer.id]})
    assert status == 200, room
    first = await send(owner_a, group["id"], "right after the 200")  # not waiting for AddedToRoom
    assert await received(newcomer_b, first["id"]) == first
    added = await newcomer_b.wait_for("AddedToRoom", lambda d: d["id"] == group["id"])
    assert added["myRole"] == "member" and newcomer.id in {m["id"] for m in added["members"]}
    joined = await other_b.wait_for("UserJoinedRoom", lambda d: d["roomId"] == group["id"])
    assert joined["user"]["id"] == newcomer.id and joined["addedBy"] == owner.id
    reply = await send(newcomer_b, group["id"], "hello from node B")
    await received(owner_a, reply["id"])


async def test_room_deleted_on_node_a_reaches_node_b(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    owner, member = await cluster.register(a, "owner"), await cluster.register(b, "member")
    group = await cluster.api(a).create_group(owner, [member], name="doomed")
    await cluster.connect(a, owner)
    member_b = await cluster.connect(b, member)
    status, body = await cluster.api(a).request("DELETE", room_path(group["id"]), token=owner.token)
    assert status == 204, body
    assert await member_b.wait_for("RoomDeleted", lambda d: d["roomId"] == group["id"]) == {"roomId": group["id"]}
    status, _ = await cluster.api(b).request("GET", room_path(group["id"], "messages"), token=member.token)
    assert status == 404


async def test_a_removal_made_on_node_b_holds_for_a_send_on_node_a_right_after(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    owner, member = await cluster.register(a, "owner"), await cluster.register(a, "member")
    group = await cluster.api(a).create_group(owner, [member], name="crew")
    side = await cluster.api(a).create_private(owner, member)
    owner_a, member_a, member_b = (await cluster.connect(a, owner), await cluster.connect(a, member),
                                   await cluster.connect(b, member))
    await settle(group["id"], [owner_a], [member_a, member_b])  # node A has delivered to the member before

    status, body = await cluster.api(b).request("DELETE", room_path(group["id"], "members", member.id),
                                                token=owner.token)
    assert status == 204, body
    after = await send(owner_a, group["id"], "sent on node A right after node B's 204")
    marker = await send(owner_a, side["id"], "marker")
    for client in (member_a, member_b):
        await received(client, marker["id"])
        assert count(client, "ReceiveMessage", lambda m: m["id"] == after["id"]) == 0
        assert (await client.wait_for("RemovedFromRoom", lambda d: d["roomId"] == group["id"]))["reason"] == "removed"


async def test_a_mute_set_on_node_b_holds_on_node_a_at_once(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    owner, member = await cluster.register(a, "owner"), await cluster.register(a, "member")
    group = await cluster.api(a).create_group(owner, [member], name="crew")
    member_a = await cluster.connect(a, member)
    await send(member_a, group["id"], "before the mute")
    status, body = await cluster.api(b).request("PATCH", room_path(group["id"], "members", member.id),
                                                token=owner.token, json={"mutedUntil": "2099-01-01T00:00:00.000Z"})
    assert status == 200, body
    ack = await member_a.call("SendMessage", {"roomId": group["id"], "content": "muted?"})
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    update = await member_a.wait_for("MemberUpdated", lambda d: d["roomId"] == group["id"])
    assert update == {"roomId": group["id"], "userId": member.id, "role": "member",
                      "mutedUntil": "2099-01-01T00:00:00.000Z"}
