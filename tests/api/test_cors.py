"""CORS for the REST API: ``*`` in development, an explicit list when configured."""

from __future__ import annotations

from tests.api.conftest import CheckedApi

ORIGIN = "https://chat.example"


async def _preflight(http, url: str, origin: str) -> tuple[int, dict[str, str]]:
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "Authorization, Content-Type"}
    async with http.options(url + "/api/chat/rooms", headers=headers) as response:
        return response.status, dict(response.headers)


async def test_preflight_needs_no_token_and_allows_any_origin_in_development(server, http):
    status, headers = await _preflight(http, server.url, "https://anywhere.example")
    assert status in (200, 204)
    assert headers.get("Access-Control-Allow-Origin") in ("*", "https://anywhere.example")
    assert "authorization" in headers.get("Access-Control-Allow-Headers", "").lower()
    assert "POST" in headers.get("Access-Control-Allow-Methods", "")


async def test_configured_origins_are_the_only_ones_allowed(server_factory, http):
    server = await server_factory(cors_origins=(ORIGIN,))
    status, headers = await _preflight(http, server.url, ORIGIN)
    assert status in (200, 204)
    assert headers.get("Access-Control-Allow-Origin") == ORIGIN
    status, headers = await _preflight(http, server.url, "https://evil.example")
    assert "Access-Control-Allow-Origin" not in headers

    api = CheckedApi(server.url, http)
    account = await api.register()
    async with http.get(server.url + "/api/chat/rooms", headers={"Origin": ORIGIN, "Authorization": f"Bearer {account.token}"}) as response:
        assert response.status == 200
        assert response.headers.get("Access-Control-Allow-Origin") == ORIGIN
    async with http.get(server.url + "/api/chat/rooms", headers={"Origin": "https://evil.example", "Authorization": f"Bearer {account.token}"}) as response:
        assert "Access-Control-Allow-Origin" not in response.headers
