"""Query parameters of OGC API - Features item lists, checked and turned into store filters.

Every problem is a :class:`~web.errors.BadRequest` (400) whose message starts with the
parameter's name, so a client knows what to fix.

Semantics
---------
- ``limit``: an integer >= 1 (default ``Config.default_items``); above ``Config.max_items`` it is
  clamped to the maximum (OGC API - Features Part 1, 7.15.3 allows either refusing or clamping).
- ``offset``: an integer >= 0 (a common extension of Part 1; the ``next``/``prev`` links use it).
- ``bbox``: ``minx,miny,maxx,maxy`` in CRS84 (longitude, latitude); six numbers (with heights)
  are accepted and the heights ignored. Boxes crossing the antimeridian are not supported.
- ``datetime``: an RFC 3339 instant, or an interval ``start/end`` whose ends may be open
  (``..`` or empty), on the layer's temporal property (:data:`TIME_FIELDS`); both ends are
  inclusive. Times are compared at millisecond precision (the precision both stores keep). A
  bare date (``2025-03-03``) is the whole day in UTC. Layers without a temporal property refuse
  the parameter.
- ``<field>=<value>``: rows whose field equals the value, converted to the field's type (an
  integer, a number, a date-time or interval as for ``datetime``); a repeated parameter means
  any of its values. A list field (a worker's ``skills``) matches rows whose list contains the
  value.
- ``f``: ``json`` or ``geojson`` (the body is GeoJSON either way; only the media type differs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gridmap.model import Field, Layer
from web.errors import BadRequest

#: The temporal property ``datetime`` filters on, per layer (layers not listed have none).
TIME_FIELDS = {"incidents": "reported_at"}

#: Parameters of item lists that are not property filters.
RESERVED = ("bbox", "limit", "offset", "datetime", "f")

#: The formats ``f`` may name, with the media type each is served as.
FORMATS = {"geojson": "application/geo+json", "json": "application/json"}

_MS = pd.Timedelta(milliseconds=1)
_DAY = pd.Timedelta(days=1)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class ItemsQuery:
    """The checked parameters of one item list.

    ``where`` is the store filter (:data:`gridmap.stores.base.Where`); ``contains`` maps list
    fields to a value their list must hold (filtered after reading, the stores cannot).
    """

    limit: int
    offset: int = 0
    bbox: tuple[float, float, float, float] | None = None
    where: dict[str, Any] = field(default_factory=dict)
    contains: dict[str, str] = field(default_factory=dict)
    media_type: str = FORMATS["geojson"]


def parse_items_query(
    spec: Layer,
    args: Mapping[str, list[str]],
    *,
    default_limit: int,
    max_limit: int,
) -> ItemsQuery:
    """Return the checked parameters of an item list of layer ``spec``.

    Parameters
    ----------
    spec : Layer
        The layer listed.
    args : mapping of str to list of str
        The query parameters, each with its values in order.
    default_limit, max_limit : int
        The page size when none is given, and the largest (larger ones are clamped to it).

    Returns
    -------
    ItemsQuery
        Page, spatial, temporal and property filters.

    Raises
    ------
    BadRequest
        If a parameter is unknown, repeated where it may not be, or its value is malformed or
        out of range; the message starts with the parameter's name.
    """
    fields = {f.name: f for f in spec.fields}
    unknown = [name for name in args if name not in RESERVED and name not in fields]
    if unknown:
        raise BadRequest(
            f"{unknown[0]}: unknown parameter; {spec.name} items take "
            f"{', '.join(RESERVED)} and the properties {', '.join(fields)}"
        )
    single = {name: _single(name, values) for name, values in args.items() if name in RESERVED}
    limit = parse_int("limit", single.get("limit"), minimum=1)
    where: dict[str, Any] = {}
    contains: dict[str, str] = {}
    if "datetime" in single:
        time_field = TIME_FIELDS.get(spec.name)
        if time_field is None:
            raise BadRequest(f"datetime: {spec.name} have no temporal property to filter on")
        where[time_field] = parse_datetime("datetime", single["datetime"])
    for name, values in args.items():
        if name in fields:
            _add_filter(where, contains, fields[name], values)
    return ItemsQuery(
        limit=min(limit if limit is not None else default_limit, max_limit),
        offset=parse_int("offset", single.get("offset"), minimum=0) or 0,
        bbox=parse_bbox(single["bbox"]) if "bbox" in single else None,
        where=where,
        contains=contains,
        media_type=_format(single.get("f")),
    )


def _single(name: str, values: list[str]) -> str:
    if len(values) != 1:
        raise BadRequest(f"{name}: give the parameter once")
    return values[0]


def _format(value: str | None) -> str:
    if value is None:
        return FORMATS["geojson"]
    try:
        return FORMATS[value.lower()]
    except KeyError:
        raise BadRequest(f"f: {value!r} is not one of {', '.join(FORMATS)}") from None


#: The largest integer a query parameter may hold (a store's 64-bit integer).
MAX_INT = 2**63 - 1


def parse_int(name: str, value: str | None, *, minimum: int) -> int | None:
    """Return a parameter's value as an integer (None when absent).

    Parameters
    ----------
    name : str
        The parameter's name (for the message).
    value : str or None
        Its value as given.
    minimum : int
        The smallest value allowed.

    Raises
    ------
    BadRequest
        If the value is not an integer, is below ``minimum`` or above :data:`MAX_INT`.
    """
    if value is None:
        return None
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        raise BadRequest(f"{name}: {value!r} is not an integer")
    number = int(text)
    if number < minimum:
        raise BadRequest(f"{name}: {number} is below the minimum {minimum}")
    if number > MAX_INT:  # the stores' integers are 64-bit
        raise BadRequest(f"{name}: {number} is above the maximum {MAX_INT}")
    return number


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """Return ``minx, miny, maxx, maxy`` from a CRS84 ``bbox`` parameter.

    Parameters
    ----------
    value : str
        ``minx,miny,maxx,maxy`` (or ``minx,miny,minz,maxx,maxy,maxz``), longitude first.

    Raises
    ------
    BadRequest
        If the box does not hold 4 (or 6) finite numbers, a minimum exceeds its maximum, or a
        longitude or latitude is out of range.
    """
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise BadRequest(f"bbox: give minx,miny,maxx,maxy (4 numbers), not {len(parts)} values")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise BadRequest(f"bbox: {value!r} holds a value that is not a number") from None
    if not all(math.isfinite(n) for n in numbers):
        raise BadRequest(f"bbox: {value!r} holds a value that is not a finite number")
    if len(numbers) == 6:  # minx, miny, minz, maxx, maxy, maxz
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    minx, miny, maxx, maxy = numbers
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise BadRequest("bbox: longitudes must lie within -180..180 (CRS84: lon,lat order)")
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise BadRequest("bbox: latitudes must lie within -90..90 (CRS84: lon,lat order)")
    if minx > maxx or miny > maxy:
        raise BadRequest("bbox: the minimum must not exceed the maximum (minx,miny,maxx,maxy)")
    return minx, miny, maxx, maxy


def parse_datetime(name: str, value: str) -> slice:
    """Return the half-open range ``slice(lo, hi)`` of an RFC 3339 instant or interval.

    Both ends of an interval are inclusive (``hi`` is one millisecond past ``end``); an
    instant is the millisecond it names, a bare date the whole day (UTC). Open ends (``..`` or
    empty) are None.

    Parameters
    ----------
    name : str
        The parameter's name (for the message).
    value : str
        ``instant``, ``start/end``, ``../end`` or ``start/..``.

    Returns
    -------
    slice
        ``slice(lo, hi)`` of UTC timestamps, as a store's ``where`` takes it.

    Raises
    ------
    BadRequest
        If a time is malformed or lacks a time zone, or the interval ends before it starts.
    """
    text = value.strip()
    if "/" not in text:
        if text in ("", ".."):
            raise BadRequest(f"{name}: give an instant or an interval start/end")
        start, day = _instant(name, text)
        return slice(start, start + (_DAY if day else _MS))
    parts = text.split("/")
    if len(parts) != 2:
        raise BadRequest(f"{name}: {value!r} is not an instant or an interval start/end")
    lo = hi = None
    if parts[0] not in ("", ".."):
        lo, _ = _instant(name, parts[0])
    if parts[1] not in ("", ".."):
        end, day = _instant(name, parts[1])
        hi = end + (_DAY if day else _MS)
    if lo is not None and hi is not None and lo >= hi:
        raise BadRequest(f"{name}: the interval {value!r} ends before it starts")
    return slice(lo, hi)


def _instant(name: str, text: str) -> tuple[pd.Timestamp, bool]:
    """Return an instant floored to the millisecond, and whether it was a bare date."""
    text = re.sub(r" (\d{2}:\d{2})$", r"+\1", text.strip())  # an unencoded "+" is a space
    day = bool(_DATE.fullmatch(text))
    if not day and not _DATE_TIME.fullmatch(text):
        raise BadRequest(
            f"{name}: {text!r} is not an RFC 3339 date-time with a time zone "
            "(2025-03-03T08:00:00Z or 2025-03-03T16:00:00+08:00) or a date"
        )
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise BadRequest(f"{name}: {text!r} is not a valid date-time") from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.floor("ms"), day


def _add_filter(
    where: dict[str, Any], contains: dict[str, str], spec: Field, values: list[str]
) -> None:
    name = spec.name
    if any(v == "" for v in values):
        raise BadRequest(f"{name}: give a value to filter by")
    if spec.kind == "list":
        contains[name] = _single(name, values)
        return
    if spec.kind == "datetime":
        found = parse_datetime(name, _single(name, values))
        where[name] = _intersect(where.get(name), found)
        return
    converted = [convert(spec, v) for v in values]
    where[name] = converted[0] if len(converted) == 1 else converted


def _intersect(old: slice | None, new: slice) -> slice:
    """Return the range both ``old`` and ``new`` allow (``datetime`` and a property filter)."""
    if old is None:
        return new
    starts = [t for t in (old.start, new.start) if t is not None]
    stops = [t for t in (old.stop, new.stop) if t is not None]
    lo, hi = (max(starts) if starts else None), (min(stops) if stops else None)
    if lo is not None and hi is not None and lo > hi:
        hi = lo  # an empty range: nothing matches
    return slice(lo, hi)


def convert(spec: Field, value: str) -> Any:
    """Return a property filter's value as the field's type (text, integer or number).

    Parameters
    ----------
    spec : Field
        The field filtered on (not a date-time or list field).
    value : str
        The value as given.

    Raises
    ------
    BadRequest
        If the value is not of the field's type or not one of the field's choices.
    """
    name = spec.name
    result: Any = value
    if spec.kind == "int":
        if not _INTEGER.fullmatch(value.strip()):
            raise BadRequest(f"{name}: {value!r} is not an integer")
        result = int(value)
        if not -MAX_INT - 1 <= result <= MAX_INT:  # the stores' integers are 64-bit
            raise BadRequest(f"{name}: {value!r} is out of range (64-bit integers)")
    elif spec.kind == "float":
        try:
            result = float(value)
        except ValueError:
            raise BadRequest(f"{name}: {value!r} is not a number") from None
        if not math.isfinite(result):
            raise BadRequest(f"{name}: {value!r} is not a finite number")
    if spec.choices is not None:
        choices = list(spec.choices())
        if result not in choices:
            raise BadRequest(
                f"{name}: {value!r} is not one of {', '.join(str(c) for c in choices)}"
            )
    return result
