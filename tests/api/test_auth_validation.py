"""Every malformed auth request is a 400 ``invalid`` naming the field (415 for a non-JSON body)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import assert_error
from tests.conftest import unique_name

GOOD_PASSWORD = "correct horse battery"


def _register_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"username": unique_name(), "password": GOOD_PASSWORD}
    for key, value in changes.items():
        if value is _MISSING:
            body.pop(key, None)
        else:
            body[key] = value
    return body


_MISSING = object()

REGISTER_INVALID = [
    # (id, changes to a good body, field the message must name)
    ("username-too-short", {"username": "ab"}, "username"),
    ("username-too-long", {"username": "a" * 33}, "username"),
    ("username-empty", {"username": ""}, "username"),
    ("username-space", {"username": "bad name"}, "username"),
    ("username-bang", {"username": "bad!name"}, "username"),
    ("username-at", {"username": "bad@name"}, "username"),
    ("username-slash", {"username": "bad/name"}, "username"),
    ("username-dollar", {"username": "$where"}, "username"),
    ("username-newline", {"username": "name\n"}, "username"),
    ("username-operator-object", {"username": {"$gt": ""}}, "username"),
    ("username-number", {"username": 12345}, "username"),
    ("username-null", {"username": None}, "username"),
    ("username-list", {"username": ["alice"]}, "username"),
    ("username-bool", {"username": True}, "username"),
    ("username-missing", {"username": _MISSING}, "username"),
    ("password-too-short", {"password": "x" * 7}, "password"),
    ("password-too-long", {"password": "x" * 1025}, "password"),
    ("password-number", {"password": 12345678}, "password"),
    ("password-operator-object", {"password": {"$ne": ""}}, "password"),
    ("password-missing", {"password": _MISSING}, "password"),
    ("display-name-empty", {"displayName": ""}, "displayName"),
    ("display-name-blank", {"displayName": "   "}, "displayName"),
    ("display-name-too-long", {"displayName": "d" * 65}, "displayName"),
    ("display-name-number", {"displayName": 7}, "displayName"),
    ("display-name-object", {"displayName": {"first": "Ada"}}, "displayName"),
]


@pytest.mark.parametrize("changes, field", [pytest.param(c, f, id=i) for i, c, f in REGISTER_INVALID])
async def test_register_rejects_invalid_fields(api, changes, field):
    status, body = await api.request("POST", "/api/auth/register", json=_register_body(**changes))
    assert_error(status, body, 400, "invalid", field)


REGISTER_VALID_EDGES = [
    ("username-3-chars", {"username": "abc"}),
    ("username-32-chars", {"username": "A" * 26 + "_.-9z0"}),
    ("username-all-allowed-punctuation", {"username": "a_b.c-d"}),
    ("password-8-chars", {"password": "12345678"}),
    ("password-1024-chars", {"password": "p" * 1024}),
    ("display-name-1-char", {"displayName": "x"}),
    ("display-name-64-chars", {"displayName": "D" * 64}),
    ("display-name-unicode", {"displayName": "Zoë 李"}),
    ("display-name-null-means-default", {"displayName": None}),
    ("unknown-keys-ignored", {"isAdmin": True}),
]


@pytest.mark.parametrize("changes", [pytest.param(c, id=i) for i, c in REGISTER_VALID_EDGES])
async def test_register_accepts_the_edges_of_each_rule(api, changes):
    sent = _register_body(**changes)
    status, body = await api.request("POST", "/api/auth/register", json=sent)
    assert status == 201, body
    assert body["user"]["username"] == sent["username"]
    assert body["user"]["displayName"] == (sent.get("displayName") or sent["username"])
    assert "isAdmin" not in body["user"]


LOGIN_INVALID = [
    ("username-operator-object", {"username": {"$gt": ""}, "password": GOOD_PASSWORD}, "username"),
    ("password-operator-object", {"username": "someone", "password": {"$ne": None}}, "password"),
    ("username-number", {"username": 1, "password": GOOD_PASSWORD}, "username"),
    ("username-missing", {"password": GOOD_PASSWORD}, "username"),
    ("password-missing", {"username": "someone"}, "password"),
    ("username-empty", {"username": "", "password": GOOD_PASSWORD}, "username"),
    ("password-empty", {"username": "someone", "password": ""}, "password"),
]


@pytest.mark.parametrize("sent, field", [pytest.param(b, f, id=i) for i, b, f in LOGIN_INVALID])
async def test_login_rejects_invalid_fields(api, sent, field):
    status, body = await api.request("POST", "/api/auth/login", json=sent)
    assert_error(status, body, 400, "invalid", field)


NOT_AN_OBJECT = [
    ("array", b"[]"),
    ("string", b'"alice"'),
    ("number", b"42"),
    ("null", b"null"),
    ("true", b"true"),
]
MALFORMED = [
    ("truncated", b'{"username": "alice", "password": '),
    ("single-quotes", b"{'username': 'alice'}"),
    ("trailing-comma", b'{"username": "alice",}'),
    ("empty", b""),
    ("not-utf8", b'{"username": "\xff\xfe"}'),
    ("nan", b'{"username": NaN}'),
]


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/login"])
@pytest.mark.parametrize("raw", [pytest.param(r, id=i) for i, r in NOT_AN_OBJECT + MALFORMED])
async def test_body_that_is_not_a_json_object_is_invalid(api, path, raw):
    status, body = await api.request("POST", path, data=raw, headers={"Content-Type": "application/json"})
    assert_error(status, body, 400, "invalid", "body")


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/login", "/api/chat/rooms"])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
async def test_body_not_declared_as_json_is_refused_with_415(api, path, content_type):
    token = (await api.register()).token if path.startswith("/api/chat/") else None
    raw = b'{"username": "alice", "password": "correct horse battery", "type": "group", "name": "g"}'
    headers = {"Content-Type": content_type} if content_type else {}
    status, body = await api.request("POST", path, data=raw, headers=headers, token=token)
    assert_error(status, body, 415, "invalid")


async def test_json_with_charset_parameter_is_accepted(api):
    raw = b'{"username": "%s", "password": "correct horse battery"}' % unique_name().encode()
    status, body = await api.request("POST", "/api/auth/register", data=raw,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    assert status == 201, body
