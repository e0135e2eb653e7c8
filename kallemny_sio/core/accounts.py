"""Identities: registration, login, token authentication (own and trusted issuers), the token lifecycle."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from typing import Any, Awaitable, Callable, Protocol

from ..auth.passwords import Passwords
from ..auth.tokens import Tokens
from .clock import iso, now_ms
from ..errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from ..schemas import USERNAME_PATTERN, ChangePasswordRequest, LoginRequest, RegisterRequest
from ..storage.base import Store, UserRecord
from .views import user_view
from .limits import Guard
from .presence import Presence
from .revocations import Revocations

log = logging.getLogger(__name__)
BAD_CREDENTIALS = "invalid username or password"


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated user, as every core call receives it."""

    user_id: str
    username: str
    token_id: str | None = None  # the token's ``jti``, for a logout
    expires_at: int = 0  # the token's expiry (ms)
    generation: int = 0  # the user's token generation the token was minted under


class ExternalIdentity(Protocol):
    external_id: str
    name: str | None
    jti: str | None
    expires_at: int
    issued_at: int | None


class Verifier(Protocol):
    """A trusted issuer (the host application): see :mod:`kallemny_sio.auth.trusted`."""

    def names(self, token: object) -> bool: ...

    async def verify(self, token: object) -> Any: ...


class Accounts:
    """Users' identities: passwords, tokens, the host application's users."""

    def __init__(self, store: Store, passwords: Passwords, tokens: Tokens, presence: Presence, guard: Guard,
                 revocations: Revocations, trusted: Verifier | None = None) -> None:
        self._store = store
        self._passwords = passwords
        self._tokens = tokens
        self._presence = presence
        self._guard = guard
        self._revocations = revocations
        self._trusted = trusted
        self._user_updated: Callable[[UserRecord], Awaitable[None]] | None = None
        self._user_deleted: Callable[[str], Awaitable[None]] | None = None

    def on_user_changes(self, updated: Callable[[UserRecord], Awaitable[None]],
                        deleted: Callable[[str], Awaitable[None]]) -> None:
        """Who announces a changed user (``UserUpdated``) and ends a deleted one's memberships."""
        self._user_updated, self._user_deleted = updated, deleted

    async def register(self, req: RegisterRequest, address: str) -> dict[str, Any]:
        """Create a user and log them in.

        Raises:
            RateLimited: too many registrations from ``address`` (the client's).
            Conflict: the username is taken (any letter case).
        """
        await self._guard.before_register(address)
        password_hash = await self._passwords.hash(req.password, keys=self._fair_keys(address))
        user = await self._store.create_user(req.username, req.display_name or req.username, password_hash, now_ms())
        return await self._session(user)

    async def login(self, req: LoginRequest, address: str) -> dict[str, Any]:
        """Check a username and password; rehash the password if its parameters changed.

        Raises:
            RateLimited: too many failures from ``address`` or for the username (known
                or not, right password or not), or too many hashes in progress for either.
            Unauthorized: unknown user or wrong password (one message for both).
        """
        await self._guard.before_login(address, req.username)
        user = await self._store.get_user_by_username(req.username)
        keys = self._fair_keys(address, req.username)
        matches, needs_rehash = await self._passwords.verify((user.password_hash or None) if user else None, req.password,
                                                            keys)
        if user is None or not matches:
            await self._guard.login_failed(address, req.username)
            raise Unauthorized(BAD_CREDENTIALS)
        await self._guard.login_succeeded(req.username)
        if needs_rehash:
            await self._store.set_password_hash(user.id, await self._passwords.hash(req.password))
        return await self._session(user)

    def _fair_keys(self, address: str, username: str | None = None) -> tuple[str, ...]:
        """On whose behalf a hash runs, so that no one address or account holds more than its share."""
        if not self._guard.enabled:
            return ()
        return (f"addr:{address}",) + ((f"user:{username.lower()}",) if username else ())

    async def authenticate(self, token: object) -> Caller:
        """The caller a token names: one of ours, or one of the host application's (a trusted issuer).

        Raises:
            Unauthorized: missing, malformed, expired, forged or revoked token, or a deleted user.
        """
        if self._trusted is not None and self._trusted.names(token):
            return await self._authenticate_external(token)
        claims = self._tokens.verify(token)
        if claims is None or self._revocations.is_revoked(claims.token_id):
            raise Unauthorized("missing or invalid access token")
        users = await self._store.get_users([claims.user_id])
        # A token is bound to the user it was minted for, not only to an id a new
        # database may reuse, and to the user's current token generation.
        user = users[0] if users else None
        if (user is None or user.deleted_at is not None or user.created_at != claims.user_created_at
                or user.token_generation != claims.generation):
            raise Unauthorized("missing or invalid access token")
        return Caller(user.id, user.username, claims.token_id, claims.expires_at, claims.generation)

    async def _authenticate_external(self, token: object) -> Caller:
        """A token of the host application: its user, created on first use, display name kept in step with ``name``."""
        assert self._trusted is not None
        identity = await self._trusted.verify(token)
        # A token without jti is named by its digest, so that a logout can still refuse it.
        token_id = identity.jti if identity is not None and identity.jti else _digest(token)
        if identity is None or self._revocations.is_revoked(token_id):
            raise Unauthorized("missing or invalid access token")
        deleted_at = await self._store.external_id_deleted_at(identity.external_id)
        issued_at = identity.issued_at
        if deleted_at is not None and (issued_at is None or issued_at <= deleted_at):
            raise Unauthorized("missing or invalid access token")  # minted for an account since deleted
        user = await self._external_user(identity.external_id, identity.name, None)
        return Caller(user.id, user.username, token_id, identity.expires_at, user.token_generation)

    async def _external_user(self, external_id: str, display_name: str | None,
                             username: str | None) -> UserRecord:
        """The host application's user ``external_id``, created or updated to the given names."""
        user = await self._store.get_user_by_external_id(external_id)
        if user is None:
            try:
                return await self._store.create_external_user(
                    external_id, username or await self._free_username(external_id), display_name or external_id[:64],
                    now_ms())
            except Conflict:
                if username is not None:
                    raise
                user = await self._store.get_user_by_external_id(external_id)  # created concurrently
                if user is None:
                    raise
        changes = {k: v for k, v in (("display_name", display_name), ("username", username))
                   if v is not None and v != getattr(user, k)}
        if changes:
            updated = await self._store.update_user(user.id, **changes)
            if updated is not None:
                user = updated
                await self._announce(user)
        return user

    async def _free_username(self, external_id: str) -> str:
        """A username for a new user of the host application: its id if usable and free, else one derived from it."""
        if 3 <= len(external_id) <= 32 and re.fullmatch(USERNAME_PATTERN, external_id):
            if await self._store.get_user_by_username(external_id) is None:
                return external_id
        digest = hashlib.sha256(external_id.encode()).hexdigest()
        base = re.sub(r"[^A-Za-z0-9_.\-]", "", external_id)[:18] or "user"
        return f"{base}-{digest[:12]}"

    # -- own accounts (contract section 8) ------------------------------------

    async def me(self, caller: Caller) -> dict[str, Any]:
        """The caller as a User."""
        return await self._view(await self._user(caller.user_id))

    async def update_me(self, caller: Caller, display_name: str) -> dict[str, Any]:
        """Change the caller's display name; their rooms' members get ``UserUpdated``."""
        user = await self._store.update_user(caller.user_id, display_name=display_name)
        if user is None:
            raise Unauthorized("missing or invalid access token")
        await self._announce(user)
        return await self._view(user)

    async def logout(self, caller: Caller) -> None:
        """Refuse the presented token from now on, everywhere; end the connections opened with it."""
        if caller.token_id is not None:
            await self._revocations.revoke_token(caller.user_id, caller.token_id, caller.expires_at)
        else:  # a token without an id can only be refused with all the user's tokens
            await self._revocations.end_sessions(caller.user_id)

    async def change_password(self, caller: Caller, req: ChangePasswordRequest, address: str) -> dict[str, Any]:
        """Check the current password, set the new one, refuse every older token; a new session.

        Raises:
            Forbidden: the current password is wrong (the token stays valid).
            RateLimited: too many wrong current passwords for this account or address.
        """
        user = await self._user(caller.user_id)
        await self._check_password(user, req.current_password, address, "currentPassword")
        new_hash = await self._passwords.hash(req.new_password, keys=self._fair_keys(address, user.username))
        generation = await self._store.bump_token_generation(user.id, new_hash)
        await self._revocations.end_sessions(user.id, below_generation=generation)
        return await self._session(dataclasses.replace(user, token_generation=generation))

    async def delete_me(self, caller: Caller, password: str, address: str) -> None:
        """Delete the caller's account (its password confirms it)."""
        user = await self._user(caller.user_id)
        await self._check_password(user, password, address, "password")
        await self.delete_user(user)

    async def _check_password(self, user: UserRecord, password: str, address: str, field: str) -> None:
        await self._guard.before_login(address, user.username)
        matches, _ = await self._passwords.verify(user.password_hash or None, password,
                                                  self._fair_keys(address, user.username))
        if not matches:
            await self._guard.login_failed(address, user.username)
            raise Forbidden(f"{field}: wrong password")

    async def delete_user(self, user: UserRecord) -> None:
        """End the user's memberships, free the username, refuse its tokens, disconnect it everywhere."""
        if self._user_deleted is not None:
            await self._user_deleted(user.id)
        await self._store.delete_user(user.id, now_ms())
        await self._revocations.end_sessions(user.id)

    # -- the server API's users (contract section 8) --------------------------

    async def put_external_user(self, external_id: str, display_name: str | None,
                                username: str | None) -> tuple[dict[str, Any], bool]:
        """Create or update the host application's user; ``(user, created)``.

        Raises:
            Conflict: the username is taken.
        """
        existed = await self._store.get_user_by_external_id(external_id) is not None
        user = await self._external_user(external_id, display_name, username)
        return await self._view(user), not existed

    async def external_user(self, external_id: str) -> UserRecord:
        """The host application's user.

        Raises:
            NotFound: unknown external id.
        """
        user = await self._store.get_user_by_external_id(external_id)
        if user is None:
            raise NotFound("externalId: no such user")
        return user

    async def external_users(self, external_ids: list[str]) -> list[str]:
        """Kallemny ids of the host application's users, in order.

        Raises:
            Invalid: an unknown external id (naming it).
        """
        out = []
        for external_id in external_ids:
            user = await self._store.get_user_by_external_id(external_id)
            if user is None:
                raise Invalid(f"userIds: unknown externalId {external_id!r}", details={"unknown": [external_id]})
            out.append(user.id)
        return out

    async def token_for(self, external_id: str, expires_in_minutes: int | None) -> dict[str, Any]:
        """A Kallemny token for the host application's user (for apps that let Kallemny sign)."""
        user = await self.external_user(external_id)
        issued = self._tokens.issue(user.id, user.created_at, now_ms(), user.token_generation, expires_in_minutes)
        return {"token": issued.token, "expiresAt": iso(issued.expires_at)}

    async def _user(self, user_id: str) -> UserRecord:
        users = await self._store.get_users([user_id])
        if not users or users[0].deleted_at is not None:
            raise Unauthorized("missing or invalid access token")
        return users[0]

    async def _view(self, user: UserRecord) -> dict[str, Any]:
        online = await self._presence.online([user.id])
        return user_view(user, user.id in online)

    async def _announce(self, user: UserRecord) -> None:
        if self._user_updated is not None:
            await self._user_updated(user)

    async def _session(self, user: UserRecord) -> dict[str, Any]:
        issued = self._tokens.issue(user.id, user.created_at, now_ms(), user.token_generation)
        online = await self._presence.online([user.id])
        return {"token": issued.token, "expiresAt": iso(issued.expires_at), "user": user_view(user, user.id in online)}


def _digest(token: object) -> str:
    return "sha256:" + hashlib.sha256(str(token).encode()).hexdigest()
