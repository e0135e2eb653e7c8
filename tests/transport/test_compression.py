"""permessage-deflate: declined by default even when the client offers it; accepted when enabled.

Speaks the WebSocket handshake with aiohttp's client (which offers
``permessage-deflate`` when ``compress=15``) and reads the negotiated
extensions from the server's 101 response. Fails if an engineio upgrade
breaks ``kallemny_sio/transport/websocket.py``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest


async def _negotiated_extensions(url: str, token: str) -> str:
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url, compress=15, headers={"Authorization": f"Bearer {token}"}) as ws:
            extensions = ws._response.headers.get("Sec-WebSocket-Extensions", "")
            first = await ws.receive(timeout=5)  # the engine.io open packet: the transport works
            assert isinstance(first.data, str) and first.data.startswith("0{"), first
            await ws.close()
            return extensions


async def test_compression_is_declined_by_default(server: Any, api: Any) -> None:
    alice = await api.register()
    assert "permessage-deflate" not in await _negotiated_extensions(server.url, alice.token)


@pytest.mark.server_settings(websocket_compression=True)
async def test_compression_is_accepted_when_enabled(server: Any, api: Any) -> None:
    alice = await api.register()
    assert "permessage-deflate" in await _negotiated_extensions(server.url, alice.token)
