"""Input checks and small helpers for the dispatch, staffing and routing models."""

from __future__ import annotations

import math

import numpy as np

from optimizer.errors import SpecificationError

#: Largest integer magnitude allowed for any solver total (cost x count), well inside int64.
INT_LIMIT = 2**62


def float_vector(values: object, size: int | None, name: str, *, finite: bool = True) -> np.ndarray:
    """Return ``values`` as a 1-D float64 array of length ``size`` (any length if None)."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpecificationError(f"{name} must be a numeric 1-D array ({exc})") from None
    if array.ndim != 1 or (size is not None and array.shape[0] != size):
        want = f"({size},)" if size is not None else "1-D"
        raise SpecificationError(f"{name} must have shape {want}, got {array.shape}")
    if np.isnan(array).any():
        raise SpecificationError(f"{name} contains NaN (first at index {np.isnan(array).argmax()})")
    if finite and not np.isfinite(array).all():
        raise SpecificationError(f"{name} contains an infinite value")
    return array


def int_vector(values: object, size: int | None, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D int64 array; floats must be whole numbers."""
    array = float_vector(values, size, name)
    if not np.array_equal(array, np.rint(array)):
        raise SpecificationError(f"{name} must hold whole numbers")
    return array.astype(np.int64)


def bool_matrix(values: object, rows: int | None, name: str) -> np.ndarray:
    """Return a 2-D boolean matrix (0/1 or bool input) with ``rows`` rows."""
    array = np.asarray(values)
    if array.ndim != 2 or (rows is not None and array.shape[0] != rows):
        raise SpecificationError(f"{name} must be a 2-D matrix with {rows} rows, got {array.shape}")
    if array.dtype != bool:
        if not np.isin(array, (0, 1)).all():
            raise SpecificationError(f"{name} must hold booleans or 0/1")
        array = array.astype(bool)
    return array


def in_range(values: np.ndarray, low: int, high: int, name: str) -> None:
    """Raise unless every value lies in ``[low, high)``."""
    bad = (values < low) | (values >= high)
    if bad.any():
        first = int(np.argmax(bad))
        raise SpecificationError(
            f"{name}[{first}] = {int(values[first])} is outside {low}..{high - 1}"
        )


def non_negative(values: np.ndarray, name: str) -> None:
    """Raise if any value is negative."""
    if (values < 0).any():
        first = int(np.argmax(values < 0))
        raise SpecificationError(f"{name}[{first}] = {values[first]} is negative")


def positive_seconds(value: object, name: str = "time_limit") -> float:
    """Return a finite, positive number of seconds."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecificationError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise SpecificationError(f"{name} must be positive and finite, got {value!r}")
    return seconds


def check_int_total(largest: float, count: int, what: str) -> None:
    """Raise if ``largest * count`` could overflow the solvers' int64 arithmetic."""
    if largest * max(count, 1) >= INT_LIMIT:
        raise SpecificationError(
            f"{what}: integer-scaled values up to {largest:.3g} over {count} terms could "
            "overflow int64; use smaller costs or penalties"
        )


def frozen(values: object, dtype: type) -> np.ndarray:
    """Return a read-only copy of ``values`` with the given dtype."""
    array = np.array(values, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array
