"""Shared fixtures: a real server on a free 127.0.0.1 port, HTTP and Socket.IO clients.

Tests pass configuration into ``create_app`` (no globals patched). The chat
suites run once per store backend: ``sqlite`` always, and ``mongo-compat``
(a MongoDB-compatible test server, SecantusDB, started by the fixtures) or
``mongodb`` (a real MongoDB, when ``KALLEMNY_TEST_MONGODB_URL`` is set).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import socket
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import aiohttp
import pytest
import socketio
from aiohttp import web

from kallemny_sio.__main__ import HTTP_HANDLER_ARGS
from kallemny_sio.app import create_app
from kallemny_sio.config import Limits, Settings
from tests.support.redis_server import RedisTestServer

TEST_SECRET = "test-secret-" + "x" * 40
_names = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_name(prefix: str = "user") -> str:
    """A fresh valid username."""
    return f"{prefix}{next(_names)}_{uuid.uuid4().hex[:6]}"


# -- store backends ----------------------------------------------------------


def _backends() -> list[Any]:
    mongo_id = "mongodb" if os.environ.get("KALLEMNY_TEST_MONGODB_URL") else "mongo-compat"
    if os.environ.get("KALLEMNY_TEST_BACKENDS"):
        wanted = os.environ["KALLEMNY_TEST_BACKENDS"].split(",")
    else:
        wanted = ["sqlite", mongo_id]
    return [pytest.param(b, id=b) for b in wanted]


@pytest.fixture(scope="session")
def mongo_server() -> Any:
    """A MongoDB-compatible test server (or the real MongoDB named by the variable)."""
    from tests.support.mongo_server import MongoTestServer

    server = MongoTestServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_mongo(tmp_path: Path) -> Any:
    """A MongoDB-compatible test server of the test's own, free to kill and restart."""
    pytest.importorskip("secantus", reason="the MongoDB-compatible test server is not installed")
    from tests.support.mongo_server import MongoTestServer

    (tmp_path / "mongo").mkdir()
    mongo = MongoTestServer(stand_in=True, storage_dir=tmp_path / "mongo")
    mongo.start()
    yield mongo
    mongo.stop()


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for one test, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kallemny.db'}"
    server = request.getfixturevalue("mongo_server")
    return server.database_url(f"kt_{uuid.uuid4().hex[:12]}")


# -- the server ---------------------------------------------------------------


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test server (fast typing expiry, fixed secret, limits off unless ``limits=`` says otherwise).

    The suites register hundreds of users and send in bursts from one address;
    the limits of contract section 9 have their own suite (``tests/limits/``).
    """
    values: dict[str, Any] = dict(
        host="127.0.0.1",
        port=free_port(),
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        typing_ttl_seconds=0.5,
        limits=Limits.off(),
    )
    values.update(overrides)
    return Settings(**values)


class RunningServer:
    """A real server in this process, listening on a real socket."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.port}"
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None

    async def start(self) -> "RunningServer":
        self.app = create_app(self.settings)
        self._runner = web.AppRunner(self.app, shutdown_timeout=2.0, **HTTP_HANDLER_ARGS)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.settings.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def server_factory(database_url: str) -> AsyncIterator[Callable[..., Any]]:
    """Start servers with settings overrides: ``await server_factory(typing_ttl_seconds=0.2)``."""
    started: list[RunningServer] = []

    async def start(**overrides: Any) -> RunningServer:
        srv = await RunningServer(make_settings(database_url, **overrides)).start()
        started.append(srv)
        return srv

    yield start
    for srv in reversed(started):
        await srv.stop()


@pytest.fixture
async def server(server_factory: Callable[..., Any]) -> RunningServer:
    """One server on the test's fresh database."""
    return await server_factory()


# -- HTTP ------------------------------------------------------------------


@dataclasses.dataclass
class Account:
    token: str
    user: dict[str, Any]

    @property
    def id(self) -> str:
        return self.user["id"]

    @property
    def username(self) -> str:
        return self.user["username"]


class Api:
    """A small REST client: returns ``(status, json)``."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.session = session

    async def request(self, method: str, path: str, *, token: str | None = None, json: Any = None,
                      params: Any = None, data: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        async with self.session.request(method, self.base_url + path, json=json, params=params, data=data, headers=hdrs) as r:
            body = await r.read()
            try:
                parsed = await r.json(content_type=None) if body else None
            except ValueError:
                parsed = body.decode(errors="replace")
            return r.status, parsed

    async def register(self, username: str | None = None, password: str = "correct horse battery", **extra: Any) -> Account:
        status, body = await self.request("POST", "/api/auth/register",
                                          json={"username": username or unique_name(), "password": password, **extra})
        assert status == 201, body
        return Account(body["token"], body["user"])

    async def create_group(self, owner: Account, members: list[Account], name: str = "group", is_public: bool = False) -> dict[str, Any]:
        status, body = await self.request("POST", "/api/chat/rooms", token=owner.token, json={
            "type": "group", "name": name, "memberIds": [m.id for m in members], "isPublic": is_public})
        assert status == 201, body
        return body

    async def create_private(self, owner: Account, other: Account) -> dict[str, Any]:
        status, body = await self.request("POST", "/api/chat/rooms", token=owner.token,
                                          json={"type": "private", "memberIds": [other.id]})
        assert status in (200, 201), body
        return body

    async def history(self, who: Account, room_id: str, **params: Any) -> dict[str, Any]:
        status, body = await self.request("GET", f"/api/chat/rooms/{room_id}/messages", token=who.token, params=params)
        assert status == 200, body
        return body


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(server: RunningServer, http: aiohttp.ClientSession) -> Api:
    return Api(server.url, http)


# -- Socket.IO -----------------------------------------------------------------

EVENTS = ["ReceiveMessage", "UserOnline", "UserOffline", "UserTyping", "MessagesRead",
          "RoomCreated", "UserJoinedRoom", "UserLeftRoom", "Resync",
          "MessageUpdated", "MessageDeleted",                                           # contract section 6
          "RoomUpdated", "AddedToRoom", "RemovedFromRoom", "MemberUpdated", "RoomDeleted",  # section 7
          "UserUpdated"]                                                                # section 8


class ChatClient:
    """A python-socketio client on ``/chat`` that records every server event."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        for event in EVENTS:
            self.sio.on(event, self._recorder(event), namespace="/chat")

    def _recorder(self, event: str) -> Callable[[Any], None]:
        def record(data: Any = None) -> None:
            self.received.append((event, data))
            self._changed.set()
        return record

    async def connect(self, url: str, token: str | None = None, transports: list[str] | None = None, **kwargs: Any) -> "ChatClient":
        await self.sio.connect(url, namespaces=["/chat"], auth={"token": token} if token else None,
                               transports=transports or ["websocket"], wait_timeout=5, **kwargs)
        return self

    async def call(self, event: str, *args: Any, timeout: float = 5) -> Any:
        """Emit with an acknowledgement and return the ack."""
        data: Any = args[0] if len(args) == 1 else tuple(args)
        return await self.sio.call(event, data, namespace="/chat", timeout=timeout)

    def events(self, name: str) -> list[Any]:
        return [d for e, d in self.received if e == name]

    async def wait_for(self, name: str, predicate: Callable[[Any], bool] = lambda d: True, timeout: float = 5) -> Any:
        """The first recorded ``name`` event matching ``predicate`` (waits for it)."""
        async def _wait() -> Any:
            while True:
                for event, data in self.received:
                    if event == name and predicate(data):
                        return data
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(_wait(), timeout)

    async def close(self) -> None:
        """Disconnect, bounded: over long-polling python-engineio's client waits for its
        pending GET, which the server only answers at the next ping."""
        if self.sio.connected:
            try:
                await asyncio.wait_for(self.sio.disconnect(), 2)
            except asyncio.TimeoutError:
                pass


@pytest.fixture
async def connect(server: RunningServer) -> AsyncIterator[Callable[..., Any]]:
    """``await connect(account)`` → a connected :class:`ChatClient` (closed after the test)."""
    clients: list[ChatClient] = []

    async def _connect(account: Account | None, url: str | None = None, **kwargs: Any) -> ChatClient:
        client = ChatClient(account.username if account else "")
        clients.append(client)
        return await client.connect(url or server.url, account.token if account else None, **kwargs)

    yield _connect
    for client in clients:
        await client.close()


@pytest.fixture
def redis_server() -> Iterator[RedisTestServer]:
    """A fresh ``redis-server`` for one test (fault tests stop and restart it)."""
    server = RedisTestServer()
    server.start()
    try:
        yield server
    finally:
        server.close()
