"""Uniqueness holds under concurrent requests, not only one after another."""

from __future__ import annotations

import asyncio

from tests.api.helpers import assert_error
from tests.conftest import unique_name


async def test_concurrent_registrations_of_one_name_in_any_case_make_one_account(api):
    name = unique_name("Race")
    variants = [name, name.upper(), name.lower(), name.swapcase()] * 2
    results = await asyncio.gather(*(
        api.request("POST", "/api/auth/register", json={"username": v, "password": "correct horse battery"})
        for v in variants))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (len(variants) - 1), results
    for status, body in results:
        if status == 409:
            assert_error(status, body, 409, "conflict")


async def test_concurrent_private_room_requests_from_both_sides_make_one_room(api):
    alice, bob = await api.register(), await api.register()
    requests = [(alice, bob), (bob, alice)] * 5
    results = await asyncio.gather(*(
        api.request("POST", "/api/chat/rooms", token=me.token, json={"type": "private", "memberIds": [other.id]})
        for me, other in requests))
    assert sorted(status for status, _ in results) == [200] * 9 + [201], results
    assert len({body["id"] for _, body in results}) == 1
    for who in (alice, bob):
        status, rooms = await api.request("GET", "/api/chat/rooms", token=who.token)
        assert len(rooms) == 1
