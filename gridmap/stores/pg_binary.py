"""The binary COPY format, built with numpy: whole columns encoded at once, rows interleaved.

A binary COPY stream is a signature, then per row an int16 field count and per field an int32
length (-1 for NULL) and the value's bytes in the type's binary wire format, then an int16 -1.
Formatting row by row (psycopg's ``write_row``) costs some 6 µs a row for a layer's dozen
columns; here each column becomes one byte buffer plus lengths, and vectorised scatters
interleave them (about 1.5 µs a row in all).

Wire formats used: ``int8`` and ``timestamptz`` (microseconds since 2000-01-01 UTC) are
big-endian int64, ``float8`` a big-endian IEEE double, ``text`` UTF-8, ``text[]`` the array
format (dimensions, flags, element type, then length-prefixed elements) and ``geometry`` its
EWKB (PostGIS reads WKB/EWKB in binary input).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
TEXT_OID = 25
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since 1970
_POINT_EWKB = np.dtype(
    [("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")]
)
_EWKB_SRID_FLAG = 0x20000000


@dataclass(frozen=True)
class Column:
    """One column's values: their bytes back to back, and each value's length (-1: NULL)."""

    data: np.ndarray  # uint8
    lengths: np.ndarray  # int64


def _missing(values: pd.Series) -> np.ndarray:
    return np.asarray(values.isna(), dtype=bool)


def _fixed(values: np.ndarray, missing: np.ndarray, dtype: str) -> Column:
    present = values[~missing].astype(dtype)
    lengths = np.where(missing, -1, present.dtype.itemsize).astype(np.int64)
    return Column(present.view(np.uint8).reshape(-1), lengths)


def _bytes(items: Sequence[bytes | None]) -> Column:
    lengths = np.fromiter((-1 if b is None else len(b) for b in items), np.int64, len(items))
    data = b"".join([b for b in items if b is not None])
    return Column(np.frombuffer(data, dtype=np.uint8), lengths)


def _utf8(values: list[Any]) -> list[bytes]:
    try:
        return list(map(str.encode, values))
    except TypeError:  # not only str: numbers and the like, by their text
        return [str(v).encode() for v in values]


def int8(values: pd.Series) -> Column:
    """Encode integers (missing -> NULL)."""
    missing = _missing(values)
    ints = pd.array(values, dtype="Int64").to_numpy(dtype="int64", na_value=0)
    return _fixed(ints, missing, ">i8")


def float8(values: pd.Series) -> Column:
    """Encode floats (NaN -> NULL)."""
    floats = np.asarray(values.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
    return _fixed(floats, np.isnan(floats), ">f8")


def timestamptz(values: pd.Series) -> Column:
    """Encode timezone-aware times, truncated to the millisecond like every store."""
    times = pd.to_datetime(pd.Series(values), utc=True)
    missing = _missing(times)
    us = times.dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64)
    us = us - np.mod(us, 1000) - _PG_EPOCH_US
    return _fixed(us, missing, ">i8")


def text(values: pd.Series) -> Column:
    """Encode texts as UTF-8 (missing -> NULL; other objects by ``str``)."""
    missing = _missing(values)
    lengths = np.full(len(values), -1, dtype=np.int64)
    if missing.all():
        return Column(np.zeros(0, np.uint8), lengths)
    encoded = _utf8(values.to_numpy(dtype=object)[~missing].tolist())
    lengths[~missing] = np.fromiter(map(len, encoded), np.int64, len(encoded))
    return Column(np.frombuffer(b"".join(encoded), dtype=np.uint8), lengths)


def _text_array(items: Sequence[Any]) -> bytes:
    parts = [str(x).encode() for x in items]
    head = struct.pack(">iii", 1 if parts else 0, 0, TEXT_OID)
    dims = struct.pack(">ii", len(parts), 1) if parts else b""
    return head + dims + b"".join(struct.pack(">i", len(p)) + p for p in parts)


def text_array(values: pd.Series) -> Column:
    """Encode lists of strings as ``text[]`` (None -> NULL)."""
    return _bytes(
        [
            None if v is None or (isinstance(v, float) and v != v) else _text_array(v)
            for v in values.tolist()
        ]
    )


def geometry(geoms: np.ndarray, srid: int) -> Column:
    """Encode geometries as EWKB with ``srid`` (missing -> NULL); 2D points fully vectorised."""
    geoms = np.asarray(geoms, dtype=object)
    kinds = shapely.get_type_id(geoms)
    if len(geoms) and (kinds == 0).all() and not shapely.has_z(geoms).any():
        xy = shapely.get_coordinates(geoms)
        if len(xy) == len(geoms):  # no empty point
            rec = np.empty(len(geoms), dtype=_POINT_EWKB)
            rec["order"], rec["type"], rec["srid"] = 1, 1 | _EWKB_SRID_FLAG, srid
            rec["x"], rec["y"] = xy[:, 0], xy[:, 1]
            return Column(rec.view(np.uint8).reshape(-1), np.full(len(geoms), 25, np.int64))
    return _bytes(list(shapely.to_wkb(shapely.set_srid(geoms, srid), include_srid=True)))


def rows(columns: Sequence[Column]) -> bytes:
    """Return the tuples of a binary COPY holding ``columns`` (without signature and trailer).

    The output offset of every field is computed from the lengths; then each column is
    scattered into place at once (fixed-width values as one 2-D scatter).
    """
    n = len(columns[0].lengths)
    body = [np.maximum(c.lengths, 0) for c in columns]
    sizes = 2 + sum(4 + b for b in body)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    count = np.frombuffer(struct.pack(">h", len(columns)), dtype=np.uint8)
    out[starts[:, None] + np.arange(2)] = count
    pos = starts + 2
    for column, length in zip(columns, body, strict=True):
        prefix = column.lengths.astype(">i4").view(np.uint8).reshape(n, 4)
        out[pos[:, None] + np.arange(4)] = prefix
        present = column.lengths >= 0
        if column.data.size:
            dest = pos[present] + 4
            sizes_present = length[present]
            width = int(sizes_present[0])
            if (sizes_present == width).all():  # fixed width: one 2-D scatter
                out[dest[:, None] + np.arange(width)] = column.data.reshape(-1, width)
            else:
                offsets = np.zeros(len(dest), dtype=np.int64)
                np.cumsum(sizes_present[:-1], out=offsets[1:])
                shift = np.repeat(dest - offsets, sizes_present)
                out[shift + np.arange(column.data.size)] = column.data
        pos = pos + 4 + length
    return out.tobytes()
