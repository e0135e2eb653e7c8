"""Acknowledged means stored: accounts, rooms and acked messages survive a server restart."""

from __future__ import annotations

from tests.api.helpers import send

PASSWORD = "correct horse battery"


async def test_accounts_rooms_and_acked_messages_survive_a_restart(server, api, connect):
    alice, bob = await api.register(password=PASSWORD), await api.register(password=PASSWORD)
    room = await api.create_private(alice, bob)
    client = await connect(alice)
    acked = [await send(client, room["id"], f"before restart {i}", clientMessageId=f"c{i}") for i in range(3)]
    await client.close()

    await server.stop()
    await server.start()

    status, body = await api.request("POST", "/api/auth/login", json={"username": alice.username, "password": PASSWORD})
    assert status == 200, body
    assert body["user"]["id"] == alice.id
    status, rooms = await api.request("GET", "/api/chat/rooms", token=bob.token)  # a token from before the restart
    assert status == 200, rooms
    assert [r["id"] for r in rooms] == [room["id"]]
    assert rooms[0]["lastMessage"] == acked[-1]
    assert rooms[0]["unreadCount"] == 3
    page = await api.history(bob, room["id"])
    assert page == {"messages": acked, "hasMore": False}


async def test_idempotency_and_order_survive_a_restart(server, api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    client = await connect(alice)
    first = await send(client, room["id"], "one", clientMessageId="k1")
    await client.close()
    await server.stop()
    await server.start()

    client = await connect(alice)
    again = await send(client, room["id"], "one", clientMessageId="k1")
    assert again == first
    second = await send(client, room["id"], "two")
    page = await api.history(bob, room["id"])
    assert [m["id"] for m in page["messages"]] == [first["id"], second["id"]]
    after = await api.history(bob, room["id"], after=first["id"])
    assert after == {"messages": [second], "hasMore": False}


async def test_a_username_stays_taken_after_a_restart(server, api):
    alice = await api.register(password=PASSWORD)
    await server.stop()
    await server.start()
    status, body = await api.request("POST", "/api/auth/register", json={"username": alice.username.upper(), "password": PASSWORD})
    assert status == 409, body
