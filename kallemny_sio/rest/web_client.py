"""The browser client: ``GET /`` (its page) and ``GET /web/{path}`` (its static files).

The files live in ``kallemny_sio/web/`` and are installed with the package
(``[options.package_data]`` in setup.cfg): plain ES modules, a stylesheet and
the official socket.io-client bundle, nothing built at install or start and
nothing fetched from elsewhere at run time.

Only regular files under ``web/`` are served: a path with an empty, ``.``,
``..`` or hidden segment, or one that resolves (through a link) outside the
folder, is 404 like any unknown file, and a folder is never listed. Every
answer carries a strict Content-Security-Policy (scripts, styles and
connections from this origin only), ``nosniff``, and ``Cache-Control:
no-cache``: the files have no versioned names, so a browser revalidates them
(a cheap 304 through ``ETag``/``Last-Modified``) and never mixes the modules of
two releases.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from ..errors import NotFound

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
INDEX = "index.html"

# Explicit types: the platform's mimetypes tables differ (some map .js to application/x-javascript).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # README
}
# A Host header is echoed into connect-src only when it is a plain host[:port] (no spaces, quotes or ';').
_PLAIN_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def content_security_policy(host: str | None) -> str:
    """The page's policy: everything from this origin only, the Socket.IO WebSocket included.

    ``connect-src 'self'`` covers ws:/wss: of the same host in current
    browsers; the explicit ``ws://host wss://host`` is for the older ones.
    """
    connect = "'self'"
    if host and _PLAIN_HOST.match(host):
        connect += f" ws://{host} wss://{host}"
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        f"connect-src {connect}",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def web_file(relative: str, root: Path = WEB_ROOT) -> Path | None:
    """The regular file ``relative`` names under ``root``, or None (escaping paths included).

    ``relative`` is the percent-decoded path after ``/web/``, so ``%2e%2e`` and
    ``%2f`` arrive here as ``..`` and ``/`` and are refused like the plain forms.
    """
    if not relative or "\\" in relative or "\x00" in relative:
        return None
    if any(part in ("", ".", "..") or part.startswith(".") for part in relative.split("/")):
        return None
    try:
        path = (root / relative).resolve()
    except (OSError, ValueError):
        return None
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        return None
    return path


def _file_response(request: web.Request, path: Path) -> web.FileResponse:
    return web.FileResponse(path, headers={
        "Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        "Content-Security-Policy": content_security_policy(request.host),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    })


async def index(request: web.Request) -> web.FileResponse:
    """``GET /``: the chat page."""
    return _file_response(request, WEB_ROOT / INDEX)


async def static_file(request: web.Request) -> web.FileResponse:
    """``GET /web/{path}``: one file of the client; anything else is 404."""
    path = web_file(request.match_info["path"])
    if path is None:
        raise NotFound(f"no route for {request.path}")
    return _file_response(request, path)


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/web/{path:.*}", static_file)
