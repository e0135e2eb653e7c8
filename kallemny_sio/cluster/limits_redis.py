"""Limits shared by every node through Redis (the same algorithms as :class:`~kallemny_sio.core.limits.MemoryLimiter`).

Keys (``L`` is ``<REDIS_CHANNEL>:limits``): ``L:rate:<key>`` holds a rate's
next free time, ``L:fail:<key>`` a hash of a failure run (count, last,
locked_until). Each operation is one Lua script, so nodes cannot both take
the last unit. Every key expires when it no longer matters.

While Redis does not answer, each node counts in its own memory (logged
once): limits then hold per node, and nothing waits on Redis.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..config import Rate
from ..core.limits import FIRST_LOCKOUT_MS, MAX_LOCKOUT_MS, MemoryLimiter

log = logging.getLogger(__name__)

REDIS_FAILURES = (RedisError, OSError, asyncio.TimeoutError)

# KEYS: rate key. ARGV: now, interval, window, take (1) or check (0). Returns the wait (0: allowed).
_RATE = """
local now, interval, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowed_at = tat + interval - window
if allowed_at > now then return allowed_at - now end
if ARGV[4] == '1' then redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now + 1) end
return 0
"""

# KEYS: failure hash. ARGV: now, limit, window, first lockout, max lockout. Returns the lock (ms).
_FAIL = """
local now, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if now - last > window then count = 0 end
count = count + 1
local wait = 0
if count >= limit then
  wait = math.min(tonumber(ARGV[4]) * (2 ^ math.min(count - limit, 16)), tonumber(ARGV[5]))
end
redis.call('HSET', KEYS[1], 'count', count, 'last', now, 'until', now + wait)
redis.call('PEXPIRE', KEYS[1], window + wait + 1)
return wait
"""


class RedisLimiter:
    """:class:`~kallemny_sio.core.limits.Limiter` on Redis, with memory as the fallback."""

    def __init__(self, key_prefix: str) -> None:
        self._prefix = key_prefix
        self._redis: Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._local = MemoryLimiter()
        self._failing = False

    def use_client(self, client: Redis) -> None:
        """Talk to Redis through ``client`` (the backplane's)."""
        self._redis = client
        self._scripts = {"rate": client.register_script(_RATE), "fail": client.register_script(_FAIL)}

    async def _run(self, script: str, key: str, args: list[Any]) -> int | None:
        if self._redis is None:
            return None
        try:
            result = int(await self._scripts[script](keys=[key], args=args))
        except REDIS_FAILURES as exc:
            if not self._failing:
                log.warning("limits: Redis unreachable (%s); counting on this node only until it answers",
                            exc.__class__.__name__)
            self._failing = True
            return None
        if self._failing:
            log.info("limits: Redis answers again; limits are shared again")
            self._failing = False
        return result

    async def _rate(self, key: str, rate: Rate, now: int, take: bool) -> int:
        interval = rate.interval_ms
        found = await self._run("rate", f"{self._prefix}:rate:{key}", [now, interval, rate.window_ms, 1 if take else 0])
        if found is not None:
            return found
        return await (self._local.take(key, rate, now) if take else self._local.check(key, rate, now))

    async def take(self, key: str, rate: Rate, now: int) -> int:
        return await self._rate(key, rate, now, take=True)

    async def check(self, key: str, rate: Rate, now: int) -> int:
        return await self._rate(key, rate, now, take=False)

    async def fail(self, key: str, rate: Rate, now: int) -> int:
        found = await self._run("fail", f"{self._prefix}:fail:{key}",
                                [now, rate.count, rate.window_ms, FIRST_LOCKOUT_MS, MAX_LOCKOUT_MS])
        return found if found is not None else await self._local.fail(key, rate, now)

    async def locked(self, key: str, now: int) -> int:
        if self._redis is not None:
            try:
                until = await self._redis.hget(f"{self._prefix}:fail:{key}", "until")
                return max(0, int(until or 0) - now)
            except REDIS_FAILURES:
                pass
        return await self._local.locked(key, now)

    async def clear(self, key: str) -> None:
        await self._local.clear(key)
        if self._redis is not None:
            try:
                await self._redis.delete(f"{self._prefix}:fail:{key}")
            except REDIS_FAILURES:
                pass
