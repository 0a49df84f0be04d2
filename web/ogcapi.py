"""OGC API - Features Part 1 (read): the layers as collections of GeoJSON features.

Endpoints: the landing page ``/``, ``/conformance``, ``/collections``, one collection, its
items (paged, filtered by ``bbox``, ``datetime`` and properties: see :mod:`web.ogcapi_query`)
and one item. Features are RFC 7946 GeoJSON: longitude/latitude, the layer's key as the
feature ``id``, every field of the layer as a property (times as ISO 8601 text, lists as
arrays). The plain tables (accounts, citizens' contact details) are never published.

Access: the layers in :data:`PRIVATE` (incidents, workers) are read by staff only
(:data:`web.auth.STAFF`); they are left out of ``/collections`` for other callers, and asking
for them answers 401 (anonymous) or 403 (another role). The other layers are public.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import mapping

from gridmap.errors import GridMapError, NotFoundError
from gridmap.model import LAYERS, Layer
from web.auth import STAFF, require
from web.context import Context
from web.http import Request, Response, Route, ok
from web.ogcapi_query import FORMATS, ItemsQuery, parse_items_query

#: Layers only staff may read.
PRIVATE = frozenset({"incidents", "workers"})

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
JSON = "application/json"
GEOJSON = FORMATS["geojson"]
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"


def landing(ctx: Context, req: Request) -> Response:
    """Return the landing page: the service's title and links to its parts."""
    base = req.base_url
    return ok(
        {
            "title": ctx.config.title,
            "description": "GridMap layers (grids, stations, incidents, ...) as OGC API - Features",
            "links": [
                _link(f"{base}/", "self", JSON, "This document"),
                _link(f"{base}/openapi.json", "service-desc", OPENAPI, "The API definition"),
                _link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
                _link(f"{base}/collections", "data", JSON, "The collections (layers)"),
            ],
        }
    )


def conformance(ctx: Context, req: Request) -> Response:
    """Return the conformance classes the service implements."""
    return ok({"conformsTo": list(CONFORMANCE)})


def collections(ctx: Context, req: Request) -> Response:
    """Return every collection the caller may read."""
    readable = [spec for spec in LAYERS.values() if _may_read(req, spec.name)]
    return ok(
        {
            "links": [_link(f"{req.base_url}/collections", "self", JSON, "This document")],
            "collections": [_collection(ctx, req, spec) for spec in readable],
        }
    )


def collection(ctx: Context, req: Request, layer: str) -> Response:
    """Return one collection's metadata (title, extent, CRS, links)."""
    return ok(_collection(ctx, req, _readable(req, layer)))


def items(ctx: Context, req: Request, layer: str) -> Response:
    """Return one page of a collection's features as a GeoJSON FeatureCollection.

    Raises
    ------
    BadRequest
        If a query parameter is unknown or malformed (see :func:`parse_items_query`).
    """
    spec = _readable(req, layer)
    query = parse_items_query(
        spec, req.args, default_limit=ctx.config.default_items, max_limit=ctx.config.max_items
    )
    rows, matched = _page(ctx, spec, query)
    url = f"{req.base_url}/collections/{spec.name}/items"
    links = [
        _link(_url(url, req.args), "self", query.media_type, "This page"),
        _link(
            _url(url, req.args, f=_other_format(query.media_type)),
            "alternate",
            _other_media_type(query.media_type),
            "This page as " + _other_media_type(query.media_type),
        ),
        _link(f"{req.base_url}/collections/{spec.name}", "collection", JSON, "The collection"),
    ]
    if query.offset + len(rows) < matched:
        offset = query.offset + len(rows)
        links.append(_page_link(url, req, query, offset, "next", "The next page"))
    if query.offset > 0:
        offset = max(0, query.offset - query.limit)
        links.append(_page_link(url, req, query, offset, "prev", "The previous page"))
    body = {
        "type": "FeatureCollection",
        "features": features(spec, rows),
        "numberMatched": matched,
        "numberReturned": len(rows),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    return Response(200, body, content_type=query.media_type)


def item(ctx: Context, req: Request, layer: str, item_id: str) -> Response:
    """Return one feature of a collection by its key.

    Raises
    ------
    NotFoundError
        If the collection has no feature with that key.
    """
    spec = _readable(req, layer)
    rows = ctx.store.read(spec.name, where={spec.key: item_id}, limit=1)
    if rows.empty:
        raise NotFoundError(f"{spec.name} has no feature with {spec.key} {item_id!r}")
    feature = features(spec, rows)[0]
    url = f"{req.base_url}/collections/{spec.name}"
    feature["links"] = [
        _link(f"{url}/items/{quote(item_id, safe='')}", "self", GEOJSON, "This feature"),
        _link(url, "collection", JSON, "The collection"),
    ]
    return Response(200, feature, content_type=GEOJSON)


def features(spec: Layer, rows: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Return the rows of a layer as GeoJSON features (RFC 7946).

    Parameters
    ----------
    spec : Layer
        The layer the rows belong to.
    rows : GeoDataFrame
        Rows as a store reads them (lon/lat, typed columns).

    Returns
    -------
    list of dict
        One ``Feature`` per row: ``id`` the key, ``properties`` every field as plain JSON values
        (times ISO 8601 text, lists arrays, missing values null).
    """
    columns = {f.name: _values(f.kind, rows[f.name]) for f in spec.fields}
    geometries = [None if g is None or g.is_empty else mapping(g) for g in rows.geometry.array]
    names = list(columns)
    key = names.index(spec.key)
    return [
        {
            "type": "Feature",
            "id": props[key],
            "geometry": geometry,
            "properties": dict(zip(names, props, strict=True)),
        }
        for geometry, props in zip(geometries, zip(*columns.values(), strict=True), strict=True)
    ]


def _values(kind: str, column: pd.Series) -> list[Any]:
    """Return a column's values as plain JSON values."""
    values = column.tolist()
    if kind == "datetime":
        return [None if pd.isna(v) else pd.Timestamp(v).isoformat() for v in values]
    if kind == "list":
        return [
            [str(x) for x in v] if isinstance(v, list | tuple | np.ndarray) else [] for v in values
        ]
    if kind == "int":
        return [None if pd.isna(v) else int(v) for v in values]
    if kind == "float":
        return [None if pd.isna(v) else float(v) for v in values]
    return [None if pd.isna(v) else str(v) for v in values]


def _page(ctx: Context, spec: Layer, query: ItemsQuery) -> tuple[gpd.GeoDataFrame, int]:
    """Return the rows of one page and how many rows match in all."""
    where = query.where or None
    if not query.contains:
        matched = ctx.store.count(spec.name, bbox=query.bbox, where=where)
        rows = ctx.store.read(
            spec.name, bbox=query.bbox, where=where, limit=query.limit, offset=query.offset
        )
        return rows, matched
    rows = ctx.store.read(spec.name, bbox=query.bbox, where=where)  # list fields: filter here
    for name, value in query.contains.items():
        rows = rows[rows[name].map(lambda v, value=value: value in (v or ()))]
    page = rows.iloc[query.offset : query.offset + query.limit].reset_index(drop=True)
    return page, len(rows)


def _collection(ctx: Context, req: Request, spec: Layer) -> dict[str, Any]:
    info = ctx.store.layer_info(spec.name)
    title = f"{spec.title_zh} / {spec.title_en}"
    url = f"{req.base_url}/collections/{spec.name}"
    body: dict[str, Any] = {
        "id": spec.name,
        "title": title,
        "description": info.description or title,
        "itemType": "feature",
        "crs": [CRS84],
        "simulated": info.simulated,
        "links": [
            _link(url, "self", JSON, "This collection"),
            _link(f"{url}/items", "items", GEOJSON, f"The {spec.title_en.lower()}"),
        ],
    }
    if info.bbox is not None:
        body["extent"] = {"spatial": {"bbox": [[float(v) for v in info.bbox]], "crs": CRS84}}
    return body


def _readable(req: Request, layer: str) -> Layer:
    """Return the layer called ``layer`` if the caller may read it.

    Raises
    ------
    NotFoundError
        If there is no such layer (the message lists the layers).
    Unauthorized, Forbidden
        If the layer is private and the caller is anonymous, or not staff.
    """
    spec = LAYERS.get(layer)
    if spec is None:
        raise NotFoundError(f"no collection {layer!r}; collections are: {', '.join(LAYERS)}")
    if spec.name in PRIVATE:
        require(req.identity, STAFF)
    return spec


def _may_read(req: Request, layer: str) -> bool:
    try:
        _readable(req, layer)
    except GridMapError:
        return False
    return True


def _link(href: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def _url(url: str, args: Mapping[str, list[str]], **replace: str | int) -> str:
    """Return ``url`` with the query ``args`` in order, those in ``replace`` set at the end."""
    pairs = [(k, v) for k, values in args.items() if k not in replace for v in values]
    pairs += [(k, str(v)) for k, v in replace.items()]
    return f"{url}?{urlencode(pairs)}" if pairs else url


def _page_link(
    url: str, req: Request, query: ItemsQuery, offset: int, rel: str, title: str
) -> dict[str, str]:
    href = _url(url, req.args, limit=query.limit, offset=offset)
    return _link(href, rel, query.media_type, title)


def _other_format(media_type: str) -> str:
    return "json" if media_type == GEOJSON else "geojson"


def _other_media_type(media_type: str) -> str:
    return JSON if media_type == GEOJSON else GEOJSON


ROUTES = [
    Route("GET", "/", landing),
    Route("GET", "/conformance", conformance),
    Route("GET", "/collections", collections),
    Route("GET", "/collections/<layer>", collection),
    Route("GET", "/collections/<layer>/items", items),
    Route("GET", "/collections/<layer>/items/<item_id>", item),
]
