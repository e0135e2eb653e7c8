"""Command line: ``kallemny-sio`` / ``python -m kallemny_sio``."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import sys
from typing import NoReturn

from .config import SettingsError, load_settings
from .errors import Unavailable

log = logging.getLogger("kallemny_sio")

# How long aiohttp waits for the requests in flight at SIGTERM, applied twice:
# it waits this long for every handler to finish, then cancels the rest and
# waits this long again. An open WebSocket always costs both waits in full:
# once shutdown begins aiohttp reads nothing more from any connection
# (``pre_shutdown``), so the client's answer to the close we send it (see
# ``app._disconnect_clients``) is dropped and its handler cannot end by itself.
# With aiohttp's 5 s, a client that did not hang up kept the process alive for
# 10 s before the store even closed. 1 s each still lets an ordinary REST
# request finish; the whole exit, store closed, takes about 1-2 s.
SHUTDOWN_TIMEOUT_SECONDS = 1.0
# Request lines up to 64 KiB (aiohttp's default, 8 KiB, answers a longer URL with
# its own plain-text 400 instead of the contract's error shape).
HTTP_HANDLER_ARGS = {"max_line_size": 65536}
# The cyclic garbage collector, tuned for a long-running server. Every message
# allocates a few hundred small objects (payload, records, views, packets,
# futures), so with CPython's default (a young collection every 700
# allocations) collections ran several times per message and the older ones
# walked every object the process had made at start-up (modules, classes,
# schemas): about 3 µs of the event loop per message in workload (b). Objects
# alive once the app has started are moved out of the collector's sight
# (``gc.freeze``), and young collections run every 10,000 allocations.
GC_THRESHOLDS = (10_000, 10, 10)


async def _tune_gc(app: object) -> None:
    """Freeze what start-up made and collect less often (the app's last start-up step)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kallemny-sio", description="Kallemny chat server (REST + Socket.IO).")
    p.add_argument("--host", help="interface to bind (env HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP + Socket.IO port (env PORT, default 8000)")
    p.add_argument("--database-url", help="sqlite:///PATH or mongodb://… (env DATABASE_URL)")
    p.add_argument("--redis-url", help="redis://… to run several nodes as one (env REDIS_URL)")
    return p


def _fail(message: str) -> NoReturn:
    print(f"kallemny-sio: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> None:
    """Parse flags, validate settings, serve until SIGTERM/SIGINT."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        settings = load_settings(host=args.host, port=args.port, database_url=args.database_url, redis_url=args.redis_url)
    except SettingsError as exc:
        _fail(str(exc))

    from aiohttp import web

    from .app import create_app

    _install_uvloop()
    try:
        app = create_app(settings)
        app.on_startup.append(_tune_gc)  # after the stores and links have opened
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            backlog=settings.listen_backlog,
            shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
            print=lambda text: log.info("listening on http://%s:%s", settings.host, settings.port),
            access_log=None,
            **HTTP_HANDLER_ARGS,
        )
    except Unavailable as exc:
        _fail(f"DATABASE_URL: {exc.message}" if not exc.message.startswith(("DATABASE_URL", "REDIS_URL")) else exc.message)
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            _fail(f"HOST: cannot listen on {settings.host}:{settings.port} (no such local address)")
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            _fail(f"PORT: cannot listen on {settings.host}:{settings.port} ({exc.strerror or 'in use'})")
        _fail(f"start-up failed: {exc.strerror or exc.__class__.__name__}")


if __name__ == "__main__":
    main()
