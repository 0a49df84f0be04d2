"""Read a source file (CSV, GeoJSON, GeoPackage, Shapefile, OSM PBF) into rows for a layer.

Readers only read: they decode the file, turn coordinates into WGS 84 geometries, apply the
user's column mapping and label every row the way the user sees it in the file (CSV: the line
number, header = line 1; other formats: the feature number, from 1). OpenStreetMap extracts
(``.osm.pbf``) are shaped into the layer by :func:`gridmap.osm.osm_layer`. Everything else (field
types, choices, duplicates, geometry validity) is checked by :mod:`gridmap.importer` and
:func:`gridmap.validate.check_rows`.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridmap.coords import to_wgs84
from gridmap.errors import GridMapError, NotFoundError
from gridmap.model import CRS, Layer, layer
from gridmap.validate import Problem

__all__ = ["SourceRows", "read_file", "source_kind"]

LON_NAMES = ("lon", "lng", "long", "longitude", "经度", "东经", "x")
LAT_NAMES = ("lat", "latitude", "纬度", "北纬", "y")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom")
_KINDS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".shp": "shapefile",
    ".zip": "shapefile",
}
_DBF_NAME = 10  # Shapefile (dBASE) field names are cut to 10 characters


@dataclass(frozen=True)
class SourceRows:
    """Rows read from a file, before validation.

    Attributes
    ----------
    frame : geopandas.GeoDataFrame
        Columns renamed to model fields by the mapping, geometry in WGS 84 (EPSG:4326), index =
        the row labels (CSV line numbers, or feature numbers from 1).
    original : pandas.DataFrame
        The source's attribute columns as read (CSV: the text of every column, coordinates
        included), same index; used to write rejected rows back out.
    problems : list of Problem
        Row problems found while reading (missing or unparsable coordinates).
    coord_field : str
        How reasons name the coordinates: ``"geometry"``, or the CSV's ``"lon/lat"`` columns.
    kind : str
        ``"csv"``, ``"geojson"``, ``"gpkg"``, ``"shapefile"`` or ``"osm"``.
    """

    frame: gpd.GeoDataFrame
    original: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    coord_field: str = "geometry"
    kind: str = "csv"


def source_kind(path: str | Path) -> str:
    """Return the reader for ``path`` from its extension (``csv``, ``geojson``, ...).

    Raises
    ------
    gridmap.errors.GridMapError
        If the extension is not one GridMap reads.
    """
    name = Path(path).name.lower()
    if name.endswith(".osm.pbf"):
        return "osm"
    suffix = Path(path).suffix.lower()
    if suffix not in _KINDS:
        known = ", ".join([*sorted(set(_KINDS)), ".osm.pbf"])
        raise GridMapError(
            f"cannot read {Path(path).name}: unknown file type (GridMap reads {known})"
        )
    return _KINDS[suffix]


def read_file(
    path: str | Path,
    *,
    layer_name: str | None = None,
    lon: str | None = None,
    lat: str | None = None,
    mapping: Mapping[str, str] | None = None,
    crs: str | int | None = None,
    source_layer: str | None = None,
) -> SourceRows:
    """Read a CSV, GeoJSON, GeoPackage, Shapefile (``.shp`` or zipped) or OSM PBF file.

    Parameters
    ----------
    path : str or Path
        The file; its extension picks the reader.
    layer_name : str, optional
        The GridMap layer the rows are for: checks the mapping's field names, says whether
        coordinates are required and undoes Shapefile field-name truncation. Required for
        ``.osm.pbf`` extracts, which are shaped into that layer.
    lon, lat : str, optional
        CSV coordinate columns; found by name when not given (``lon``/``lng``/``longitude``/``x``/
        ``经度`` and ``lat``/``latitude``/``y``/``纬度``). A CSV without coordinate columns may
        carry a ``wkt`` column instead.
    mapping : mapping of str to str, optional
        Model field → source column renames (``--map FIELD=COLUMN``).
    crs : str or int, optional
        What the coordinates are, overriding the file's own CRS: ``"gcj02"``, ``"bd09"`` or any
        EPSG code. Default: the file's CRS, else WGS 84.
    source_layer : str, optional
        GeoPackage layer to read (default: the first one).

    Returns
    -------
    SourceRows
        The rows, their original columns and the coordinate problems found.

    Raises
    ------
    gridmap.errors.GridMapError
        If the file is missing, unreadable, of an unknown type, or the coordinate columns or
        mapping do not match its columns.
    """
    path = Path(path)
    kind = source_kind(path)
    if not path.exists():
        raise NotFoundError(f"no such file: {path}")
    spec = layer(layer_name) if layer_name else None
    if kind == "csv":
        rows = _read_csv(path, spec, lon, lat, crs)
    elif kind == "osm":
        rows = _read_osm(path, spec, crs)
    else:
        rows = _read_vector(path, kind, crs, source_layer)
    frame = _rename(rows.frame, spec, mapping or {}, kind, path)
    return SourceRows(frame, rows.original, rows.problems, rows.coord_field, kind)


# -- CSV -------------------------------------------------------------------------------------------
def _decode(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise GridMapError(
                f"{path.name}: starts like UTF-16 text (a byte-order mark) but is not: {exc.reason} "
                f"at byte {exc.start}"
            ) from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise GridMapError(f"{path.name}: the file is neither UTF-8 nor GBK/GB18030 text")


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _table(text: str, path: Path) -> pd.DataFrame:
    """Return the CSV's cells as text, indexed by the line each record starts on."""
    sep = _delimiter(text)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise GridMapError(f"{path.name} is empty") from None
    except pd.errors.ParserError as exc:
        raise GridMapError(f"{path.name} is not a well-formed CSV file: {exc}") from None
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if lines == len(frame) + 1:  # one record per line: labels without reparsing
        frame.index = pd.RangeIndex(2, len(frame) + 2)
    else:  # quoted line breaks: ask the csv module where each record starts
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)  # lone \r ends lines too
        next(reader, None)
        starts, end = [], reader.line_num
        for _ in reader:
            starts.append(end + 1)
            end = reader.line_num
        frame.index = pd.Index(starts[: len(frame)])
    frame.columns = [str(c).strip() for c in frame.columns]
    if "\n\n" in text or "\n\r\n" in text:  # blank lines were read as empty records
        frame = frame[frame.notna().any(axis=1)]
    return frame


def _find(columns: list[str], given: str | None, names: tuple[str, ...], what: str) -> str | None:
    if given is not None:
        if given not in columns:
            raise GridMapError(
                f"no column {given!r} ({what}) in the file; its columns are: {', '.join(columns)}"
            )
        return given
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _numbers(
    values: pd.Series, column: str, word: str, skip: np.ndarray, problems: list[Problem]
) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)  # spaces are fine
    blank = values.isna().to_numpy()
    for label in values.index[blank & ~skip]:
        problems.append(Problem(label, column, f"missing {word}"))
    bad = np.isnan(numbers) & ~blank
    for label in values.index[bad]:
        problems.append(Problem(label, column, f"{word} {values[label]!r} is not a number"))
    return numbers


def _read_csv(
    path: Path, spec: Layer | None, lon: str | None, lat: str | None, crs: str | int | None
) -> SourceRows:
    table = _table(_decode(path), path)
    columns = list(table.columns)
    x_col = _find(columns, lon, LON_NAMES, "--lon")
    y_col = _find(columns, lat, LAT_NAMES, "--lat")
    problems: list[Problem] = []
    if x_col and y_col:
        # a layer whose geometry is optional (workers) may leave both coordinates blank
        optional = spec is not None and not spec.geometry_required
        skip = (table[x_col].isna() & table[y_col].isna()).to_numpy() & optional
        x = _numbers(table[x_col], x_col, "longitude", skip, problems)
        y = _numbers(table[y_col], y_col, "latitude", skip, problems)
        ok = ~(np.isnan(x) | np.isnan(y))
        geoms = np.full(len(table), None, dtype=object)
        geoms[ok] = shapely.points(x[ok], y[ok])
        coord_field = f"{x_col}/{y_col}"
        attrs = table.drop(columns=[x_col, y_col])
    elif x_col or y_col:
        raise GridMapError(
            f"{path.name}: found the coordinate column {x_col or y_col!r} but not its partner; "
            "name both with --lon and --lat"
        )
    elif (wkt := _find(columns, None, WKT_NAMES, "")) is not None:
        geoms = _wkt(table[wkt], wkt, problems)
        coord_field = wkt
        attrs = table.drop(columns=[wkt])
    elif spec is not None and not spec.geometry_required:
        geoms = np.full(len(table), None, dtype=object)
        coord_field, attrs = "geometry", table
    else:
        raise GridMapError(
            f"{path.name}: no coordinate columns found (looked for lon/lng/longitude/x/经度 and "
            f"lat/latitude/y/纬度, or wkt); name them with --lon and --lat. "
            f"Columns: {', '.join(columns)}"
        )
    attrs = attrs.drop(columns=["geometry"], errors="ignore")  # not a field; kept in original
    frame = gpd.GeoDataFrame(attrs, geometry=gpd.GeoSeries(geoms, index=table.index), crs=CRS)
    if crs is not None:
        frame = to_wgs84(frame, crs)
    return SourceRows(frame, table, problems, coord_field, "csv")


def _wkt(values: pd.Series, column: str, problems: list[Problem]) -> np.ndarray:
    text = values.str.strip()
    geoms = shapely.from_wkt(text.to_numpy(dtype=object, na_value=None), on_invalid="ignore")
    bad = shapely.is_missing(geoms) & text.notna().to_numpy()
    for label in values.index[bad]:
        problems.append(Problem(label, column, f"{values[label][:40]!r} is not WKT geometry"))
    return geoms


# -- GeoJSON, GeoPackage, Shapefile ----------------------------------------------------------------
def _dataset(path: Path, kind: str, source_layer: str | None) -> tuple[str, str | None]:
    """Return the GDAL path and layer to read."""
    if kind == "gpkg":
        try:
            names = [name for name, _ in pyogrio.list_layers(path)]
        except pyogrio.errors.DataSourceError as exc:
            raise GridMapError(f"{path.name} is not a readable GeoPackage: {exc}") from None
        if source_layer is not None and source_layer not in names:
            raise GridMapError(
                f"{path.name} has no layer {source_layer!r}; its layers are: {', '.join(names)}"
            )
        if not names:
            raise GridMapError(f"{path.name} has no layers")
        return str(path), source_layer or names[0]
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                shps = [n for n in zf.namelist() if n.lower().endswith(".shp")]
        except zipfile.BadZipFile:
            raise GridMapError(f"{path.name} is not a readable zip file") from None
        if source_layer is not None:
            shps = [n for n in shps if Path(n).stem == source_layer]
        if not shps:
            raise GridMapError(f"{path.name} holds no Shapefile (.shp)")
        return f"/vsizip/{path.resolve()}/{shps[0]}", None
    return str(path), None


def _read_vector(path: Path, kind: str, crs: str | int | None, source_layer: str | None):
    source, name = _dataset(path, kind, source_layer)
    try:
        # keep dates and times as the text the file holds ("08:30" stays "08:30")
        options = {"DATE_AS_STRING": "YES"} if kind == "geojson" else {}
        frame = pyogrio.read_dataframe(source, layer=name, datetime_as_string=True, **options)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise GridMapError(f"cannot read {path.name}: {exc}") from None
    except shapely.errors.GEOSException as exc:  # geometries GEOS cannot build (a ring not closed)
        raise GridMapError(f"cannot read {path.name}: a damaged geometry: {exc}") from None
    except (UnicodeDecodeError, UnboundLocalError) as exc:
        # text (field values, or the CRS of a .prj) not in the file's encoding; pyogrio 0.13
        # turns an undecodable CRS into an UnboundLocalError raised while handling that error
        cause = exc if isinstance(exc, UnicodeDecodeError) else exc.__context__
        if not isinstance(cause, UnicodeDecodeError):
            raise
        raise GridMapError(
            f"cannot read {path.name}: some text is not {cause.encoding} as the file says "
            f"({cause.reason})"
        ) from None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise GridMapError(f"{path.name}: the layer has no geometry column")
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    geoms = frame.geometry
    original = pd.DataFrame(frame.drop(columns=geoms.name))
    values = shapely.force_2d(geoms.to_numpy())
    frame = frame.set_geometry(gpd.GeoSeries(values, index=frame.index, crs=geoms.crs))
    source_crs = crs if crs is not None else frame.crs
    frame = frame.set_crs(CRS) if source_crs is None else to_wgs84(frame, source_crs)
    if frame.geometry.name != "geometry":
        frame = frame.rename_geometry("geometry")
    return SourceRows(frame, original, [], "geometry", kind)


def _read_osm(path: Path, spec: Layer | None, crs: str | int | None) -> SourceRows:
    if spec is None:
        raise GridMapError(f"{path.name}: say which layer to build from the OpenStreetMap extract")
    if crs is not None:
        raise GridMapError("--crs does not apply to OpenStreetMap extracts (always WGS 84)")
    from gridmap.osm import osm_layer  # pyrosm is slow to import: only for .osm.pbf files

    frame = osm_layer(path, spec.name)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    original = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    frame = frame.set_crs(CRS) if frame.crs is None else frame.to_crs(CRS)
    return SourceRows(frame, original, [], "geometry", "osm")


# -- mapping -----------------------------------------------------------------------------------------
def _rename(
    frame: gpd.GeoDataFrame, spec: Layer | None, mapping: Mapping[str, str], kind: str, path: Path
) -> gpd.GeoDataFrame:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    fields = set(spec.columns) if spec else None
    renames: dict[str, str] = {}
    for target, column in mapping.items():
        if fields is not None and target not in fields:
            raise GridMapError(
                f"--map {target}={column}: {spec.name} has no field {target!r}; "
                f"its fields are: {', '.join(spec.columns)}"
            )
        if column not in columns:
            raise GridMapError(
                f"--map {target}={column}: no column {column!r} in {path.name}; "
                f"its columns are: {', '.join(columns)}"
            )
        renames[column] = target
    if kind == "shapefile" and spec is not None:
        present = set(columns) | set(mapping)
        for name in spec.columns:
            short = name[:_DBF_NAME]
            if short != name and name not in present and short in columns:
                renames.setdefault(short, name)
    shadowed = [c for c in set(renames.values()) if c in columns and c not in renames]
    frame = frame.drop(columns=shadowed).rename(columns=renames)
    if spec is not None:
        frame = _integral_text(frame, spec)
    return frame


def _integral_text(frame: gpd.GeoDataFrame, spec: Layer) -> gpd.GeoDataFrame:
    """Turn whole-number float columns of text fields (ids read as numbers) into integers."""
    for f in spec.fields:
        if f.kind != "text" or f.name not in frame or frame[f.name].dtype.kind != "f":
            continue
        values = frame[f.name]
        whole = values.dropna()
        if len(whole) and bool(np.all(np.mod(whole.to_numpy(), 1) == 0)):
            frame[f.name] = values.astype("Int64")
    return frame
