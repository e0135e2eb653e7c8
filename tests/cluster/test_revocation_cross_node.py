"""Revoked tokens across nodes (contract section 8): a logout, a password change or a deletion on
node A cuts the sockets opened with what was revoked on node B within 1 s of A's answer.

"Within 1 s" is measured from the moment the REST answer arrived on the test's side:
the client's disconnect is awaited with a 1 s timeout, no sleep.
"""

from __future__ import annotations

import pytest

from tests.api.helpers import (
    API_KEY,
    assert_token_refused,
    cut_within,
    login,
    on_disconnect,
    server_path,
    still_served,
)
from tests.cluster.conftest import Cluster
from tests.conftest import Account
from tests.js.test_js_client import CLIENT_PACKAGE, NODE, run_js, user

pytestmark = pytest.mark.timeout(90)
PASSWORD = "correct horse battery"  # what Api.register uses


async def test_logout_on_a_cuts_that_tokens_socket_on_b_and_keeps_the_other(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    alice, bob = await cluster.register(a, "alice"), await cluster.register(b, "bob")
    room = await cluster.api(a).create_private(alice, bob)
    other = Account(await login(cluster.api(b), alice.username), alice.user)
    doomed, kept_b, kept_a = (await cluster.connect(b, alice), await cluster.connect(b, other),
                              await cluster.connect(a, other))
    ended, kept_ended = on_disconnect(doomed), on_disconnect(kept_b)

    status, body = await cluster.api(a).request("POST", "/api/auth/logout", token=alice.token)
    assert status == 204, body
    await cut_within(ended, "node B's socket opened with the logged-out token")
    await still_served(kept_b, room["id"])
    await still_served(kept_a, room["id"])
    assert not kept_ended.is_set()
    await assert_token_refused(cluster.api(b), b.url, alice.token)


async def test_password_change_on_a_cuts_older_sockets_on_b(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    alice, bob = await cluster.register(a, "alice"), await cluster.register(b, "bob")
    room = await cluster.api(a).create_private(alice, bob)
    older = Account(await login(cluster.api(a), alice.username), alice.user)
    sockets = [await cluster.connect(b, alice), await cluster.connect(b, older), await cluster.connect(a, alice)]
    ended = [on_disconnect(s) for s in sockets]

    status, session = await cluster.api(a).request("POST", "/api/auth/password", token=older.token,
                                                   json={"currentPassword": PASSWORD, "newPassword": "brand new words"})
    assert status == 200, session
    for where, event in zip(("B", "B", "A"), ended):
        await cut_within(event, f"a socket on node {where} opened before the password change")
    for old in (alice.token, older.token):
        await assert_token_refused(cluster.api(b), b.url, old)
    fresh = await cluster.connect(b, Account(session["token"], alice.user))
    await still_served(fresh, room["id"])


async def test_server_api_deletion_on_a_cuts_the_user_on_both_nodes(cluster: Cluster) -> None:
    a, b = await cluster.start(2, settings={"KALLEMNY_API_KEY": API_KEY})
    api_a = cluster.api(a)
    status, user = await api_a.request("PUT", server_path("users", "app-ann"), token=API_KEY, json={})
    assert status == 201, user
    status, issued = await api_a.request("POST", server_path("users", "app-ann", "tokens"), token=API_KEY, json={})
    assert status == 201, issued
    ann = Account(issued["token"], user)
    on_a, on_b = await cluster.connect(a, ann), await cluster.connect(b, ann)
    ended = [on_disconnect(on_a), on_disconnect(on_b)]

    status, body = await api_a.request("DELETE", server_path("users", "app-ann"), token=API_KEY)
    assert status == 204, body
    for where, event in zip("AB", ended):
        await cut_within(event, f"the deleted user's socket on node {where}")
    for node in (a, b):
        await assert_token_refused(cluster.api(node), node.url, ann.token)


@pytest.mark.skipif(NODE is None or not CLIENT_PACKAGE.exists(),
                    reason="the JavaScript client is not installed (npm ci in tests/js)")
async def test_logout_on_a_disconnects_a_live_js_client_on_b_within_1s(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    alice, bob = await cluster.register(a, "alice"), await cluster.register(b, "bob")
    room = await cluster.api(a).create_private(alice, bob)
    other = await login(cluster.api(a), alice.username)
    result = await run_js(b, "logout-disconnect", a=user(alice), b={**user(alice), "token": other},
                          roomId=room["id"], restUrl=a.url)
    assert result["disconnectAfterMs"] <= 1000 and result["refused"] == "unauthorized", result
