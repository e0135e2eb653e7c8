"""The metrics of ``METRICS=1``, on prometheus-client, in a registry of the app's own.

What is measured, and the names it has in the exposition:

- ``kallemny_connections``: open, authenticated ``/chat`` connections on this node (read at scrape time);
- ``kallemny_events_total{event, outcome}``: client events answered, by name and by outcome
  (``ok`` or the ack's error code); names the server does not handle count as ``unknown``;
- ``kallemny_ack_seconds{event}``: from an event's arrival to its ack (histogram);
- ``kallemny_store_seconds{operation}``: each store operation, by method of the store interface (histogram);
- ``kallemny_messages_stored_total``: new messages (a resend of a ``clientMessageId`` is not new);
- ``kallemny_deliveries_total{event}``: events emitted to users' connections (one per emit, whatever its recipients);
- ``kallemny_rate_limited_total{limit}``: refusals by a limit of contract section 9;
- ``kallemny_password_hashing_queue``: password hashes waiting for or running in the hashing thread (scrape time);
- ``kallemny_backplane_state{state}``: 1 for the backplane's current state (``single`` for one node alone;
  with Redis one of ``connecting``, ``ok``, ``degraded``, the others 0);
- ``kallemny_backplane_publish_seconds``: one PUBLISH to Redis (a batch of emits), when it succeeded (histogram);
- prometheus-client's own ``process_*``, ``python_gc_*`` and ``python_info``.

Label children are kept in plain dicts after their first use, so counting an
event costs two dict look-ups and the library's own increments.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, GCCollector, Histogram,
                               PlatformCollector, ProcessCollector, generate_latest)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from ..storage.base import Store
from . import Metrics
from .timed_store import TimedStore

# Acks take from a fraction of a millisecond (typing) to tens (a durable write);
# store operations and Redis round trips are shorter still.
ACK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LINK_STATES = ("connecting", "ok", "degraded")
# The limits that refuse (core/limits.py's Guard, the connection's event rate, the
# password-hashing queue): their series start at 0, so rate() sees the first refusal.
KNOWN_LIMITS = ("events", "messages_per_user", "connections_per_user", "rest_requests", "registrations_per_address",
                "login_failures", "room_creations_per_user", "password_hashing")
SINGLE_NODE = "single"


class PrometheusMetrics(Metrics):
    """Metrics on: counters and histograms in this app's own :class:`CollectorRegistry`."""

    enabled = True

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)
        self._events = Counter("kallemny_events_total", "Client events answered, by name and outcome "
                               "(ok, or the ack's error code)", ("event", "outcome"), registry=registry)
        self._acks = Histogram("kallemny_ack_seconds", "Time from a client event's arrival to its ack",
                               ("event",), buckets=ACK_BUCKETS, registry=registry)
        self._store = Histogram("kallemny_store_seconds", "Time of one store operation, by method",
                                ("operation",), buckets=FAST_BUCKETS, registry=registry)
        self._stored = Counter("kallemny_messages_stored_total", "New messages stored (a resend is not new)",
                               registry=registry)
        self._deliveries = Counter("kallemny_deliveries_total", "Events emitted to users' connections "
                                   "(one per emit, whatever the number of recipients)", ("event",), registry=registry)
        self._refusals = Counter("kallemny_rate_limited_total", "Refusals by a limit of contract section 9, by limit",
                                 ("limit",), registry=registry)
        for limit in KNOWN_LIMITS:
            self._refusals.labels(limit)
        self._publishes = Histogram("kallemny_backplane_publish_seconds",
                                    "Time of one successful PUBLISH to Redis (a batch of emits)",
                                    buckets=FAST_BUCKETS, registry=registry)
        self._by_event: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._by_delivery: dict[str, Any] = {}

    def instrument_store(self, store: Store) -> Store:
        return TimedStore(store, self._store.labels, self._stored.inc)

    def watch(self, *, connections: Callable[[], int], hashing_queue: Callable[[], int],
              backplane_state: Callable[[], str | None]) -> None:
        self.registry.register(_ScrapeTimeState(connections, hashing_queue, backplane_state))

    def event_handled(self, event: str, ack: dict[str, Any], seconds: float) -> None:
        entry = self._by_event.get(event)
        if entry is None:
            entry = self._by_event[event] = (self._acks.labels(event), {})
        timer, outcomes = entry
        timer.observe(seconds)
        outcome = "ok" if ack.get("ok") is True else _error_code(ack)
        counter = outcomes.get(outcome)
        if counter is None:
            counter = outcomes[outcome] = self._events.labels(event, outcome)
        counter.inc()

    def delivered(self, event: str) -> None:
        counter = self._by_delivery.get(event)
        if counter is None:
            counter = self._by_delivery[event] = self._deliveries.labels(event)
        counter.inc()

    def rate_limited(self, limit: str) -> None:
        self._refusals.labels(limit).inc()

    def backplane_published(self, seconds: float) -> None:
        self._publishes.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _error_code(ack: dict[str, Any]) -> str:
    """The ack's error code (a word of ``errors.py``: a bounded set of label values)."""
    error = ack.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else "internal"


class _ScrapeTimeState:
    """Gauges read when Prometheus scrapes, so the hot paths never update them."""

    def __init__(self, connections: Callable[[], int], hashing_queue: Callable[[], int],
                 backplane_state: Callable[[], str | None]) -> None:
        self._connections = connections
        self._hashing_queue = hashing_queue
        self._backplane_state = backplane_state

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("kallemny_connections", "Open, authenticated /chat connections on this node",
                                value=self._connections())
        yield GaugeMetricFamily("kallemny_password_hashing_queue",
                                "Password hashes waiting for or running in the hashing thread",
                                value=self._hashing_queue())
        state = self._backplane_state()
        family = GaugeMetricFamily("kallemny_backplane_state", "1 for the link's current state between nodes "
                                   "(single: one node alone, no link)", labels=("state",))
        for name in (SINGLE_NODE,) if state is None else LINK_STATES:
            family.add_metric((name,), 1.0 if name == (state or SINGLE_NODE) else 0.0)
        yield family
