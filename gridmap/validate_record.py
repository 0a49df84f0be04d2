"""Checks of one row at a time: the single-row twin of :func:`gridmap.validate.check_rows`.

Writes that come one at a time (a citizen's report, an account) are checked by the same rules
and with the same messages, without the cost of building frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import pandas as pd

from gridmap.calendar import working_calendar
from gridmap.errors import ValidationError
from gridmap.model import Field, Layer, Table
from gridmap.validate import _TYPE_WORD, Problem, _not_allowed, _show, raise_problems


def check_record(spec: Layer | Table, values: Mapping[str, object]) -> dict[str, object]:
    """Return one row's fields in canonical form, or raise naming every bad field.

    The single-row twin of :func:`check_rows` for writes that come one at a time (a citizen's
    report, an account): same rules (types, required values, defaults, choices, minimums) and
    messages, without building frames. Derived fields and the geometry are left to the caller.

    Parameters
    ----------
    spec : Layer or Table
        Where the row goes.
    values : mapping
        Field name -> raw value; fields not given are missing.

    Returns
    -------
    dict
        Every non-derived field -> its canonical value (``pd.Timestamp`` in the calendar's zone for
        date-times, ``list`` of ``str`` for lists, None when missing).

    Raises
    ------
    ValidationError
        If a field is unknown or a value is refused (reasons name the field).
    """
    unknown = sorted(set(values) - set(spec.columns) - {"geometry"})
    if unknown:
        raise ValidationError(f"{spec.name} has no field(s) {', '.join(unknown)}")
    problems: list[Problem] = []
    out: dict[str, object] = {}
    for field in spec.fields:
        if field.derived:
            continue
        value, reason = _scalar(field, values.get(field.name))
        if reason:
            problems.append(Problem(1, field.name, reason))
        out[field.name] = value
    raise_problems(problems, spec.name)
    return out


def _scalar(field: Field, raw: object) -> tuple[object, str]:
    """Return one value in canonical form and the reason it is refused ('' when fine)."""
    blank = raw is None or (isinstance(raw, float) and raw != raw)
    blank = blank or (isinstance(raw, str) and not raw.strip())
    if field.kind == "list":
        if blank:
            return [], ""
        if isinstance(raw, list | tuple):
            return [str(x).strip() for x in raw if str(x).strip()], ""
        return None, f"{_show(raw)} is not {_TYPE_WORD['list']}"
    if blank:
        if field.required:
            return None, "required value is missing"
        return field.default, ""
    try:
        value = _PARSE[field.kind](raw)
    except (TypeError, ValueError, OverflowError):
        return None, f"{_show(raw)} is not {_TYPE_WORD[field.kind]}"
    if field.choices is not None:
        allowed = set(field.choices())
        if value not in allowed:
            return None, _not_allowed(value, allowed)
    if field.minimum is not None and value < field.minimum:
        return None, f"{value} is below {field.minimum:g}"
    return value, ""


def _parse_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise TypeError("a boolean is not a count")
    number = float(raw) if isinstance(raw, str) else raw
    if isinstance(number, float) and not number.is_integer():
        raise ValueError("not whole")
    return int(number)


def _parse_float(raw: object) -> float:
    if isinstance(raw, bool):
        raise TypeError("a boolean is not a number")
    number = float(raw)
    if not np.isfinite(number):
        raise ValueError("not finite")
    return number


def parse_time(raw: object) -> pd.Timestamp:
    """Return a date/time (ISO text or datetime) in the calendar's zone, to the millisecond.

    Naive values are taken as local times of the calendar. Built with the standard library (a
    few microseconds) rather than pandas' conversions (tens of microseconds each): reports come
    one at a time and many per second.

    Raises
    ------
    TypeError, ValueError
        If ``raw`` is not a date/time.
    """
    if isinstance(raw, str):
        raw = datetime.fromisoformat(raw.strip().replace("z", "Z"))
    elif isinstance(raw, pd.Timestamp):
        raw = raw.to_pydatetime(warn=False)
    elif not isinstance(raw, datetime):
        raise TypeError("not a date/time")
    tz = working_calendar().timezone
    stamp = raw.replace(tzinfo=tz) if raw.tzinfo is None else raw.astimezone(tz)
    return pd.Timestamp(stamp.replace(microsecond=stamp.microsecond // 1000 * 1000))


_PARSE = {
    "text": lambda raw: str(raw).strip(),
    "int": _parse_int,
    "float": _parse_float,
    "datetime": parse_time,
}
