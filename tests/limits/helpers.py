"""Helpers of the limits suite: loose limits, HTTP with headers, raw HTTP, raw polling, raw WebSocket.

Everything talks to a real server over real sockets. The raw clients exist
for what python-socketio's and aiohttp's clients will not send: bytes that
are not UTF-8 in a header, many packets in one long-polling POST, Engine.IO
connections that never connect ``/chat``, packets no client would build.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import weakref
from typing import Any, Iterable

import aiohttp
import socketio

from kallemny_sio.config import Limits, Rate
from tests.conftest import Account, unique_name

WAIT = 5.0  # seconds to wait for something that must happen
PASSWORD = "correct horse battery"

#: Every limit on, none of them in reach: a test tightens the one it is about.
LOOSE = Limits(
    enabled=True,
    login_failures_per_username=Rate(100_000, 900),
    login_failures_per_address=Rate(100_000, 900),
    registrations_per_address=Rate(100_000, 3600),
    events_per_second=10_000.0,
    event_burst=10_000,
    messages_per_user=Rate(1_000_000, 10),
    connections_per_user=10_000,
    rest_requests=Rate(1_000_000, 10),
    room_creations_per_user=Rate(1_000_000, 3600),
)
DEFAULTS = Limits()


def limits(**only: Any) -> Limits:
    """:data:`LOOSE` with ``only`` tightened."""
    return dataclasses.replace(LOOSE, **only)


# -- HTTP ----------------------------------------------------------------------


@dataclasses.dataclass
class Reply:
    status: int
    body: Any
    headers: Any  # CIMultiDictProxy, or a dict with lower-case keys for raw replies

    def header(self, name: str) -> str | None:
        if isinstance(self.headers, dict):
            return self.headers.get(name.lower())
        return self.headers.get(name)


class Http:
    """REST calls that also return the headers; ``address`` sends ``X-Forwarded-For``."""

    def __init__(self, server: Any, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.url = server.url
        self.session = session

    async def request(self, method: str, path: str, *, token: str | None = None, json: Any = None,
                      data: Any = None, params: Any = None, headers: dict[str, str] | None = None,
                      address: str | None = None) -> Reply:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        if address:
            hdrs["X-Forwarded-For"] = address
        async with self.session.request(method, self.url + path, json=json, data=data, params=params,
                                        headers=hdrs) as r:
            raw = await r.read()
            try:
                body = await r.json(content_type=None) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            return Reply(r.status, body, r.headers)

    async def register(self, username: str | None = None, password: str = PASSWORD, address: str | None = None,
                       **extra: Any) -> Account:
        reply = await self.request("POST", "/api/auth/register", address=address,
                                   json={"username": username or unique_name(), "password": password, **extra})
        assert reply.status == 201, reply
        return Account(reply.body["token"], reply.body["user"])

    async def login(self, username: str, password: str = PASSWORD, address: str | None = None) -> Reply:
        return await self.request("POST", "/api/auth/login", address=address,
                                  json={"username": username, "password": password})

    async def create_group(self, owner: Account, members: Iterable[Account] = (), name: str = "group") -> Reply:
        return await self.request("POST", "/api/chat/rooms", token=owner.token,
                                  json={"type": "group", "name": name, "memberIds": [m.id for m in members]})

    async def create_private(self, owner: Account, other: Account) -> Reply:
        return await self.request("POST", "/api/chat/rooms", token=owner.token,
                                  json={"type": "private", "memberIds": [other.id]})

    async def messages(self, who: Account, room_id: str, limit: int = 100) -> list[dict[str, Any]]:
        reply = await self.request("GET", f"/api/chat/rooms/{room_id}/messages", token=who.token,
                                   params={"limit": str(limit)})
        assert reply.status == 200, reply
        return reply.body["messages"]


def assert_error_reply(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert isinstance(reply.body, dict) and isinstance(reply.body.get("error"), dict), reply
    assert reply.body["error"].get("code") == code, reply
    assert isinstance(reply.body["error"].get("message"), str) and reply.body["error"]["message"], reply


def assert_rate_limited(reply: Reply) -> int:
    """A contract 429: ``rate_limited``, ``retryAfterMs`` and ``Retry-After`` in whole seconds. Returns the ms."""
    assert_error_reply(reply, 429, "rate_limited")
    wait_ms = reply.body["error"].get("retryAfterMs")
    assert isinstance(wait_ms, int) and not isinstance(wait_ms, bool) and wait_ms > 0, reply
    retry_after = reply.header("Retry-After")
    assert retry_after is not None and retry_after.isdigit(), reply
    assert int(retry_after) == max(1, -(-wait_ms // 1000)), reply
    return wait_ms


def assert_ack_error(ack: Any, code: str) -> None:
    assert isinstance(ack, dict) and ack.get("ok") is False, ack
    assert isinstance(ack.get("error"), dict) and ack["error"].get("code") == code, ack
    assert isinstance(ack["error"].get("message"), str) and ack["error"]["message"], ack


def assert_ack_rate_limited(ack: Any) -> int:
    assert_ack_error(ack, "rate_limited")
    wait_ms = ack["error"].get("retryAfterMs")
    assert isinstance(wait_ms, int) and not isinstance(wait_ms, bool) and wait_ms > 0, ack
    return wait_ms


# -- raw HTTP over TCP -----------------------------------------------------------


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


async def raw_http(server: Any, request: bytes, timeout: float = WAIT) -> Reply:
    """Write ``request`` (bytes as given) to the server, read the reply until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.settings.port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines and lines[0].startswith("HTTP/1."), raw[:200]
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = body.decode("utf-8", "replace")
    return Reply(status, parsed, headers)


def raw_request(method: str, path: str, headers: dict[str, bytes | str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()))
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# -- Engine.IO long-polling by hand -------------------------------------------------


def ack_of(packet: str, namespace: str = "/chat") -> tuple[int, Any] | None:
    """``(id, data)`` of an ack packet ``43/chat,<id>[data]``, else None."""
    prefix = f"43{namespace},"
    if not packet.startswith(prefix):
        return None
    rest = packet[len(prefix):]
    digits = len(rest) - len(rest.lstrip("0123456789"))
    return int(rest[:digits]), json.loads(rest[digits:])[0]


class Polling:
    """One Engine.IO v4 long-polling session, spoken by hand."""

    def __init__(self, session: aiohttp.ClientSession, server: Any) -> None:
        self.session = session
        self.base = server.url + "/socket.io/?EIO=4&transport=polling"
        self.sid: str | None = None
        self.backlog: list[str] = []

    @property
    def url(self) -> str:
        return f"{self.base}&sid={self.sid}"

    async def open(self) -> str:
        async with self.session.get(self.base) as r:
            text = await r.text()
            assert r.status == 200 and text.startswith("0"), (r.status, text)
        self.sid = json.loads(text[1:])["sid"]
        return self.sid

    async def post(self, *packets: str) -> None:
        async with self.session.post(self.url, data="\x1e".join(packets).encode(),
                                     headers={"Content-Type": "text/plain;charset=UTF-8"}) as r:
            text = await r.text()
            assert r.status == 200 and text.lower() == "ok", (r.status, text)

    async def get(self, timeout: float = WAIT) -> list[str]:
        """One poll: the packets the server had queued (answers its pings)."""
        async with self.session.get(self.url, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            text = await r.text()
            assert r.status == 200, (r.status, text)
        packets = text.split("\x1e") if text else []
        if "2" in packets:
            await self.post("3")
        return [p for p in packets if p not in ("2", "6")]

    async def until(self, done: Any, timeout: float = WAIT) -> list[str]:
        """Poll until ``done(packets so far)`` holds; returns every packet read."""
        seen: list[str] = []

        async def run() -> list[str]:
            while not done(seen):
                seen.extend(await self.get(timeout))
            return seen

        return await asyncio.wait_for(run(), timeout)

    async def connect_chat(self, token: str | None) -> str:
        """Send CONNECT for /chat; the server's answer (``40/chat,{...}`` or ``44/chat,{...}``)."""
        await self.post("40/chat," + (json.dumps({"token": token}) if token is not None else ""))
        packets = await self.until(lambda seen: any(p.startswith(("40/chat,", "44/chat,")) for p in seen))
        answer = next(p for p in packets if p.startswith(("40/chat,", "44/chat,")))
        self.backlog.extend(p for p in packets if p is not answer)
        return answer


# -- Engine.IO WebSocket by hand ------------------------------------------------------


async def raw_ws(session: aiohttp.ClientSession, server: Any) -> aiohttp.ClientWebSocketResponse:
    """A bare Engine.IO WebSocket, its OPEN packet read."""
    ws = await session.ws_connect(server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket")
    opened = await ws.receive_str(timeout=WAIT)
    assert opened.startswith("0{"), opened
    _EIO_SIDS[ws] = json.loads(opened[1:])["sid"]
    return ws


_EIO_SIDS: "weakref.WeakKeyDictionary[aiohttp.ClientWebSocketResponse, str]" = weakref.WeakKeyDictionary()


def eio_sid(ws: aiohttp.ClientWebSocketResponse) -> str:
    """The Engine.IO session id the server gave a bare WebSocket in its OPEN packet."""
    return _EIO_SIDS[ws]


async def session_gone(server: Any, sid: str, timeout: float = WAIT) -> None:
    """Wait until the server holds no Engine.IO session ``sid`` any more."""
    from kallemny_sio.keys import SIO

    sockets = server.app[SIO].eio.sockets

    async def run() -> None:
        while sid in sockets:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(run(), timeout)


async def raw_ws_chat(session: aiohttp.ClientSession, server: Any, token: str) -> aiohttp.ClientWebSocketResponse:
    """A bare Engine.IO WebSocket connected to ``/chat`` with ``token``."""
    ws = await raw_ws(session, server)
    await ws.send_str("40/chat," + json.dumps({"token": token}))
    answer = await receive_packet(ws, lambda p: p.startswith(("40/chat,", "44/chat,")))
    assert answer.startswith("40/chat,"), answer
    return ws


async def receive_packet(ws: aiohttp.ClientWebSocketResponse, predicate: Any, timeout: float = WAIT) -> str:
    """The next text frame matching ``predicate`` (pings answered, others skipped)."""

    async def run() -> str:
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"the WebSocket ended ({msg.type!r}) before the expected packet")
            if msg.data == "2":
                await ws.send_str("3")
            elif predicate(msg.data):
                return msg.data

    return await asyncio.wait_for(run(), timeout)


async def ws_call(ws: aiohttp.ClientWebSocketResponse, ack_id: int, event: str, payload: Any) -> Any:
    """Emit ``event`` with an ack id over a bare socket; the ack's data."""
    await ws.send_str(f"42/chat,{ack_id}" + json.dumps([event, payload]))
    packet = await receive_packet(ws, lambda p: (ack_of(p) or (None,))[0] == ack_id)
    return ack_of(packet)[1]  # type: ignore[index]


async def wait_closed(ws: aiohttp.ClientWebSocketResponse, timeout: float = WAIT) -> aiohttp.WSMsgType:
    """Read (answering pings) until the server closes the WebSocket; the closing message's type."""

    async def run() -> aiohttp.WSMsgType:
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR):
                return msg.type
            if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
                await ws.send_str("3")

    return await asyncio.wait_for(run(), timeout)


# -- python-socketio refusals ------------------------------------------------------------


async def refused(url: str, namespace: str = "/chat", **kwargs: Any) -> Any:
    """Connect a python-socketio client over WebSocket expecting a refusal; the ``connect_error`` data."""
    client = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[Any] = asyncio.Queue()
    client.on("connect_error", lambda data=None: errors.put_nowait(data), namespace=namespace)
    try:
        try:
            await client.connect(url, namespaces=[namespace], transports=["websocket"], wait_timeout=WAIT, **kwargs)
        except socketio.exceptions.ConnectionError as exc:
            assert namespace in str(exc), exc
        else:
            raise AssertionError("the connection was accepted")
        return await asyncio.wait_for(errors.get(), WAIT)
    finally:
        if client.eio.state == "connected":
            await client.eio.disconnect(abort=True)


def connect_error_message(data: Any) -> Any:
    return data.get("message") if isinstance(data, dict) else data
