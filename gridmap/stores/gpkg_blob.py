"""GeoPackage geometry blobs and the SQL functions GDAL's R*Tree triggers call.

A GeoPackage geometry is ``b"GP"``, a version byte, a flags byte (bit 0: little endian; bits 1-3:
envelope code; bit 4: empty), the int32 SRS id, an optional envelope, then standard WKB. GDAL's
spatial-index triggers call ``ST_IsEmpty`` and ``ST_MinX``/``MaxX``/``MinY``/``MaxY``, which plain
SQLite lacks; :func:`register_functions` provides them so rows can be written through ``sqlite3``.
"""

from __future__ import annotations

import sqlite3
import struct

import numpy as np
import shapely

ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
SRS_ID = 4326
_HEADER = b"GP\x00\x01" + struct.pack("<i", SRS_ID)  # little endian, no envelope
_EMPTY_HEADER = b"GP\x00\x11" + struct.pack("<i", SRS_ID)


def _wkb_offset(blob: bytes) -> int:
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob")
    code = (blob[3] >> 1) & 0b111
    if code not in ENVELOPE_BYTES:
        raise ValueError(f"invalid GeoPackage envelope code {code}")
    return 8 + ENVELOPE_BYTES[code]


def decode(blobs: list[bytes | None]) -> np.ndarray:
    """Return the shapely geometries of GeoPackage blobs (None stays None)."""
    wkb = [None if b is None else b[_wkb_offset(b) :] for b in blobs]
    return shapely.from_wkb(np.array(wkb, dtype=object))


def encode(geoms: np.ndarray) -> list[bytes | None]:
    """Return GeoPackage blobs (no envelope, EPSG:4326) for an array of geometries."""
    geoms = np.asarray(geoms, dtype=object)
    wkb = shapely.to_wkb(geoms, byte_order=1)
    empty = shapely.is_empty(geoms)
    return [
        None if w is None else (_EMPTY_HEADER if e else _HEADER) + w
        for w, e in zip(wkb.tolist(), empty.tolist(), strict=True)
    ]


def _one(blob: bytes | None) -> shapely.Geometry | None:
    return None if blob is None else shapely.from_wkb(blob[_wkb_offset(blob) :])


def _bound(blob: bytes | None, i: int) -> float | None:
    geom = _one(blob)
    return None if geom is None or geom.is_empty else geom.bounds[i]


def register_functions(con: sqlite3.Connection) -> None:
    """Register the five functions GDAL's R*Tree triggers need on ``con``."""

    def is_empty(blob: bytes | None) -> int | None:
        return None if blob is None else int(bool(blob[3] & 0b10000) or _one(blob).is_empty)

    con.create_function("ST_IsEmpty", 1, is_empty, deterministic=True)
    for i, name in enumerate(("ST_MinX", "ST_MinY", "ST_MaxX", "ST_MaxY")):
        con.create_function(name, 1, lambda b, i=i: _bound(b, i), deterministic=True)
