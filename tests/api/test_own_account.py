"""An own account's lifecycle (contract section 8): me, display name, logout, password change, deletion.

Every revocation is checked where a client meets it: 401 on REST,
``connect_error`` ``"unauthorized"`` on Socket.IO, and live sockets opened
with the revoked token cut within 1 s of the REST answer.
"""

from __future__ import annotations

import pytest

from kallemny_sio.schemas import AuthOut, UserOut
from tests.conftest import Account

from .helpers import (
    assert_conforms,
    assert_error,
    assert_token_refused,
    cut_within,
    login,
    on_disconnect,
    roles,
    send,
    still_served,
)

pytestmark = pytest.mark.timeout(30)
PASSWORD = "correct horse battery"  # what api.register uses


async def test_me_is_the_caller_as_a_user(api, server):
    alice = await api.register(displayName="Alice A.")
    status, me = await api.request("GET", "/api/auth/me", token=alice.token)
    assert status == 200, me
    assert_conforms(UserOut, me)
    assert me == {**alice.user, "isOnline": False}
    assert me["externalId"] is None and me["displayName"] == "Alice A."


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("token", [None, "not.a.jwt"], ids=["missing", "garbage"])
async def test_me_needs_a_valid_token(api, method, token):
    body = {"displayName": "x"} if method == "PATCH" else {"password": PASSWORD} if method == "DELETE" else None
    status, answer = await api.request(method, "/api/auth/me", token=token, json=body)
    assert_error(status, answer, 401, "unauthorized")


@pytest.mark.parametrize("path,body", [("/api/auth/logout", None),
                                       ("/api/auth/password", {"currentPassword": PASSWORD, "newPassword": "x" * 12})])
async def test_logout_and_password_need_a_token(api, path, body):
    status, answer = await api.request("POST", path, json=body)
    assert_error(status, answer, 401, "unauthorized")


async def test_patch_me_renames_and_tells_contacts_and_own_connections_only(api, connect):
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    side = await api.create_private(bob, carol)  # carol shares no room with alice
    a, b, c = await connect(alice), await connect(bob), await connect(carol)

    status, user = await api.request("PATCH", "/api/auth/me", token=alice.token, json={"displayName": "Ally"})
    assert status == 200, user
    assert_conforms(UserOut, user)
    assert user["displayName"] == "Ally" and user["id"] == alice.id and user["username"] == alice.username

    for client in (b, a):
        got = await client.wait_for("UserUpdated", lambda u: u["id"] == alice.id)
        assert_conforms(UserOut, got)
        assert got["displayName"] == "Ally" and got["externalId"] is None
    marker = await send(b, side["id"], "marker")
    await c.wait_for("ReceiveMessage", lambda m: m["id"] == marker["id"])
    assert c.events("UserUpdated") == []
    status, me = await api.request("GET", "/api/auth/me", token=alice.token)
    assert me["displayName"] == "Ally"
    members = (await api.request("GET", "/api/chat/rooms", token=bob.token))[1]
    (seen,) = [m for r in members if r["id"] == room["id"] for m in r["members"] if m["id"] == alice.id]
    assert seen["displayName"] == "Ally"


@pytest.mark.parametrize("body", [{}, {"displayName": ""}, {"displayName": "x" * 65}, {"displayName": 7}])
async def test_patch_me_validates_the_display_name(api, body):
    alice = await api.register()
    status, answer = await api.request("PATCH", "/api/auth/me", token=alice.token, json=body)
    assert_error(status, answer, 400, "invalid", field="displayName")


async def test_logout_refuses_that_token_only(api, server, connect):
    alice = await api.register()
    other = await login(api, alice.username)
    status, body = await api.request("POST", "/api/auth/logout", token=alice.token)
    assert status == 204, body
    await assert_token_refused(api, server.url, alice.token)
    status, body = await api.request("POST", "/api/auth/logout", token=alice.token)
    assert_error(status, body, 401, "unauthorized")
    status, me = await api.request("GET", "/api/auth/me", token=other)
    assert status == 200 and me["id"] == alice.id
    await connect(Account(other, alice.user))


async def test_logout_cuts_that_tokens_socket_within_1s_and_keeps_the_others(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    other = Account(await login(api, alice.username), alice.user)
    doomed, kept = await connect(alice), await connect(other)
    ended, kept_ended = on_disconnect(doomed), on_disconnect(kept)

    status, body = await api.request("POST", "/api/auth/logout", token=alice.token)
    assert status == 204, body
    await cut_within(ended, "the socket opened with the logged-out token")
    await still_served(kept, room["id"])
    assert not kept_ended.is_set()


async def test_password_change_gives_a_new_session_and_refuses_every_older_token(api, server):
    alice = await api.register()
    second = await login(api, alice.username)
    status, session = await api.request("POST", "/api/auth/password", token=second,
                                        json={"currentPassword": PASSWORD, "newPassword": "a brand new secret"})
    assert status == 200, session
    assert_conforms(AuthOut, session)
    assert session["user"]["id"] == alice.id
    for old in (alice.token, second):
        await assert_token_refused(api, server.url, old)
    status, me = await api.request("GET", "/api/auth/me", token=session["token"])
    assert status == 200 and me["id"] == alice.id
    status, body = await api.request("POST", "/api/auth/login", json={"username": alice.username, "password": PASSWORD})
    assert_error(status, body, 401, "unauthorized")
    await login(api, alice.username, "a brand new secret")


async def test_password_change_cuts_older_sockets_within_1s(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    older = Account(await login(api, alice.username), alice.user)
    first, second = await connect(alice), await connect(older)
    ended = [on_disconnect(first), on_disconnect(second)]

    status, session = await api.request("POST", "/api/auth/password", token=older.token,
                                        json={"currentPassword": PASSWORD, "newPassword": "a brand new secret"})
    assert status == 200, session
    for which, event in zip(("first", "second"), ended):
        await cut_within(event, f"the {which} socket opened before the password change")
    fresh = await connect(Account(session["token"], alice.user))
    await still_served(fresh, room["id"])


async def test_wrong_current_password_is_forbidden_and_changes_nothing(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_private(alice, bob)
    client = await connect(alice)
    status, body = await api.request("POST", "/api/auth/password", token=alice.token,
                                     json={"currentPassword": "not the password", "newPassword": "a brand new secret"})
    assert_error(status, body, 403, "forbidden")
    await still_served(client, room["id"])
    assert (await api.request("GET", "/api/auth/me", token=alice.token))[0] == 200
    await login(api, alice.username, PASSWORD)


@pytest.mark.parametrize("body,field", [({"currentPassword": PASSWORD, "newPassword": "short"}, "newPassword"),
                                        ({"currentPassword": PASSWORD}, "newPassword"),
                                        ({"newPassword": "a brand new secret"}, "currentPassword")])
async def test_password_change_validates_its_body(api, body, field):
    alice = await api.register()
    status, answer = await api.request("POST", "/api/auth/password", token=alice.token, json=body)
    assert_error(status, answer, 400, "invalid", field=field)


async def test_delete_with_a_wrong_password_is_forbidden_and_keeps_the_account(api):
    alice = await api.register()
    status, body = await api.request("DELETE", "/api/auth/me", token=alice.token, json={"password": "not it at all"})
    assert_error(status, body, 403, "forbidden")
    assert (await api.request("GET", "/api/auth/me", token=alice.token))[0] == 200


async def test_deleted_account_is_refused_cut_and_its_username_freed(api, server, connect):
    alice, bob = await api.register(), await api.register()
    await api.create_private(alice, bob)
    other = await login(api, alice.username)
    client = await connect(alice)
    ended = on_disconnect(client)

    status, body = await api.request("DELETE", "/api/auth/me", token=alice.token, json={"password": PASSWORD})
    assert status == 204, body
    await cut_within(ended, "the deleted account's socket")
    for token in (alice.token, other):
        await assert_token_refused(api, server.url, token)
    status, body = await api.request("POST", "/api/auth/login", json={"username": alice.username, "password": PASSWORD})
    assert_error(status, body, 401, "unauthorized")
    again = await api.register(alice.username)
    assert again.id != alice.id and again.username == alice.username


async def test_deleted_accounts_messages_stay_in_history(api, connect):
    alice, bob = await api.register(), await api.register()
    group = await api.create_group(alice, [bob], name="stays")
    private = await api.create_private(alice, bob)
    a = await connect(alice)
    sent = [await send(a, group["id"], "in the group"), await send(a, private["id"], "in private")]

    status, body = await api.request("DELETE", "/api/auth/me", token=alice.token, json={"password": PASSWORD})
    assert status == 204, body
    for room, message in zip((group, private), sent):
        history = await api.history(bob, room["id"])
        assert message["id"] in [m["id"] for m in history["messages"]]
        (kept,) = [m for m in history["messages"] if m["id"] == message["id"]]
        assert kept["senderId"] == alice.id and kept["content"] == message["content"]


async def test_deleting_the_owner_removes_them_and_hands_the_group_over(api, connect):
    alice, bob = await api.register(), await api.register()
    group = await api.create_group(alice, [bob], name="heirs")
    b = await connect(bob)
    status, body = await api.request("DELETE", "/api/auth/me", token=alice.token, json={"password": PASSWORD})
    assert status == 204, body
    left = await b.wait_for("UserLeftRoom", lambda d: d["roomId"] == group["id"])
    assert left == {"roomId": group["id"], "userId": alice.id, "reason": "removed"}
    heir = await b.wait_for("MemberUpdated", lambda d: d["roomId"] == group["id"])
    assert heir == {"roomId": group["id"], "userId": bob.id, "role": "owner", "mutedUntil": None}
    assert await roles(api, bob, group["id"]) == {bob.id: ("owner", None)}


async def test_deleting_ends_private_rooms_as_left(api, connect):
    alice, bob = await api.register(), await api.register()
    private = await api.create_private(alice, bob)
    b = await connect(bob)
    status, body = await api.request("DELETE", "/api/auth/me", token=alice.token, json={"password": PASSWORD})
    assert status == 204, body
    left = await b.wait_for("UserLeftRoom", lambda d: d["roomId"] == private["id"])
    assert left == {"roomId": private["id"], "userId": alice.id, "reason": "left"}
