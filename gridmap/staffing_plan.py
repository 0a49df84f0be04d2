"""Staffing plans: which worker looks after which grid, balancing workload (:mod:`optimizer.staffing`).

Workers with the same skill set form a *team* (in the demo every patch has one worker of each of
two skill sets, so every grid has one worker per team). Each team is balanced on its own, over
the grids its workers look after now (all grids when they look after none):

- workload of a grid, in expected cases per day: the team's case rate over the data period
  (incidents whose category needs a skill of the team; a skill several teams share is split
  between them) spread over the grids by ``(1 - a)`` x the grid's share of those incidents plus
  ``a`` x its share of the population (``population_weight``, default 0.2: residents bring work
  that was not reported yet);
- adjacency: grids sharing an edge (STRtree in the local metric CRS, shared boundary longer than
  1 m); groups of grids that touch no other group (islands, grids across a wide street) are
  linked to the nearest grid of another group (a minimum spanning tree over the groups), so that
  contiguity stays possible;
- centroid distances in the metric CRS; the current assignment from the workers' ``grid_codes``
  (a grid two team members list goes to the first; a grid none lists to the worker of the
  nearest listed grid).

:meth:`StaffingPlan.apply` writes every changed worker's new ``grid_codes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import cdist

from gridmap.catalog import categories
from gridmap.errors import GridMapError, NotFoundError
from gridmap.spatial import metric_crs
from gridmap.stores.base import Store
from optimizer.errors import NoSolutionError, SpecificationError
from optimizer.staffing import StaffingResult, balance_workload

__all__ = ["StaffingPlan", "TeamPlan", "grid_adjacency"]

#: Shortest shared boundary (metres) for two grids to count as neighbours.
MIN_SHARED_M = 1.0


def grid_adjacency(geoms: gpd.GeoSeries, distance: np.ndarray) -> tuple[np.ndarray, int]:
    """Return ``(E, 2)`` pairs of grids sharing an edge, plus links joining separate groups.

    Parameters
    ----------
    geoms : geopandas.GeoSeries
        Grid polygons in a metric CRS.
    distance : numpy.ndarray
        ``(G, G)`` centroid distances; groups of grids sharing no edge with each other are
        joined by a minimum spanning tree of their closest centroid pairs.

    Returns
    -------
    pairs : numpy.ndarray
        Index pairs ``i < j``: shared edges first, then the links between groups.
    links : int
        How many of the pairs are links between groups.
    """
    polys = geoms.to_numpy()
    n = len(polys)
    a, b = shapely.STRtree(polys).query(polys, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(shapely.intersection(polys[a], polys[b])) > MIN_SHARED_M
    pairs = np.column_stack([a[shared], b[shared]]).astype(np.int64)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    parts, label = connected_components(graph, directed=False)
    if parts <= 1:
        return pairs, 0
    order = np.argsort(label, kind="stable")
    starts = np.searchsorted(label[order], np.arange(parts))
    rows = np.minimum.reduceat(distance[order], starts, axis=0)
    gap = np.minimum.reduceat(rows[:, order], starts, axis=1)
    weights = gap + 1.0  # +1 m keeps groups at distance 0 as edges of the spanning tree
    np.fill_diagonal(weights, 0.0)
    tree = minimum_spanning_tree(weights).tocoo()
    links = []
    for c, o in zip(tree.row, tree.col, strict=True):
        mine, theirs = np.flatnonzero(label == c), np.flatnonzero(label == o)
        i, j = np.unravel_index(np.argmin(distance[np.ix_(mine, theirs)]), (mine.size, theirs.size))
        links.append(sorted((int(mine[i]), int(theirs[j]))))
    return np.vstack([pairs, np.array(links, dtype=np.int64)]), len(links)


@dataclass(frozen=True, eq=False)
class TeamPlan:
    """The staffing of one team (workers sharing a skill set).

    Attributes
    ----------
    skills : tuple of str
        The team's skill set.
    worker_ids : tuple of str
        Its workers, in store order (indices of ``result.assignment``).
    grid_codes : tuple of str
        The grids it looks after (indices of ``result.assignment``).
    workload : numpy.ndarray
        Expected cases per day of each grid for this team.
    current : numpy.ndarray
        Worker index per grid before.
    links : int
        Adjacency links added between groups of grids sharing no edge.
    result : optimizer.staffing.StaffingResult
        The optimizer's result.
    """

    skills: tuple[str, ...]
    worker_ids: tuple[str, ...]
    grid_codes: tuple[str, ...]
    workload: np.ndarray
    current: np.ndarray
    links: int
    result: StaffingResult

    def grids_of(self) -> dict[str, list[str]]:
        """Return the new grid codes of each worker of the team."""
        out: dict[str, list[str]] = {w: [] for w in self.worker_ids}
        for code, w in zip(self.grid_codes, self.result.assignment, strict=True):
            out[self.worker_ids[w]].append(code)
        return out

    def moves(self) -> list[tuple[str, str, str]]:
        """Return ``(grid, from worker, to worker)`` for every grid that changes hands."""
        ids = self.worker_ids
        return [
            (code, ids[a], ids[b])
            for code, a, b in zip(
                self.grid_codes, self.current, self.result.assignment, strict=True
            )
            if a != b
        ]


@dataclass(frozen=True, eq=False)
class StaffingPlan:
    """A new grid assignment for every team, with the workload spread before and after."""

    teams: tuple[TeamPlan, ...]
    period_days: float
    population_weight: float

    @classmethod
    def from_store(
        cls,
        store: Store,
        *,
        population_weight: float = 0.2,
        compactness_weight: float = 0.02,
        contiguity: bool = True,
        time_limit: float = 10.0,
        seed: int = 0,
    ) -> StaffingPlan:
        """Read the store and balance every team (nothing is written).

        Parameters
        ----------
        store : Store
            The store to read.
        population_weight : float, default 0.2
            Share of the workload spread by population rather than by past incidents.
        compactness_weight : float, default 0.02
            Passed to :func:`optimizer.staffing.balance_workload`.
        contiguity : bool, default True
            Require every worker's grids to be connected (through shared edges and the links).
        time_limit : float, default 10
            CP-SAT seconds in all, shared equally by the teams.
        seed : int, default 0
            CP-SAT seed.

        Raises
        ------
        NotFoundError
            If the store has no grids or no workers.
        GridMapError
            If a team has more workers than grids, no workload, or no solution in time.
        """
        if not 0 <= population_weight <= 1:
            raise GridMapError("population_weight must be between 0 and 1")
        grids = store.read("grids")
        staff = store.read("workers")
        if grids.empty:
            raise NotFoundError(f"{store.url} has no grids: import or generate grids first")
        if staff.empty:
            raise NotFoundError(f"{store.url} has no workers: import the workers layer first")
        incidents = store.read("incidents")
        days = _period_days(incidents)
        metric = grids.to_crs(metric_crs(grids)).geometry.reset_index(drop=True)
        centres = shapely.get_coordinates(metric.centroid.to_numpy())
        index = {c: i for i, c in enumerate(grids["code"])}
        teams = _teams(staff)
        holders: dict[str, int] = {}
        for skills in teams:
            for s in skills:
                holders[s] = holders.get(s, 0) + 1
        catalog = categories()
        needs = incidents["category"].map(lambda c: catalog[c].skill)
        located = incidents["grid_code"].map(index)
        population = grids["population"].fillna(0).to_numpy(dtype=float)
        plans = []
        for skills, members in teams.items():
            ids = tuple(str(staff["id"].iloc[i]) for i in members)
            listed = [
                [index[c] for c in staff["grid_codes"].iloc[i] if c in index] for i in members
            ]
            chosen = sorted({g for row in listed for g in row}) or list(range(len(grids)))
            mine = needs.map(lambda s, team=skills: 1.0 / holders[s] if s in team else 0.0)
            cases = np.bincount(
                located.dropna().astype(int), weights=mine[located.notna()], minlength=len(grids)
            )[chosen]
            load = _workload(cases, population[chosen], population_weight) * cases.sum() / days
            if not load.sum() > 0:
                load = _workload(np.zeros(len(chosen)), population[chosen], 1.0)
            current = _current(listed, chosen, centres)
            distance = cdist(centres[chosen], centres[chosen])
            pairs, links = grid_adjacency(metric.iloc[chosen], distance)
            label = "+".join(skills) or "no skills"
            try:
                result = balance_workload(
                    load,
                    distance,
                    pairs,
                    current,
                    n_workers=len(members),
                    compactness_weight=compactness_weight,
                    contiguity=contiguity,
                    time_limit=time_limit / len(teams),
                    seed=seed,
                )
            except SpecificationError as exc:
                raise GridMapError(f"staffing of the team {label}: {exc}") from None
            except NoSolutionError as exc:
                raise GridMapError(
                    f"staffing of the team {label}: {exc}; give it a longer time limit"
                ) from None
            codes = tuple(str(grids["code"].iloc[g]) for g in chosen)
            plans.append(TeamPlan(skills, ids, codes, load, current, links, result))
        return cls(tuple(plans), days, population_weight)

    def summary(self) -> dict[str, Any]:
        """Return the figures ``gridmap staff`` prints, per team (workload in cases per day)."""
        return {
            "period_days": self.period_days,
            "population_weight": self.population_weight,
            "teams": [
                {
                    "skills": list(t.skills),
                    "workers": len(t.worker_ids),
                    "grids": len(t.grid_codes),
                    "links": t.links,
                    "spread_before": t.result.spread_before,
                    "spread_after": t.result.spread,
                    "cv_before": t.result.cv_before,
                    "cv_after": t.result.cv,
                    "mean_workload": float(t.result.workload.mean()),
                    "moved_grids": t.result.changed_grids,
                    "contiguous": t.result.contiguous,
                    "status": t.result.status,
                    "gap": t.result.gap,
                    "seconds": t.result.seconds,
                }
                for t in self.teams
            ],
        }

    def apply(self, store: Store) -> int:
        """Write the new ``grid_codes`` of every worker whose grids change; return how many.

        Grids outside the team's set that a worker lists are kept.
        """
        written = 0
        for team in self.teams:
            ours = set(team.grid_codes)
            for worker, codes in team.grids_of().items():
                listed = list(store.get("workers", worker)["grid_codes"])
                if {c for c in listed if c in ours} == set(codes):
                    continue
                kept = [c for c in listed if c not in ours]
                store.update("workers", worker, {"grid_codes": sorted([*kept, *codes])})
                written += 1
        return written


def _teams(staff: pd.DataFrame) -> dict[tuple[str, ...], list[int]]:
    teams: dict[tuple[str, ...], list[int]] = {}
    for i, skills in enumerate(staff["skills"]):
        teams.setdefault(tuple(sorted(set(skills))), []).append(i)
    return teams


def _period_days(incidents: pd.DataFrame) -> float:
    if incidents.empty:
        return 1.0
    span = incidents["reported_at"].max() - incidents["reported_at"].min()
    return max(span.total_seconds() / 86400.0, 1.0)


def _workload(cases: np.ndarray, population: np.ndarray, weight: float) -> np.ndarray:
    """Return ``(1 - weight)`` x the share of cases plus ``weight`` x the share of population."""
    share = np.zeros(len(cases))
    parts = [(cases, 1.0 - weight), (population, weight)]
    usable = [(v, w) for v, w in parts if v.sum() > 0 and w > 0]
    total = sum(w for _, w in usable)
    for values, w in usable:
        share += (w / total) * values / values.sum()
    return share


def _current(listed: list[list[int]], chosen: list[int], centres: np.ndarray) -> np.ndarray:
    """Return each chosen grid's worker (team index) before; unlisted grids go to the nearest."""
    owner = np.full(len(chosen), -1, dtype=np.int64)
    where = {g: i for i, g in enumerate(chosen)}
    for w, row in enumerate(listed):
        for g in row:
            if owner[where[g]] < 0:
                owner[where[g]] = w
    known = np.flatnonzero(owner >= 0)
    if known.size == 0:
        return np.arange(len(chosen), dtype=np.int64) % max(len(listed), 1)
    missing = np.flatnonzero(owner < 0)
    if missing.size:
        dist = cdist(centres[np.asarray(chosen)[missing]], centres[np.asarray(chosen)[known]])
        owner[missing] = owner[known[dist.argmin(axis=1)]]
    return owner
