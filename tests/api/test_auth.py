"""Registration and login (contract section 3, issue "Foundation")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kallemny_sio.schemas import AuthOut
from tests.api.helpers import assert_conforms, assert_error, assert_iso
from tests.conftest import unique_name

PASSWORD = "correct horse battery"


async def test_register_returns_token_expiry_and_user(api):
    name = unique_name()
    status, body = await api.request("POST", "/api/auth/register", json={"username": name, "password": PASSWORD})
    assert status == 201, body
    assert_conforms(AuthOut, body)
    assert isinstance(body["token"], str) and body["token"].count(".") == 2
    expires = assert_iso(body["expiresAt"])
    lifetime = expires - datetime.now(timezone.utc)
    assert timedelta(days=7) - timedelta(minutes=5) < lifetime <= timedelta(days=7)
    user = body["user"]
    assert set(user) == {"id", "username", "displayName", "isOnline", "lastSeen", "externalId"}
    assert user["externalId"] is None  # registered here
    assert isinstance(user["id"], str) and user["id"]
    assert user["username"] == name
    assert user["displayName"] == name
    assert user["isOnline"] is False
    assert user["lastSeen"] is None


async def test_register_keeps_the_given_display_name(api):
    status, body = await api.request("POST", "/api/auth/register",
                                     json={"username": unique_name(), "password": PASSWORD, "displayName": "Ada Lovelace"})
    assert status == 201, body
    assert body["user"]["displayName"] == "Ada Lovelace"


async def test_registered_token_opens_the_chat_api(api):
    account = await api.register()
    status, body = await api.request("GET", "/api/chat/rooms", token=account.token)
    assert (status, body) == (200, [])


async def test_login_returns_a_working_token_for_the_same_user(api):
    account = await api.register(password=PASSWORD)
    status, body = await api.request("POST", "/api/auth/login", json={"username": account.username, "password": PASSWORD})
    assert status == 200, body
    assert_conforms(AuthOut, body)
    assert body["user"]["id"] == account.id
    assert_iso(body["expiresAt"])
    status, rooms = await api.request("GET", "/api/chat/rooms", token=body["token"])
    assert status == 200, rooms


async def test_username_is_taken_in_any_letter_case(api):
    name = unique_name("Mixed")
    await api.register(name)
    for taken in (name, name.upper(), name.lower(), name.swapcase()):
        status, body = await api.request("POST", "/api/auth/register", json={"username": taken, "password": PASSWORD})
        assert_error(status, body, 409, "conflict")


async def test_conflict_leaves_the_first_account_untouched(api):
    name = unique_name("Keep")
    first = await api.register(name, password=PASSWORD)
    status, body = await api.request("POST", "/api/auth/register",
                                     json={"username": name.upper(), "password": "another password"})
    assert_error(status, body, 409, "conflict")
    status, body = await api.request("POST", "/api/auth/login", json={"username": name, "password": PASSWORD})
    assert status == 200 and body["user"]["id"] == first.id
    status, body = await api.request("POST", "/api/auth/login", json={"username": name, "password": "another password"})
    assert_error(status, body, 401, "unauthorized")


async def test_unknown_user_and_wrong_password_get_the_same_401(api):
    account = await api.register(password=PASSWORD)
    unknown = await api.request("POST", "/api/auth/login", json={"username": unique_name("ghost"), "password": PASSWORD})
    wrong = await api.request("POST", "/api/auth/login", json={"username": account.username, "password": PASSWORD + "!"})
    unknown_message = assert_error(*unknown, 401, "unauthorized")
    wrong_message = assert_error(*wrong, 401, "unauthorized")
    assert unknown_message == wrong_message
    assert unknown[1] == wrong[1]
