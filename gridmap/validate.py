"""Row checks shared by every store and importer: types, required fields, choices, geometry.

:func:`check_rows` turns any GeoDataFrame into the canonical form of a layer and lists every
problem with the row and field it concerns; stores refuse a write with any problem, importers
report the problems per row (or set the rows aside with ``--skip-invalid``).
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.calendar import working_calendar
from gridmap.errors import ValidationError
from gridmap.model import CRS, Field, Layer

MAX_REASONS = 20


@dataclass(frozen=True)
class Problem:
    """One reason a row is rejected."""

    row: object  # the row's label: a line or feature number from the source
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}"


def raise_problems(problems: list[Problem], what: str) -> None:
    """Raise a :class:`ValidationError` listing the first problems, if there are any."""
    if problems:
        rows = len({p.row for p in problems})
        raise ValidationError(
            f"{what}: {rows} invalid row(s), nothing written; first: {problems[0]}",
            [str(p) for p in problems[:MAX_REASONS]],
        )


def _blank(values: pd.Series) -> pd.Series:
    if values.dtype.kind in "biufcmM":
        return values.isna()
    blank = [v is None or v != v or (isinstance(v, str) and not v.strip()) for v in values.tolist()]
    return pd.Series(blank, index=values.index, dtype=bool)


def _text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    def one(v: object) -> str | None:
        if v is None or v != v:  # None or NaN
            return None
        return str(v).strip() or None

    # Clean each distinct value once: categories, statuses and sources repeat a lot.
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable values: a GeoJSON object or array where text belongs
        nested = np.array([not isinstance(v, Hashable) for v in values.tolist()], dtype=bool)
        out, _ = _text(values.where(~nested, None))
        return out, pd.Series(nested, index=values.index)
    distinct = np.asarray(uniques, dtype=object).tolist()  # no missing values here
    try:
        cleaned = [v.strip() or None for v in distinct]  # the usual case: all text
    except AttributeError:
        cleaned = [one(v) for v in distinct]
    cleaned = np.array([*cleaned, None], dtype=object)
    out = pd.Series(cleaned[codes], index=values.index, dtype=object)
    return out, pd.Series(False, index=values.index)


def _number(values: pd.Series, integer: bool) -> tuple[pd.Series, pd.Series]:
    blank = _blank(values)
    numbers = pd.to_numeric(values.where(~blank), errors="coerce")
    bad = numbers.isna() & ~blank
    if integer:
        frac = numbers.notna() & (numbers != np.round(numbers))
        bad |= frac
        numbers = numbers.where(~frac)
        return numbers.round().astype("Int64"), bad
    return numbers.astype("float64"), bad


_ZONED = r"(?:[zZ]|[+-]\d\d:?\d\d)$"


def _datetime(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    tz = working_calendar().timezone
    blank = _blank(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values
    elif values.dtype.kind == "M":
        parsed = values.dt.tz_localize(tz)
    else:
        text = values.where(~blank).map(
            lambda v: v.isoformat() if isinstance(v, datetime | date) else v
        )
        text = text.astype("string").str.strip()
        zoned = text.str.contains(_ZONED, regex=True).fillna(False).to_numpy()
        parsed = pd.Series(pd.NaT, index=values.index, dtype=f"datetime64[us, {tz}]")
        if zoned.any():
            aware = pd.to_datetime(text[zoned], errors="coerce", utc=True, format="ISO8601")
            parsed[zoned] = aware.dt.tz_convert(tz).dt.floor("us").dt.as_unit("us")
        if (~zoned).any():
            naive = pd.to_datetime(text[~zoned], errors="coerce", format="ISO8601")
            local = naive.dt.tz_localize(tz, nonexistent="NaT", ambiguous="NaT")
            parsed[~zoned] = local.dt.floor("us").dt.as_unit("us")
    bad = parsed.isna() & ~blank
    # times are kept to the millisecond in every store
    return pd.to_datetime(parsed, utc=True).dt.floor("ms").dt.tz_convert(tz), bad


def _list(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    def one(v: object) -> list[str] | None:
        if isinstance(v, list | tuple | np.ndarray):
            return [str(x).strip() for x in v if str(x).strip()]
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return []
        text = str(v).strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                return None
            return [str(x).strip() for x in items] if isinstance(items, list) else None
        return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]

    parsed = values.map(one)
    return parsed, parsed.isna()


_COERCE = {
    "text": _text,
    "int": lambda v: _number(v, integer=True),
    "float": lambda v: _number(v, integer=False),
    "datetime": _datetime,
    "list": _list,
}
_DTYPE = {"int": "Int64", "float": "float64"}
_TYPE_WORD = {
    "text": "text",
    "int": "an integer",
    "float": "a number",
    "datetime": "a date/time",
    "list": "a list",
}


def _show(value: object) -> str:
    """Return a value as a user reads it (numpy scalars as plain numbers)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _not_allowed(value: object, allowed: set[object]) -> str:
    if len(allowed) > 12:
        return f"{_show(value)} is not a known code (see the catalog in data/)"
    return f"{_show(value)} is not one of: {', '.join(map(str, sorted(allowed, key=str)))}"


def _check_field(field: Field, raw: pd.Series, problems: list[Problem]) -> pd.Series:
    values, bad = _COERCE[field.kind](raw)
    for label in raw.index[bad.to_numpy()]:
        problems.append(
            Problem(label, field.name, f"{_show(raw[label])} is not {_TYPE_WORD[field.kind]}")
        )
    missing = values.isna().to_numpy() if field.kind != "list" else np.zeros(len(values), bool)
    if field.required:
        for label in raw.index[missing & ~bad.to_numpy()]:
            problems.append(Problem(label, field.name, "required value is missing"))
    elif field.default is not None:
        fill = missing & ~bad.to_numpy()
        if fill.all():
            values = pd.Series([field.default] * len(values), index=values.index)
        elif fill.any():
            values = values.astype("object")
            values[fill] = [field.default] * int(fill.sum())
        values = values.astype(_DTYPE.get(field.kind, "object"))
    if field.choices is not None:
        allowed = set(field.choices())
        wrong = (values.notna() & ~values.isin(list(allowed))).to_numpy()
        for label, value in zip(raw.index[wrong], values[wrong], strict=True):
            problems.append(Problem(label, field.name, _not_allowed(value, allowed)))
    if field.minimum is not None:
        low = (pd.to_numeric(values, errors="coerce") < field.minimum).fillna(False).to_numpy()
        for label in raw.index[low]:
            problems.append(
                Problem(label, field.name, f"{values[label]} is below {field.minimum:g}")
            )
    return values


#: Shapely type ids a layer's geometry type accepts: the type itself, then its multi type.
_TYPE_IDS = {"Point": (0, 4), "LineString": (1, 5), "MultiPolygon": (3, 6)}


def _check_geometry(layer: Layer, geoms: gpd.GeoSeries, problems: list[Problem]) -> gpd.GeoSeries:
    values = geoms.to_numpy()
    missing = shapely.is_missing(values)
    if layer.geometry_required:
        for label in geoms.index[missing]:
            problems.append(Problem(label, "geometry", "geometry is missing"))
    present = ~missing
    empty = present & shapely.is_empty(values)
    for label in geoms.index[empty]:
        problems.append(Problem(label, "geometry", "geometry is empty"))
    ok = present & ~empty
    kinds = shapely.get_type_id(values)
    wanted = _TYPE_IDS[layer.geometry]
    wrong = ok & ~np.isin(kinds, wanted)
    for label, value in zip(geoms.index[wrong], values[wrong], strict=True):
        problems.append(
            Problem(label, "geometry", f"{value.geom_type} where the layer holds {layer.geometry}")
        )
    if layer.geometry in ("Point", "LineString"):  # a one-part multi becomes its part
        multi = ok & (kinds == wanted[1])
        several = multi & (shapely.get_num_geometries(values) != 1)
        for label in geoms.index[several]:
            parts = "points" if layer.geometry == "Point" else "lines"
            problems.append(
                Problem(label, "geometry", f"Multi{layer.geometry} with several {parts}")
            )
        values = values.copy()
        values[multi & ~several] = shapely.get_geometry(values[multi & ~several], 0)
    else:
        values = values.copy()
        poly = ok & (kinds == 3)
        values[poly] = shapely.multipolygons(values[poly].reshape(-1, 1))
    ok &= ~wrong
    invalid = ok & ~shapely.is_valid(values)
    for label, value in zip(geoms.index[invalid], values[invalid], strict=True):
        problems.append(Problem(label, "geometry", f"invalid: {shapely.is_valid_reason(value)}"))
    bounds = shapely.bounds(values[ok])
    out = (bounds[:, 0] < -180) | (bounds[:, 2] > 180) | (bounds[:, 1] < -90) | (bounds[:, 3] > 90)
    for label, b in zip(geoms.index[ok][out], bounds[out], strict=True):
        problems.append(
            Problem(label, "geometry", f"coordinates ({b[0]:g}, {b[1]:g}) are outside WGS84 range")
        )
    return gpd.GeoSeries(values, index=geoms.index, crs=CRS)


def _absent(index: pd.Index) -> pd.Series:
    return pd.Series(np.full(len(index), np.nan), index=index)


def check_rows(
    layer: Layer, frame: pd.DataFrame, *, existing_keys: set[str] | None = None
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Return ``frame`` in the canonical form of ``layer`` and every problem found.

    Parameters
    ----------
    layer : Layer
        The target layer.
    frame : DataFrame or GeoDataFrame
        Rows to check; a GeoDataFrame must be in EPSG:4326 (importers reproject first). Columns
        that are not fields of the layer are dropped; derived fields are ignored.
    existing_keys : set of str, optional
        Keys already in the store; a row reusing one is a duplicate.

    Returns
    -------
    rows : GeoDataFrame
        The canonical rows (typed columns, defaults filled, Polygons promoted to MultiPolygons).
    problems : list of Problem
        Every problem, in row order; empty when all rows are valid.
    """
    problems: list[Problem] = []
    columns = {}
    for field in layer.fields:
        if field.derived:
            continue
        raw = frame[field.name] if field.name in frame else _absent(frame.index)
        columns[field.name] = _check_field(field, raw, problems)
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame:
        geoms = frame.geometry
        if geoms.crs is not None and not geoms.crs.equals(CRS):
            geoms = geoms.to_crs(CRS)
    else:
        geoms = gpd.GeoSeries([None] * len(frame), index=frame.index, crs=CRS)
    geometry = _check_geometry(layer, geoms, problems)
    keys = columns[layer.key]
    dup = keys.duplicated(keep="first") & keys.notna()
    for label in frame.index[dup.to_numpy()]:
        problems.append(Problem(label, layer.key, f"duplicate {layer.key} {keys[label]!r}"))
    if existing_keys:
        taken = keys.isin(existing_keys).to_numpy() & ~dup.to_numpy()
        for label in frame.index[taken]:
            problems.append(
                Problem(
                    label, layer.key, f"{layer.key} {keys[label]!r} already exists in the store"
                )
            )
    if problems:
        order = {label: i for i, label in enumerate(frame.index)}
        problems.sort(key=lambda p: order.get(p.row, 0))
    rows = gpd.GeoDataFrame(columns, geometry=geometry, crs=CRS)
    return rows, problems


def check_columns(layer: Layer, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Return some columns of ``layer`` in canonical form, and every problem found.

    Unlike :func:`check_rows`, only the columns present in ``frame`` are checked (types,
    required values, defaults, choices, minimums): what a write of those columns alone, to rows
    already stored, needs.

    Parameters
    ----------
    layer : Layer
        The layer the columns belong to.
    frame : DataFrame
        One column per field to check (named after the field).

    Returns
    -------
    columns : DataFrame
        The canonical columns, indexed like ``frame``.
    problems : list of Problem
        Every problem, in row order; empty when all values are valid.

    Raises
    ------
    ValidationError
        If a column is not a field of ``layer``.
    """
    unknown = [c for c in frame.columns if c not in layer.columns]
    if unknown:
        raise ValidationError(f"{layer.name} has no field(s) {', '.join(map(str, unknown))}")
    problems: list[Problem] = []
    out = {c: _check_field(layer.field(c), frame[c], problems) for c in frame.columns}
    order = {label: i for i, label in enumerate(frame.index)}
    problems.sort(key=lambda p: order.get(p.row, 0))
    return pd.DataFrame(out, index=frame.index), problems
