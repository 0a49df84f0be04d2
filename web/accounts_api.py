"""Signing in and out, and the admin's management of users and API keys."""

from __future__ import annotations

from datetime import timedelta

from gridmap import accounts
from gridmap.errors import NotFoundError, ValidationError
from web.context import Context
from web.errors import Unauthorized
from web.http import Request, Response, Route, ok

#: The longest an API key may last (a century; longer times do not fit the stores' clocks).
MAX_DAYS = 36_525


def login(ctx: Context, req: Request) -> Response:
    """Sign a user in: ``{"name", "password"}`` -> a bearer token and its expiry."""
    body = req.json()
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise ValidationError("name and password are required strings", ["name", "password"])
    try:
        token, who, expires = accounts.sign_in(
            ctx.store, name, password, ttl=timedelta(hours=ctx.config.session_hours)
        )
    except ValidationError as exc:
        raise Unauthorized(str(exc)) from None
    return ok({"token": token, "name": who.name, "role": who.role, "expires_at": expires})


def logout(ctx: Context, req: Request) -> Response:
    """End the caller's session."""
    token = (req.header("Authorization") or "").partition(" ")[2].strip()
    accounts.sign_out(ctx.store, token)
    return Response(204, b"")


def me(ctx: Context, req: Request) -> Response:
    """Return who the caller is."""
    assert req.identity is not None  # the route needs a role
    return ok({"name": req.identity.name, "role": req.identity.role})


def list_accounts(ctx: Context, req: Request) -> Response:
    """List users and API keys (never their secrets)."""
    rows = ctx.store.records("accounts")
    return ok(
        [
            {
                "name": r["name"],
                "kind": r["kind"],
                "role": r["role"],
                "created_at": r["created_at"],
                "expires_at": r["expires_at"],
            }
            for r in rows
        ]
    )


def create_account(ctx: Context, req: Request) -> Response:
    """Create a user (``kind: user``, name, role, password) or an API key (``kind: key``, role)."""
    body = req.json()
    kind, role = body.get("kind", "user"), body.get("role")
    if not isinstance(role, str):
        raise ValidationError("role: required", ["role: required"])
    if kind == "key":
        days = body.get("days")
        if days is not None and (not isinstance(days, int | float) or not 0 < days <= MAX_DAYS):
            raise ValidationError(f"days: must be a number above 0, at most {MAX_DAYS}", ["days"])
        key = accounts.create_key(ctx.store, role, days=days)
        return ok({"kind": "key", "role": role, "key": key}, 201)
    if kind != "user":
        raise ValidationError(f"kind: {kind!r} is not user or key", ["kind"])
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise ValidationError("name and password are required strings", ["name", "password"])
    who = accounts.create_user(ctx.store, name, role, password)
    return ok({"kind": "user", "name": who.name, "role": who.role}, 201)


def delete_account(ctx: Context, req: Request, name: str) -> Response:
    """Delete a user or revoke an API key (and end the user's sessions)."""
    if not ctx.store.delete_records("accounts", {"name": name}):
        raise NotFoundError(f"no account {name!r}")
    ctx.store.delete_records("sessions", {"account": name})
    ctx.keys.forget(name)
    return Response(204, b"")


ROUTES = [
    Route("POST", "/api/login", login),
    Route("POST", "/api/logout", logout, ("citizen", "dispatcher", "planner", "official")),
    Route("GET", "/api/me", me, ("citizen", "dispatcher", "planner", "official")),
    Route("GET", "/api/accounts", list_accounts, ("admin",)),
    Route("POST", "/api/accounts", create_account, ("admin",)),
    Route("DELETE", "/api/accounts/<name>", delete_account, ("admin",)),
]
