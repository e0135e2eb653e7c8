"""Connecting to ``/chat``: the three ways to give a token, refusals, both transports."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from tests.conftest import ChatClient

from .helpers import WAIT, assert_message_shape, make_token, send, sync_marker

TRANSPORTS = [pytest.param(["websocket"], id="websocket"), pytest.param(["polling"], id="polling")]


async def refused(url: str, transports: list[str], **kwargs: Any) -> Any:
    """Connect expecting a refusal; returns the ``connect_error`` data.

    Over WebSocket the client's ``connect`` must raise. Over long-polling the
    python-engineio client, closing after a refusal, waits for its pending
    long-poll GET, which python-engineio's server only answers at the next
    ping (25 s); so there the test connects without waiting, reads
    ``connect_error`` and drops the transport itself.
    """
    client = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[Any] = asyncio.Queue()
    client.on("connect_error", lambda data=None: errors.put_nowait(data), namespace="/chat")
    options = dict(namespaces=["/chat"], transports=transports, wait_timeout=WAIT, **kwargs)
    try:
        if transports == ["websocket"]:
            with pytest.raises(socketio.exceptions.ConnectionError, match="/chat"):
                await client.connect(url, **options)
            return await asyncio.wait_for(errors.get(), WAIT)
        await client.connect(url, wait=False, **options)
        data = await asyncio.wait_for(errors.get(), WAIT)
        assert "/chat" not in client.namespaces
        return data
    finally:
        await drop(client)


async def drop(client: socketio.AsyncClient) -> None:
    """Close the Engine.IO transport without waiting for a pending long-poll."""
    eio = client.eio
    read_loop = eio.read_loop_task
    if eio.state == "connected":
        await eio.disconnect(abort=True)
    if read_loop is not None:
        await asyncio.wait_for(read_loop, WAIT)


def assert_unauthorized(data: Any) -> None:
    """The ``connect_error`` a JS client would see as ``err.message == "unauthorized"``."""
    assert isinstance(data, dict) and data.get("message") == "unauthorized", data


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_token_in_auth_object(api, connect, transports):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    a = await connect(alice, transports=transports)
    b = await connect(bob, transports=transports)
    assert a.sio.transport() == transports[0]
    message = await send(a, room["id"], "hello over " + transports[0])
    assert_message_shape(message)
    assert message["senderId"] == alice.id
    got = await b.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)
    assert got == message
    await a.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_token_in_bearer_header(api, connect, transports):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    a = await connect(None, transports=transports, headers={"Authorization": f"Bearer {alice.token}"})
    b = await connect(bob)
    message = await send(a, room["id"], "via header")
    assert message["senderId"] == alice.id
    await b.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_token_in_query(server, api, connect, transports):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    a = await connect(None, url=f"{server.url}/?token={alice.token}", transports=transports)
    b = await connect(bob)
    message = await send(a, room["id"], "via query")
    assert message["senderId"] == alice.id
    await b.wait_for("ReceiveMessage", lambda d: d["id"] == message["id"], timeout=WAIT)
    await sync_marker(b, room["id"], [a])


@pytest.mark.parametrize("transports", TRANSPORTS)
@pytest.mark.parametrize("how", ["missing", "garbage", "expired", "wrong-secret", "unknown-user", "empty"])
async def test_bad_token_in_auth_is_refused(server, api, how, transports):
    alice = await api.register()
    token = {
        "missing": None,
        "garbage": "not-a-jwt",
        "expired": make_token(server, alice.id, issued_ago_s=7200, lifetime_s=3600, like=alice.token),
        "wrong-secret": make_token(server, alice.id, secret="another-secret-" + "y" * 40, like=alice.token),
        "unknown-user": make_token(server, "no-such-user-" + alice.id),
        "empty": "",
    }[how]
    auth = None if how == "missing" else {"token": token}
    assert_unauthorized(await refused(server.url, transports, auth=auth))


@pytest.mark.parametrize("transports", TRANSPORTS)
@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer", "EXPIRED", "FORGED"])
async def test_bad_bearer_header_is_refused(server, api, header, transports):
    alice = await api.register()
    if header == "EXPIRED":
        header = "Bearer " + make_token(server, alice.id, issued_ago_s=7200, lifetime_s=3600, like=alice.token)
    elif header == "FORGED":
        header = "Bearer " + make_token(server, alice.id, secret="another-secret-" + "y" * 40, like=alice.token)
    assert_unauthorized(await refused(server.url, transports, headers={"Authorization": header}))


@pytest.mark.parametrize("transports", TRANSPORTS)
@pytest.mark.parametrize("how", ["garbage", "expired", "wrong-secret"])
async def test_bad_query_token_is_refused(server, api, how, transports):
    alice = await api.register()
    token = {
        "garbage": "not-a-jwt",
        "expired": make_token(server, alice.id, issued_ago_s=7200, lifetime_s=3600, like=alice.token),
        "wrong-secret": make_token(server, alice.id, secret="another-secret-" + "y" * 40, like=alice.token),
    }[how]
    assert_unauthorized(await refused(f"{server.url}/?token={token}", transports))


async def test_refusals_leave_the_server_serving(server, api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    for _ in range(3):
        assert_unauthorized(await refused(server.url, ["websocket"], auth={"token": "nope"}))
        assert_unauthorized(await refused(server.url, ["polling"], auth={"token": "nope"}))
    a, b = await connect(alice), await connect(bob, transports=["polling"])
    await sync_marker(a, room["id"], [a, b])


async def test_a_token_made_like_the_servers_connects(server, api):
    """The control for the refused cases above: the same construction with the right inputs connects."""
    alice = await api.register()
    client = ChatClient("alice")
    try:
        await client.connect(server.url, make_token(server, alice.id, like=alice.token))
        assert client.sio.connected
    finally:
        await client.close()
