"""Reference server: bare python-socketio + aiohttp speaking the /chat subset
that the benchmarks use. No auth, no storage.

The default is the stock stack: the standard asyncio loop, the standard json
module, aiohttp's default listen backlog (128) and python-socketio's default
in-process manager. Options change one thing each:

    python bench/bare_server.py --port 8001
    python bench/bare_server.py --port 8001 --redis-url redis://127.0.0.1:6379
    python bench/bare_server.py --port 8001 --uvloop --orjson --backlog 511
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
import uuid

import socketio
from aiohttp import web

NAMESPACE = "/chat"
AIOHTTP_DEFAULT_BACKLOG = 128


def _room_id_of(data):
    if isinstance(data, str):
        return data or None
    if isinstance(data, dict) and isinstance(data.get("roomId"), str):
        return data["roomId"] or None
    return None


def _invalid(message):
    return {"ok": False, "error": {"code": "invalid", "message": message}}


def _version(dist):
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - only used in a banner
        return "?"


def _now_iso():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class _OrjsonModule:
    """The json-module shape python-socketio expects, backed by orjson."""

    def __init__(self):
        import orjson

        self._orjson = orjson

    def dumps(self, obj, **_kwargs):
        return self._orjson.dumps(obj).decode()

    def loads(self, data, **_kwargs):
        return self._orjson.loads(data)


def build_app(args) -> web.Application:
    kwargs = {}
    if args.orjson:
        kwargs["json"] = _OrjsonModule()
    if args.redis_url:
        kwargs["client_manager"] = socketio.AsyncRedisManager(args.redis_url)
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*", **kwargs)
    app = web.Application()
    sio.attach(app)

    async def healthz(_request):
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", healthz)

    @sio.on("connect", namespace=NAMESPACE)
    async def connect(sid, environ, auth=None):
        return True

    @sio.on("JoinChatRoom", namespace=NAMESPACE)
    async def join_chat_room(sid, data=None):
        room_id = _room_id_of(data)
        if room_id is None:
            return _invalid("roomId is required")
        await sio.enter_room(sid, room_id, namespace=NAMESPACE)
        return {"ok": True}

    @sio.on("SendMessage", namespace=NAMESPACE)
    async def send_message(sid, data=None):
        if not isinstance(data, dict):
            return _invalid("payload must be an object")
        room_id = data.get("roomId")
        content = data.get("content")
        if not isinstance(room_id, str) or not room_id:
            return _invalid("roomId is required")
        if not isinstance(content, str) or not content.strip():
            return _invalid("content is required")
        client_message_id = data.get("clientMessageId")
        message = {
            "id": uuid.uuid4().hex,
            "roomId": room_id,
            "senderId": sid,
            "senderUsername": "bench",
            "content": content,
            "createdAt": _now_iso(),
            "clientMessageId": client_message_id if isinstance(client_message_id, str) else None,
        }
        await sio.emit("ReceiveMessage", message, room=room_id, namespace=NAMESPACE)
        return {"ok": True, "message": message}

    return app


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--redis-url", default=None, help="share rooms through socketio.AsyncRedisManager")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (not the reference default)")
    parser.add_argument("--orjson", action="store_true", help="use orjson as the JSON module (not the reference default)")
    parser.add_argument(
        "--backlog",
        type=int,
        default=None,
        help=f"listen backlog (default: aiohttp's own default, {AIOHTTP_DEFAULT_BACKLOG})",
    )
    args = parser.parse_args(argv)

    if args.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    app = build_app(args)
    run_kwargs = {"host": args.host, "port": args.port, "print": None}
    if args.backlog is not None:
        run_kwargs["backlog"] = args.backlog
    backlog = args.backlog if args.backlog is not None else f"aiohttp default {AIOHTTP_DEFAULT_BACKLOG} (stock)"
    variant = ", ".join(
        name for name, on in (("uvloop", args.uvloop), ("orjson", args.orjson), ("redis manager", args.redis_url)) if on
    ) or "plain"
    print(
        f"bare python-socketio {_version('python-socketio')} + aiohttp {_version('aiohttp')} reference ({variant}) "
        f"listening on http://{args.host}:{args.port} (listen backlog: {backlog})",
        flush=True,
    )
    try:
        web.run_app(app, **run_kwargs)
    except OSError as exc:
        print(f"bare reference server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
