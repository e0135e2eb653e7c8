"""The official JavaScript client, ``socket.io-client`` 4.x, against a real server.

Proves contract sections 4, 6 and 7 from a browser/Node client's side: each test sets up
users and rooms over REST, then runs one scenario of ``scenarios.mjs`` in Node
(authentication by ``auth``, header and query; refusal; send/ack/receive;
typing; read receipts; presence; error acks; WebSocket-only, polling-only and
mixed transports) and checks its one-line JSON result, and where it matters
the stored state over REST.

Needs ``node`` and ``tests/js/node_modules`` (``npm ci`` in tests/js, which
``scripts/test.sh`` runs). Without them the tests skip, except under CI
(``CI`` set), where a missing client is a broken setup and the tests fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.conftest import Account, Api, RunningServer

JS_DIR = Path(__file__).resolve().parent
SCRIPT = JS_DIR / "scenarios.mjs"
NODE = shutil.which("node")
CLIENT_PACKAGE = JS_DIR / "node_modules" / "socket.io-client" / "package.json"
PROCESS_TIMEOUT = 30.0  # seconds; each scenario also has its own 10 s limit

_missing = (
    "node is not on PATH" if NODE is None
    else None if CLIENT_PACKAGE.exists()
    else "socket.io-client is not installed"
)
if _missing and os.environ.get("CI"):
    # Under CI the client is always installed first: its absence is a broken setup, not a skip.
    pytestmark = pytest.mark.usefixtures("_js_client_required")
else:
    pytestmark = pytest.mark.skipif(
        _missing is not None,
        reason=f"{_missing}: run `npm ci` in tests/js (Node 18+) to test the JavaScript client",
    )


@pytest.fixture
def _js_client_required() -> None:
    pytest.fail(f"{_missing}: run `npm ci` in tests/js (scripts/test.sh does) before the tests")


# -- running a scenario -------------------------------------------------------------


def user(account: Account) -> dict[str, str]:
    return {"token": account.token, "id": account.id, "username": account.username}


async def run_js(server: RunningServer, scenario: str, **config: Any) -> dict[str, Any]:
    """Run one scenario in Node; return its JSON result (failing the test on a non-zero exit)."""
    assert NODE is not None
    payload = json.dumps({"scenario": scenario, "url": server.url, "timeoutMs": 10_000, **config})
    proc = await asyncio.create_subprocess_exec(
        NODE, str(SCRIPT), payload, cwd=JS_DIR,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), PROCESS_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"node scenario {scenario!r} still running after {PROCESS_TIMEOUT} s: killed")
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        pytest.fail(f"scenario {scenario!r} exited {proc.returncode} without a JSON result\n"
                    f"stdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}")
    if proc.returncode != 0 or not result.get("ok"):
        pytest.fail(f"scenario {scenario!r} failed (exit {proc.returncode}): {result.get('error')}\n"
                    f"stderr: {stderr[-2000:]}")
    assert result["scenario"] == scenario
    return result


@pytest.fixture
async def pair(api: Api) -> tuple[Account, Account, dict[str, Any]]:
    """Users A and B and a group room they both belong to."""
    a, b = await api.register(), await api.register()
    room = await api.create_group(a, [b], name="js client")
    return a, b, room


WS, POLL = ["websocket"], ["polling"]
TRANSPORTS = {"default": None, "websocket": WS, "polling": POLL}


# -- authentication -----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["default", "websocket", "polling"])
async def test_connect_with_auth_token(server: RunningServer, api: Api, pair: Any, transport: str) -> None:
    a, b, room = pair
    result = await run_js(server, "connect-auth", a=user(a), roomId=room["id"], transports=TRANSPORTS[transport])
    assert result["senderId"] == a.id
    if transport != "default":
        assert result["transport"] == transport


@pytest.mark.parametrize("transport", ["default", "websocket", "polling"])
async def test_connect_with_authorization_header(server: RunningServer, api: Api, pair: Any, transport: str) -> None:
    # Browsers can only send headers on polling; Node's client sends them on the WebSocket upgrade too.
    a, b, room = pair
    result = await run_js(server, "connect-header", a=user(a), roomId=room["id"], transports=TRANSPORTS[transport])
    assert result["senderId"] == a.id
    if transport != "default":
        assert result["transport"] == transport


@pytest.mark.parametrize("transport", ["default", "websocket", "polling"])
async def test_connect_with_query_token(server: RunningServer, api: Api, pair: Any, transport: str) -> None:
    a, b, room = pair
    result = await run_js(server, "connect-query", a=user(a), roomId=room["id"], transports=TRANSPORTS[transport])
    assert result["senderId"] == a.id
    if transport != "default":
        assert result["transport"] == transport


def forged_token(server: RunningServer, user_id: str) -> str:
    """Well-formed claims signed with the wrong secret."""
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + 3600, "iss": server.settings.jwt_issuer}
    return jwt.encode(claims, "not-the-" + server.settings.jwt_secret, algorithm="HS256")


def expired_token(server: RunningServer, user_id: str) -> str:
    """The server's own secret and issuer, expired an hour ago."""
    now = int(time.time())
    claims = {"sub": user_id, "iat": now - 7200, "exp": now - 3600, "iss": server.settings.jwt_issuer}
    return jwt.encode(claims, server.settings.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize("mode,kind,transport", [
    ("auth", "garbage", "default"),
    ("auth", "garbage", "websocket"),
    ("auth", "forged", "polling"),
    ("auth", "expired", "websocket"),
    ("header", "garbage", "polling"),
    ("header", "forged", "websocket"),
    ("query", "garbage", "default"),
    ("query", "expired", "polling"),
    ("none", None, "default"),
    ("none", None, "websocket"),
])
async def test_bad_token_is_refused_unauthorized(server: RunningServer, api: Api, mode: str, kind: str | None,
                                                 transport: str) -> None:
    a = await api.register()
    tokens = {"garbage": lambda: "not.a.jwt", "forged": lambda: forged_token(server, a.id),
              "expired": lambda: expired_token(server, a.id), None: lambda: None}
    token = tokens[kind]()
    result = await run_js(server, "bad-token", mode=mode, token=token, transports=TRANSPORTS[transport])
    assert result["message"] == "unauthorized"


# -- events ------------------------------------------------------------------------


@pytest.mark.parametrize("transports,peer", [
    ("default", "default"),
    ("websocket", "websocket"),
    ("polling", "polling"),
    ("websocket", "polling"),
], ids=["default", "websocket-only", "polling-only", "websocket-to-polling"])
async def test_send_ack_and_receive(server: RunningServer, api: Api, pair: Any, transports: str, peer: str) -> None:
    a, b, room = pair
    result = await run_js(server, "send-receive", a=user(a), b=user(b), roomId=room["id"],
                          transports=TRANSPORTS[transports], peerTransports=TRANSPORTS[peer])
    if transports != "default":
        assert result["transports"] == [transports, peer]
    # Acknowledged means stored: both messages are in the history, in order.
    history = await api.history(b, room["id"])
    assert [m["id"] for m in history["messages"]] == result["messageIds"]
    assert [m["senderId"] for m in history["messages"]] == [a.id, b.id]


async def test_resent_client_message_id_is_not_delivered_twice(server: RunningServer, api: Api, pair: Any) -> None:
    a, b, room = pair
    result = await run_js(server, "resend-dedupe", a=user(a), b=user(b), roomId=room["id"])
    assert result["copiesAtB"] == 1
    history = await api.history(a, room["id"])
    assert [m["id"] for m in history["messages"]] == [result["messageId"], result["barrierId"]]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_typing_indicator(server: RunningServer, api: Api, pair: Any, transport: str) -> None:
    a, b, room = pair
    result = await run_js(server, "typing", a=user(a), b=user(b), roomId=room["id"], transports=TRANSPORTS[transport])
    ttl_ms = server.settings.typing_ttl_seconds * 1000
    # The false came from the expiry timer, not at once; and not long after it.
    assert 0.6 * ttl_ms <= result["expiredAfterMs"] < ttl_ms + 4000, result
    assert result["eventsAtB"] == [True, False, True, False]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_read_receipts(server: RunningServer, api: Api, pair: Any, transport: str) -> None:
    a, b, room = pair
    result = await run_js(server, "read-receipts", a=user(a), b=user(b), roomId=room["id"],
                          transports=TRANSPORTS[transport])
    status, rooms = await api.request("GET", "/api/chat/rooms", token=b.token)
    assert status == 200
    (mine,) = [r for r in rooms if r["id"] == room["id"]]
    assert mine["lastReadMessageId"] == result["lastReadMessageIds"][-1]
    assert mine["unreadCount"] == 0


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_presence_online_and_offline(server: RunningServer, api: Api, pair: Any, transport: str) -> None:
    a, b, room = pair
    result = await run_js(server, "presence", a=user(a), b=user(b), roomId=room["id"], transports=TRANSPORTS[transport])
    assert result["online"]["userId"] == b.id and result["online"]["isOnline"] is True
    assert result["offline"]["userId"] == b.id and result["offline"]["isOnline"] is False


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_send_to_foreign_room_gets_forbidden_ack(server: RunningServer, api: Api, pair: Any, transport: str) -> None:
    a, b, room = pair
    c = await api.register()
    foreign = await api.create_group(b, [c], name="not A's")
    result = await run_js(server, "forbidden", a=user(a), b=user(b), roomId=room["id"], foreignRoomId=foreign["id"],
                          transports=TRANSPORTS[transport])
    assert result["ack"]["ok"] is False
    assert result["ack"]["error"]["code"] == "forbidden"
    assert (await api.history(b, foreign["id"]))["messages"] == []


# -- messages after they are sent (contract section 6) ---------------------------------


async def _stored(api: Api, who: Account, room_id: str, message_id: str) -> dict[str, Any]:
    status, body = await api.request("GET", f"/api/chat/rooms/{room_id}/messages/{message_id}", token=who.token)
    assert status == 200, body
    return body


@pytest.mark.parametrize("transports,peer", [
    ("websocket", "websocket"),
    ("polling", "polling"),
    ("websocket", "polling"),
], ids=["websocket-only", "polling-only", "websocket-to-polling"])
async def test_edit_and_delete_reach_the_other_client(server: RunningServer, api: Api, pair: Any,
                                                      transports: str, peer: str) -> None:
    a, b, room = pair
    result = await run_js(server, "edit-delete", a=user(a), b=user(b), roomId=room["id"],
                          transports=TRANSPORTS[transports], peerTransports=TRANSPORTS[peer])
    assert result["forbidden"] == "forbidden"
    seqs = result["changeSeqs"]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    # The tombstone is what is stored, in place in the history.
    assert await _stored(api, b, room["id"], result["messageId"]) == result["tombstone"]
    history = await api.history(b, room["id"])
    assert [m["id"] for m in history["messages"]][0] == result["messageId"]
    assert history["messages"][0]["content"] == "" and history["messages"][0]["deletedAt"] is not None


@pytest.mark.parametrize("transport,emoji", [
    ("websocket", "👍"),
    ("polling", "👨‍👩‍👧‍👦"),
], ids=["websocket", "polling-zwj-emoji"])
async def test_reactions_reach_the_other_client(server: RunningServer, api: Api, pair: Any, transport: str,
                                                emoji: str) -> None:
    a, b, room = pair
    result = await run_js(server, "react", a=user(a), b=user(b), roomId=room["id"], emoji=emoji,
                          transports=TRANSPORTS[transport])
    assert len(result["updates"]) == 3 and result["invalid"] == "invalid"
    stored = await _stored(api, a, room["id"], result["messageId"])
    assert stored["reactions"] == [{"emoji": emoji, "count": 1}]
    assert stored["changeSeq"] == result["updates"][-1]


async def test_reply_mentions_and_custom_data_from_the_js_client(server: RunningServer, api: Api, pair: Any) -> None:
    a, b, room = pair
    result = await run_js(server, "send-extras", a=user(a), b=user(b), roomId=room["id"], transports=WS)
    assert await _stored(api, b, room["id"], result["messageId"]) == result["message"]
    status, rooms = await api.request("GET", "/api/chat/rooms", token=b.token)
    assert status == 200
    (mine,) = [r for r in rooms if r["id"] == room["id"]]
    assert mine["unreadMentionCount"] == 1


# -- rooms and members (contract section 7) --------------------------------------------


@pytest.mark.parametrize("transports,peer", [
    ("websocket", "websocket"),
    ("polling", "polling"),
    ("websocket", "polling"),
], ids=["websocket-only", "polling-only", "websocket-to-polling"])
async def test_added_muted_and_removed_member_events_reach_the_js_client(server: RunningServer, api: Api,
                                                                         transports: str, peer: str) -> None:
    a, b = await api.register(), await api.register()
    room = await api.create_group(a, [], name="managed by A")
    side = await api.create_private(a, b)
    result = await run_js(server, "room-admin", a=user(a), b=user(b), roomId=room["id"], sideRoomId=side["id"],
                          transports=TRANSPORTS[transports], peerTransports=TRANSPORTS[peer])
    assert result["transports"] == [transports, peer]
    added = result["added"]
    assert added["id"] == room["id"] and added["type"] == "group" and added["name"] == "managed by A"
    assert {m["id"]: m["role"] for m in added["members"]} == {a.id: "owner", b.id: "member"}
    assert result["joined"]["user"]["id"] == b.id and result["joined"]["addedBy"] == a.id
    updated = result["updated"]
    assert set(updated) == {"roomId", "userId", "role", "mutedUntil"}
    assert (updated["roomId"], updated["userId"], updated["role"]) == (room["id"], b.id, "member")
    assert result["muted"] == "forbidden"
    assert result["removed"] == {"roomId": room["id"], "reason": "removed"}
    assert result["left"] == {"roomId": room["id"], "userId": b.id, "reason": "removed"}
    status, rooms = await api.request("GET", "/api/chat/rooms", token=b.token)
    assert status == 200 and room["id"] not in [r["id"] for r in rooms]


# -- tokens (contract section 8) -------------------------------------------------------


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_logout_disconnects_the_js_client_within_1s_and_its_reconnect_is_refused(
        server: RunningServer, api: Api, transport: str) -> None:
    a, b = await api.register(), await api.register()
    room = await api.create_private(a, b)
    status, other = await api.request("POST", "/api/auth/login",
                                      json={"username": a.username, "password": "correct horse battery"})
    assert status == 200, other
    result = await run_js(server, "logout-disconnect", a=user(a), b={**user(a), "token": other["token"]},
                          roomId=room["id"], transports=TRANSPORTS[transport])
    assert result["transport"] == transport
    assert result["disconnectAfterMs"] <= 1000 and result["refused"] == "unauthorized", result
    status, body = await api.request("GET", "/api/auth/me", token=a.token)
    assert status == 401, body
