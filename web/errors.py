"""Errors of the web service: each carries its HTTP status (GridMap's own errors do too)."""

from __future__ import annotations

from gridmap.errors import GridMapError


class BadRequest(GridMapError):
    """A request that is malformed (bad JSON, missing or ill-typed parameter)."""

    http_status = 400


class Unauthorized(GridMapError):
    """No credentials, or credentials that are wrong or expired."""

    http_status = 401


class Forbidden(GridMapError):
    """Credentials whose role may not do this."""

    http_status = 403


class MethodNotAllowed(GridMapError):
    """A known path called with a method it does not take."""

    http_status = 405


class PayloadTooLarge(GridMapError):
    """A body larger than the service accepts."""

    http_status = 413


class Unavailable(GridMapError):
    """The store cannot be reached right now; the client should retry."""

    http_status = 503


def status_of(exc: BaseException) -> int:
    """Return the HTTP status an error maps to (500 for anything that is not a user error)."""
    return getattr(exc, "http_status", 500) if isinstance(exc, GridMapError) else 500
