"""Blocks between users and reports of messages (contract section 7)."""

from __future__ import annotations

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ...errors import NotFound
from ..base import ReportRecord
from .database import Database, PositionRace
from .documents import oid, report_record
from .driver import Doc, guarded


def _report_key(value: str | None) -> int | None:
    """A report id as the integer ``_id`` it spells (only its own spelling: ``"01"`` is not ``"1"``)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19 and value[0] != "0":
        return int(value)
    return None


async def blocked_either_way(blocks: AsyncCollection[Doc], a: ObjectId, b: ObjectId) -> bool:
    """Whether ``a`` blocked ``b`` or ``b`` blocked ``a``: one range of the unique (blocker, blocked) index.

    (``$or`` of the two exact pairs would be as cheap on MongoDB, but the
    MongoDB-compatible test server scans the collection for each clause.)
    """
    pairs = {(a, b), (b, a)}
    query = {"blocker": {"$in": [a, b]}, "blocked": {"$in": [a, b]}}
    found = await blocks.find(query, {"_id": 0, "blocker": 1, "blocked": 1}).to_list()
    return any((doc["blocker"], doc["blocked"]) in pairs for doc in found)


class SafetyPart(Database):
    """Who blocked whom, and reports kept for the operator."""

    @guarded
    async def set_block(self, blocker_id: str, blocked_id: str, blocking: bool, at: int) -> None:
        """Start or end a block (idempotent: the unique (blocker, blocked) index keeps one per pair)."""
        blocker, blocked = oid(blocker_id), oid(blocked_id)
        if blocker is None or blocked is None:
            return
        pair = {"blocker": blocker, "blocked": blocked}
        if not blocking:
            await self._blocks.delete_one(pair)
            return
        try:
            await self._blocks.update_one(pair, {"$setOnInsert": {"created_at": at}}, upsert=True)
        except DuplicateKeyError:  # a concurrent block of the same pair won: it is there
            pass

    @guarded
    async def blocked_ids(self, blocker_id: str) -> list[str]:
        """The users ``blocker_id`` has blocked, oldest block first."""
        blocker = oid(blocker_id)
        if blocker is None:
            return []
        docs = await self._blocks.find({"blocker": blocker}, {"blocked": 1, "created_at": 1}).to_list()
        docs.sort(key=lambda doc: (int(doc["created_at"]), str(doc["blocked"])))
        return [str(doc["blocked"]) for doc in docs]

    @guarded
    async def blocked_between(self, user_a: str, user_b: str) -> bool:
        """Whether either user has blocked the other."""
        a, b = oid(user_a), oid(user_b)
        if a is None or b is None:
            return False
        return await blocked_either_way(self._blocks, a, b)

    @guarded
    async def add_report(
        self, room_id: str, message_id: str, reporter_id: str, reason: str, message: str, at: int
    ) -> str:
        """Keep a report; its id is the next integer after the highest stored.

        Ids follow the rule of history positions (see :mod:`.messages`): the
        unique ``_id`` refuses a taken one and the writer takes the next, so
        ids are dense and a report becomes visible only after every lower
        one. An operator paging with ``after`` never skips one, which ObjectIds
        made on two nodes within one second could not promise.

        Raises:
            NotFound: an id is not one this store could have made.
        """
        room, msg, reporter = oid(room_id), oid(message_id), oid(reporter_id)
        if room is None or msg is None or reporter is None:
            raise NotFound("message not found")
        doc = {"room": room, "message": msg, "reporter": reporter, "reason": reason, "created_at": at,
               "message_json": message}
        race: PositionRace | None = None
        while True:
            latest = await self._reports.find_one({}, {"_id": 1}, sort=[("_id", -1)])
            doc["_id"] = int(latest["_id"]) + 1 if latest else 1
            try:
                await self._reports.insert_one(doc)
            except DuplicateKeyError:
                race = race or PositionRace()
                await race.lost()
                continue
            return str(doc["_id"])

    @guarded
    async def list_reports(self, after: str | None, limit: int) -> tuple[list[ReportRecord], bool]:
        """Reports in the order they were made, after report id ``after``; and whether more follow."""
        start = 0 if after is None else _report_key(after)
        if start is None:
            return [], False
        limit = max(limit, 0)
        docs = await self._reports.find({"_id": {"$gt": start}}).sort("_id", 1).limit(limit + 1).to_list()
        return [report_record(doc) for doc in docs[:limit]], len(docs) > limit

