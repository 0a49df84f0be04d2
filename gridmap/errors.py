"""Errors a GridMap user can cause, each with a message that says what to fix.

Every error a user can trigger derives from :class:`GridMapError`; the CLI prints its message on one
line and exits non-zero, and the web service maps ``http_status`` to the response status.
"""

from __future__ import annotations


class GridMapError(Exception):
    """Base class of every error caused by user input or data (never a bug)."""

    http_status = 400


class ValidationError(GridMapError):
    """Input rows or values that do not satisfy the model.

    Parameters
    ----------
    message : str
        Summary of what is wrong.
    reasons : list of str, optional
        One reason per rejected row or field (``"row 12: latitude 95.1 is out of range"``).
    """

    http_status = 422

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = list(reasons or [])


class NotFoundError(GridMapError):
    """A layer, row or file that does not exist."""

    http_status = 404


class ConflictError(GridMapError):
    """A write that lost a race or would break a uniqueness rule."""

    http_status = 409


class StoreError(GridMapError):
    """A store that cannot be opened or used (wrong path, wrong URL, not a GridMap store)."""

    http_status = 503
