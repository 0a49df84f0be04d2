"""Road networks for travel times: OpenStreetMap extracts or OSMnx GraphML files -> ``roads``.

A network is stored as the edges of the ``roads`` layer (:mod:`gridmap.model`): one line per edge
from node ``u`` to node ``v`` with its length in metres, the street's name and ``highway`` class,
``oneway`` (1: only from ``u`` to ``v``) and a speed in km/h (driving networks; null on walking
networks, where the caller's walking speed applies). :mod:`gridmap.travel` turns the layer into a
graph. Walking networks ignore one-way tags, as pedestrians may walk both ways.
"""

from __future__ import annotations

import ast
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.errors import GridMapError, NotFoundError
from gridmap.graphml import GraphML, read_graphml
from gridmap.model import CRS
from gridmap.osm_extract import ATTRIBUTION
from gridmap.spatial import metric_crs
from gridmap.stores.base import Progress, Store

__all__ = ["MODES", "NetworkImport", "import_network", "read_network"]

MODES = ("walking", "driving")
#: Speeds (km/h) of driving edges without a usable ``maxspeed``, by ``highway`` class.
DEFAULT_SPEEDS = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 60.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 10.0,
    "service": 15.0,
}
FALLBACK_SPEED = 30.0
MPH = 1.609344
_TRUE = {"yes", "true", "1"}
_REVERSED = {"-1", "reverse"}
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(mph)?")


@dataclass(frozen=True)
class NetworkImport:
    """What ``gridmap network import`` stored.

    Attributes
    ----------
    source : str
        The file read.
    mode : str
        ``"walking"`` or ``"driving"``.
    edges, nodes : int
        Edges stored and the nodes they join.
    dropped : int
        Edges left out: loops from a node to itself and edges without length.
    length_km : float
        Total length of the stored edges.
    seconds : float
        Time taken.
    """

    source: str
    mode: str
    edges: int
    nodes: int
    dropped: int
    length_km: float
    seconds: float

    def __str__(self) -> str:
        return (
            f"roads: {self.edges:,} edge(s) between {self.nodes:,} node(s), "
            f"{self.length_km:,.1f} km ({self.mode} network from {self.source}); "
            f"{self.dropped:,} left out (loops, zero length); {self.seconds:.1f} s"
        )


def _first(value: object) -> object:
    """Return the first item of a list, or of a list written as text (``"['a', 'b']"``)."""
    if isinstance(value, str) and value.startswith("["):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, list | tuple | np.ndarray):
        return value[0] if len(value) else None
    return value


def _text(values: pd.Series, *, join: bool = False) -> pd.Series:
    """Return plain text values; lists become their first item (or all, joined by ``;``)."""

    def one(v: object) -> str | None:
        if isinstance(v, str) and v.startswith("[") and join:
            try:
                items = ast.literal_eval(v)
            except (ValueError, SyntaxError):
                return v
            return ";".join(str(x) for x in items) if isinstance(items, list) else str(items)
        v = _first(v)
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v) in ("", "nan", "None"):
            return None
        return str(v)

    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def _oneway(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return (one way, reversed) flags from OSM ``oneway`` values (``yes``, ``-1``, ``True``)."""
    text = _text(values).fillna("").str.strip().str.lower()
    return text.isin(_TRUE).to_numpy(copy=True), text.isin(_REVERSED).to_numpy(copy=True)


def _speeds(maxspeed: pd.Series, highway: pd.Series) -> np.ndarray:
    """Return km/h from ``maxspeed`` (``50``, ``30 mph``), else by ``highway`` class."""
    out = np.full(len(maxspeed), np.nan)
    for i, value in enumerate(_text(maxspeed).tolist()):
        match = _NUMBER.match(value.strip().lower()) if value else None
        if match and float(match[1]) > 0:
            out[i] = float(match[1]) * (MPH if match[2] else 1.0)
    fallback = _text(highway).map(DEFAULT_SPEEDS).astype(float).fillna(FALLBACK_SPEED)
    return np.where(np.isnan(out), fallback.to_numpy(), out)


def _finish(edges: gpd.GeoDataFrame, mode: str) -> tuple[gpd.GeoDataFrame, int]:
    """Apply the mode's rules, drop loops and zero-length edges; return the rows and the drops."""
    oneway, backwards = _oneway(edges["oneway"])
    if mode == "walking":
        oneway[:], backwards[:] = False, False
    geoms = edges.geometry.to_numpy().copy()
    geoms[backwards] = shapely.reverse(geoms[backwards])
    u = np.where(backwards, edges["v"], edges["u"])
    v = np.where(backwards, edges["u"], edges["v"])
    speed = _speeds(edges["maxspeed"], edges["highway"]) if mode == "driving" else np.nan
    out = gpd.GeoDataFrame(
        {
            "id": edges["id"].to_numpy(),
            "u": u.astype(str),
            "v": v.astype(str),
            "length_m": np.round(edges["length_m"].to_numpy(dtype=float), 3),
            "name": _text(edges["name"], join=True).to_numpy(),
            "highway": _text(edges["highway"]).to_numpy(),
            "oneway": (oneway | backwards).astype("int64"),
            "speed_kmh": speed,
        },
        geometry=geoms,
        crs=CRS,
    )
    keep = (out["u"] != out["v"]).to_numpy() & (out["length_m"] > 0).to_numpy()
    keep &= shapely.is_valid(geoms) & ~shapely.is_empty(geoms)
    return out[keep].reset_index(drop=True), int((~keep).sum())


def _metric_lengths(geoms: gpd.GeoSeries) -> np.ndarray:
    if len(geoms) == 0:
        return np.zeros(0)
    return geoms.to_crs(metric_crs(geoms)).length.to_numpy()


def _from_pbf(path: Path, mode: str) -> gpd.GeoDataFrame:
    import pyrosm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyrosm measures lengths in degrees along the way
        found = pyrosm.OSM(str(path)).get_network(network_type=mode, nodes=True)
    if found is None or found[1] is None or len(found[1]) == 0:
        raise GridMapError(f"{path} holds no {mode} roads")
    edges = found[1].to_crs(CRS).reset_index(drop=True)
    way = "W" + edges["id"].astype("int64").astype(str)
    edges["id"] = way + "." + edges.groupby(way).cumcount().astype(str)
    edges["u"] = edges["u"].astype("int64").astype(str)
    edges["v"] = edges["v"].astype("int64").astype(str)
    edges["length_m"] = _metric_lengths(edges.geometry)
    for column in ("name", "highway", "oneway", "maxspeed"):
        if column not in edges:
            edges[column] = None
    return edges


def _to_lonlat(graph: GraphML) -> pyproj.Transformer | None:
    """Return the transformer from the graph's ``crs`` to lon/lat (None when already lon/lat)."""
    try:
        crs = pyproj.CRS.from_user_input(graph.attributes.get("crs") or CRS)
    except pyproj.exceptions.CRSError:
        raise GridMapError(f"unknown GraphML crs {graph.attributes.get('crs')!r}") from None
    if crs.equals(pyproj.CRS(CRS)):
        return None
    return pyproj.Transformer.from_crs(crs, CRS, always_xy=True)


def _graphml_nodes(graph: GraphML, to: pyproj.Transformer | None) -> pd.DataFrame:
    nodes = graph.nodes
    if not {"x", "y"} <= set(nodes.columns):
        raise GridMapError("the GraphML nodes need x and y coordinates (an OSMnx graph)")
    xy = nodes[["x", "y"]].apply(pd.to_numeric, errors="coerce")
    if xy.isna().any().any():
        raise GridMapError("some GraphML nodes have no numeric x/y coordinates")
    if to is not None:
        lon, lat = to.transform(xy["x"].to_numpy(), xy["y"].to_numpy())
        xy = pd.DataFrame({"x": lon, "y": lat}, index=xy.index)
    return xy


def _from_graphml(path: Path, mode: str) -> gpd.GeoDataFrame:
    graph = read_graphml(path)
    edges = graph.edges
    if edges.empty:
        raise GridMapError(f"{path} holds no edges")
    to = _to_lonlat(graph)
    xy = _graphml_nodes(graph, to)
    unknown = set(edges["u"]).union(edges["v"]) - set(xy.index)
    if unknown:
        raise GridMapError(f"GraphML edges refer to unknown node {min(unknown)!r}")
    for column in ("name", "highway", "oneway", "maxspeed", "length", "geometry"):
        if column not in edges:
            edges[column] = None
    start = xy.loc[edges["u"]].to_numpy()
    end = xy.loc[edges["v"]].to_numpy()
    try:
        wkt = [g if isinstance(g, str) and g.strip() else None for g in edges["geometry"]]
        geoms = shapely.from_wkt(np.array(wkt, dtype=object))
    except shapely.errors.GEOSException as exc:
        raise GridMapError(f"a GraphML edge geometry is not WKT: {exc}") from None
    if to is not None:
        geoms = shapely.transform(geoms, lambda c: np.column_stack(to.transform(c[:, 0], c[:, 1])))
    straight = shapely.linestrings(np.stack([start, end], axis=1))
    missing = shapely.is_missing(geoms)
    geoms[missing] = straight[missing]
    first = shapely.get_coordinates(shapely.get_point(geoms, 0))
    flip = np.hypot(*(first - end).T) < np.hypot(*(first - start).T)  # drawn from v to u
    geoms[flip] = shapely.reverse(geoms[flip])
    out = gpd.GeoDataFrame(edges.drop(columns=["geometry"]), geometry=geoms, crs=CRS)
    length = pd.to_numeric(out["length"].map(_first), errors="coerce").to_numpy(dtype=float)
    out["length_m"] = np.where(np.isnan(length), _metric_lengths(out.geometry), length)
    out["id"] = out["u"] + "-" + out["v"] + "-" + out["key"]
    if not graph.directed or mode == "walking":
        out["oneway"] = False
    # a two-way street appears once per direction in a directed graph: keep one of the two
    oneway, _ = _oneway(out["oneway"])
    pair = np.where(out["u"] < out["v"], out["u"] + "|" + out["v"], out["v"] + "|" + out["u"])
    twin = pd.Series(pair).where(~oneway) + "|" + out["length_m"].round(1).astype(str)
    return out[~(twin.notna() & twin.duplicated()).to_numpy()].reset_index(drop=True)


def read_network(path: str | Path, mode: str = "walking") -> tuple[gpd.GeoDataFrame, int]:
    """Return the edges of a road network as rows of the ``roads`` layer.

    Parameters
    ----------
    path : str or Path
        An OpenStreetMap extract (``.osm.pbf``, read with pyrosm) or an OSMnx GraphML file
        (``.graphml``: nodes with ``x``/``y``, edges with ``length``, ``name``, ``highway``,
        ``oneway``, ``maxspeed`` and an optional WKT ``geometry``; a projected graph is
        reprojected by its ``crs`` attribute).
    mode : {"walking", "driving"}
        Which network to read from an extract; on both kinds of file, walking networks ignore
        one-way tags and carry no speed, driving networks get a speed per edge.

    Returns
    -------
    edges : GeoDataFrame
        The ``roads`` rows (EPSG:4326), each line drawn from ``u`` to ``v``.
    dropped : int
        Edges left out (loops, zero length, unusable geometry).

    Raises
    ------
    GridMapError
        If the file is missing, of an unknown kind, unreadable or holds no roads.
    """
    path = Path(path)
    if mode not in MODES:
        raise GridMapError(f"unknown network mode {mode!r}; modes: {', '.join(MODES)}")
    if not path.is_file():
        raise NotFoundError(f"no road network file at {path}")
    if path.name.endswith(".pbf"):
        edges = _from_pbf(path, mode)
    elif path.suffix.lower() == ".graphml":
        edges = _from_graphml(path, mode)
    else:
        raise GridMapError(f"{path.name}: give an OSM extract (.osm.pbf) or a GraphML file")
    return _finish(edges, mode)


def import_network(
    store: Store, path: str | Path, *, mode: str = "walking", progress: Progress | None = None
) -> NetworkImport:
    """Replace the store's ``roads`` with the network of a file (see :func:`read_network`).

    The layer's description records the file, the mode and the time of import (travel-time
    caches key on it).

    Returns
    -------
    NetworkImport
        Counts and total length of what was stored.
    """
    began = time.perf_counter()
    edges, dropped = read_network(path, mode)
    n = store.insert("roads", edges, replace=True, progress=progress)
    kind = "OSM extract" if Path(path).name.endswith(".pbf") else "GraphML"
    stamp = pd.Timestamp.now(tz="UTC").isoformat(timespec="milliseconds")
    store.set_layer_info(
        "roads",
        description=f"{mode} network from {kind} {Path(path).name}, imported {stamp}; {ATTRIBUTION}",
        simulated=False,
    )
    nodes = len(set(edges["u"]) | set(edges["v"]))
    return NetworkImport(
        source=str(path),
        mode=mode,
        edges=n,
        nodes=nodes,
        dropped=dropped,
        length_km=float(edges["length_m"].sum()) / 1000.0,
        seconds=time.perf_counter() - began,
    )
