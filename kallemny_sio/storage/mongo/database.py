"""What every part of the MongoDB store shares: the open database, its collections, the room slots."""

from __future__ import annotations

import asyncio
import logging
import random

from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from ...errors import Unavailable
from .driver import Doc, is_unreachable
from .room_slots import RoomSlots

log = logging.getLogger(__name__)

#: How long a writer keeps trying for a free position in its room (only writers
#: on other nodes compete: those on this node queue on a per-room lock)...
POSITION_DEADLINE_SECONDS = 10.0
#: ...and how long a writer queues on that lock before going ahead without it.
ROOM_LOCK_WAIT_SECONDS = 10.0


class Database:
    """The base of the store's parts: collections by name, and what they share."""

    def __init__(self) -> None:
        self._client: AsyncMongoClient[Doc] | None = None
        self._db: AsyncDatabase[Doc] | None = None
        self._room_slots = RoomSlots()

    def _database(self) -> AsyncDatabase[Doc]:
        if self._db is None:
            raise Unavailable("database unavailable")
        return self._db

    @property
    def _users(self) -> AsyncCollection[Doc]:
        return self._database().users

    @property
    def _rooms(self) -> AsyncCollection[Doc]:
        return self._database().rooms

    @property
    def _memberships(self) -> AsyncCollection[Doc]:
        return self._database().memberships

    @property
    def _messages(self) -> AsyncCollection[Doc]:
        return self._database().messages

    @property
    def _changes(self) -> AsyncCollection[Doc]:
        return self._database().changes

    @property
    def _bans(self) -> AsyncCollection[Doc]:
        return self._database().bans

    @property
    def _blocks(self) -> AsyncCollection[Doc]:
        return self._database().blocks

    @property
    def _reports(self) -> AsyncCollection[Doc]:
        return self._database().reports

    async def _latest_message(self, room: ObjectId) -> Doc | None:
        """The ``_id`` and ``seq`` of the room's last message in history."""
        return await self._messages.find_one({"room": room}, {"seq": 1}, sort=[("seq", -1)])


class PositionRace:
    """Retry pacing for a writer whose position another node took: a short random back-off, then a deadline."""

    def __init__(self) -> None:
        self._deadline = asyncio.get_running_loop().time() + POSITION_DEADLINE_SECONDS
        self._attempt = 0

    async def lost(self) -> None:
        """Back off before the next attempt.

        Raises:
            Unavailable: no free position could be taken for ``POSITION_DEADLINE_SECONDS``.
        """
        self._attempt += 1
        if asyncio.get_running_loop().time() > self._deadline:
            raise Unavailable("database unavailable")
        await asyncio.sleep(random.uniform(0, 0.002 * min(self._attempt, 25)))


def tolerable(exc: BaseException, what: str) -> bool:
    """Whether a follow-up write that failed with ``exc`` may be left for later (logged if so).

    Once a message or a change is committed, the writes that only bring copies
    up to date (a room's last message, a read pointer) must not fail the call:
    an error would make the client retry, find nothing left to do, and no
    member would ever be told. They are completed later (see
    :mod:`.change_log`). A failure that is not an outage is a bug and is raised.
    """
    if isinstance(exc, Unavailable) or (isinstance(exc, PyMongoError) and is_unreachable(exc)):
        log.warning("%s is stored; the rest is left for later: %s", what, type(exc).__name__)
        return True
    return False
