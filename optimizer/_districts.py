"""Construction and local search for :mod:`optimizer.staffing` (the CP-SAT start).

Both keep the model's rules: a grid ``g`` belongs to the district of centre
``h`` only if ``(g, h)`` is a candidate pair and, unless ``g == h``, ``g`` touches
a member of that district that is closer to ``h`` (path length). A solution
built here is therefore a complete feasible hint.
"""

from __future__ import annotations

import numpy as np


def grow(load, path, neighbours, allowed, m):
    """Balanced region growing under the model's own rules, as the search's start.

    Seeds are spread by farthest-point selection on path lengths (one in every
    connected group first); then the lightest district takes its nearest free
    grid ``g`` that is a candidate for its centre and touches a member closer
    to the centre (the contiguity row). Returns the centre of each grid, -1
    for grids no district could take (the hint then leaves them open).
    """
    n = load.size
    reach = np.isfinite(path)
    seeds = [int(np.argmax(load))]
    while len(seeds) < m:
        unreached = ~reach[seeds].any(axis=0)
        if unreached.any():
            seeds.append(int(np.flatnonzero(unreached)[0]))
            continue
        gap = path[seeds].min(axis=0)
        gap[seeds] = -1
        seeds.append(int(np.argmax(gap)))
    centre = np.full(n, -1, dtype=np.int64)
    centre[seeds] = seeds
    totals = {h: float(load[h]) for h in seeds}
    members = {h: [h] for h in seeds}
    active = set(seeds)
    while active:
        h = min(active, key=lambda c: (totals[c], c))
        frontier = {
            j
            for g in members[h]
            for j in neighbours[g]
            if centre[j] < 0 and (j, h) in allowed and path[g, h] < path[j, h]
        }
        if not frontier:
            active.discard(h)
            continue
        g = min(frontier, key=lambda j: (path[h, j], j))
        centre[g] = h
        members[h].append(g)
        totals[h] += float(load[g])
    return centre


def _closer_member(g, h, centre, path, neighbours, skip=-1):
    return any(centre[j] == h and j != skip and path[j, h] < path[g, h] for j in neighbours[g])


def _can_leave(g, centre, path, neighbours):
    """Grid ``g`` may leave its district if no member relies on it as its closer neighbour."""
    a = centre[g]
    if g == a:
        return False
    for j in neighbours[g]:
        relies = centre[j] == a and j != a and path[g, a] < path[j, a]
        if relies and not _closer_member(j, a, centre, path, neighbours, skip=g):
            return False
    return True


def improve(centre, load, cost, path, neighbours, allowed, *, weight, max_rounds=200):
    """Move boundary grids between neighbouring districts while the objective falls.

    Objective as in the model, ``weight * (max - min load) + sum cost[g, centre]``,
    with the sum of squared loads as tie-breaker; first-improvement in grid
    order, deterministic.

    Parameters
    ----------
    centre : numpy.ndarray
        ``(G,)`` centre grid of every grid (a feasible start).
    load : numpy.ndarray
        ``(G,)`` integer grid workloads.
    cost : numpy.ndarray
        ``(G, G)`` integer compactness cost of grid ``g`` in the district of ``h``.
    path : numpy.ndarray
        ``(G, G)`` path lengths through adjacent grids.
    neighbours : list of list of int
        Adjacent grids of every grid.
    allowed : container of tuple
        Candidate ``(g, h)`` pairs.
    weight : int
        Weight of the load spread.
    max_rounds : int, optional
        Passes over all grids at most.

    Returns
    -------
    numpy.ndarray
        The improved centre of every grid.
    """
    centre = centre.copy()
    totals = {int(h): int(load[centre == h].sum()) for h in np.unique(centre)}

    def key(t):
        values = list(t.values())
        spread = max(values) - min(values)
        return weight * spread, sum(v * v for v in values)

    current = key(totals)
    for _ in range(max_rounds):
        moved = False
        for g in range(centre.size):
            a = int(centre[g])
            if not _can_leave(g, centre, path, neighbours):
                continue
            targets = sorted({int(centre[j]) for j in neighbours[g]} - {a})
            for b in targets:
                if (g, b) not in allowed or not _closer_member(g, b, centre, path, neighbours):
                    continue
                trial = dict(totals)
                trial[a] -= int(load[g])
                trial[b] += int(load[g])
                spread, squares = key(trial)
                delta = int(cost[g, b]) - int(cost[g, a])
                if (spread + delta, squares) < (current[0], current[1]):
                    centre[g] = b
                    totals = trial
                    current = (spread, squares)
                    moved = True
                    break
        if not moved:
            break
    return centre
