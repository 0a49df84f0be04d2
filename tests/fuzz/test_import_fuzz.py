"""Fuzzing every importer with generated and mutated CSV, GeoJSON, Shapefile and GeoPackage files.

Each hypothesis example writes one import file (rows of a layer, some with a known defect, the
file sometimes corrupted or imported with odd options) and imports it into a store of each
backend. What must hold:

* a file without defects loads whole: the layer grows by exactly its rows, keyed as written;
* a file with a defective row is refused with a ValidationError and nothing at all is written;
  with ``skip_invalid`` exactly the rows without defects load;
* a corrupted file (bytes flipped, cut or inserted, a Shapefile part missing, the GeoJSON tree
  mangled, a real corpus file damaged) or an odd option either loads (the store then grows by
  exactly what the report says) or is refused with a GridMapError whose message says why, and
  nothing is written: never another exception type, never a partial write.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import shutil
import tempfile
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box, mapping

from gridmap.catalog import station_kinds
from gridmap.errors import GridMapError, ValidationError
from gridmap.importer import import_file
from gridmap.model import DEMAND_KINDS, LAYERS, SOURCES, STATION_STATUSES
from gridmap.stores import open_store
from gridmap.workflow import STATES

CORPUS = Path(__file__).resolve().parents[1] / "data" / "import"
GRID_CELLS = [  # the corpus's four test grids (tests/data/import/make_corpus.py)
    ("11010100100101", (116.37, 39.90, 116.39, 39.91)),
    ("11010100100102", (116.39, 39.90, 116.41, 39.91)),
    ("11010100100103", (116.37, 39.91, 116.39, 39.92)),
    ("11010100100104", (116.39, 39.91, 116.41, 39.92)),
]
WEST, SOUTH, EAST, NORTH = 116.37, 39.90, 116.41, 39.92
FORMATS = ("csv", "geojson", "shapefile", "zip", "gpkg")
CATEGORIES = ("E0102", "E0201", "C0104", "E0404", "H05")
#: Import files per store, 1,050 in all (an import takes some 65 ms into a GeoPackage, 40 ms
#: into PostGIS).
EXAMPLES = {"gpkg": 600, "postgis": 450}

_serial = itertools.count(1)  # keys unique across every example of a test process


# -- rows ----------------------------------------------------------------------------------------
@dataclass
class Table:
    """Rows of one layer as written to a file, and which of them carry a defect."""

    layer: str
    rows: list[dict[str, Any]]  # field -> value; "geometry" -> shapely geometry or None
    defective: set[int] = field(default_factory=set)
    defects: list[str] = field(default_factory=list)

    def keys(self, rows: set[int] | None = None) -> set[str]:
        key = LAYERS[self.layer].key
        chosen = range(len(self.rows)) if rows is None else rows
        return {str(self.rows[i][key]) for i in chosen}


TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(',;"|\n\t'),
    max_size=12,
)
SOME_TEXT = st.none() | TEXT
LON = st.floats(WEST + 1e-6, EAST - 1e-6)
LAT = st.floats(SOUTH + 1e-6, NORTH - 1e-6)
POINT = st.builds(Point, LON, LAT)
SIZE = st.floats(1e-4, 0.01)
GRID = st.builds(lambda x, y, w, h: box(x, y, x + w, y + h), LON, LAT, SIZE, SIZE)
LINE = st.lists(st.tuples(LON, LAT), min_size=2, max_size=4, unique=True).map(LineString)
WHOLE = st.integers(0, 10**6)
AMOUNT = st.floats(0, 1e9)


@st.composite
def reported_at(draw) -> str:
    t = draw(st.datetimes(pd.Timestamp("2000-01-01"), pd.Timestamp("2030-12-31")))
    forms = (
        "%Y-%m-%dT%H:%M:%S+08:00",
        "%Y-%m-%dT%H:%M:%SZ",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "{y}年{m}月{d}日 {H}时{M}分",
    )
    form = draw(st.sampled_from(forms))
    if form.startswith("{"):
        return form.format(y=t.year, m=t.month, d=t.day, H=t.hour, M=t.minute)
    return t.strftime(form)


def _fields(layer: str) -> dict[str, st.SearchStrategy]:
    """Return valid values of each (non-key, non-derived) field a file may carry."""
    kinds = st.sampled_from(sorted(station_kinds()))
    return {
        "incidents": {
            "category": st.sampled_from(CATEGORIES),
            "description": SOME_TEXT,
            "source": st.sampled_from(SOURCES),
            "priority": st.sampled_from((1, 2, 3)),
            "reported_at": reported_at(),
            "status": st.sampled_from(list(STATES)),
        },
        "grids": {
            "name": SOME_TEXT,
            "district": SOME_TEXT,
            "population": AMOUNT,
            "households": WHOLE,
        },
        "stations": {
            "kind": kinds,
            "name": SOME_TEXT,
            "capacity": WHOLE,
            "opening_hours": SOME_TEXT,
            "status": st.sampled_from(STATION_STATUSES),
            "service_radius_m": AMOUNT,
        },
        "workers": {
            "name": SOME_TEXT,
            "grid_codes": st.sampled_from(["", "11010100100101", "11010100100101;11010100100102"]),
            "skills": st.sampled_from(["", "sanitation", "sanitation,traffic"]),
            "max_open": WHOLE,
            "shift_start": st.sampled_from(["08:00", "09:30"]),
        },
        "sites": {"kind": kinds, "name": SOME_TEXT, "cost": AMOUNT, "capacity": WHOLE},
        "demand": {"kind": st.sampled_from(DEMAND_KINDS), "name": SOME_TEXT, "weight": AMOUNT},
        "roads": {
            "u": st.text("abc0123456789", min_size=1, max_size=6),
            "v": st.text("abc0123456789", min_size=1, max_size=6),
            "length_m": AMOUNT,
            "highway": st.sampled_from(["primary", "residential", None]),
            "oneway": st.sampled_from((0, 1)),
            "speed_kmh": st.floats(1, 120),
        },
    }[layer]


GEOMETRY = {"grids": GRID, "roads": LINE, "workers": st.none() | POINT}


@st.composite
def valid_row(draw, layer: str, key: object) -> dict[str, Any]:
    spec = LAYERS[layer]
    row: dict[str, Any] = {spec.key: key}
    for name, values in _fields(layer).items():
        required = spec.field(name).required
        if required or draw(st.booleans()):  # optional fields come and go
            row[name] = draw(values)
    row["geometry"] = draw(GEOMETRY.get(layer, POINT))
    return row


# Defects: each makes its row invalid in a way every importer must refuse.
def _blank_required(row, spec, rows, draw):
    names = [f.name for f in spec.fields if f.required]
    row[draw(st.sampled_from(names))] = draw(st.sampled_from([None, "", "   "]))


_WRONG_CHOICE = {"category": "E9999", "kind": "kiosk", "status": "lost", "source": "fax"}
_WRONG_CHOICE |= {"priority": 7, "oneway": 2}


def _wrong_choice(row, spec, rows, draw):
    names = [f.name for f in spec.fields if f.choices is not None and not f.derived]
    name = draw(st.sampled_from(names))
    row[name] = _WRONG_CHOICE[name]


def _not_a_number(row, spec, rows, draw):
    names = [f.name for f in spec.fields if f.kind in ("int", "float") and not f.derived]
    row[draw(st.sampled_from(names))] = draw(st.sampled_from(["12abc", "一百", "1,5"]))


def _below_minimum(row, spec, rows, draw):
    names = [f.name for f in spec.fields if f.minimum is not None and not f.derived]
    row[draw(st.sampled_from(names))] = -draw(st.integers(1, 1000))


def _fraction_in_int(row, spec, rows, draw):
    names = [f.name for f in spec.fields if f.kind == "int" and not f.derived]
    row[draw(st.sampled_from(names))] = 2.5


def _bad_date(row, spec, rows, draw):
    row["reported_at"] = draw(st.sampled_from(["2025-13-45 10:00", "yesterday", "2025年2月30日"]))


def _duplicate_key(row, spec, rows, draw):
    row[spec.key] = rows[draw(st.integers(0, len(rows) - 1))][spec.key]


def _no_geometry(row, spec, rows, draw):
    row["geometry"] = None


def _out_of_range(row, spec, rows, draw):
    x, y = draw(st.sampled_from([(200.0, 39.9), (116.4, 95.5), (-181.0, -91.0)]))
    row["geometry"] = {
        "grids": box(x, y, x + 0.01, y + 0.01),
        "roads": LineString([(x, y), (x + 0.01, y + 0.01)]),
    }.get(spec.name, Point(x, y))


def _wrong_type(row, spec, rows, draw):
    row["geometry"] = {
        "grids": Point(116.38, 39.905),
        "roads": box(116.38, 39.905, 116.39, 39.91),
    }.get(spec.name, LineString([(116.38, 39.905), (116.39, 39.91)]))


def _empty_geometry(row, spec, rows, draw):
    row["geometry"] = {"grids": shapely.Polygon(), "roads": LineString()}.get(spec.name, Point())


def _unrepairable(row, spec, rows, draw):
    # a polygon whose repair is a line: not a polygon any more
    row["geometry"] = shapely.Polygon([(116.38, 39.905), (116.39, 39.905), (116.385, 39.905)])


def defects_for(table: str, fmt: str, csv_geometry: str) -> dict[str, Any]:
    """Return the defects that make a row of ``table`` invalid when written as ``fmt``."""
    spec = LAYERS[table]
    found = {"blank_required": _blank_required, "duplicate_key": _duplicate_key}
    if any(f.choices is not None and not f.derived for f in spec.fields):
        found["wrong_choice"] = _wrong_choice
    if any(f.kind in ("int", "float") and not f.derived for f in spec.fields):
        found["not_a_number"] = _not_a_number
    if any(f.minimum is not None and not f.derived for f in spec.fields):
        found["below_minimum"] = _below_minimum
    if any(f.kind == "int" and not f.derived for f in spec.fields):
        found["fraction_in_int"] = _fraction_in_int
    if table == "incidents":
        found["bad_date"] = _bad_date
    if spec.geometry_required:
        found["no_geometry"] = _no_geometry
    found["out_of_range"] = _out_of_range
    if fmt not in ("shapefile", "zip") and csv_geometry != "lonlat":  # a Shapefile has one type
        found["wrong_type"] = _wrong_type
        if spec.geometry_required:
            found["empty_geometry"] = _empty_geometry
    if table == "grids":
        found["unrepairable"] = _unrepairable
    return found


@st.composite
def tables(draw, layer: str, fmt: str, csv_geometry: str) -> Table:
    """Draw rows of ``layer``; a third of the tables carry one to three defective rows."""
    spec = LAYERS[layer]
    serial = next(_serial)
    numeric_keys = fmt in ("geojson", "gpkg") and draw(st.booleans())
    n = draw(st.integers(1, 6))
    keys = [serial * 100 + i if numeric_keys else f"fz{serial}-{i}" for i in range(n)]
    table = Table(layer, [draw(valid_row(layer, key)) for key in keys])
    defects = defects_for(layer, fmt, csv_geometry)
    if draw(st.integers(0, 2)) == 0:
        names = draw(st.lists(st.sampled_from(sorted(defects)), min_size=1, max_size=3))
        chosen = [(name, draw(st.integers(0, n - 1))) for name in names]
        # duplicates last and in row order: a later change must not undo what one copied
        for name, i in sorted(chosen, key=lambda pair: (pair[0] == "duplicate_key", pair[1])):
            if name == "duplicate_key" and i == 0:
                continue
            defects[name](table.rows[i], spec, table.rows[:i], draw)
            table.defective.add(i)
            table.defects.append(name)
    return table


# -- writers -------------------------------------------------------------------------------------
LON_LAT_NAMES = [("lon", "lat"), ("lng", "latitude"), ("经度", "纬度"), ("X", "y"), ("Long", "Lat")]


def write_csv(table: Table, folder: Path, geometry: str, draw) -> Path:
    columns = sorted({k for row in table.rows for k in row} - {"geometry"})
    lon, lat = draw(st.sampled_from(LON_LAT_NAMES))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=draw(st.sampled_from(",;\t|")), lineterminator="\n")
    writer.writerow([*columns, *((lon, lat) if geometry == "lonlat" else ("wkt",))])
    for row in table.rows:
        geom = row["geometry"]
        if geometry == "lonlat":
            where = ["", ""] if geom is None or geom.is_empty else [repr(geom.x), repr(geom.y)]
        else:
            where = ["" if geom is None else geom.wkt]
        writer.writerow([_cell(row.get(c)) for c in columns] + where)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]))
    path = folder / f"rows{draw(st.sampled_from(['.csv', '.tsv', '.txt']))}"
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def _cell(value: object) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def feature_collection(table: Table) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {k: v for k, v in row.items() if k != "geometry"},
                "geometry": None if row["geometry"] is None else mapping(row["geometry"]),
            }
            for row in table.rows
        ],
    }


def frame(table: Table) -> gpd.GeoDataFrame:
    """Return the rows as a frame whose columns each have one type, as OGR writes them."""
    data = pd.DataFrame([{k: v for k, v in row.items() if k != "geometry"} for row in table.rows])
    for name in data.columns:
        values = [v for v in data[name] if v is not None and v == v]
        if values and all(isinstance(v, int) for v in values):
            data[name] = data[name].astype("Int64")
        elif values and all(isinstance(v, int | float) for v in values):
            data[name] = data[name].astype(float)
        else:
            data[name] = [None if v is None or v != v else str(v) for v in data[name]]
    geoms = [row["geometry"] for row in table.rows]
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")


def write_vector(table: Table, folder: Path, fmt: str) -> Path:
    rows = frame(table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # field names cut to 10 characters, and the like
        if fmt == "gpkg":
            path = folder / "rows.gpkg"
            pyogrio.write_dataframe(rows, path, layer=table.layer, geometry_type="Unknown")
            return path
        path = folder / "rows.shp"
        multi = LAYERS[table.layer].geometry == "MultiPolygon"
        pyogrio.write_dataframe(rows, path, encoding="UTF-8", promote_to_multi=multi)
    if fmt == "shapefile":
        return path
    archive = folder / "rows.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(folder.glob("rows.*")):
            if part != archive:
                zf.write(part, f"data/{part.name}")
    return archive


def write_file(table: Table, folder: Path, fmt: str, csv_geometry: str, draw) -> Path:
    if fmt == "csv":
        return write_csv(table, folder, csv_geometry, draw)
    if fmt == "geojson":
        path = folder / f"rows{draw(st.sampled_from(['.geojson', '.json']))}"
        text = json.dumps(feature_collection(table), ensure_ascii=draw(st.booleans()))
        path.write_text(text, encoding="utf-8")
        return path
    return write_vector(table, folder, fmt)


# -- corruption ----------------------------------------------------------------------------------
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def mutate_bytes(data: bytes, draw) -> bytes:
    """Cut, flip, insert, delete or zero bytes (one to three times)."""
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["cut", "flip", "insert", "delete", "zero"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if how == "cut":
            data = data[:at]
        elif how == "flip" and data:
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif how == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
        elif how == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 64)) :]
        elif how == "zero":
            n = draw(st.integers(1, 64))
            data = data[:at] + b"\0" * n + data[at + n :]
    return data


def mangle_json(doc: dict[str, Any], draw) -> dict[str, Any]:
    """Replace one part of a FeatureCollection by what GeoJSON does not allow there."""
    features = doc["features"]
    feature = features[draw(st.integers(0, len(features) - 1))]
    geometry_type = st.sampled_from(["Point", "LineString", "Polygon", "MultiPolygon", "Nope"])
    how = draw(st.integers(0, 7))
    if how == 0:
        doc["type"] = draw(st.sampled_from(["Feature", "GeometryCollection", "x"]) | JUNK)
    elif how == 1:
        doc["features"] = draw(JUNK)
    elif how == 2:
        feature["geometry"] = draw(JUNK)
    elif how == 3:
        feature["geometry"] = {"type": draw(geometry_type), "coordinates": draw(JUNK)}
    elif how == 4:
        feature["properties"] = draw(JUNK)
    elif how == 5 and feature["properties"]:
        name = draw(st.sampled_from(sorted(feature["properties"])))
        feature["properties"][name] = draw(JUNK)
    elif how == 6:
        feature.pop("type")
    else:
        doc["crs"] = draw(
            JUNK | st.just({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::9"}})
        )
    return doc


def corrupt(path: Path, fmt: str, table: Table, draw) -> str:
    """Damage the written file in place; return how."""
    if fmt == "geojson" and not draw(st.booleans()):  # (hypothesis favours False)
        doc = mangle_json(feature_collection(table), draw)
        path.write_text(json.dumps(doc), encoding="utf-8")
        return "json-tree"
    if fmt == "shapefile" and not draw(st.booleans()):
        part = path.with_suffix(draw(st.sampled_from([".shx", ".dbf", ".prj", ".cpg"])))
        part.unlink(missing_ok=True)
        return f"missing-{part.suffix[1:]}"
    if fmt == "shapefile":
        path = path.with_suffix(draw(st.sampled_from([".shp", ".shx", ".dbf", ".prj"])))
    path.write_bytes(mutate_bytes(path.read_bytes(), draw))
    return "bytes"


#: The real corpus (tests/data/import), and the layer each file is for.
CORPUS_FILES = sorted(
    p for p in CORPUS.iterdir() if p.suffix in (".csv", ".geojson", ".gpkg", ".shp", ".zip")
)


def corpus_copy(draw, folder: Path) -> tuple[str, Path]:
    """Copy a corpus file (with its Shapefile parts) into ``folder``; return its layer and path."""
    source = draw(st.sampled_from(CORPUS_FILES))
    layer = source.name.split("_")[0]
    for part in CORPUS.glob(f"{source.stem}.*"):
        shutil.copy(part, folder / part.name)
    target = folder / source.name
    if layer == "category":  # the category mapping: imported as incidents, to see it refused
        layer = "incidents"
    return layer, target


ODD_OPTIONS = {
    "crs": st.sampled_from(["gcj02", "bd09", "EPSG:4547", "EPSG:99999", "nonsense", "", 0, -1]),
    "date_format": st.sampled_from(["%d/%m/%Y %H:%M", "%Q", "%", "%Y-%m-%d %H:%M%z", "%s"]),
    "mapping": st.dictionaries(
        st.sampled_from(["id", "code", "description", "nofield", "geometry"]),
        st.sampled_from(["id", "name", "nocolumn", "lon", "category", "geometry"]),
        min_size=1,
        max_size=2,
    ),
    "lon": st.sampled_from(["lon", "lng", "nocolumn", "id"]),
    "lat": st.sampled_from(["lat", "y", "nocolumn"]),
    "source_layer": st.sampled_from(["rows", "incidents", "nolayer", ""]),
    "category_map": st.binary(max_size=64) | st.just(b"source,code\n\xff\xfe,E0102\n"),
    "replace": st.just(True),
}


def odd_options(draw, folder: Path) -> dict[str, Any]:
    chosen = draw(
        st.lists(st.sampled_from(sorted(ODD_OPTIONS)), min_size=1, max_size=2, unique=True)
    )
    options = {name: draw(ODD_OPTIONS[name]) for name in chosen}
    if "category_map" in options:
        mapping_file = folder / "map.csv"
        mapping_file.write_bytes(options["category_map"])
        options["category_map"] = mapping_file
    return options


# -- the property --------------------------------------------------------------------------------
@dataclass
class Tally:
    """What one test imported and how each import ended."""

    files: Counter = field(default_factory=Counter)  # by format
    kinds: Counter = field(default_factory=Counter)  # valid, defective, corrupt, options, corpus
    outcomes: Counter = field(default_factory=Counter)  # loaded, or the error's type
    defects: Counter = field(default_factory=Counter)
    partial_writes: int = 0
    rows_loaded: int = 0


def grid_rows() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [c for c, _ in GRID_CELLS], "name": ["一", "二", "三", "四"]},
        geometry=[box(*b) for _, b in GRID_CELLS],
        crs="EPSG:4326",
    )


def keys_of(store, layer: str) -> set[str]:
    return set(store.read(layer)[LAYERS[layer].key].astype(str))


MOVED = [s for s in STATES if s != "received"]  # incidents stored past "received"


def check_import(store, counts, layer: str, path: Path, tally: Tally, **options: Any) -> Any:
    """Import; return the report, or the GridMapError after checking nothing was written."""
    before = counts()
    try:
        report = import_file(store, layer, path, **options)
    except GridMapError as exc:
        after = counts()
        tally.partial_writes += after != before
        assert after == before, f"refused import of {path.name} wrote: {before} -> {after}"
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        tally.outcomes[type(exc).__name__] += 1
        return exc
    after = counts()
    expected = dict(before)
    expected[layer] = report.loaded + (0 if options.get("replace") else before[layer])
    # every incident stored past "received" has exactly its one import entry in the history
    expected["incident_history"] = store.count("incidents", where={"status": MOVED})
    assert after == expected, f"import of {path.name} loaded {report.loaded}: {before} -> {after}"
    tally.outcomes["loaded"] += 1
    tally.rows_loaded += report.loaded
    return report


def stored(store, table: Table, rows: set[int]) -> int:
    """Return how many of the keys of ``rows`` the store holds."""
    keys = sorted(table.keys(rows))
    return store.count(table.layer, where={LAYERS[table.layer].key: keys}) if keys else 0


WEIGHTED_KINDS = ["generated"] * 11 + ["corrupt"] * 4 + ["options"] * 2 + ["corpus"] * 3


@pytest.mark.slow
def test_importers_load_whole_files_or_refuse_them_unchanged(
    store_url, row_counts, record, tmp_path, request
):
    backend = request.node.callspec.params["store_url"]
    store = open_store(store_url)
    request.addfinalizer(store.close)
    store.insert("grids", grid_rows())
    counts = row_counts(store_url)
    tally = Tally()

    @settings(
        max_examples=EXAMPLES[backend],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def one_file(data):
        draw = data.draw
        folder = Path(tempfile.mkdtemp(dir=tmp_path))
        try:
            kind = draw(st.sampled_from(WEIGHTED_KINDS))
            if kind == "corpus":
                layer, path = corpus_copy(draw, folder)
                path.write_bytes(mutate_bytes(path.read_bytes(), draw))
                tally.files[f"corpus{path.suffix}"] += 1
                tally.kinds[kind] += 1
                check_import(store, counts, layer, path, tally)
                return
            fmt = draw(st.sampled_from(FORMATS))
            layer = draw(st.sampled_from(sorted(LAYERS)))
            point = LAYERS[layer].geometry == "Point"
            csv_geometry = draw(st.sampled_from(["lonlat", "wkt"])) if point else "wkt"
            table = draw(tables(layer, fmt, csv_geometry if fmt == "csv" else ""))
            path = write_file(table, folder, fmt, csv_geometry, draw)
            tally.files[fmt] += 1
            options: dict[str, Any] = {}
            if kind == "corrupt":
                kind = f"corrupt-{corrupt(path, fmt, table, draw)}"
            elif kind == "options":
                options = odd_options(draw, folder)
            elif table.defective:
                kind = "defective"
                tally.defects.update(table.defects)
            else:
                kind = "valid"
            tally.kinds[kind] += 1
            outcome = check_import(store, counts, layer, path, tally, **options)
            if kind == "valid":
                assert not isinstance(outcome, Exception), f"{layer} {fmt}: {outcome}"
                assert outcome.loaded == len(table.rows)
                assert stored(store, table, set(range(len(table.rows)))) == len(table.keys())
            elif kind == "defective":
                assert isinstance(outcome, ValidationError), f"{table.defects}: {outcome}"
                assert "nothing written" in str(outcome) and outcome.reasons
                if not draw(st.booleans()):  # the rows without defects load, the others do not
                    tally.kinds["defective, again with skip_invalid"] += 1
                    valid = set(range(len(table.rows))) - table.defective
                    report = check_import(store, counts, layer, path, tally, skip_invalid=True)
                    assert not isinstance(report, Exception), report
                    assert (report.loaded, report.rejected) == (len(valid), len(table.defective))
                    assert stored(store, table, valid) == len(table.keys(valid))
                    assert stored(store, table, table.defective) == len(
                        table.keys(table.defective) & table.keys(valid)
                    )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    one_file()
    figures = {
        "store": backend,
        "files": sum(tally.files.values()),
        "by_format": dict(tally.files),
        "by_kind": dict(tally.kinds),
        "outcomes": dict(tally.outcomes),
        "defects_injected": dict(tally.defects),
        "rows_loaded": tally.rows_loaded,
        "partial_writes": tally.partial_writes,
        "unexpected_exceptions": 0,  # any would have failed the test above
    }
    record(f"import_fuzz[{backend}]", figures)
    assert figures["files"] >= EXAMPLES[backend]
    assert tally.partial_writes == 0
