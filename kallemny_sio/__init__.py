"""Kallemny: a real-time chat server (REST + Socket.IO).

The map of the house, one line per folder (data flows down: adapters call the
core, the core calls storage, delivery and presence through interfaces):

- ``rest/``: aiohttp routes: parse, authenticate, call the core, shape JSON.
- ``handlers/``: the ``/chat`` Socket.IO namespace, one handler per client→server event.
- ``core/``: the chat rules, one module per aggregate (accounts, chat, messages, room admin,
  safety, membership, permissions, presence, typing, delivery port, views, clock); imports
  neither aiohttp nor socketio.
- ``auth/``: passwords (Argon2id) and tokens (JWT).
- ``storage/``: the store interface (``base.py``) and its backends, ``sqlite/`` and ``mongo/``.
- ``cluster/``: one node or several: the backplane interface, its one-node default,
  the Redis link and shared presence.
- ``transport/``: the Socket.IO stack as Kallemny runs it (``create_sio``, the tuned
  WebSocket transport, packet class, JSON shim, fan-out); with ``cluster/redis_link.py``,
  the only code that knows library internals.
- ``web/``: the browser chat client served at ``/`` (static files: plain JavaScript modules,
  a stylesheet and the socket.io-client bundle; no build step), by ``rest/web_client.py``.
- ``metrics/``: Prometheus metrics (``METRICS=1``): a no-op object when off, counters kept
  on the event loop and exposed through prometheus-client when on, and the timed store.

At the top: ``app.py`` (wiring), ``config.py`` (settings), ``errors.py`` (domain
errors and their HTTP / ack mapping), ``schemas.py`` (declared shapes), ``keys.py``
(typed application keys), ``__main__.py`` (command line).
"""

__version__ = "0.1.0"
