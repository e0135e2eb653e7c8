"""Contract section 5: acknowledged means stored, and reconnecting with ``after`` leaves no gap."""

from __future__ import annotations

import asyncio

from .helpers import WAIT, send, sync_marker


async def test_acked_messages_survive_a_restart(server, api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    a = await connect(alice)
    acked = [await send(a, room["id"], f"before restart {i}", clientMessageId=f"r-{i}") for i in range(5)]
    # The last ones go out as fast as possible and the server stops right after the final ack.
    acked += await asyncio.gather(*(send(a, room["id"], f"burst {i}") for i in range(10)))
    await server.stop()
    await server.start()

    history = await api.history(bob, room["id"], limit=100)
    stored = {m["id"]: m for m in history["messages"]}
    assert len(history["messages"]) == len(acked) and not history["hasMore"]
    for message in acked:
        assert stored[message["id"]] == message

    # The restarted server serves the same room, and a resend after the restart is still idempotent.
    a2, b = await connect(alice), await connect(bob)
    again = await send(a2, room["id"], "before restart 0", clientMessageId="r-0")
    assert again == acked[0]
    await sync_marker(a2, room["id"], [a2, b])
    assert [d for d in b.events("ReceiveMessage") if d["id"] == acked[0]["id"]] == []


async def test_catch_up_after_reconnect_returns_exactly_the_missed_messages(server, api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    group = await api.create_group(alice, [bob], name="busy")
    a, b = await connect(alice), await connect(bob)

    seen = {}
    for target in (room, group):
        for i in range(3):
            message = await send(a, target["id"], f"seen {i}")
            await b.wait_for("ReceiveMessage", lambda d, m=message: d["id"] == m["id"], timeout=WAIT)
        seen[target["id"]] = b.events("ReceiveMessage")[-1]["id"]
    await b.close()

    missed = {target["id"]: [] for target in (room, group)}
    for i in range(7):
        for target in (room, group):
            missed[target["id"]].append(await send(a, target["id"], f"missed {i}"))
    await server.stop()  # a restart in the middle of the gap
    await server.start()
    a = await connect(alice)
    for target in (room, group):
        missed[target["id"]].append(await send(a, target["id"], "missed after restart"))

    b = await connect(bob)
    for room_id, last_seen in seen.items():
        page = await api.history(bob, room_id, after=last_seen)
        assert page["messages"] == missed[room_id] and page["hasMore"] is False

        # In small pages, oldest first, following the cursor: the same messages, no duplicates.
        collected, cursor = [], last_seen
        while True:
            page = await api.history(bob, room_id, after=cursor, limit=3)
            collected += page["messages"]
            if not page["hasMore"]:
                break
            cursor = page["messages"][-1]["id"]
        assert collected == missed[room_id]

    # Live delivery resumes after the catch-up.
    live = await send(a, room["id"], "live again")
    await b.wait_for("ReceiveMessage", lambda d: d["id"] == live["id"], timeout=WAIT)
    assert (await api.history(bob, room["id"], after=missed[room["id"]][-1]["id"]))["messages"] == [live]


async def test_catch_up_when_nothing_was_missed(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    a = await connect(alice)
    last = await send(a, room["id"], "the last one")
    page = await api.history(bob, room["id"], after=last["id"])
    assert page == {"messages": [], "hasMore": False}
