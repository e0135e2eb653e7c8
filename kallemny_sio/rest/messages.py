"""``/api/chat/rooms/{id}/messages/{messageId}``: one message, its edits, deletion and reactions; the change feed."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from aiohttp import web

from ..errors import Invalid
from ..keys import CHAT
from ..schemas import ChangesQuery, EditMessageRequest, EmojiPath, HistoryQuery, parse
from .http import caller_id, json_response, read_json


def _ids(request: web.Request) -> tuple[str, str, str]:
    """(caller, room id, message id) of a message URL."""
    return caller_id(request), request.match_info["room_id"], request.match_info["message_id"]


def _emoji(request: web.Request) -> str:
    """The ``{emoji}`` segment, percent-decoded strictly as UTF-8.

    The router leaves bytes that are not UTF-8 percent-encoded as they came
    (``%FF`` stays three characters), so the raw segment is decoded here.
    """
    raw = request.raw_path.split("?", 1)[0].rsplit("/", 1)[-1]
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("emoji: not percent-encoded UTF-8") from None
    return parse(EmojiPath, {"emoji": text}).emoji


async def history(request: web.Request) -> web.Response:
    query = parse(HistoryQuery, dict(request.query), strict=False)
    page = await request.app[CHAT].messages.history(caller_id(request), request.match_info["room_id"], query)
    return json_response(page)


async def get_message(request: web.Request) -> web.Response:
    return json_response(await request.app[CHAT].messages.get(*_ids(request)))


async def edit_message(request: web.Request) -> web.Response:
    req = parse(EditMessageRequest, await read_json(request))
    return json_response(await request.app[CHAT].messages.edit(*_ids(request), req))


async def delete_message(request: web.Request) -> web.Response:
    return json_response(await request.app[CHAT].messages.delete(*_ids(request)))


async def add_reaction(request: web.Request) -> web.Response:
    return json_response(await request.app[CHAT].messages.react(*_ids(request), _emoji(request), adding=True))


async def remove_reaction(request: web.Request) -> web.Response:
    return json_response(await request.app[CHAT].messages.react(*_ids(request), _emoji(request), adding=False))


async def changes(request: web.Request) -> web.Response:
    query = parse(ChangesQuery, dict(request.query), strict=False)
    page = await request.app[CHAT].messages.changes(caller_id(request), request.match_info["room_id"], query)
    return json_response(page)


def setup(app: web.Application) -> None:
    one = "/api/chat/rooms/{room_id}/messages/{message_id}"
    app.router.add_get("/api/chat/rooms/{room_id}/messages", history)
    app.router.add_get(one, get_message)
    app.router.add_patch(one, edit_message)
    app.router.add_delete(one, delete_message)
    app.router.add_put(one + "/reactions/{emoji}", add_reaction)
    app.router.add_delete(one + "/reactions/{emoji}", remove_reaction)
    app.router.add_get("/api/chat/rooms/{room_id}/changes", changes)
