"""Solving a :class:`gridmap.siting.SitingProblem`: the optimizer, ranks, gains, the store.

:func:`solve_siting` hands the problem to :mod:`optimizer.siting` and ranks the new sites by
marginal gain (:func:`gridmap.siting_metrics.rank_sites`); :func:`write_suggestions` writes the
ranks to the ``sites`` layer. ``p`` here counts the **new** sites; the optimizer's ``p``
(existing stations included) is derived.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridmap.calendar import working_calendar
from gridmap.catalog import station_kinds
from gridmap.errors import GridMapError
from gridmap.siting import SitingProblem
from gridmap.siting_metrics import MODELS, Metrics, metrics, rank_sites
from gridmap.stores.base import Store

__all__ = ["MODELS", "SitingOutcome", "solve_siting", "write_suggestions"]


@dataclass(frozen=True, eq=False)
class SitingOutcome:
    """A solved siting problem with the new sites ranked.

    Attributes
    ----------
    problem : SitingProblem
        What was solved.
    model : str
        ``lscp``, ``mclp``, ``pmedian`` or ``pcenter``.
    p : int or None
        New sites asked for (None for LSCP, which chooses how many).
    radius : float
        Coverage radius, in the problem's unit.
    result : optimizer.results.SitingResult
        The optimizer's result (columns of ``problem.candidates``).
    order : tuple of int
        The new sites' columns, best first (rank 1 first).
    gains : tuple of float
        Each one's marginal gain (:func:`gridmap.siting_metrics.rank_sites`).
    before, after : Metrics
        Coverage and distances with the existing stations only, and with the new sites too.
    label : str
        What suggested the sites (written to ``suggested_by``).
    """

    problem: SitingProblem
    model: str
    p: int | None
    radius: float
    result: object
    order: tuple[int, ...]
    gains: tuple[float, ...]
    before: Metrics
    after: Metrics
    label: str

    @property
    def suggestions(self) -> pd.DataFrame:
        """Return the suggested sites: ``rank``, ``id``, ``name``, ``gain``."""
        rows = self.problem.candidates.iloc[list(self.order)]
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(self.order) + 1),
                "id": rows["id"].to_numpy(),
                "name": rows["name"].to_numpy(),
                "gain": np.asarray(self.gains, dtype=float),
            }
        )


def _optimize(problem: SitingProblem, model: str, total: int, radius: float, limit: float):
    from optimizer import siting
    from optimizer.errors import NoSolutionError, SpecificationError

    cost, existing = problem.cost, problem.existing
    try:
        if model == "lscp":
            return siting.lscp(cost, radius, existing=existing, time_limit=limit)
        if model == "mclp":
            return siting.mclp(
                cost, radius, total, weights=problem.weights, existing=existing, time_limit=limit
            )
        if model == "pmedian":
            return siting.p_median(
                cost, total, weights=problem.weights, existing=existing, time_limit=limit
            )
        return siting.p_center(cost, total, existing=existing, time_limit=limit)
    except (SpecificationError, NoSolutionError) as exc:
        raise GridMapError(f"{model}: {exc}") from None


def solve_siting(
    problem: SitingProblem,
    model: str,
    *,
    p: int | None = None,
    radius: float | None = None,
    time_limit: float = 60.0,
) -> SitingOutcome:
    """Solve ``model`` on ``problem`` and rank the new sites.

    Parameters
    ----------
    problem : SitingProblem
        Demand, candidates and costs.
    model : {"lscp", "mclp", "pmedian", "pcenter"}
        The siting model (:mod:`optimizer.siting`).
    p : int, optional
        Number of new sites (required except for LSCP, which must not get one).
    radius : float, optional
        Service radius in the problem's unit (default: the kind's radius in the catalog, in
        metres); the coverage radius of MCLP and LSCP, and the radius the summary's covered
        shares refer to for every model.
    time_limit : float, default 60.0
        Seconds for the solver.

    Raises
    ------
    GridMapError
        On a bad model, ``p`` or radius, or when the optimizer finds the specification
        infeasible (e.g. a demand point no candidate can cover in LSCP).
    """
    if model not in MODELS:
        raise GridMapError(f"unknown siting model {model!r}; models: {', '.join(MODELS)}")
    if radius is None:
        if problem.unit != "m":
            raise GridMapError("give the radius as a time (e.g. 10min) for travel times")
        radius = station_kinds()[problem.kind].radius_m
    if not radius > 0:
        raise GridMapError("the radius must be positive")
    free = len(problem.candidates) - len(problem.existing)
    if model == "lscp" and p is not None:
        raise GridMapError("lscp finds the fewest sites itself: leave out --p")
    if model != "lscp" and (p is None or p < 1):
        raise GridMapError(f"{model} needs --p, the number of new sites (1 or more)")
    if p is not None and p > free:
        raise GridMapError(
            f"p = {p} but the store has only {free} candidate {problem.kind} site(s)"
        )
    began = time.perf_counter()
    total = len(problem.existing) + (p or 0)
    result = _optimize(problem, model, total, float(radius), time_limit)
    new = [i for i in result.open_sites if i not in set(problem.existing)]
    order, gains = rank_sites(problem.cost, problem.weights, new, problem.existing, model, radius)
    now = pd.Timestamp.now(tz=working_calendar().timezone).isoformat(timespec="seconds")
    unit = "m" if problem.unit == "m" else "s"
    asked = "" if p is None else f" p={p}"
    label = (
        f"{model}{asked} radius={radius:g}{unit} demand={problem.demand_source} "
        f"costs={problem.describe_costs()} at {now} ({time.perf_counter() - began:.1f} s)"
    )
    w, existing = problem.weights, problem.existing
    return SitingOutcome(
        problem=problem,
        model=model,
        p=p,
        radius=float(radius),
        result=result,
        order=tuple(order),
        gains=tuple(gains),
        before=metrics(problem.cost, w, existing, radius),
        after=metrics(problem.cost, w, list(result.open_sites), radius),
        label=label,
    )


def write_suggestions(store: Store, outcome: SitingOutcome) -> int:
    """Write the ranks, gains and label on the suggested sites, clearing older suggestions.

    Every ``sites`` row of the kind loses its previous rank, gain and label in the same
    transaction (:meth:`gridmap.stores.base.Store.set_values` with ``reset``).

    Returns
    -------
    int
        How many sites were ranked.
    """
    rows = outcome.suggestions
    gains = [None if np.isnan(g) else float(g) for g in rows["gain"]]
    return store.set_values(
        "sites",
        rows["id"].tolist(),
        {
            "rank": rows["rank"].tolist(),
            "gain": gains,
            "suggested_by": [outcome.label] * len(rows),
        },
        reset={"kind": outcome.problem.kind},
    )
