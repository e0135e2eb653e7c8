"""A correctly signed token naming a user who does not exist is refused, not a 500."""

from __future__ import annotations

import pytest

from kallemny_sio.auth.tokens import Tokens
from kallemny_sio.core.clock import now_ms
from tests.conftest import TEST_SECRET


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/chat/rooms", None),
    ("POST", "/api/chat/rooms", {"type": "group", "name": "g", "memberIds": []}),
    ("GET", "/api/chat/users", None),
])
async def test_token_for_unknown_user_is_401(api, method, path, body):
    token = Tokens(TEST_SECRET, "kallemny", 60).issue("999999", 0, now_ms()).token
    status, error = await api.request(method, path, token=token, json=body)
    assert status == 401, (status, error)
    assert error["error"]["code"] == "unauthorized"
