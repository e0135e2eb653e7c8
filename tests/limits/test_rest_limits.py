"""Registrations per address, REST requests per token or address, room creations per user (contract section 9)."""

from __future__ import annotations

import pytest

from kallemny_sio.config import Rate
from tests.conftest import unique_name

from .helpers import DEFAULTS, PASSWORD, assert_error_reply, assert_rate_limited, limits


# -- registrations ------------------------------------------------------------------


async def test_registrations_per_address_default(start_server, http_for):
    assert DEFAULTS.registrations_per_address == Rate(10, 3600)
    server = await start_server(limits(registrations_per_address=DEFAULTS.registrations_per_address))
    api = http_for(server)
    for _ in range(10):  # under the limit: created
        await api.register(address="203.0.113.20")

    name = unique_name("late")
    refused = await api.request("POST", "/api/auth/register", address="203.0.113.20",
                                json={"username": name, "password": PASSWORD})
    assert_rate_limited(refused)
    assert "token" not in refused.body
    # Nothing was created for the refused one, and another address registers that very name.
    account = await api.register(name, address="203.0.113.21")
    assert account.username == name
    assert (await api.login(name, address="203.0.113.20")).status == 200  # logins are another limit


async def test_registrations_behind_a_spoofed_forwarded_for_count_against_the_peer(start_server, http_for):
    server = await start_server(limits(registrations_per_address=Rate(3, 3600)), trusted_proxies=())
    api = http_for(server)
    for n in range(3):
        await api.register(address=f"10.1.0.{n}")
    assert_rate_limited(await api.request("POST", "/api/auth/register", address="10.1.0.99",
                                          json={"username": unique_name(), "password": PASSWORD}))


# -- REST requests per 10 s ------------------------------------------------------------


async def test_rest_requests_are_counted_per_token_user_on_chat_routes(start_server, http_for):
    assert DEFAULTS.rest_requests == Rate(120, 10)
    server = await start_server(limits(rest_requests=Rate(5, 10)))
    api = http_for(server)
    alice = await api.register(address="192.0.2.1")
    bob = await api.register(address="192.0.2.2")

    for _ in range(5):
        assert (await api.request("GET", "/api/chat/rooms", token=alice.token)).status == 200
    assert_rate_limited(await api.request("GET", "/api/chat/rooms", token=alice.token))
    # Per user, not per address: alice from elsewhere is still over; bob from alice's address is not.
    assert_rate_limited(await api.request("GET", "/api/chat/users", token=alice.token, address="192.0.2.77"))
    assert (await api.request("GET", "/api/chat/rooms", token=bob.token)).status == 200
    # Her requests were not counted against the address: other /api/ routes from it are served.
    assert (await api.request("GET", "/api/openapi.json")).status == 200


async def test_rest_requests_are_counted_per_address_elsewhere_and_healthz_never(start_server, http_for):
    server = await start_server(limits(rest_requests=Rate(5, 10)))
    api = http_for(server)
    alice = await api.register(address="192.0.2.1")

    # /healthz is never counted: 20 of them, then 5 counted requests are all still served.
    for _ in range(20):
        assert (await api.request("GET", "/healthz", address="198.51.100.5")).status == 200
    assert (await api.request("GET", "/api/openapi.json", address="198.51.100.5")).status == 200
    assert (await api.request("GET", "/api/docs", address="198.51.100.5")).status == 200
    assert (await api.login(alice.username, address="198.51.100.5")).status == 200
    assert (await api.login(alice.username, "wrong password", address="198.51.100.5")).status == 401
    assert (await api.request("GET", "/api/openapi.json", address="198.51.100.5")).status == 200

    # The sixth from that address, whatever /api/ route, is refused.
    assert_rate_limited(await api.request("GET", "/api/openapi.json", address="198.51.100.5"))
    assert_rate_limited(await api.login(alice.username, address="198.51.100.5"))
    assert_rate_limited(await api.request("POST", "/api/auth/register", address="198.51.100.5",
                                          json={"username": unique_name(), "password": PASSWORD}))
    # /healthz still answers, other addresses are served, alice's token is her own count.
    assert (await api.request("GET", "/healthz", address="198.51.100.5")).status == 200
    assert (await api.request("GET", "/api/openapi.json", address="198.51.100.6")).status == 200
    assert (await api.request("GET", "/api/chat/rooms", token=alice.token, address="198.51.100.5")).status == 200


async def test_requests_with_a_bad_token_count_against_the_address(start_server, http_for):
    server = await start_server(limits(rest_requests=Rate(5, 10)))
    api = http_for(server)
    for _ in range(5):
        assert_error_reply(await api.request("GET", "/api/chat/rooms", token="not-a-token", address="198.51.100.9"),
                           401, "unauthorized")
    assert_rate_limited(await api.request("GET", "/api/chat/rooms", token="not-a-token", address="198.51.100.9"))
    assert_error_reply(await api.request("GET", "/api/chat/rooms", token="not-a-token", address="198.51.100.10"),
                       401, "unauthorized")


# -- room creations ------------------------------------------------------------------------


async def test_room_creations_per_user(start_server, http_for):
    assert DEFAULTS.room_creations_per_user == Rate(30, 3600)
    server = await start_server(limits(room_creations_per_user=Rate(3, 3600)))
    api = http_for(server)
    alice, bob, carol = await api.register(), await api.register(), await api.register()

    first = await api.create_private(alice, bob)
    assert first.status == 201, first
    for _ in range(5):  # asking again for the existing private room is not a creation
        again = await api.create_private(alice, bob)
        assert again.status == 200 and again.body["id"] == first.body["id"], again
    for n in range(2):
        assert (await api.create_group(alice, [bob], name=f"g{n}")).status == 201

    assert_rate_limited(await api.create_group(alice, [bob], name="one too many"))
    rooms = await api.request("GET", "/api/chat/rooms", token=alice.token)
    assert rooms.status == 200 and len(rooms.body) == 3, rooms  # nothing was created for the refusal
    # A private room is one per pair: it counts, but is never refused (README, Limits).
    assert (await api.create_private(alice, carol)).status == 201
    # Another user is unaffected, a room with alice included.
    assert (await api.create_group(bob, [alice], name="bob's")).status == 201


async def test_at_the_limit_an_existing_private_room_is_still_returned(start_server, http_for):
    server = await start_server(limits(room_creations_per_user=Rate(2, 3600)))
    api = http_for(server)
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    assert room.status == 201
    again = await api.create_private(alice, bob)  # control: under the limit, the existing room with 200
    assert again.status == 200 and again.body["id"] == room.body["id"], again
    assert (await api.create_group(alice, [carol])).status == 201  # now at the limit
    assert_rate_limited(await api.create_group(alice, [carol]))  # a new group: refused
    # Asking again for the existing one creates nothing: the contract's 200 with the room.
    # (bob, the other member, asking for the same pair is served, since the guard is per caller.)
    assert (await api.create_private(bob, alice)).status == 200
    again = await api.create_private(alice, bob)
    assert again.status == 200 and again.body["id"] == room.body["id"], again
