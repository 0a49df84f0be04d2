"""Frozen result types returned by the siting models."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CoverageResult",
    "SitingResult",
    "nearest_assignment",
    "relative_gap",
    "uncapacitated_result",
]


def relative_gap(objective: float, bound: float) -> float:
    """Return ``|objective - bound| / max(|objective|, 1e-9)``, or 0 when both are 0.

    Parameters
    ----------
    objective : float
        Value of the best solution found.
    bound : float
        Best proven bound (lower bound when minimising, upper when maximising).

    Returns
    -------
    float
        The relative optimality gap (``inf`` if the bound is not finite).
    """
    if not math.isfinite(bound) or not math.isfinite(objective):
        return math.inf
    diff = abs(objective - bound)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / max(abs(objective), 1e-9)


def _frozen_array(values: np.ndarray) -> np.ndarray:
    array = np.array(values, dtype=np.int64, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class SitingResult:
    """Solution of a facility-siting model.

    Attributes
    ----------
    open_sites : tuple of int
        Sorted candidate column indices that are open, existing sites included.
    assignment : numpy.ndarray
        ``(n_demand,)`` read-only int64 array: the column serving each demand
        point, or ``-1`` if the point is unserved/uncovered.
    objective : float
        Objective value of the returned solution (in the units of ``cost``
        times ``weights``; for LSCP the number of open sites).
    bound : float
        Best proven bound on the optimum (lower bound for minimisation, upper
        bound for maximisation).
    gap : float
        Relative gap between ``objective`` and ``bound`` (0 when proven).
    optimal : bool
        True when optimality of ``objective`` is proven.
    status : str
        ``"OPTIMAL"`` or ``"FEASIBLE"`` (time limit reached with a solution).
    seconds : float
        Wall-clock seconds spent (validation, heuristics and solver).
    existing : tuple of int
        The existing (pre-opened) sites, a subset of ``open_sites``.
    method : str
        Short description of how the result was obtained.
    """

    open_sites: tuple[int, ...]
    assignment: np.ndarray
    objective: float
    bound: float
    gap: float
    optimal: bool
    status: str
    seconds: float
    existing: tuple[int, ...] = ()
    method: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "open_sites", tuple(sorted(int(i) for i in self.open_sites)))
        object.__setattr__(self, "existing", tuple(sorted(int(i) for i in self.existing)))
        object.__setattr__(self, "assignment", _frozen_array(self.assignment))

    @property
    def new_sites(self) -> tuple[int, ...]:
        """Open sites that are not existing ones (the sites chosen by the model)."""
        existing = set(self.existing)
        return tuple(i for i in self.open_sites if i not in existing)


@dataclass(frozen=True, eq=False)
class CoverageResult(SitingResult):
    """Solution of a coverage model (MCLP).

    Attributes
    ----------
    covered_weight : float
        Total weight of the covered (and, if capacitated, served) demand points.
    total_weight : float
        Total weight of all demand points.
    n_uncovered : int
        Number of demand points with ``assignment == -1``.
    """

    covered_weight: float = field(default=0.0)
    total_weight: float = field(default=0.0)
    n_uncovered: int = field(default=0)

    @property
    def covered_fraction(self) -> float:
        """Share of the total weight that is covered (0 when there is no weight)."""
        return self.covered_weight / self.total_weight if self.total_weight > 0 else 0.0


def nearest_assignment(cost: np.ndarray, open_sites: np.ndarray) -> np.ndarray:
    """Return, for each demand row, the open column with the least cost."""
    open_sites = np.asarray(open_sites, dtype=np.intp)
    return open_sites[np.argmin(cost[:, open_sites], axis=1)]


def uncapacitated_result(
    cost: np.ndarray,
    open_sites: np.ndarray,
    objective: float,
    bound: float,
    existing: np.ndarray,
    t0: float,
    method: str,
) -> SitingResult:
    """Return the result of an uncapacitated model: every demand served by its nearest site.

    The bound is clipped to the objective; the gap decides optimality and status, and the
    seconds run from ``t0`` (a ``time.perf_counter()`` reading).
    """
    bound = min(bound, objective)
    gap = relative_gap(objective, bound)
    return SitingResult(
        open_sites=tuple(int(i) for i in open_sites),
        assignment=nearest_assignment(cost, open_sites),
        objective=float(objective),
        bound=float(bound),
        gap=gap,
        optimal=gap == 0.0,
        status="OPTIMAL" if gap == 0.0 else "FEASIBLE",
        seconds=time.perf_counter() - t0,
        existing=tuple(int(i) for i in existing),
        method=method,
    )
