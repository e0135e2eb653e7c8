"""The MongoDB store, on pymongo's native asyncio client (``AsyncMongoClient``).

:class:`MongoStore` is one class assembled from one part per aggregate, each
in a module of its own: :mod:`.users` and :mod:`.accounts` (the host application's users, the
token lifecycle), :mod:`.rooms` (rooms, memberships and
the room list) on top of :mod:`.lifecycle` (joining, leaving, owner
hand-over and deleting an emptied group, without transactions),
:mod:`.room_admin` (settings, roles, mutes, bans, deletion), :mod:`.safety`
(blocks, reports), :mod:`.messages` (sending in order, history, read pointers,
mentions), :mod:`.edits` (edits, deletions, reactions) on top of
:mod:`.change_log` (change positions and the change feed). :mod:`.documents`
describes the collections, :mod:`.schema` their indexes and migrations,
:mod:`.driver` the client and the driver's errors.

No operation needs a transaction, so a standalone server, a replica set and
Atlas (``mongodb+srv://``) all work: the unique indexes carry every ordering
and no-lost-update guarantee (see :mod:`.messages` and :mod:`.change_log`),
and rules spanning documents are protocols safe under concurrency (see
:mod:`.lifecycle`).
Every driver error becomes a domain error
(:class:`~kallemny_sio.errors.Unavailable` when the database cannot be
reached) without the driver's text; no driver type leaves this package.
"""

from __future__ import annotations

import pymongo

from ..base import Store
from .driver import guarded, new_client, open_error, write_concern
from .accounts import AccountsPart
from .edits import EditsPart
from .room_admin import RoomAdminPart
from .safety import SafetyPart
from .schema import prepare
from .users import UsersPart

DEFAULT_DATABASE = "kallemny"

PING_TIMEOUT_SECONDS = 2.0


class MongoStore(AccountsPart, UsersPart, RoomAdminPart, SafetyPart, EditsPart, Store):
    """The storage interface on MongoDB (a standalone server, a replica set or Atlas)."""

    def __init__(self, database_url: str) -> None:
        """Remember the URL; nothing connects before :meth:`open`.

        Args:
            database_url: a ``mongodb://`` or ``mongodb+srv://`` URL. Its path names
                the database (default ``kallemny``); its options override ours.
        """
        super().__init__()
        self._url = database_url

    async def open(self) -> None:
        """Connect, check the server answers, create the indexes and migrate older documents (idempotent).

        Raises:
            Unavailable: the URL is unusable or the server cannot be reached; the
                message names ``DATABASE_URL`` and never carries driver text.
        """
        if self._db is not None:
            return
        client = new_client(self._url)
        try:
            db = client.get_default_database(DEFAULT_DATABASE, write_concern=write_concern(client))
            await db.command("ping")
            await prepare(db)
        except BaseException as exc:
            await client.close()
            error = open_error(exc)
            if error is exc:
                raise
            raise error from None
        self._client, self._db = client, db

    async def close(self) -> None:
        """Close the client; safe to call twice."""
        client, self._client, self._db = self._client, None, None
        if client is not None:
            await client.close()

    @guarded
    async def ping(self) -> None:
        """Return when the server answers a ``ping`` within a couple of seconds.

        Raises:
            Unavailable: it does not.
        """
        with pymongo.timeout(PING_TIMEOUT_SECONDS):
            await self._database().command("ping")
