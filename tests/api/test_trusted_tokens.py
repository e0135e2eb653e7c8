"""Tokens signed by the host application (contract section 8), against a real server.

Two app backends: one sharing an HS256 secret, one publishing RS256 / ES256
keys at a real JWKS endpoint (:class:`tests.support.jwks_server.JwksServer`).
Each token is used as a client would: a REST bearer and a Socket.IO ``auth``.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any, AsyncIterator

import pytest

from kallemny_sio.schemas import UserOut
from tests.api.conftest import CheckedApi
from tests.conftest import Account, RunningServer
from tests.support.jwks_server import (
    JwksServer,
    SigningKey,
    claims_for,
    ec_key,
    forge,
    rsa_key,
    sign,
    sign_hs256,
)

from .helpers import (
    API_KEY,
    assert_conforms,
    assert_error,
    assert_token_refused,
    connect_refused,
    cut_within,
    on_disconnect,
    send,
    server_path,
)

pytestmark = pytest.mark.timeout(30)

ISSUER = "https://app.example"
APP_SECRET = "app-backend-shared-secret-" + "s" * 20
JWKS_TIMEOUT = 2.0  # the server's bound on one key-set fetch
SLACK = 1.5  # what a loaded machine may add to it


@pytest.fixture(scope="module")
def rsa() -> SigningKey:
    return rsa_key("rsa-1")


@pytest.fixture(scope="module")
def ecdsa() -> SigningKey:
    return ec_key("ec-1")


@pytest.fixture
async def jwks(rsa: SigningKey, ecdsa: SigningKey) -> AsyncIterator[JwksServer]:
    keys = await JwksServer().start()
    keys.add_key(rsa)
    keys.add_key(ecdsa)
    yield keys
    await keys.close()


@pytest.fixture
async def hs_server(server_factory) -> RunningServer:
    """Trusts the app's HS256 tokens; the server API is on too."""
    return await server_factory(trusted_jwt_issuer=ISSUER, trusted_jwt_secret=APP_SECRET, api_key=API_KEY)


@pytest.fixture
async def jwks_server(server_factory, jwks: JwksServer) -> RunningServer:
    """Trusts the app's RS256 / ES256 tokens, keys from the JWKS endpoint."""
    return await server_factory(trusted_jwt_issuer=ISSUER, trusted_jwks_url=jwks.url)


@pytest.fixture
def hs_api(hs_server, http) -> CheckedApi:
    return CheckedApi(hs_server.url, http)


@pytest.fixture
def jwks_api(jwks_server, http) -> CheckedApi:
    return CheckedApi(jwks_server.url, http)


def sub() -> str:
    return f"app_{uuid.uuid4().hex[:10]}"


def hs_token(external_id: str, **claims: Any) -> str:
    return sign_hs256(claims_for(ISSUER, external_id, **claims), APP_SECRET)


async def me(api, token: str) -> dict[str, Any]:
    status, user = await api.request("GET", "/api/auth/me", token=token)
    assert status == 200, user
    assert_conforms(UserOut, user)
    return user


# -- accepted ----------------------------------------------------------------------


async def test_an_hs256_token_creates_the_user_on_first_use(hs_api, hs_server, connect):
    external_id = sub()
    token = hs_token(external_id, name="Ann Example")
    user = await me(hs_api, token)
    assert (user["externalId"], user["username"], user["displayName"]) == (external_id, external_id, "Ann Example")
    assert await me(hs_api, hs_token(external_id, name="Ann Example")) == user  # the same user afterwards
    status, put = await hs_api.request("PUT", server_path("users", external_id), token=API_KEY, json={})
    assert status == 200 and put["id"] == user["id"], put  # the server API knows it by the same externalId

    status, room = await hs_api.request("POST", "/api/chat/rooms", token=token,
                                        json={"type": "group", "name": "mine", "memberIds": []})
    assert status == 201, room
    client = await connect(Account(token, user), url=hs_server.url)
    message = await send(client, room["id"], "hello from the app's user")
    assert message["senderId"] == user["id"]


@pytest.mark.parametrize("key_name", ["rsa", "ecdsa"])
async def test_rs256_and_es256_tokens_from_the_jwks_are_accepted(jwks_api, jwks_server, connect, request, key_name):
    key = request.getfixturevalue(key_name)
    external_id = sub()
    token = sign(claims_for(ISSUER, external_id), key)
    user = await me(jwks_api, token)
    assert user["externalId"] == external_id and user["displayName"] == external_id
    client = await connect(Account(token, user), url=jwks_server.url)
    assert client.sio.connected


async def test_a_server_api_user_signs_in_with_a_trusted_token(hs_api):
    external_id = sub()
    status, created = await hs_api.request("PUT", server_path("users", external_id), token=API_KEY,
                                           json={"displayName": "Pre-made"})
    assert status == 201, created
    assert await me(hs_api, hs_token(external_id)) == created


@pytest.mark.parametrize("external_id", ["ab", "mail+x@example.com", "auth0|" + "9" * 40, "y" * 128, "ünïcode-ïd"],
                         ids=["too-short", "email", "too-long", "max-length", "non-ascii"])
async def test_a_sub_that_is_no_username_gets_a_derived_one(hs_api, external_id):
    user = await me(hs_api, hs_token(external_id))
    username = user["username"]
    assert re.fullmatch(r"[A-Za-z0-9_.\-]{3,32}", username), username
    prefix, digest = username.rsplit("-", 1)
    assert re.fullmatch(r"[0-9a-f]{12}", digest), username
    assert re.sub(r"[^A-Za-z0-9_.\-]", "", external_id).startswith(prefix), username
    assert user["externalId"] == external_id and user["displayName"] == external_id[:64]
    assert (await me(hs_api, hs_token(external_id)))["id"] == user["id"]


async def test_a_sub_that_is_a_taken_username_gets_a_derived_one(hs_api):
    own = await hs_api.register()
    user = await me(hs_api, hs_token(own.username))
    assert user["id"] != own.id and user["username"] != own.username
    assert user["username"].startswith(own.username + "-")


async def test_a_new_name_updates_the_display_name_and_tells_contacts(hs_api, connect, hs_server):
    external_id, bob = sub(), await hs_api.register()
    first = hs_token(external_id, name="Ann")
    ann = await me(hs_api, first)
    status, room = await hs_api.request("POST", "/api/chat/rooms", token=first,
                                        json={"type": "private", "memberIds": [bob.id]})
    assert status == 201, room
    b = await connect(bob, url=hs_server.url)

    renamed = await me(hs_api, hs_token(external_id, name="Ann Married"))
    assert renamed == {**ann, "displayName": "Ann Married"}
    got = await b.wait_for("UserUpdated", lambda u: u["id"] == ann["id"])
    assert got == renamed
    await me(hs_api, hs_token(external_id, name="Ann Married"))  # the same name again: nothing to tell
    await me(hs_api, hs_token(external_id))  # no name: the display name stays
    marker = await send(b, room["id"], "marker")
    await b.wait_for("ReceiveMessage", lambda m: m["id"] == marker["id"])
    assert len(b.events("UserUpdated")) == 1
    assert (await me(hs_api, first))["displayName"] == "Ann"  # an older token still names the user as it says


async def test_a_rotated_key_with_a_new_kid_is_fetched_and_accepted(jwks_api, jwks, rsa):
    await me(jwks_api, sign(claims_for(ISSUER, sub()), rsa))
    assert jwks.fetches == 1
    rotated = jwks.add_key(rsa_key("rsa-2"))
    jwks.remove_key("rsa-1")
    user = await me(jwks_api, sign(claims_for(ISSUER, sub()), rotated))
    assert user["externalId"] is not None and jwks.fetches == 2


@pytest.mark.parametrize("outage", ["refused", "http-500", "hangs", "malformed"])
async def test_a_jwks_endpoint_that_is_down_means_401_in_bounded_time(server_factory, http, jwks, rsa, outage):
    trusted = await server_factory(trusted_jwt_issuer=ISSUER, trusted_jwks_url=jwks.url)
    api = CheckedApi(trusted.url, http)
    if outage == "refused":
        await jwks.stop()
    elif outage == "http-500":
        jwks.fail_with(500)
    elif outage == "hangs":
        jwks.hang()
    else:
        jwks.serve_body(b'{"keys": [')
    own = await api.register()
    token = sign(claims_for(ISSUER, sub()), rsa)

    started = time.monotonic()
    trusted_call = asyncio.create_task(api.request("GET", "/api/auth/me", token=token))
    status, body = await api.request("GET", "/api/auth/me", token=own.token)  # others are not held up
    assert status == 200, body
    status, body = await trusted_call
    assert_error(status, body, 401, "unauthorized")
    assert time.monotonic() - started < JWKS_TIMEOUT + SLACK
    started = time.monotonic()
    data = await connect_refused(trusted.url, token)
    assert isinstance(data, dict) and data.get("message") == "unauthorized", data
    assert time.monotonic() - started < JWKS_TIMEOUT + SLACK
    assert outage == "refused" or jwks.fetches >= 1  # the endpoint was asked and failed as set up


# -- refused -------------------------------------------------------------------------


def _hs_bad(kind: str, external_id: str) -> str:
    return {
        "wrong-secret": lambda: sign_hs256(claims_for(ISSUER, external_id), "another-secret-" + "z" * 30),
        "untrusted-issuer": lambda: sign_hs256(claims_for("https://evil.example", external_id), APP_SECRET),
        "no-exp": lambda: sign_hs256(claims_for(ISSUER, external_id, exp=None), APP_SECRET),
        "expired": lambda: sign_hs256(claims_for(ISSUER, external_id, lifetime_seconds=-120), APP_SECRET),
        "sub-too-long": lambda: sign_hs256(claims_for(ISSUER, "s" * 129), APP_SECRET),
        "empty-sub": lambda: sign_hs256(claims_for(ISSUER, ""), APP_SECRET),
        "no-sub": lambda: sign_hs256({k: v for k, v in claims_for(ISSUER, external_id).items() if k != "sub"},
                                     APP_SECRET),
        "rs256-instead": lambda: sign(claims_for(ISSUER, external_id), rsa_key("rsa-x")),
        "alg-none": lambda: forge({"alg": "none", "typ": "JWT"}, claims_for(ISSUER, external_id)),
    }[kind]()


@pytest.mark.parametrize("kind", ["wrong-secret", "untrusted-issuer", "no-exp", "expired", "sub-too-long",
                                  "empty-sub", "no-sub", "rs256-instead", "alg-none"])
async def test_a_bad_hs256_token_is_401_and_unauthorized(hs_api, hs_server, kind):
    external_id = sub()
    await assert_token_refused(hs_api, hs_server.url, _hs_bad(kind, external_id))
    status, put = await hs_api.request("PUT", server_path("users", external_id), token=API_KEY, json={})
    assert status == 201, put  # the refused token created nobody


def _jwks_bad(kind: str, external_id: str, rsa: SigningKey, ecdsa: SigningKey) -> str:
    claims = claims_for(ISSUER, external_id)
    return {
        "other-key-same-kid": lambda: sign(claims, rsa_key("rsa-1")),
        "unknown-kid": lambda: sign(claims, rsa_key("never-published")),
        "es256-on-rsa-kid": lambda: sign(claims, ecdsa, kid=rsa.kid),
        "hs256-with-public-key": lambda: forge({"alg": "HS256", "kid": rsa.kid}, claims, rsa.public_pem()),
        "hs256-app-secret": lambda: sign_hs256(claims, APP_SECRET, kid=rsa.kid),
        "alg-none": lambda: forge({"alg": "none", "kid": rsa.kid}, claims),
        "untrusted-issuer": lambda: sign(claims_for("https://evil.example", external_id), rsa),
        "no-exp": lambda: sign(claims_for(ISSUER, external_id, exp=None), rsa),
        "sub-too-long": lambda: sign(claims_for(ISSUER, "s" * 129), ecdsa),
    }[kind]()


@pytest.mark.parametrize("kind", ["other-key-same-kid", "unknown-kid", "es256-on-rsa-kid", "hs256-with-public-key",
                                  "hs256-app-secret", "alg-none", "untrusted-issuer", "no-exp", "sub-too-long"])
async def test_a_bad_jwks_token_is_401_and_unauthorized(jwks_api, jwks_server, rsa, ecdsa, kind):
    await me(jwks_api, sign(claims_for(ISSUER, sub()), rsa))  # the key set is loaded: refusals are about the token
    await assert_token_refused(jwks_api, jwks_server.url, _jwks_bad(kind, sub(), rsa, ecdsa))


@pytest.mark.parametrize("aud,accepted", [("chat", True), (["other", "chat"], True), ("other", False), (None, False)],
                         ids=["same", "in-list", "other", "missing"])
async def test_the_audience_is_checked_when_set(server_factory, http, aud, accepted):
    srv = await server_factory(trusted_jwt_issuer=ISSUER, trusted_jwt_secret=APP_SECRET, trusted_jwt_audience="chat")
    api = CheckedApi(srv.url, http)
    token = hs_token(sub(), aud=aud)
    if accepted:
        await me(api, token)
    else:
        await assert_token_refused(api, srv.url, token)


# -- users deleted through the server API -----------------------------------------


async def test_tokens_of_a_deleted_user_are_refused_and_a_newer_one_makes_a_new_user(hs_api, hs_server, connect):
    external_id = sub()
    token = hs_token(external_id)
    user = await me(hs_api, token)
    unused = hs_token(external_id)  # issued before the deletion, never used
    client = await connect(Account(token, user), url=hs_server.url)
    ended = on_disconnect(client)

    status, body = await hs_api.request("DELETE", server_path("users", external_id), token=API_KEY)
    assert status == 204, body
    answered = time.time()
    await cut_within(ended, "the deleted user's socket")
    for old in (token, unused):
        await assert_token_refused(hs_api, hs_server.url, old)

    while int(time.time()) <= int(answered):  # iat has whole seconds: the next one is after the deletion
        await asyncio.sleep(0.02)
    newer = hs_token(external_id)
    again = await me(hs_api, newer)
    assert again["id"] != user["id"] and again["externalId"] == external_id
    await connect(Account(newer, again), url=hs_server.url)

