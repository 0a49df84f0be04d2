"""Topology check of a grid layer: invalid, empty, overlapping and duplicate-coded grids, gaps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

from gridmap.errors import ValidationError
from gridmap.spatial import metric_crs, polygonal_parts

__all__ = ["TopologyIssue", "check_topology"]

_POLYGON = 3  # shapely type id
_COORD_IN_REASON = re.compile(r"\[([-+0-9.eE]+)\s+([-+0-9.eE]+)")

IssueKind = Literal["invalid", "overlap", "gap", "empty", "duplicate_code"]
GeomArray = NDArray[np.object_]


@dataclass(frozen=True)
class TopologyIssue:
    """One topology problem found by :func:`check_topology`.

    Attributes
    ----------
    kind : {"invalid", "overlap", "gap", "empty", "duplicate_code"}
        What is wrong.
    codes : tuple of str
        Grid codes involved (sorted): the grid itself, both overlapping grids, or the grids
        around a gap.
    area_m2 : float
        Area of the overlap or gap, of the (repaired) invalid grid; 0 for empty grids and
        duplicate codes.
    location : str or None
        A point on the problem as WKT in longitude/latitude (EPSG:4326): the self-intersection
        (or first vertex) of an invalid grid, a point inside an overlap or gap; ``None`` for
        empty grids and duplicate codes.
    detail : str
        :func:`shapely.is_valid_reason` for invalid grids, otherwise a short explanation.
    """

    kind: IssueKind
    codes: tuple[str, ...]
    area_m2: float
    location: str | None
    detail: str = ""


def check_topology(
    grids: gpd.GeoDataFrame,
    code_column: str = "code",
    *,
    min_area_m2: float = 1.0,
    boundary: gpd.GeoDataFrame | None = None,
) -> list[TopologyIssue]:
    """Find invalid, empty, overlapping and duplicate-coded grids and gaps between grids.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grid polygons with a CRS and a ``code_column``.
    code_column : str, default "code"
        Column holding the grid codes.
    min_area_m2 : float, default 1.0
        Overlaps and gaps smaller than this (in m², local UTM zone) are ignored as noise.
    boundary : geopandas.GeoDataFrame, optional
        The area the grids should cover. When given, only the parts of gaps inside it count,
        so holes of the boundary itself (a lake, an enclave) are not reported as gaps.

    Returns
    -------
    list of TopologyIssue
        In the order empty, duplicate_code, invalid, overlap, gap. An overlap involves a pair
        of grids; a gap is a hole enclosed by the grids (an interior ring of their union), so
        indentations of the outer edge are not reported. Validity is judged on the geometries as
        given; measurements use a repaired (:func:`shapely.make_valid`) copy in the local UTM
        zone.
    """
    if code_column not in grids.columns:
        raise ValidationError(f"grids have no column {code_column!r}")
    if grids.crs is None:
        raise ValidationError("grids have no CRS: set one before checking topology")
    codes = grids[code_column].astype("string").to_numpy(dtype=object, na_value="")
    geoms = np.asarray(grids.geometry.values)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    issues = [TopologyIssue("empty", (c,), 0.0, None, "no geometry") for c in codes[empty]]
    uniq, counts = np.unique(codes.astype(str), return_counts=True)
    issues += [
        TopologyIssue("duplicate_code", (c,), 0.0, None, f"{n} grids share this code")
        for c, n in zip(uniq, counts, strict=True)
        if n > 1
    ]
    if empty.all():
        return issues
    crs = metric_crs(grids)
    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    metric = np.asarray(grids.geometry.to_crs(crs).values)
    invalid = ~empty & ~shapely.is_valid(geoms)
    issues += _invalid_issues(geoms, metric, codes, invalid, grids.crs)
    fixed = metric.copy()
    broken = ~empty & ~shapely.is_valid(metric)  # reprojection can break near-degenerate rings
    fixed[broken] = shapely.make_valid(metric[broken])
    fixed[empty] = None
    issues += _overlap_issues(fixed, codes, min_area_m2, to_lonlat)
    area = None
    if boundary is not None:
        area = shapely.union_all(
            shapely.make_valid(np.asarray(boundary.geometry.to_crs(crs).values))
        )
    issues += _gap_issues(fixed, codes, min_area_m2, to_lonlat, area)
    return issues


def _wkt_lonlat(points: GeomArray, to_lonlat: pyproj.Transformer) -> list[str]:
    xy = shapely.get_coordinates(points)
    lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
    return list(shapely.to_wkt(shapely.points(lon, lat), rounding_precision=7))


def _invalid_issues(geoms, metric, codes, invalid, crs) -> list[TopologyIssue]:
    if not invalid.any():
        return []
    reasons = shapely.is_valid_reason(geoms[invalid])
    xy, which = shapely.get_coordinates(geoms[invalid], return_index=True)
    spots = xy[np.unique(which, return_index=True)[1]]  # first vertex of each grid
    for n, reason in enumerate(reasons):
        found = _COORD_IN_REASON.search(reason)  # e.g. "Self-intersection[116.1 39.9]"
        if found:
            spots[n] = float(found[1]), float(found[2])
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        spots[:, 0], spots[:, 1]
    )
    where = shapely.to_wkt(shapely.points(lon, lat), rounding_precision=7)
    area = shapely.area(shapely.make_valid(metric[invalid]))
    return [
        TopologyIssue("invalid", (c,), float(a), w, r)
        for c, a, w, r in zip(codes[invalid], area, where, reasons, strict=True)
    ]


def _overlap_issues(fixed, codes, min_area, to_lonlat) -> list[TopologyIssue]:
    a, b = shapely.STRtree(fixed).query(fixed, predicate="intersects")
    pair = a < b
    a, b = a[pair], b[pair]
    shared = shapely.intersection(fixed[a], fixed[b])
    area = shapely.area(shared)
    big = area >= min_area
    where = _wkt_lonlat(shapely.point_on_surface(shared[big]), to_lonlat)
    return [
        TopologyIssue("overlap", tuple(sorted((codes[i], codes[j]))), float(s), w, "grids overlap")
        for i, j, s, w in zip(a[big], b[big], area[big], where, strict=True)
    ]


def _gap_issues(fixed, codes, min_area, to_lonlat, boundary) -> list[TopologyIssue]:
    union = shapely.get_parts(shapely.union_all(fixed[~shapely.is_missing(fixed)]))
    union = union[shapely.get_type_id(union) == _POLYGON]
    n_holes = shapely.get_num_interior_rings(union)
    owner = np.repeat(np.arange(len(union)), n_holes)
    ring_no = np.arange(len(owner)) - np.repeat(np.cumsum(n_holes) - n_holes, n_holes)
    holes = shapely.polygons(shapely.get_interior_ring(union[owner], ring_no))
    if boundary is not None:
        holes = polygonal_parts(shapely.intersection(holes, boundary), min_part=0.0)
        holes = holes[~shapely.is_missing(holes)]
    holes = holes[shapely.area(holes) >= min_area]
    if len(holes) == 0:
        return []
    hole_idx, grid_idx = shapely.STRtree(fixed).query(holes, predicate="dwithin", distance=1e-3)
    order = np.argsort(hole_idx, kind="stable")
    around = np.split(
        codes[grid_idx[order]], np.searchsorted(hole_idx[order], np.arange(1, len(holes)))
    )
    where = _wkt_lonlat(shapely.point_on_surface(holes), to_lonlat)
    return [
        TopologyIssue("gap", tuple(sorted(set(c))), float(a), w, "hole enclosed by grids")
        for c, a, w in zip(around, shapely.area(holes), where, strict=True)
    ]
