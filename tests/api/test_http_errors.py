"""HTTP-level failures are contract-shaped JSON errors: oversize bodies, unknown routes, wrong methods."""

from __future__ import annotations

import json

import pytest

from tests.api.helpers import assert_error
from tests.conftest import unique_name

BODY_70_KIB = json.dumps({"username": unique_name(), "password": "correct horse battery",
                          "displayName": "x" * (70 * 1024)}).encode()


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/login", "/api/chat/rooms"])
async def test_a_70_kib_body_is_refused_with_413(api, path):
    token = (await api.register()).token if path.startswith("/api/chat/") else None
    status, body = await api.request("POST", path, data=BODY_70_KIB,
                                     headers={"Content-Type": "application/json"}, token=token)
    assert_error(status, body, 413, "too_large")


async def test_a_chunked_70_kib_body_without_length_is_refused_with_413(api):
    async def chunks():
        for start in range(0, len(BODY_70_KIB), 8192):
            yield BODY_70_KIB[start:start + 8192]

    status, body = await api.request("POST", "/api/auth/register", data=chunks(),
                                     headers={"Content-Type": "application/json"})
    assert_error(status, body, 413, "too_large")


async def test_a_body_just_under_64_kib_is_read(api):
    """The limit is 64 KiB: a body under it is parsed (and here refused for its content, not its size)."""
    padding = 60 * 1024
    raw = json.dumps({"username": unique_name(), "password": "p" * padding}).encode()
    assert len(raw) < 64 * 1024
    status, body = await api.request("POST", "/api/auth/register", data=raw, headers={"Content-Type": "application/json"})
    assert_error(status, body, 400, "invalid", "password")


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/nope"),
    ("POST", "/api/auth/nope"),
    ("GET", "/api/auth"),
    ("GET", "/nope"),
    ("GET", "/api/chat/rooms/x/messages/y"),
])
async def test_unknown_route_is_a_json_404(api, method, path):
    token = (await api.register()).token if path.startswith("/api/chat/") else None
    status, body = await api.request(method, path, token=token)
    assert_error(status, body, 404, "not_found")


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/auth/register"),
    ("GET", "/api/auth/login"),
    ("PUT", "/api/auth/login"),
    ("DELETE", "/api/chat/rooms"),
    ("PATCH", "/api/chat/rooms"),
    ("POST", "/api/chat/users"),
    ("POST", "/healthz"),
])
async def test_wrong_method_is_a_json_405_with_allow(api, http, method, path):
    account = await api.register()
    status, body = await api.request(method, path, token=account.token)
    assert status == 405, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert body["error"]["code"] == "invalid"
    assert method in body["error"]["message"] or path in body["error"]["message"]
    async with http.request(method, api.base_url + path, headers={"Authorization": f"Bearer {account.token}"}) as response:
        assert response.headers.get("Allow"), dict(response.headers)
        assert method not in {m.strip() for m in response.headers["Allow"].split(",")}


async def test_errors_are_served_as_json(api, http):
    async with http.get(api.base_url + "/api/nope") as response:
        assert response.content_type == "application/json"
    async with http.get(api.base_url + "/api/chat/rooms") as response:
        assert response.content_type == "application/json"
