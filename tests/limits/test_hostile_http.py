"""Hostile HTTP clients: foreign tokens, bytes that are not UTF-8, lying bodies, version banners, big pages."""

from __future__ import annotations

import gzip
import json

import pytest

from kallemny_sio.config import Limits
from tests.conftest import ChatClient, unique_name

from .helpers import (PASSWORD, WAIT, Polling, assert_error_reply, connect_error_message, raw_http, raw_request,
                      raw_ws, refused)


# -- 12. a token is bound to its user, not only to an id ------------------------------


async def test_a_token_of_another_database_with_the_same_secret_is_refused(start_server, http_for, clients):
    server_a, server_b = await start_server(Limits.off()), await start_server(Limits.off())
    assert server_a.settings.jwt_secret == server_b.settings.jwt_secret
    alice_a = await http_for(server_a).register()
    alice_b = await http_for(server_b).register()
    assert alice_a.id == alice_b.id  # fresh databases reuse ids

    # REST: A's token is nobody on B; B's own token works; A's token works on A.
    b = http_for(server_b)
    assert_error_reply(await b.request("GET", "/api/chat/rooms", token=alice_a.token), 401, "unauthorized")
    assert (await b.request("GET", "/api/chat/rooms", token=alice_b.token)).status == 200
    assert (await http_for(server_a).request("GET", "/api/chat/rooms", token=alice_a.token)).status == 200

    # Socket.IO: the same.
    assert connect_error_message(await refused(server_b.url, auth={"token": alice_a.token})) == "unauthorized"
    assert (await clients(server_b, alice_b)).sio.connected
    assert (await clients(server_a, alice_a)).sio.connected


# -- 13. an Authorization header that is not UTF-8 ------------------------------------------

NOT_UTF8 = b"Bearer \xff\xfe\x80\xc3(abc"


async def test_a_non_utf8_bearer_header_is_401_on_rest(start_server, http_for):
    server = await start_server()
    alice = await http_for(server).register()
    reply = await raw_http(server, raw_request("GET", "/api/chat/rooms", {"Authorization": NOT_UTF8}))
    assert reply.status == 401, reply
    assert reply.body["error"]["code"] == "unauthorized", reply
    # Control: the same raw request with a real token is served.
    ok = await raw_http(server, raw_request("GET", "/api/chat/rooms", {"Authorization": f"Bearer {alice.token}"}))
    assert ok.status == 200 and ok.body == [], ok


@pytest.mark.parametrize("header, answer", [
    pytest.param(NOT_UTF8, "44/chat,", id="not-utf8"),
    pytest.param(None, "40/chat,", id="control-valid-token"),
])
async def test_a_non_utf8_bearer_header_is_refused_at_socketio_connect(start_server, http_for, http, header, answer):
    server = await start_server()
    alice = await http_for(server).register()
    value = header if header is not None else f"Bearer {alice.token}".encode()
    handshake = await raw_http(server, raw_request("GET", "/socket.io/?EIO=4&transport=polling",
                                                   {"Authorization": value}))
    assert handshake.status == 200 and str(handshake.body).startswith("0{"), handshake
    session = Polling(http, server)
    session.sid = json.loads(handshake.body[1:])["sid"]
    reply = await session.connect_chat(None)  # CONNECT without auth: the handshake's header is what counts
    assert reply.startswith(answer), reply
    if answer == "44/chat,":
        assert json.loads(reply[len(answer):]).get("message") == "unauthorized", reply


# -- 14. a body that is not what its Content-Encoding says ------------------------------------


def _bodies(api_user: str, path: str) -> bytes:
    name = api_user if path.endswith("login") else unique_name()
    return json.dumps({"username": name, "password": PASSWORD}).encode()


GZIP_HEADERS = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register"])
async def test_a_gzipped_body_is_read(start_server, http_for, path):
    """Control for the test below: a body that really is gzip is decoded and served."""
    server = await start_server()
    api = http_for(server)
    alice = await api.register()
    reply = await api.request("POST", path, data=gzip.compress(_bodies(alice.username, path)), headers=GZIP_HEADERS)
    assert reply.status in (200, 201) and "token" in reply.body, reply


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register"])
async def test_a_body_that_is_not_gzip_is_400_invalid(start_server, http_for, path, caplog):
    server = await start_server()
    api = http_for(server)
    alice = await api.register()
    reply = await api.request("POST", path, data=_bodies(alice.username, path), headers=GZIP_HEADERS)
    assert_error_reply(reply, 400, "invalid")
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


# -- 15. no version banner -----------------------------------------------------------------


def _assert_no_banner(server_header: str | None, where: str) -> None:
    text = (server_header or "").lower()
    assert "aiohttp" not in text and "python" not in text, (where, server_header)


async def test_the_server_header_names_no_library_version(start_server, http_for, http):
    server = await start_server()
    api = http_for(server)
    alice = await api.register()
    replies = {
        "healthz": await api.request("GET", "/healthz"),
        "openapi": await api.request("GET", "/api/openapi.json"),
        "docs": await api.request("GET", "/api/docs"),
        "404": await api.request("GET", "/no/such/page"),
        "405": await api.request("DELETE", "/api/auth/login"),
        "401": await api.request("GET", "/api/chat/rooms"),
        "201": await api.request("POST", "/api/auth/register", json={"username": unique_name(), "password": PASSWORD}),
        "200 rooms": await api.request("GET", "/api/chat/rooms", token=alice.token),
        "polling": await api.request("GET", "/socket.io/?EIO=4&transport=polling"),
        "polling 400": await api.request("GET", "/socket.io/?EIO=4&transport=polling&sid=nope"),
    }
    for where, reply in replies.items():
        _assert_no_banner(reply.header("Server"), where)
    for where, reply in replies.items():
        assert reply.header("Server"), where  # the header is there, and it is the app's own
    ws = await raw_ws(http, server)
    try:
        _assert_no_banner(ws._response.headers.get("Server"), "websocket upgrade")
    finally:
        await ws.close()


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",  # a header line without a colon
    b"G\x00T / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # a method that is no token
    b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",  # an unknown version
], ids=["header-line", "method", "version"])
async def test_the_server_header_of_an_unparsable_request_names_no_library_version(start_server, raw):
    # aiohttp answers these itself, before any route or response hook sees them
    server = await start_server()
    bad = await raw_http(server, raw)
    assert 400 <= bad.status < 500, bad
    assert bad.header("Server") == "Kallemny", bad


# -- 16. lone surrogates over REST -----------------------------------------------------------------


@pytest.mark.parametrize("field", ["displayName", "username", "password"])
async def test_register_with_a_lone_surrogate_is_400_invalid(start_server, http_for, field):
    server = await start_server()
    api = http_for(server)
    values = {"username": unique_name(), "password": PASSWORD, "displayName": "Alice"}

    def body(surrogate: bool) -> bytes:
        text = json.dumps(values)  # ASCII, so the escape stays an escape, as JavaScript sends it
        if surrogate:
            text = text.replace(json.dumps(values[field]), json.dumps(values[field])[:-1] + '\\ud800"')
        return text.encode()

    headers = {"Content-Type": "application/json"}
    assert_error_reply(await api.request("POST", "/api/auth/register", data=body(True), headers=headers),
                       400, "invalid")
    assert (await api.login(values["username"])).status == 401  # nothing was created
    reply = await api.request("POST", "/api/auth/register", data=body(False), headers=headers)  # control
    assert reply.status == 201, reply


async def test_login_with_a_lone_surrogate_is_400_invalid(start_server, http_for):
    server = await start_server()
    api = http_for(server)
    alice = await api.register()
    headers = {"Content-Type": "application/json"}
    raw = '{"username": "%s", "password": "%s\\udfff"}' % (alice.username, PASSWORD)
    assert_error_reply(await api.request("POST", "/api/auth/login", data=raw.encode(), headers=headers), 400, "invalid")
    raw = '{"username": "%s", "password": "%s"}' % (alice.username, PASSWORD)
    assert (await api.request("POST", "/api/auth/login", data=raw.encode(), headers=headers)).status == 200


# -- 23. room list paging -------------------------------------------------------------------------


async def _get_rooms(api, who, **params):
    reply = await api.request("GET", "/api/chat/rooms", token=who.token, params={k: str(v) for k, v in params.items()})
    assert reply.status == 200, reply
    return reply


async def test_room_list_pages_follow_the_cursor(start_server, http_for, clients):
    server = await start_server(Limits.off())
    api = http_for(server)
    alice, bob = await api.register(), await api.register()
    rooms = []
    for n in range(5):
        reply = await api.create_group(alice, [bob], name=f"room {n}")
        assert reply.status == 201
        rooms.append(reply.body["id"])
    # Activity order set by messages, each a later millisecond than the one before.
    a = await clients(server, alice)
    last = ""
    for index in (3, 1, 4, 0, 2):
        while True:
            ack = await a.call("SendMessage", {"roomId": rooms[index], "content": f"in {index}"})
            assert ack.get("ok"), ack
            if ack["message"]["createdAt"] > last:
                last = ack["message"]["createdAt"]
                break
    expected = [rooms[i] for i in (2, 0, 4, 1, 3)]

    whole = await _get_rooms(api, alice)
    assert [r["id"] for r in whole.body] == expected
    assert whole.header("X-Next-Cursor") is None and whole.header("Link") is None

    seen, pages, params = [], 0, {"limit": 2}
    while True:
        page = await _get_rooms(api, alice, **params)
        pages += 1
        assert len(page.body) == (2 if pages < 3 else 1), page
        seen.extend(r["id"] for r in page.body)
        cursor = page.header("X-Next-Cursor")
        if cursor is None:
            assert page.header("Link") is None
            break
        link = page.header("Link")
        assert link is not None and link.endswith('>; rel="next"'), link
        assert "cursor=" in link and "limit=2" in link, link
        params = {"limit": 2, "cursor": cursor}
    assert pages == 3 and seen == expected

    # The Link header's URL itself gives the next page.
    first = await _get_rooms(api, alice, limit=2)
    href = first.header("Link").split(">")[0].lstrip("<")
    assert href.startswith("/api/chat/rooms?")
    followed = await api.request("GET", href, token=alice.token)
    assert followed.status == 200 and [r["id"] for r in followed.body] == expected[2:4], followed


async def test_a_room_moving_to_the_top_while_paging_is_not_shown_twice(start_server, http_for, clients):
    server = await start_server(Limits.off())
    api = http_for(server)
    alice, bob = await api.register(), await api.register()
    for n in range(5):
        assert (await api.create_group(alice, [bob], name=f"room {n}")).status == 201
    first = await _get_rooms(api, alice, limit=2)
    ids = [r["id"] for r in first.body]
    whole = [r["id"] for r in (await _get_rooms(api, alice)).body]
    mover = whole[-1]
    b = await clients(server, bob)
    assert (await b.call("SendMessage", {"roomId": mover, "content": "up"})).get("ok")
    cursor = first.header("X-Next-Cursor")
    while cursor is not None:
        page = await _get_rooms(api, alice, limit=2, cursor=cursor)
        ids.extend(r["id"] for r in page.body)
        cursor = page.header("X-Next-Cursor")
    assert len(ids) == len(set(ids)), ids
    assert set(ids) | {mover} == set(whole)


@pytest.mark.parametrize("params", [
    {"cursor": "garbage"}, {"cursor": "."}, {"cursor": "12x.3"}, {"cursor": "x" * 300},
    {"limit": "0"}, {"limit": "501"}, {"limit": "-1"}, {"limit": "ten"},
], ids=["garbage", "dot", "not-digits", "too-long", "limit-0", "limit-501", "limit-negative", "limit-word"])
async def test_bad_room_list_queries_are_400_invalid(start_server, http_for, params):
    server = await start_server(Limits.off())
    api = http_for(server)
    alice, bob = await api.register(), await api.register()
    assert (await api.create_group(alice, [bob])).status == 201
    reply = await api.request("GET", "/api/chat/rooms", token=alice.token, params=params)
    assert_error_reply(reply, 400, "invalid")
    name = next(iter(params))
    assert name in reply.body["error"]["message"], reply
    # Control: the bounds themselves are accepted.
    for good in ({"limit": "1"}, {"limit": "500"}):
        assert (await api.request("GET", "/api/chat/rooms", token=alice.token, params=good)).status == 200


async def test_the_default_room_page_is_100(start_server, http_for):
    server = await start_server(Limits.off())
    api = http_for(server)
    alice = await api.register()
    for n in range(101):
        assert (await api.create_group(alice, [], name=f"r{n}")).status == 201
    page = await _get_rooms(api, alice)
    assert len(page.body) == 100 and page.header("X-Next-Cursor"), page.headers
    rest = await _get_rooms(api, alice, cursor=page.header("X-Next-Cursor"))
    assert len(rest.body) == 1 and rest.header("X-Next-Cursor") is None
    assert {r["id"] for r in page.body}.isdisjoint({r["id"] for r in rest.body})
    assert len((await _get_rooms(api, alice, limit=500)).body) == 101


# -- 24. at most 100 memberIds ----------------------------------------------------------------------


async def test_more_than_100_member_ids_is_400_invalid(start_server, http_for):
    server = await start_server(Limits.off())
    api = http_for(server)
    owner = await api.register()
    others = [await api.register() for _ in range(101)]

    too_many = await api.create_group(owner, others, name="too many")
    assert_error_reply(too_many, 400, "invalid")
    assert "memberIds" in too_many.body["error"]["message"], too_many
    rooms = await api.request("GET", "/api/chat/rooms", token=owner.token)
    assert rooms.body == []

    ok = await api.create_group(owner, others[:100], name="a hundred")  # control: the bound itself
    assert ok.status == 201 and len(ok.body["members"]) == 101, ok
