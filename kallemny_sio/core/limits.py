"""Limits (contract section 9): who may do how much, checked before any storage work.

Two kinds of counter, both behind :class:`Limiter` so that one node keeps
them in memory and several nodes share them through Redis:

- a **rate** (:meth:`Limiter.take`): ``count`` at once, then one more every
  ``window / count`` (the generic cell rate algorithm: one number per key,
  the time the next unit is free);
- a **failure lock** (:meth:`Limiter.fail`): a run of failures (each within
  ``window`` of the previous one) locks the key once it reaches ``count``,
  for 30 s, then each further failure doubles the wait, up to ``max_wait``.

:class:`Guard` holds the rules that use them, once, for REST and Socket.IO
alike; :class:`EventBucket` is the per-connection event rate, which needs no
sharing (a connection lives on one node) and costs a few arithmetic
operations per event.
"""

from __future__ import annotations

import logging
from time import monotonic as _monotonic
from typing import Callable, Protocol

from ..config import Limits, Rate
from ..errors import RateLimited
from .clock import now_ms

log = logging.getLogger(__name__)

FIRST_LOCKOUT_MS = 30_000
MAX_LOCKOUT_MS = 15 * 60_000
ABUSE_FACTOR = 10  # a connection sending at this multiple of its rate ...
ABUSE_SECONDS = 10.0  # ... for this long is disconnected


class Limiter(Protocol):
    """Counters shared by every node (or kept in memory on one)."""

    async def take(self, key: str, rate: Rate, now: int) -> int:
        """Count one unit of ``key``: 0 when allowed, else the ms until it would be (nothing counted)."""

    async def check(self, key: str, rate: Rate, now: int) -> int:
        """As :meth:`take`, without counting."""

    async def fail(self, key: str, rate: Rate, now: int) -> int:
        """Record a failure of ``key``; the lock it now has (ms from ``now``), 0 for none."""

    async def locked(self, key: str, now: int) -> int:
        """The ms left of ``key``'s failure lock, 0 for none."""

    async def clear(self, key: str) -> None:
        """Forget ``key``'s failures."""


def gcra(tat: int, rate: Rate, now: int) -> tuple[int, int]:
    """One step of the generic cell rate algorithm: ``(new tat, wait ms)``; wait 0 means allowed."""
    interval = rate.interval_ms
    tat = max(tat, now)
    allowed_at = tat + interval - rate.window_ms
    if allowed_at > now:
        return tat, allowed_at - now
    return tat + interval, 0


def lockout_ms(excess: int) -> int:
    """The wait after the ``excess``-th failure at or past the limit: 30 s, doubling, at most 15 min."""
    return min(FIRST_LOCKOUT_MS * (2 ** min(excess - 1, 16)), MAX_LOCKOUT_MS)


class MemoryLimiter:
    """:class:`Limiter` for one node; entries expire, so memory stays bounded by activity."""

    def __init__(self) -> None:
        self._tats: dict[str, tuple[int, int]] = {}  # key -> (tat, expires)
        self._failures: dict[str, tuple[int, int, int, int]] = {}  # key -> (count, last, locked_until, expires)
        self._ops = 0

    def _prune(self, now: int) -> None:
        self._ops += 1
        if self._ops % 4096:
            return
        self._tats = {k: v for k, v in self._tats.items() if v[1] > now}
        self._failures = {k: v for k, v in self._failures.items() if v[3] > now}

    def take_now(self, key: str, rate: Rate, now: int) -> int:
        """:meth:`take` without a coroutine (every message is counted: :func:`gcra` inlined)."""
        self._prune(now)
        entry = self._tats.get(key)
        tat = entry[0] if entry is not None and entry[0] > now else now
        interval = rate.interval_ms
        allowed_at = tat + interval - rate.window_ms
        if allowed_at > now:
            return allowed_at - now
        tat += interval
        self._tats[key] = (tat, tat + rate.window_ms)
        return 0

    async def take(self, key: str, rate: Rate, now: int) -> int:
        return self.take_now(key, rate, now)

    async def check(self, key: str, rate: Rate, now: int) -> int:
        entry = self._tats.get(key)
        return gcra(entry[0] if entry else 0, rate, now)[1]

    async def fail(self, key: str, rate: Rate, now: int) -> int:
        self._prune(now)
        count, last, _, _ = self._failures.get(key, (0, 0, 0, 0))
        if now - last > rate.window_ms:
            count = 0
        count += 1
        wait = lockout_ms(count - rate.count + 1) if count >= rate.count else 0
        self._failures[key] = (count, now, now + wait, now + rate.window_ms + wait)
        return wait

    async def locked(self, key: str, now: int) -> int:
        entry = self._failures.get(key)
        return max(0, entry[2] - now) if entry else 0

    async def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class EventBucket:
    """One connection's event rate: ``per_second`` with bursts of ``burst``, in memory.

    Also tells sustained abuse: a connection whose events keep arriving at
    :data:`ABUSE_FACTOR` times its rate for :data:`ABUSE_SECONDS` is to be
    disconnected.
    """

    __slots__ = ("_rate", "_burst", "_tokens", "_at", "_second", "_in_second", "_abusive_since")

    def __init__(self, per_second: float, burst: int) -> None:
        self._rate, self._burst = per_second, float(burst)
        self._tokens, self._at = float(burst), _monotonic()
        self._second, self._in_second = int(self._at), 0
        self._abusive_since: float | None = None

    def take(self) -> int:
        """0 when the event may go on, else the ms until one may (runs for every event: kept flat)."""
        now = _monotonic()
        if int(now) == self._second:
            self._in_second += 1
        else:
            self._next_second(int(now))
        tokens = self._tokens + (now - self._at) * self._rate
        if tokens > self._burst:
            tokens = self._burst
        self._at = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0
        self._tokens = tokens
        return max(1, int((1.0 - tokens) / self._rate * 1000) + 1)

    def _next_second(self, second: int) -> None:
        """The first event of a new second: judge the last one's count for abuse."""
        if self._in_second < ABUSE_FACTOR * self._rate or second - self._second > 1:
            self._abusive_since = None
        elif self._abusive_since is None:
            self._abusive_since = float(self._second)
        self._second, self._in_second = second, 1

    @property
    def abusive(self) -> bool:
        """Whether the connection has been sending at ten times its rate for ten seconds."""
        since = self._abusive_since
        return since is not None and self._second - since >= ABUSE_SECONDS


def _refuse(what: str, wait_ms: int) -> RateLimited:
    return RateLimited(f"{what}; retry in {max(1, -(-wait_ms // 1000))} s", retry_after_ms=wait_ms)


class Guard:
    """The limits of contract section 9, applied before any storage work."""

    def __init__(self, limits: Limits, limiter: Limiter, on_refused: Callable[[str], None] | None = None) -> None:
        """Args:
            limits: the rules.
            limiter: their counters.
            on_refused: told the name of each rule that refuses something (for metrics).
        """
        self.limits = limits
        self._limiter = limiter
        # In memory (one node), a rate is counted without awaiting anything.
        self._memory = limiter if isinstance(limiter, MemoryLimiter) else None
        self._on_refused = on_refused or (lambda limit: None)

    def _refused(self, limit: str, what: str, wait_ms: int) -> RateLimited:
        self._on_refused(limit)
        return _refuse(what, wait_ms)

    @property
    def enabled(self) -> bool:
        return self.limits.enabled

    # -- accounts ------------------------------------------------------------

    async def before_login(self, address: str, username: str) -> None:
        """Refuse a login from a locked address or for a locked username (known or not alike).

        Raises:
            RateLimited: the same answer whether the username exists and whether the password is right.
        """
        if not self.enabled:
            return
        now = now_ms()
        wait = max(await self._limiter.check(f"login-addr:{address}", self.limits.login_failures_per_address, now),
                   await self._limiter.locked(f"login-user:{username.lower()}", now))
        if wait:
            raise self._refused("login_failures", "too many failed logins", wait)

    async def login_failed(self, address: str, username: str) -> None:
        """Count a failed login against the address and the username."""
        if not self.enabled:
            return
        now = now_ms()
        await self._limiter.take(f"login-addr:{address}", self.limits.login_failures_per_address, now)
        await self._limiter.fail(f"login-user:{username.lower()}", self.limits.login_failures_per_username, now)

    async def login_succeeded(self, username: str) -> None:
        """A right password ends the username's run of failures."""
        if self.enabled:
            await self._limiter.clear(f"login-user:{username.lower()}")

    async def before_register(self, address: str) -> None:
        """Count a registration attempt from ``address``.

        Raises:
            RateLimited: over ``REGISTRATIONS_PER_ADDRESS``.
        """
        await self._take("registrations_per_address", f"register:{address}", self.limits.registrations_per_address,
                         "too many registrations")

    # -- chat ----------------------------------------------------------------

    async def before_send(self, user_id: str) -> None:
        """Count a message of ``user_id`` (all connections, all nodes).

        Raises:
            RateLimited: over ``MESSAGES_PER_USER``.
        """
        await self._take("messages_per_user", f"send:{user_id}", self.limits.messages_per_user, "too many messages")

    async def before_room_creation(self, user_id: str) -> None:
        """Refuse a new room when ``user_id`` has created too many lately (nothing counted yet).

        Raises:
            RateLimited: over ``ROOM_CREATIONS_PER_USER``.
        """
        if self.enabled:
            wait = await self._limiter.check(f"rooms:{user_id}", self.limits.room_creations_per_user, now_ms())
            if wait:
                raise self._refused("room_creations_per_user", "too many rooms created", wait)

    async def room_created(self, user_id: str) -> None:
        """Count a room ``user_id`` created."""
        if self.enabled:
            await self._limiter.take(f"rooms:{user_id}", self.limits.room_creations_per_user, now_ms())

    async def rest_request(self, key: str) -> None:
        """Count one REST request of a token's user or of an address.

        Raises:
            RateLimited: over ``REST_REQUESTS_PER_10S``.
        """
        await self._take("rest_requests", f"rest:{key}", self.limits.rest_requests, "too many requests")

    def too_many_connections(self, open_connections: int) -> bool:
        """Whether a user with ``open_connections`` open may not open another (a refusal when true)."""
        refused = self.enabled and open_connections >= self.limits.connections_per_user
        if refused:
            self._on_refused("connections_per_user")
        return refused

    def event_bucket(self) -> EventBucket | None:
        """A new connection's event rate (None: unlimited)."""
        if not self.enabled:
            return None
        return EventBucket(self.limits.events_per_second, self.limits.event_burst)

    async def _take(self, limit: str, key: str, rate: Rate, what: str) -> None:
        if self.limits.enabled:
            memory = self._memory
            wait = memory.take_now(key, rate, now_ms()) if memory is not None else \
                await self._limiter.take(key, rate, now_ms())
            if wait:
                raise self._refused(limit, what, wait)
