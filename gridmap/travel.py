"""Travel distances and times between points: straight lines or the store's road network.

Straight-line distances are great-circle (haversine) distances times a detour factor (1.3 by
default: streets are seldom straight). Network distances run on the ``roads`` layer
(:mod:`gridmap.network`) as a sparse graph: every point is snapped to the nearest node of the
network's largest strongly connected component (so every pair is reachable), and matrices come
from :func:`scipy.sparse.csgraph.dijkstra` run once from each distinct origin node (or from each
distinct destination node on the reversed graph, when there are fewer of those). The access legs
from a point to its node and from the destination's node to the destination are added as
straight lines. Graphs are cached per store and per state of its ``roads`` layer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from gridmap.errors import GridMapError
from gridmap.model import CRS
from gridmap.stores.base import Store

__all__ = [
    "DEFAULT_DETOUR",
    "WALKING_KMH",
    "RoadGraph",
    "clear_cache",
    "haversine_m",
    "road_graph",
    "travel_matrix",
]

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
DEFAULT_DETOUR = 1.3
WALKING_KMH = 4.5
MIN_EDGE_M = 1e-6  # zero-length edges would be dropped by the sparse matrix
CACHE_SIZE = 4
DIJKSTRA_BYTES = 128 * 2**20  # memory for one block of Dijkstra rows
METHODS = ("straight", "network")
UNITS = ("m", "s")


def haversine_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Return great-circle distances in metres between lon/lat degrees (numpy broadcasting)."""
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass(eq=False)
class RoadGraph:
    """The ``roads`` layer as a directed graph.

    Attributes
    ----------
    nodes : numpy.ndarray
        Node ids (text), in graph index order.
    xy : numpy.ndarray
        ``(n, 2)`` node coordinates in ``crs`` (metres).
    crs : pyproj.CRS
        The network's local UTM zone.
    tails, heads : numpy.ndarray
        Node indices of each directed arc (two-way edges give two arcs).
    length_m : numpy.ndarray
        Length of each arc.
    speed_kmh : numpy.ndarray
        Speed of each arc (NaN: the caller's speed).
    reachable : numpy.ndarray
        Node indices of the largest strongly connected component: points snap to these.
    """

    nodes: np.ndarray
    xy: np.ndarray
    crs: pyproj.CRS
    tails: np.ndarray
    heads: np.ndarray
    length_m: np.ndarray
    speed_kmh: np.ndarray
    reachable: np.ndarray
    _tree: cKDTree = field(init=False, repr=False)
    _matrices: dict[tuple[str, float], csr_matrix] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._tree = cKDTree(self.xy[self.reachable])

    @classmethod
    def from_roads(cls, roads: gpd.GeoDataFrame) -> RoadGraph:
        """Build the graph from ``roads`` rows (each line drawn from ``u`` to ``v``)."""
        if roads.empty:
            raise GridMapError("the road network is empty: run `gridmap network import` first")
        crs = roads.geometry.estimate_utm_crs()
        lines = roads.geometry.to_crs(crs).to_numpy()
        ends = np.concatenate(
            [
                shapely.get_coordinates(shapely.get_point(lines, 0)),
                shapely.get_coordinates(shapely.get_point(lines, -1)),
            ]
        )
        codes, nodes = pd.factorize(pd.concat([roads["u"], roads["v"]], ignore_index=True))
        xy = np.zeros((len(nodes), 2))
        xy[codes] = ends  # a node's place: where its edges start or end
        n_edges = len(roads)
        u, v = codes[:n_edges], codes[n_edges:]
        length = roads["length_m"].to_numpy(dtype=float)
        length = np.where(np.isnan(length), shapely.length(lines), length)
        speed = roads["speed_kmh"].to_numpy(dtype=float)
        speed = np.where(speed > 0, speed, np.nan)
        two_way = roads["oneway"].fillna(0).to_numpy(dtype=int) == 0
        tails = np.concatenate([u, v[two_way]])
        heads = np.concatenate([v, u[two_way]])
        arcs = csr_matrix((np.ones(len(tails)), (tails, heads)), shape=(len(nodes), len(nodes)))
        _, labels = connected_components(arcs, directed=True, connection="strong")
        largest = np.bincount(labels).argmax()
        return cls(
            nodes=np.asarray(nodes, dtype=object),
            xy=xy,
            crs=crs,
            tails=tails,
            heads=heads,
            length_m=np.maximum(np.concatenate([length, length[two_way]]), MIN_EDGE_M),
            speed_kmh=np.concatenate([speed, speed[two_way]]),
            reachable=np.flatnonzero(labels == largest),
        )

    def matrix(self, unit: str = "m", speed_kmh: float = WALKING_KMH) -> csr_matrix:
        """Return the sparse arc matrix weighted by metres or by seconds at the arcs' speeds.

        Parallel arcs keep their smallest weight.
        """
        key = (unit, float(speed_kmh) if unit == "s" else 0.0)
        if key not in self._matrices:
            weight = self.length_m
            if unit == "s":
                weight = self.length_m / (
                    np.where(np.isnan(self.speed_kmh), speed_kmh, self.speed_kmh) / 3.6
                )
            order = np.lexsort((weight, self.heads, self.tails))
            t, h, w = self.tails[order], self.heads[order], weight[order]
            first = np.ones(len(t), dtype=bool)
            first[1:] = (t[1:] != t[:-1]) | (h[1:] != h[:-1])
            n = len(self.nodes)
            self._matrices[key] = csr_matrix((w[first], (t[first], h[first])), shape=(n, n))
        return self._matrices[key]

    def snap(self, points: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
        """Return the nearest reachable node of each point and the straight distance to it (m)."""
        points = points if points.crs is not None else points.set_crs(CRS)
        xy = shapely.get_coordinates(shapely.centroid(points.to_crs(self.crs).to_numpy()))
        if len(xy) != len(points):
            raise GridMapError("travel times need one non-empty point per location")
        offset, index = self._tree.query(xy)
        return self.reachable[index], offset

    def distances(
        self, sources: np.ndarray, targets: np.ndarray, weights: csr_matrix
    ) -> np.ndarray:
        """Return shortest-path weights from each source node to each target node.

        Dijkstra runs from the distinct sources (or, when fewer, from the distinct targets on
        the reversed graph), in blocks that keep the dense rows within ``DIJKSTRA_BYTES``.
        """
        src, src_at = np.unique(sources, return_inverse=True)
        dst, dst_at = np.unique(targets, return_inverse=True)
        backwards = len(dst) < len(src)
        graph, start, end = (weights.T.tocsr(), dst, src) if backwards else (weights, src, dst)
        block = max(1, DIJKSTRA_BYTES // (8 * max(1, len(self.nodes))))
        rows = np.empty((len(start), len(end)))
        for i in range(0, len(start), block):
            found = dijkstra(graph, directed=True, indices=start[i : i + block])
            rows[i : i + block] = found[:, end]
        unique = rows.T if backwards else rows
        return unique[np.ix_(src_at, dst_at)]


_CACHE: OrderedDict[tuple[object, ...], RoadGraph] = OrderedDict()
_LOCK = threading.Lock()


def _cache_key(store: Store) -> tuple[object, ...]:
    info = store.layer_info("roads")
    return (store.url, info.count, info.bbox, info.description)


def road_graph(store: Store) -> RoadGraph:
    """Return the graph of the store's ``roads`` (cached while the layer stays the same).

    The cache keys on the store's URL and the layer's count, extent and description (which
    ``gridmap network import`` stamps with the time of import).

    Raises
    ------
    GridMapError
        If the store has no road network.
    """
    key = _cache_key(store)
    if key[1] == 0:
        raise GridMapError(
            f"{store.url} has no road network yet: run `gridmap network import FILE` first"
        )
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    graph = RoadGraph.from_roads(store.read("roads"))
    with _LOCK:
        _CACHE[key] = graph
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return graph


def clear_cache() -> None:
    """Forget every cached road graph."""
    with _LOCK:
        _CACHE.clear()


def _lonlat(points: gpd.GeoSeries) -> np.ndarray:
    geoms = points.to_crs(CRS) if points.crs is not None else points
    xy = shapely.get_coordinates(shapely.centroid(geoms.to_numpy()))
    if len(xy) != len(points):
        raise GridMapError("travel times need one non-empty point per location")
    return xy


def travel_matrix(
    store: Store | None,
    origins: gpd.GeoSeries,
    destinations: gpd.GeoSeries,
    *,
    method: str = "straight",
    unit: str = "m",
    detour: float = DEFAULT_DETOUR,
    speed_kmh: float = WALKING_KMH,
) -> np.ndarray:
    """Return the travel distance or time from every origin to every destination.

    Parameters
    ----------
    store : Store or None
        The store whose ``roads`` the network method uses (unused, may be None, for
        ``"straight"``).
    origins, destinations : geopandas.GeoSeries
        Points (other geometries count by their centroid) with a CRS.
    method : {"straight", "network"}, default "straight"
        Great-circle distance times ``detour``, or shortest paths on the road network plus the
        straight access legs to and from the nearest nodes.
    unit : {"m", "s"}, default "m"
        Metres, or seconds at ``speed_kmh`` (road edges with their own speed use it).
    detour : float, default 1.3
        Factor on straight-line distances (straight method only).
    speed_kmh : float, default 4.5
        Speed for straight lines, access legs and edges without a speed.

    Returns
    -------
    numpy.ndarray
        ``(len(origins), len(destinations))`` float64 matrix.

    Raises
    ------
    GridMapError
        On an unknown method or unit, a non-positive detour or speed, an empty point, or (network
        method) a store without a road network.
    """
    if method not in METHODS:
        raise GridMapError(f"unknown travel method {method!r}; methods: {', '.join(METHODS)}")
    if unit not in UNITS:
        raise GridMapError(f"unknown travel unit {unit!r}; units: m (metres), s (seconds)")
    if not detour > 0 or not speed_kmh > 0:
        raise GridMapError("the detour factor and the speed must be positive")
    per_metre = 1.0 if unit == "m" else 3.6 / speed_kmh
    if len(origins) == 0 or len(destinations) == 0:
        return np.zeros((len(origins), len(destinations)))
    if method == "straight":
        a, b = _lonlat(origins), _lonlat(destinations)
        metres = haversine_m(a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1])
        return metres * detour * per_metre
    if store is None:
        raise GridMapError("network travel times need a store with a road network")
    graph = road_graph(store)
    src, src_off = graph.snap(origins)
    dst, dst_off = graph.snap(destinations)
    paths = graph.distances(src, dst, graph.matrix(unit, speed_kmh))
    return paths + (src_off[:, None] + dst_off[None, :]) * per_metre
