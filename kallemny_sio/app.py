"""``create_app(settings)``: the one place where everything is built and wired."""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

import socketio
from aiohttp import web

from .auth.passwords import Passwords
from .auth.tokens import Tokens
from .cluster import Backplane, create_backplane
from .config import Settings
from .core.accounts import Accounts
from .core.chat import ChatService
from .core.limits import Guard
from .core.revocations import Revocations
from .handlers.chat_namespace import ChatNamespace
from .handlers.delivery import NAMESPACE, SocketIODelivery
from .keys import ACCOUNTS, BACKPLANE, CHAT, GUARD, METRICS, SETTINGS, SIO, STORE
from .metrics import Metrics, create_metrics
from .rest import setup_routes
from .rest.http import MIDDLEWARES, security_headers
from .storage import create_store
from .storage.base import Store
from .transport import create_sio
from .transport.banner import hide_library_banner

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def create_app(settings: Settings) -> web.Application:
    """Build the aiohttp application with the Socket.IO server attached.

    Resources open in the application's ``cleanup_ctx`` in the order listed
    (store, password hashing, backplane, chat) and close in reverse, each only
    if it opened, so tests can build as many independent apps as they like and
    SIGTERM closes everything.
    """
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_body_bytes)
    metrics = create_metrics(settings)
    store = metrics.instrument_store(create_store(settings))
    passwords = Passwords(on_refused=metrics.rate_limited)
    backplane = create_backplane(settings, NAMESPACE)
    guard = Guard(settings.limits, backplane.limiter, on_refused=metrics.rate_limited)
    sio = create_sio(settings, backplane.manager, NAMESPACE)
    sio.attach(app, socketio_path="socket.io")
    revocations = Revocations(store, backplane.control)
    trusted = _trusted_issuer(settings)
    accounts = Accounts(store, passwords, Tokens(settings.jwt_secret, settings.jwt_issuer, settings.jwt_expires_minutes),
                        backplane.presence, guard, revocations, trusted)
    # The room-members cache is exact only while every membership change passes through this process.
    chat = ChatService(store, SocketIODelivery(sio, metrics), backplane.presence, guard, settings.typing_ttl_seconds,
                       cache_membership=backplane.single_node)
    accounts.on_user_changes(chat.user_updated, chat.end_memberships)
    namespace = ChatNamespace(accounts, chat, guard, revocations, metrics)
    sio.register_namespace(namespace)
    _watch(metrics, namespace, passwords, backplane)
    app[SETTINGS], app[STORE], app[ACCOUNTS], app[CHAT], app[SIO], app[BACKPLANE], app[GUARD], app[METRICS] = (
        settings, store, accounts, chat, sio, backplane, guard, metrics)
    setup_routes(app)
    app.on_response_prepare.append(security_headers)
    hide_library_banner()  # and on the answers aiohttp writes before any route
    app.cleanup_ctx.extend([
        _store_ctx(store),
        _passwords_ctx(passwords),
        _backplane_ctx(backplane, sio),
        _chat_ctx(chat),
        _revocations_ctx(revocations, trusted),
    ])
    app.on_shutdown.append(_disconnect_clients(sio))
    return app


def _watch(metrics: Metrics, namespace: ChatNamespace, passwords: Passwords, backplane: Backplane) -> None:
    """What metrics read at scrape time, and the backplane's publishes (only timed when metrics are on)."""
    if not metrics.enabled:
        return
    metrics.watch(connections=namespace.connection_count, hashing_queue=passwords.in_progress,
                  backplane_state=lambda: backplane.state)
    backplane.observe_publishes(metrics.backplane_published)


def _store_ctx(store: Store) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()
    return ctx


def _passwords_ctx(passwords: Passwords) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        passwords.close()
    return ctx


def _backplane_ctx(backplane: Backplane, sio: socketio.AsyncServer) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await backplane.start(sio)
        yield
        await backplane.stop()
    return ctx


def _chat_ctx(chat: ChatService) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await chat.start()
        yield
        await chat.stop()
    return ctx


def _revocations_ctx(revocations: Revocations, trusted: Any) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await revocations.start()
        yield
        if trusted is not None:
            await trusted.close()
    return ctx


def _trusted_issuer(settings: Settings) -> Any:
    """The host application's token verifier (``TRUSTED_JWT_ISSUER``), or None."""
    issuer = getattr(settings, "trusted_jwt_issuer", None)
    if not issuer:
        return None
    from .auth.trusted import TrustedIssuer

    return TrustedIssuer(issuer, secret=settings.trusted_jwt_secret, jwks_url=settings.trusted_jwks_url,
                         audience=settings.trusted_jwt_audience)


def _disconnect_clients(sio: socketio.AsyncServer) -> Callable[[web.Application], object]:
    async def disconnect(app: web.Application) -> None:
        # Close every connection while the store is still open: the disconnect
        # handlers record presence (last seen), and each client gets a CLOSE
        # packet. A long-polling GET returns with it at once. A WebSocket cannot
        # end here: aiohttp already stops reading every connection before
        # on_shutdown runs, so the client's answer is never seen; aiohttp cancels
        # its handler after ``shutdown_timeout`` (kept short in ``__main__``).
        # wait=False, for the same reason and for a polling client that stopped
        # polling: nothing would ever drain the close packet, and
        # ``eio.disconnect()`` would wait for it forever.
        for socket in list(sio.eio.sockets.values()):
            await socket.close(wait=False, reason=sio.eio.reason.SERVER_DISCONNECT)
        await sio.shutdown()
    return disconnect
