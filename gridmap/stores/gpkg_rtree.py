"""Bulk build of a GeoPackage spatial index (an SQLite R*Tree) in one pass.

Inserting a million boxes into SQLite's R*Tree one by one takes about 30 s; GDAL avoids it by
packing the tree itself and writing the R*Tree's shadow tables directly. This module does the
same with numpy: Sort-Tile-Recursive packing (Leutenegger et al., 1997), nodes encoded in SQLite's
on-disk format (``rtree.c``: a 2-byte depth, a 2-byte cell count, then cells of a big-endian
64-bit id and four big-endian float32 bounds, min rounded down and max rounded up so every box
still contains its geometry).
"""

from __future__ import annotations

import sqlite3

import numpy as np

from gridmap.stores.sqlite_bulk import insert_columns

CELL_BYTES = 24  # 8-byte id + 4 float32 coordinates
_CELL = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def float32_boxes(bounds: np.ndarray) -> np.ndarray:
    """Return ``(minx, maxx, miny, maxy)`` float32 boxes containing ``(minx, miny, maxx, maxy)``."""
    box = bounds[:, [0, 2, 1, 3]]
    out = box.astype(np.float32)
    low = out[:, [0, 2]].astype(np.float64) > box[:, [0, 2]]
    high = out[:, [1, 3]].astype(np.float64) < box[:, [1, 3]]
    lows, highs = out[:, [0, 2]], out[:, [1, 3]]
    lows[low] = np.nextafter(lows[low], np.float32(-np.inf))
    highs[high] = np.nextafter(highs[high], np.float32(np.inf))
    out[:, [0, 2]], out[:, [1, 3]] = lows, highs
    return out


def _str_order(boxes: np.ndarray, capacity: int) -> np.ndarray:
    """Return the Sort-Tile-Recursive order of boxes (x slices, then y within a slice)."""
    n = len(boxes)
    cx = (boxes[:, 0].astype(np.float64) + boxes[:, 1]) / 2
    cy = (boxes[:, 2].astype(np.float64) + boxes[:, 3]) / 2
    leaves = -(-n // capacity)
    per_slice = int(np.ceil(np.sqrt(leaves))) * capacity
    by_x = np.argsort(cx, kind="stable")
    slice_of = np.empty(n, dtype=np.int64)
    slice_of[by_x] = np.arange(n) // per_slice
    return np.lexsort((cy, slice_of))


def _nodes(
    ids: np.ndarray, boxes: np.ndarray, capacity: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pack cells into node blobs; return the blobs (rows of bytes) and each node's bounds."""
    n = len(ids)
    count = -(-n // capacity)
    cells = np.zeros(count * capacity, dtype=_CELL)
    cells["id"][:n] = ids
    cells["box"][:n] = boxes
    raw = np.zeros((count, size), dtype=np.uint8)
    raw[:, 4 : 4 + capacity * CELL_BYTES] = cells.view(np.uint8).reshape(count, -1)
    fill = np.full(count, capacity, dtype=">u2")
    fill[-1] = n - (count - 1) * capacity
    raw[:, 2:4] = fill.view(np.uint8).reshape(count, 2)
    starts = np.arange(0, n, capacity)
    bounds = np.column_stack(
        [
            np.minimum.reduceat(boxes[:, 0], starts),
            np.maximum.reduceat(boxes[:, 1], starts),
            np.minimum.reduceat(boxes[:, 2], starts),
            np.maximum.reduceat(boxes[:, 3], starts),
        ]
    )
    return raw, bounds


def rebuild(con: sqlite3.Connection, rtree: str, ids: np.ndarray, boxes: np.ndarray) -> None:
    """Replace the whole content of R*Tree ``rtree`` by the given entries.

    Parameters
    ----------
    con : sqlite3.Connection
        A connection inside an open transaction.
    rtree : str
        Name of the R*Tree virtual table (``rtree_<table>_geom``).
    ids : ndarray of int64
        Row ids (the feature ids).
    boxes : ndarray of float32, shape (n, 4)
        ``(minx, maxx, miny, maxy)`` per entry, as from :func:`float32_boxes`.
    """
    node, rowid, parent = (_q(f"{rtree}_{part}") for part in ("node", "rowid", "parent"))
    size = con.execute(f"SELECT length(data) FROM {node} WHERE nodeno = 1").fetchone()[0]
    capacity = min((size - 4) // CELL_BYTES, 51)  # RTREE_MAXCELLS in rtree.c
    for table in (node, rowid, parent):
        con.execute(f"DELETE FROM {table}")
    if len(ids) == 0:
        con.execute(f"INSERT INTO {node} VALUES (1, zeroblob({size}))")
        return
    order = _str_order(boxes, capacity)
    level_ids, level_boxes = ids[order], boxes[order]
    levels = []
    while True:
        raw, bounds = _nodes(level_ids, level_boxes, capacity, size)
        levels.append(raw)
        if len(raw) == 1:
            break
        level_ids, level_boxes = np.arange(len(raw), dtype=np.int64), bounds
    # Number nodes root first (the root is node 1), then level by level down to the leaves.
    first = {}
    next_no = 1
    for depth in range(len(levels) - 1, -1, -1):
        first[depth] = next_no
        next_no += len(levels[depth])
    for depth, raw in enumerate(levels):
        numbers = first[depth] + np.arange(len(raw))
        if depth > 0:  # children were numbered 0..k-1 within their level: make them node numbers
            cells = raw[:, 4 : 4 + capacity * CELL_BYTES].copy().view(_CELL).reshape(len(raw), -1)
            used = np.arange(capacity)[None, :] < raw[:, 2:4].copy().view(">u2")
            cells["id"][used] += first[depth - 1]
            raw[:, 4 : 4 + capacity * CELL_BYTES] = cells.view(np.uint8).reshape(len(raw), -1)
            children = cells["id"][used]
            owners = np.repeat(numbers, used.sum(axis=1))
            con.executemany(
                f"INSERT INTO {parent} VALUES (?, ?)",
                zip(children.tolist(), owners.tolist(), strict=True),
            )
        if depth == len(levels) - 1:
            raw[0, 0:2] = np.array([depth], dtype=">u2").view(np.uint8)
        con.executemany(
            f"INSERT INTO {node} VALUES (?, ?)",
            zip(numbers.tolist(), (row.tobytes() for row in raw), strict=True),
        )
    leaves = np.empty(len(ids), dtype=np.int64)
    leaves[order] = first[0] + np.arange(len(ids)) // capacity
    by_id = np.argsort(ids, kind="stable")  # B-tree inserts in key order are fast
    insert_columns(con, rowid, ("rowid", "nodeno"), [ids[by_id].tolist(), leaves[by_id].tolist()])
