"""Failed logins per username and per client address, and password-hashing fairness (contract section 9)."""

from __future__ import annotations

import asyncio
import time

import pytest

from kallemny_sio.config import Rate
from kallemny_sio.core import limits as core_limits
from tests.conftest import unique_name

from .helpers import DEFAULTS, PASSWORD, assert_error_reply, assert_rate_limited, limits

WRONG = "wrong password 123"


# -- per username ------------------------------------------------------------------


async def test_username_locks_after_the_default_count_of_failures_even_for_the_right_password(start_server, http_for):
    assert DEFAULTS.login_failures_per_username == Rate(5, 900)
    server = await start_server(limits(login_failures_per_username=DEFAULTS.login_failures_per_username))
    api = http_for(server)
    alice, bob = await api.register(), await api.register()
    assert (await api.login(alice.username)).status == 200  # control: the right password works

    for _ in range(5):  # under the limit: an ordinary 401 each time
        assert_error_reply(await api.login(alice.username, WRONG), 401, "unauthorized")

    locked = await api.login(alice.username, PASSWORD)
    wait_ms = assert_rate_limited(locked)
    assert 25_000 < wait_ms <= 30_000, locked  # the first lock is 30 s
    assert locked.header("Retry-After") == "30", locked
    assert "token" not in locked.body
    assert_rate_limited(await api.login(alice.username, WRONG))
    # Other usernames from the same address are not locked.
    assert (await api.login(bob.username)).status == 200


async def test_username_lock_is_case_insensitive(start_server, http_for):
    server = await start_server(limits(login_failures_per_username=Rate(3, 900)))
    api = http_for(server)
    alice = await api.register(unique_name("Alice"))
    for name in (alice.username.upper(), alice.username.lower(), alice.username.swapcase()):
        assert_error_reply(await api.login(name, WRONG), 401, "unauthorized")
    assert_rate_limited(await api.login(alice.username, PASSWORD))
    assert_rate_limited(await api.login(alice.username.upper(), PASSWORD))


async def test_unknown_username_is_answered_exactly_like_a_known_one(start_server, http_for):
    server = await start_server(limits(login_failures_per_username=Rate(3, 900)))
    api = http_for(server)
    alice = await api.register()
    ghost = unique_name("ghost")

    known_fail, unknown_fail = await api.login(alice.username, WRONG), await api.login(ghost, WRONG)
    assert known_fail.status == unknown_fail.status == 401
    assert known_fail.body == unknown_fail.body
    for _ in range(2):
        await api.login(alice.username, WRONG)
        await api.login(ghost, WRONG)

    known, unknown = await api.login(alice.username, PASSWORD), await api.login(ghost, PASSWORD)
    assert_rate_limited(known)
    assert_rate_limited(unknown)
    assert known.header("Retry-After") == unknown.header("Retry-After")
    for key in ("code", "message"):
        assert known.body["error"][key] == unknown.body["error"][key], (known, unknown)
    assert set(known.body["error"]) == set(unknown.body["error"])
    assert abs(known.body["error"]["retryAfterMs"] - unknown.body["error"]["retryAfterMs"]) < 2_000


async def test_a_successful_login_before_the_limit_resets_the_count(start_server, http_for):
    server = await start_server(limits(login_failures_per_username=Rate(5, 900)))
    api = http_for(server)
    alice = await api.register()
    for _ in range(3):
        for _ in range(4):
            assert (await api.login(alice.username, WRONG)).status == 401
        assert (await api.login(alice.username)).status == 200  # 12 failures in all, never 5 in a row
    # Without a success in between, the fifth failure in a row locks.
    for _ in range(5):
        assert (await api.login(alice.username, WRONG)).status == 401
    assert_rate_limited(await api.login(alice.username))


async def test_lock_doubles_with_each_further_failure_up_to_the_maximum(start_server, http_for, monkeypatch):
    """30 s, 60 s, ... 15 min, shrunk here to 300 ms doubling up to 1.2 s (the same constants scaled)."""
    assert (core_limits.FIRST_LOCKOUT_MS, core_limits.MAX_LOCKOUT_MS) == (30_000, 15 * 60_000)
    monkeypatch.setattr(core_limits, "FIRST_LOCKOUT_MS", 300)
    monkeypatch.setattr(core_limits, "MAX_LOCKOUT_MS", 1_200)
    server = await start_server(limits(login_failures_per_username=Rate(2, 900)))
    api = http_for(server)
    alice = await api.register()

    for _ in range(2):
        assert (await api.login(alice.username, WRONG)).status == 401
    ceilings = [300, 600, 1_200, 1_200]  # the fourth would be 2.4 s: capped
    for n, ceiling in enumerate(ceilings):
        locked = await api.login(alice.username, PASSWORD)
        wait_ms = assert_rate_limited(locked)
        assert ceiling // 2 < wait_ms <= ceiling, (n, locked)
        await asyncio.sleep(wait_ms / 1000 + 0.05)  # let the lock run out
        if n < len(ceilings) - 1:
            # The lock is over: this failure is counted and locks for twice as long.
            assert (await api.login(alice.username, WRONG)).status == 401
    # After the last lock, the right password works again.
    assert (await api.login(alice.username)).status == 200


# -- per client address ------------------------------------------------------------------


async def test_address_locks_after_the_default_count_of_failures_for_any_username(start_server, http_for):
    assert DEFAULTS.login_failures_per_address == Rate(30, 900)
    server = await start_server(limits(login_failures_per_address=DEFAULTS.login_failures_per_address))
    api = http_for(server)
    alice = await api.register()
    attacker, neighbour = "203.0.113.7", "203.0.113.8"
    assert (await api.login(alice.username, address=attacker)).status == 200  # control

    for _ in range(30):  # one failure each for thirty different (unknown) usernames
        assert (await api.login(unique_name("guess"), WRONG, address=attacker)).status == 401

    assert_rate_limited(await api.login(alice.username, PASSWORD, address=attacker))
    assert_rate_limited(await api.login(unique_name("guess"), WRONG, address=attacker))
    # Prepending entries to X-Forwarded-For does not change who the client is.
    assert_rate_limited(await api.login(alice.username, address=f"198.51.100.1, {attacker}"))
    # Other addresses are unaffected, even behind several trusted proxies.
    assert (await api.login(alice.username, address=neighbour)).status == 200
    assert (await api.login(alice.username, address=f"{attacker}, {neighbour}, 127.0.0.9")).status == 200
    # Nor is the account: the username was never locked.
    assert (await api.login(alice.username, address="192.0.2.44")).status == 200


async def test_forwarded_for_is_ignored_without_trusted_proxies(start_server, http_for):
    server = await start_server(limits(login_failures_per_address=Rate(3, 900)), trusted_proxies=())
    api = http_for(server)
    alice = await api.register()
    assert (await api.login(alice.username, address="10.0.0.1")).status == 200  # control
    for n in range(3):
        assert (await api.login(unique_name("guess"), WRONG, address=f"10.0.0.{n + 2}")).status == 401
    # Every request came from 127.0.0.1 whatever the header says: a new header does not escape.
    assert_rate_limited(await api.login(alice.username, address="10.0.0.99"))
    assert_rate_limited(await api.login(alice.username))


# -- password-hashing fairness ------------------------------------------------------------------


async def test_a_flood_from_one_address_never_delays_another_address_into_refusal(start_server, http_for):
    """The original finding: 64 concurrent wrong passwords from A made B's correct login 429."""
    server = await start_server(limits())
    api = http_for(server)
    alice = await api.register()
    flood_address, good_address = "198.51.100.66", "192.0.2.10"
    single = await api.login(unique_name("guess"), WRONG, address=flood_address)
    assert_error_reply(single, 401, "unauthorized")  # control: one at a time is answered normally

    for round_ in range(5):
        flood = [asyncio.ensure_future(api.login(unique_name("guess"), WRONG, address=flood_address))
                 for _ in range(64)]
        await asyncio.sleep(0)  # the flood's requests are on their way first
        started = time.monotonic()
        good = await api.login(alice.username, PASSWORD, address=good_address)
        good_s = time.monotonic() - started
        replies = await asyncio.gather(*flood)
        assert good.status == 200, (round_, good)
        assert good_s < 5, (round_, good_s)
        statuses = [r.status for r in replies]
        assert set(statuses) <= {401, 429}, (round_, statuses)
        assert statuses.count(429) >= 1, (round_, statuses)  # the flood's share was bounded
        for reply in replies:
            if reply.status == 429:
                assert_rate_limited(reply)


async def test_one_address_holds_at_most_two_hashes_and_one_username_too(start_server, http_for):
    server = await start_server(limits())
    api = http_for(server)
    alice, bob = await api.register(), await api.register()

    # 20 at once from one address: at most 2 hash at a time, the rest are refused at once.
    replies = await asyncio.gather(*(api.login(unique_name("guess"), WRONG, address="198.51.100.1")
                                     for _ in range(20)))
    statuses = [r.status for r in replies]
    assert set(statuses) <= {401, 429} and statuses.count(429) >= 10, statuses

    # 20 at once for one username, each from its own address: the same bound per username.
    replies = await asyncio.gather(*(api.login(alice.username, WRONG, address=f"198.51.100.{n + 10}")
                                     for n in range(20)))
    statuses = [r.status for r in replies]
    assert set(statuses) <= {401, 429} and statuses.count(429) >= 10, statuses

    # Control: the same logins one after another are all answered normally.
    for n in range(3):
        assert (await api.login(alice.username, WRONG, address=f"198.51.100.{n + 10}")).status == 401
    assert (await api.login(bob.username, address="198.51.100.1")).status == 200
    assert (await api.login(alice.username)).status == 200
