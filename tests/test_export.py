import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely import Point, box

from gridmap.errors import GridMapError, ValidationError
from gridmap.export import export_layer, iso_times
from gridmap.importer import import_file
from gridmap.model import LAYERS
from gridmap.stores.geopackage import GeoPackageStore

TZ = "Asia/Shanghai"
ORDER = ["grids", "stations", "incidents", "workers", "sites", "demand"]  # grids first: locate
CELLS = [
    ("11010100100101", (116.37, 39.90, 116.39, 39.91)),
    ("11010100100102", (116.39, 39.90, 116.41, 39.91)),
    ("11010100100103", (116.37, 39.91, 116.39, 39.92)),
]


def points(*xy):
    return [None if p is None else Point(p) for p in xy]


def fill(store):
    grid_geoms = [box(*b) for _, b in CELLS]
    grid_geoms[2] = shapely.MultiPolygon(  # a cell in two parts, with a hole in one
        [
            shapely.Polygon(
                [(116.37, 39.91), (116.38, 39.91), (116.38, 39.92), (116.37, 39.92)],
                [[(116.372, 39.912), (116.374, 39.912), (116.374, 39.914)]],
            ),
            box(116.381, 39.91, 116.39, 39.92),
        ]
    )
    layers = {
        "grids": gpd.GeoDataFrame(
            {
                "code": [c for c, _ in CELLS],
                "name": ["东华门一", "东华门二", None],
                "district": ["东城区"] * 3,
                "population": [1234.5, 0.1 + 0.2, 0.0],
                "households": [400, 0, 12],
            },
            geometry=grid_geoms,
        ),
        "stations": gpd.GeoDataFrame(
            {
                "id": ["s1", "s2"],
                "kind": ["red_home", "public_toilet"],
                "name": ['红色驿站 "一号", 东门', "公厕"],
                "capacity": [20, None],
                "opening_hours": ["08:00-20:00", None],
                "status": ["open", "planned"],
                "service_radius_m": [450.0, None],
            },
            geometry=points((116.3751234567891, 39.9051234567891), (116.395, 39.915)),
        ),
        "incidents": gpd.GeoDataFrame(
            {
                "id": ["i1", "i2", "i3"],
                "category": ["E0102", "E0201", "C0104"],
                "description": ["暴露垃圾\n两袋", None, "light; out"],
                "source": ["hotline", "app", "patrol"],
                "priority": [1, 3, 2],
                "reported_at": pd.to_datetime(
                    ["2025-03-03 09:30:00.123", "2025-03-04 14:15:00", "2025-03-05 06:00:00"],
                    format="ISO8601",
                ).tz_localize(TZ),
                "status": ["received", "registered", "closed"],
                "worker_id": [None, None, "w1"],
            },
            geometry=points((116.38, 39.905), (116.40, 39.905), (116.385, 39.915)),
        ),
        "workers": gpd.GeoDataFrame(
            {
                "id": ["w1", "w2"],
                "name": ["张三", "李四"],
                "grid_codes": [["11010100100101", "11010100100102"], []],
                "skills": [["sanitation", "enforcement"], ["greening"]],
                "max_open": [8, 10],
                "shift_start": ["08:30", "09:00"],
                "shift_end": ["17:30", "18:00"],
            },
            geometry=points((116.38, 39.905), None),
        ),
        "sites": gpd.GeoDataFrame(
            {
                "id": ["c1", "c2"],
                "kind": ["red_home", "courier_station"],
                "name": ["候选一", None],
                "cost": [1e6 / 3, 0.0],
                "capacity": [None, 30],
            },
            geometry=points((116.383, 39.911), (116.401, 39.909)),
        ),
        "demand": gpd.GeoDataFrame(
            {
                "id": ["d1", "d2", "d3"],
                "kind": ["residential", "courier", "incident"],
                "weight": [120.0, 2.5, 1.0],
            },
            geometry=points((116.371, 39.901), (116.389, 39.919), (116.409, 39.909)),
        ),
    }
    for name in ORDER:
        store.insert(name, layers[name].set_crs("EPSG:4326"))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "full.gpkg"
    store = GeoPackageStore(path)
    fill(store)
    store.close()
    return path


@pytest.fixture
def store(template, tmp_path):
    shutil.copy(template, tmp_path / "s.gpkg")
    s = GeoPackageStore(tmp_path / "s.gpkg")
    yield s
    s.close()


def assert_same_rows(name, a, b):
    key = LAYERS[name].key
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    skip = {"updated_at"}  # set by the store when a row is written
    columns = [c for c in LAYERS[name].columns if c not in skip]
    pd.testing.assert_frame_equal(pd.DataFrame(a[columns]), pd.DataFrame(b[columns]))
    ga, gb = a.geometry.to_numpy(), b.geometry.to_numpy()
    assert (shapely.is_missing(ga) == shapely.is_missing(gb)).all()
    assert shapely.equals_exact(shapely.normalize(ga), shapely.normalize(gb), tolerance=0)[
        ~shapely.is_missing(ga)
    ].all(), name


@pytest.mark.parametrize("ext", ["csv", "geojson", "gpkg"])
def test_every_layer_round_trips_into_an_empty_store(store, tmp_path, ext):
    target = GeoPackageStore(tmp_path / "empty.gpkg")
    for name in ORDER:
        path = tmp_path / f"{name}.{ext}"
        n = export_layer(store, name, path)
        assert n == store.count(name) > 0
        report = import_file(target, name, path)
        assert (report.read, report.loaded, report.rejected) == (n, n, 0)
    for name in ORDER:
        assert_same_rows(name, store.read(name), target.read(name))
    target.close()


def test_csv_columns_and_values(store, tmp_path):
    path = tmp_path / "incidents.csv"
    export_layer(store, "incidents", path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets see UTF-8
    rows = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(rows.columns[:3]) == ["lon", "lat", "id"]
    first = rows.set_index("id").loc["i1"]
    assert first["reported_at"] == "2025-03-03T09:30:00.123+08:00"
    assert first["description"] == "暴露垃圾\n两袋"
    assert first["worker_id"] == ""
    workers = tmp_path / "workers.csv"
    export_layer(store, "workers", workers)
    w = pd.read_csv(workers, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert json.loads(w.set_index("id").loc["w1", "skills"]) == ["sanitation", "enforcement"]
    assert w.set_index("id").loc["w2", "lon"] == ""
    grids = tmp_path / "grids.csv"
    export_layer(store, "grids", grids)
    g = pd.read_csv(grids, dtype=str, encoding="utf-8-sig")
    assert list(g.columns[:2]) == ["wkt", "code"]
    assert g["wkt"][0].startswith("MULTIPOLYGON")


def test_geojson_is_rfc7946(store, tmp_path):
    path = tmp_path / "grids.geojson"
    export_layer(store, "grids", path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    assert len(doc["features"]) == 3
    for feature in doc["features"]:
        for polygon in feature["geometry"]["coordinates"]:
            exterior, *holes = (shapely.LinearRing(r) for r in polygon)
            assert exterior.is_ccw  # RFC 7946 §3.1.6: exterior counter-clockwise
            assert all(not h.is_ccw for h in holes)
    incidents = tmp_path / "incidents.geojson"
    export_layer(store, "incidents", incidents)
    props = json.loads(incidents.read_text(encoding="utf-8"))["features"][0]["properties"]
    assert props["reported_at"] == "2025-03-03T09:30:00.123+08:00"
    assert props["priority"] == 1 and props["worker_id"] is None
    workers = json.loads(
        (export_layer(store, "workers", tmp_path / "w.geojson"), tmp_path / "w.geojson")[
            1
        ].read_text(encoding="utf-8")
    )
    assert workers["features"][0]["properties"]["skills"] == ["sanitation", "enforcement"]
    assert workers["features"][1]["geometry"] is None


def test_filters_and_empty_layers(store, tmp_path):
    path = tmp_path / "open.geojson"
    assert export_layer(store, "incidents", path, where={"status": "received"}) == 1
    assert len(json.loads(path.read_text(encoding="utf-8"))["features"]) == 1
    assert export_layer(store, "demand", path, bbox=(116.37, 39.90, 116.38, 39.905)) == 1
    store.delete("sites", ["c1", "c2"])
    for ext in ("csv", "geojson", "gpkg"):
        empty = tmp_path / f"sites.{ext}"
        assert export_layer(store, "sites", empty) == 0
        assert import_file(store, "sites", empty).loaded == 0
    assert json.loads((tmp_path / "sites.geojson").read_text())["features"] == []


def test_gpkg_export_is_a_standard_geopackage(store, tmp_path):
    path = tmp_path / "out.gpkg"
    export_layer(store, "workers", path)
    assert [name for name, _ in pyogrio.list_layers(path)] == ["workers"]
    back = pyogrio.read_dataframe(path)
    assert json.loads(back.set_index("id").loc["w1", "grid_codes"])[0] == "11010100100101"


def test_export_errors(store, tmp_path):
    with pytest.raises(GridMapError, match=r"unknown file type \(use one of .geojson"):
        export_layer(store, "grids", tmp_path / "grids.kml")
    with pytest.raises(GridMapError, match="is the store itself"):
        export_layer(store, "grids", Path(store.url))
    with pytest.raises(GridMapError, match="no folder"):
        export_layer(store, "grids", tmp_path / "missing" / "grids.csv")
    with pytest.raises(ValidationError, match="cannot be filtered by colour"):
        export_layer(store, "grids", tmp_path / "g.csv", where={"colour": "red"})
    assert not (tmp_path / "g.csv").exists()
    assert store.count("grids") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.gpkg", "s.gpkg-shm", "s.gpkg-wal"]


def test_iso_times_keep_offsets():
    times = pd.Series(
        [pd.Timestamp("2025-03-03 09:30:00.5", tz=TZ), pd.NaT], dtype=f"datetime64[us, {TZ}]"
    )
    assert iso_times(times).tolist() == ["2025-03-03T09:30:00.500+08:00", None]
    ny = pd.Series(pd.to_datetime(["2025-07-01 12:00"]).tz_localize("America/New_York"))
    assert iso_times(ny).tolist() == ["2025-07-01T12:00:00.000-04:00"]
    assert np.all(pd.to_datetime(iso_times(times)[:1], format="ISO8601") == times[:1])
