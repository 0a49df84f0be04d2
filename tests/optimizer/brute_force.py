"""Reference optima by exhaustive enumeration (tiny instances only)."""

from __future__ import annotations

import itertools
import math

import numpy as np


def site_sets(m: int, p: int, existing=()):
    """All sets of p open columns that contain every existing column."""
    existing = tuple(sorted(existing))
    others = [i for i in range(m) if i not in existing]
    for extra in itertools.combinations(others, p - len(existing)):
        yield tuple(sorted(existing + extra))


def p_median(cost, p, weights=None, existing=()):
    w = np.ones(cost.shape[0]) if weights is None else np.asarray(weights, float)
    return min(
        float(w @ cost[:, list(s)].min(axis=1)) for s in site_sets(cost.shape[1], p, existing)
    )


def capacitated_p_median(cost, p, weights, capacity, existing=(), fill_existing=False):
    """Single sourcing: every demand point served whole by one open site."""
    n, m = cost.shape
    best = math.inf
    for sites in site_sets(m, p, existing):
        for choice in itertools.product(sites, repeat=n):
            load = dict.fromkeys(sites, 0.0)
            for j, i in enumerate(choice):
                load[i] += weights[j]
            if any(load[i] > capacity[i] + 1e-9 for i in sites):
                continue
            if fill_existing and any(abs(load[i] - capacity[i]) > 1e-9 for i in existing):
                continue
            best = min(best, sum(weights[j] * cost[j, i] for j, i in enumerate(choice)))
    return best


def mclp(cost, radius, p, weights=None, existing=()):
    w = np.ones(cost.shape[0]) if weights is None else np.asarray(weights, float)
    covers = cost <= radius
    return max(
        float(w[covers[:, list(s)].any(axis=1)].sum())
        for s in site_sets(cost.shape[1], p, existing)
    )


def capacitated_mclp(cost, radius, p, weights, capacity, existing=()):
    """Each demand point is served whole by one open site within reach, or not at all."""
    n, m = cost.shape
    best = -math.inf
    for sites in site_sets(m, p, existing):
        options = [[None] + [i for i in sites if cost[j, i] <= radius] for j in range(n)]
        for choice in itertools.product(*options):
            load = dict.fromkeys(sites, 0.0)
            for j, i in enumerate(choice):
                if i is not None:
                    load[i] += weights[j]
            if any(load[i] > capacity[i] + 1e-9 for i in sites):
                continue
            best = max(best, sum(weights[j] for j, i in enumerate(choice) if i is not None))
    return best


def lscp(cost, radius, existing=()):
    covers = cost <= radius
    m = cost.shape[1]
    for size in range(max(1, len(existing)), m + 1):
        for sites in site_sets(m, size, existing):
            if covers[:, list(sites)].any(axis=1).all():
                return size
    return None


def p_center(cost, p, existing=()):
    return min(
        float(cost[:, list(s)].min(axis=1).max()) for s in site_sets(cost.shape[1], p, existing)
    )
