"""Passwords are stored as Argon2id and upgraded at login when the parameters change."""

from __future__ import annotations

import argon2
from argon2 import PasswordHasher

from kallemny_sio.keys import STORE

PASSWORD = "correct horse battery"
# Every OWASP Argon2id configuration spends at least this much memory x passes (KiB).
OWASP_MIN_MEMORY_TIME_KIB = 35 * 1024
OLD_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=argon2.Type.ID)


async def _current_parameters(server, api) -> argon2.Parameters:
    """The parameters the server hashes with now: those of a fresh registration."""
    account = await api.register(password="a fresh password")
    return argon2.extract_parameters((await server.app[STORE].get_user_by_username(account.username)).password_hash)


async def test_password_is_stored_as_argon2id_with_current_parameters(server, api):
    account = await api.register(password=PASSWORD)
    user = await server.app[STORE].get_user_by_username(account.username)
    assert user.password_hash.startswith("$argon2id$"), user.password_hash[:12]
    assert PASSWORD not in user.password_hash
    params = argon2.extract_parameters(user.password_hash)
    assert params.type is argon2.Type.ID
    assert params.memory_cost * params.time_cost >= OWASP_MIN_MEMORY_TIME_KIB, params
    assert params.salt_len >= 16 and params.hash_len >= 32, params
    assert PasswordHasher.from_parameters(params).verify(user.password_hash, PASSWORD)


async def test_same_password_gets_a_different_salt_per_user(server, api):
    first, second = await api.register(password=PASSWORD), await api.register(password=PASSWORD)
    store = server.app[STORE]
    hashes = {(await store.get_user_by_username(a.username)).password_hash for a in (first, second)}
    assert len(hashes) == 2


async def test_login_rehashes_a_hash_made_with_other_parameters(server, api):
    account = await api.register(password=PASSWORD)
    store = server.app[STORE]
    current = await _current_parameters(server, api)
    old_hash = OLD_HASHER.hash(PASSWORD)
    await store.set_password_hash(account.id, old_hash)
    assert argon2.extract_parameters(old_hash) != current

    status, body = await api.request("POST", "/api/auth/login", json={"username": account.username, "password": PASSWORD})
    assert status == 200, body

    new_hash = (await store.get_user_by_username(account.username)).password_hash
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$")
    assert argon2.extract_parameters(new_hash) == current
    status, body = await api.request("POST", "/api/auth/login", json={"username": account.username, "password": PASSWORD})
    assert status == 200, body


async def test_an_argon2i_hash_is_upgraded_to_argon2id(server, api):
    account = await api.register(password=PASSWORD)
    store = server.app[STORE]
    await store.set_password_hash(account.id, PasswordHasher(type=argon2.Type.I).hash(PASSWORD))
    status, body = await api.request("POST", "/api/auth/login", json={"username": account.username, "password": PASSWORD})
    assert status == 200, body
    assert (await store.get_user_by_username(account.username)).password_hash.startswith("$argon2id$")


async def test_a_failed_login_does_not_rehash(server, api):
    account = await api.register(password=PASSWORD)
    store = server.app[STORE]
    old_hash = OLD_HASHER.hash(PASSWORD)
    await store.set_password_hash(account.id, old_hash)
    status, _ = await api.request("POST", "/api/auth/login", json={"username": account.username, "password": "not the password"})
    assert status == 401
    assert (await store.get_user_by_username(account.username)).password_hash == old_hash


async def test_hashing_threads_run_below_the_event_loop_priority() -> None:
    """Argon2 runs at a higher nice value than the loop, so busy cores serve messages first."""
    import os
    import threading

    from kallemny_sio.auth.passwords import HASHING_NICENESS, Passwords

    passwords = Passwords()
    try:
        await passwords.hash("a password long enough")
        (thread,) = passwords._pool._threads  # this instance's one hashing thread
        loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == min(loop_nice + HASHING_NICENESS, 19)
    finally:
        passwords.close()
