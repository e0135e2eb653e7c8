"""Bare Engine.IO v4 / Socket.IO v5 clients for the fuzz suite: they send exactly the text they are given.

:class:`RawWebSocket` speaks over ``/socket.io/?EIO=4&transport=websocket``
(text frames as they are, binary frames as raw bytes), :class:`RawPolling`
over long-polling (one POST carries any payload, packets joined with
``\\x1e``; a background GET loop reads what the server sends). Both answer
pings, record every ack (``43/chat,<id>[...]``), every event and connect
reply, and whether the server closed the connection.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp

NS = "/chat"
ACK = re.compile(r"^43/chat,(\d+)(.*)$", re.S)
EVENT = re.compile(r"^42/chat,(\d*)(.*)$", re.S)


class RawClient:
    """What both transports share: the packet bookkeeping."""

    transport = "?"

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self.acks: dict[int, Any] = {}
        self.undecodable_acks: list[str] = []
        self.events: list[Any] = []
        self.connect_reply: str | None = None
        self.closed = asyncio.Event()
        self.close_reason = ""
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_id = 1000

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- what the server sent ----------------------------------------------------------

    async def _deliver(self, text: str) -> None:
        if text == "2":
            await self.send("3")
        elif text == "1":
            self._mark_closed("engine.io close packet")
        elif text.startswith("40/chat,") or text.startswith("44/chat,"):
            self.connect_reply = text
        elif text.startswith("41/chat"):
            self._mark_closed("namespace disconnect packet")
        else:
            match = ACK.match(text)
            if match:
                try:
                    self.acks[int(match.group(1))] = json.loads(match.group(2))
                except ValueError:
                    self.undecodable_acks.append(text[:300])
                    self.acks[int(match.group(1))] = ("undecodable", text[:300])
            else:
                match = EVENT.match(text)
                if match:
                    try:
                        self.events.append(json.loads(match.group(2)))
                    except ValueError:
                        self.events.append(("undecodable", text[:300]))
        self._changed.set()

    def _mark_closed(self, why: str) -> None:
        if not self.closed.is_set():
            self.close_reason = why
            self.closed.set()
        self._changed.set()

    async def _until(self, predicate: Any, timeout: float) -> bool:
        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()
        try:
            await asyncio.wait_for(wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    # -- connecting --------------------------------------------------------------

    async def join_chat(self, auth_json: str, timeout: float = 5) -> str | None:
        """Send the namespace CONNECT with this exact auth text; the server's reply (40 or 44), or None."""
        await self.send(f"40{NS}," + auth_json)
        await self._until(lambda: self.connect_reply is not None or self.closed.is_set(), timeout)
        return self.connect_reply

    @property
    def joined(self) -> bool:
        return bool(self.connect_reply and self.connect_reply.startswith("40/chat,"))

    # -- acks --------------------------------------------------------------------

    async def wait_ack(self, ack_id: int, timeout: float = 5) -> tuple[str, Any]:
        """``("ack", data)``, ``("closed", None)`` (the server closed the connection first) or ``("none", None)``."""
        await self._until(lambda: ack_id in self.acks or self.closed.is_set(), timeout)
        if ack_id in self.acks:
            return "ack", self.acks[ack_id]
        if self.closed.is_set():
            return "closed", None
        return "none", None

    async def wait_acks(self, ack_ids: list[int], timeout: float) -> None:
        await self._until(lambda: all(i in self.acks for i in ack_ids) or self.closed.is_set(), timeout)

    async def call(self, event: str, *args: Any, timeout: float = 5) -> tuple[str, Any]:
        """Emit a well-formed event with an ack id and wait for its ack."""
        ack_id = self.next_id()
        await self.send(f"42{NS},{ack_id}" + json.dumps([event, *args]))
        return await self.wait_ack(ack_id, timeout)

    async def send(self, data: str | bytes) -> Any:  # pragma: no cover - each transport's own
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - each transport's own
        raise NotImplementedError


class RawWebSocket(RawClient):
    """A bare Engine.IO WebSocket."""

    transport = "websocket"

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        super().__init__(http, base_url)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.open_packet: str | None = None

    async def open(self, timeout: float = 5) -> "RawWebSocket":
        url = self.base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = await self.http.ws_connect(url, max_msg_size=0, autoping=True)
        self.open_packet = await self.ws.receive_str(timeout=timeout)
        assert self.open_packet.startswith("0{"), self.open_packet
        self._task = asyncio.ensure_future(self._read())
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await self._deliver(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    self.events.append(("binary", bytes(msg.data)))
                else:
                    break
        except Exception as exc:  # reset by the server: closed
            self.close_reason = f"read failed: {exc!r}"
        finally:
            self._mark_closed(self.close_reason or f"websocket closed (code {self.ws.close_code})")

    async def send(self, data: str | bytes) -> Any:
        assert self.ws is not None
        if self.closed.is_set() or self.ws.closed:
            return None
        try:
            if isinstance(data, bytes):
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(data)
        except (ConnectionError, RuntimeError) as exc:  # the server closed it under us
            self._mark_closed(f"send failed: {exc!r}")
        return None

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 2)
            except (asyncio.TimeoutError, ConnectionError):
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass


class RawPolling(RawClient):
    """A bare Engine.IO long-polling session."""

    transport = "polling"

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        super().__init__(http, base_url)
        self.sid = ""
        self.post_statuses: list[int] = []
        self.get_statuses: list[int] = []

    @property
    def url(self) -> str:
        return f"{self.base_url}/socket.io/?EIO=4&transport=polling&sid={self.sid}"

    async def open(self, timeout: float = 5) -> "RawPolling":
        async with self.http.get(f"{self.base_url}/socket.io/?EIO=4&transport=polling",
                                 timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            assert r.status == 200, (r.status, await r.text())
            text = await r.text()
        assert text.startswith("0{"), text
        self.sid = json.loads(text[1:].split("\x1e")[0])["sid"]
        self._task = asyncio.ensure_future(self._poll())
        return self

    async def _poll(self) -> None:
        try:
            while not self.closed.is_set():
                async with self.http.get(self.url, timeout=aiohttp.ClientTimeout(total=60)) as r:
                    self.get_statuses.append(r.status)
                    body = await r.read()
                    if r.status != 200:
                        self._mark_closed(f"GET answered {r.status}: {body[:200]!r}")
                        return
                for packet in body.decode("utf-8", "surrogatepass").split("\x1e"):
                    if packet:
                        await self._deliver(packet)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._mark_closed(f"GET failed: {exc!r}")

    async def post(self, payload: str | bytes, timeout: float = 10) -> tuple[int, str]:
        """POST one payload as it is; the status and body."""
        data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        try:
            async with self.http.post(self.url, data=data, headers={"Content-Type": "text/plain;charset=UTF-8"},
                                      timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                self.post_statuses.append(r.status)
                body = (await r.read()).decode("utf-8", "replace")
                if r.status != 200 and r.status < 500:  # as the official client: the session is over
                    self._mark_closed(f"POST answered {r.status}: {body[:200]!r}")
                return r.status, body
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.post_statuses.append(-1)
            return -1, repr(exc)

    async def send(self, data: str | bytes) -> Any:
        if isinstance(data, bytes):  # Engine.IO v4 over polling: binary as "b" + base64
            import base64
            data = "b" + base64.b64encode(data).decode()
        return await self.post(data)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass


async def open_raw(kind: str, http: aiohttp.ClientSession, base_url: str, token: str | None = None) -> RawClient:
    """A raw client of ``kind`` (``websocket`` or ``polling``), joined to ``/chat`` with ``token`` if given."""
    client: RawClient = RawWebSocket(http, base_url) if kind == "websocket" else RawPolling(http, base_url)
    await client.open()  # type: ignore[attr-defined]
    if token is not None:
        reply = await client.join_chat(json.dumps({"token": token}))
        assert client.joined, (kind, reply, client.close_reason)
    return client
