"""The command line as operators run it: real processes, a clean environment, real ports.

Start-up with a bad setting ends with one line on stderr naming the setting and
a non-zero status; a good start answers ``/healthz`` and SIGTERM ends it cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest

from tests.conftest import Api, ChatClient, free_port, unique_name

SECRET = "cli-test-secret-" + "z" * 32
SETTING_VARS = ("DATABASE_URL", "MONGODB_URI", "REDIS_URL", "JWT_SECRET", "KALLEMNY_ENV", "PORT", "HOST",
                "CORS_ORIGINS", "JWT_EXPIRES_MINUTES")
CONSOLE_SCRIPT = Path(sys.executable).with_name("kallemny-sio")
LAUNCHERS = {
    "python-m": [sys.executable, "-m", "kallemny_sio"],
    "console-script": [str(CONSOLE_SCRIPT)],
}
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


def clean_env(**settings: str) -> dict[str, str]:
    """``os.environ`` without any Kallemny setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in SETTING_VARS}
    env.update(settings)
    return env


def run_to_exit(launcher: str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(LAUNCHERS[launcher] + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=40)


def http_json(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class ServerProcess:
    """A server started from the command line; stderr goes to a file."""

    def __init__(self, launcher: str, args: list[str], env: dict[str, str], cwd: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.stderr_path = cwd / f"stderr-{port}-{time.monotonic_ns()}.log"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(LAUNCHERS[launcher] + args, env=env, cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_healthy(self) -> dict[str, Any]:
        """Poll ``/healthz`` (bounded) until it answers 200; fail early if the process exits."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.proc.poll() is None, f"server exited with {self.proc.returncode}: {self.stderr}"
            try:
                status, body = http_json(self.url + "/healthz")
                if status == 200:
                    return body
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            assert time.monotonic() < deadline, f"no /healthz within {START_TIMEOUT_S}s: {self.stderr}"
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` and return the exit status (within the bound)."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running {STOP_TIMEOUT_S}s after signal {sig}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        self._stderr.close()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Any]:
    """``launch(launcher, args, env)`` → a :class:`ServerProcess` on ``--port``; killed after the test."""
    started: list[ServerProcess] = []

    def _launch(launcher: str, args: list[str], env: dict[str, str], port: int | None = None) -> ServerProcess:
        port = port or free_port()
        proc = ServerProcess(launcher, ["--port", str(port), *args], env, tmp_path, port)
        started.append(proc)
        return proc

    yield _launch
    for proc in started:
        proc.close()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def assert_refused(result: subprocess.CompletedProcess[str], setting: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr!r}"
    assert setting in lines[0], lines[0]


def test_console_script_is_installed(tmp_path):
    assert CONSOLE_SCRIPT.exists(), CONSOLE_SCRIPT
    result = run_to_exit("console-script", ["--help"], clean_env(), tmp_path)
    assert result.returncode == 0 and "--database-url" in result.stdout


BAD_SETTINGS = [
    # (id, env, extra args, setting named)
    ("unknown-database-scheme", {"DATABASE_URL": "postgres://x"}, [], "DATABASE_URL"),
    ("unknown-database-scheme-flag", {}, ["--database-url", "postgres://x"], "DATABASE_URL"),
    ("unknown-mongodb-uri-scheme", {"MONGODB_URI": "postgres://x"}, [], "DATABASE_URL"),
    ("sqlite-under-missing-directory", {"DATABASE_URL": "sqlite:///no/such/dir/kallemny.db"}, [], "DATABASE_URL"),
    ("sqlite-under-a-file", {"DATABASE_URL": "sqlite:///a-file/kallemny.db"}, [], "DATABASE_URL"),
    ("sqlite-path-is-a-directory", {"DATABASE_URL": "sqlite:///a-directory", "JWT_SECRET": SECRET}, [], "DATABASE_URL"),
    ("sqlite-file-is-not-a-database", {"DATABASE_URL": "sqlite:///not-a-database.db", "JWT_SECRET": SECRET}, [], "DATABASE_URL"),
    ("production-without-secret", {"KALLEMNY_ENV": "production", "CORS_ORIGINS": "https://chat.example"}, [], "JWT_SECRET"),
    ("short-secret", {"JWT_SECRET": "x" * 31}, [], "JWT_SECRET"),
    ("production-without-origins", {"KALLEMNY_ENV": "production", "JWT_SECRET": SECRET}, [], "CORS_ORIGINS"),
    ("redis-bad-scheme", {"REDIS_URL": "http://localhost:6379", "JWT_SECRET": SECRET}, [], "REDIS_URL"),
    ("redis-bad-scheme-flag", {"JWT_SECRET": SECRET}, ["--redis-url", "memcached://x"], "REDIS_URL"),
    ("redis-without-secret", {"REDIS_URL": "redis://127.0.0.1:6379"}, [], "JWT_SECRET"),
    ("port-env-not-a-number", {"PORT": "eighty", "JWT_SECRET": SECRET}, [], "PORT"),
    ("port-flag-out-of-range", {"JWT_SECRET": SECRET}, ["--port", "70000"], "port"),
    ("host-not-local", {"JWT_SECRET": SECRET, "HOST": "203.0.113.7"}, [], "HOST"),
]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "not-a-database.db").write_bytes(b"this is not an SQLite file, whatever its name says" * 4)
    return tmp_path


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
@pytest.mark.parametrize("env, args, setting", [pytest.param(e, a, s, id=i) for i, e, a, s in BAD_SETTINGS])
def test_bad_setting_ends_start_up_with_one_line(workdir, launcher, env, args, setting):
    port_args = [] if "--port" in args or "PORT" in env else ["--port", str(free_port())]
    result = run_to_exit(launcher, [*port_args, *args], clean_env(**env), workdir)
    assert_refused(result, setting)


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_port_in_use_ends_start_up_with_one_line(tmp_path, launcher, busy_port):
    result = run_to_exit(launcher, ["--port", str(busy_port)], clean_env(JWT_SECRET=SECRET, DATABASE_URL="sqlite:///k.db"), tmp_path)
    assert_refused(result, "PORT")


def test_unreachable_mongodb_ends_start_up_with_one_line(tmp_path):
    url = f"mongodb://127.0.0.1:{free_port()}/kallemny"
    result = run_to_exit("python-m", ["--port", str(free_port())], clean_env(JWT_SECRET=SECRET, DATABASE_URL=url), tmp_path)
    assert_refused(result, "DATABASE_URL")


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")
def test_sqlite_in_a_read_only_directory_ends_start_up_with_one_line(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        result = run_to_exit("python-m", ["--port", str(free_port())],
                             clean_env(DATABASE_URL=f"sqlite:///{locked / 'kallemny.db'}"), tmp_path)
    finally:
        locked.chmod(stat.S_IRWXU)
    assert_refused(result, "DATABASE_URL")


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_server_serves_and_exits_zero_on_sigterm(launch, tmp_path, launcher):
    server = launch(launcher, ["--database-url", f"sqlite:///{tmp_path / 'k.db'}"], clean_env(JWT_SECRET=SECRET))
    body = server.wait_healthy()
    assert body["status"] == "ok"
    status, auth = http_json(server.url + "/api/auth/register", "POST", {"username": unique_name(), "password": "long enough"})
    assert status == 201, auth
    assert server.stop(signal.SIGTERM) == 0, server.stderr
    assert "Traceback" not in server.stderr


def test_server_exits_zero_on_sigint(launch, tmp_path):
    server = launch("python-m", ["--database-url", f"sqlite:///{tmp_path / 'k.db'}"], clean_env(JWT_SECRET=SECRET))
    server.wait_healthy()
    assert server.stop(signal.SIGINT) == 0, server.stderr
    assert "Traceback" not in server.stderr


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_sigterm_with_a_connected_client_exits_promptly(launch, tmp_path, transport):
    server = launch("python-m", ["--database-url", f"sqlite:///{tmp_path / 'k.db'}"], clean_env(JWT_SECRET=SECRET))
    server.wait_healthy()
    status, auth = http_json(server.url + "/api/auth/register", "POST", {"username": unique_name(), "password": "long enough"})
    assert status == 201, auth
    client = ChatClient()
    await client.connect(server.url, auth["token"], transports=[transport])
    try:
        server.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(server.proc.wait, STOP_TIMEOUT_S)
        assert code == 0, server.stderr
        assert "Traceback" not in server.stderr
    finally:
        await client.close()


class SilentWebSocketClient:
    """A Socket.IO client on a raw WebSocket that, once connected, reads nothing more.

    Like a phone whose app was suspended or whose network went away with the TCP
    connection still open: it never answers the server's close.
    """

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self._http = http
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self, url: str, token: str) -> None:
        self.ws = await self._http.ws_connect(url + "/socket.io/?EIO=4&transport=websocket", autoclose=False,
                                              autoping=False, timeout=aiohttp.ClientWSTimeout(ws_close=1))
        assert (await self._text()).startswith("0{")  # engine.io OPEN
        await self.ws.send_str("40/chat," + json.dumps({"token": token}))
        assert (await self._text()).startswith("40/chat,{")  # socket.io CONNECT accepted

    async def send_message(self, room_id: str, content: str) -> dict[str, Any]:
        """``SendMessage`` with an ack; returns the ack."""
        assert self.ws is not None
        payload = {"roomId": room_id, "content": content, "clientMessageId": unique_name("cmid")}
        await self.ws.send_str("42/chat,1" + json.dumps(["SendMessage", payload]))
        while not (text := await self._text()).startswith("43/chat,1"):
            pass  # ReceiveMessage and the like
        return json.loads(text[len("43/chat,1"):])[0]

    async def _text(self) -> str:
        assert self.ws is not None
        message = await asyncio.wait_for(self.ws.receive(), 5)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        return message.data

    async def close(self) -> None:
        if self.ws is not None:
            self.ws._response.close()  # drop the connection without a close handshake
            self.ws = None


PROMPT_EXIT_S = 4.0  # what an operator should see; the README's bound is STOP_TIMEOUT_S


@pytest.mark.parametrize("client_kind, fast_lane", [
    pytest.param("websocket", "1", id="websocket"),
    pytest.param("polling", "1", id="polling"),
    pytest.param("silent-websocket", "1", id="silent-websocket"),
    pytest.param("silent-websocket", "0", id="silent-websocket-stock-transport"),
])
async def test_sigterm_with_a_client_connected_exits_well_within_ten_seconds_and_keeps_acked_messages(
        launch, tmp_path, http, client_kind, fast_lane):
    """aiohttp stops reading every connection when shutdown begins, so no client can complete
    the WebSocket close handshake: the server alone bounds how long an open connection holds it."""
    args = ["--database-url", f"sqlite:///{tmp_path / 'k.db'}"]
    env = clean_env(JWT_SECRET=SECRET, WEBSOCKET_FAST_LANE=fast_lane)
    server = launch("python-m", args, env)
    server.wait_healthy()
    api = Api(server.url, http)
    alice = await api.register()
    room = await api.create_group(alice, [], name="shutdown")
    if client_kind == "silent-websocket":
        client: Any = SilentWebSocketClient(http)
        await client.connect(server.url, alice.token)
        ack = await client.send_message(room["id"], "acked before SIGTERM")
    else:
        client = ChatClient()
        await client.connect(server.url, alice.token, transports=[client_kind])
        ack = await client.call("SendMessage", {"roomId": room["id"], "content": "acked before SIGTERM"})
    assert ack["ok"] is True, ack
    try:
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(server.proc.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running {STOP_TIMEOUT_S:.0f} s after SIGTERM: {server.stderr[-3000:]}")
        took = time.monotonic() - started
    finally:
        await client.close()
    assert code == 0, server.stderr
    assert "Traceback" not in server.stderr, server.stderr
    assert took < PROMPT_EXIT_S, f"exit took {took:.1f} s after SIGTERM"

    again = launch("python-m", args, env)  # the store was closed properly: the acked message is there
    again.wait_healthy()
    page = await Api(again.url, http).history(alice, room["id"])
    assert [m["id"] for m in page["messages"]] == [ack["message"]["id"]]
    assert again.stop() == 0, again.stderr


def test_flags_override_the_environment(launch, tmp_path, busy_port):
    """Env says: a busy port, an address this machine does not have, an unknown database scheme."""
    env = clean_env(JWT_SECRET=SECRET, PORT=str(busy_port), HOST="203.0.113.7", DATABASE_URL="postgres://x")
    db = tmp_path / "flag.db"
    server = launch("console-script", ["--host", "127.0.0.1", "--database-url", f"sqlite:///{db}"], env)
    assert server.wait_healthy()["status"] == "ok"
    assert db.exists()
    assert server.stop() == 0, server.stderr


def test_generated_secret_is_kept_beside_the_database_and_survives_a_restart(launch, tmp_path):
    db = tmp_path / "data" / "kallemny.db"
    db.parent.mkdir()
    args = ["--database-url", f"sqlite:///{db}"]
    first = launch("python-m", args, clean_env())
    first.wait_healthy()
    assert "JWT_SECRET" in first.stderr, "no warning about the generated secret"
    kept = db.with_name("kallemny.db.jwt-secret")
    assert kept.exists()
    assert stat.S_IMODE(kept.stat().st_mode) & 0o077 == 0
    secret = kept.read_text()
    assert len(secret.strip().encode()) >= 32
    name = unique_name()
    status, auth = http_json(first.url + "/api/auth/register", "POST", {"username": name, "password": "long enough"})
    assert status == 201, auth
    assert first.stop() == 0

    second = launch("python-m", args, clean_env())
    second.wait_healthy()
    assert kept.read_text() == secret
    status, rooms = http_json(second.url + "/api/chat/rooms", token=auth["token"])
    assert (status, rooms) == (200, [])
    status, login = http_json(second.url + "/api/auth/login", "POST", {"username": name, "password": "long enough"})
    assert status == 200 and login["user"]["id"] == auth["user"]["id"]
    assert second.stop() == 0


def test_a_token_from_another_secret_is_refused_after_restart(launch, tmp_path):
    """Control for the test above: the token survives because the secret does, not because nothing is checked."""
    db = tmp_path / "kallemny.db"
    first = launch("python-m", ["--database-url", f"sqlite:///{db}"], clean_env(JWT_SECRET=SECRET))
    first.wait_healthy()
    status, auth = http_json(first.url + "/api/auth/register", "POST", {"username": unique_name(), "password": "long enough"})
    assert status == 201
    assert first.stop() == 0
    second = launch("python-m", ["--database-url", f"sqlite:///{db}"], clean_env(JWT_SECRET="another-" + SECRET))
    second.wait_healthy()
    status, body = http_json(second.url + "/api/chat/rooms", token=auth["token"])
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert second.stop() == 0


# -- the collector, tuned once the server has started ------------------------------------------


async def test_the_server_tunes_the_collector_once_started() -> None:
    # The command line's last start-up step (a speed measure, see GC_THRESHOLDS):
    # what start-up made leaves the collector's sight, young collections are rarer.
    import gc

    from kallemny_sio import __main__ as command_line

    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        await command_line._tune_gc(object())
        assert gc.get_threshold() == command_line.GC_THRESHOLDS
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
