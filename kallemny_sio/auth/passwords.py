"""Password hashing with Argon2id (argon2-cffi), off the event loop.

Hashing costs tens of milliseconds of CPU by design, so it runs in a small
thread pool (argon2-cffi releases the GIL) at a lower CPU priority than the
event loop, and never stalls message delivery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import RateLimited

log = logging.getLogger(__name__)

# OWASP's minimum for Argon2id (m=19 MiB, t=2, p=1): about 20 ms of one core
# here, against about 100 ms on all cores for RFC 9106's low-memory profile,
# so a burst of logins cannot starve message delivery of CPU.
OWASP_ARGON2ID = dict(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)


# The hashing threads run at a lower scheduling priority (a higher nice value)
# than the event loop: when the cores are busy, the kernel runs the loop first
# and a login waits a little longer instead of a message.
HASHING_NICENESS = 10

T = TypeVar("T")


def _lower_thread_priority() -> None:
    """In a hashing thread: raise this thread's nice value (Linux sets it per thread)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + HASHING_NICENESS)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: hashing still works
        log.debug("hashing thread keeps its priority: %s", exc)


class Passwords:
    """Hash, verify and upgrade password hashes.

    Uses OWASP's Argon2id minimum; :meth:`verify` reports when a stored hash
    used other parameters so the caller can rehash it. At most ``max_waiting``
    hashes wait for a thread; past that, callers get ``rate_limited`` at once
    instead of a queue that grows faster than it drains.

    Fairness: a hash may name the keys it is done for (the client address,
    the account), and each key holds at most ``per_key`` of the places at
    once; past that, its callers get ``rate_limited`` at once. So a flood from
    one address or on one account fills a few places, never the queue, and
    another user's login waits at most for those few hashes.
    """

    def __init__(self, hasher: PasswordHasher | None = None, workers: int = 1, max_waiting: int = 32,
                 per_key: int = 2, on_refused: Callable[[str], None] | None = None) -> None:
        """``on_refused`` is told ``"password_hashing"`` at each refusal (for metrics)."""
        self._on_refused = on_refused or (lambda limit: None)
        self._hasher = hasher or PasswordHasher(**OWASP_ARGON2ID)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2",
                                        initializer=_lower_thread_priority)
        self._max_in_flight = workers + max_waiting
        self._in_flight = 0
        self._per_key = per_key
        self._by_key: dict[str, int] = {}
        # A fixed hash to verify against when the user does not exist, so an
        # unknown username costs the same time as a wrong password.
        self._dummy = self._hasher.hash("not a real password")

    async def hash(self, password: str, keys: Sequence[str] = ()) -> str:
        """An encoded Argon2id hash of ``password`` (``keys``: on whose behalf, for fairness)."""
        return await self._submit(keys, self._hasher.hash, password)

    async def verify(self, encoded: str | None, password: str, keys: Sequence[str] = ()) -> tuple[bool, bool]:
        """Check ``password``; returns ``(matches, needs_rehash)``.

        ``encoded`` ``None`` (no such user) burns the same time and never matches.

        Raises:
            RateLimited: the queue is full, or one of ``keys`` holds its share of it.
        """
        return await self._submit(keys, self._verify, encoded, password)

    def in_progress(self) -> int:
        """Hashes waiting for a thread or being computed."""
        return self._in_flight

    async def _submit(self, keys: Sequence[str], fn: Callable[..., T], *args: Any) -> T:
        if self._in_flight >= self._max_in_flight:
            self._on_refused("password_hashing")
            raise RateLimited("too many logins in progress; retry in a moment")
        if any(self._by_key.get(key, 0) >= self._per_key for key in keys):
            self._on_refused("password_hashing")
            raise RateLimited("too many logins in progress from here or for this account; retry in a moment")
        self._in_flight += 1
        for key in keys:
            self._by_key[key] = self._by_key.get(key, 0) + 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._in_flight -= 1
            for key in keys:
                left = self._by_key[key] - 1
                if left:
                    self._by_key[key] = left
                else:
                    del self._by_key[key]

    def _verify(self, encoded: str | None, password: str) -> tuple[bool, bool]:
        try:
            self._hasher.verify(encoded or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if encoded is None:
            return False, False
        return True, self._hasher.check_needs_rehash(encoded)

    def close(self) -> None:
        """Stop the hashing threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
