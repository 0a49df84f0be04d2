"""Thin helpers around OR-Tools' MIP interface (``pywraplp`` with SCIP)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from optimizer.errors import NoSolutionError, SpecificationError

#: Solver used by every model of the package (bundled with OR-Tools).
MIP_BACKEND = "SCIP"
#: Default random seed of the MIP solver; fixed so that runs are repeatable.
DEFAULT_SEED = 0

_STATUS_NAMES = {
    pywraplp.Solver.OPTIMAL: "OPTIMAL",
    pywraplp.Solver.FEASIBLE: "FEASIBLE",
    pywraplp.Solver.INFEASIBLE: "INFEASIBLE",
    pywraplp.Solver.UNBOUNDED: "UNBOUNDED",
    pywraplp.Solver.ABNORMAL: "ABNORMAL",
    pywraplp.Solver.MODEL_INVALID: "MODEL_INVALID",
    pywraplp.Solver.NOT_SOLVED: "NOT_SOLVED",
}


@dataclass(frozen=True)
class MipOutcome:
    """What a MIP solve returned.

    Attributes
    ----------
    status : str
        ``"OPTIMAL"``, ``"FEASIBLE"`` or (only when allowed) ``"INFEASIBLE"``.
    objective : float
        Objective of the best solution.
    bound : float
        Best proven bound reported by the solver.
    seconds : float
        Solver wall time.
    """

    status: str
    objective: float
    bound: float
    seconds: float


def new_solver(name: str = "siting") -> pywraplp.Solver:
    """Create a SCIP solver through ``pywraplp``.

    Parameters
    ----------
    name : str, default "siting"
        Model name (only used in solver logs).

    Returns
    -------
    ortools.linear_solver.pywraplp.Solver
        A fresh solver.

    Raises
    ------
    RuntimeError
        If this OR-Tools build has no SCIP.
    """
    solver = pywraplp.Solver.CreateSolver(MIP_BACKEND)
    if solver is None:  # pragma: no cover - SCIP ships with the OR-Tools wheels
        raise RuntimeError(f"OR-Tools was built without {MIP_BACKEND}")
    return solver


def solve(
    solver: pywraplp.Solver,
    time_limit: float,
    *,
    seed: int = DEFAULT_SEED,
    hint: tuple[Sequence[pywraplp.Variable], Sequence[float]] | None = None,
    what: str = "model",
    allow_infeasible: bool = False,
) -> MipOutcome:
    """Solve with an explicit time limit, one thread and a fixed random seed.

    Parameters
    ----------
    solver : ortools.linear_solver.pywraplp.Solver
        A solver holding the model.
    time_limit : float
        Seconds (must be positive).
    seed : int, default 0
        SCIP's ``randomization/randomseedshift``.
    hint : tuple of (variables, values), optional
        A (possibly partial) starting solution.
    what : str, default "model"
        Model name used in error messages.
    allow_infeasible : bool, default False
        Return an ``"INFEASIBLE"`` outcome (objective and bound NaN) instead of
        raising.

    Returns
    -------
    MipOutcome
        Status, objective, bound and solver seconds.

    Raises
    ------
    SpecificationError
        If the solver proves the model infeasible (unless ``allow_infeasible``).
    NoSolutionError
        If the solver stops without any feasible solution (time limit or error).
    """
    solver.SetTimeLimit(max(1, math.ceil(time_limit * 1000)))
    solver.SetNumThreads(1)
    solver.SetSolverSpecificParametersAsString(f"randomization/randomseedshift = {int(seed)}\n")
    if hint is not None:
        solver.SetHint(list(hint[0]), [float(v) for v in hint[1]])
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)  # pywraplp's default is 1e-4
    code = solver.Solve(params)
    seconds = solver.wall_time() / 1000.0
    status = _STATUS_NAMES.get(code, str(code))
    if code == pywraplp.Solver.INFEASIBLE:
        if allow_infeasible:
            return MipOutcome(status=status, objective=math.nan, bound=math.nan, seconds=seconds)
        raise SpecificationError(f"{what}: the solver proved the model infeasible")
    if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise NoSolutionError(
            f"{what}: no feasible solution found within {time_limit:.3g} s "
            f"(solver status {status}, {seconds:.2f} s spent)"
        )
    objective = solver.Objective().Value()
    bound = solver.Objective().BestBound()
    if code == pywraplp.Solver.OPTIMAL:
        bound = objective
    return MipOutcome(status=status, objective=objective, bound=bound, seconds=seconds)
