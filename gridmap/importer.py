"""Import a file into a layer: read, check every row, then load all rows or none.

:func:`import_file` adds the checks that need the source or the store to
:func:`gridmap.validate.check_rows`: missing or unparsable coordinates (from the reader),
out-of-range and swapped latitude/longitude (against the store's extent), repair of invalid
polygons, category mapping, date formats and duplicates against the store. By default one bad
row rejects the whole file and the store is unchanged; with ``skip_invalid`` the valid rows are
loaded and the rejected ones, with their reasons, go to a ``rejects`` file.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap import model
from gridmap.calendar import working_calendar
from gridmap.catalog import load_category_mapping
from gridmap.errors import GridMapError, NotFoundError
from gridmap.export import write_csv, write_geojson
from gridmap.model import LAYERS, Layer
from gridmap.readers import SourceRows, read_file
from gridmap.stores.base import BBox, Progress, Store
from gridmap.validate import MAX_REASONS, Problem, check_rows, raise_problems

__all__ = ["ImportReport", "import_file", "parse_datetimes"]

EXTENT_MARGIN_DEG = 0.01  # about 1 km: the store's extent, padded, decides "swapped"
_KEY_CHUNK = 20_000  # keys per store lookup (SQLite allows 32,766 parameters)
_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon


@dataclass(frozen=True)
class ImportReport:
    """What an import did.

    Attributes
    ----------
    layer : str
        The layer written.
    read : int
        Rows read from the file.
    loaded : int
        Rows written to the store.
    rejected : int
        Rows set aside (always 0 unless ``skip_invalid``, since otherwise nothing is loaded).
    reasons : list of str
        The first reasons rows were rejected (``"row 12: lat: ..."``), at most 20.
    repaired : int
        Invalid polygons repaired with :func:`shapely.make_valid` and loaded.
    """

    layer: str
    read: int
    loaded: int
    rejected: int
    reasons: list[str]
    repaired: int = 0


def import_file(
    store: Store,
    layer: str,
    path: str | Path,
    *,
    lon: str | None = None,
    lat: str | None = None,
    mapping: dict[str, str] | None = None,
    date_format: str | None = None,
    crs: str | int | None = None,
    category_map: str | Path | None = None,
    source_layer: str | None = None,
    skip_invalid: bool = False,
    rejects: str | Path | None = None,
    replace: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a CSV, GeoJSON, GeoPackage, Shapefile or OSM PBF file into a layer of ``store``.

    Parameters
    ----------
    store : Store
        Where the rows go.
    layer : str
        The target layer (``grids``, ``incidents``, ``stations``, ...).
    path : str or Path
        The source file; see :func:`gridmap.readers.read_file` for the formats.
    lon, lat : str, optional
        CSV coordinate columns (found by name when not given).
    mapping : dict of str to str, optional
        Model field → source column renames (``--map FIELD=COLUMN``).
    date_format : str, optional
        strftime format of the date/time fields (``reported_at``); default ISO 8601 and common
        forms such as ``2025/03/01 10:00``.
    crs : str or int, optional
        The coordinates' system, overriding the file's: ``"gcj02"``, ``"bd09"`` or an EPSG code.
    category_map : str or Path, optional
        CSV (``source,code``) translating the file's category labels to catalog codes.
    source_layer : str, optional
        Layer of a multi-layer file (GeoPackage; Shapefile name inside a zip).
    skip_invalid : bool
        Load the valid rows and set the invalid ones aside instead of rejecting the file.
    rejects : str or Path, optional
        File receiving every rejected row: its original columns plus ``reason`` (all its
        reasons joined by ``"; "``); GeoJSON if the name ends in ``.geojson``, else CSV.
    replace : bool
        Replace the layer's rows instead of adding to them.
    progress : callable, optional
        Called with the number of rows written, as they are written.

    Returns
    -------
    ImportReport
        Counts and the first reasons.

    Raises
    ------
    gridmap.errors.ValidationError
        If any row is invalid and ``skip_invalid`` is false; the store is unchanged and
        ``.reasons`` lists the first reasons (``"row 7: lat/lon: ..."``).
    gridmap.errors.GridMapError
        If the file cannot be read or the options do not fit it.
    """
    spec = model.layer(layer)
    rejects = Path(rejects) if rejects is not None else None
    if rejects is not None and not rejects.parent.exists():
        raise GridMapError(f"cannot write rejects to {rejects}: no folder {rejects.parent}")
    if category_map is not None and not Path(category_map).is_file():
        raise NotFoundError(f"no category mapping file {category_map}")
    codes = load_category_mapping(category_map) if category_map is not None else None
    source = read_file(
        path,
        layer_name=spec.name,
        lon=lon,
        lat=lat,
        mapping=mapping,
        crs=crs,
        source_layer=source_layer,
    )
    dates = [f.name for f in spec.fields if f.kind == "datetime" and not f.derived]
    frame, date_problems = parse_datetimes(source.frame, dates, date_format)
    if codes and "category" in frame:
        frame["category"] = _mapped(frame["category"], codes)
    frame, geom_problems, repaired = _check_geometry(spec, frame, _extent(store), source)
    existing = set() if replace else _existing_keys(store, spec, frame)
    clean, row_problems = check_rows(spec, frame, existing_keys=existing)
    problems = _merge(
        frame.index, spec.columns, source.problems + geom_problems, date_problems, row_problems
    )
    bad = {p.row for p in problems}
    if rejects is not None:  # even when empty, so no stale rejects from a former run remain
        _write_rejects(rejects, source, problems)
    if problems and not skip_invalid:
        raise_problems(problems, f"import of {Path(path).name} into {spec.name}")
    good = clean.loc[~clean.index.isin(list(bad))]
    loaded = store.insert(spec.name, good, replace=replace, progress=progress)
    return ImportReport(
        spec.name,
        len(frame),
        loaded,
        len(bad),
        [str(p) for p in problems[:MAX_REASONS]],
        repaired,
    )


def _mapped(values: pd.Series, codes: dict[str, str]) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.map(codes).fillna(text).astype(object).where(values.notna(), None)


# -- dates -------------------------------------------------------------------------------------------
_COMMON_DATE = (
    r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})(\.\d+)?秒?|分)?)?\s*$"
)


def parse_datetimes(
    frame: pd.DataFrame, fields: list[str], date_format: str | None = None
) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse date/time columns into timezone-aware times, vectorised.

    Without ``date_format``, ISO 8601 (and what pandas' ISO parser accepts, such as
    ``2025/3/1 9:05`` or ``2025.03.01``) and Chinese forms such as ``2025年3月1日 10时30分``
    parse; with it (a :func:`~datetime.datetime.strptime` format such as ``"%d/%m/%Y %H:%M"``)
    every non-blank value must match it. Times without an offset are local times of the working
    calendar, as in :func:`gridmap.validate.check_rows`.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows whose index is the row labels.
    fields : list of str
        The date/time columns to parse (missing columns are skipped).
    date_format : str, optional
        The format every value has.

    Returns
    -------
    frame : pandas.DataFrame
        A copy with the columns parsed (missing or bad values are NaT).
    problems : list of Problem
        One per value that does not parse (``'yesterday' is not a date/time``).
    """
    frame = frame.copy()
    problems: list[Problem] = []
    tz = working_calendar().timezone
    for name in fields:
        if name not in frame or frame[name].dtype.kind == "M":
            continue  # already times: check_rows localises them
        values = frame[name]
        text = np.strings.strip(values.to_numpy(dtype=object, na_value="").astype(str))
        blank = text == ""
        if date_format is not None:
            try:
                parsed = pd.to_datetime(text, format=date_format, errors="coerce")
            except ValueError as exc:  # a bad directive, or offsets that do not mix
                raise GridMapError(f"date format {date_format!r}: {exc}") from None
            times = pd.Series(_local(parsed, tz))
            why = f"does not match the date format {date_format!r}"
        else:
            try:
                times = _iso(text, tz)
            except ValueError:  # offsets check_rows' pattern does not see: leave it the column
                continue
            failed = np.flatnonzero(times.isna().to_numpy() & ~blank)
            if len(failed):
                times.iloc[failed] = _chinese(text[failed], tz).as_unit("us")
            why = "is not a date/time"
        for label in frame.index[times.isna().to_numpy() & ~blank]:
            problems.append(Problem(label, name, f"{values[label]!r} {why}"))
        frame[name] = times.set_axis(frame.index)
    return frame, problems


def _local(times: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    if times.tz is None:
        return times.tz_localize(tz, nonexistent="NaT", ambiguous="NaT")
    return times.tz_convert(tz)


def _iso(text: np.ndarray, tz: str) -> pd.Series:
    """Parse ISO 8601 text; an offset (``Z``, ``+08:00``, ``+0800``) as check_rows sees one."""
    sign_colon = np.isin(np.strings.slice(text, -6, -5), ["+", "-"])
    sign_colon &= np.strings.slice(text, -3, -2) == ":"
    sign_colon &= np.strings.isdigit(np.strings.slice(text, -5, -3))
    sign_colon &= np.strings.isdigit(np.strings.slice(text, -2, None))
    sign = np.isin(np.strings.slice(text, -5, -4), ["+", "-"])
    sign &= np.strings.isdigit(np.strings.slice(text, -4, None))
    zoned = np.isin(np.strings.slice(text, -1, None), ["z", "Z"]) | sign_colon | sign
    out = pd.Series(pd.NaT, index=range(len(text)), dtype=f"datetime64[us, {tz}]")
    if zoned.any():
        aware = pd.to_datetime(text[zoned], format="ISO8601", errors="coerce", utc=True)
        out[zoned] = aware.tz_convert(tz).as_unit("us")
    if (~zoned).any():
        naive = pd.to_datetime(text[~zoned], format="ISO8601", errors="coerce")
        out[~zoned] = _local(naive, tz).as_unit("us")
    return out


def _chinese(text: np.ndarray, tz: str) -> pd.DatetimeIndex:
    """Parse forms such as 2025年3月1日 10时30分 (local times; NaT where they do not match)."""
    parts = pd.Series(text, dtype=object).str.extract(_COMMON_DATE)
    p = parts.fillna({3: "0", 4: "0", 5: "0", 6: ""})
    date = p[0].str.cat([p[1].str.zfill(2), p[2].str.zfill(2)], sep="-")
    time = p[3].str.zfill(2).str.cat([p[4].str.zfill(2), p[5].str.zfill(2)], sep=":")
    iso = (date + "T" + time + p[6]).where(parts[0].notna(), "")
    return _local(pd.to_datetime(iso.to_numpy(dtype=str), format="ISO8601", errors="coerce"), tz)


# -- the store's extent and keys ------------------------------------------------------------------
def _extent(store: Store) -> BBox | None:
    """Return the grids' bbox, else the union of the other layers' bboxes (lon/lat)."""
    grids = store.layer_info("grids").bbox
    if grids is not None:
        return grids
    boxes = [store.layer_info(name).bbox for name in LAYERS if name != "grids"]
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return None
    arr = np.array(boxes, dtype=float)
    return (arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max())


def _existing_keys(store: Store, spec: Layer, frame: pd.DataFrame) -> set[str]:
    """Return the file's keys that the store already holds."""
    if spec.key not in frame or store.count(spec.name) == 0:
        return set()
    keys = frame[spec.key].dropna().astype(str).str.strip().unique().tolist()
    found: set[str] = set()
    for start in range(0, len(keys), _KEY_CHUNK):
        rows = store.read(spec.name, where={spec.key: keys[start : start + _KEY_CHUNK]})
        found.update(rows[spec.key].astype(str))
    return found


# -- geometry ---------------------------------------------------------------------------------------
_SWAPPED = (
    "latitude and longitude look swapped: ({0:g}, {1:g}) is outside the store's extent but "
    "({1:g}, {0:g}) is inside it"
)
_OUT_OF_RANGE = (
    "coordinates ({0:g}, {1:g}) are out of range (longitude -180..180, latitude -90..90)"
)
_UNREPAIRABLE = "invalid polygon that cannot be repaired without changing its type: {}"


def _within(bounds: np.ndarray, box: BBox, margin: float = 0.0) -> np.ndarray:
    """Return which bounds (minx, miny, maxx, maxy rows) lie inside ``box`` grown by ``margin``."""
    lo = np.array([box[0], box[1], box[0], box[1]]) - margin
    hi = np.array([box[2], box[3], box[2], box[3]]) + margin
    return ((bounds >= lo) & (bounds <= hi)).all(axis=1)


def _check_geometry(
    spec: Layer, frame: gpd.GeoDataFrame, extent: BBox | None, source: SourceRows
) -> tuple[gpd.GeoDataFrame, list[Problem], int]:
    """Flag out-of-range and swapped coordinates; repair invalid polygons that stay polygons."""
    geoms = frame.geometry.to_numpy().copy()
    labels, field = frame.index, source.coord_field
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    bounds = np.full((len(geoms), 4), np.nan)
    bounds[present] = shapely.bounds(geoms[present])
    with np.errstate(invalid="ignore"):
        in_range = _within(bounds, (-180, -90, 180, 90))
        swapped = np.zeros(len(geoms), dtype=bool)
        if extent is not None:
            inside = _within(bounds, extent, EXTENT_MARGIN_DEG)
            flipped = _within(bounds[:, [1, 0, 3, 2]], extent, EXTENT_MARGIN_DEG)
            swapped = present & ~inside & flipped
    out = present & ~in_range & ~swapped
    problems = [
        Problem(labels[i], field, _SWAPPED.format(*bounds[i])) for i in swapped.nonzero()[0]
    ]
    problems += [
        Problem(labels[i], field, _OUT_OF_RANGE.format(*bounds[i])) for i in out.nonzero()[0]
    ]
    repaired = 0
    if spec.geometry == "MultiPolygon":
        polygonal = present & in_range & np.isin(shapely.get_type_id(geoms), _POLYGONAL)
        invalid = np.flatnonzero(polygonal & ~shapely.is_valid(geoms))
        fixed = shapely.make_valid(geoms[invalid])
        keeps = np.isin(shapely.get_type_id(fixed), _POLYGONAL) & ~shapely.is_empty(fixed)
        reasons = shapely.is_valid_reason(geoms[invalid[~keeps]])
        for i, reason in zip(invalid[~keeps], reasons, strict=True):
            problems.append(Problem(labels[i], "geometry", _UNREPAIRABLE.format(reason)))
        geoms[invalid[keeps]] = fixed[keeps]
        repaired = int(keeps.sum())
    frame = frame.set_geometry(gpd.GeoSeries(geoms, index=labels, crs=frame.crs))
    return frame, problems, repaired


# -- problems and rejects ------------------------------------------------------------------------------
def _merge(
    index: pd.Index,
    columns: list[str],
    located: list[Problem],
    other: list[Problem],
    checked: list[Problem],
) -> list[Problem]:
    """Combine every problem, one reason per (row, field), in row order.

    ``located`` are the coordinate and geometry problems found before :func:`check_rows`; a row
    among them does not also get check_rows' geometry reasons ("geometry is missing", "outside
    WGS84 range", "invalid").
    """
    merged = [*located, *other]
    seen = {(p.row, p.field) for p in merged}
    flagged = {p.row for p in located}
    for p in checked:
        if (p.row, p.field) in seen or (p.field == "geometry" and p.row in flagged):
            continue
        seen.add((p.row, p.field))
        merged.append(p)
    if merged:  # row order; within a row, coordinates first, then the layer's field order
        order = {label: i for i, label in enumerate(index)}
        rank = {name: i for i, name in enumerate(columns)}
        merged.sort(key=lambda p: (order.get(p.row, -1), rank.get(p.field, -1)))
    return merged


def _write_rejects(path: Path, source: SourceRows, problems: list[Problem]) -> None:
    """Write the rejected rows' original columns and their reasons (CSV, or GeoJSON)."""
    reasons: dict[object, list[str]] = defaultdict(list)
    for p in problems:
        reasons[p.row].append(f"{p.field}: {p.reason}")
    labels = [label for label in source.original.index if label in reasons]
    rows = source.original.loc[labels].copy()
    rows["reason"] = ["; ".join(reasons[label]) for label in labels]
    geojson = path.suffix.lower() == ".geojson"
    if geojson or source.kind != "csv":  # (a CSV's own coordinate columns are in the rows)
        geoms = source.frame.geometry.loc[labels]
        rows = gpd.GeoDataFrame(rows, geometry=geoms.to_numpy(), crs=geoms.crs)
    (write_geojson if geojson else write_csv)(rows, path)
