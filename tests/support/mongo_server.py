"""A MongoDB-compatible test server for the test suites.

By default this starts SecantusDB (``secantusd-py``, a MongoDB wire-protocol
server written in Python, installed with the test extras): a
*MongoDB-compatible test server*, not MongoDB. Set ``KALLEMNY_TEST_MONGODB_URL``
to run the same tests against a real MongoDB instead; each test session then
works in databases of its own (``kallemny_test_<random>…``) and drops them at
the end.

Usage from a ``conftest.py``::

    from tests.support.mongo_server import mongo_server_fixture

    mongo_server = mongo_server_fixture()          # session-scoped fixture
    # or directly: MongoTestServer() (reads KALLEMNY_TEST_MONGODB_URL),
    # MongoTestServer(stand_in=True) (always the stand-in, e.g. to kill it)

    def test_something(mongo_server):
        url = mongo_server.database_url("kallemny_x")  # a URL for one database
        ...
        mongo_server.kill()      # SIGKILL (the stand-in only: see can_kill)
        mongo_server.restart()   # same data directory, same port

The stand-in runs with ``--sync-on-commit`` when it offers that flag, so a
write it acknowledged survives ``kill()``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pymongo
import pytest
from pymongo.errors import PyMongoError

from tests.support.process import launch, spawn_on_free_port, wait_until_ready

ENV_URL = "KALLEMNY_TEST_MONGODB_URL"
STAND_IN_LABEL = "mongo-compat"
REAL_LABEL = "mongodb"
EXECUTABLE = "secantusd-py"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


def external_url() -> str | None:
    """The real MongoDB the tests should use, if ``KALLEMNY_TEST_MONGODB_URL`` is set."""
    return os.environ.get(ENV_URL) or None


def backend_label() -> str:
    """``"mongodb"`` with a real server configured, else ``"mongo-compat"`` (the stand-in)."""
    return REAL_LABEL if external_url() else STAND_IN_LABEL


def with_database(url: str, database: str) -> str:
    """``url`` with its path replaced by ``/database`` (options are kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _executable_command() -> list[str]:
    """How to run ``secantusd-py``: beside this interpreter, on PATH, or through its module."""
    beside = Path(sys.executable).parent / EXECUTABLE  # not resolved: a venv's python is a symlink
    if beside.exists():
        return [str(beside)]
    on_path = shutil.which(EXECUTABLE)
    if on_path:
        return [on_path]
    try:
        import secantus.cli  # noqa: F401  (only to know it is installed)
    except ImportError:
        pytest.fail(
            f"the MongoDB-compatible test server ({EXECUTABLE}, PyPI 'secantusdb') is not installed; "
            f"install the test extras or set {ENV_URL} to a MongoDB URL"
        )
    return [sys.executable, "-c", "import sys; from secantus.cli import main; sys.exit(main())"]


@functools.lru_cache(maxsize=None)
def _supports_flag(command: tuple[str, ...], flag: str) -> bool:
    """Whether ``command --help`` mentions ``flag`` (asked once per session)."""
    try:
        result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in result.stdout


class MongoTestServer:
    """A MongoDB-compatible test server (the stand-in) or a configured real MongoDB.

    Attributes:
        label: ``"mongo-compat"`` for the stand-in, ``"mongodb"`` for a real server.
        url: a URL whose database is this session's default database.
        can_kill: whether :meth:`kill` and :meth:`restart` are possible (the stand-in only).
    """

    def __init__(self, url: str | None = None, storage_dir: Path | None = None, *, stand_in: bool = False) -> None:
        """Describe the server; nothing starts before :meth:`start`.

        Args:
            url: a real MongoDB to use; by default ``KALLEMNY_TEST_MONGODB_URL``
                (unset: start the stand-in).
            storage_dir: where the stand-in keeps its data (default: a temporary
                directory removed by :meth:`stop`).
            stand_in: start the stand-in even when a real MongoDB is configured
                (for tests that must kill the server).
        """
        url = None if stand_in else (url or external_url())
        self._external = url
        self._own_dir = storage_dir is None
        self._dir = Path(storage_dir) if storage_dir else None
        self._prefix = f"kallemny_test_{uuid.uuid4().hex[:10]}"
        self._databases: set[str] = set()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.port: int | None = None
        self.label = REAL_LABEL if url else STAND_IN_LABEL
        self.can_kill = url is None

    @classmethod
    def from_environment(cls) -> "MongoTestServer":
        """A real MongoDB if ``KALLEMNY_TEST_MONGODB_URL`` is set, else the stand-in."""
        return cls()

    # -- addresses -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server's URL without a database."""
        if self._external:
            return with_database(self._external, "")
        if self.port is None:
            raise RuntimeError("the MongoDB-compatible test server is not started")
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        """A URL whose path is this session's default database."""
        return self.database_url("")

    def database_url(self, name: str = "") -> str:
        """A URL for a database of this session (``name`` is a suffix; made unique per session).

        Every database handed out here is dropped by :meth:`stop` on a real server.
        """
        database = f"{self._prefix}_{name}" if name else self._prefix
        self._databases.add(database)
        return with_database(self.base_url, database)

    def new_database_url(self) -> str:
        """A URL for a fresh, never used database of this session."""
        return self.database_url(uuid.uuid4().hex[:12])

    def drop_database(self, url: str) -> None:
        """Drop the database named by ``url`` (a URL from :meth:`database_url`) now."""
        name = urlsplit(url).path.lstrip("/")
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(self.base_url, serverSelectionTimeoutMS=5000)
        try:
            client.drop_database(name)
            self._databases.discard(name)
        finally:
            client.close()

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> "MongoTestServer":
        """Start the stand-in (or check the real server answers) and wait until it pings.

        Raises:
            RuntimeError: it did not answer in time (the message has its log's tail).
        """
        if self._external:
            self._wait_until_ready()
            return self
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="kallemny-mongo-compat-"))
        spawn_on_free_port(self)
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove what this session made."""
        if self._external:
            self._drop_databases()
            return
        self._halt(signal.SIGTERM)
        if self._own_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def kill(self) -> None:
        """SIGKILL the stand-in, as a crash would; its data directory stays for :meth:`restart`."""
        self._require_killable()
        self._halt(signal.SIGKILL)

    def restart(self) -> "MongoTestServer":
        """Start the stand-in again on the same data directory and port (after :meth:`kill`)."""
        self._require_killable()
        self._halt(signal.SIGTERM)
        return self.start()

    @property
    def running(self) -> bool:
        """Whether the stand-in process is alive (always True for a real server)."""
        return bool(self._external) or (self._process is not None and self._process.poll() is None)

    def __enter__(self) -> "MongoTestServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------

    def _require_killable(self) -> None:
        if not self.can_kill:
            pytest.skip("cannot kill or restart a real MongoDB given by KALLEMNY_TEST_MONGODB_URL")

    def _spawn(self) -> None:
        assert self._dir is not None and self.port is not None
        command = _executable_command()
        config = self._dir / "secantusd.toml"
        config.touch()  # an explicit (empty) config: no stray secantusd.toml is picked up
        args = [
            *command,
            "--config", str(config),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--storage-path", str(self._dir / "data"),
            "--cache-size", "256M",
            "--log-level", "WARNING",
        ]
        if _supports_flag(tuple(command), "--sync-on-commit"):
            args.append("--sync-on-commit")  # an acknowledged write survives kill -9
        self._process, self._log = launch(args, self._dir / "server.log")

    def _wait_until_ready(self) -> None:
        wait_until_ready(self._process, self._ping, f"the {self._description()}", self._log_tail, START_TIMEOUT_SECONDS)

    def _ping(self) -> bool:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            self.base_url, serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()

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

    def _drop_databases(self) -> None:
        if not self._databases:
            return
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(self.base_url, serverSelectionTimeoutMS=5000)
        try:
            for name in sorted(self._databases):
                with contextlib.suppress(PyMongoError):
                    client.drop_database(name)
        finally:
            client.close()
            self._databases.clear()

    def _description(self) -> str:
        if self._external:
            return "MongoDB server given by KALLEMNY_TEST_MONGODB_URL"
        return f"MongoDB-compatible test server (SecantusDB) on port {self.port}"

    def _log_tail(self, lines: int = 30) -> str:
        if self._dir is None or not (self._dir / "server.log").exists():
            return "(no log)"
        text = (self._dir / "server.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(empty log)"


def mongo_server_fixture(scope: str = "session", name: str | None = None) -> Callable[..., Iterator[MongoTestServer]]:
    """Make a pytest fixture that yields a started :class:`MongoTestServer`.

    Args:
        scope: the fixture's scope (a fault test that kills the server may want
            ``"function"`` or ``"module"`` so that it does not disturb others).
        name: the fixture's name, if not the name it is assigned to.
    """

    @pytest.fixture(scope=scope, name=name)  # type: ignore[call-overload]
    def _mongo_server() -> Iterator[MongoTestServer]:
        server = MongoTestServer.from_environment()
        server.start()
        try:
            yield server
        finally:
            server.stop()

    return _mongo_server
