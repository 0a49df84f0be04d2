"""Open311 GeoReport v2 bodies: services, definitions, requests, tokens and errors.

Every body is built once as plain data (dicts, lists, scalars) and then encoded in the format
the URL's suffix asks for: XML through :mod:`xml.etree.ElementTree` with the spec's element
names (``<services><service>``, ``<service_requests><request>``, ``<errors><error>``), or JSON
as the mechanical mapping of that XML (the root list or object, the same field names). Text is
UTF-8 and date-times are W3C ISO 8601 with their offset (``2026-01-05T10:00:00+08:00``).

Request bodies are built from the incident and only two public fields of its intake record
(``address``, ``media_url``): contact details never reach this module.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from gridmap.calendar import working_calendar
from gridmap.catalog import Category, categories
from gridmap.errors import NotFoundError
from gridmap.workflow import FINAL_STATES, STATES
from web.http import Response

#: The suffixes served, and their content types.
FORMATS = {"json": "application/json", "xml": "application/xml"}
#: A container element -> the name of each of its items.
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
#: The fields of a service request, in the spec's order.
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def checked_format(fmt: str) -> str:
    """Return ``fmt`` when it is a served format (``json``, ``xml``).

    Raises
    ------
    NotFoundError
        If the suffix names another format.
    """
    if fmt not in FORMATS:
        raise NotFoundError(f"format {fmt!r} is not served; use .xml or .json")
    return fmt


def format_of_path(path: str) -> str:
    """Return the format an error on ``path`` is shown in (XML for ``.xml``, else JSON)."""
    return "xml" if path.lower().endswith(".xml") else "json"


def w3c(value: Any) -> str | None:
    """Return a date-time as W3C ISO 8601 with its offset, to the second (None when missing)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(working_calendar().timezone)
    return stamp.floor("s").isoformat()


def service(category: Category) -> dict[str, Any]:
    """Return the GET services entry of a catalog category (no attributes: metadata false)."""
    return {
        "service_code": category.code,
        "service_name": category.en,
        "description": (
            f"{category.en} ({category.zh}); {category.major_en} ({category.major_zh}). "
            f"Time limit: {category.limit_hours:g} working hours."
        ),
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join([category.zh, category.major_zh, category.major_en, category.kind]),
        "group": category.major_en,
    }


def service_definition(code: str) -> dict[str, Any]:
    """Return the service definition of a catalog code (our services take no attributes)."""
    return {"service_code": code, "attributes": []}


def service_notice(code: str) -> str:
    """Return what a citizen is told to expect for a service (its time limit)."""
    category = categories().get(code)
    if category is None:
        return ""
    return f"{category.en} ({category.zh}): to be handled within {category.limit_hours:g} working hours."


def request_fields(
    incident: Mapping[str, Any], address: str | None = None, media_url: str | None = None
) -> dict[str, Any]:
    """Return the public Open311 fields of an incident (a row of the incidents layer).

    Parameters
    ----------
    incident : mapping
        The incident's fields and its ``geometry`` (a point in WGS84).
    address, media_url : str, optional
        The public parts of the citizen's intake record.

    Returns
    -------
    dict
        :data:`REQUEST_FIELDS` in order; a rejected case is ``closed`` with notes saying so.
    """
    state = incident["status"]
    zh, en = STATES.get(state, (state, state))
    category = categories().get(incident["category"])
    grid, worker = _present(incident.get("grid_code")), _present(incident.get("worker_id"))
    agency = " / ".join(str(v) for v in (grid, worker) if v) or None
    point = incident.get("geometry")
    located = point is not None and not point.is_empty
    return {
        "service_request_id": incident["id"],
        "status": "closed" if state in FINAL_STATES else "open",
        "status_notes": f"{en} ({zh})",
        "service_name": category.en if category else incident["category"],
        "service_code": incident["category"],
        "description": _present(incident.get("description")),
        "agency_responsible": agency,
        "service_notice": service_notice(incident["category"]) or None,
        "requested_datetime": w3c(incident.get("reported_at")),
        "updated_datetime": w3c(incident.get("updated_at")),
        "expected_datetime": w3c(incident.get("deadline")),
        "address": _present(address),
        "address_id": None,
        "zipcode": None,
        "lat": round(float(point.y), 7) if located else None,
        "long": round(float(point.x), 7) if located else None,
        "media_url": _present(media_url),
    }


def render(fmt: str, root: str, data: Any, status: int = 200) -> Response:
    """Return ``data`` encoded as Open311 ``fmt``: XML under ``root``, or its JSON mapping.

    Parameters
    ----------
    fmt : str
        ``xml`` or ``json``.
    root : str
        The XML root element (``services``, ``service_requests``, ``errors``, ...); a list's items
        are named by :data:`ITEMS`.
    data : list or dict
        The body as plain data.
    status : int
        The HTTP status.
    """
    if fmt == "xml":
        text = ET.tostring(_element(root, data), encoding="unicode")
        return Response(status, _DECLARATION + text.encode("utf-8"), content_type=FORMATS["xml"])
    return Response(status, _plain(data), content_type=FORMATS["json"])


def errors(fmt: str, status: int, descriptions: list[str]) -> Response:
    """Return the spec's error list (``[{code, description}]`` / ``<errors>``) with ``status``."""
    listed = [{"code": status, "description": d} for d in descriptions]
    return render(fmt, "errors", listed, status)


def _present(value: Any) -> Any:
    """Return ``value``, or None for the missing values pandas uses (NaN, NA, NaT, '')."""
    if value is None or value is pd.NA or value is pd.NaT or value == "":
        return None
    if isinstance(value, float) and value != value:
        return None
    return value


def _plain(value: Any) -> Any:
    """Return ``value`` as JSON-able data (date-times as W3C text, numpy scalars as Python)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return w3c(value)
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and value != value:
        return None
    return value


def _element(name: str, value: Any) -> ET.Element:
    """Return the XML element ``name`` holding ``value`` (dicts as children, lists as items)."""
    element = ET.Element(name)
    if isinstance(value, Mapping):
        element.extend(_element(str(k), v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        element.extend(_element(ITEMS.get(name, "item"), v) for v in value)
    else:
        element.text = _text(_plain(value))
    return element


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))
