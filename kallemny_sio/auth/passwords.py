"""Password hashing with Argon2id (argon2-cffi), off the event loop.

Hashing costs tens of milliseconds of CPU by design, so it runs in a small
thread pool (argon2-cffi releases the GIL) and never stalls message delivery.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY


class Passwords:
    """Hash, verify and upgrade password hashes.

    Uses RFC 9106's low-memory profile (Argon2id, t=3, m=64 MiB, p=4);
    :meth:`verify` reports when a stored hash used other parameters so the
    caller can rehash it.
    """

    def __init__(self, hasher: PasswordHasher | None = None, workers: int = 2) -> None:
        self._hasher = hasher or PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        # A fixed hash to verify against when the user does not exist, so an
        # unknown username costs the same time as a wrong password.
        self._dummy = self._hasher.hash("not a real password")

    async def hash(self, password: str) -> str:
        """An encoded Argon2id hash of ``password``."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, encoded: str | None, password: str) -> tuple[bool, bool]:
        """Check ``password``; returns ``(matches, needs_rehash)``.

        ``encoded`` ``None`` (no such user) burns the same time and never matches.
        """
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._verify, encoded, password)

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
