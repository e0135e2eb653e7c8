"""Prometheus metrics (``METRICS=1``), served by ``GET /metrics``.

:func:`create_metrics` gives the app one :class:`Metrics` object, passed to
whatever it measures. Off (the default) it is this module's :class:`Metrics`,
whose methods do nothing and which wraps nothing, so the hot paths cost an
attribute look-up at most; on, it is
:class:`~kallemny_sio.metrics.prometheus.PrometheusMetrics`, with a registry
of its own per app (tests build many apps in one process).
"""

from __future__ import annotations

from typing import Any, Callable

from ..config import Settings
from ..storage.base import Store

#: The ``event`` label of every event name the server does not handle: a client
#: chooses event names, and must not be able to make a series per name.
UNKNOWN_EVENT = "unknown"


class Metrics:
    """Metrics off: every method is a no-op and :meth:`instrument_store` returns the store itself.

    Attributes:
        enabled: whether anything is measured (callers test it before timing).
    """

    enabled = False

    def instrument_store(self, store: Store) -> Store:
        """``store``, timed per operation when metrics are on."""
        return store

    def watch(self, *, connections: Callable[[], int], hashing_queue: Callable[[], int],
              backplane_state: Callable[[], str | None]) -> None:
        """Read this state at each scrape: open ``/chat`` connections, password hashes in progress,
        and the backplane's state (``None``: one node alone)."""

    def event_handled(self, event: str, ack: dict[str, Any], seconds: float) -> None:
        """A client event was answered with ``ack`` after ``seconds`` (``event``: a known name or :data:`UNKNOWN_EVENT`)."""

    def delivered(self, event: str) -> None:
        """The server emitted ``event`` to some users' connections."""

    def rate_limited(self, limit: str) -> None:
        """A limit of contract section 9 refused something (``limit``: the rule, e.g. ``"messages_per_user"``)."""

    def backplane_published(self, seconds: float) -> None:
        """One PUBLISH to the backplane took ``seconds``."""

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        raise RuntimeError("metrics are off")


def create_metrics(settings: Settings) -> Metrics:
    """The metrics ``METRICS`` selects."""
    if not settings.metrics:
        return Metrics()
    from .prometheus import PrometheusMetrics

    return PrometheusMetrics()
