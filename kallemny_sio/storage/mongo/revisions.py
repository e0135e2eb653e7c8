"""What each change does to a message's state: pure functions, no database.

A state is a message document (:mod:`.documents`); reactions are
``[{"emoji", "count", "users"}]`` in the order each emoji was first used.
Each function returns a :class:`Revision`: the new state, or why there is
none (nothing would differ, or the change is refused). The caller commits the
new state through the change log, and on a concurrent change calls the
function again on the newer state.
"""

from __future__ import annotations

import dataclasses

from bson import ObjectId

from .driver import Doc

DELETED = "deleted"
TOO_MANY_EMOJI = "too_many_emoji"


@dataclasses.dataclass(slots=True, frozen=True)
class Revision:
    """A message's next state (``None``: no change), or the reason it is refused."""

    state: Doc | None = None
    refused: str | None = None


UNCHANGED = Revision()


def _is_tombstone(state: Doc) -> bool:
    return state.get("deleted_at") is not None


def edited(state: Doc, content: str | None, custom_data: str | None, set_custom_data: bool, at: int) -> Revision:
    """Replace the content (unless ``None``) and the custom data (when ``set_custom_data``)."""
    if _is_tombstone(state):
        return Revision(refused=DELETED)
    before = (state["content"], state.get("custom_data"))
    after = (before[0] if content is None else content, custom_data if set_custom_data else before[1])
    if after == before:
        return UNCHANGED
    return Revision({**state, "content": after[0], "custom_data": after[1], "edited_at": at, "updated_at": at})


def deleted(state: Doc, at: int) -> Revision:
    """The tombstone: no content, custom data, reactions or mentions; a tombstone stays as it is."""
    if _is_tombstone(state):
        return UNCHANGED
    empty = {"content": "", "custom_data": None, "reactions": [], "mentions": []}
    return Revision({**state, **empty, "deleted_at": at, "updated_at": at})


def reacted(state: Doc, user: ObjectId, emoji: str, at: int, max_emoji: int) -> Revision:
    """Add ``user``'s ``emoji``; a new emoji beyond ``max_emoji`` distinct ones is refused."""
    if _is_tombstone(state):
        return Revision(refused=DELETED)
    reactions = state.get("reactions", [])
    entry = next((r for r in reactions if r["emoji"] == emoji), None)
    if entry is None:
        if len(reactions) >= max_emoji:
            return Revision(refused=TOO_MANY_EMOJI)
        return _with_reactions(state, [*reactions, _reaction(emoji, [user])], at)
    if user in entry["users"]:
        return UNCHANGED
    grown = _reaction(emoji, [*entry["users"], user])
    return _with_reactions(state, [grown if r is entry else r for r in reactions], at)


def unreacted(state: Doc, user: ObjectId, emoji: str, at: int) -> Revision:
    """Withdraw ``user``'s ``emoji``; an emoji nobody is left reacting with goes."""
    if _is_tombstone(state):
        return Revision(refused=DELETED)
    reactions = state.get("reactions", [])
    entry = next((r for r in reactions if r["emoji"] == emoji), None)
    if entry is None or user not in entry["users"]:
        return UNCHANGED
    users = [u for u in entry["users"] if u != user]
    shrunk = [_reaction(emoji, users)] if users else []
    return _with_reactions(state, [x for r in reactions for x in (shrunk if r is entry else [r])], at)


def _reaction(emoji: str, users: list[ObjectId]) -> Doc:
    return {"emoji": emoji, "count": len(users), "users": users}


def _with_reactions(state: Doc, reactions: list[Doc], at: int) -> Revision:
    return Revision({**state, "reactions": reactions, "updated_at": at})
