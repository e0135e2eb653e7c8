"""The web client's files over HTTP (no browser): the page, its headers, the modules, and what is never served.

The browser itself is exercised by ``test_web_client.py``; these tests hold the
serving side: the Content-Security-Policy, JavaScript content types, paths
that try to leave ``kallemny_sio/web/``, and the files being part of the
installed package.
"""

from __future__ import annotations

import asyncio
import html.parser
import importlib.resources
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest

from kallemny_sio.rest.web_client import WEB_ROOT, content_security_policy, web_file
from tests.conftest import RunningServer, make_settings

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_BUNDLE = REPO / "tests" / "js" / "node_modules" / "socket.io-client" / "dist" / "socket.io.esm.min.js"
CLIENT_FILES = sorted(p.relative_to(WEB_ROOT).as_posix() for p in WEB_ROOT.rglob("*") if p.is_file())
MODULES = [f for f in CLIENT_FILES if f.endswith(".js")]
CSP_DIRECTIVES = ["script-src 'self'", "style-src 'self'", "img-src 'self' data:", "object-src 'none'",
                  "base-uri 'none'", "frame-ancestors 'none'"]
# Every fixed id of the DOM contract the browser tests rely on (web-client contract).
CONTRACT_IDS = {
    "auth-form", "username", "password", "login-button", "register-button", "auth-error", "me", "logout-button",
    "connection-status", "room-list", "back-button", "new-room-button", "new-room-dialog", "room-kind",
    "room-name-input", "user-search", "user-results", "picked-users", "create-room-button", "new-room-error",
    "room-title", "messages", "typing", "load-older", "composer", "message-input", "send-button", "reply-preview",
    "cancel-reply", "room-settings-button", "room-settings", "room-topic-input", "save-room-button", "member-list",
    "add-member-search", "add-member-results", "leave-room-button", "toast",
    "block-button", "muted-notice", "blocked-notice", "delete-room-button",
}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server on SQLite only: serving files does not depend on the store."""
    running = await RunningServer(make_settings(f"sqlite:///{tmp_path / 'kallemny.db'}")).start()
    yield running
    await running.stop()


async def raw_get(server: RunningServer, target: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``target`` exactly as written (no client-side normalisation of ``..`` or percent escapes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.settings.port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


class _Page(html.parser.HTMLParser):
    """Collects what a strict CSP cares about in index.html."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.styled: list[str] = []
        self.handlers: list[str] = []
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.append(str(attributes["id"]))
        if tag == "script":
            self.scripts.append(attributes)
        if tag == "style" or "style" in attributes:
            self.styled.append(tag)
        self.handlers += [name for name in attributes if name.startswith("on")]
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(str(attributes["href"]))


async def test_the_page_is_served_at_the_root_with_a_strict_policy(server: RunningServer,
                                                                  http: aiohttp.ClientSession) -> None:
    async with http.get(server.url + "/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
        csp = response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-cache"
    for directive in CSP_DIRECTIVES:
        assert directive in csp
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src "))
    host = f"127.0.0.1:{server.settings.port}"
    assert connect == f"connect-src 'self' ws://{host} wss://{host}"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp
    assert page == (WEB_ROOT / "index.html").read_text(encoding="utf-8")


def test_the_page_has_no_inline_script_or_style_and_every_contract_id_once() -> None:
    parser = _Page()
    parser.feed((WEB_ROOT / "index.html").read_text(encoding="utf-8"))
    assert parser.scripts == [{"type": "module", "src": "/web/app.js"}]
    assert parser.styled == [] and parser.handlers == []
    assert parser.stylesheets == ["/web/style.css"]
    assert len(parser.ids) == len(set(parser.ids)), "duplicate ids"
    assert CONTRACT_IDS <= set(parser.ids), CONTRACT_IDS - set(parser.ids)


@pytest.mark.parametrize("name", MODULES)
async def test_every_module_is_served_as_javascript(server: RunningServer, http: aiohttp.ClientSession,
                                                    name: str) -> None:
    async with http.get(f"{server.url}/web/{name}") as response:
        assert response.status == 200
        assert response.content_type == "text/javascript"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert await response.read() == (WEB_ROOT / name).read_bytes()


async def test_the_stylesheet_and_the_bundles_licence_are_served(server: RunningServer,
                                                                 http: aiohttp.ClientSession) -> None:
    async with http.get(server.url + "/web/style.css") as response:
        assert (response.status, response.content_type) == (200, "text/css")
    async with http.get(server.url + "/web/vendor/socket.io-client.LICENSE") as response:
        assert (response.status, response.content_type) == (200, "text/plain")
        assert "MIT" in await response.text()


def test_every_relative_import_names_a_client_file() -> None:
    imports = re.compile(r"""^\s*import\s[^;]*?from\s+["'](\.{1,2}/[^"']+)["']""", re.M)
    for name in MODULES:
        if name.startswith("vendor/"):
            continue
        for target in imports.findall((WEB_ROOT / name).read_text(encoding="utf-8")):
            resolved = (WEB_ROOT / name).parent.joinpath(target).resolve()
            assert resolved.is_file() and resolved.is_relative_to(WEB_ROOT), f"{name} imports {target}"


def test_the_bundle_is_the_official_socket_io_client_4_8_4() -> None:
    bundle = (WEB_ROOT / "vendor" / "socket.io.esm.min.js").read_bytes()
    assert b"Socket.IO v4.8.4" in bundle[:200]
    assert "4.8.4" in (WEB_ROOT / "vendor" / "README").read_text(encoding="utf-8")
    if OFFICIAL_BUNDLE.exists():  # the npm package the JavaScript tests install
        assert bundle == OFFICIAL_BUNDLE.read_bytes()


@pytest.mark.parametrize("target", [
    "/web/../app.py",
    "/web/%2e%2e/app.py",
    "/web/%2E%2E/app.py",
    "/web/..%2fapp.py",
    "/web/%2e%2e%2fapp.py",
    "/web/..%5capp.py",
    "/web/vendor/../../app.py",
    "/web/vendor/%2e%2e/%2e%2e/rest/web_client.py",
    "/web/%2e%2e/%2e%2e/setup.cfg",
    "/web//etc/passwd",
    "/web/%2fetc%2fpasswd",
    "/web/index.html%00.js",
    "/web/./index.html",
    "/web/.index.html",
])
async def test_a_path_leaving_the_client_folder_is_404(server: RunningServer, target: str) -> None:
    status, headers, body = await raw_get(server, target)
    assert status == 404
    assert b"create_app" not in body and b"import" not in body and b"root:" not in body


@pytest.mark.parametrize("target", ["/web/", "/web", "/web/vendor/", "/web/vendor", "/web/views/"])
async def test_a_folder_is_never_listed(server: RunningServer, target: str) -> None:
    status, _, body = await raw_get(server, target)
    assert status == 404
    assert b"app.js" not in body and b"socket.io" not in body and b"index.html" not in body


def test_a_link_out_of_the_folder_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "web"
    root.mkdir()
    (root / "app.js").write_text("export {};")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "out.txt").symlink_to(tmp_path / "secret.txt")
    assert web_file("app.js", root) == (root / "app.js").resolve()
    assert web_file("out.txt", root) is None
    assert web_file("../secret.txt", root) is None
    assert web_file("", root) is None


def test_a_host_header_that_is_not_a_plain_host_stays_out_of_the_policy() -> None:
    assert "ws://chat.example.com:8443 " in content_security_policy("chat.example.com:8443")
    assert "ws://[::1]:8000 " in content_security_policy("[::1]:8000")
    hostile = content_security_policy("evil.example; script-src *")
    assert "evil" not in hostile and "connect-src 'self';" in hostile


def test_the_client_is_part_of_the_package() -> None:
    installed = importlib.resources.files("kallemny_sio") / "web"
    for name in ["index.html", "app.js", "style.css", "vendor/socket.io.esm.min.js", "vendor/socket.io-client.LICENSE"]:
        assert installed.joinpath(name).is_file(), name


@pytest.mark.timeout(120)
def test_a_build_of_the_package_carries_every_client_file(tmp_path: Path) -> None:
    """setup.cfg's package_data: setuptools' build_py (what a wheel is made from) copies all of web/."""
    pytest.importorskip("setuptools", reason="building needs setuptools in the environment")
    source = tmp_path / "source"
    source.mkdir()
    for name in ["setup.cfg", "pyproject.toml", "README.md"]:
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "kallemny_sio", source / "kallemny_sio", ignore=shutil.ignore_patterns("__pycache__"))
    built = tmp_path / "built"
    result = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
                             "--build-lib", str(built)], cwd=source, capture_output=True, text=True, timeout=100)
    assert result.returncode == 0, result.stderr[-2000:]
    missing = [name for name in CLIENT_FILES if not (built / "kallemny_sio" / "web" / name).is_file()]
    assert not missing
