"""Connections to a PostgreSQL server: URL checks, session settings and readable errors."""

from __future__ import annotations

import re

import psycopg
from psycopg import errors as pgerr

from gridmap.errors import ConflictError, GridMapError, StoreError, ValidationError

CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "gridmap"
#: Every GridMap session reads and writes instants in UTC (stored as timestamptz) and runs
#: without JIT (its compile time dwarfs the short queries of a store).
SESSION_SETTINGS = (("TimeZone", "UTC"), ("jit", "off"))


def redact(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    url = re.sub(r"(://[^:/?#@]*:)[^@/?#]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", url)


def failure_reason(exc: psycopg.Error) -> str:
    """Return why a connection attempt failed, on one line (libpq's message, no prefix)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines).removeprefix("connection failed: ") or type(exc).__name__


def configure(con: psycopg.Connection) -> None:
    """Apply :data:`SESSION_SETTINGS` to a new connection (left idle, outside a transaction)."""
    for name, value in SESSION_SETTINGS:
        con.execute("SELECT set_config(%s, %s, false)", (name, value))
    con.commit()


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection:
    """Open one configured connection to ``url``.

    Raises
    ------
    StoreError
        If the server cannot be reached or refuses the connection; the message says why.
    """
    try:
        con = psycopg.connect(
            url, connect_timeout=CONNECT_TIMEOUT_S, application_name=APPLICATION_NAME
        )
    except psycopg.Error as exc:
        reason = failure_reason(exc)
        raise StoreError(f"cannot connect to PostgreSQL at {redact(url)}: {reason}") from None
    try:
        configure(con)
    except psycopg.Error as exc:
        con.close()
        raise StoreError(f"cannot use PostgreSQL at {redact(url)}: {exc}") from None
    con.autocommit = autocommit
    return con


_CONFLICTS = (
    pgerr.UniqueViolation,
    pgerr.ExclusionViolation,
    pgerr.LockNotAvailable,
    pgerr.DeadlockDetected,
    pgerr.SerializationFailure,
)
_BAD_DATA = (pgerr.IntegrityError, pgerr.DataError)


def translate(exc: psycopg.Error, where: str) -> GridMapError:
    """Return the GridMap error a database error means, with the server's explanation.

    Constraint and data errors become :class:`ValidationError` (the input breaks a rule of the
    schema), lost races :class:`ConflictError`, and anything else :class:`StoreError`.
    ``where`` (the store's URL, without password) prefixes connection and server errors; the
    others name the table.
    """
    diag = exc.diag
    message = (diag.message_primary or str(exc)).strip()
    detail = f" ({diag.message_detail.strip()})" if diag.message_detail else ""
    what = diag.table_name or where
    if isinstance(exc, _CONFLICTS):
        return ConflictError(
            f"{what}: {message}{detail}; someone else changed the same rows, try again"
        )
    if isinstance(exc, _BAD_DATA) or _is_geometry_error(message):
        return ValidationError(
            f"{what}: rejected by the database, nothing written: {message}{detail}",
            [f"{message}{detail}"],
        )
    if isinstance(exc, psycopg.OperationalError):
        return StoreError(f"{where}: the database connection failed: {message}")
    return StoreError(f"{where}: database error: {message}{detail}")


def _is_geometry_error(message: str) -> bool:
    """Return whether PostGIS refused a geometry (it raises those as internal errors)."""
    return bool(
        re.search(
            r"(?i)geometry (type|srid)|does not match column|parse error|invalid.*wkb", message
        )
    )
