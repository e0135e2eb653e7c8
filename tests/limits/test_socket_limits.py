"""Socket.IO limits: events per connection, sustained abuse, messages per user, connections per user."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from kallemny_sio.config import Rate
from kallemny_sio.core import limits as core_limits
from kallemny_sio.keys import CHAT
from tests.conftest import ChatClient

from .helpers import (DEFAULTS, WAIT, assert_ack_rate_limited, connect_error_message, limits, raw_ws_chat, receive_packet,
                      refused, wait_closed, ws_call)


async def _pair(api):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    assert room.status == 201, room
    return alice, bob, room.body["id"]


async def _ok_send(client: ChatClient, room_id: str, content: str | None = None) -> dict:
    ack = await client.call("SendMessage", {"roomId": room_id, "content": content or f"marker-{uuid.uuid4().hex}"})
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    return ack["message"]


# -- events per connection ------------------------------------------------------------


async def test_a_burst_past_event_burst_is_refused_and_nothing_of_it_stored(start_server, http_for, clients):
    assert (DEFAULTS.events_per_second, DEFAULTS.event_burst) == (20.0, 50)
    server = await start_server(limits(events_per_second=4.0, event_burst=5))
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    a = await clients(server, alice)

    contents = [f"burst {n}" for n in range(12)]
    acks = await asyncio.gather(*(a.call("SendMessage", {"roomId": room_id, "content": c}) for c in contents))

    assert len(acks) == 12  # every event got an ack
    assert [ack.get("ok") for ack in acks[:5]] == [True] * 5, acks
    assert [ack["message"]["content"] for ack in acks[:5]] == contents[:5]
    waits = [assert_ack_rate_limited(ack) for ack in acks[5:]]
    stored = [m["content"] for m in await api.messages(bob, room_id)]
    assert sorted(stored) == sorted(contents[:5]), stored

    # Other events share the connection's budget; another connection has its own.
    assert_ack_rate_limited(await a.call("JoinChatRoom", room_id))
    b = await clients(server, bob)
    await _ok_send(b, room_id)

    # Once the advertised wait has passed, the connection is served again.
    await asyncio.sleep(max(waits) / 1000 + 0.05)
    await _ok_send(a, room_id, "after the wait")
    assert a.sio.connected


async def test_sustained_abuse_disconnects_that_connection_only(start_server, http_for, clients, monkeypatch):
    """A connection at 10x its rate for ABUSE_SECONDS is dropped; one at 2x and another user carry on.

    ABUSE_SECONDS is shrunk from 10 s to 2 s: the server counts whole clock
    seconds, so the first (partial) second of abuse may be short, and the drop
    comes between ABUSE_SECONDS - 1 and ABUSE_SECONDS (+ one event) after the
    abuse starts. 2 s keeps the lower bound above zero.
    """
    assert core_limits.ABUSE_SECONDS == 10.0 and core_limits.ABUSE_FACTOR == 10
    monkeypatch.setattr(core_limits, "ABUSE_SECONDS", 2.0)
    server = await start_server(limits(events_per_second=5.0, event_burst=5))
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    carol = await api.register()
    group = await api.create_group(bob, [carol], name="bystanders")
    abuser, busy, bystander = await clients(server, alice), await clients(server, carol), await clients(server, bob)
    await _ok_send(abuser, room_id)  # control: its events are served before the abuse

    dropped = asyncio.Event()
    abuser.sio.on("disconnect", lambda *reason: dropped.set(), namespace="/chat")
    stop = asyncio.Event()

    async def abuse() -> int:  # ~80 events a second (16x), without waiting for acks
        sent = 0
        while not dropped.is_set() and not stop.is_set():
            for _ in range(4):
                try:
                    await abuser.sio.emit("JoinChatRoom", room_id, namespace="/chat")
                except Exception:
                    return sent
                sent += 1
            await asyncio.sleep(0.05)
        return sent

    async def keep_busy() -> tuple[int, int]:  # 2x the rate: refused often, never dropped
        ok = limited = 0
        while not stop.is_set():
            ack = await busy.call("JoinChatRoom", group.body["id"])
            if ack.get("ok"):
                ok += 1
            else:
                assert_ack_rate_limited(ack)
                limited += 1
            await asyncio.sleep(0.1)
        return ok, limited

    async def bystand() -> list[float]:
        latencies = []
        while not stop.is_set():
            started = time.monotonic()
            await _ok_send(bystander, group.body["id"])
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.2)
        return latencies

    started = time.monotonic()
    tasks = [asyncio.ensure_future(abuse()), asyncio.ensure_future(keep_busy()), asyncio.ensure_future(bystand())]
    try:
        await asyncio.wait_for(dropped.wait(), 8)
        abused_s = time.monotonic() - started
    finally:
        stop.set()
        sent, (busy_ok, busy_limited), latencies = await asyncio.gather(*tasks)

    assert not abuser.sio.connected
    assert 0.9 <= abused_s <= 4.5, abused_s  # not at once, and within the window (+ slack)
    assert sent >= 50 * abused_s * 0.8, (sent, abused_s)
    assert busy.sio.connected and bystander.sio.connected
    assert busy_limited > 0 and busy_ok > 0, (busy_ok, busy_limited)
    assert latencies and max(latencies) < 2, latencies
    # Both keep being served after the abuser is gone.
    await _ok_send(bystander, room_id)
    assert (await busy.call("JoinChatRoom", group.body["id"])).get("ok") in (True, False)
    assert busy.sio.connected


async def test_sustained_abuse_closes_a_raw_connection(start_server, http_for, http, monkeypatch):
    """A hostile client ignores the namespace DISCONNECT; the server must close the transport itself."""
    monkeypatch.setattr(core_limits, "ABUSE_SECONDS", 2.0)
    server = await start_server(limits(events_per_second=5.0, event_burst=5))
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    ws = await raw_ws_chat(http, server, alice.token)
    assert (await ws_call(ws, 1, "JoinChatRoom", room_id)).get("ok") is True  # control: served before

    async def abuse() -> None:
        while not ws.closed:
            for _ in range(4):
                await ws.send_str(f'42/chat,["JoinChatRoom","{room_id}"]')
            await asyncio.sleep(0.05)

    flood = asyncio.ensure_future(abuse())
    try:
        # The abuse is seen and the whole connection goes, not only the namespace
        # (else the client could CONNECT again on it).
        await wait_closed(ws, timeout=8)
    finally:
        flood.cancel()
        await asyncio.gather(flood, return_exceptions=True)
        await ws.close()


# -- messages per user ------------------------------------------------------------------------


async def test_messages_per_user_across_connections(start_server, http_for, clients):
    server = await start_server(limits(messages_per_user=Rate(5, 600)))
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    phone, laptop, b = await clients(server, alice), await clients(server, alice), await clients(server, bob)

    sent = []
    for n in range(5):  # spread over both of alice's connections: all accepted
        sent.append((await _ok_send((phone, laptop)[n % 2], room_id, f"m{n}"))["content"])
    for device in (phone, laptop):
        assert_ack_rate_limited(await device.call("SendMessage", {"roomId": room_id, "content": "over"}))
    # Another user is unaffected; alice's other events are not messages.
    await _ok_send(b, room_id, "bob's")
    assert (await phone.call("JoinChatRoom", room_id)).get("ok") is True
    stored = [m["content"] for m in await api.messages(bob, room_id)]
    assert stored == [*sent, "bob's"], stored


async def test_messages_per_user_default(start_server, http_for, clients):
    assert DEFAULTS.messages_per_user == Rate(30, 10)
    server = await start_server(limits(messages_per_user=DEFAULTS.messages_per_user))
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    phone, laptop = await clients(server, alice), await clients(server, alice)

    started = time.monotonic()
    acks = await asyncio.gather(*((phone, laptop)[n % 2].call("SendMessage", {"roomId": room_id, "content": f"m{n}"})
                                  for n in range(40)))
    elapsed = time.monotonic() - started
    accepted = [a for a in acks if a.get("ok")]
    refills = int(elapsed / (10 / 30)) + 1  # one more every 333 ms while the 40 arrive
    assert 30 <= len(accepted) <= 30 + refills, (len(accepted), elapsed)
    for ack in acks:
        if not ack.get("ok"):
            assert_ack_rate_limited(ack)
    assert len(await api.messages(bob, room_id)) == len(accepted)


# -- connections per user --------------------------------------------------------------------------


async def test_connections_per_user_default(start_server, http_for, clients):
    assert DEFAULTS.connections_per_user == 20
    server = await start_server(limits(connections_per_user=DEFAULTS.connections_per_user))
    api = http_for(server)
    alice, bob, room_id = await _pair(api)
    open_ = [await clients(server, alice) for _ in range(20)]  # up to the limit: accepted

    data = await refused(server.url, auth={"token": alice.token})
    assert connect_error_message(data) == "rate_limited", data
    assert (await clients(server, bob)).sio.connected  # another user is unaffected

    await open_[0].close()
    chat = server.app[CHAT]

    async def closed() -> None:
        while await chat.connection_count(alice.id) >= 20:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(closed(), WAIT)
    again = await clients(server, alice)
    await _ok_send(again, room_id)
    assert connect_error_message(await refused(server.url, auth={"token": alice.token})) == "rate_limited"
