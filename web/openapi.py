"""The OpenAPI 3.0 description of the service, built from its routes (served at /openapi.json).

Every route is described (paths, path parameters, who may call it); the query parameters and
bodies of each operation come from :data:`OPERATIONS`, so clients and schema-driven test tools
know what to send.
"""

from __future__ import annotations

import re
from typing import Any

from gridmap.catalog import categories, station_kinds
from gridmap.kpi import GROUPS, PERIODS
from gridmap.model import LAYERS, ROLES
from gridmap.siting_metrics import MODELS
from gridmap.workflow import TRANSITIONS
from web.accounts_api import MAX_DAYS
from web.context import Context
from web.http import Request, Response, Route

_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
_TEXT = {"type": "string"}
_INT = {"type": "integer"}
_NUMBER = {"type": "number"}
_OBJECT = {"type": "object"}


def _query(name: str, schema: dict[str, Any], text: str, *, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": text,
    }


def _json_body(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


_ITEMS = [
    _query("bbox", _TEXT, "minx,miny,maxx,maxy in CRS84 (lon/lat)"),
    _query("limit", {"type": "integer", "minimum": 1}, "items per page (cut to the most allowed)"),
    _query("offset", {"type": "integer", "minimum": 0}, "items to skip"),
    _query("datetime", _TEXT, "RFC 3339 instant or interval (a/b, ../b, a/..)"),
    _query("f", {"type": "string", "enum": ["json", "geojson"]}, "response media type"),
]
_KPI = [
    _query("by", {"type": "string", "enum": list(GROUPS)}, "group by"),
    _query("period", {"type": "string", "enum": list(PERIODS)}, "group by period of the report"),
    _query("from", _TEXT, "first report date (inclusive)"),
    _query("to", _TEXT, "last report date (exclusive)"),
]
_SERVICE_CODE = {"type": "string", "enum": sorted(categories())}
_REPORT_FORM = {
    "type": "object",
    "required": ["api_key", "service_code", "lat", "long"],
    "properties": {
        "api_key": _TEXT,
        "service_code": _SERVICE_CODE,
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "long": {"type": "number", "minimum": -180, "maximum": 180},
        "description": {"type": "string", "maxLength": 4000},
        "address_string": _TEXT,
        "email": _TEXT,
        "phone": _TEXT,
        "first_name": _TEXT,
        "last_name": _TEXT,
        "device_id": _TEXT,
        "account_id": _TEXT,
        "media_url": _TEXT,
        "jurisdiction_id": _TEXT,
    },
}

_GEOMETRY = {
    "type": "object",
    "nullable": True,
    "required": ["type", "coordinates"],
    "properties": {
        "type": {
            "type": "string",
            "enum": [
                "Point",
                "LineString",
                "Polygon",
                "MultiPoint",
                "MultiLineString",
                "MultiPolygon",
            ],
        },
        "coordinates": {"type": "array"},
    },
}


def _feature(required: tuple[str, ...]) -> dict[str, Any]:
    """Return a GeoJSON Feature body: the layer's fields as properties, a geometry."""
    schema = {
        "type": "object",
        "required": list(required),
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "properties": _OBJECT,
            "geometry": _GEOMETRY,
        },
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


#: (method, path) -> query parameters and request body of the operation.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/collections/<layer>/items"): {
        "requestBody": _feature(("type", "properties", "geometry"))
    },
    ("PATCH", "/collections/<layer>/items/<item_id>"): {"requestBody": _feature(("type",))},
    ("POST", "/api/siting"): {
        "requestBody": _json_body(
            {
                "model": {"type": "string", "enum": list(MODELS)},
                "kind": {"type": "string", "enum": sorted(station_kinds())},
                "p": {"type": "integer", "minimum": 1},
                "radius_m": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                "demand": _TEXT,
            },
            ("model", "kind"),
        )
    },
    ("GET", "/collections/<layer>/items"): {"parameters": _ITEMS},
    ("GET", "/api/kpi"): {"parameters": _KPI},
    ("GET", "/api/kpi.csv"): {"parameters": _KPI},
    ("POST", "/api/login"): {
        "requestBody": _json_body({"name": _TEXT, "password": _TEXT}, ("name", "password"))
    },
    ("POST", "/api/accounts"): {
        "requestBody": _json_body(
            {
                "kind": {"type": "string", "enum": ["user", "key"]},
                "role": {"type": "string", "enum": list(ROLES)},
                "name": _TEXT,
                "password": _TEXT,
                "days": {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMinimum": True,
                    "maximum": MAX_DAYS,
                },
            },
            ("role",),
        )
    },
    ("POST", "/api/incidents/<incident_id>/actions"): {
        "requestBody": _json_body(
            {
                "action": {"type": "string", "enum": list(TRANSITIONS)},
                "note": {"type": "string", "maxLength": 4000},
                "worker_id": _TEXT,
                "deadline": {"type": "string", "format": "date-time"},
                "expected_version": _INT,
            },
            ("action",),
        )
    },
    ("POST", "/api/dispatch"): {
        "requestBody": _json_body(
            {
                "now": _TEXT,
                "include_received": {"type": "boolean"},
                "time_limit": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            }
        )
    },
    ("POST", "/api/jobs/<job_id>/accept"): {
        "requestBody": _json_body(
            {
                "assignments": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"incident_id": _TEXT, "worker_id": _TEXT},
                        "required": ["incident_id"],
                    },
                }
            }
        )
    },
    ("GET", "/open311/v2/requests.<fmt>"): {
        "parameters": [
            _query("service_request_id", _TEXT, "comma-separated ids (overrides the rest)"),
            _query("service_code", _TEXT, "comma-separated service codes"),
            _query("start_date", {"type": "string", "format": "date-time"}, "earliest report"),
            _query("end_date", {"type": "string", "format": "date-time"}, "latest report"),
            _query("status", {"type": "string", "enum": ["open", "closed"]}, "open or closed"),
        ]
    },
    ("POST", "/open311/v2/requests.<fmt>"): {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": _REPORT_FORM}},
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": _TEXT,
                "description": "a repeated key returns the request stored the first time",
            }
        ],
    },
}

_PATH_SCHEMAS = {
    "fmt": {"type": "string", "enum": ["json", "xml"]},
    "layer": {"type": "string", "enum": list(LAYERS)},
}


def _operation(route: Route) -> dict[str, Any]:
    names = _PARAM.findall(route.path)
    extra = OPERATIONS.get((route.method, route.path), {})
    parameters = [
        {"name": n, "in": "path", "required": True, "schema": _PATH_SCHEMAS.get(n, _TEXT)}
        for n in names
    ] + extra.get("parameters", [])
    who = "anyone" if route.roles is None else ", ".join([*route.roles, "admin"])
    doc = (route.handler.__doc__ or route.handler.__name__).strip().splitlines()[0]
    op: dict[str, Any] = {
        "operationId": f"{route.handler.__module__.split('.')[-1]}_{route.handler.__name__}",
        "summary": doc,
        "description": f"Who may call: {who}.",
        "responses": {
            "200": {"description": "OK"},
            "default": {
                "description": "an error: code, description (and reasons)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if parameters:
        op["parameters"] = parameters
    if "requestBody" in extra:
        op["requestBody"] = extra["requestBody"]
    if route.roles is not None:
        op["security"] = [{"bearer": []}]
    return op


def document(routes: list[Route], title: str = "GridMap") -> dict[str, Any]:
    """Return the OpenAPI 3.0 document describing ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path = _PARAM.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{title} API",
            "version": "1.0",
            "description": "Grid governance: OGC API - Features layers, Open311 GeoReport v2 "
            "intake, the case workflow, dispatch runs and KPIs.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "code": _TEXT,
                        "description": _TEXT,
                        "status": _INT,
                        "reasons": {"type": "array", "items": _TEXT},
                    },
                }
            },
        },
    }


def openapi(ctx: Context, req: Request) -> Response:
    """Return this service's OpenAPI description."""
    body = document(list(ctx.routes), ctx.config.title)
    return Response(200, body, "application/vnd.oai.openapi+json;version=3.0")


ROUTES = [Route("GET", "/openapi.json", openapi)]
