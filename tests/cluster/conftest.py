"""The multi-node suite: real ``redis-server`` processes and real server processes.

Every node is ``python -m kallemny_sio`` in its own process, on its own port,
sharing one SQLite file (several processes on one host may share it) and one
Redis. Heartbeats, node expiry and typing expiry are shortened so faults
show within seconds. Clients talk to the nodes over real sockets with the
same ``Api`` and ``ChatClient`` as the single-node suites.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest

from tests.conftest import TEST_SECRET, Account, Api, ChatClient, free_port
from tests.support.redis_server import RedisTestServer

REPO_ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_SECONDS = 0.3
NODE_TTL_SECONDS = 2.0
TYPING_TTL_SECONDS = 1.0
NODE_START_TIMEOUT = 30.0
CHANNEL = "kallemny"


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check`` (plain or async) until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it if the test process dies."""
    with contextlib.suppress(Exception):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Node:
    """One server process."""

    def __init__(self, name: str, port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = process
        self.log_path = log_path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the node dies without any cleanup."""
        if self.alive:
            self.process.kill()
        self.process.wait(10)

    def terminate(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_count(self, text: str) -> int:
        return sum(1 for line in self.log().splitlines() if text in line)

    def __repr__(self) -> str:
        return f"Node({self.name} :{self.port})"


class Cluster:
    """Starts nodes on one Redis and one SQLite file; makes accounts and clients on them."""

    def __init__(self, redis: RedisTestServer, workdir: Path, http: aiohttp.ClientSession) -> None:
        self.redis = redis
        self.workdir = workdir
        self.http = http
        self.database_url = f"sqlite:///{workdir / 'kallemny.db'}"
        self.redis_url = redis.url  # what the nodes are given (a test may use a Sentinel URL instead)
        self.nodes: list[Node] = []
        self.clients: list[ChatClient] = []

    # -- nodes -------------------------------------------------------------------

    def _spawn(self, name: str, port: int, settings: dict[str, str] | None = None) -> Node:
        env = dict(os.environ)
        env.update(
            JWT_SECRET=TEST_SECRET,
            PRESENCE_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
            PRESENCE_NODE_TTL_SECONDS=str(NODE_TTL_SECONDS),
            TYPING_TTL_SECONDS=str(TYPING_TTL_SECONDS),
            REDIS_CHANNEL=CHANNEL,
            RATE_LIMITS="0",  # the limits have their own suites (tests/limits/)
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
        )
        for var in ("REDIS_URL", "DATABASE_URL", "MONGODB_URI", "KALLEMNY_ENV", "PORT", "HOST"):
            env.pop(var, None)
        env.update(settings or {})
        log_path = self.workdir / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "kallemny_sio", "--port", str(port), "--database-url", self.database_url,
                 "--redis-url", self.redis_url],
                env=env, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        return Node(name, port, process, log_path)

    async def start(self, count: int = 1, backplane: str = "ok", settings: dict[str, str] | None = None) -> list[Node]:
        """Start ``count`` nodes at once and wait until each serves with its link in state ``backplane``.

        ``settings``: environment variables for these nodes, over the suite's (``PRESENCE_HEARTBEAT_SECONDS``...).
        """
        first = len(self.nodes)
        started = [self._spawn(f"node{first + i}", free_port(), settings) for i in range(count)]
        self.nodes.extend(started)
        for index, node in enumerate(started):
            for attempt in range(3):
                if await self._wait_started(node, backplane):
                    break
                if "PORT:" not in node.log() or attempt == 2:  # only a lost race for the port is retried
                    pytest.fail(f"{node} did not start:\n{node.log()[-3000:]}")
                node = self._spawn(node.name, free_port(), settings)
                started[index] = node
                self.nodes[first + index] = node
        return started

    async def _wait_started(self, node: Node, backplane: str) -> bool:
        deadline = time.monotonic() + NODE_START_TIMEOUT
        while time.monotonic() < deadline:
            if not node.alive:
                return False
            status, body = await self.healthz(node)
            if status == 200 and body.get("backplane") == backplane:
                return True
            await asyncio.sleep(0.1)
        pytest.fail(f"{node} did not become healthy within {NODE_START_TIMEOUT:.0f} s:\n{node.log()[-3000:]}")

    async def healthz(self, node: Node) -> tuple[int, dict[str, Any]]:
        """``GET /healthz`` → (status, body); (0, {}) when the node does not answer."""
        try:
            async with self.http.get(node.url + "/healthz", timeout=aiohttp.ClientTimeout(total=3)) as response:
                return response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return 0, {}

    async def wait_backplane(self, node: Node, state: str, timeout: float = 15.0) -> dict[str, Any]:
        """Wait until /healthz answers 200 with ``"backplane": state``; returns the body."""
        async def check() -> Any:
            status, body = await self.healthz(node)
            return body if status == 200 and body.get("backplane") == state else None
        return await eventually(check, timeout, f"{node} backplane {state!r}")

    def stop_all(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.kill()

    # -- accounts and clients -------------------------------------------------------

    def api(self, node: Node) -> Api:
        return Api(node.url, self.http)

    async def register(self, node: Node, prefix: str = "user") -> Account:
        return await self.api(node).register(f"{prefix}_{uuid.uuid4().hex[:10]}")

    async def connect(self, node: Node, account: Account) -> ChatClient:
        client = ChatClient(f"{account.username}@{node.name}")
        self.clients.append(client)
        return await client.connect(node.url, account.token)

    async def close_clients(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)


@pytest.fixture
async def cluster(redis_server: RedisTestServer, tmp_path: Path, http: aiohttp.ClientSession) -> AsyncIterator[Cluster]:
    """Start nodes with ``await cluster.start(n)``; every process is killed at the end, pass or fail."""
    group = Cluster(redis_server, tmp_path, http)
    try:
        yield group
    finally:
        await group.close_clients()
        group.stop_all()


# -- helpers for the tests ------------------------------------------------------


async def send(client: ChatClient, room_id: str, content: str) -> dict[str, Any]:
    """``SendMessage`` and assert it was acknowledged; returns the stored message."""
    ack = await client.call("SendMessage", {"roomId": room_id, "content": content,
                                            "clientMessageId": uuid.uuid4().hex})
    assert ack.get("ok") is True, ack
    return ack["message"]


async def received(client: ChatClient, message_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """Wait until ``client`` got ``ReceiveMessage`` for ``message_id``."""
    return await client.wait_for("ReceiveMessage", lambda m: m["id"] == message_id, timeout=timeout)


async def settle(room_id: str, senders: list[ChatClient], watchers: list[ChatClient]) -> None:
    """Everything the senders' nodes published before now has reached the watchers.

    Each sender sends a marker message in ``room_id`` (a room every watcher is
    in); a node's emits reach each other node in the order it published them,
    so once a watcher has every marker it has whatever was published before them.
    """
    markers = [await send(sender, room_id, f"marker {uuid.uuid4().hex[:6]}") for sender in senders]
    for watcher in watchers:
        for marker in markers:
            await received(watcher, marker["id"])


def count(client: ChatClient, event: str, predicate: Callable[[Any], bool] = lambda d: True) -> int:
    return sum(1 for data in client.events(event) if predicate(data))
