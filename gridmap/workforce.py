"""Simulated grid workers: patches of neighbouring grids, skills and shifts.

The grids are cut into patches of near-equal size by recursive bisection of their centres; each
patch gets one worker per configured skill set, living in one of its grids and working one of the
configured shifts (by patch, in turn). A case goes to the worker of its grid's patch whose skill
set holds the category's skill (the first skill set when none does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.catalog import skills
from gridmap.city import City, points_in
from gridmap.gridcodes import numbered_codes
from gridmap.model import CRS

__all__ = ["Workers", "simulate_workers"]


@dataclass(frozen=True)
class Workers:
    """The workers layer and who handles which grid and skill."""

    frame: gpd.GeoDataFrame  # the workers layer
    ids: np.ndarray  # object array of worker ids
    table: np.ndarray  # (patches, workers per patch) worker index
    patch: np.ndarray  # patch of each grid
    slot: dict[str, int]  # skill -> slot (column of table) of the worker handling it


def simulate_workers(
    rng: np.random.Generator, city: City, cfg: Mapping[str, Any], patches: int
) -> Workers:
    """Return the workers of ``patches`` patches; ``cfg`` is the ``[workers]`` settings table."""
    centres = shapely.get_coordinates(shapely.centroid(city.polygons))
    patch = _patches(centres, patches)
    patches = int(patch.max()) + 1 if len(patch) else 0
    skill_sets = [list(s) for s in cfg["skill_sets"]]
    per = len(skill_sets)
    n = patches * per
    ids = numbered_codes("W", n, width=3)
    table = np.arange(n).reshape(patches, per)
    slot = {s: next((j for j, group in enumerate(skill_sets) if s in group), 0) for s in skills()}
    members = pd.Series(np.arange(len(patch))).groupby(patch).agg(list)
    grid_codes, home = [], np.empty(n, dtype=np.intp)
    for p in range(patches):
        grids = np.array(members[p])
        for j in range(per):
            grid_codes.append(city.codes[grids].tolist())
            home[p * per + j] = grids[rng.integers(len(grids))]
    x, y = points_in(rng, city.polygons, home)
    shifts = cfg["shifts"]
    frame = gpd.GeoDataFrame(
        {
            "id": ids,
            "name": [f"网格员 {i}" for i in ids],
            "grid_codes": grid_codes,
            "skills": [skill_sets[i % per] for i in range(n)],
            "max_open": int(cfg["max_open"]),
            "shift_start": [shifts[(i // per) % len(shifts)][0] for i in range(n)],
            "shift_end": [shifts[(i // per) % len(shifts)][1] for i in range(n)],
        },
        geometry=gpd.GeoSeries(shapely.points(x, y), crs=city.crs).to_crs(CRS).values,
        crs=CRS,
    )
    return Workers(frame, ids, table, patch, slot)


def _patches(xy: np.ndarray, count: int) -> np.ndarray:
    """Cut points into ``count`` contiguous groups of near-equal size (recursive bisection)."""
    labels = np.zeros(len(xy), dtype=np.intp)
    count = max(1, min(count, len(xy)))
    stack = [(np.arange(len(xy)), count, 0)]
    while stack:
        idx, k, first = stack.pop()
        if k == 1:
            labels[idx] = first
            continue
        pts = xy[idx]
        axis = int(np.ptp(pts[:, 0]) < np.ptp(pts[:, 1]))
        order = idx[np.lexsort((pts[:, 1 - axis], pts[:, axis]))]
        left = k // 2
        cut = round(len(idx) * left / k)
        stack.append((order[:cut], left, first))
        stack.append((order[cut:], k - left, first + left))
    return labels
