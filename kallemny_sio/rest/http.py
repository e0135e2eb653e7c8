"""HTTP plumbing shared by the routes: JSON in and out, errors, the bearer guard, CORS."""

from __future__ import annotations

import hmac
import logging
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from ..auth.tokens import bearer_token
from ..core.addresses import client_address, via_trusted_https
from ..errors import (ChatError, Internal, Invalid, MethodNotAllowed, NotFound, RateLimited, TooLarge, Unauthorized,
                      UnsupportedMediaType)
from ..keys import ACCOUNTS, GUARD, SETTINGS
from ..transport.banner import SERVER_NAME

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CALLER_ID = web.RequestKey("caller_id", str)
GUARDED_PREFIX = "/api/chat/"
GUARDED_PATHS = frozenset({"/api/auth/me", "/api/auth/logout", "/api/auth/password"})  # own accounts
SERVER_PREFIX = "/api/server/"
CALLER = web.RequestKey("caller", object)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(error: ChatError) -> web.Response:
    """Contract section 2: ``{"error": {"code", "message"[, "details"]}}``."""
    response = json_response({"error": error.body()}, status=error.status)
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="kallemny"'
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


def request_address(request: web.Request) -> str:
    """The client's address: the peer, or the first untrusted hop of ``X-Forwarded-For`` (``TRUSTED_PROXIES``)."""
    return client_address(request.remote, request.headers.get("X-Forwarded-For"),
                          request.app[SETTINGS].trusted_proxies)


async def read_json(request: web.Request) -> Any:
    """The request's JSON body.

    Raises:
        UnsupportedMediaType: the body is not declared as JSON.
        Invalid: the body is not valid JSON.
    """
    if request.content_type != "application/json":
        raise UnsupportedMediaType("body: Content-Type must be application/json")
    try:
        raw = await request.read()
    except (HttpProcessingError, RequestPayloadError):  # e.g. a body that is not what its Content-Encoding says
        # What is left of the body cannot be read either: end it here, or aiohttp's
        # lingering read after the response would log the same error as unhandled.
        request.content.feed_eof()
        raise Invalid("body: cannot be decoded as its Content-Encoding says") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("body: malformed JSON (or text that is not UTF-8, such as a lone surrogate)") from None


def caller_id(request: web.Request) -> str:
    """The authenticated user's id, set by :func:`guard_middleware`."""
    return request[CALLER_ID]


_HTTP_ERRORS: dict[int, Callable[[str], ChatError]] = {
    404: lambda path: NotFound(f"no route for {path}"),
    405: lambda path: MethodNotAllowed(f"method not allowed on {path}"),
    413: lambda path: TooLarge("body: request body is larger than allowed"),
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a contract-shaped JSON error; nothing leaks a traceback."""
    try:
        return await handler(request)
    except ChatError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        make = _HTTP_ERRORS.get(exc.status)
        if make is None:
            raise
        response = error_response(make(request.path))
        if "Allow" in exc.headers:  # a 405 must say which methods the route takes
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(Internal("internal server error"))


@web.middleware
async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a declared oversize body before reading any of it."""
    limit = request.app[SETTINGS].max_body_bytes
    if request.path.startswith("/api/") and request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"body: larger than {limit} bytes")
    return await handler(request)


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every ``/api/chat/*`` request needs a valid bearer token; every ``/api/`` request counts.

    ``REST_REQUESTS_PER_10S`` counts per token's user, and per client address
    for requests without a valid token (a 401 counts against the address).
    """
    if request.method == "OPTIONS" or not request.path.startswith("/api/"):
        return await handler(request)
    guard = request.app[GUARD]
    if request.path.startswith(SERVER_PREFIX):
        await guard.rest_request(f"addr:{request_address(request)}")
        check_api_key(request)
    elif request.path.startswith(GUARDED_PREFIX) or request.path in GUARDED_PATHS:
        try:
            caller = await request.app[ACCOUNTS].authenticate(bearer_token(request.headers.get("Authorization")))
        except Unauthorized:
            await guard.rest_request(f"addr:{request_address(request)}")
            raise
        await guard.rest_request(f"user:{caller.user_id}")
        request[CALLER_ID] = caller.user_id
        request[CALLER] = caller
    else:
        await guard.rest_request(f"addr:{request_address(request)}")
    return await handler(request)


def check_api_key(request: web.Request) -> None:
    """The server API is for the host application's backend: ``Authorization: Bearer <KALLEMNY_API_KEY>``.

    Raises:
        NotFound: no ``KALLEMNY_API_KEY`` is set (the server API does not exist).
        Unauthorized: a missing or wrong key (compared in constant time).
    """
    key = getattr(request.app[SETTINGS], "api_key", None)
    if not key:
        raise NotFound(f"no route for {request.path}")
    given = bearer_token(request.headers.get("Authorization")) or ""
    if not hmac.compare_digest(given.encode(), key.encode()):
        raise Unauthorized("missing or wrong server API key")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """No library versions in ``Server``; ``Strict-Transport-Security`` in production over HTTPS."""
    response.headers["Server"] = SERVER_NAME
    settings = request.app[SETTINGS]
    if settings.production and via_trusted_https(request.remote, request.scheme,
                                                 request.headers.get("X-Forwarded-Proto"), settings.trusted_proxies):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS for the REST API (engineio answers for ``/socket.io/`` itself, from the same setting)."""
    origins = request.app[SETTINGS].cors_origins
    origin = request.headers.get("Origin")
    allowed = origin is not None and request.path.startswith("/api/") and (origins == "*" or origin in origins)
    if request.method == "OPTIONS" and allowed and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        response = await handler(request)
    if allowed:
        response.headers["Access-Control-Allow-Origin"] = "*" if origins == "*" else origin  # type: ignore[assignment]
        response.headers["Access-Control-Expose-Headers"] = "Retry-After, X-Next-Cursor, Link"
        response.headers["Vary"] = "Origin"
    return response


def _rest_only(middleware: Any) -> Any:
    """``middleware`` for the REST API only; ``/socket.io/`` goes straight to engineio.

    A plain function returning the next coroutine adds no frame of its own:
    every open WebSocket otherwise keeps the frames of all four middlewares
    (about 1 KB) alive for as long as it lasts. engineio answers its own errors.
    """

    @web.middleware
    def only_rest(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        if request.path.startswith("/socket.io/"):
            return handler(request)
        return middleware(request, handler)  # type: ignore[no-any-return]

    return only_rest


MIDDLEWARES = [_rest_only(m) for m in (cors_middleware, error_middleware, body_limit_middleware, guard_middleware)]
