"""The metrics of ``METRICS=1``, exposed through prometheus-client from a registry of the app's own.

What is measured, and the names it has in the exposition:

- ``kallemny_connections``: open, authenticated ``/chat`` connections on this node (read at scrape time);
- ``kallemny_events_total{event, outcome}``: client events answered, by name and by outcome
  (``ok`` or the ack's error code); names the server does not handle count as ``unknown``;
- ``kallemny_ack_seconds{event}``: from an event's arrival to its ack (histogram);
- ``kallemny_store_seconds{operation}``: each store operation, by method of the store interface (histogram);
- ``kallemny_messages_stored_total``: new messages (a resend of a ``clientMessageId`` is not new);
- ``kallemny_deliveries_total{event}``: events emitted to users' connections (one per emit, whatever its recipients);
- ``kallemny_rate_limited_total{limit}``: refusals by a limit of contract section 9 (or of the hashing queue);
- ``kallemny_password_hashing_queue``: password hashes waiting for or running in the hashing thread (scrape time);
- ``kallemny_backplane_state{state}``: 1 for the backplane's current state (``single`` for one node alone;
  with Redis one of ``connecting``, ``ok``, ``degraded``, the others 0);
- ``kallemny_backplane_publish_seconds``: one PUBLISH to Redis (a batch of emits), when it succeeded (histogram);
- prometheus-client's own ``process_*``, ``python_gc_*`` and ``python_info``.

Why the counts are kept here and not in prometheus-client's ``Counter`` and
``Histogram``: those take a thread lock per update and scan the buckets in
Python, about 2.5 µs for the five updates of one ``SendMessage``, which
workload (b) showed as several per cent more server CPU per message. Every
update here happens on the event loop's thread, and so does the scrape, so
plain numbers need no lock: the same updates cost about 0.35 µs.
prometheus-client still builds every family and writes the exposition, from
these numbers, at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Callable, Iterable

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, GCCollector, PlatformCollector,
                               ProcessCollector, generate_latest)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from ..storage.base import Store
from . import Metrics
from .timed_store import TimedStore

# Acks take from a fraction of a millisecond (typing) to tens (a durable write);
# store operations and Redis round trips are shorter still.
ACK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LINK_STATES = ("connecting", "ok", "degraded")
SINGLE_NODE = "single"
# The limits that refuse (core/limits.py's Guard, the connection's event rate, the
# password-hashing queue): their series start at 0, so rate() sees the first refusal.
KNOWN_LIMITS = ("events", "messages_per_user", "connections_per_user", "rest_requests", "registrations_per_address",
                "login_failures", "room_creations_per_user", "password_hashing")


class LoopHistogram:
    """A histogram written on the event loop's thread only (no lock): counts per bucket and a sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1  # the first bucket whose bound is >= seconds
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count)`` pairs as the exposition has them: cumulative, ending with ``+Inf``."""
        pairs, total = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts):
            total += count
            pairs.append((floatToGoString(bound), float(total)))
        return pairs


class PrometheusMetrics(Metrics):
    """Metrics on: numbers kept on the event loop, exposed by prometheus-client from this app's registry."""

    enabled = True

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)
        self.events: dict[str, tuple[LoopHistogram, dict[str, int]]] = {}  # event -> (ack times, outcome -> count)
        self.store_operations: dict[str, LoopHistogram] = {}
        self.messages_stored = 0
        self.deliveries: dict[str, int] = {}
        self.refusals: dict[str, int] = dict.fromkeys(KNOWN_LIMITS, 0)
        self.publishes = LoopHistogram(FAST_BUCKETS)
        registry.register(_Counts(self))

    def instrument_store(self, store: Store) -> Store:
        return TimedStore(store, self._store_timer, self._message_stored)

    def _store_timer(self, operation: str) -> LoopHistogram:
        return self.store_operations.setdefault(operation, LoopHistogram(FAST_BUCKETS))

    def _message_stored(self) -> None:
        self.messages_stored += 1

    def watch(self, *, connections: Callable[[], int], hashing_queue: Callable[[], int],
              backplane_state: Callable[[], str | None]) -> None:
        self.registry.register(_ScrapeTimeState(connections, hashing_queue, backplane_state))

    def event_handled(self, event: str, ack: dict[str, Any], seconds: float) -> None:
        entry = self.events.get(event)
        if entry is None:
            entry = self.events[event] = (LoopHistogram(ACK_BUCKETS), {})
        times, outcomes = entry
        times.observe(seconds)
        outcome = "ok" if ack.get("ok") is True else _error_code(ack)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    def delivered(self, event: str) -> None:
        self.deliveries[event] = self.deliveries.get(event, 0) + 1

    def rate_limited(self, limit: str) -> None:
        self.refusals[limit] = self.refusals.get(limit, 0) + 1

    def backplane_published(self, seconds: float) -> None:
        self.publishes.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _error_code(ack: dict[str, Any]) -> str:
    """The ack's error code (a word of ``errors.py``: a bounded set of label values)."""
    error = ack.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else "internal"


class _Counts:
    """The counters and histograms of a :class:`PrometheusMetrics`, as prometheus-client's metric families."""

    def __init__(self, metrics: PrometheusMetrics) -> None:
        self._m = metrics

    def describe(self) -> Iterable[Metric]:
        return self._families(empty=True)

    def collect(self) -> Iterable[Metric]:
        return self._families(empty=False)

    def _families(self, empty: bool) -> list[Metric]:
        m = self._m
        events = CounterMetricFamily("kallemny_events", "Client events answered, by name and outcome "
                                     "(ok, or the ack's error code)", labels=("event", "outcome"))
        acks = HistogramMetricFamily("kallemny_ack_seconds", "Time from a client event's arrival to its ack",
                                     labels=("event",))
        store = HistogramMetricFamily("kallemny_store_seconds", "Time of one store operation, by method",
                                      labels=("operation",))
        stored = CounterMetricFamily("kallemny_messages_stored", "New messages stored (a resend is not new)")
        deliveries = CounterMetricFamily("kallemny_deliveries", "Events emitted to users' connections "
                                         "(one per emit, whatever the number of recipients)", labels=("event",))
        refusals = CounterMetricFamily("kallemny_rate_limited", "Refusals by a limit, by limit", labels=("limit",))
        publishes = HistogramMetricFamily("kallemny_backplane_publish_seconds",
                                          "Time of one successful PUBLISH to Redis (a batch of emits)")
        families: list[Metric] = [events, acks, store, stored, deliveries, refusals, publishes]
        if empty:
            return families
        for event, (times, outcomes) in m.events.items():
            acks.add_metric((event,), times.cumulative(), times.sum)
            for outcome, count in outcomes.items():
                events.add_metric((event, outcome), count)
        for operation, times in m.store_operations.items():
            store.add_metric((operation,), times.cumulative(), times.sum)
        stored.add_metric((), m.messages_stored)
        for event, count in m.deliveries.items():
            deliveries.add_metric((event,), count)
        for limit, count in m.refusals.items():
            refusals.add_metric((limit,), count)
        publishes.add_metric((), m.publishes.cumulative(), m.publishes.sum)
        return families


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
