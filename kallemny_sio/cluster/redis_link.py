"""The Redis link between nodes: python-socketio's Redis manager, loud about faults and quick to recover.

How a membership change reaches every node
-------------------------------------------
No subscription ever moves. Every connection joins one channel at connect,
its user's ``user:<id>`` (``core/delivery.py``), on the node that holds it;
the core reads a room's members from the store at every emit and emits to
each member's channel. The Redis manager publishes that emit to every node,
and each node delivers it to its own connections in those channels. So when
``RoomCreated``, ``JoinChatRoom`` or ``LeaveChatRoom`` changes a membership,
the very next emit for the room already goes to the new member list, on
every node and to every connection of the user, with nothing to propagate.

The store is the truth, so there is nothing to converge after a Redis
outage: a membership changed while Redis was down is in the store, and every
node's next emit reads it. The manager's cross-node ``enter_room`` /
``leave_room`` (fire-and-forget, lost during an outage) are never used; what
an outage does lose is live delivery between nodes, which the clients
recover from history after the ``Resync`` this module sends them.

The link to the other nodes
---------------------------
:class:`ClusterRedisManager` changes how python-socketio's manager treats
faults: a failed publish, a lost subscription (Redis stopped, the network
gone, or Redis closing the subscriber itself, as it does past the pub/sub
output-buffer limit: ``CLIENT KILL TYPE pubsub``), or a subscriber that stops
answering PING are all one *interruption*: logged once, shown by ``/healthz``
as ``"backplane": "degraded"`` (still 200: the node serves its own clients,
which get every emit of their node throughout), and ended only by a fresh,
confirmed subscription, after which every connection of this node gets
``Resync {"reason": "backplane", "since"}``. Re-subscribing is retried every
0.25 s doubling to 2 s, not python-socketio's 60 s.

Ending an interruption also drops the idle connections of the command
client's pool (they predate it, and after a Redis restart their first
command would fail) and calls :attr:`ClusterRedisManager.on_restored`, a
plain callback through which the backplane has shared presence registered
again at once (Redis may have come back empty) instead of at its next
heartbeat. This module knows nothing of presence.
"""

from __future__ import annotations

import asyncio
import logging
from time import perf_counter
from typing import Any, AsyncIterator, Callable
from urllib.parse import urlparse

import orjson
import socketio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from socketio.redis_manager import parse_redis_sentinel_url

from ..core.clock import iso, now_ms
from ..core.tasks import spawn
from ..transport.fanout import DirectEmitManager

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 1.0  # an unreachable Redis costs an emit at most this
COMMAND_TIMEOUT_SECONDS = 2.0
HEALTH_CHECK_SECONDS = 15  # PING a pooled connection idle this long before using it
LISTEN_POLL_SECONDS = 1.0  # how often the listener looks up from the socket
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
RETRY_FIRST_SECONDS = 0.25
MAX_BATCH = 256  # emits per Redis message: a stall must not build one message past Redis's output-buffer limit
RETRY_MAX_SECONDS = 2.0
IDLE_PING_SECONDS = 5.0  # PING a quiet subscription this often ...
PONG_TIMEOUT_SECONDS = 5.0  # ... and call it lost if the answer takes longer
_PING_TOKEN = b"kallemny-link"


class LinkInterrupted(Exception):
    """The subscription can no longer be trusted to have received everything."""


def redis_options() -> dict[str, Any]:
    """Client options: bounded timeouts, and no silent retries (a fault must be seen)."""
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": COMMAND_TIMEOUT_SECONDS,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        # redis-py retries a failed command three times by default, and for a
        # subscriber that means reconnecting and replaying SUBSCRIBE without a
        # word: the messages published in between are lost with no error.
        "retry": Retry(NoBackoff(), 0),
    }


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return exc.__class__.__name__ + (f": {text}" if text else "")


class ClusterRedisManager(socketio.AsyncRedisManager, DirectEmitManager):
    """python-socketio's Redis manager, loud about interruptions and quick to recover.

    It keeps the base class's protocol (``emit`` delivers to this node's
    connections first, then publishes) and replaces its two transport methods,
    ``_publish`` and ``_listen``, plus ``initialize`` so that the listener is a
    tracked task started with the node rather than at the first connection.

    Attributes:
        state: ``"connecting"`` until the first subscription, then ``"ok"`` or ``"degraded"``.
        interrupted_at: when the current interruption began (ms), or None.
        on_restored: called (plain, not awaited: start a task for slow work) each time a
            subscription is confirmed after an interruption; not at the first subscription.
        on_published: None, or called with the seconds each successful PUBLISH took (metrics).
    """

    name = "kallemny-redis"

    def __init__(self, url: str, channel: str, namespace: str, options: dict[str, Any]) -> None:
        """Args:
            url: the Redis URL (``redis://``, ``rediss://``, ``redis+sentinel://``, ...).
            channel: the pub/sub channel every node shares.
            namespace: the Socket.IO namespace whose connections get ``Resync``.
            options: ``redis.asyncio`` client options (see :func:`redis_options`).
        """
        super().__init__(url, channel=channel, redis_options=options)
        self.namespace = namespace
        self.state = "connecting"
        self.interrupted_at: int | None = None
        self.on_restored: Callable[[], None] | None = None
        self.on_published: Callable[[float], None] | None = None
        self._publish_failed_at: int | None = None
        self._heard_at: int | None = None  # when the subscription last delivered anything (ms)
        self._resubscribe_reason: str | None = None
        self._listener: asyncio.Task[Any] | None = None
        self._subscriber: Any = None
        self._pubsub: Any = None
        self._linked: asyncio.Event | None = None
        self._outbox: list[tuple[dict[str, Any], int, asyncio.Future[None]]] = []
        self._publisher: asyncio.Task[None] | None = None

    # -- clients ----------------------------------------------------------------

    def new_client(self, for_subscriber: bool = False) -> Any:
        """A ``redis.asyncio`` client for the URL (Sentinel-aware); it connects on first use.

        Raises:
            ValueError: the URL cannot be used.
        """
        module = self._get_redis_module()
        options = dict(self.redis_options)
        if for_subscriber:
            options.pop("health_check_interval", None)  # the listener PINGs on its own terms
        if module.__name__.split(".")[0] != "redis":
            options.pop("retry", None)  # another client library: keep its own retry object
        if urlparse(self.redis_url).scheme in {"redis+sentinel", "valkey+sentinel"}:
            sentinels, service_name, connection_kwargs = parse_redis_sentinel_url(self.redis_url)
            options.update(connection_kwargs)
            sentinel = module.sentinel.Sentinel(sentinels, **options)
            return sentinel.master_for(service_name or self.channel)
        return module.Redis.from_url(self.redis_url, **options)

    def start(self, sio: socketio.AsyncServer) -> None:
        """Start listening now, with the node, rather than at the server's first connection."""
        sio.manager_initialized = True
        self.initialize()

    def initialize(self) -> None:
        socketio.AsyncManager.initialize(self)  # not the pub/sub base's: it starts an untracked task
        self._linked = asyncio.Event()
        self.redis = self.new_client()
        if not self.write_only:
            self._listener = spawn(self._thread(), name="redis-listener")

    async def wait_linked(self, timeout: float) -> bool:
        """Wait (bounded) for the first subscription; False if Redis did not answer in time."""
        if self._linked is None:
            return False
        try:
            await asyncio.wait_for(self._linked.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def close(self) -> None:
        """Stop listening and close every Redis connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        await self._close_subscriber()
        publisher = self._publisher
        if publisher is not None:
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None

    # -- interruptions ------------------------------------------------------------

    def _interrupted(self, reason: str, began_at: int) -> None:
        """Note an interruption that began at ``began_at`` (ms) at the latest; log only the first of a run."""
        self.state = "degraded"
        if self.interrupted_at is not None:
            self.interrupted_at = min(self.interrupted_at, began_at)
            log.debug("Redis link still interrupted (%s)", reason)
            return
        self.interrupted_at = began_at
        log.warning(
            "Redis link interrupted (%s): this node delivers to its own clients only until it is back;"
            " they will get Resync then", reason,
        )

    async def _subscribed(self) -> None:
        """A fresh subscription is confirmed: end the interruption and tell this node's clients."""
        since, self.interrupted_at = self.interrupted_at, None
        self.state = "ok"
        if self._linked is not None:
            self._linked.set()
        if since is None:
            log.info("subscribed to Redis channel %r", self.channel)
            return
        connections = sum(1 for _ in self.get_participants(self.namespace, None))
        log.info("Redis link restored after %.1f s; sending Resync to this node's connections (%d)",
                 (now_ms() - since) / 1000, connections)
        await self._drop_idle_connections()
        if self.on_restored is not None:
            try:
                self.on_restored()
            except Exception:
                log.exception("the Redis link's on_restored callback failed")
        try:
            # This node's connections only (ignore_queue): each node resyncs its own.
            await self.server.emit("Resync", {"reason": "backplane", "since": iso(since)},
                                   namespace=self.namespace, ignore_queue=True)
        except Exception:
            log.exception("sending Resync failed")
        await self._announce_lost_publishes()

    async def _drop_idle_connections(self) -> None:
        """Close the command client's idle pooled connections: they were opened before the interruption.

        After a Redis restart such a connection is dead, and (no retries, see
        :func:`redis_options`) the first command sent on it would fail: presence
        would fall back to this node alone and a publish would start a new
        interruption. The next commands open fresh connections instead.
        """
        pool = getattr(self.redis, "connection_pool", None)
        if pool is None:
            return
        try:
            await pool.disconnect(inuse_connections=False)
        except Exception as exc:
            log.debug("closing idle Redis connections: %s", _describe(exc))

    async def _announce_lost_publishes(self) -> None:
        """Tell the other nodes' clients that this node's emits since a failed publish may be lost.

        The other nodes' links may never have broken (Redis reachable from them,
        not from here; or a hang shorter than their PING timeout), so their own
        Resync would not come: this notice, published once the link is whole
        again, makes every other node send ``Resync`` to its connections.
        """
        since, self._publish_failed_at = self._publish_failed_at, None
        if since is None:
            return
        log.info("asking the other nodes' clients to resync: this node's emits since %s may not have reached them",
                 iso(since))
        await self._publish({
            "method": "emit", "event": "Resync", "data": [{"reason": "backplane", "since": iso(since)}],
            "binary": False, "namespace": self.namespace, "room": None, "skip_sid": None, "callback": None,
            "host_id": self.host_id,  # the nodes skip their own messages: this one is for the others
        })

    def _subscriber_reconnected(self, connection: Any) -> None:
        """redis-py reconnected the subscriber under us (and replayed SUBSCRIBE): messages may be lost."""
        self._resubscribe_reason = "the Redis client reconnected the subscription"

    # -- transport ----------------------------------------------------------------

    async def _publish(self, data: Any) -> None:
        """Publish once; on failure note an interruption (the base class already delivered locally).

        No retry: a PUBLISH whose answer was lost may have gone out, and sending it
        again would deliver twice. What a failed publish may have lost is recovered
        by the Resync that ends the interruption.

        The publishes made while one is on its way to Redis go out together
        in the next, as one Redis message holding a JSON array of up to
        ``MAX_BATCH`` of them (one round trip, and one message for every
        subscriber to parse instead of many); a lone one goes out in
        python-socketio's own format. Each caller returns once its own has been
        answered. Every node reads both forms (see ``_messages``), so
        python-socketio emitters that publish on the channel still work.
        """
        if self.redis is None:
            return
        done = asyncio.get_running_loop().create_future()
        self._outbox.append((data, now_ms(), done))
        if self._publisher is None:
            self._publisher = asyncio.create_task(self._publish_outbox(), name="redis-publish")
        await done

    async def _publish_outbox(self) -> None:
        batch: list[tuple[dict[str, Any], int, asyncio.Future[None]]] = []
        try:
            while self._outbox and self.redis is not None:
                batch, self._outbox = self._outbox[:MAX_BATCH], self._outbox[MAX_BATCH:]
                # One message alone goes out in python-socketio's own format.
                body = batch[0][0] if len(batch) == 1 else [data for data, _, _ in batch]
                try:
                    started = perf_counter()
                    await self.redis.publish(self.channel, orjson.dumps(body))
                    if self.on_published is not None:
                        self.on_published(perf_counter() - started)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    began = batch[0][1]
                    if self._publish_failed_at is None:
                        self._publish_failed_at = began
                    self._interrupted(f"publish failed: {_describe(exc)}", began)
                    # Re-subscribe as well, so that the interruption ends with a Resync once Redis is whole.
                    self._resubscribe_reason = self._resubscribe_reason or "a publish failed"
                finally:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._publisher = None
            left, self._outbox = self._outbox, []
            for _, _, done in left:  # closing: nobody waits forever
                if not done.done():
                    done.set_result(None)

    async def _listen(self) -> AsyncIterator[Any]:
        """Yield messages from the channel forever, re-subscribing after any interruption."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                pubsub = await self._subscribe()
                delay = RETRY_FIRST_SECONDS
                await self._subscribed()
                async for data in self._messages(pubsub):
                    yield data
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Everything up to the last thing read arrived; anything after may be lost.
                self._interrupted(f"subscription lost: {_describe(exc)}", self._heard_at or now_ms())
            await self._close_subscriber()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _subscribe(self) -> Any:
        """A new connection subscribed to the channel, once Redis has confirmed it."""
        await self._close_subscriber()
        self._resubscribe_reason = None
        self._subscriber = self.new_client(for_subscriber=True)
        self._pubsub = pubsub = self._subscriber.pubsub()
        await pubsub.subscribe(self.channel)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBSCRIBE_TIMEOUT_SECONDS
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise LinkInterrupted("Redis did not confirm the subscription")
            message = await pubsub.get_message(timeout=min(left, LISTEN_POLL_SECONDS))
            if message and message["type"] == "subscribe":
                self._heard_at = now_ms()
                break
        pubsub.connection.register_connect_callback(self._subscriber_reconnected)
        return pubsub

    async def _messages(self, pubsub: Any) -> AsyncIterator[Any]:
        """The channel's messages; raises :class:`LinkInterrupted` when the link can't be trusted."""
        channel = self.channel.encode()
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        ping_sent: float | None = None
        while True:
            if self._resubscribe_reason is not None:
                raise LinkInterrupted(self._resubscribe_reason)
            now = loop.time()
            if ping_sent is None and now - last_heard >= IDLE_PING_SECONDS:
                await pubsub.ping(_PING_TOKEN)
                ping_sent = now
            elif ping_sent is not None and now - ping_sent > PONG_TIMEOUT_SECONDS:
                raise LinkInterrupted(f"no answer to PING within {PONG_TIMEOUT_SECONDS:.0f} s")
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_POLL_SECONDS)
            if message is None:
                continue
            last_heard, ping_sent, self._heard_at = loop.time(), None, now_ms()
            if message["type"] == "message" and message["channel"] == channel:
                data = message["data"]
                if data[:1] == b"[":  # a batch from a Kallemny node (see ``_publish``)
                    try:
                        batch = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        log.warning("ignoring an undecodable message on the Redis channel")
                        continue
                    for item in batch:
                        if isinstance(item, dict):
                            yield item
                else:
                    yield data  # one message (python-socketio's own format)

    async def _close_subscriber(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        client, self._subscriber = self._subscriber, None
        for closable in (pubsub, client):
            if closable is not None:
                try:
                    await closable.aclose()
                except Exception as exc:
                    log.debug("closing the Redis subscriber: %s", _describe(exc))
