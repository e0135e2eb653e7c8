"""The REST suite's ``api``: the shared client, plus a leak check on every response."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.api.helpers import NEVER_IN_RESPONSES
from tests.conftest import Api, RunningServer


class CheckedApi(Api):
    """:class:`tests.conftest.Api` that fails the test if any response leaks.

    Every response body is checked for a traceback, an Argon2 hash, the
    signing secret and every password this client has sent so far.
    """

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        super().__init__(base_url, session)
        self.passwords: set[str] = set()

    async def request(self, method: str, path: str, *, token: str | None = None, json: Any = None,
                      params: Any = None, data: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        if isinstance(json, dict) and isinstance(json.get("password"), str) and len(json["password"]) >= 4:
            self.passwords.add(json["password"])
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        async with self.session.request(method, self.base_url + path, json=json, params=params, data=data, headers=hdrs) as r:
            raw = await r.read()
            text = raw.decode(errors="replace")
            for secret in (*NEVER_IN_RESPONSES, *self.passwords):
                assert secret not in text, f"{method} {path} answered {r.status} with a leak: {text[:300]!r}"
            try:
                parsed = await r.json(content_type=None) if raw else None
            except ValueError:
                parsed = text
            return r.status, parsed


@pytest.fixture
def api(server: RunningServer, http: aiohttp.ClientSession) -> CheckedApi:
    """The REST client for this suite (overrides the shared one with leak checks)."""
    return CheckedApi(server.url, http)
