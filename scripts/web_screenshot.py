"""Make the README's picture of the web client: docs/web-client.png.

Starts a server on a temporary SQLite file, lets three users talk in a group
(over the public REST API and Socket.IO), then opens Alice's page in Debian's
Chromium (driven by Playwright; no browser is ever downloaded) and saves it.

    .venv/bin/python scripts/web_screenshot.py [output.png]
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_up(http: aiohttp.ClientSession, base: str) -> None:
    for _ in range(200):
        try:
            async with http.get(f"{base}/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit("the server did not start")


async def _register(http: aiohttp.ClientSession, base: str, username: str, display: str) -> dict[str, Any]:
    body = {"username": username, "password": "correct horse battery", "displayName": display}
    async with http.post(f"{base}/api/auth/register", json=body) as r:
        return await r.json()


async def _say(base: str, token: str, room: str, *lines: str, reply_to: str | None = None) -> list[dict[str, Any]]:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(base, namespaces=["/chat"], auth={"token": token}, transports=["websocket"])
    sent = []
    for line in lines:
        payload = {"roomId": room, "content": line, **({"replyToId": reply_to} if reply_to else {})}
        ack = await client.call("SendMessage", payload, namespace="/chat", timeout=5)
        sent.append(ack["message"])
        reply_to = None
    await client.disconnect()
    return sent


async def main(out: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, "-m", "kallemny_sio", "--port", str(port),
                                   "--database-url", f"sqlite:///{tmp}/demo.db"], cwd=ROOT,
                                  env={"JWT_SECRET": "x" * 40, "RATE_LIMITS": "0", "PATH": "/usr/bin:/bin"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            async with aiohttp.ClientSession() as http:
                await _wait_up(http, base)
                alice = await _register(http, base, "alice", "Alice")
                bob = await _register(http, base, "bob", "Bob")
                carol = await _register(http, base, "carol", "Carol")
                headers = {"Authorization": f"Bearer {alice['token']}"}
                body = {"type": "group", "name": "Launch crew",
                        "memberIds": [bob["user"]["id"], carol["user"]["id"]]}
                async with http.post(f"{base}/api/chat/rooms", json=body, headers=headers) as r:
                    room = (await r.json())["id"]
                async with http.post(f"{base}/api/chat/rooms", headers=headers,
                                     json={"type": "private", "memberIds": [carol["user"]["id"]]}) as r:
                    await r.json()
                first = await _say(base, bob["token"], room, "Morning! Is the release still on for Friday?")
                await _say(base, alice["token"], room, "Yes, the last fixes landed yesterday.")
                await _say(base, carol["token"], room, "The docs are ready too.", "I'll post the notes tonight.")
                await _say(base, bob["token"], room, "Great, thanks both!", reply_to=first[0]["id"])
                msg = (await _say(base, carol["token"], room, "Coffee at 10 to go over the checklist?"))[0]
                path = f"{base}/api/chat/rooms/{room}/messages/{msg['id']}/reactions/%E2%98%95"
                async with http.put(path, headers={"Authorization": f"Bearer {bob['token']}"}) as r:
                    await r.read()
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                page = await browser.new_page(viewport={"width": 1100, "height": 760}, device_scale_factor=1)
                await page.goto(f"{base}/#token={alice['token']}")
                await page.locator(f'li.room[data-room-id="{room}"]').click()
                await page.locator("li.message").nth(5).wait_for()
                await page.locator("#message-input").fill("See you there")
                await page.screenshot(path=str(out))
                await browser.close()
        finally:
            server.terminate()
            server.wait(10)
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "web-client.png"))
