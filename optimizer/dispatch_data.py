"""Input and result types of :mod:`optimizer.dispatch`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer._checks import (
    bool_matrix,
    float_vector,
    frozen,
    in_range,
    int_vector,
    non_negative,
)
from optimizer.errors import SpecificationError

__all__ = ["COST_SCALE", "REASONS", "DispatchResult", "Incidents", "Workers", "unassigned_penalty"]

#: Integer cost units per travel second handed to the solvers.
COST_SCALE = 100
#: Reason codes for unassigned incidents, in the order the filters are applied.
REASONS = (
    "no_qualified_worker",  # no worker has the required skill
    "no_worker_in_range",  # qualified workers exist, none within range / among the candidates
    "outside_shift",  # in range, but the trip does not fit any remaining shift
    "all_at_capacity",  # every usable worker is at its case limit (before or after dispatch)
    "over_travel_budget",  # CP-SAT only: the worker's travel budget is used up
    "penalty_cheaper",  # leaving it unassigned costs less than the cheapest worker
)


@dataclass(frozen=True, eq=False)
class Incidents:
    """Open incidents to dispatch (``n`` of them; arrays are validated and frozen).

    Attributes
    ----------
    skill : numpy.ndarray
        ``(n,)`` required skill index (column of ``Workers.skills``), ``-1`` = none.
    priority : numpy.ndarray
        ``(n,)`` priority, 1 (urgent) to 3 (normal).
    hours_to_deadline : numpy.ndarray
        ``(n,)`` hours left until the deadline; negative = overdue.
    grid : numpy.ndarray
        ``(n,)`` grid index of the incident, ``-1`` = unknown (outside every worker's grids).
    handling_seconds : numpy.ndarray
        ``(n,)`` expected on-site time, default 0; counts against the shift.
    """

    skill: np.ndarray
    priority: np.ndarray
    hours_to_deadline: np.ndarray
    grid: np.ndarray
    handling_seconds: np.ndarray | None = None

    def __post_init__(self) -> None:
        skill = int_vector(self.skill, None, "skill")
        n = skill.shape[0]
        priority = int_vector(self.priority, n, "priority")
        in_range(priority, 1, 4, "priority")
        grid = int_vector(self.grid, n, "grid")
        in_range(grid, -1, 2**31, "grid")
        in_range(skill, -1, 2**31, "skill")
        hours = float_vector(self.hours_to_deadline, n, "hours_to_deadline")
        handling = np.zeros(n) if self.handling_seconds is None else self.handling_seconds
        handling = float_vector(handling, n, "handling_seconds")
        non_negative(handling, "handling_seconds")
        for name, value in (
            ("skill", skill),
            ("priority", priority),
            ("grid", grid),
            ("hours_to_deadline", hours),
            ("handling_seconds", handling),
        ):
            object.__setattr__(self, name, frozen(value, value.dtype))

    def __len__(self) -> int:
        return int(self.skill.shape[0])


@dataclass(frozen=True, eq=False)
class Workers:
    """Grid workers on duty (``m`` of them; arrays are validated and frozen).

    Attributes
    ----------
    skills : numpy.ndarray
        ``(m, S)`` boolean: worker ``w`` has skill ``s``.
    open_cases : numpy.ndarray
        ``(m,)`` cases the worker already holds.
    max_open_cases : numpy.ndarray
        ``(m,)`` case limit; remaining capacity is ``max(0, max - open)``.
    shift_hours : numpy.ndarray
        ``(m,)`` hours left in the shift (0 or less = off shift).
    grids : numpy.ndarray
        ``(m, G)`` boolean: the grids the worker looks after. A list of index
        lists per worker is accepted too.
    travel_budget : numpy.ndarray or None
        ``(m,)`` seconds of travel the worker may still spend over all new
        cases; given, it switches the solver to CP-SAT.
    """

    skills: np.ndarray
    open_cases: np.ndarray
    max_open_cases: np.ndarray
    shift_hours: np.ndarray
    grids: object
    travel_budget: np.ndarray | None = None

    def __post_init__(self) -> None:
        skills = bool_matrix(self.skills, None, "skills")
        m = skills.shape[0]
        open_cases = int_vector(self.open_cases, m, "open_cases")
        max_open = int_vector(self.max_open_cases, m, "max_open_cases")
        non_negative(open_cases, "open_cases")
        non_negative(max_open, "max_open_cases")
        shift = float_vector(self.shift_hours, m, "shift_hours")
        grids = _grid_matrix(self.grids, m)
        values = {
            "skills": skills,
            "open_cases": open_cases,
            "max_open_cases": max_open,
            "shift_hours": shift,
            "grids": grids,
        }
        if self.travel_budget is not None:
            budget = float_vector(self.travel_budget, m, "travel_budget")
            non_negative(budget, "travel_budget")
            values["travel_budget"] = budget
        for name, value in values.items():
            object.__setattr__(self, name, frozen(value, value.dtype))

    def __len__(self) -> int:
        return int(self.skills.shape[0])

    @property
    def remaining(self) -> np.ndarray:
        """Cases each worker can still take."""
        return np.maximum(self.max_open_cases - self.open_cases, 0)


def _grid_matrix(grids: object, m: int) -> np.ndarray:
    if isinstance(grids, np.ndarray) and grids.ndim == 2:
        return bool_matrix(grids, m, "grids")
    lists = list(grids)  # type: ignore[call-overload]
    if len(lists) != m:
        raise SpecificationError(f"grids must list the grids of each of the {m} workers")
    if lists and all(np.ndim(row) == 1 and np.asarray(row).dtype == bool for row in lists):
        return bool_matrix(np.array(lists), m, "grids")
    indices = [int_vector(list(row), None, f"grids[{w}]") for w, row in enumerate(lists)]
    size = max((int(row.max()) + 1 for row in indices if row.size), default=0)
    matrix = np.zeros((m, size), dtype=bool)
    for w, row in enumerate(indices):
        in_range(row, 0, 2**31, f"grids[{w}]")
        matrix[w, row] = True
    return matrix


def unassigned_penalty(
    priority: object,
    hours_to_deadline: object,
    *,
    base: tuple[float, float, float] = (14400.0, 7200.0, 3600.0),
    due_soon_hours: float = 2.0,
    due_soon_factor: float = 2.0,
    overdue_factor: float = 4.0,
) -> np.ndarray:
    """Cost of leaving each incident unassigned, in travel-second equivalents.

    ``base[priority - 1]`` (by default 4 h of travel for urgent, 2 h for
    priority 2, 1 h for normal cases), times ``due_soon_factor`` when the
    deadline is at most ``due_soon_hours`` away, or ``overdue_factor`` when it
    has passed. A worker whose trip costs more than this is not sent.

    Parameters
    ----------
    priority : array_like
        ``(n,)`` priorities 1..3.
    hours_to_deadline : array_like
        ``(n,)`` hours left (negative = overdue).
    base, due_soon_hours, due_soon_factor, overdue_factor
        The penalty schedule described above.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 penalties.
    """
    prio = int_vector(priority, None, "priority")
    in_range(prio, 1, 4, "priority")
    hours = float_vector(hours_to_deadline, prio.shape[0], "hours_to_deadline")
    penalty = np.asarray(base, dtype=np.float64)[prio - 1]
    factor = np.where(
        hours < 0, overdue_factor, np.where(hours <= due_soon_hours, due_soon_factor, 1)
    )
    return penalty * factor


@dataclass(frozen=True, eq=False)
class DispatchResult:
    """Dispatch plan with the cost parts that explain each choice.

    Attributes
    ----------
    worker : numpy.ndarray
        ``(n,)`` int64 worker index per incident, ``-1`` if unassigned.
    reason : tuple of str
        Per incident ``""`` if assigned, else a code from :data:`REASONS`.
    travel_seconds : numpy.ndarray
        ``(n,)`` travel time to the assigned worker (NaN if unassigned).
    travel_cost : numpy.ndarray
        ``(n,)`` ``travel_weight * travel_seconds`` (0 if unassigned).
    outside_grid : numpy.ndarray
        ``(n,)`` bool: the assigned worker does not look after the incident's grid.
    outside_grid_cost : numpy.ndarray
        ``(n,)`` the outside-grid penalty paid (0 if inside or unassigned).
    unassigned_cost : numpy.ndarray
        ``(n,)`` the penalty paid for leaving the incident unassigned (else 0).
    penalty : numpy.ndarray
        ``(n,)`` the unassigned penalty of every incident (what an assignment
        had to beat).
    new_cases : numpy.ndarray
        ``(m,)`` cases given to each worker.
    objective, bound, gap : float
        Total cost (travel + outside-grid + unassigned penalties), proven
        lower bound, relative gap.
    optimal : bool
        Optimality proven.
    status : str
        ``"OPTIMAL"`` or ``"FEASIBLE"``.
    seconds : float
        Wall-clock time of the call.
    method : str
        ``"min_cost_flow"`` or ``"cp_sat"``.
    n_arcs : int
        Feasible incident-worker pairs in the model.
    """

    worker: np.ndarray
    reason: tuple[str, ...]
    travel_seconds: np.ndarray
    travel_cost: np.ndarray
    outside_grid: np.ndarray
    outside_grid_cost: np.ndarray
    unassigned_cost: np.ndarray
    penalty: np.ndarray
    new_cases: np.ndarray
    objective: float
    bound: float
    gap: float
    optimal: bool
    status: str
    seconds: float
    method: str
    n_arcs: int

    def __post_init__(self) -> None:
        for name in ("worker", "new_cases"):
            object.__setattr__(self, name, frozen(getattr(self, name), np.int64))
        object.__setattr__(self, "outside_grid", frozen(self.outside_grid, bool))
        for name in (
            "travel_seconds",
            "travel_cost",
            "outside_grid_cost",
            "unassigned_cost",
            "penalty",
        ):
            object.__setattr__(self, name, frozen(getattr(self, name), np.float64))

    @property
    def cost(self) -> np.ndarray:
        """Per-incident cost: travel + outside-grid penalty, or the unassigned penalty."""
        return self.travel_cost + self.outside_grid_cost + self.unassigned_cost

    @property
    def n_assigned(self) -> int:
        """Number of incidents given to a worker."""
        return int((self.worker >= 0).sum())

    def reason_counts(self) -> dict[str, int]:
        """Count unassigned incidents per reason code."""
        codes, counts = np.unique([r for r in self.reason if r], return_counts=True)
        return {str(c): int(k) for c, k in zip(codes, counts, strict=True)}
