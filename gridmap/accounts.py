"""Accounts of the web service: users with hashed passwords, API keys, signed-in sessions.

Passwords are hashed with scrypt and a random salt; API keys and session tokens are random
secrets stored only as their SHA-256 (they carry enough entropy that a slow hash adds nothing,
and a lookup by digest keeps every request cheap). A key reads ``gm_<name>_<secret>``: its
``gm_<name>`` part names the account, the whole is the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from gridmap.errors import ValidationError
from gridmap.model import ROLES
from gridmap.stores.base import Store

#: How long a sign-in lasts unless the service is configured otherwise.
SESSION_TTL = timedelta(hours=12)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 8


@dataclass(frozen=True)
class Identity:
    """Who is calling: an account name, its role, and whether it is a ``user`` or an API ``key``."""

    name: str
    role: str
    kind: str = "user"


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    """Return ``scrypt$n$r$p$salt$hash`` for a password (hex salt and hash)."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${key.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Return whether ``password`` matches a hash from :func:`hash_password`."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    found = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(found.hex(), key)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationError(f"role {role!r} is not one of: {', '.join(ROLES)}")


def create_user(store: Store, name: str, role: str, password: str) -> Identity:
    """Add a user who signs in with ``password``.

    Raises
    ------
    ValidationError
        If the role is unknown, the name is blank or the password shorter than 8 characters.
    ConflictError
        If the name is taken.
    """
    _check_role(role)
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"password: use at least {MIN_PASSWORD} characters")
    if not name.strip() or name.startswith("gm_"):
        raise ValidationError("name: give a user name that does not start with gm_")
    store.add_record(
        "accounts",
        {
            "name": name.strip(),
            "kind": "user",
            "role": role,
            "secret": hash_password(password),
            "created_at": _now(),
        },
    )
    return Identity(name.strip(), role)


def create_key(store: Store, role: str = "citizen", *, days: float | None = None) -> str:
    """Add an API key for ``role`` and return it (it is shown once: only its hash is kept)."""
    _check_role(role)
    name = f"gm_{secrets.token_hex(4)}"
    key = f"{name}_{secrets.token_urlsafe(24)}"
    expires = None if days is None else _now() + pd.Timedelta(days=days)
    store.add_record(
        "accounts",
        {
            "name": name,
            "kind": "key",
            "role": role,
            "secret": _digest(key),
            "created_at": _now(),
            "expires_at": expires,
        },
    )
    return key


def identify_key(store: Store, key: str) -> Identity | None:
    """Return who an API key belongs to, or None when it is unknown, revoked or expired."""
    name = "_".join(key.split("_")[:2]) if key.startswith("gm_") else ""
    found = store.records("accounts", {"name": name, "kind": "key"}, limit=1) if name else []
    if not found or not hmac.compare_digest(found[0]["secret"], _digest(key)):
        return None
    if found[0]["expires_at"] is not None and found[0]["expires_at"] <= _now():
        return None
    return Identity(found[0]["name"], found[0]["role"], "key")


def sign_in(
    store: Store, name: str, password: str, *, ttl: timedelta = SESSION_TTL
) -> tuple[str, Identity, pd.Timestamp]:
    """Check a user's password and open a session; return its bearer token.

    Raises
    ------
    ValidationError
        If the name or password is wrong (one message for both).
    """
    found = store.records("accounts", {"name": name, "kind": "user"}, limit=1)
    if not found or not check_password(password, found[0]["secret"]):
        raise ValidationError("wrong user name or password")
    token = f"gms_{secrets.token_urlsafe(32)}"
    expires = _now() + pd.Timedelta(ttl)
    account = found[0]
    store.add_record(
        "sessions",
        {"token": _digest(token), "account": name, "role": account["role"], "expires_at": expires},
    )
    return token, Identity(name, account["role"]), expires


def identify_token(store: Store, token: str) -> Identity | None:
    """Return who a session token belongs to, or None when unknown or expired."""
    found = store.records("sessions", {"token": _digest(token)}, limit=1)
    if not found or found[0]["expires_at"] <= _now():
        return None
    return Identity(found[0]["account"], found[0]["role"])


def sign_out(store: Store, token: str) -> None:
    """End a session (and drop every expired one)."""
    store.delete_records("sessions", {"token": _digest(token)})
    store.delete_records("sessions", {"expires_at": slice(None, _now())})
