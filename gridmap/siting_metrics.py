"""Numbers about a set of open sites on a demand x candidate cost matrix (numpy only).

Coverage, mean and worst distance of a set of open sites, and the order in which a model's new
sites are best added to the existing ones, with each one's marginal gain (the ranks and gains
``gridmap site`` writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["COVERAGE_MODELS", "Metrics", "metrics", "nearest", "rank_sites"]

COVERAGE_MODELS = ("mclp", "lscp")
MODELS = ("lscp", "mclp", "pmedian", "pcenter")


@dataclass(frozen=True)
class Metrics:
    """How well a set of open sites serves the demand.

    Attributes
    ----------
    covered_share : float
        Share of the demand weight within the radius of an open site (0 when none is open).
    mean : float
        Weighted mean cost from each demand point to its nearest open site (NaN when none).
    worst : float
        Largest such cost over the demand points (NaN when no site is open).
    """

    covered_share: float
    mean: float
    worst: float


def nearest(cost: np.ndarray, open_sites: Sequence[int]) -> np.ndarray:
    """Return each demand point's cost to its nearest open site (``inf`` when none is open)."""
    columns = np.asarray(open_sites, dtype=np.int64)
    if columns.size == 0:
        return np.full(cost.shape[0], np.inf)
    return cost[:, columns].min(axis=1)


def metrics(
    cost: np.ndarray, weights: np.ndarray, open_sites: Sequence[int], radius: float
) -> Metrics:
    """Return the coverage within ``radius`` and the mean and worst cost of ``open_sites``."""
    d = nearest(cost, open_sites)
    total = float(weights.sum())
    covered = float(weights[d <= radius].sum()) / total if total > 0 else 0.0
    if len(open_sites) == 0 or len(d) == 0:
        return Metrics(covered, float("nan"), float("nan"))
    mean = float(weights @ d) / total if total > 0 else float("nan")
    return Metrics(covered, mean, float(d.max()))


def _scores(
    model: str, d: np.ndarray, trial: np.ndarray, weights: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (primary score, tie-break score, gain) of adding each trial column to ``d``."""
    total = weights @ trial  # weighted total cost with each trial site added
    if model in COVERAGE_MODELS:
        covered = weights @ (trial <= radius)
        gain = covered - float(weights[d <= radius].sum())
        return covered, -total, gain
    if model == "pmedian":
        before = float(weights @ d) if np.isfinite(d).all() else np.nan
        return -total, np.zeros_like(total), before - total
    worst = trial.max(axis=0)
    before = float(d.max()) if np.isfinite(d).all() else np.nan
    return -worst, -total, before - worst


def rank_sites(
    cost: np.ndarray,
    weights: np.ndarray,
    chosen: Sequence[int],
    existing: Sequence[int],
    model: str,
    radius: float,
) -> tuple[list[int], list[float]]:
    """Order the chosen new sites by greedy marginal gain, starting from the existing sites.

    At each step the site whose addition helps most is taken: the most newly covered weight
    (``mclp``, ``lscp``), the largest drop of the weighted total cost (``pmedian``) or of the
    worst cost (``pcenter``); ties go to the larger drop of the weighted total cost, then to
    the lower column. Coverage and the weighted total cost are submodular, so for ``mclp``,
    ``lscp`` and ``pmedian`` the gains never increase along the ranks; for every model they are
    never negative and add up to the change from the existing sites to all open sites.

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` demand x candidate costs.
    weights : numpy.ndarray
        ``(n,)`` demand weights.
    chosen : sequence of int
        The new sites to order (columns).
    existing : sequence of int
        Columns open before.
    model : {"lscp", "mclp", "pmedian", "pcenter"}
        What a gain measures.
    radius : float
        Coverage radius (coverage models).

    Returns
    -------
    order : list of int
        The chosen columns, best first.
    gains : list of float
        Each one's marginal gain; NaN for the first site of ``pmedian``/``pcenter`` when nothing
        was open before (there is no distance to reduce).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}")
    d = nearest(cost, existing)
    left = [int(c) for c in chosen]
    order: list[int] = []
    gains: list[float] = []
    while left:
        trial = np.minimum(d[:, None], cost[:, left])
        primary, tie, gain = _scores(model, d, trial, weights, radius)
        best = int(np.lexsort((np.arange(len(left)), -tie, -primary))[0])
        order.append(left[best])
        gains.append(float(gain[best]))
        d = trial[:, best]
        del left[best]
    return order, gains
