"""Sparse incident-worker candidate pairs: the k nearest qualified workers per incident."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from optimizer._checks import bool_matrix, frozen, in_range, int_vector
from optimizer.errors import SpecificationError

__all__ = ["CandidatePairs", "nearest_pairs"]

#: Default travel speed (metres per second): an electric bicycle in city traffic, 15 km/h.
DEFAULT_SPEED = 15.0 / 3.6
#: Default ratio of street distance to straight-line distance.
DEFAULT_DETOUR = 1.3


@dataclass(frozen=True, eq=False)
class CandidatePairs:
    """Sparse incident-worker pairs with their travel times.

    Attributes
    ----------
    incident : numpy.ndarray
        ``(p,)`` int64 incident (row) index of each pair.
    worker : numpy.ndarray
        ``(p,)`` int64 worker (column) index of each pair.
    seconds : numpy.ndarray
        ``(p,)`` float64 travel time of each pair in seconds.
    """

    incident: np.ndarray
    worker: np.ndarray
    seconds: np.ndarray

    def __post_init__(self) -> None:
        incident = frozen(self.incident, np.int64)
        worker = frozen(self.worker, np.int64)
        seconds = frozen(self.seconds, np.float64)
        if not (incident.ndim == worker.ndim == seconds.ndim == 1) or not (
            incident.shape == worker.shape == seconds.shape
        ):
            raise SpecificationError(
                "candidate pairs need three 1-D arrays of one length "
                f"(got {incident.shape}, {worker.shape}, {seconds.shape})"
            )
        if np.isnan(seconds).any() or (seconds < 0).any():
            raise SpecificationError("candidate pair travel seconds must be non-negative numbers")
        object.__setattr__(self, "incident", incident)
        object.__setattr__(self, "worker", worker)
        object.__setattr__(self, "seconds", seconds)

    def __len__(self) -> int:
        return int(self.incident.shape[0])


def _xy(values: object, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or not np.isfinite(array).all():
        raise SpecificationError(f"{name} must be a finite (count, 2) array of metric x, y")
    return array


def nearest_pairs(
    incident_xy: object,
    worker_xy: object,
    qualified: object,
    k: int,
    *,
    available: object = None,
    speed: float = DEFAULT_SPEED,
    detour: float = DEFAULT_DETOUR,
) -> CandidatePairs:
    """Keep the ``k`` nearest qualified workers of every incident.

    Straight-line distances in projected (metric) coordinates come from a
    :class:`scipy.spatial.cKDTree`; travel time is ``distance * detour /
    speed``. A 10,000 x 2,000 problem thus becomes at most ``10,000 k`` pairs
    instead of 20 million, which keeps the dispatch network small.

    Parameters
    ----------
    incident_xy : array_like
        ``(n, 2)`` incident coordinates in metres (e.g. a UTM or CGCS2000
        Gauss-Kruger projection, never degrees).
    worker_xy : array_like
        ``(m, 2)`` worker coordinates in metres.
    qualified : array_like or tuple
        Either an ``(n, m)`` boolean matrix (worker ``w`` may take incident
        ``i``), or a pair ``(incident_skill, worker_skills)``: ``(n,)`` required
        skill index per incident (``-1`` = no skill needed) and an ``(m, S)``
        boolean skill matrix. The pair form builds one tree per skill and is
        the fast path for large inputs.
    k : int
        Number of pairs kept per incident (fewer where fewer workers qualify).
    available : array_like, optional
        ``(m,)`` boolean mask of workers that can take any case now (on shift,
        below their case limit). Unavailable workers are skipped so that the
        ``k`` pairs are usable ones; default all available.
    speed : float, optional
        Travel speed in metres per second (default 15 km/h).
    detour : float, optional
        Street-network detour factor applied to straight-line distances.

    Returns
    -------
    CandidatePairs
        Pairs sorted by incident, then by travel time.
    """
    inc = _xy(incident_xy, "incident_xy")
    wrk = _xy(worker_xy, "worker_xy")
    n, m = inc.shape[0], wrk.shape[0]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise SpecificationError(f"k must be a positive integer, got {k!r}")
    if not (speed > 0 and detour > 0):
        raise SpecificationError("speed and detour must be positive")
    mask = np.ones(m, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    if mask.shape != (m,):
        raise SpecificationError(f"available must have shape ({m},), got {mask.shape}")
    factor = float(detour) / float(speed)
    if isinstance(qualified, tuple):
        skill = int_vector(qualified[0], n, "incident_skill")
        skills = bool_matrix(qualified[1], m, "worker_skills")
        in_range(skill, -1, skills.shape[1], "incident_skill")
        parts = _by_skill(inc, wrk, skill, skills & mask[:, None], mask, int(k))
    else:
        matrix = bool_matrix(qualified, n, "qualified")
        if matrix.shape[1] != m:
            raise SpecificationError(f"qualified must have shape ({n}, {m}), got {matrix.shape}")
        parts = _by_matrix(inc, wrk, matrix & mask[None, :], int(k))
    rows, cols, dist = (np.concatenate(p) for p in zip(*parts, strict=True)) if parts else ([],) * 3
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    dist = np.asarray(dist, dtype=np.float64)
    order = np.lexsort((cols, dist, rows))
    return CandidatePairs(rows[order], cols[order], dist[order] * factor)


def _query(tree: cKDTree, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    dist, idx = tree.query(points, k=k)
    return np.asarray(dist).reshape(len(points), k), np.asarray(idx).reshape(len(points), k)


def _by_skill(inc, wrk, skill, skills, mask, k):
    parts = []
    for s in np.unique(skill):
        rows = np.flatnonzero(skill == s)
        pool = np.flatnonzero(mask if s < 0 else skills[:, s])
        if pool.size == 0:
            continue
        kk = min(k, pool.size)
        dist, idx = _query(cKDTree(wrk[pool]), inc[rows], kk)
        parts.append((np.repeat(rows, kk), pool[idx.ravel()], dist.ravel()))
    return parts


def _by_matrix(inc, wrk, matrix, k):
    """Query ever more neighbours until each incident has k qualified ones (or all of them)."""
    m = wrk.shape[0]
    tree = cKDTree(wrk)
    want = np.minimum(matrix.sum(axis=1), k)
    todo = np.flatnonzero(want > 0)
    parts = []
    kk = min(m, 4 * k)
    while todo.size:
        dist, idx = _query(tree, inc[todo], kk)
        ok = matrix[todo[:, None], idx]
        done = ok.sum(axis=1) >= want[todo]
        for r in np.flatnonzero(done):
            keep = np.flatnonzero(ok[r])[: want[todo[r]]]
            parts.append((np.full(keep.size, todo[r]), idx[r, keep], dist[r, keep]))
        todo = todo[~done]
        kk = min(m, 2 * kk)
    return parts
