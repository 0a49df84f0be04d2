"""The framework-free request and response every handler works with.

Handlers are plain functions ``handler(ctx, request, **path_params) -> Response`` over the store
and the optimizer; :mod:`web.app` adapts them to Flask. They are tested without a server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from gridmap.errors import ValidationError
from web.auth import Identity
from web.errors import BadRequest


@dataclass(frozen=True)
class Request:
    """One HTTP request as a handler sees it.

    ``args`` and ``form`` map each name to its values (a name may repeat); ``identity`` is who
    the credentials belong to (None when anonymous).
    """

    method: str
    path: str
    args: Mapping[str, list[str]] = field(default_factory=dict)
    form: Mapping[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    identity: Identity | None = None
    base_url: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        """Return the (last) query value of ``name``, or ``default``."""
        values = self.args.get(name)
        return values[-1] if values else default

    def field(self, name: str, default: str | None = None) -> str | None:
        """Return the (last) form value of ``name``, or ``default``."""
        values = self.form.get(name)
        return values[-1] if values else default

    def header(self, name: str) -> str | None:
        """Return a header's value (names are case-insensitive)."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def json(self) -> dict[str, Any]:
        """Return the body as a JSON object.

        Raises
        ------
        BadRequest
            If the body is not a JSON object.
        """
        try:
            data = json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        return data


@dataclass(frozen=True)
class Response:
    """What a handler returns: status, body (bytes, text, or JSON-able data) and headers."""

    status: int
    body: Any
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        """Return the body as bytes (JSON-able data encoded as UTF-8 JSON)."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False, default=json_value).encode("utf-8")


def json_value(value: Any) -> Any:
    """Return what JSON shows for values :mod:`json` does not know (times as ISO 8601)."""
    if isinstance(value, datetime):  # pandas Timestamps too
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NaT or value is pd.NA:
        return None
    return str(value)


def ok(body: Any, status: int = 200, **headers: str) -> Response:
    """Return a JSON response."""
    return Response(status, body, headers=headers)


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    """One endpoint: method, Flask-style path (``/items/<item_id>``), handler, who may call it.

    ``roles`` None means anyone, anonymous included; otherwise the caller's role must be listed
    (admins may call everything). ``errors`` renders a user error in the endpoint's own format
    (Open311's error list); by default errors are the JSON of :func:`web.app.error_response`.
    API keys are scoped to Open311: on any other route they are refused (403).
    """

    method: str
    path: str
    handler: Handler
    roles: tuple[str, ...] | None = None
    errors: Callable[[Request, Exception, int], Response] | None = None

    @property
    def open311(self) -> bool:
        """Whether this is an Open311 endpoint (the only ones API keys may call)."""
        return self.path.startswith("/open311/")


def number(value: str | None, name: str, *, minimum: float | None = None) -> float | None:
    """Return a query value as a number (None when absent), or raise naming the parameter."""
    if value is None or value == "":
        return None
    try:
        result = float(value)
    except ValueError:
        raise ValidationError(f"{name}: {value!r} is not a number") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise ValidationError(f"{name}: {value!r} is not a finite number")
    if minimum is not None and result < minimum:
        raise ValidationError(f"{name}: {value!r} is below {minimum:g}")
    return result
