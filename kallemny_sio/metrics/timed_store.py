"""A :class:`~kallemny_sio.storage.base.Store` that times every operation of the store it wraps.

Used only when metrics are on; off, the app holds the backend itself. Every
async method of the interface is timed, so a method added to the interface is
timed without a change here. :meth:`TimedStore.add_message` also counts the
messages the store reports as new (a resend of a ``clientMessageId`` is not).
"""

from __future__ import annotations

import abc
import functools
import inspect
from time import perf_counter
from typing import Any, Callable

from ..storage.base import NewMessage, Store, StoredMessage


class TimedStore(Store):
    """Forwards to ``store``, observing each operation's duration in seconds."""

    def __init__(self, store: Store, timer: Callable[[str], Any], message_stored: Callable[[], None]) -> None:
        """Args:
            store: the backend.
            timer: the histogram for an operation name (something with ``observe(seconds)``).
            message_stored: called once per new message.
        """
        self._store = store
        self._timer = timer
        self._timers: dict[str, Any] = {}  # an operation's series appears at its first use
        self._message_stored = message_stored

    def __getattr__(self, name: str) -> Any:
        # Anything beyond the interface (a backend's own attribute) is the backend's.
        if name == "_store":
            raise AttributeError(name)
        return getattr(self._store, name)

    def _observe(self, operation: str, seconds: float) -> None:
        histogram = self._timers.get(operation)
        if histogram is None:
            histogram = self._timers[operation] = self._timer(operation)
        histogram.observe(seconds)

    async def add_message(self, message: NewMessage) -> StoredMessage:
        started = perf_counter()
        try:
            stored = await self._store.add_message(message)
        finally:
            self._observe("add_message", perf_counter() - started)
        if stored.created:
            self._message_stored()
        return stored


def _timed(name: str) -> Callable[..., Any]:
    @functools.wraps(getattr(Store, name))
    async def operation(self: TimedStore, *args: Any, **kwargs: Any) -> Any:
        started = perf_counter()
        try:
            return await getattr(self._store, name)(*args, **kwargs)
        finally:
            self._observe(name, perf_counter() - started)
    operation.__isabstractmethod__ = False  # type: ignore[attr-defined]  # wraps() copied the interface's True
    return operation


_TIMED = tuple(sorted(name for name in Store.__abstractmethods__ if inspect.iscoroutinefunction(getattr(Store, name))))
for _name in _TIMED:
    if _name not in TimedStore.__dict__:
        setattr(TimedStore, _name, _timed(_name))
abc.update_abstractmethods(TimedStore)
