"""Fixtures of the limits suite (contract section 9 and the hostile-client fixes).

Servers here run on SQLite only, each on a fresh database file of the test's
own, with limits given per test (``start_server(limits(...))``; the default
is :data:`helpers.LOOSE`: every limit on, none in reach) and
``TRUSTED_PROXIES=127.0.0.0/8``, so that a test can speak for several client
addresses through ``X-Forwarded-For``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest

from kallemny_sio.config import Limits
from tests.conftest import Account, ChatClient, RunningServer, make_settings

from .helpers import LOOSE, Http


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await start_server(limits(...), **settings overrides)`` → a started :class:`RunningServer`."""
    started: list[RunningServer] = []

    async def start(limits: Limits = LOOSE, **overrides: Any) -> RunningServer:
        values: dict[str, Any] = dict(limits=limits, trusted_proxies=("127.0.0.0/8",))
        values.update(overrides)
        settings = make_settings(f"sqlite:///{tmp_path / f'k{len(started)}.db'}", **values)
        server = await RunningServer(settings).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        await server.stop()


@pytest.fixture
def http_for(http: aiohttp.ClientSession) -> Callable[[RunningServer], Http]:
    """``http_for(server)`` → an :class:`Http` client of that server."""
    return lambda server: Http(server, http)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Any]]:
    """``await clients(server, account, **connect kwargs)`` → a connected :class:`ChatClient` (closed after)."""
    made: list[ChatClient] = []

    async def connect(server: RunningServer, account: Account, **kwargs: Any) -> ChatClient:
        client = ChatClient(account.username)
        made.append(client)
        return await client.connect(server.url, account.token, **kwargs)

    yield connect
    for client in made:
        await client.close()
