"""While the database is unreachable: ``/healthz`` says 503 and the API answers ``unavailable``.

Uses a MongoDB-compatible test server of its own, killed with SIGKILL as a
crash would; runs once (the outage is the point, not the backend).
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest

from tests.api.conftest import CheckedApi
from tests.api.helpers import assert_error
from tests.conftest import RunningServer, make_settings

RECOVERY_BOUND_S = 30.0
PASSWORD = "correct horse battery"


@pytest.fixture
async def outage_server(private_mongo) -> AsyncIterator[RunningServer]:
    server = await RunningServer(make_settings(private_mongo.database_url("outage"))).start()
    yield server
    await server.stop()


async def _health_until(api: CheckedApi, status: int) -> dict[str, Any]:
    """Poll ``/healthz`` until it answers ``status`` (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECOVERY_BOUND_S
    while True:
        got, body = await api.request("GET", "/healthz")
        if got == status:
            return body
        assert loop.time() < deadline, f"/healthz still {got} {body}"
        await asyncio.sleep(0.1)


async def test_outage_is_503_unavailable_and_recovers(private_mongo, outage_server, http):
    api = CheckedApi(outage_server.url, http)
    alice = await api.register(password=PASSWORD)
    assert (await api.request("GET", "/healthz"))[0] == 200

    await asyncio.to_thread(private_mongo.kill)
    body = await _health_until(api, 503)
    assert body["status"] != "ok"

    status, error = await api.request("GET", "/api/chat/rooms", token=alice.token)
    assert_error(status, error, 503, "unavailable")
    status, error = await api.request("POST", "/api/auth/login", json={"username": alice.username, "password": PASSWORD})
    assert_error(status, error, 503, "unavailable")

    await asyncio.to_thread(private_mongo.restart)
    await _health_until(api, 200)
    status, body = await api.request("POST", "/api/auth/login", json={"username": alice.username, "password": PASSWORD})
    assert status == 200 and body["user"]["id"] == alice.id
