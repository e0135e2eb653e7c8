"""MongoDB through the driver: client options, write concern, and driver errors as domain errors.

Everything here knows pymongo; nothing here knows the domain beyond the
errors it raises. No driver type or driver text leaves this module and
``store.py``: a driver error becomes :class:`~kallemny_sio.errors.Unavailable`
when the database cannot be reached, :class:`~kallemny_sio.errors.Internal`
otherwise, and start-up errors are one line naming ``DATABASE_URL``.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Awaitable, Callable, Mapping, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pymongo import AsyncMongoClient
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    InvalidName,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)
from pymongo.write_concern import WriteConcern

from ...errors import Internal, Unavailable

log = logging.getLogger(__name__)

Doc = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")

#: Client options we set unless the URL sets them (MongoDB users expect the URL to win).
CLIENT_DEFAULTS: Mapping[str, Any] = {
    # An unreachable server fails ``open()`` (and each operation) in about 5 s, not 30 s.
    "serverSelectionTimeoutMS": 5000,
    "connectTimeoutMS": 5000,
    # A server that accepts the connection but stops answering fails the operation
    # instead of hanging a request forever.
    "socketTimeoutMS": 20000,
    "retryWrites": True,
    "retryReads": True,
    "appname": "kallemny",
}

BAD_URL = "DATABASE_URL: not a usable MongoDB URL (or its mongodb+srv DNS records cannot be resolved)"

#: Server error codes that mean "cannot reach a usable primary right now".
UNREACHABLE_CODES = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        50,  # MaxTimeMSExpired
        64,  # WriteConcernFailed
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)
AUTH_CODES = frozenset({13, 18})  # Unauthorized, AuthenticationFailed

# -- driver errors → domain errors ------------------------------------------


def is_unreachable(exc: PyMongoError) -> bool:
    """Whether ``exc`` means the database cannot be reached (as opposed to a bug)."""
    if isinstance(exc, (ConnectionFailure, WriteConcernError, InvalidOperation)) or exc.timeout:
        return True
    if exc.has_error_label("RetryableWriteError") or exc.has_error_label("TransientTransactionError"):
        return True
    return isinstance(exc, OperationFailure) and exc.code in UNREACHABLE_CODES


def domain_error(exc: PyMongoError) -> Unavailable | Internal:
    """The domain error for a driver error; the driver's text goes to the log only."""
    if is_unreachable(exc):
        log.warning("MongoDB unavailable: %s: %s", type(exc).__name__, exc)
        return Unavailable("database unavailable")
    log.error("MongoDB error: %s: %s", type(exc).__name__, exc)
    return Internal("database error")


def guarded(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn every driver error escaping ``method`` into a domain error."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except PyMongoError as exc:
            raise domain_error(exc) from None

    return wrapper


# -- client set-up ------------------------------------------------------------


def client_options(url: str) -> dict[str, Any]:
    """Our defaults for every option the URL does not set itself."""
    given = {key.lower() for key, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    return {key: value for key, value in CLIENT_DEFAULTS.items() if key.lower() not in given}


def new_client(url: str) -> AsyncMongoClient[Doc]:
    """A client for ``url`` with our defaults for what the URL leaves unset; it connects on first use.

    Raises:
        Unavailable: the URL cannot be used.
    """
    try:
        return AsyncMongoClient(url, **client_options(url))
    except (ConfigurationError, ValueError, TypeError):
        raise Unavailable(BAD_URL) from None


def write_concern(client: AsyncMongoClient[Doc]) -> WriteConcern:
    """Majority by default, so an acknowledged write survives a failover; ``w=`` in the URL wins.

    Raises:
        Unavailable: the URL asks for unacknowledged writes (``w=0``), which would
            silently break "acknowledged means stored" and idempotent sends.
    """
    configured = client.write_concern
    if "w" in configured.document:
        if not configured.acknowledged:
            raise Unavailable("DATABASE_URL: w=0 (unacknowledged writes) is not supported")
        return configured
    options = configured.document
    return WriteConcern(w="majority", wtimeout=options.get("wtimeout"), j=options.get("j"), fsync=options.get("fsync"))


def open_error(exc: BaseException) -> BaseException:
    """The error :meth:`kallemny_sio.storage.mongo.store.MongoStore.open` raises for ``exc``: one line naming DATABASE_URL."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, InvalidName):
        return Unavailable("DATABASE_URL: the database name in the URL is not valid")
    if isinstance(exc, OperationFailure) and exc.code in AUTH_CODES:
        return Unavailable("DATABASE_URL: MongoDB refused the credentials or their permissions")
    if isinstance(exc, ConfigurationError):
        return Unavailable(BAD_URL)
    if isinstance(exc, PyMongoError):
        if not is_unreachable(exc):
            log.error("MongoDB could not be prepared: %s: %s", type(exc).__name__, exc)
            return Unavailable("DATABASE_URL: MongoDB answered, but the database could not be prepared")
        log.debug("MongoDB unreachable at start-up: %s: %s", type(exc).__name__, exc)
        return Unavailable("DATABASE_URL: cannot reach MongoDB")
    return exc
