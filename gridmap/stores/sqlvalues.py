"""Conversions between typed columns and the values a GeoPackage stores.

GeoPackage keeps date-times as ISO 8601 text in UTC with millisecond precision (so text order is
time order) and lists as JSON text; reads turn them back into timezone-aware times in the working
calendar's zone and Python lists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from gridmap.calendar import working_calendar
from gridmap.model import Field, Layer


def format_times(values: pd.Series) -> list[str | None]:
    """Return ISO 8601 UTC text (``2025-03-01T02:00:00.000Z``) for timezone-aware times."""
    times = pd.to_datetime(pd.Series(values), utc=True).dt.tz_localize(None)
    codes, uniques = pd.factorize(times)  # format each distinct instant once
    text = np.datetime_as_string(uniques.to_numpy().astype("datetime64[ms]"), unit="ms")
    formatted = np.array([t + "Z" for t in text.tolist()] + [None], dtype=object)
    return formatted[codes].tolist()


def parse_times(values: Sequence[Any]) -> pd.Series:
    """Return timezone-aware times (calendar zone) from ISO 8601 text."""
    times = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    return times.dt.tz_convert(working_calendar().timezone).dt.as_unit("us")


def sql_value(field: Field, item: Any) -> Any:
    """Return one value as a SQL parameter (see :func:`column`)."""
    if isinstance(item, np.generic):
        item = item.item()
    if item is None or (isinstance(item, float) and item != item) or item is pd.NaT:
        return None
    if field.kind == "datetime":
        if not isinstance(item, datetime):
            item = pd.Timestamp(item).to_pydatetime()
        utc = item.replace(tzinfo=UTC) if item.tzinfo is None else item.astimezone(UTC)
        return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    if field.kind == "list":
        return json.dumps(list(item), ensure_ascii=False)
    return item


def read_value(field: Field, raw: Any) -> Any:
    """Return one stored value in its Python form (see :func:`frame`)."""
    if raw is None:
        return [] if field.kind == "list" else None
    if field.kind == "datetime":  # ISO 8601 text in UTC (``...Z``)
        return pd.Timestamp(datetime.fromisoformat(raw).astimezone(working_calendar().timezone))
    if field.kind == "list":
        return json.loads(raw)
    return raw


def column(field: Field, values: pd.Series) -> list[Any]:
    """Return the SQL parameter values of one column (already checked by ``check_rows``)."""
    if field.kind == "datetime":
        return format_times(values)
    if field.kind == "list":
        return [None if v is None else json.dumps(list(v), ensure_ascii=False) for v in values]
    missing = values.isna().to_numpy()
    if field.kind in ("int", "float") and not missing.any():
        return values.to_numpy(dtype="int64" if field.kind == "int" else "float64").tolist()
    out = values.astype(object).tolist()
    if not missing.any():
        return out
    if field.kind == "int":
        return [None if m else int(v) for v, m in zip(out, missing, strict=True)]
    if field.kind == "float":
        return [None if m else float(v) for v, m in zip(out, missing, strict=True)]
    return [None if m else v for v, m in zip(out, missing.tolist(), strict=True)]


def frame(spec: Layer, data: dict[str, Sequence[Any]]) -> pd.DataFrame:
    """Return a typed frame of a layer's columns from raw SQL values."""
    columns = {}
    for f in spec.fields:
        raw = data[f.name]
        if f.kind == "datetime":
            columns[f.name] = parse_times(raw)
        elif f.kind == "int":
            columns[f.name] = pd.array(pd.Series(raw, dtype=object), dtype="Int64")
        elif f.kind == "float":
            columns[f.name] = np.array([np.nan if v is None else v for v in raw], dtype=float)
        elif f.kind == "list":
            columns[f.name] = pd.Series(
                [[] if v is None else json.loads(v) for v in raw], dtype=object
            )
        else:
            columns[f.name] = pd.Series(raw, dtype=object)
    return pd.DataFrame({k: pd.Series(v).reset_index(drop=True) for k, v in columns.items()})


def condition(field: Field, column_sql: str, value: Any, mark: str) -> tuple[str, list[Any]]:
    """Return an SQL condition and its parameters for one ``where`` entry.

    A scalar means equality, a list/tuple/set any of its values, and ``slice(lo, hi)`` the
    half-open range ``lo <= value < hi`` (either end may be None).
    """

    def params(items: Sequence[Any]) -> list[Any]:
        return [sql_value(field, item) for item in items]

    if isinstance(value, slice):
        clauses, values = [], []
        if value.start is not None:
            clauses.append(f"{column_sql} >= {mark}")
            values += params([value.start])
        if value.stop is not None:
            clauses.append(f"{column_sql} < {mark}")
            values += params([value.stop])
        return " AND ".join(clauses) or "1 = 1", values
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        if not items:
            return "1 = 0", []
        return f"{column_sql} IN ({', '.join([mark] * len(items))})", params(items)
    if value is None:
        return f"{column_sql} IS NULL", []
    return f"{column_sql} = {mark}", params([value])
