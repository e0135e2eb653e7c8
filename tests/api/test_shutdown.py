"""Stopping the server with clients still connected: prompt, and their presence is recorded."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.api.helpers import assert_iso

STOP_BOUND_S = 10.0


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_stop_with_connected_clients_is_prompt_and_records_last_seen(server, api, connect, transport):
    alice = await api.register()
    await connect(alice, transports=[transport])
    await asyncio.wait_for(server.stop(), STOP_BOUND_S)
    await server.start()
    status, users = await api.request("GET", "/api/chat/users", token=alice.token, params={"q": alice.username})
    assert status == 200, users
    assert users[0]["isOnline"] is False
    assert_iso(users[0]["lastSeen"])


async def test_stop_with_a_polling_client_that_went_silent_is_prompt(server, api, http):
    """A long-polling client that stops polling never collects its close packet; stop must not wait for it."""
    alice = await api.register()
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    async with http.get(base) as response:
        handshake = await response.text()
    sid = json.loads(handshake[1:])["sid"]
    async with http.post(f"{base}&sid={sid}", data="40/chat," + json.dumps({"token": alice.token})) as response:
        assert response.status == 200
    async with http.get(f"{base}&sid={sid}") as response:
        assert (await response.text()).startswith("40/chat,")
    await asyncio.wait_for(server.stop(), STOP_BOUND_S)
