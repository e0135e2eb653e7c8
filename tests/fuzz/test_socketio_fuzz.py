"""Socket.IO fuzzing against a live server, over real sockets.

Raw Engine.IO v4 / Socket.IO v5 frames over a WebSocket and over long-polling
POSTs (:mod:`.socket_clients`), plus python-socketio's ``AsyncClient`` for
well-formed events with wrong payloads (hypothesis-generated JSON values).

What every test asserts (contract sections 2, 4 and 9, and the fuzz brief):

- the server never answers an HTTP request with 5xx;
- every event that asked for an ack and can be decoded gets one: ``ok``, or an
  error whose code is one of contract section 2 (``internal`` counts as a
  failure: it is the 500 of acks); a frame that cannot be decoded at all may
  close only the connection that sent it, and a connection that is not closed
  keeps answering;
- the innocent clients connected alongside (python-socketio ``AsyncClient``,
  one over WebSocket, one over long-polling) are never disconnected and keep
  getting their acks and their own messages;
- the server logs no traceback (no record with ``exc_info``, no "Traceback").

Each test collects every problem it meets and fails with the list (what was
sent, what the server did), rather than stopping at the first.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kallemny_sio.config import Limits
from tests.conftest import Account, Api, ChatClient, RunningServer

from .helpers import ERROR_CODES, LogWatch
from .socket_clients import RawClient, RawPolling, RawWebSocket, open_raw

EVENTS = ["SendMessage", "JoinChatRoom", "LeaveChatRoom", "SendTypingIndicator", "MarkMessagesAsRead"]
TRANSPORTS = ["websocket", "polling"]
ACK_WAIT = 5.0
PROBE_WAIT = 3.0  # the probe after a bad frame: a healthy connection answers in milliseconds
SOCKET_LIMIT = 256 * 1024  # max_socket_payload_bytes, the default
SERVER_LOGGERS_IGNORED = ("socketio.client", "engineio.client")  # our own clients' logs are not the server's


# -- the scene: a fuzzer, two bystanders, their rooms ----------------------------------------


@dataclasses.dataclass
class Bystander:
    """An innocent python-socketio client: it must never notice the fuzzing."""

    client: ChatClient
    room_id: str
    transport: str
    disconnects: list[Any] = dataclasses.field(default_factory=list)

    async def still_served(self) -> list[str]:
        """Problems seen by this bystander: a disconnect, a missing ack, its own message not delivered."""
        who = f"bystander {self.client.name} ({self.transport})"
        if self.disconnects or not self.client.sio.connected:
            return [f"{who} was disconnected: {self.disconnects}"]
        marker = f"marker-{uuid.uuid4().hex}"
        try:
            ack = await self.client.call("SendMessage", {"roomId": self.room_id, "content": marker}, timeout=ACK_WAIT)
        except Exception as exc:
            return [f"{who} got no ack for its marker: {exc!r}"]
        if not (isinstance(ack, dict) and ack.get("ok") is True):
            return [f"{who}'s marker was refused: {ack!r:.300}"]
        try:
            await self.client.wait_for("ReceiveMessage", lambda d: isinstance(d, dict) and d.get("id") == ack["message"]["id"],
                                       timeout=ACK_WAIT)
        except asyncio.TimeoutError:
            return [f"{who} never received its own marker message"]
        return []


@dataclasses.dataclass
class Scene:
    server: RunningServer
    api: Api
    http: aiohttp.ClientSession
    alice: Account
    bob: Account
    carol: Account
    private: dict[str, Any]
    group: dict[str, Any]
    bystanders: list[Bystander]
    watch: LogWatch
    raws: list[RawClient] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)

    async def raw(self, kind: str, token: str | None = "alice") -> RawClient:
        """A raw client of ``kind``, joined to /chat as alice (``token=None``: not joined)."""
        client = await open_raw(kind, self.http, self.server.url, self.alice.token if token == "alice" else token)
        self.raws.append(client)
        return client

    def problem(self, text: str) -> None:
        self.problems.append(text)

    async def check_everything(self, what: str = "") -> None:
        """Fail with every problem recorded, plus the bystanders' and the log's."""
        for bystander in self.bystanders:
            self.problems.extend(await bystander.still_served())
        bad_log = [line for line in self.watch.bad if not line.startswith(SERVER_LOGGERS_IGNORED)]
        if bad_log:
            self.problems.append("the server logged tracebacks:\n      " + "\n      ".join(bad_log[:10])
                                 + (f"\n      ... {len(bad_log) - 10} more" if len(bad_log) > 10 else ""))
        if self.problems:
            shown = self.problems[:40]
            more = f"\n... and {len(self.problems) - 40} more" if len(self.problems) > 40 else ""
            pytest.fail(f"{what}{len(self.problems)} problem(s):\n- " + "\n- ".join(shown) + more, pytrace=False)

    async def close(self) -> None:
        for raw in self.raws:
            await raw.close()


async def build_scene(server: RunningServer, http: aiohttp.ClientSession) -> Scene:
    api = Api(server.url, http)
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    private = await api.create_private(alice, bob)
    group = await api.create_group(alice, [bob, carol], name="fuzz")
    bystanders = []
    for account, room, transport in ((bob, private, "websocket"), (carol, group, "polling")):
        client = ChatClient(account.username)
        bystander = Bystander(client, room["id"], transport)
        client.sio.on("disconnect", lambda *reason, b=bystander: b.disconnects.append(reason), namespace="/chat")
        await client.connect(server.url, account.token, transports=[transport])
        bystanders.append(bystander)
    watch = LogWatch().__enter__()
    return Scene(server, api, http, alice, bob, carol, private, group, bystanders, watch)


async def close_scene(scene: Scene) -> None:
    scene.watch.__exit__(None, None, None)
    await scene.close()
    for bystander in scene.bystanders:
        await bystander.client.close()


@pytest.fixture
async def scene(server: RunningServer, http: aiohttp.ClientSession) -> AsyncIterator[Scene]:
    built = await build_scene(server, http)
    yield built
    await close_scene(built)


# -- judging acks ------------------------------------------------------------------------------


def ack_problem(data: Any) -> str | None:
    """Why ``data`` (an ack's arguments) is not ``[{"ok": true, ...}]`` or a contract error ack, or None."""
    if isinstance(data, tuple) and data and data[0] == "undecodable":
        return f"an ack the client cannot decode: {data[1]!r:.200}"
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
        return f"ack is not one object: {data!r:.200}"
    ack = data[0]
    if ack.get("ok") is True:
        return None
    error = ack.get("error")
    if ack.get("ok") is not False or not isinstance(error, dict):
        return f"ack neither ok nor an error: {ack!r:.200}"
    if error.get("code") not in ERROR_CODES:
        return f"error code {error.get('code')!r} is not one of contract section 2"
    if error.get("code") == "internal":
        return f"internal error (the 500 of acks): {error!r:.200}"
    if not isinstance(error.get("message"), str) or not error["message"]:
        return f"error without a message: {error!r:.200}"
    if error["code"] == "rate_limited" and not (isinstance(error.get("retryAfterMs"), int) and error["retryAfterMs"] > 0):
        return f"rate_limited without retryAfterMs: {error!r:.200}"
    return None


def short(frame: str | bytes, n: int = 160) -> str:
    text = repr(frame)
    return text if len(text) <= n else f"{text[:n]}... ({len(frame)} {'bytes' if isinstance(frame, bytes) else 'chars'})"


async def fresh(scene: Scene, client: RawClient | None, kind: str) -> RawClient:
    """``client`` if the server has not closed it, else a new one joined as alice."""
    if client is not None and not client.closed.is_set():
        return client
    if client is not None:
        await client.close()
    return await scene.raw(kind)


async def probe(scene: Scene, client: RawClient, after: str) -> None:
    """A still-open connection must still be served: a well-formed event gets its ack."""
    if client.closed.is_set():
        return
    outcome, data = await client.call("SendMessage", {"roomId": scene.private["id"], "content": "probe"}, timeout=PROBE_WAIT)
    if outcome == "none":
        scene.problem(f"[{client.transport}] after {after}: the connection was not closed, yet a well-formed event "
                      f"sent next got no ack within {PROBE_WAIT:g} s")
    elif outcome == "ack" and (ack_problem(data) or not data[0].get("ok")):
        scene.problem(f"[{client.transport}] after {after}: a well-formed event was answered {data!r:.200}")


async def send_frame(client: RawClient, frame: str | bytes, scene: Scene) -> None:
    """Send one frame as it is (over polling: one POST), recording a 5xx."""
    if isinstance(client, RawPolling):
        if isinstance(frame, bytes):
            frame = b"b" + base64.b64encode(frame)  # Engine.IO v4 binary over polling
        status, body = await client.post(frame)
        if status >= 500 or status < 0:
            scene.problem(f"[polling] POST {short(frame)} answered {status}: {body[:200]!r}")
    else:
        await client.send(frame)


async def expect_ack(scene: Scene, client: RawClient, ack_id: int, sent: str, *, decodable: bool,
                     timeout: float = ACK_WAIT) -> Any:
    """The ack of a ``decodable`` event must come; for one that is not, an ack (if any) must be a proper one,
    and silence or a closed connection are allowed (the probe then checks an open connection still answers)."""
    outcome, data = await client.wait_ack(ack_id, timeout)
    if outcome == "ack":
        problem = ack_problem(data)
        if problem:
            scene.problem(f"[{client.transport}] {sent}: {problem}")
        return data
    if not decodable:
        return None
    what = "the connection was closed" if outcome == "closed" else f"no ack within {timeout:g} s (connection open)"
    scene.problem(f"[{client.transport}] {sent}: asked for an ack and {what} ({client.close_reason})")
    return None


# -- 1. malformed frames ----------------------------------------------------------------------

# (what, frame, must_ack): ``{id}`` is replaced by a fresh ack id and ``{room}``
# by the private room's id. ``must_ack``: the frame is a Socket.IO EVENT that
# decodes (valid JSON, a /chat namespace, an ack id, and a payload the official
# socket.io-parser accepts: an array whose first element is a string or a
# number), so it must get an ack. The others cannot be decoded as a Socket.IO
# packet: the server may drop them or close that connection (and only that
# one), but a connection it leaves open must keep answering (the probe).
FRAMES: list[tuple[str, str | bytes, bool]] = [
    ("bad JSON: open array", "42/chat,{id}[", False),
    ("bad JSON: object without value", '42/chat,{id}["SendMessage",{{"roomId":}}]', False),
    ("bad JSON: single quotes", "42/chat,{id}['SendMessage',{{}}]", False),
    ("bad JSON: trailing comma", '42/chat,{id}["SendMessage",{{"roomId":"{room}",}}]', False),
    ("bad JSON: NaN", '42/chat,{id}["SendMessage",{{"roomId":NaN}}]', False),
    ("bad JSON: 1e400", '42/chat,{id}["SendMessage",{{"roomId":1e400}}]', False),
    ("truncated mid-name", '42/chat,{id}["SendMess', False),
    ("truncated after the namespace", "42/chat,", False),
    ("truncated namespace", "42/cha", False),
    ("a lone Engine.IO message type", "4", False),
    ("an empty frame", "", False),
    ("unknown Socket.IO packet type 7", "47/chat,{id}[]", False),
    ("unknown Socket.IO packet type Z", "4Z", False),
    ("unknown Engine.IO packet type 9", "9", False),
    ("an ACK the server never asked for", '43/chat,{id}["hello"]', False),
    ("a BINARY_ACK from the client", '461-/chat,{id}[{{"_placeholder":true,"num":0}}]', False),
    ("a CONNECT_ERROR from the client", '44/chat,{{"message":"x"}}', False),
    ("a second CONNECT", '40/chat,{{"token":"not a token"}}', False),
    ("an Engine.IO UPGRADE on a WebSocket", "5", False),
    ("an Engine.IO NOOP from the client", "6", False),
    ("an unsolicited PONG", "3", False),
    ("a PING from the client", "2", False),
    ("control characters", "\x00\x01\x02\x03", False),
    ("a namespace never joined", '42/nowhere,{id}["SendMessage",{{}}]', False),
    ("the default namespace, never joined", '42{id}["SendMessage",{{}}]', False),
    ("namespace without a comma", '42/chat{id}["SendMessage",{{}}]', False),
    ("a negative id", '42/chat,-5["SendMessage",{{}}]', False),
    ("an id of 5000 digits", "42/chat," + "9" * 5000 + '["SendMessage",{{}}]', False),
    ("an absurd attachment count", '459999999999-/chat,{id}["SendMessage",{{}}]', False),
    ("nested 5000 deep", "42/chat,{id}[" + "[" * 5000 + "]" * 5000 + "]", False),
    ("garbage bytes in a binary frame", b"\x00\xff\xfe\x80garbage", False),
    ("a binary frame with no binary event pending", b"\x04\x01\x02\x03", False),
    # Decodable events that ask for an ack: they must get one.
    ("data not an array", '42/chat,{id}{{"roomId":"{room}"}}', False),
    ("data a string", '42/chat,{id}"SendMessage"', False),
    ("an event without a name", "42/chat,{id}[]", False),
    ("a number as the event name", '42/chat,{id}[5,{{"roomId":"{room}"}}]', True),
    ("null as the event name", '42/chat,{id}[null,{{"roomId":"{room}"}}]', False),
    ("an object as the event name", '42/chat,{id}[{{"a":1}},{{"roomId":"{room}"}}]', False),
    ("a list as the event name", '42/chat,{id}[["SendMessage"],{{"roomId":"{room}"}}]', False),
    ("an id of 20 digits", '42/chat,99999999999999999999["SendMessage",{{"roomId":"{room}","content":"x"}}]', True),
    ("an id with leading zeros", '42/chat,007["SendMessage",{{"roomId":"{room}","content":"x"}}]', True),
    ("duplicate keys", '42/chat,{id}["SendMessage",{{"roomId":"nope","roomId":"{room}","content":"dup"}}]', True),
    ("NUL inside content", '42/chat,{id}["SendMessage",{{"roomId":"{room}","content":"a\\u0000b"}}]', True),
    ("NUL inside roomId", '42/chat,{id}["SendMessage",{{"roomId":"{room}\\u0000","content":"x"}}]', True),
    ("a huge number as roomId", '42/chat,{id}["SendMessage",{{"roomId":1e308,"content":"x"}}]', True),
    ("a 2^64 integer as roomId", '42/chat,{id}["SendMessage",{{"roomId":18446744073709552000,"content":"x"}}]', True),
    ("__proto__ key", '42/chat,{id}["SendMessage",{{"__proto__":{{"roomId":"{room}"}},"content":"x"}}]', True),
    ("an unknown event with 100 arguments", '42/chat,{id}["NoSuchEvent"' + ",1" * 100 + "]", True),
]


def fill(template: str | bytes, ack_id: int, room: str) -> str | bytes:
    if isinstance(template, bytes):
        return template
    return template.replace("{id}", str(ack_id)).replace("{room}", room).replace("{{", "{").replace("}}", "}")


def ack_id_of(frame: str) -> int | None:
    """The ack id the frame asks for, as the server reads it."""
    for prefix in ("42/chat,",):
        if frame.startswith(prefix):
            digits = ""
            for ch in frame[len(prefix):]:
                if not ch.isdigit():
                    break
                digits += ch
            return int(digits) if digits else None
    return None


async def each_on_its_own_connection(scene: Scene, kind: str, cases: list[Any],
                                     one: Callable[[RawClient, Any], Awaitable[None]], parallel: int = 1) -> None:
    """Run ``one(client, case)`` for every case, each on a fresh connection of alice's.

    One at a time (the default), a traceback the server logs is attributed to the case that caused it.
    """
    gate = asyncio.Semaphore(parallel)

    async def run(case: Any) -> None:
        async with gate:
            if parallel == 1:
                scene.watch.context = short(case[1], 100)
            client = await scene.raw(kind)
            try:
                await one(client, case)
            finally:
                await client.close()

    await asyncio.gather(*(run(case) for case in cases))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_malformed_frames(scene: Scene, kind: str) -> None:
    async def one(client: RawClient, case: tuple[str, str | bytes, bool]) -> None:
        what, template, must_ack = case
        frame = fill(template, client.next_id(), scene.private["id"])
        label = f"{what} {short(frame, 100)}"
        await send_frame(client, frame, scene)
        if must_ack:
            expected = ack_id_of(frame)  # type: ignore[arg-type]
            assert expected is not None, frame
            await expect_ack(scene, client, expected, label, decodable=True)
        else:
            await asyncio.sleep(0.05)
        await probe(scene, client, label)

    await each_on_its_own_connection(scene, kind, FRAMES, one)
    scene.watch.context = "invalid UTF-8 as text"

    # Invalid UTF-8 where text is expected (a text WebSocket frame, a polling POST).
    client = await scene.raw(kind)
    invalid_utf8 = b'42/chat,1["SendMessage","\xff\xfe"]'
    if isinstance(client, RawWebSocket) and client.ws is not None:
        await client.ws.send_frame(invalid_utf8, aiohttp.WSMsgType.TEXT)
    elif isinstance(client, RawPolling):
        status, body = await client.post(invalid_utf8)
        if status >= 500 or status < 0:
            scene.problem(f"[polling] POST of invalid UTF-8 answered {status}: {body[:200]!r}")
    await asyncio.sleep(0.1)
    await probe(scene, client, "invalid UTF-8 as text")
    scene.watch.context = ""
    await scene.check_everything(f"malformed frames over {kind}: ")


# -- 2. random frames (hypothesis) -----------------------------------------------------------


async def hypothesis_run(strategy: Any, body: Callable[[Any], Awaitable[None]], max_examples: int) -> None:
    """Run ``body`` on ``max_examples`` values of ``strategy``, on this loop (hypothesis runs in a thread).

    ``body`` records problems rather than raising, so a run reports all of them;
    no shrinking (each example costs a round trip).
    """
    loop = asyncio.get_running_loop()

    def run() -> None:
        @settings(max_examples=max_examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def one(value: Any) -> None:
            asyncio.run_coroutine_threadsafe(body(value), loop).result(timeout=60)

        one()

    await asyncio.to_thread(run)


# A prefix, then random text (or random bytes). The binary-event prefix is left
# to the binary tricks below: a connection waiting for attachments is their subject.
PREFIXES = ["42/chat,", "42/chat,{id}", '42/chat,{id}["SendMessage",', "40/chat,", "4", ""]
random_frames = st.one_of(
    st.tuples(st.sampled_from(PREFIXES), st.text(max_size=60)).map(lambda t: t[0] + t[1]),
    st.binary(max_size=60),
)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_random_frames(scene: Scene, kind: str) -> None:
    """Random frames, each followed by a probe on the same connection (closed: the next frame gets a new one)."""
    state: dict[str, RawClient | None] = {"client": None}

    async def one(frame: str | bytes) -> None:
        client = state["client"] = await fresh(scene, state["client"], kind)
        if isinstance(frame, str):
            frame = frame.replace("{id}", str(client.next_id()))
        scene.watch.context = short(frame, 100)
        await send_frame(client, frame, scene)
        if client.closed.is_set():
            return
        outcome, data = await client.call("SendMessage", {"roomId": scene.private["id"], "content": "probe"}, timeout=1.5)
        if outcome == "none":
            scene.problem(f"[{kind}] after {short(frame, 100)}: the connection was not closed, yet a well-formed event "
                          "sent next got no ack within 1.5 s")
            await client.close()
            state["client"] = None
        elif outcome == "ack" and ack_problem(data):
            scene.problem(f"[{kind}] after {short(frame, 100)}: the probe was answered {data!r:.200}")

    await hypothesis_run(random_frames, one, 200)
    scene.watch.context = ""
    await scene.check_everything(f"random frames over {kind}: ")


# -- 3. wrong types in every event's payload (AsyncClient, hypothesis) ---------------------------

KEYS = ["roomId", "content", "clientMessageId", "isTyping", "messageId", "replyToId", "$gt", "__proto__", ""]


def json_values(room_ids: list[str]) -> Any:
    leaves = st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64),
        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
        st.sampled_from(room_ids + ["", " ", "0", "-1", "\x00", "$gt", "x" * 5000]),
        st.binary(max_size=8),
    )
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4),
                        max_leaves=10)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("event", EVENTS + ["<random name>"])
async def test_wrong_types_get_an_ack(scene: Scene, event: str, connect: Any) -> None:
    """Every event, with 0-3 arguments of any JSON (and binary) values: always an ack, never ``internal``."""
    room_ids = [scene.private["id"], scene.group["id"]]
    state: dict[str, ChatClient | None] = {"client": None}
    names = st.text(max_size=20) if event.startswith("<") else st.just(event)

    async def one(value: tuple[str, list[Any]]) -> None:
        name, args = value
        client = state["client"]
        if client is None or not client.sio.connected:
            if client is not None:
                scene.problem(f"{event}: the fuzzing AsyncClient was disconnected")
            client = state["client"] = await connect(scene.alice)
        try:
            ack = await client.sio.call(name, tuple(args), namespace="/chat", timeout=ACK_WAIT)
        except Exception as exc:
            scene.problem(f"{name!r}{tuple(args)!r:.200}: no ack ({type(exc).__name__})")
            return
        problem = ack_problem([ack])
        if problem:
            scene.problem(f"{name!r}{tuple(args)!r:.200}: {problem}")

    await hypothesis_run(st.tuples(names, st.lists(json_values(room_ids), max_size=3)), one, 150)
    await scene.check_everything(f"{event} with wrong types: ")


# -- 4. lone UTF-16 surrogates ----------------------------------------------------------------------

# JavaScript's JSON.stringify writes a lone surrogate as the escape \\ud800:
# the text is valid JSON, and each of these events asks for an ack.
SURROGATE_EVENTS = [
    ("in content", '["SendMessage",{{"roomId":"{room}","content":"a\\ud800b"}}]'),
    ("a lone low surrogate in content", '["SendMessage",{{"roomId":"{room}","content":"\\udc00"}}]'),
    ("in roomId", '["SendMessage",{{"roomId":"\\ud800","content":"x"}}]'),
    ("in clientMessageId", '["SendMessage",{{"roomId":"{room}","content":"x","clientMessageId":"\\ud800"}}]'),
    ("in the event name", '["Send\\ud800Message",{{"roomId":"{room}","content":"x"}}]'),
    ("in a key", '["SendMessage",{{"room\\ud800Id":"{room}","content":"x"}}]'),
    ("in JoinChatRoom's roomId", '["JoinChatRoom","\\ud800"]'),
    ("in LeaveChatRoom's roomId", '["LeaveChatRoom",{{"roomId":"\\udfff"}}]'),
    ("in SendTypingIndicator's roomId", '["SendTypingIndicator","\\ud800",true]'),
    ("in MarkMessagesAsRead's messageId", '["MarkMessagesAsRead",{{"roomId":"{room}","messageId":"\\ud800"}}]'),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_lone_surrogates(scene: Scene, kind: str) -> None:
    client: RawClient | None = None
    for what, template in SURROGATE_EVENTS:
        client = await fresh(scene, client, kind)
        ack_id = client.next_id()
        frame = f"42/chat,{ack_id}" + str(fill(template, ack_id, scene.private["id"]))
        await send_frame(client, frame, scene)
        await expect_ack(scene, client, ack_id, f"a lone surrogate {what} {short(frame, 120)}", decodable=True)
    # A valid surrogate pair is just an emoji: stored and delivered as sent.
    client = await fresh(scene, client, kind)
    outcome, data = await client.call("SendMessage", {"roomId": scene.private["id"], "content": "pair \ud83d\ude00"})
    if outcome != "ack" or ack_problem(data) or not data[0].get("ok"):
        scene.problem(f"[{kind}] a valid surrogate pair (an emoji) was not accepted: {outcome} {data!r:.200}")
    history = await scene.api.history(scene.bob, scene.private["id"])
    if not any(m["content"] == "pair \U0001F600" for m in history["messages"]):
        scene.problem(f"[{kind}] the emoji message is not in the history as sent")
    # At connect: a lone surrogate in auth.token is refused with connect_error "unauthorized".
    for token in ('"\\ud800"', '"ey\\udc00J"'):
        raw = await scene.raw(kind, token=None)
        reply = await raw.join_chat('{"token":' + token + "}")
        if reply is None or not reply.startswith("44/chat,"):
            scene.problem(f"[{kind}] CONNECT with auth.token {token}: expected connect_error, got {reply!r} "
                          f"({raw.close_reason or 'connection open'})")
        else:
            try:
                message = json.loads(reply[len("44/chat,"):]).get("message")
            except ValueError:
                message = reply
            if message != "unauthorized":
                scene.problem(f"[{kind}] CONNECT with auth.token {token}: connect_error {message!r}, not 'unauthorized'")
    await scene.check_everything(f"lone surrogates over {kind}: ")


# -- 5. oversize payloads -------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_oversize_payloads(scene: Scene, kind: str) -> None:
    room = scene.private["id"]
    # Over the socket limit (256 KiB): an ack (too_large) or that connection closed; nothing stored.
    for size in (SOCKET_LIMIT + 1024, 300_000, 1_100_000):
        client = await scene.raw(kind)
        ack_id = client.next_id()
        frame = f'42/chat,{ack_id}["SendMessage",{{"roomId":"{room}","content":"{"x" * size}"}}]'
        await send_frame(client, frame, scene)
        await expect_ack(scene, client, ack_id, f"a {size}-character message (over the socket limit)",
                         decodable=False, timeout=2)
        await probe(scene, client, f"an oversize frame of {size} characters")
    # An oversize CONNECT: refused or closed, never served.
    raw = await scene.raw(kind, token=None)
    await raw.join_chat(json.dumps({"token": "x" * 300_000}))
    if raw.joined:
        scene.problem(f"[{kind}] a 300 KB CONNECT was accepted")
    # Under the socket limit, over the content limit: an invalid ack, the connection stays.
    client = await scene.raw(kind)
    for size in (4001, 100_000, SOCKET_LIMIT - 1024):
        ack_id = client.next_id()
        frame = f'42/chat,{ack_id}["SendMessage",{{"roomId":"{room}","content":"{"y" * size}"}}]'
        await send_frame(client, frame, scene)
        data = await expect_ack(scene, client, ack_id, f"a {size}-character message (under the socket limit)",
                                decodable=True)
        if data and data[0].get("ok") is not False:
            scene.problem(f"[{kind}] a {size}-character message was accepted: {data!r:.200}")
    history = await scene.api.history(scene.bob, room, limit=100)
    too_long = [len(m["content"]) for m in history["messages"] if len(m["content"]) > 4000]
    if too_long:
        scene.problem(f"[{kind}] messages over 4000 characters were stored: {too_long}")
    await scene.check_everything(f"oversize payloads over {kind}: ")


# -- 6. binary-attachment tricks --------------------------------------------------------------------------

PH = '{{{{"_placeholder":true,"num":{n}}}}}'  # .format(n=...) leaves the {{ }} that fill() unescapes

# (what, header frame, attachments, must_ack). The header asks for an ack with id {id}.
BINARY_TRICKS: list[tuple[str, str, list[bytes], bool]] = [
    ("placeholder num 5 with one attachment", '451-/chat,{id}["SendMessage",' + PH.format(n=5) + "]", [b"\x01"], False),
    ("placeholder num -1", '451-/chat,{id}["SendMessage",' + PH.format(n=-1) + "]", [b"\x01"], False),
    ("placeholder num not a number", '451-/chat,{id}["SendMessage",{{"_placeholder":true,"num":"0"}}]', [b"\x01"], False),
    ("placeholder without num", '451-/chat,{id}["SendMessage",{{"_placeholder":true}}]', [b"\x01"], False),
    ("placeholder but zero attachments", '450-/chat,{id}["SendMessage",' + PH.format(n=0) + "]", [], False),
    ("two placeholders, one attachment sent", '452-/chat,{id}["SendMessage",' + PH.format(n=0) + "," + PH.format(n=1) + "]",
     [b"\x01"], False),
    ("attachment count without placeholders", '452-/chat,{id}["SendMessage",{{"roomId":"{room}","content":"x"}}]',
     [b"\x01", b"\x02"], False),
    ("a huge attachment count", '459999999999-/chat,{id}["SendMessage",' + PH.format(n=0) + "]", [b"\x01"], False),
    ("a missing dash", '451/chat,{id}["SendMessage",' + PH.format(n=0) + "]", [b"\x01"], False),
    # Well-formed binary events: decodable, so they must be answered.
    ("bytes as content", '451-/chat,{id}["SendMessage",{{"roomId":"{room}","content":' + PH.format(n=0) + "}}]",
     [b"hello"], True),
    ("bytes as roomId", '451-/chat,{id}["JoinChatRoom",' + PH.format(n=0) + "]", [b"\x00" * 16], True),
    ("bytes as the whole payload", '451-/chat,{id}["MarkMessagesAsRead",' + PH.format(n=0) + "]", [b"\xff"], True),
    ("a 150 KB attachment", '451-/chat,{id}["SendMessage",{{"roomId":"{room}","content":' + PH.format(n=0) + "}}]",
     [b"z" * 150_000], True),  # base64 over polling: 200 KB, under the socket limit
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_binary_attachment_tricks(scene: Scene, kind: str) -> None:
    async def one(client: RawClient, trick: tuple[str, str, list[bytes], bool]) -> None:
        what, template, attachments, must_ack = trick
        ack_id = client.next_id()
        header = str(fill(template, ack_id, scene.private["id"]))
        if isinstance(client, RawPolling):
            # One POST: the header and its attachments ("b" + base64), as the official client sends them.
            payload = "\x1e".join([header] + ["b" + base64.b64encode(a).decode() for a in attachments])
            status, body = await client.post(payload)
            if status >= 500 or status < 0:
                scene.problem(f"[polling] binary trick '{what}': POST answered {status}: {body[:200]!r}")
        else:
            await client.send(header)
            for attachment in attachments:
                await client.send(attachment)
        await expect_ack(scene, client, ack_id, f"binary trick '{what}' {short(header, 100)}", decodable=must_ack,
                         timeout=ACK_WAIT if must_ack else 1)
        await probe(scene, client, f"binary trick '{what}' {short(header, 100)}")

    await each_on_its_own_connection(scene, kind, BINARY_TRICKS, one)  # a bad trick may close its connection
    scene.watch.context = ""
    await scene.check_everything(f"binary attachment tricks over {kind}: ")


# -- 7. many packets in one long-polling POST -------------------------------------------------------------


async def stored_with(scene: Scene, room: str, tag: str) -> int:
    """How many messages of ``room`` (all of its history, page by page) start with ``tag``."""
    found, params = 0, {"limit": 100}
    while True:
        page = await scene.api.history(scene.bob, room, **params)
        found += sum(1 for m in page["messages"] if m["content"].startswith(tag))
        if not page["hasMore"] or not page["messages"]:
            return found
        params = {"limit": 100, "before": page["messages"][0]["id"]}


def send_frames(room: str, ids: list[int], tag: str) -> list[str]:
    return [f'42/chat,{i}["SendMessage",{{"roomId":"{room}","content":"{tag} {n}","clientMessageId":"{tag}-{n}"}}]'
            for n, i in enumerate(ids)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("count", [16, 18, 100])
async def test_many_packets_in_one_polling_post(scene: Scene, count: int) -> None:
    """The official client joins every emit of one tick into one POST (``\\x1e``): all of them are answered."""
    client = await scene.raw("polling")
    assert isinstance(client, RawPolling)
    room = scene.private["id"]
    tag = f"batch{count}-{uuid.uuid4().hex[:6]}"
    ids = [client.next_id() for _ in range(count)]
    status, body = await client.post("\x1e".join(send_frames(room, ids, tag)))
    if status != 200:
        scene.problem(f"POST of {count} packets answered {status}: {body[:200]!r}")
    await client.wait_acks(ids, 15)
    missing = [i for i in ids if i not in client.acks]
    if missing:
        scene.problem(f"{len(missing)} of {count} emits in one POST got no ack (connection "
                      f"{'closed: ' + client.close_reason if client.closed.is_set() else 'open'})")
    refused = [client.acks[i] for i in ids if i in client.acks and (ack_problem(client.acks[i]) or not client.acks[i][0].get("ok"))]
    if refused:
        scene.problem(f"{len(refused)} of {count} emits refused, e.g. {refused[0]!r:.200}")
    stored = await stored_with(scene, room, tag)
    if stored != count:
        scene.problem(f"{stored} of the {count} messages of one POST were stored")
    # Mixed events in one POST: every one answered.
    events = [f'42/chat,{{id}}["SendTypingIndicator","{room}",true]', f'42/chat,{{id}}["MarkMessagesAsRead","{room}"]',
              f'42/chat,{{id}}["JoinChatRoom","{room}"]', '42/chat,{id}["NoSuchEvent"]',
              f'42/chat,{{id}}["SendMessage",{{{{"roomId":"{room}","content":"mixed"}}}}]']
    client = await fresh(scene, client, "polling")
    assert isinstance(client, RawPolling)
    mixed_ids = [client.next_id() for _ in range(count)]
    frames = [str(fill(events[n % len(events)], i, room)) for n, i in enumerate(mixed_ids)]
    status, body = await client.post("\x1e".join(frames))
    if status != 200:
        scene.problem(f"POST of {count} mixed packets answered {status}: {body[:200]!r}")
    await client.wait_acks(mixed_ids, 15)
    missing = [i for i in mixed_ids if i not in client.acks]
    if missing:
        scene.problem(f"{len(missing)} of {count} mixed emits in one POST got no ack")
    for i in mixed_ids:
        if i in client.acks and ack_problem(client.acks[i]):
            scene.problem(f"mixed emit {i}: {ack_problem(client.acks[i])}")
    await scene.check_everything(f"{count} packets in one POST: ")


# -- 8. a short flood ------------------------------------------------------------------------------------

FLOOD = 300


async def flood(scene: Scene, kind: str, count: int, ack_timeout: float) -> tuple[list[Any], list[int]]:
    """Send ``count`` SendMessage events without waiting, while the bystanders keep calling; the acks."""
    client = await scene.raw(kind)
    room = scene.private["id"]
    tag = f"flood-{kind}-{uuid.uuid4().hex[:6]}"
    ids = [client.next_id() for _ in range(count)]
    frames = send_frames(room, ids, tag)

    async def send_all() -> None:
        if isinstance(client, RawPolling):
            for start in range(0, count, 10):  # ten per POST: under engineio's 16-packet limit
                status, body = await client.post("\x1e".join(frames[start:start + 10]))
                if status != 200:
                    scene.problem(f"[polling] flood POST answered {status}: {body[:200]!r}")
        else:
            for frame in frames:
                await client.send(frame)

    async def bystanders_meanwhile() -> None:
        for _ in range(3):
            for bystander in scene.bystanders:
                scene.problems.extend(await bystander.still_served())

    await asyncio.gather(send_all(), bystanders_meanwhile())
    await client.wait_acks(ids, ack_timeout)
    missing = [i for i in ids if i not in client.acks]
    if missing:
        scene.problem(f"[{kind}] {len(missing)} of {count} flooded events got no ack within {ack_timeout:g} s "
                      f"(connection {'closed: ' + client.close_reason if client.closed.is_set() else 'open'})")
    acks = [client.acks[i][0] if isinstance(client.acks[i], list) and client.acks[i] else client.acks[i]
            for i in ids if i in client.acks]
    for i in ids:
        if i in client.acks:
            problem = ack_problem(client.acks[i])
            if problem:
                scene.problem(f"[{kind}] flood ack {i}: {problem}")
                break
    return acks, [await stored_with(scene, room, tag)]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_flood(scene: Scene, kind: str) -> None:
    """A few hundred events without waiting: every one answered (ok, or rate_limited), nobody else notices."""
    acks, _ = await flood(scene, kind, FLOOD, 30)
    others = [a for a in acks if isinstance(a, dict) and not a.get("ok") and a.get("error", {}).get("code") != "rate_limited"]
    if others:
        scene.problem(f"[{kind}] flooded events refused other than rate_limited: {others[0]!r:.200}")
    await scene.check_everything(f"flood over {kind}: ")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_flood_with_limits_on(server_factory: Any, http: aiohttp.ClientSession, kind: str) -> None:
    """With the limits of contract section 9 on: the flood is answered ``rate_limited`` past the limits, nothing
    refused is stored, and the bystanders (other users, their own limits) are served throughout."""
    server = await server_factory(limits=Limits())
    scene = await build_scene(server, http)
    try:
        acks, (stored,) = await flood(scene, kind, 200, 60)
        ok = [a for a in acks if isinstance(a, dict) and a.get("ok") is True]
        limited = [a for a in acks if isinstance(a, dict) and a.get("error", {}).get("code") == "rate_limited"]
        others = [a for a in acks if isinstance(a, dict) and a not in ok and a not in limited]
        if not limited:
            scene.problem(f"[{kind}] 200 messages at once with limits on: none refused rate_limited "
                          f"({len(ok)} ok; MESSAGES_PER_USER is {Limits().messages_per_user})")
        if others:
            scene.problem(f"[{kind}] flooded events refused other than rate_limited: {others[0]!r:.200}")
        allowed = Limits().messages_per_user.count + 5  # the burst, and what refills while the flood lasts
        if len(ok) > allowed:
            scene.problem(f"[{kind}] {len(ok)} of 200 messages sent at once were accepted (MESSAGES_PER_USER "
                          f"{Limits().messages_per_user}: at most about {allowed})")
        if stored != len(ok):
            scene.problem(f"[{kind}] {stored} flooded messages stored, {len(ok)} acked ok (nothing refused may be stored)")
        await scene.check_everything(f"flood with limits on over {kind}: ")
    finally:
        await close_scene(scene)
