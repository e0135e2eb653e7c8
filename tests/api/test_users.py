"""``GET /api/chat/users``: prefix search, limits and live presence."""

from __future__ import annotations

import uuid

import pytest

from kallemny_sio.schemas import UserOut
from tests.api.helpers import assert_conforms, assert_error, assert_iso, server_forgets, server_holds


async def _users(api, who, **params) -> list[dict]:
    status, users = await api.request("GET", "/api/chat/users", token=who.token, params=params)
    assert status == 200, users
    assert isinstance(users, list)
    for user in users:
        assert_conforms(UserOut, user)
    return users


def _names(users: list[dict]) -> set[str]:
    return {u["username"] for u in users}


async def test_without_a_query_every_user_is_listed(api):
    accounts = [await api.register() for _ in range(3)]
    assert _names(await _users(api, accounts[0])) == {a.username for a in accounts}


async def test_prefix_search_ignores_letter_case(api):
    tag = uuid.uuid4().hex[:6]
    wanted = [await api.register(f"Pfx{tag}One"), await api.register(f"pfx{tag}two"), await api.register(f"PFX{tag}3")]
    other = await api.register(f"zz{tag}pfx{tag}")
    for q in (f"pfx{tag}", f"PFX{tag}", f"pFx{tag}"):
        assert _names(await _users(api, other, q=q)) == {a.username for a in wanted}, q
    assert _names(await _users(api, other, q=f"pfx{tag}t")) == {wanted[1].username}
    assert await _users(api, other, q=f"pfx{tag}nothing") == []


@pytest.mark.parametrize("q, expected", [
    pytest.param("_", {"_under"}, id="underscore-is-literal"),
    pytest.param(".", {".dot"}, id="dot-is-literal"),
    pytest.param("%", set(), id="percent-is-literal"),
    pytest.param(".*", set(), id="regex-is-literal"),
    pytest.param("a-", {"a-dash"}, id="dash"),
    pytest.param("", {"_under", ".dot", "a-dash", "abc"}, id="empty-is-everyone"),
])
async def test_prefix_characters_are_literal(api, q, expected):
    for name in ("_under", ".dot", "a-dash", "abc"):
        await api.register(name)
    me = await api.register("zzz-caller")
    assert _names(await _users(api, me, q=q)) - {"zzz-caller"} == expected


async def test_limit_caps_the_list(api):
    accounts = [await api.register() for _ in range(4)]
    assert len(await _users(api, accounts[0], limit=2)) == 2
    assert len(await _users(api, accounts[0], limit=1)) == 1
    assert len(await _users(api, accounts[0], limit=1000)) == 4


@pytest.mark.parametrize("params, field", [
    pytest.param({"limit": "0"}, "limit", id="limit-0"),
    pytest.param({"limit": "1001"}, "limit", id="limit-1001"),
    pytest.param({"limit": "abc"}, "limit", id="limit-abc"),
    pytest.param({"limit": "-5"}, "limit", id="limit-negative"),
    pytest.param({"q": "q" * 33}, "q", id="q-too-long"),
])
async def test_invalid_query_names_the_parameter(api, params, field):
    me = await api.register()
    status, body = await api.request("GET", "/api/chat/users", token=me.token, params=params)
    assert_error(status, body, 400, "invalid", field)


async def test_presence_is_live(api, connect):
    watcher, bob = await api.register(), await api.register()
    await api.create_private(watcher, bob)
    watching = await connect(watcher)

    def bob_in(users: list[dict]) -> dict:
        return next(u for u in users if u["id"] == bob.id)

    before = bob_in(await _users(api, watcher, q=bob.username))
    assert before["isOnline"] is False and before["lastSeen"] is None

    bob_client = await connect(bob)
    online = bob_in(await _users(api, watcher, q=bob.username))
    assert online["isOnline"] is True and online["lastSeen"] is None

    await bob_client.close()
    await watching.wait_for("UserOffline", lambda e: e["userId"] == bob.id)
    offline = bob_in(await _users(api, watcher, q=bob.username))
    assert offline["isOnline"] is False
    assert_iso(offline["lastSeen"])

    again = await connect(bob)
    back = bob_in(await _users(api, watcher, q=bob.username))
    assert back["isOnline"] is True and back["lastSeen"] == offline["lastSeen"]
    await again.close()


async def test_presence_counts_every_connection_of_a_user(api, server, connect):
    watcher, bob = await api.register(), await api.register()
    await api.create_private(watcher, bob)
    watching = await connect(watcher)
    phone, laptop = await connect(bob), await connect(bob)
    phone_sid = phone.sio.get_sid("/chat")
    assert server_holds(server, phone_sid)
    await phone.close()
    await server_forgets(server, phone_sid)
    users = {u["id"]: u for u in await _users(api, watcher)}
    assert users[bob.id]["isOnline"] is True, "closing one of two connections took the user offline"
    assert watching.events("UserOffline") == []
    await laptop.close()
    await watching.wait_for("UserOffline", lambda e: e["userId"] == bob.id)
    users = {u["id"]: u for u in await _users(api, watcher)}
    assert users[bob.id]["isOnline"] is False
