"""Every ``/api/chat/*`` call needs a genuine bearer token: anything else is 401 ``unauthorized``."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any, Callable

import jwt
import pytest

from tests.api.helpers import assert_error
from tests.conftest import TEST_SECRET, Account

ISSUER = "kallemny"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _uct(account: Account) -> int:
    """The user binding the server put in the account's own token (the user's creation time)."""
    return json.loads(_unb64(account.token.split(".")[1]))["uct"]


def _claims(me: Account, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": me.id, "uct": _uct(me), "iat": now, "exp": now + 3600, "iss": ISSUER, "jti": uuid.uuid4().hex}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(me: Account, secret: str = TEST_SECRET, algorithm: str = "HS256", **changes: Any) -> str:
    return jwt.encode(_claims(me, **changes), secret, algorithm=algorithm)


def _alg_none(me: Account, other: Account) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(_claims(me)).encode())}."


def _alg_none_with_signature(me: Account, other: Account) -> str:
    real = me.token.split(".")
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{real[1]}.{real[2]}"


def _tampered_sub(me: Account, other: Account) -> str:
    """The caller's real token with ``sub`` changed to another user; signature kept."""
    header, payload, signature = me.token.split(".")
    claims = json.loads(_unb64(payload))
    claims["sub"] = other.id
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _tampered_exp(me: Account, other: Account) -> str:
    header, payload, signature = me.token.split(".")
    claims = json.loads(_unb64(payload))
    claims["exp"] += 10 * 365 * 86400
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _truncated_signature(me: Account, other: Account) -> str:
    return me.token[:-4]


# Each case builds the Authorization header value (None: no header at all).
FORGED: list[tuple[str, Callable[[Account, Account], str | None]]] = [
    ("missing-header", lambda me, other: None),
    ("empty-header", lambda me, other: ""),
    ("bearer-without-token", lambda me, other: "Bearer"),
    ("bearer-blank-token", lambda me, other: "Bearer    "),
    ("basic-scheme", lambda me, other: "Basic " + base64.b64encode(b"alice:password").decode()),
    ("token-scheme-with-real-token", lambda me, other: "Token " + me.token),
    ("real-token-without-scheme", lambda me, other: me.token),
    ("garbage", lambda me, other: "Bearer garbage"),
    ("garbage-three-parts", lambda me, other: "Bearer a.b.c"),
    ("oversize", lambda me, other: "Bearer " + "a" * 5000),
    ("alg-none", lambda me, other: "Bearer " + _alg_none(me, other)),
    ("alg-none-keeping-signature", lambda me, other: "Bearer " + _alg_none_with_signature(me, other)),
    ("wrong-secret", lambda me, other: "Bearer " + _signed(me, secret="another-secret-" + "y" * 40)),
    ("expired", lambda me, other: "Bearer " + _signed(me, iat=int(time.time()) - 7200, exp=int(time.time()) - 60)),
    ("tampered-sub", lambda me, other: "Bearer " + _tampered_sub(me, other)),
    ("tampered-exp", lambda me, other: "Bearer " + _tampered_exp(me, other)),
    ("truncated-signature", lambda me, other: "Bearer " + _truncated_signature(me, other)),
    ("wrong-issuer", lambda me, other: "Bearer " + _signed(me, iss="someone-else")),
    ("no-issuer", lambda me, other: "Bearer " + _signed(me, iss=None)),
    ("no-expiry", lambda me, other: "Bearer " + _signed(me, exp=None)),
    ("no-subject", lambda me, other: "Bearer " + _signed(me, sub=None)),
    ("no-user-binding", lambda me, other: "Bearer " + _signed(me, uct=None)),
    ("another-users-binding", lambda me, other: "Bearer " + _signed(me, uct=_uct(other))),
    ("subject-not-a-string", lambda me, other: "Bearer " + jwt.encode({**_claims(me), "sub": 42}, TEST_SECRET, algorithm="HS256")),
]


@pytest.fixture
async def pair(api) -> tuple[Account, Account]:
    return await api.register(), await api.register()


@pytest.mark.parametrize("make_header", [pytest.param(f, id=i) for i, f in FORGED])
async def test_forged_or_malformed_tokens_are_refused(api, pair, make_header):
    me, other = pair
    header = make_header(me, other)
    status, body = await api.request("GET", "/api/chat/rooms", headers={} if header is None else {"Authorization": header})
    assert_error(status, body, 401, "unauthorized")


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/chat/rooms"),
    ("POST", "/api/chat/rooms"),
    ("GET", "/api/chat/rooms/anything/messages"),
    ("GET", "/api/chat/users"),
])
async def test_every_chat_endpoint_needs_a_token(api, method, path):
    status, body = await api.request(method, path, json={"type": "group", "name": "g"} if method == "POST" else None)
    assert_error(status, body, 401, "unauthorized")


async def test_unauthorized_response_names_the_bearer_scheme(api, http):
    async with http.get(api.base_url + "/api/chat/rooms") as response:
        assert response.status == 401
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


async def test_a_genuine_token_passes_with_any_letter_case_of_the_scheme(api, pair):
    me, _ = pair
    for scheme in ("Bearer", "bearer", "BEARER"):
        status, body = await api.request("GET", "/api/chat/rooms", headers={"Authorization": f"{scheme} {me.token}"})
        assert status == 200, (scheme, body)


async def test_a_token_signed_by_the_server_secret_for_the_caller_passes(api, pair):
    """The control for the forgery cases: the same construction with the right inputs is accepted."""
    me, _ = pair
    status, body = await api.request("GET", "/api/chat/rooms", headers={"Authorization": "Bearer " + _signed(me)})
    assert status == 200, body
