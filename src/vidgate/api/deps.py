"""Request dependencies: the gateway, the caller's API key, the admin token."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request

from vidgate.clock import utcnow
from vidgate.errors import Forbidden, Unauthorized
from vidgate.gateway import Gateway
from vidgate.store import accounts as accounts_store
from vidgate.store.accounts import KeyIdentity, hash_secret


def gateway(request: Request) -> Gateway:
    return request.app.state.gateway


@dataclass
class _Cached:
    identity: KeyIdentity | None
    at: float


class AuthCache:
    """Key lookups cached briefly (keyed by the key's digest, never the key) to keep reads fast.

    Revoking a key or changing an account's status through this process clears the cache at once;
    other instances see it within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 5.0, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, _Cached] = {}
        self._last_used: dict[str, float] = {}

    def get(self, digest: str) -> _Cached | None:
        hit = self._entries.get(digest)
        if hit is not None and time.monotonic() - hit.at < self.ttl:
            return hit
        return None

    def put(self, digest: str, identity: KeyIdentity | None) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[digest] = _Cached(identity, time.monotonic())

    def clear(self) -> None:
        self._entries.clear()

    def due_for_touch(self, key_id: str, every: float = 60.0) -> bool:
        now = time.monotonic()
        if now - self._last_used.get(key_id, -1e9) < every:
            return False
        self._last_used[key_id] = now
        return True


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def api_key(request: Request) -> KeyIdentity:
    """Authenticate the Bearer API key, then apply the per-key rate limit."""
    token = _bearer(request)
    if token is None:
        raise Unauthorized("API key required: send Authorization: Bearer YOUR_API_KEY", code="missing_api_key")
    gw = gateway(request)
    cache: AuthCache = request.app.state.auth_cache
    digest = hash_secret(token)
    hit = cache.get(digest)
    if hit is None:
        identity = await accounts_store.lookup_key(gw.db, token)
        cache.put(digest, identity)
    else:
        identity = hit.identity
    if identity is None or identity.state == "revoked":
        raise Unauthorized("Invalid API key", code="invalid_api_key")
    if identity.account_status != "approved":
        raise Forbidden("API access not approved for this account", code="access_not_approved")
    gw.limiter.hit(identity.key_id, identity.rate_limit_rpm or gw.settings.rate_limit_rpm)
    if cache.due_for_touch(identity.key_id):
        async with gw.db.write() as conn:
            await accounts_store.mark_key_used(conn, identity.key_id, utcnow())
    request.state.identity = identity
    return identity


async def admin(request: Request) -> None:
    token = _bearer(request)
    if token is None:
        raise Unauthorized("Admin token required: send Authorization: Bearer ADMIN_TOKEN", code="missing_api_key")
    gw = gateway(request)
    async with gw.db.read() as conn:
        if not await accounts_store.admin_token_valid(conn, token):
            raise Unauthorized("Invalid admin token", code="invalid_admin_token")
