"""Settings: read once from the environment and the command line, validated once.

Nothing else in the package reads ``os.environ``; everything receives a
:class:`Settings` through :func:`kallemny_sio.app.create_app`.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import logging
import os
import secrets
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 32
MIN_METRICS_TOKEN_BYTES = 16


class SettingsError(Exception):
    """A setting is invalid; the message names the setting and is shown as is."""


@dataclasses.dataclass(frozen=True)
class Rate:
    """``count`` per ``window_seconds`` (a burst of ``count`` at once, then one every ``window/count``)."""

    count: int
    window_seconds: float

    @functools.cached_property
    def window_ms(self) -> int:
        return int(self.window_seconds * 1000)

    @functools.cached_property
    def interval_ms(self) -> int:
        """The time one unit takes to come back: ``window / count`` (at least 1 ms)."""
        return max(1, self.window_ms // max(1, self.count))

    def __str__(self) -> str:
        return f"{self.count}/{self.window_seconds:g}s"


@dataclasses.dataclass(frozen=True)
class Limits:
    """Contract section 9. ``enabled=False`` (``RATE_LIMITS=0``) turns every one of them off."""

    enabled: bool = True
    login_failures_per_username: Rate = Rate(5, 15 * 60)
    login_failures_per_address: Rate = Rate(30, 15 * 60)
    registrations_per_address: Rate = Rate(10, 3600)
    events_per_second: float = 20.0
    event_burst: int = 50
    messages_per_user: Rate = Rate(30, 10)
    connections_per_user: int = 20
    rest_requests: Rate = Rate(120, 10)
    room_creations_per_user: Rate = Rate(30, 3600)

    @classmethod
    def off(cls) -> "Limits":
        return cls(enabled=False)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the server needs to start; see the README's settings table."""

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite:///kallemny.db"
    redis_url: str | None = None
    redis_channel: str = "kallemny"
    jwt_secret: str = ""
    jwt_expires_minutes: int = 10080
    jwt_issuer: str = "kallemny"
    cors_origins: tuple[str, ...] | str = "*"
    production: bool = False
    typing_ttl_seconds: float = 10.0
    presence_heartbeat_seconds: float = 10.0
    presence_node_ttl_seconds: float = 30.0
    max_body_bytes: int = 64 * 1024
    max_socket_payload_bytes: int = 256 * 1024
    websocket_compression: bool = False
    websocket_fast_lane: bool = True
    sqlite_synchronous: str = "FULL"
    listen_backlog: int = 1024
    limits: Limits = Limits()
    trusted_proxies: tuple[str, ...] = ()
    unauthenticated_timeout_seconds: float = 10.0
    trusted_jwt_issuer: str | None = None
    trusted_jwt_secret: str | None = None
    trusted_jwks_url: str | None = None
    trusted_jwt_audience: str | None = None
    api_key: str | None = None
    metrics: bool = False
    metrics_token: str | None = None

    @property
    def database_kind(self) -> str:
        """``"sqlite"`` or ``"mongodb"``."""
        return "sqlite" if self.database_url.startswith("sqlite:") else "mongodb"

    @property
    def sqlite_path(self) -> Path:
        """Path of the embedded database file (only for ``sqlite:`` URLs)."""
        return sqlite_path_from_url(self.database_url)


def sqlite_path_from_url(url: str) -> Path:
    """``sqlite:///rel.db`` is relative to the working directory, ``sqlite:////abs.db`` absolute."""
    rest = url[len("sqlite:///"):]
    if not url.startswith("sqlite:///") or not rest:
        raise SettingsError(
            "DATABASE_URL: a SQLite URL looks like sqlite:///kallemny.db or sqlite:////var/data/kallemny.db"
        )
    return Path(rest)


def _int(env_name: str, raw: str, minimum: int = 1, maximum: int = 2**31) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{env_name}: expected a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{env_name}: must be between {minimum} and {maximum}, got {value}")
    return value


def _float(env_name: str, raw: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{env_name}: expected a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{env_name}: must be positive, got {value}")
    return value


def _choice(env_name: str, raw: str, allowed: tuple[str, ...]) -> str:
    value = raw.strip().upper()
    if value not in allowed:
        raise SettingsError(f"{env_name}: must be one of {', '.join(allowed)}, got {raw!r}")
    return value


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}


def _window(env_name: str, raw: str) -> float:
    text = raw.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number):] or "s"
    try:
        value = float(number) * _UNITS[unit]
    except (KeyError, ValueError):
        raise SettingsError(f"{env_name}: a window looks like 10s, 15m or 1h, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{env_name}: the window must be positive, got {raw!r}")
    return value


def _rate(env: Mapping[str, str], env_name: str, default: Rate) -> Rate:
    """``COUNT`` (the default window) or ``COUNT/WINDOW`` (``30/10s``, ``5/15m``, ``10/1h``)."""
    raw = env.get(env_name, "").strip()
    if not raw:
        return default
    count, slash, window = raw.partition("/")
    if slash and not window.strip():  # "30/": a window was meant and is missing
        raise SettingsError(f"{env_name}: a window looks like 10s, 15m or 1h after the '/', got {raw!r}")
    return Rate(_int(env_name, count.strip()), _window(env_name, window) if slash else default.window_seconds)


def _limits(env: Mapping[str, str]) -> Limits:
    d = Limits()
    return Limits(
        enabled=env.get("RATE_LIMITS", "1").strip().lower() not in ("0", "false", "no", "off"),
        login_failures_per_username=_rate(env, "LOGIN_FAILURES_PER_USERNAME", d.login_failures_per_username),
        login_failures_per_address=_rate(env, "LOGIN_FAILURES_PER_ADDRESS", d.login_failures_per_address),
        registrations_per_address=_rate(env, "REGISTRATIONS_PER_ADDRESS", d.registrations_per_address),
        events_per_second=_float("EVENTS_PER_SECOND", env.get("EVENTS_PER_SECOND", str(d.events_per_second))),
        event_burst=_int("EVENT_BURST", env.get("EVENT_BURST", str(d.event_burst))),
        messages_per_user=_rate(env, "MESSAGES_PER_USER", d.messages_per_user),
        connections_per_user=_int("CONNECTIONS_PER_USER", env.get("CONNECTIONS_PER_USER", str(d.connections_per_user))),
        rest_requests=Rate(_int("REST_REQUESTS_PER_10S", env.get("REST_REQUESTS_PER_10S", str(d.rest_requests.count))), 10),
        room_creations_per_user=_rate(env, "ROOM_CREATIONS_PER_USER", d.room_creations_per_user),
    )


def _trusted_proxies(raw: str) -> tuple[str, ...]:
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(f"TRUSTED_PROXIES: {item!r} is not an address or CIDR") from None
    return tuple(networks)


def _check_database_url(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        path = sqlite_path_from_url(url)
        directory = (path.parent if str(path.parent) else Path(".")).resolve()
        if not directory.is_dir():
            raise SettingsError(f"DATABASE_URL: directory {str(directory)!r} does not exist")
        if not os.access(directory, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise SettingsError(f"DATABASE_URL: {str(path)!r} is not writable")
        return
    if scheme in ("mongodb", "mongodb+srv"):
        return
    raise SettingsError(
        f"DATABASE_URL: unknown scheme {scheme + ':' if scheme else url!r}; "
        "use sqlite:///PATH, mongodb:// or mongodb+srv://"
    )


def _check_redis_url(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("redis", "rediss", "unix", "valkey", "valkeys", "redis+sentinel"):
        raise SettingsError(
            f"REDIS_URL: unknown scheme {scheme!r}; use redis://, rediss:// or redis+sentinel://"
        )


def _trusted_issuer(env: Mapping[str, str], given: dict[str, object], own_issuer: str) -> dict[str, str | None]:
    """``TRUSTED_JWT_*`` / ``TRUSTED_JWKS_URL`` (contract section 8): flags or tests first, then the env."""
    def read(name: str, env_name: str, strip: bool = True) -> str | None:
        raw = given.pop(name, None)
        value = str(raw) if raw is not None else env.get(env_name, "")
        value = value.strip() if strip else value
        return value or None

    trusted = dict(
        trusted_jwt_issuer=read("trusted_jwt_issuer", "TRUSTED_JWT_ISSUER"),
        trusted_jwt_secret=read("trusted_jwt_secret", "TRUSTED_JWT_SECRET", strip=False),
        trusted_jwks_url=read("trusted_jwks_url", "TRUSTED_JWKS_URL"),
        trusted_jwt_audience=read("trusted_jwt_audience", "TRUSTED_JWT_AUDIENCE"),
    )
    _check_trusted_issuer(own_issuer, **trusted)
    return trusted


def _check_trusted_issuer(own_issuer: str, trusted_jwt_issuer: str | None, trusted_jwt_secret: str | None,
                          trusted_jwks_url: str | None, trusted_jwt_audience: str | None) -> None:
    if trusted_jwt_issuer is None:
        for env_name, value in (("TRUSTED_JWT_SECRET", trusted_jwt_secret), ("TRUSTED_JWKS_URL", trusted_jwks_url),
                                ("TRUSTED_JWT_AUDIENCE", trusted_jwt_audience)):
            if value is not None:
                raise SettingsError(f"TRUSTED_JWT_ISSUER: required when {env_name} is set (the iss of the app's tokens)")
        return
    if trusted_jwt_issuer == own_issuer:
        raise SettingsError(f"TRUSTED_JWT_ISSUER: must differ from Kallemny's own issuer {own_issuer!r}")
    if (trusted_jwt_secret is None) == (trusted_jwks_url is None):
        raise SettingsError("TRUSTED_JWT_ISSUER: set exactly one of TRUSTED_JWT_SECRET (HS256) "
                            "and TRUSTED_JWKS_URL (RS256/ES256)")
    if trusted_jwt_secret is not None and len(trusted_jwt_secret.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(f"TRUSTED_JWT_SECRET: must be at least {MIN_SECRET_BYTES} bytes long")
    if trusted_jwks_url is not None:
        parts = urlsplit(trusted_jwks_url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"TRUSTED_JWKS_URL: must be an http:// or https:// URL, got {trusted_jwks_url!r}")


def _api_key(env: Mapping[str, str], given: dict[str, object]) -> str | None:
    """``KALLEMNY_API_KEY``: unset turns the server API off; set, it must be a strong bearer token."""
    raw = given.pop("api_key", None)
    key = str(raw) if raw is not None else env.get("KALLEMNY_API_KEY", "")
    if not key:
        return None
    if len(key.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(f"KALLEMNY_API_KEY: must be at least {MIN_SECRET_BYTES} bytes long")
    if not key.isascii() or not key.isprintable() or " " in key:
        raise SettingsError("KALLEMNY_API_KEY: must be printable ASCII without spaces (it is sent as a bearer token)")
    return key


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _metrics(env: Mapping[str, str], given: dict[str, object]) -> dict[str, object]:
    """``METRICS`` (``/metrics`` on or off) and ``METRICS_TOKEN`` (its optional bearer token)."""
    raw = given.pop("metrics", None)
    text = str(raw) if raw is not None else env.get("METRICS", "")
    flag = text.strip().lower()
    if flag not in _TRUE + _FALSE:
        raise SettingsError(f"METRICS: expected 1 (on) or 0 (off), got {text!r}")
    raw_token = given.pop("metrics_token", None)
    token = str(raw_token) if raw_token is not None else env.get("METRICS_TOKEN", "")
    if not token:
        return dict(metrics=flag in _TRUE, metrics_token=None)
    if flag not in _TRUE:
        raise SettingsError("METRICS_TOKEN: set while METRICS is off (set METRICS=1 to serve /metrics)")
    if len(token.encode()) < MIN_METRICS_TOKEN_BYTES:
        raise SettingsError(f"METRICS_TOKEN: must be at least {MIN_METRICS_TOKEN_BYTES} bytes long")
    if not token.isascii() or not token.isprintable() or " " in token:
        raise SettingsError("METRICS_TOKEN: must be printable ASCII without spaces (it is sent as a bearer token)")
    return dict(metrics=True, metrics_token=token)


def _secret_file(settings_db_url: str) -> Path | None:
    if not settings_db_url.startswith("sqlite:"):
        return None
    path = sqlite_path_from_url(settings_db_url)
    return path.with_name(path.name + ".jwt-secret")


def _generated_secret(database_url: str) -> str:
    """A random secret kept beside the embedded database, so tokens survive restarts."""
    path = _secret_file(database_url)
    if path is None:
        raise SettingsError("JWT_SECRET: required when the database is not the embedded SQLite store")
    try:
        if path.exists():
            secret = path.read_text().strip()
            if len(secret.encode()) >= MIN_SECRET_BYTES:
                return secret
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret)
    except OSError as exc:
        raise SettingsError(f"JWT_SECRET: unset, and the generated one could not be kept at {str(path)!r} ({exc.strerror})") from None
    log.warning("JWT_SECRET is unset: using a generated secret kept in %s (set JWT_SECRET in production)", path)
    return secret


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build and validate :class:`Settings` from ``env`` (default ``os.environ``) and flags.

    Args:
        env: the environment to read.
        **overrides: values from command-line flags (``None`` means not given) or tests.

    Raises:
        SettingsError: a setting is invalid; the message names it.
    """
    env = os.environ if env is None else env
    given = {k: v for k, v in overrides.items() if v is not None}
    production = env.get("KALLEMNY_ENV", "development").strip().lower() == "production"

    database_url = str(given.pop("database_url", None) or env.get("DATABASE_URL") or env.get("MONGODB_URI") or "sqlite:///kallemny.db")
    _check_database_url(database_url)
    redis_url = given.pop("redis_url", None) or env.get("REDIS_URL") or None
    if redis_url:
        _check_redis_url(str(redis_url))

    port = given.pop("port", None)
    port = _int("PORT", env.get("PORT", "8000"), 0, 65535) if port is None else _int("--port", str(port), 0, 65535)

    secret = str(given.pop("jwt_secret", None) or env.get("JWT_SECRET", ""))
    if secret and len(secret.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(f"JWT_SECRET: must be at least {MIN_SECRET_BYTES} bytes long")
    if not secret:
        if production or redis_url:
            why = "KALLEMNY_ENV=production" if production else "REDIS_URL is set (every node must share it)"
            raise SettingsError(f"JWT_SECRET: required because {why}")
        secret = _generated_secret(database_url)

    origins_raw = env.get("CORS_ORIGINS", "").strip()
    if origins_raw:
        origins: tuple[str, ...] | str = "*" if origins_raw == "*" else tuple(o.strip() for o in origins_raw.split(",") if o.strip())
    elif production:
        raise SettingsError("CORS_ORIGINS: required when KALLEMNY_ENV=production (comma-separated origins)")
    else:
        origins = "*"
    if production and origins == "*":
        raise SettingsError("CORS_ORIGINS: KALLEMNY_ENV=production needs an explicit list of origins, not '*'")

    values: dict[str, object] = dict(
        host=str(given.pop("host", None) or env.get("HOST", "127.0.0.1")),
        port=port,
        database_url=database_url,
        redis_url=redis_url,
        redis_channel=env.get("REDIS_CHANNEL", "kallemny") or "kallemny",
        jwt_secret=secret,
        jwt_expires_minutes=_int("JWT_EXPIRES_MINUTES", env.get("JWT_EXPIRES_MINUTES", "10080")),
        cors_origins=origins,
        production=production,
        typing_ttl_seconds=_float("TYPING_TTL_SECONDS", env.get("TYPING_TTL_SECONDS", "10")),
        presence_heartbeat_seconds=_float("PRESENCE_HEARTBEAT_SECONDS", env.get("PRESENCE_HEARTBEAT_SECONDS", "10")),
        presence_node_ttl_seconds=_float("PRESENCE_NODE_TTL_SECONDS", env.get("PRESENCE_NODE_TTL_SECONDS", "30")),
        websocket_compression=env.get("WEBSOCKET_COMPRESSION", "").lower() in ("1", "true", "yes", "on"),
        websocket_fast_lane=env.get("WEBSOCKET_FAST_LANE", "1").lower() not in ("0", "false", "no", "off"),
        sqlite_synchronous=_choice("SQLITE_SYNCHRONOUS", env.get("SQLITE_SYNCHRONOUS", "FULL"), ("FULL", "NORMAL")),
        limits=_limits(env),
        trusted_proxies=_trusted_proxies(env.get("TRUSTED_PROXIES", "")),
        **_trusted_issuer(env, given, str(given.get("jwt_issuer") or Settings.jwt_issuer)),
        api_key=_api_key(env, given),
        **_metrics(env, given),
    )
    values.update(given)
    return Settings(**values)  # type: ignore[arg-type]
