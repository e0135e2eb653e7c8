"""Presence shared by every node through Redis: online while any connection anywhere is open.

Keys (``P`` is ``<REDIS_CHANNEL>:presence``)::

    P:user:<user id>    set of "<node id> <sid>": the user's open connections on every node
    P:conns:<node id>   hash sid -> user id: one node's connections (to remove them if it dies)
    P:node:<node id>    the node's heartbeat, expiring after PRESENCE_NODE_TTL_SECONDS
    P:nodes             set of node ids that may still own connections
    P:swept:<node id>   set when a sweeper removed the node's connections as dead; gone once
                        the node registers them again (or after PRESENCE_NODE_TTL_SECONDS)

Every change is one Lua script, so "first connection anywhere" and "last
connection anywhere" are decided by Redis for all nodes at once: two nodes
cannot both see a user's first connection, or both miss it. The scripts
build user keys from their arguments; that is fine on one Redis (or a
Sentinel-managed primary), which is all python-socketio's Redis manager
supports anyway (not Redis Cluster).

A node that dies without cleaning up stops refreshing its heartbeat. Every
node runs a sweeper; the script that removes a dead node's connections
returns the users that thereby went offline, and it can remove them only
once, so exactly one node announces each of them (``on_lost``). It leaves
the ``swept`` mark, so that a node that was only silent, not dead, does not
announce its users' later disconnects a second time.

While Redis is unreachable, presence runs on this node's own connections
("local mode"): a connect is the user's first when it is their first here,
a disconnect their last when it is their last here, and ``online`` is the
users connected here. Nothing waits on Redis meanwhile. Once Redis answers,
one script rewrites this node's entries from its local table (every
connection it holds, nothing it no longer holds) and reports which users
that brought online or took offline cluster-wide; those transitions are
announced, and so is any user this node called offline from local knowledge
who is in fact online on another node. That restore runs:

- at once when the Redis link between the nodes is confirmed again after an
  interruption (:meth:`RedisPresence.restore_soon`, which the backplane hands
  to the link as its ``on_restored``): Redis may have restarted empty;
- at once when a disconnect finds this node's own entry gone from Redis (Redis
  lost its data, and the restore has not run yet). That disconnect is then
  decided from this node's own connections, as in local mode (the user's
  last connection here means offline), unless Redis shows the user connected
  on another node; a disconnect of a node that was swept (the ``swept`` mark)
  is not "last" again, the sweeper already announced it;
- at the heartbeat, which keeps trying while Redis is unreachable, and
  which also restores when it finds the node's heartbeat gone (expired,
  swept, or lost).

Around an outage a client may therefore see a presence event repeated;
presence events carry a state, not a delta, so a repeat is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any, AsyncIterator, Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..core.presence import ConnectionTable, OfflineCallback, OnlineCallback
from ..core.tasks import spawn

log = logging.getLogger(__name__)

REDIS_FAILURES = (RedisError, OSError, asyncio.TimeoutError)
STOP_TIMEOUT_SECONDS = 3.0

# KEYS: user set, node's conns hash. ARGV: "<node> <sid>", sid, user id.
# Returns 1 when this is the user's first connection on any node.
_CONNECT = """
local added = redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if added == 1 and redis.call('SCARD', KEYS[1]) == 1 then return 1 end
return 0
"""

# KEYS: user set, node's conns hash, node's swept mark. ARGV: "<node> <sid>", sid.
# Returns one of the _GONE_* codes below. A connection already removed because
# its node was swept as dead is not "last" a second time (the sweeper said so);
# one removed because Redis lost its data is for the node to decide.
_DISCONNECT = """
local removed = redis.call('SREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[2])
local others = redis.call('EXISTS', KEYS[1]) == 1
if removed == 1 then
  if others then return 0 end
  return 1
end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if others then return 3 end
return 2
"""
_GONE_MORE = 0  # the user has connections left somewhere (or the sweeper already announced them offline)
_GONE_LAST = 1  # the user's last connection anywhere
_GONE_LOST_ALONE = 2  # this node's entry was missing and Redis knows no other: this node decides
_GONE_LOST_MORE = 3  # this node's entry was missing, another node holds a connection: not last

# KEYS: heartbeat key, nodes set. ARGV: node id, ttl ms.
# Returns 1 if the heartbeat was still there (0: expired, swept, or Redis lost its data).
_HEARTBEAT = """
local alive = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return alive
"""

# KEYS: node's conns hash, heartbeat key, nodes set, node's swept mark.
# ARGV: node id, ttl ms, user key prefix, then sid, user id pairs: every connection the node holds.
# Makes the node's entries exactly those pairs; returns {users now online who were not,
# users now offline who were not}.
_RESTORE = """
local node, prefix = ARGV[1], ARGV[3]
local want = {}
for i = 4, #ARGV, 2 do want[ARGV[i]] = ARGV[i + 1] end
local before = {}
local function touch(user)
  if before[user] == nil then before[user] = redis.call('EXISTS', prefix .. user) == 1 end
end
local old = redis.call('HGETALL', KEYS[1])
for i = 1, #old, 2 do
  local sid, user = old[i], old[i + 1]
  if want[sid] ~= user then
    touch(user)
    redis.call('SREM', prefix .. user, node .. ' ' .. sid)
    redis.call('HDEL', KEYS[1], sid)
  end
end
for sid, user in pairs(want) do
  touch(user)
  redis.call('SADD', prefix .. user, node .. ' ' .. sid)
  redis.call('HSET', KEYS[1], sid, user)
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[3], node)
redis.call('DEL', KEYS[4])
local came, went = {}, {}
for user, was in pairs(before) do
  local now = redis.call('EXISTS', prefix .. user) == 1
  if now and not was then table.insert(came, user) end
  if was and not now then table.insert(went, user) end
end
return {came, went}
"""

# KEYS: the node's heartbeat key, its conns hash, nodes set, its swept mark. ARGV: node id,
# user key prefix, "force" (1: remove even if the heartbeat is alive, for a node leaving
# cleanly), ttl ms. Removes the node's connections if it is dead (and marks it swept);
# returns the users that thereby went offline. Atomic: of several sweepers, only the
# first finds anything to remove.
_REAP = """
if ARGV[3] ~= '1' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[4])
end
local conns = redis.call('HGETALL', KEYS[2])
local lost = {}
for i = 1, #conns, 2 do
  local key = ARGV[2] .. conns[i + 1]
  if redis.call('SREM', key, ARGV[1] .. ' ' .. conns[i]) == 1 and redis.call('EXISTS', key) == 0 then
    table.insert(lost, conns[i + 1])
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return lost
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Gate:
    """Presence updates run side by side; a restore runs alone (and is not starved)."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._updates = 0
        self._restoring = False

    @contextlib.asynccontextmanager
    async def update(self) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: not self._restoring)
            self._updates += 1
        try:
            yield
        finally:
            async with self._cond:
                self._updates -= 1
                self._cond.notify_all()

    @contextlib.asynccontextmanager
    async def alone(self) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: not self._restoring)
            self._restoring = True
            await self._cond.wait_for(lambda: self._updates == 0)
        try:
            yield
        finally:
            async with self._cond:
                self._restoring = False
                self._cond.notify_all()


class RedisPresence:
    """:class:`~kallemny_sio.core.presence.Presence` shared by every node through Redis."""

    def __init__(self, key_prefix: str, node_id: str, heartbeat_seconds: float, node_ttl_seconds: float) -> None:
        self.node_id = node_id
        self._prefix = key_prefix
        self._user_prefix = f"{key_prefix}:user:"
        self._nodes_key = f"{key_prefix}:nodes"
        self._interval = heartbeat_seconds
        self._ttl_ms = int(node_ttl_seconds * 1000)
        if node_ttl_seconds < 2 * heartbeat_seconds:
            log.warning(
                "PRESENCE_NODE_TTL_SECONDS (%s) is less than twice PRESENCE_HEARTBEAT_SECONDS (%s):"
                " a slow node may be taken for dead", node_ttl_seconds, heartbeat_seconds,
            )
        self._redis: Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._local = ConnectionTable()  # this node's own connections
        self._shared = False  # True while Redis holds this node's connections and answers
        self._outage = False  # a Redis failure was logged and no restore has succeeded since
        self._sweep_after = 0.0  # loop time before which the sweeper waits (see _restore)
        self._said_offline: set[str] = set()  # called offline from local knowledge only
        self._gate = _Gate()
        self._tasks: list[asyncio.Task[Any]] = []
        self._started = False
        self._restorer: asyncio.Task[None] | None = None  # the restore restore_soon started
        self._restore_again = False  # restore_soon was called since that restore began
        self._on_lost: OfflineCallback | None = None
        self._on_found: OnlineCallback | None = None

    def use_client(self, client: Redis) -> None:
        """Talk to Redis through ``client`` (the backplane's, created on its event loop)."""
        self._redis = client
        self._scripts = {name: client.register_script(lua) for name, lua in (
            ("connect", _CONNECT), ("disconnect", _DISCONNECT), ("heartbeat", _HEARTBEAT),
            ("restore", _RESTORE), ("reap", _REAP),
        )}

    @property
    def degraded(self) -> bool:
        """Whether presence runs on this node's own connections (Redis unreachable)."""
        return not self._shared

    # -- keys ------------------------------------------------------------------

    def _user_key(self, user_id: str) -> str:
        return self._user_prefix + user_id

    def _conns_key(self, node_id: str) -> str:
        return f"{self._prefix}:conns:{node_id}"

    def _heartbeat_key(self, node_id: str) -> str:
        return f"{self._prefix}:node:{node_id}"

    def _member(self, sid: str) -> str:
        return f"{self.node_id} {sid}"

    def _swept_key(self, node_id: str) -> str:
        return f"{self._prefix}:swept:{node_id}"

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, on_lost: OfflineCallback, on_found: OnlineCallback | None = None) -> None:
        """Register this node, then run the heartbeat and the sweeper."""
        self._on_lost, self._on_found = on_lost, on_found
        self._started = True
        try:
            await self._restore()
            log.info("presence shared through Redis as node %s", self.node_id)
        except REDIS_FAILURES as exc:
            self._go_local(exc)
        self._tasks = [
            spawn(self._every_interval(self._beat, "heartbeat"), name="presence-heartbeat"),
            spawn(self._every_interval(self._sweep, "sweep", jitter=True), name="presence-sweeper"),
        ]

    async def stop(self) -> None:
        """Stop the background tasks and take this node's connections out of Redis."""
        self._started = False
        tasks, self._tasks = self._tasks, []
        if self._restorer is not None:
            tasks.append(self._restorer)
            self._restorer = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._redis is not None and self._shared:
            try:
                lost = await asyncio.wait_for(self._reap(self.node_id, force=True), STOP_TIMEOUT_SECONDS)
                if lost and self._on_lost is not None:
                    await self._on_lost(lost)
            except Exception as exc:  # leaving is best effort: the sweepers of other nodes finish it
                log.warning("presence: could not remove this node's connections at stop (%s)", exc)
        self._shared = False
        self._local.clear()

    # -- Presence ----------------------------------------------------------------

    async def connected(self, user_id: str, sid: str) -> bool:
        async with self._gate.update():
            first_here = self._local.add(user_id, sid)
            if self._shared:
                try:
                    keys = [self._user_key(user_id), self._conns_key(self.node_id)]
                    return bool(await self._scripts["connect"](keys=keys, args=[self._member(sid), sid, user_id]))
                except REDIS_FAILURES as exc:
                    self._go_local(exc)
            if first_here:
                self._said_offline.discard(user_id)
            return first_here

    async def disconnected(self, user_id: str, sid: str) -> bool:
        async with self._gate.update():
            last_here = self._local.remove(user_id, sid)
            if last_here is None:
                return False
            if self._shared:
                try:
                    keys = [self._user_key(user_id), self._conns_key(self.node_id), self._swept_key(self.node_id)]
                    gone = await self._scripts["disconnect"](keys=keys, args=[self._member(sid), sid])
                except REDIS_FAILURES as exc:
                    self._go_local(exc)
                else:
                    if gone in (_GONE_LAST, _GONE_MORE):
                        return gone == _GONE_LAST
                    self._entries_lost()
                    if gone == _GONE_LOST_MORE:
                        return False
                    # Redis knows nothing of the user: decide as in local mode (the restore
                    # announces the user online again if another node turns out to hold one).
            if last_here:
                self._said_offline.add(user_id)
            return last_here

    async def online(self, user_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(user_ids))
        if self._shared and ids and self._redis is not None:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for user_id in ids:
                        pipe.exists(self._user_key(user_id))
                    found = await pipe.execute()
                return {u for u, n in zip(ids, found) if n}
            except REDIS_FAILURES as exc:
                self._go_local(exc)
        return {u for u in ids if u in self._local}

    async def connection_count(self, user_id: str) -> int:
        if self._shared and self._redis is not None:
            try:
                return int(await self._redis.scard(self._user_key(user_id)))
            except REDIS_FAILURES as exc:
                self._go_local(exc)
        return self._local.count(user_id)

    def restore_soon(self) -> None:
        """Register this node's connections in Redis again now, in the background.

        For when Redis may have lost them: the Redis link calls it (as its
        ``on_restored``) when its subscription is confirmed after an
        interruption. Calls while a restore runs make it run once more after.
        """
        if not self._started or self._redis is None:
            return
        self._restore_again = True
        if self._restorer is None or self._restorer.done():
            self._restorer = spawn(self._restore_while_asked(), name="presence-restore")

    async def _restore_while_asked(self) -> None:
        while self._restore_again and self._started:
            self._restore_again = False
            try:
                await self._restore()
            except REDIS_FAILURES as exc:
                self._go_local(exc, during="restore")  # the heartbeat retries
                return

    def _entries_lost(self) -> None:
        """A disconnect found this node's entry gone from Redis: restore the others at once."""
        pending = self._restorer is not None and not self._restorer.done()
        log.log(logging.DEBUG if pending else logging.WARNING,
                "presence: this node's connections were gone from Redis (Redis restarted empty, or this node"
                " was swept as dead); registering them again")
        self.restore_soon()

    # -- background --------------------------------------------------------------

    async def _every_interval(self, work: Any, what: str, jitter: bool = False) -> None:
        """Run ``work`` forever; a failure is logged and the loop goes on."""
        while True:
            delay = self._interval * (random.uniform(0.8, 1.2) if jitter else 1.0)
            await asyncio.sleep(delay)
            try:
                await work()
            except REDIS_FAILURES as exc:
                self._go_local(exc, during=what)
            except Exception:
                log.exception("presence %s failed", what)

    async def _beat(self) -> None:
        """Refresh this node's heartbeat; restore its entries if they may be gone."""
        if self._shared:
            alive = await self._scripts["heartbeat"](
                keys=[self._heartbeat_key(self.node_id), self._nodes_key], args=[self.node_id, self._ttl_ms]
            )
            if alive:
                return
            log.warning("presence: this node's heartbeat was gone from Redis (expired, swept, or Redis restarted"
                        " empty); registering its connections again")
        await self._restore()

    async def _restore(self) -> None:
        """Make Redis hold exactly this node's connections; announce what that changed."""
        async with self._gate.alone():
            args: list[str] = [self.node_id, str(self._ttl_ms), self._user_prefix]
            for sid, user_id in self._local.pairs():
                args += [sid, user_id]
            keys = [self._conns_key(self.node_id), self._heartbeat_key(self.node_id), self._nodes_key,
                    self._swept_key(self.node_id)]
            came, went = await self._scripts["restore"](keys=keys, args=args)
            self._shared = True
            recovered, self._outage = self._outage, False
            said_offline, self._said_offline = self._said_offline, set()
        if recovered:
            # Heartbeats may have expired in Redis during the outage while their nodes
            # lived on; give every node a full TTL to refresh its own before sweeping.
            self._sweep_after = asyncio.get_running_loop().time() + self._ttl_ms / 1000
            log.info("presence: Redis answers again; this node's connections (%d) are shared again",
                     len(self._local))
        came_ids, went_ids = [_text(u) for u in came], [_text(u) for u in went]
        wrongly_offline = await self.online(said_offline - set(came_ids)) if said_offline else set()
        if went_ids and self._on_lost is not None:
            await self._on_lost(went_ids)
        back = came_ids + sorted(wrongly_offline)
        if back and self._on_found is not None:
            await self._on_found(back)

    async def _sweep(self) -> None:
        """Remove the connections of nodes whose heartbeat expired; announce who went offline."""
        if not self._shared or self._redis is None or asyncio.get_running_loop().time() < self._sweep_after:
            return
        others = [n for n in map(_text, await self._redis.smembers(self._nodes_key)) if n != self.node_id]
        if not others:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for node in others:
                pipe.exists(self._heartbeat_key(node))
            alive = await pipe.execute()
        for node, is_alive in zip(others, alive):
            if is_alive:
                continue
            lost = await self._reap(node, force=False)
            log.log(logging.INFO if lost else logging.DEBUG,
                    "presence: node %s stopped its heartbeat; %d user(s) went offline with it", node, len(lost))
            if lost and self._on_lost is not None:
                await self._on_lost(lost)

    async def _reap(self, node_id: str, force: bool) -> list[str]:
        keys = [self._heartbeat_key(node_id), self._conns_key(node_id), self._nodes_key, self._swept_key(node_id)]
        args = [node_id, self._user_prefix, "1" if force else "0", self._ttl_ms]
        lost = await self._scripts["reap"](keys=keys, args=args)
        return [_text(u) for u in lost]

    def _go_local(self, exc: BaseException, during: str = "update") -> None:
        """Redis failed: answer from this node's connections until a restore succeeds (logged once)."""
        self._shared = False
        if self._outage:
            log.debug("presence %s: Redis still unreachable (%s)", during, exc)
            return
        self._outage = True
        log.warning("presence: Redis unreachable (%s); counting this node's connections only until it answers",
                    exc.__class__.__name__ + (f": {exc}" if str(exc) else ""))
