"""Input checks shared by the siting models; all raise :class:`SpecificationError`."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from optimizer.errors import SpecificationError


def cost_matrix(cost: object) -> np.ndarray:
    """Return ``cost`` as a finite, non-negative 2-D float64 array."""
    try:
        array = np.array(cost, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpecificationError(f"cost must be a numeric 2-D array ({exc})") from None
    if array.ndim != 2:
        raise SpecificationError(f"cost must be 2-D (demand x candidate), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise SpecificationError(f"cost has no demand points or no candidates: {array.shape}")
    if np.isnan(array).any():
        rows, cols = np.nonzero(np.isnan(array))
        raise SpecificationError(f"cost contains NaN (first at [{rows[0]}, {cols[0]}])")
    if not np.isfinite(array).all():
        raise SpecificationError(
            "cost contains an infinite value; use a large finite cost for unreachable pairs"
        )
    if (array < 0).any():
        rows, cols = np.nonzero(array < 0)
        raise SpecificationError(
            f"cost contains negative values (first {array[rows[0], cols[0]]} "
            f"at [{rows[0]}, {cols[0]}])"
        )
    return array


def weight_vector(weights: object, n: int) -> np.ndarray:
    """Return demand weights (default all ones) as a finite non-negative ``(n,)`` array."""
    if weights is None:
        return np.ones(n)
    return _vector(weights, n, "weights", "demand points (cost rows)")


def capacity_vector(capacity: object, m: int) -> np.ndarray:
    """Return per-candidate capacities as a finite non-negative ``(m,)`` array."""
    return _vector(capacity, m, "capacity", "candidates (cost columns)")


def _vector(values: object, size: int, name: str, what: str) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpecificationError(f"{name} must be a numeric 1-D array ({exc})") from None
    if array.shape != (size,):
        raise SpecificationError(f"{name} has shape {array.shape} but there are {size} {what}")
    if not np.isfinite(array).all():
        raise SpecificationError(f"{name} contains NaN or infinite values")
    if (array < 0).any():
        raise SpecificationError(f"{name} contains negative values")
    return array


def existing_sites(existing: Iterable[int] | np.ndarray | None, m: int) -> np.ndarray:
    """Return existing candidate columns as a sorted unique int array in ``[0, m)``."""
    if existing is None:
        return np.zeros(0, dtype=np.intp)
    raw = np.asarray(list(existing) if not isinstance(existing, np.ndarray) else existing)
    if raw.size == 0:
        return np.zeros(0, dtype=np.intp)
    if raw.ndim != 1:
        raise SpecificationError(f"existing must be a 1-D list of column indices, got {raw.shape}")
    if raw.dtype == bool or not all(
        isinstance(v, numbers.Integral) or (isinstance(v, float) and v.is_integer())
        for v in raw.tolist()
    ):
        raise SpecificationError("existing must hold integer candidate column indices")
    sites = raw.astype(np.int64)
    bad = sites[(sites < 0) | (sites >= m)]
    if bad.size:
        raise SpecificationError(
            f"existing site index {int(bad[0])} is out of range: there are {m} candidates "
            f"(valid indices 0..{m - 1})"
        )
    unique = np.unique(sites)
    if unique.size != sites.size:
        raise SpecificationError("existing contains duplicate site indices")
    return unique.astype(np.intp)


def site_count(p: object, m: int, n_existing: int) -> int:
    """Check ``p`` (total open sites, existing included) against the candidates."""
    if isinstance(p, bool) or not isinstance(p, numbers.Integral):
        if isinstance(p, float) and p.is_integer():
            p = int(p)
        else:
            raise SpecificationError(f"p must be an integer, got {p!r}")
    p = int(p)
    if p < 1:
        raise SpecificationError(f"p must be at least 1, got {p}")
    if p > m:
        raise SpecificationError(f"p = {p} is larger than the number of candidate sites ({m})")
    if p < n_existing:
        raise SpecificationError(
            f"p = {p} is smaller than the number of existing sites ({n_existing}); "
            "p counts the existing sites too"
        )
    return p


def radius_value(radius: object) -> float:
    """Check a coverage radius: a finite non-negative number."""
    try:
        value = float(radius)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecificationError(f"radius must be a number, got {radius!r}") from None
    if math.isnan(value) or value < 0 or math.isinf(value):
        raise SpecificationError(f"radius must be finite and non-negative, got {radius!r}")
    return value


def time_limit_value(time_limit: object) -> float:
    """Check a time limit in seconds: finite and positive."""
    try:
        value = float(time_limit)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecificationError(f"time_limit must be a number, got {time_limit!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SpecificationError(f"time_limit must be positive and finite, got {time_limit!r}")
    return value
