"""A real ``redis-server`` for the multi-node tests.

Starts Debian's ``redis-server`` (``scripts/test.sh`` installs it when missing)
on a free 127.0.0.1 port, without persistence (``--save '' --appendonly no``),
and waits until it answers PING. Fault tests stop it and start it again on the
same port (a restart loses every key, as a Redis without persistence does), or
make it drop its pub/sub subscribers::

    server = RedisTestServer().start()
    server.url                   # redis://127.0.0.1:PORT/0
    server.stop()                # SIGTERM: an outage
    server.start()               # back, same port, empty
    server.client_kill_pubsub()  # CLIENT KILL TYPE pubsub: every subscriber dropped
    server.freeze(); server.thaw()  # SIGSTOP / SIGCONT: Redis hangs, then answers again
    server.stop()
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis

from tests.support.process import launch, spawn_on_free_port, wait_until_ready

EXECUTABLE = "redis-server"
DEBIAN_PATH = "/usr/bin/redis-server"
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_executable() -> str:
    """Where ``redis-server`` is; fails the test with a hint when it is not installed."""
    found = shutil.which(EXECUTABLE) or (DEBIAN_PATH if Path(DEBIAN_PATH).exists() else None)
    if found is None:
        pytest.fail("redis-server is not installed: apt-get install redis-server (scripts/test.sh does it)")
    return found


class RedisTestServer:
    """One ``redis-server`` process that can be stopped and started again on its port."""

    def __init__(self) -> None:
        self.port: int | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="kallemny-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        if self.port is None:
            raise RuntimeError("the test redis-server was never started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> "RedisTestServer":
        """Start (on a fresh port the first time, on the same port after :meth:`stop`).

        Raises:
            RuntimeError: it did not answer PING in time (the message has its log's tail).
        """
        if self.running:
            return self
        spawn_on_free_port(self)
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); the port stays this server's for :meth:`start`."""
        self.thaw()
        self._halt(signal.SIGTERM)

    def freeze(self) -> None:
        """SIGSTOP: Redis hangs with its connections open (nothing answers, nothing is refused)."""
        if self.running:
            self._process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        if self.running:
            self._process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]

    def close(self) -> None:
        """Stop and remove the working directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def client(self) -> "redis.Redis[bytes]":
        """A synchronous client (short timeouts) for checks and faults."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def client_kill_pubsub(self) -> int:
        """``CLIENT KILL TYPE pubsub``: drop every subscriber, as Redis does past its output limit.

        Returns:
            How many connections Redis closed.
        """
        with contextlib.closing(self.client()) as client:
            return int(client.client_kill_filter(_type="pubsub"))

    def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to ``channel`` (``PUBSUB NUMSUB``)."""
        with contextlib.closing(self.client()) as client:
            return int(dict(client.pubsub_numsub(channel)).get(channel.encode(), 0))

    def ping(self) -> bool:
        if self.port is None:
            return False
        try:
            with contextlib.closing(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5,
                                                socket_connect_timeout=0.5)) as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def log_tail(self, lines: int = 30) -> str:
        path = self._dir / "redis.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"

    # -- internals ---------------------------------------------------------------

    def _spawn(self) -> None:
        assert self.port is not None
        args = [
            redis_executable(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self._dir),
        ]
        self._process, self._log = launch(args, self._dir / "redis.log")

    def _wait_until_ready(self) -> None:
        wait_until_ready(self._process, self.ping, f"redis-server on port {self.port}", self.log_tail,
                         START_TIMEOUT_SECONDS, interval=0.05)

    def _halt(self, first_signal: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(first_signal)
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_SECONDS)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "RedisTestServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class RedisSentinelTestServer:
    """A Redis Sentinel (``redis-server --sentinel``) watching one :class:`RedisTestServer`."""

    def __init__(self, primary: RedisTestServer, service: str = "kallemny-primary") -> None:
        self.primary = primary
        self.service = service
        self.port: int | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="kallemny-sentinel-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:PORT/0/SERVICE``, as the server takes it."""
        return f"redis+sentinel://127.0.0.1:{self.port}/0/{self.service}"

    def start(self) -> "RedisSentinelTestServer":
        """Start and wait until the sentinel names the primary."""
        self.port = free_port()
        config = self._dir / "sentinel.conf"  # the sentinel rewrites its config: a file of its own
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self._dir}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.primary.port} 1\n"
        )
        self._process, log = launch([redis_executable(), str(config), "--sentinel"], self._dir / "sentinel.log")
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                with contextlib.closing(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5,
                                                    socket_connect_timeout=0.5)) as client:
                    if client.sentinel_get_master_addr_by_name(self.service):
                        return self
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the sentinel on port {self.port} did not answer within {START_TIMEOUT_SECONDS:.0f} s")

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_SECONDS)
        shutil.rmtree(self._dir, ignore_errors=True)


@contextlib.contextmanager
def running_redis() -> Iterator[RedisTestServer]:
    """A started :class:`RedisTestServer`, closed on exit."""
    server = RedisTestServer()
    try:
        yield server.start()
    finally:
        server.close()
