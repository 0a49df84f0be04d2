"""Who may call what: credentials from a request, and the role check.

A request identifies itself with ``Authorization: Bearer <token>`` (a signed-in user's session,
or an API key) or, for Open311 clients, an ``api_key`` parameter. Admins may call everything.

An Open311 client posts many reports with one key, so a key found good is remembered for a few
seconds (by its hash, see :class:`KeyCache`): a key revoked through this service stops working at
once, one revoked from another process (``gridmap keys revoke``) within that time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping

from gridmap.accounts import Identity, identify_key, identify_token
from gridmap.stores.base import Store
from web.errors import Forbidden, Unauthorized

__all__ = ["STAFF", "Identity", "KeyCache", "identify", "require"]

#: Roles of people working in the city's service (everyone but anonymous citizens).
STAFF = ("dispatcher", "planner", "official", "admin")


class KeyCache:
    """API keys recently found good, each with who it belongs to, believed for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._known: dict[bytes, tuple[Identity, float]] = {}
        self._lock = threading.Lock()

    def identify(self, store: Store, key: str) -> Identity | None:
        """Return who ``key`` belongs to, from memory when it was found good moments ago."""
        digest = hashlib.sha256(key.encode()).digest()
        now = time.monotonic()
        known = self._known.get(digest)
        if known is not None and known[1] > now:
            return known[0]
        who = identify_key(store, key)
        with self._lock:
            if who is None:
                self._known.pop(digest, None)
            else:
                self._known = {d: k for d, k in self._known.items() if k[1] > now}
                self._known[digest] = (who, now + self._seconds)
        return who

    def forget(self, name: str) -> None:
        """Stop believing the keys of account ``name`` (it was revoked)."""
        with self._lock:
            self._known = {d: k for d, k in self._known.items() if k[0].name != name}


def identify(
    store: Store, headers: Mapping[str, str], api_key: str | None, keys: KeyCache
) -> Identity | None:
    """Return who the credentials of a request belong to (None when there are none).

    Raises
    ------
    Unauthorized
        If a bearer token is given but unknown, revoked or expired.
    Forbidden
        If an ``api_key`` is given but unknown, revoked or expired.
    """
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if auth:
        scheme, _, secret = auth.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("use Authorization: Bearer <token or API key>")
        secret = secret.strip()
        who = keys.identify(store, secret) if secret.startswith("gm_") else None
        who = who or identify_token(store, secret)
        if who is None:
            raise Unauthorized("the token is unknown or has expired; sign in again")
        return who
    if api_key:
        who = keys.identify(store, api_key)
        if who is None:  # Open311: a wrong key is 403
            raise Forbidden("Invalid api_key received -- can't proceed with create_request.")
        return who
    return None


def require(identity: Identity | None, roles: tuple[str, ...] | None) -> None:
    """Raise unless ``identity`` may call an endpoint open to ``roles`` (None: anyone).

    Raises
    ------
    Unauthorized
        If the endpoint needs credentials and none were given.
    Forbidden
        If the caller's role is not allowed.
    """
    if roles is None:
        return
    if identity is None:
        raise Unauthorized("sign in first (Authorization: Bearer <token>)")
    if identity.role != "admin" and identity.role not in roles:
        raise Forbidden(
            f"the {identity.role} role may not do this (allowed: {', '.join(roles)}, admin)"
        )
