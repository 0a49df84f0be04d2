"""Geometry work remembered between page builds (simplified grids, their GeoJSON).

A page built again over the same grids (another language, filter or period) skips simplifying,
rounding and encoding 10,000 polygons: the results are kept by a digest of the geometries.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely

__all__ = ["MEMO_MIN", "MEMO_SIZE", "digest", "remember"]

#: Simplified grids and their GeoJSON geometries are kept for this many grid layers: a page
#: built again (another language, filter or period) reuses them.
MEMO_SIZE = 8
#: Only layers of at least this many features are worth remembering.
MEMO_MIN = 500

_memo: OrderedDict[tuple, Any] = OrderedDict()
_memo_lock = threading.Lock()


def remember(key: tuple, make: Callable[[], Any], size: int) -> Any:
    """Return ``make()``, reusing the value of an earlier call with the same ``key``.

    Only values made from ``size`` >= :data:`MEMO_MIN` features are remembered.
    """
    if size < MEMO_MIN:
        return make()
    with _memo_lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]
    value = make()
    with _memo_lock:
        _memo[key] = value
        while len(_memo) > MEMO_SIZE * 2:
            _memo.popitem(last=False)
    return value


def digest(geoms: np.ndarray) -> str:
    """Return a digest of geometries (their WKB), cheap next to simplifying them ("" if few)."""
    if len(geoms) < MEMO_MIN:
        return ""
    wkb = shapely.to_wkb(geoms)
    return hashlib.blake2b(b"".join(b or b"-" for b in wkb), digest_size=16).hexdigest()
