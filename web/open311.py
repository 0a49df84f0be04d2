"""Open311 GeoReport v2: citizens' apps report problems and follow their cases.

Endpoints (each in ``.xml`` or ``.json``) under ``/open311/v2``: the discovery file, the service
list (the category catalog), service definitions, POST requests (an API key is required: any
role), GET requests with the spec's filters, one request, and a token's request. Reports go
through :meth:`~gridmap.stores.base.Store.intake`: one transaction that locates the grid, sets
the deadline and keeps the citizen's contact details in the private intake record, which no
Open311 answer ever shows. A repeated ``Idempotency-Key`` (or, without one, the same device,
description and place within the store's window) answers with the case already stored (200).
Errors are the spec's error list in the request's format: 400, 403, 404 (413, 503 kept).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import shapely

from gridmap.calendar import working_calendar
from gridmap.catalog import categories
from gridmap.errors import NotFoundError
from gridmap.workflow import FINAL_STATES, OPEN_STATES
from web import open311_format as fmt311
from web.context import Context
from web.errors import BadRequest, Forbidden
from web.http import Request, Response, Route, number

PREFIX = "/open311/v2"
#: The longest span GET requests covers, and the most requests it returns.
MAX_SPAN = timedelta(days=90)
MAX_REQUESTS = 1000
#: The longest value each form field may hold (characters).
MAX_LENGTH = {"description": 4000, "address_string": 1000, "media_url": 2000}
MAX_OTHER = 200
CONTACT = ("email", "phone", "first_name", "last_name", "device_id", "account_id")
#: The form fields read (``attribute[...]`` and unknown fields are ignored: no service has any).
FIELDS = (
    *CONTACT,
    *("service_code", "lat", "long", "address_string", "address_id", "description", "media_url"),
)
_STATUSES = {"open": OPEN_STATES, "closed": FINAL_STATES}
_KEPT = (403, 404, 413, 503)  # statuses shown as they are; every other user error is a 400


def render_error(req: Request, exc: Exception, status: int) -> Response:
    """Return a user error as the spec's error list, in the format the path asks for.

    A store's refusal (422) and every other user error but 403, 404, 413 and 503 become 400.
    """
    shown = status if status in _KEPT else 400
    reasons = list(getattr(exc, "reasons", []) or [])
    response = fmt311.errors(fmt311.format_of_path(req.path), shown, [str(exc), *reasons])
    if shown == 503:
        return Response(response.status, response.body, response.content_type, {"Retry-After": "5"})
    return response


def discovery(ctx: Context, req: Request, fmt: str) -> Response:
    """Return the service discovery file: where the endpoint is and what it speaks."""
    fmt = fmt311.checked_format(fmt)
    endpoint = {
        "specification": "http://wiki.open311.org/GeoReport_v2",
        "url": f"{req.base_url}{PREFIX}",
        "changeset": "2026-01-01T00:00:00+08:00",
        "type": "production",
        "formats": ["text/xml", "application/json"],
    }
    body = {
        "changeset": endpoint["changeset"],
        "contact": ctx.config.title,
        "key_service": f"{req.base_url}/api/accounts (an administrator issues API keys)",
        "endpoints": [endpoint],
    }
    return fmt311.render(fmt, "discovery", body)


def list_services(ctx: Context, req: Request, fmt: str) -> Response:
    """Return every service: the categories of the catalog."""
    fmt = fmt311.checked_format(fmt)
    _check_jurisdiction(ctx, req)
    return fmt311.render(fmt, "services", [fmt311.service(c) for c in categories().values()])


def get_service(ctx: Context, req: Request, code: str, fmt: str) -> Response:
    """Return the definition of one service (404 for a code not in the catalog)."""
    fmt = fmt311.checked_format(fmt)
    _check_jurisdiction(ctx, req)
    _category(code)
    return fmt311.render(fmt, "service_definition", fmt311.service_definition(code))


def create_request(ctx: Context, req: Request, fmt: str) -> Response:
    """Store a citizen's report as an incident: 201 when new, 200 when it repeats one."""
    fmt = fmt311.checked_format(fmt)
    _check_jurisdiction(ctx, req)
    if req.identity is None:
        raise Forbidden("api_key was not provided -- can't proceed with create_request.")
    values = {name: _form_value(req, name) for name in FIELDS}
    code = values.get("service_code")
    if not code:
        raise BadRequest("service_code was not provided")
    _category(code)
    lat, long = _location(values)
    media = values.get("media_url")
    if media and not media.lower().startswith(("http://", "https://")):
        raise BadRequest("media_url must be an http:// or https:// URL")
    key = (req.header("Idempotency-Key") or "").strip() or None
    if key and len(key) > MAX_OTHER:
        raise BadRequest(f"the Idempotency-Key header is longer than {MAX_OTHER} characters")
    description = values.get("description")
    record: dict[str, Any] = {name: values.get(name) for name in CONTACT}
    record.update(
        address=values.get("address_string"),
        media_url=media,
        api_key=req.identity.name,
        request_key=key,
        fingerprint=None if key else _fingerprint(values.get("device_id"), description, lat, long),
    )
    report = {
        "category": code,
        "description": description,
        "source": "open311",
        "geometry": shapely.Point(long, lat),
    }
    done = ctx.store.intake(report, record)
    body = {
        "service_request_id": done.incident_id,
        "token": done.token,
        "service_notice": fmt311.service_notice(code),
        "account_id": values.get("account_id"),
    }
    return fmt311.render(fmt, "service_requests", [body], 201 if done.created else 200)


def list_requests(ctx: Context, req: Request, fmt: str) -> Response:
    """Return requests: by id (comma list), or newest first by service, dates and status."""
    fmt = fmt311.checked_format(fmt)
    _check_jurisdiction(ctx, req)
    ids = _listed(req.arg("service_request_id"))
    if ids:
        if len(ids) > MAX_REQUESTS:
            raise BadRequest(f"service_request_id: at most {MAX_REQUESTS} ids at once")
        rows = ctx.store.read("incidents", where={"id": ids})
    else:
        where: dict[str, Any] = {}
        codes = _listed(req.arg("service_code"))
        if codes:
            where["category"] = codes
        statuses = _listed(req.arg("status"))
        wrong = sorted(set(statuses) - set(_STATUSES))
        if wrong:
            raise BadRequest(f"status: {wrong[0]!r} is not open or closed")
        if statuses:
            where["status"] = [s for status in set(statuses) for s in _STATUSES[status]]
        start, end = _span(req)
        rows = _newest(ctx, where, start, end)
    return fmt311.render(fmt, "service_requests", _public(ctx, rows))


def get_request(ctx: Context, req: Request, request_id: str, fmt: str) -> Response:
    """Return one request, wrapped in a list (404 when unknown)."""
    fmt = fmt311.checked_format(fmt)
    _check_jurisdiction(ctx, req)
    rows = ctx.store.read("incidents", where={"id": request_id}, limit=1)
    if rows.empty:
        raise NotFoundError(f"service_request_id {request_id!r} was not found")
    return fmt311.render(fmt, "service_requests", _public(ctx, rows))


def get_token(ctx: Context, req: Request, token: str, fmt: str) -> Response:
    """Return the request a token stands for: ``[{service_request_id, token}]`` (404 unknown)."""
    fmt = fmt311.checked_format(fmt)
    _check_jurisdiction(ctx, req)
    found = ctx.store.records("requests", {"token": token}, limit=1)
    if not found:
        raise NotFoundError(f"token {token!r} was not found")
    body = [{"service_request_id": found[0]["incident_id"], "token": token}]
    return fmt311.render(fmt, "service_requests", body)


def _check_jurisdiction(ctx: Context, req: Request) -> None:
    given = (req.field("jurisdiction_id") or req.arg("jurisdiction_id") or "").strip()
    if given and given != ctx.config.jurisdiction_id:
        raise NotFoundError(
            f"jurisdiction_id {given!r} was not found; this endpoint serves "
            f"{ctx.config.jurisdiction_id!r}"
        )


def _category(code: str) -> None:
    if code not in categories():
        raise NotFoundError(f"service_code {code!r} was not found; see services.xml")


def _form_value(req: Request, name: str) -> str | None:
    value = (req.field(name) or "").strip()
    limit = MAX_LENGTH.get(name, MAX_OTHER)
    if len(value) > limit:
        raise BadRequest(f"{name} is longer than {limit} characters ({len(value)})")
    return value or None


def _location(values: dict[str, str | None]) -> tuple[float, float]:
    lat_text, long_text = values.get("lat"), values.get("long")
    if lat_text is None and long_text is None:
        given = [n for n in ("address_string", "address_id") if values.get(n)]
        why = f"{' and '.join(given)} cannot be located here; " if given else ""
        raise BadRequest(f"{why}lat and long (WGS84) are required")
    if lat_text is None or long_text is None:
        raise BadRequest("lat and long must both be given")
    lat, long = number(lat_text, "lat"), number(long_text, "long")
    assert lat is not None and long is not None  # both were given
    if not -90 <= lat <= 90:
        raise BadRequest(f"lat: {lat_text!r} is outside -90..90")
    if not -180 <= long <= 180:
        raise BadRequest(f"long: {long_text!r} is outside -180..180")
    return lat, long


def _fingerprint(
    device: str | None, description: str | None, lat: float, long: float
) -> str | None:
    if not device:
        return None
    parts = [device, description or "", f"{lat:.5f}", f"{long:.5f}"]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _listed(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _time(req: Request, name: str) -> pd.Timestamp | None:
    text = (req.arg(name) or "").strip()
    if not text:
        return None
    if "T" in text:  # an offset's unencoded "+" arrives as a space: 2026-01-05T00:00:00 08:00
        text = re.sub(r" (\d\d(:?\d\d)?)$", r"+\1", text)
    try:
        stamp = pd.Timestamp(datetime.fromisoformat(text))
    except ValueError:
        raise BadRequest(
            f"{name}: {text!r} is not a W3C date-time (2026-01-05T00:00:00Z)"
        ) from None
    return stamp.tz_localize(working_calendar().timezone) if stamp.tzinfo is None else stamp


def _span(req: Request) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return ``[start, end]`` of GET requests: at most 90 days, the last 90 by default."""
    start, end = _time(req, "start_date"), _time(req, "end_date")
    if start is None and end is None:
        end = pd.Timestamp.now(tz="UTC")
    if start is None:
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if start > end:
        raise BadRequest("start_date is after end_date")
    if end - start > MAX_SPAN:
        raise BadRequest(f"start_date to end_date spans more than {MAX_SPAN.days} days")
    return start, end


def _newest(
    ctx: Context, where: dict[str, Any], start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Return the newest requests (at most :data:`MAX_REQUESTS`) reported in ``[start, end]``.

    When more match, the start is moved later by bisection over counts, so that only about the
    newest rows are read, never the whole span.
    """
    stop = end + pd.Timedelta(milliseconds=1)  # end_date is included

    def count(lo: pd.Timestamp) -> int:
        return ctx.store.count("incidents", where={**where, "reported_at": slice(lo, stop)})

    lo, hi = start, end
    if count(lo) > MAX_REQUESTS:
        while hi - lo > pd.Timedelta(seconds=1):
            mid = lo + (hi - lo) / 2
            lo, hi = (mid, hi) if count(mid) >= MAX_REQUESTS else (lo, mid)
    rows = ctx.store.read("incidents", where={**where, "reported_at": slice(lo, stop)})
    rows = rows.sort_values(["reported_at", "id"], ascending=False, kind="stable")
    return rows.head(MAX_REQUESTS)


def _public(ctx: Context, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the Open311 fields of incident rows, with the public parts of intake records."""
    incidents = rows.to_dict("records")
    ids = [row["id"] for row in incidents]
    records = ctx.store.records("requests", {"incident_id": ids}) if ids else []
    public = {r["incident_id"]: (r["address"], r["media_url"]) for r in records}
    return [fmt311.request_fields(row, *public.get(row["id"], (None, None))) for row in incidents]


def _open311_routes() -> list[Route]:
    def route(method: str, path: str, handler: Any) -> Route:
        return Route(method, PREFIX + path, handler, None, render_error)

    return [
        route("GET", "/discovery.<fmt>", discovery),
        route("GET", "/services.<fmt>", list_services),
        route("GET", "/services/<code>.<fmt>", get_service),
        route("POST", "/requests.<fmt>", create_request),
        route("GET", "/requests.<fmt>", list_requests),
        route("GET", "/requests/<request_id>.<fmt>", get_request),
        route("GET", "/tokens/<token>.<fmt>", get_token),
    ]


ROUTES = _open311_routes()
