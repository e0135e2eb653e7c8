#!/usr/bin/env python3
"""Membership change in a big group: adding and removing one member.

Starts a real Kallemny server (``python -m kallemny_sio``) on a free
127.0.0.1 port, with ``RATE_LIMITS=0``, a temporary SQLite database and its
own ``JWT_SECRET``, as ``bench/run.py`` does. Then:

- registers ``--members`` + 1 users through ``POST /api/auth/register``
  (concurrent requests on aiohttp);
- creates one group: the first user its owner, the next 99 in the
  ``POST /api/chat/rooms`` request (``memberIds`` takes at most 100), the
  rest through ``POST /api/chat/rooms/{id}/members`` in batches of 100: a
  room of ``--members`` members. The last user, the "extra" one, stays out;
- connects one python-socketio ``AsyncClient`` per user (namespace
  ``/chat``, ``auth: {"token"}``, WebSocket transport, no reconnection):
  ``--members`` members' connections plus the extra user's; waits until the
  presence events of that connect storm have stopped arriving.

Then, ``--runs`` times (after ``--warmup`` uncounted runs), the owner:

(a) adds the extra user, ``POST /api/chat/rooms/{id}/members``
    ``{"userIds": [extra]}``: the REST round trip; from the request's start,
    the time until the extra user's connection got ``AddedToRoom`` and until
    every member's connection (the owner's included) got ``UserJoinedRoom``
    for it. Right after the answer the owner sends a message
    (``SendMessage`` on its connection): the time from that send until all
    ``--members`` + 1 connections, the added one included, got it;
(b) removes the extra user, ``DELETE /api/chat/rooms/{id}/members/{extra}``:
    the REST round trip; from the request's start, the time until the extra
    user's connection got ``RemovedFromRoom`` and until every member's got
    ``UserLeftRoom``;
(c) right after (b)'s answer, the owner sends a message: the time from that
    send until all ``--members`` members got it; its deliveries to the
    removed user's connection are counted (0 expected), after waiting
    ``--settle`` seconds once everything else had arrived.

The criterion (issue: "a membership change in a 1,000-member group completes
in under 100 ms on one node") is checked on the REST answers: the add's and
the remove's p99 < 100 ms, printed as met / not met. Delivery goes through
per-user channels, so the server's part of "resubscribed or cut" is done when
it answers; the events' arrival times and the message checks are reported as
figures. Every event time is taken when this process's event loop handles
the event: the client side of 1,000 connections shares the machine (2 cores)
with the server, so the "all members got it" figures include the time this
one Python process needs to read 1,000 frames. The load average and the CPU
of both processes over the timed runs are printed with the table.

p99 is the sample at index int(0.99 n) of the sorted runs (as
``storage_bench.py``): with 20 runs it is the maximum.

Usage: .venv/bin/python bench/membership_bench.py [--members 1000] [--runs 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import socketio

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
NAMESPACE = "/chat"
PASSWORD = "bench-password-0001"
TARGET_MS = 100.0
BATCH = 100  # memberIds / userIds per request (contract: at most 100)
# The server's settings this benchmark sets itself; none is inherited.
SERVER_VARS = ("KALLEMNY_ENV", "REDIS_URL", "DATABASE_URL", "MONGODB_URI", "HOST", "PORT", "RATE_LIMITS",
               "TRUSTED_JWT_ISSUER", "TRUSTED_JWT_SECRET", "TRUSTED_JWKS_URL", "TRUSTED_JWT_AUDIENCE",
               "KALLEMNY_API_KEY", "CONNECTIONS_PER_USER")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit(want: int = 65536) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def loadavg():
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def proc_cpu_sec(pid: int) -> float | None:
    """utime + stime of a process, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def self_cpu_sec() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Server:
    """``python -m kallemny_sio`` in a process group of its own, as bench/run.py starts it."""

    def __init__(self, python: str, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "kallemny.log"
        env = dict(os.environ)
        for var in SERVER_VARS:
            env.pop(var, None)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        env["RATE_LIMITS"] = "0"
        env["JWT_SECRET"] = secrets.token_urlsafe(36)
        cmd = [python, "-m", "kallemny_sio", "--host", "127.0.0.1", "--port", str(self.port),
               "--database-url", "sqlite:///bench.db"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"Kallemny exited with status {self.proc.returncode} before answering /healthz\n"
                                 f"--- server log ---\n{tail(self.log_path)}")
            try:
                async with http.get(self.url + "/healthz", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                last = str(exc) or type(exc).__name__
            await asyncio.sleep(0.1)
        raise BenchError(f"Kallemny: /healthz did not answer 200 within {timeout:.0f} s (last: {last})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=8)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


# --------------------------------------------------------------------- REST


async def request(http, method, url, body=None, token=None, attempts=8):
    """(status, payload); retries 429/503 and connection errors (set-up only)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    delay = 0.25
    last = None
    for _ in range(attempts):
        try:
            async with http.request(method, url, json=body, headers=headers) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            last = (None, str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)
            continue
        if status in (429, 503):
            last = (status, raw[:200].decode(errors="replace"))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)
            continue
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw[:200].decode(errors="replace")
        return status, payload
    return last


async def register_users(http, url, n, concurrency):
    tag = secrets.token_hex(3)
    sem = asyncio.Semaphore(concurrency)

    async def register(i):
        username = f"mb_{tag}_{i:05d}"
        async with sem:
            status, payload = await request(http, "POST", url + "/api/auth/register",
                                            {"username": username, "password": PASSWORD})
        if status != 201 or not isinstance(payload, dict) or "token" not in payload:
            raise BenchError(f"POST /api/auth/register answered {status}: {json.dumps(payload)[:300]}")
        return {"id": payload["user"]["id"], "username": username, "token": payload["token"]}

    return await asyncio.gather(*(register(i) for i in range(n)))


async def create_group(http, url, users):
    owner = users[0]
    others = [u["id"] for u in users[1:]]
    body = {"type": "group", "name": "membership-bench", "memberIds": others[:BATCH - 1]}
    status, payload = await request(http, "POST", url + "/api/chat/rooms", body, owner["token"])
    if status not in (200, 201) or not isinstance(payload, dict) or "id" not in payload:
        raise BenchError(f"POST /api/chat/rooms answered {status}: {json.dumps(payload)[:300]}")
    room_id = payload["id"]
    for k in range(BATCH - 1, len(others), BATCH):
        status, payload = await request(http, "POST", f"{url}/api/chat/rooms/{room_id}/members",
                                        {"userIds": others[k:k + BATCH]}, owner["token"])
        if status != 200:
            raise BenchError(f"POST /api/chat/rooms/{{id}}/members answered {status}: {json.dumps(payload)[:300]}")
    return room_id, len(payload.get("members") or []) if isinstance(payload, dict) else None


# --------------------------------------------------------------------- connections


class Tracker:
    """First arrival time of each (key, connection) and waiters for 'all of them'."""

    def __init__(self):
        self.times: dict = {}
        self.duplicates = 0
        self.waiters: dict = {}  # key -> (expected set of connection indexes, asyncio.Event)
        self.last_event = time.perf_counter()
        self.events = 0

    def record(self, key, idx, now):
        seen = self.times.setdefault(key, {})
        if idx in seen:
            self.duplicates += 1
            return
        seen[idx] = now
        w = self.waiters.get(key)
        if w and w[0] <= seen.keys():
            w[1].set()

    def expect(self, key, idxs) -> asyncio.Event:
        ev = asyncio.Event()
        self.waiters[key] = (set(idxs), ev)
        if self.waiters[key][0] <= self.times.get(key, {}).keys():
            ev.set()
        return ev

    def got(self, key) -> dict:
        return self.times.get(key, {})


class Conn:
    def __init__(self, idx, user, state):
        self.idx = idx
        self.user = user
        self.state = state
        self.sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        self.expect_disconnect = False
        sio = self.sio
        sio.on("AddedToRoom", self.on_added, namespace=NAMESPACE)
        sio.on("UserJoinedRoom", self.on_joined, namespace=NAMESPACE)
        sio.on("RemovedFromRoom", self.on_removed, namespace=NAMESPACE)
        sio.on("UserLeftRoom", self.on_left, namespace=NAMESPACE)
        sio.on("ReceiveMessage", self.on_message, namespace=NAMESPACE)
        sio.on("disconnect", self.on_disconnect, namespace=NAMESPACE)
        sio.on("*", self.on_other, namespace=NAMESPACE)

    def _mine(self, data, field="roomId"):
        return isinstance(data, dict) and data.get(field) == self.state["room"]

    async def on_added(self, data):
        now = time.perf_counter()
        self.state["tracker"].events += 1
        if self._mine(data, "id"):
            self.state["tracker"].record((self.state["run"], "added"), self.idx, now)

    async def on_joined(self, data):
        now = time.perf_counter()
        self.state["tracker"].events += 1
        if self._mine(data) and (data.get("user") or {}).get("id") == self.state["extra_id"]:
            self.state["tracker"].record((self.state["run"], "joined"), self.idx, now)

    async def on_removed(self, data):
        now = time.perf_counter()
        self.state["tracker"].events += 1
        if self._mine(data):
            self.state["tracker"].record((self.state["run"], "removed"), self.idx, now)

    async def on_left(self, data):
        now = time.perf_counter()
        self.state["tracker"].events += 1
        if self._mine(data) and data.get("userId") == self.state["extra_id"]:
            self.state["tracker"].record((self.state["run"], "left"), self.idx, now)

    async def on_message(self, data):
        now = time.perf_counter()
        self.state["tracker"].events += 1
        if self._mine(data):
            self.state["tracker"].record(("msg", data.get("clientMessageId")), self.idx, now)

    async def on_other(self, event, data=None):
        t = self.state["tracker"]
        t.events += 1
        t.last_event = time.perf_counter()

    async def on_disconnect(self, *args):
        if not self.expect_disconnect:
            self.state["disconnects"] += 1

    async def connect(self, url):
        await self.sio.connect(url, namespaces=[NAMESPACE], transports=["websocket"],
                               auth={"token": self.user["token"]}, wait_timeout=30)


async def connect_all(conns, url, concurrency):
    sem = asyncio.Semaphore(concurrency)
    failures = []

    async def one(c):
        async with sem:
            try:
                await c.connect(url)
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                failures.append(f"{c.user['username']}: {exc!r}")

    await asyncio.gather(*(one(c) for c in conns))
    if failures:
        raise BenchError(f"{len(failures)} connections failed, first: {failures[0]}")


async def wait_quiet(tracker, quiet=1.0, limit=120.0):
    """Until no event has arrived for `quiet` seconds (the connect storm's UserOnline)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        before = tracker.events
        await asyncio.sleep(quiet)
        if tracker.events == before:
            return True
    return False


# --------------------------------------------------------------------- the runs


def summary(samples):
    if not samples:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    s = sorted(samples)
    p99 = min(len(s) - 1, int(len(s) * 0.99))
    return {"n": len(s), "p50_ms": round(statistics.median(s), 2), "p99_ms": round(s[p99], 2),
            "max_ms": round(s[-1], 2)}


async def wait_for(ev, timeout):
    try:
        await asyncio.wait_for(ev.wait(), timeout)
        return True
    except asyncio.TimeoutError:
        return False


async def one_run(r, ctx, counted):
    """(a) add, a message after the add, (b) remove, (c) a message right after the remove."""
    http, url, room, owner, extra, conns, state, args = (ctx[k] for k in (
        "http", "url", "room", "owner", "extra", "conns", "state", "args"))
    tracker: Tracker = state["tracker"]
    members = range(len(conns) - 1)  # connection indexes of the members; the extra is the last
    x = len(conns) - 1
    everyone = range(len(conns))
    headers = {"Authorization": f"Bearer {owner['token']}"}
    fig = ctx["figures"]
    problems = ctx["problems"]
    state["run"] = r
    timeout = args.timeout

    def note(what):
        problems.append(f"run {r}: {what}")

    # (a) add
    ev_added = tracker.expect((r, "added"), [x])
    ev_joined = tracker.expect((r, "joined"), members)
    t0 = time.perf_counter()
    async with http.post(f"{url}/api/chat/rooms/{room}/members", json={"userIds": [extra["id"]]},
                         headers=headers) as resp:
        await resp.read()
        status = resp.status
    t_rest = time.perf_counter()
    if status != 200:
        note(f"POST members answered {status}")
    # right after the answer: a message that the added member must get
    cmid_a = f"after-add-{r}-{secrets.token_hex(4)}"
    ev_msg_a = tracker.expect(("msg", cmid_a), everyone)
    t_send_a = time.perf_counter()
    ack_a = asyncio.create_task(conns[0].sio.call("SendMessage", {"roomId": room, "content": f"hello {r}",
                                                                  "clientMessageId": cmid_a},
                                                  namespace=NAMESPACE, timeout=timeout))
    ok_added = await wait_for(ev_added, timeout)
    ok_joined = await wait_for(ev_joined, timeout)
    ok_msg_a = await wait_for(ev_msg_a, timeout)
    try:
        ack = await ack_a
        if not (isinstance(ack, dict) and ack.get("ok")):
            note(f"SendMessage after the add answered {json.dumps(ack)[:200]}")
    except Exception as exc:  # noqa: BLE001
        note(f"SendMessage after the add: {exc!r}")
    joined = tracker.got((r, "joined"))
    got_a = tracker.got(("msg", cmid_a))
    if not ok_added:
        note("the added connection did not get AddedToRoom")
    if not ok_joined:
        note(f"UserJoinedRoom reached {len(joined)} of {len(members)} members")
    if not ok_msg_a:
        note(f"the message after the add reached {len(got_a)} of {len(conns)} connections"
             + ("" if x in got_a else ", not the added one"))
    if counted:
        fig["add: REST answer"].append((t_rest - t0) * 1000)
        if ok_added:
            fig["add: added connection got AddedToRoom"].append((tracker.got((r, "added"))[x] - t0) * 1000)
        if ok_joined:
            fig["add: all members got UserJoinedRoom"].append((max(joined.values()) - t0) * 1000)
        if ok_msg_a:
            fig["add: message sent after the answer reached all, the added included"].append(
                (max(got_a.values()) - t_send_a) * 1000)
        ctx["counts"]["added connection got the message after the add"] += int(x in got_a)

    # (b) remove, and (c) a message right after the answer
    ev_removed = tracker.expect((r, "removed"), [x])
    ev_left = tracker.expect((r, "left"), members)
    t0 = time.perf_counter()
    async with http.delete(f"{url}/api/chat/rooms/{room}/members/{extra['id']}", headers=headers) as resp:
        await resp.read()
        status = resp.status
    t_rest = time.perf_counter()
    cmid_c = f"after-remove-{r}-{secrets.token_hex(4)}"
    ev_msg_c = tracker.expect(("msg", cmid_c), members)
    t_send_c = time.perf_counter()
    ack_c = asyncio.create_task(conns[0].sio.call("SendMessage", {"roomId": room, "content": f"bye {r}",
                                                                  "clientMessageId": cmid_c},
                                                  namespace=NAMESPACE, timeout=timeout))
    if status != 204:
        note(f"DELETE member answered {status}")
    ok_removed = await wait_for(ev_removed, timeout)
    ok_left = await wait_for(ev_left, timeout)
    ok_msg_c = await wait_for(ev_msg_c, timeout)
    try:
        ack = await ack_c
        if not (isinstance(ack, dict) and ack.get("ok")):
            note(f"SendMessage after the remove answered {json.dumps(ack)[:200]}")
    except Exception as exc:  # noqa: BLE001
        note(f"SendMessage after the remove: {exc!r}")
    await asyncio.sleep(args.settle)  # a late delivery to the removed connection would show now
    left = tracker.got((r, "left"))
    got_c = tracker.got(("msg", cmid_c))
    leaked = int(x in got_c)
    if not ok_removed:
        note("the removed connection did not get RemovedFromRoom")
    if not ok_left:
        note(f"UserLeftRoom reached {len(left)} of {len(members)} members")
    if not ok_msg_c:
        note(f"the message after the remove reached {len(got_c) - leaked} of {len(members)} members")
    if x in left:
        note("the removed connection got UserLeftRoom for itself")
    if counted:
        fig["remove: REST answer"].append((t_rest - t0) * 1000)
        if ok_removed:
            fig["remove: removed connection got RemovedFromRoom"].append(
                (tracker.got((r, "removed"))[x] - t0) * 1000)
        if ok_left:
            fig["remove: all remaining members got UserLeftRoom"].append((max(left.values()) - t0) * 1000)
        if ok_msg_c:
            fig["remove: message sent right after the answer reached all members"].append(
                (max(got_c[i] for i in members) - t_send_c) * 1000)
        ctx["counts"]["deliveries to the removed connection of the message after the remove"] += leaked
    elif leaked:
        note("a warm-up message after the remove reached the removed connection")


FIGURE_NAMES = (
    "add: REST answer",
    "add: added connection got AddedToRoom",
    "add: all members got UserJoinedRoom",
    "add: message sent after the answer reached all, the added included",
    "remove: REST answer",
    "remove: removed connection got RemovedFromRoom",
    "remove: all remaining members got UserLeftRoom",
    "remove: message sent right after the answer reached all members",
)
COUNT_NAMES = (
    "added connection got the message after the add",
    "deliveries to the removed connection of the message after the remove",
)


async def bench(args) -> dict:
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="kallemny-membership-"))
    server = Server(args.python, workdir)
    conns: list[Conn] = []
    state = {"room": None, "extra_id": None, "run": None, "tracker": Tracker(), "disconnects": 0}
    connector = aiohttp.TCPConnector(limit=64)
    http = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120))
    try:
        await server.wait_ready(http)
        url = server.url
        say(f"[membership] Kallemny on {url} (RATE_LIMITS=0, SQLite in {workdir})")
        t = time.monotonic()
        users = await register_users(http, url, args.members + 1, args.register_concurrency)
        say(f"[membership] registered {len(users)} users in {time.monotonic() - t:.1f} s")
        t = time.monotonic()
        room, size = await create_group(http, url, users[:args.members])
        if size != args.members:
            raise BenchError(f"the group has {size} members, expected {args.members}")
        say(f"[membership] group of {size} members created in {time.monotonic() - t:.1f} s")
        state["room"] = room
        state["extra_id"] = users[-1]["id"]
        conns = [Conn(i, u, state) for i, u in enumerate(users)]
        t = time.monotonic()
        await connect_all(conns, url, args.connect_concurrency)
        say(f"[membership] {len(conns)} connections open in {time.monotonic() - t:.1f} s; "
            "waiting for the presence events to stop")
        quiet = await wait_quiet(state["tracker"])
        say(f"[membership] quiet after {time.monotonic() - t:.1f} s ({state['tracker'].events} events so far)"
            + ("" if quiet else "; still busy, going on"))

        ctx = {"http": http, "url": url, "room": room, "owner": users[0], "extra": users[-1], "conns": conns,
               "state": state, "args": args, "figures": {k: [] for k in FIGURE_NAMES},
               "counts": {k: 0 for k in COUNT_NAMES}, "problems": []}
        # the REST requests below reuse one kept-alive connection
        await request(http, "GET", url + "/api/chat/rooms?limit=1", token=users[0]["token"])
        for w in range(args.warmup):
            await one_run(f"w{w}", ctx, counted=False)
        ctx["problems"].clear()  # warm-up problems are not counted ...
        dup_before = state["tracker"].duplicates
        disc_before = state["disconnects"]
        load_before = loadavg()
        cpu_srv0, cpu_cli0, wall0 = proc_cpu_sec(server.proc.pid), self_cpu_sec(), time.perf_counter()
        for r in range(args.runs):
            await one_run(r, ctx, counted=True)
            if server.proc.poll() is not None:
                raise BenchError(f"Kallemny exited with status {server.proc.returncode}\n{tail(server.log_path)}")
        wall = time.perf_counter() - wall0
        cpu_srv1, cpu_cli1 = proc_cpu_sec(server.proc.pid), self_cpu_sec()
        load_after = loadavg()
        figures = {k: summary(v) for k, v in ctx["figures"].items()}
        rest_p99 = [figures["add: REST answer"]["p99_ms"], figures["remove: REST answer"]["p99_ms"]]
        return {
            "members": args.members, "runs": args.runs, "warmup": args.warmup, "settle_s": args.settle,
            "target_ms": TARGET_MS,
            "criterion": {
                "add_rest_p99_met": rest_p99[0] is not None and rest_p99[0] < TARGET_MS,
                "remove_rest_p99_met": rest_p99[1] is not None and rest_p99[1] < TARGET_MS,
            },
            "figures": figures,
            "samples_ms": {k: [round(x, 3) for x in v] for k, v in ctx["figures"].items()},
            "counts": ctx["counts"],
            "problems": ctx["problems"],
            "duplicate_events": state["tracker"].duplicates - dup_before,
            "unexpected_disconnects": state["disconnects"] - disc_before,
            "load_average": {"before": load_before, "after": load_after},
            "cpu_percent_of_one_core": {
                "server": round(100 * (cpu_srv1 - cpu_srv0) / wall, 1) if cpu_srv0 is not None and cpu_srv1 is not None else None,
                "client": round(100 * (cpu_cli1 - cpu_cli0) / wall, 1),
                "timed_wall_s": round(wall, 2),
            },
            "cpus": os.cpu_count(),
        }
    finally:
        for c in conns:
            c.expect_disconnect = True
        server.stop()  # first: closing 1,000 clients against a live server makes 500,000 UserOffline
        if conns:
            try:
                await asyncio.wait_for(asyncio.gather(*(c.sio.disconnect() for c in conns),
                                                      return_exceptions=True), 15)
            except asyncio.TimeoutError:
                pass
        await http.close()
        if args.keep_log:
            say(f"[membership] server log: {server.log_path}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def render(res: dict) -> str:
    n = res["members"]
    lines = [f"### Membership change in a group of {n:,} members, one node ({res['runs']} runs, "
             f"{res['warmup']} warm-up)", ""]
    la = res["load_average"]
    cpu = res["cpu_percent_of_one_core"]
    lines.append(f"load average (1/5/15 min): before {la['before']}, after {la['after']}; {res['cpus']} CPUs; "
                 f"over the timed runs ({cpu['timed_wall_s']} s) server {cpu['server']} % and this client "
                 f"({n + 1:,} connections, one Python process) {cpu['client']} % of one core")
    lines.append("")
    lines.append("| figure | p50 ms | p99 ms | max ms | runs |")
    lines.append("| --- | --- | --- | --- | --- |")
    for name, s in res["figures"].items():
        lines.append(f"| {name} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | {s['n']} |")
    lines.append("")
    lines.append("Event times run from the request's start, message times from its send; an event counts when "
                 "this client's event loop handles it.")
    lines.append("")
    for name, v in res["counts"].items():
        lines.append(f"- {name}: {v} of {res['runs']}")
    lines.append(f"- duplicate events: {res['duplicate_events']}; unexpected disconnects: "
                 f"{res['unexpected_disconnects']}; problems: {len(res['problems'])}")
    for p in res["problems"][:10]:
        lines.append(f"  - {p}")
    lines.append("")
    c = res["criterion"]
    f = res["figures"]
    lines.append(f"Criterion, REST answer < {res['target_ms']:g} ms p99: add {f['add: REST answer']['p99_ms']} ms "
                 f"{'met' if c['add_rest_p99_met'] else 'NOT MET'}; remove {f['remove: REST answer']['p99_ms']} ms "
                 f"{'met' if c['remove_rest_p99_met'] else 'NOT MET'}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=1000, help="members of the group, the owner included")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2, help="uncounted runs first")
    p.add_argument("--settle", type=float, default=0.3,
                   help="seconds to wait for a late delivery to the removed connection")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for each expected set of events")
    p.add_argument("--register-concurrency", type=int, default=16)
    p.add_argument("--connect-concurrency", type=int, default=50)
    p.add_argument("--python", default=sys.executable, help="the server's Python (default: this one)")
    p.add_argument("--json", metavar="OUT", help="write the raw figures here")
    p.add_argument("--keep-log", action="store_true", help="keep the temporary directory and print the server log's path")
    args = p.parse_args()
    if args.members < 2:
        p.error("--members: at least 2")
    try:
        res = asyncio.run(bench(args))
    except BenchError as exc:
        say(f"membership bench failed: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    print(render(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 1 if res["problems"] or res["unexpected_disconnects"] else 0


if __name__ == "__main__":
    sys.exit(main())
