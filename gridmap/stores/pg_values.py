"""Conversions between typed layer columns and query parameters or query results.

Bulk writes go through binary COPY instead (:mod:`gridmap.stores.pg_binary`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import shapely
from psycopg import sql

from gridmap.calendar import working_calendar
from gridmap.model import Field, Layer

SRID = 4326


def ewkb(geoms: Sequence[Any] | np.ndarray) -> list[bytes | None]:
    """Return the EWKB (SRID 4326) of each geometry; None for a missing one."""
    values = np.asarray(geoms, dtype=object)
    return list(shapely.to_wkb(shapely.set_srid(values, SRID), include_srid=True))


def param(field: Field, value: Any) -> Any:
    """Return one value as a query parameter (times as UTC datetimes at millisecond precision)."""
    if field.kind == "list":
        return None if value is None else [str(x) for x in value]
    if value is None or (not isinstance(value, list | tuple | np.ndarray) and pd.isna(value)):
        return None
    if field.kind == "datetime":
        stamp = pd.Timestamp(value).to_pydatetime(warn=False)  # datetime arithmetic is faster
        stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
        return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
    if field.kind == "int":
        return int(value)
    if field.kind == "float":
        return float(value)
    return str(value)


def times(values: Sequence[datetime | None]) -> pd.Series:
    """Return timezone-aware times in the calendar's zone from database values."""
    parsed = pd.to_datetime(pd.Series(list(values), dtype=object), utc=True)
    return parsed.dt.tz_convert(working_calendar().timezone).dt.as_unit("us")


def frame(spec: Layer, data: dict[str, Sequence[Any]]) -> pd.DataFrame:
    """Return a typed frame of a layer's columns from database values (like the GeoPackage's)."""
    columns: dict[str, Any] = {}
    for f in spec.fields:
        raw = list(data[f.name])
        if f.kind == "datetime":
            columns[f.name] = times(raw)
        elif f.kind == "int":
            columns[f.name] = pd.array(pd.Series(raw, dtype=object), dtype="Int64")
        elif f.kind == "float":
            columns[f.name] = np.array([np.nan if v is None else v for v in raw], dtype=float)
        elif f.kind == "list":
            columns[f.name] = pd.Series([[] if v is None else list(v) for v in raw], dtype=object)
        else:
            columns[f.name] = pd.Series(raw, dtype=object)
    return pd.DataFrame({k: pd.Series(v).reset_index(drop=True) for k, v in columns.items()})


@functools.cache
def quoted(name: str) -> str:
    """Return a column or table name quoted as an SQL identifier (built once per name)."""
    return '"' + name.replace('"', '""') + '"'


def condition(field: Field, name: str, value: Any) -> tuple[sql.Composable, list[Any]]:
    """Return the SQL condition on ``t.name`` of one ``where`` entry (see :data:`.base.Where`)."""
    column = sql.SQL("t." + quoted(name))
    if isinstance(value, slice):
        clauses, params = [], []
        if value.start is not None:
            clauses.append(column + sql.SQL(" >= %s"))
            params.append(param(field, value.start))
        if value.stop is not None:
            clauses.append(column + sql.SQL(" < %s"))
            params.append(param(field, value.stop))
        return (sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("TRUE")), params
    if isinstance(value, list | tuple | set | frozenset) and field.kind != "list":
        items = [param(field, v) for v in value]
        return column + sql.SQL(" = ANY(%s)"), [items]
    if value is None:
        return column + sql.SQL(" IS NULL"), []
    return column + sql.SQL(" = %s"), [param(field, value)]
