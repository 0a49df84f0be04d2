"""Facility siting from the store: demand and candidate sites as geodata, solved by ``optimizer``.

:class:`SitingProblem` turns layers into the numeric problem (in the spirit of spopt's
``from_geodataframe`` constructors): demand points with weights, candidate sites (the ``sites``
of a station kind, plus the open ``stations`` of that kind, which stay open), and the demand x
candidate cost matrix from :func:`gridmap.travel.travel_matrix`. :mod:`gridmap.siting_solve`
hands it to :mod:`optimizer.siting`, ranks the new sites and writes the ranks to the store.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.catalog import station_kinds
from gridmap.errors import GridMapError, NotFoundError
from gridmap.model import CRS
from gridmap.spatial import metric_crs
from gridmap.stores.base import Store
from gridmap.travel import DEFAULT_DETOUR, WALKING_KMH, travel_matrix

__all__ = ["DEMAND_SOURCES", "SitingProblem", "candidate_sites", "demand_points"]

DEMAND_SOURCES = ("population", "courier", "residential", "incidents")


def _points(
    ids: pd.Series, names: pd.Series, weights: np.ndarray | pd.Series, geoms: np.ndarray
) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ids.astype(str).to_numpy(),
            "name": names.astype(object).to_numpy(),
            "weight": np.asarray(weights, dtype=float),
        },
        geometry=gpd.GeoSeries(geoms, crs=CRS).values,
        crs=CRS,
        index=pd.RangeIndex(len(ids)),
    )


def demand_points(store: Store, source: str = "population") -> gpd.GeoDataFrame:
    """Return weighted demand points (``id``, ``name``, ``weight``, point geometry).

    ``population``: each grid's population at its representative point (computed in the local
    UTM zone; always inside the grid); ``courier``/``residential``: the ``demand`` points of that
    kind with their weights; ``incidents``: every incident, weight 1. Points without weight are
    left out, and points at the same place are merged (weights added, first id and name kept).

    Raises
    ------
    GridMapError
        On an unknown source or when the source holds no weighted point.
    """
    if source == "population":
        grids = store.read("grids")
        inner = grids.geometry
        if len(grids):
            inner = grids.geometry.to_crs(metric_crs(grids)).representative_point().to_crs(CRS)
        frame = _points(grids["code"], grids["name"], grids["population"], inner.values)
    elif source in ("courier", "residential"):
        rows = store.read("demand", where={"kind": source})
        frame = _points(rows["id"], rows["name"], rows["weight"], rows.geometry.values)
    elif source == "incidents":
        rows = store.read("incidents")
        frame = _points(rows["id"], rows["category"], np.ones(len(rows)), rows.geometry.values)
    else:
        raise GridMapError(f"unknown demand {source!r}; choose one of {', '.join(DEMAND_SOURCES)}")
    frame = frame[(frame["weight"] > 0).to_numpy() & frame.geometry.notna().to_numpy()]
    if frame.empty:
        raise GridMapError(f"the store holds no {source} demand with a positive weight")
    place = pd.Series(list(zip(frame.geometry.x.round(7), frame.geometry.y.round(7), strict=True)))
    groups = frame.reset_index(drop=True).groupby(place.to_numpy(), sort=False)
    merged = groups.agg({"id": "first", "name": "first", "weight": "sum", "geometry": "first"})
    return gpd.GeoDataFrame(merged.reset_index(drop=True), geometry="geometry", crs=CRS)


def candidate_sites(store: Store, kind: str) -> gpd.GeoDataFrame:
    """Return the candidate ``sites`` of ``kind``, then its open ``stations`` (``existing``).

    Raises
    ------
    GridMapError
        On an unknown kind, or when the store has no candidate site of that kind.
    """
    if kind not in station_kinds():
        raise GridMapError(f"unknown station kind {kind!r}; kinds: {', '.join(station_kinds())}")
    sites = store.read("sites", where={"kind": kind})
    if sites.empty:
        raise NotFoundError(f"the store has no candidate sites of kind {kind!r} (layer sites)")
    stations = store.read("stations", where={"kind": kind, "status": "open"})
    parts = [
        pd.DataFrame({"id": sites["id"], "name": sites["name"], "existing": False}),
        pd.DataFrame({"id": stations["id"], "name": stations["name"], "existing": True}),
    ]
    geoms = np.concatenate([sites.geometry.values, stations.geometry.values])
    frame = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=CRS).values, crs=CRS)


@dataclass(frozen=True, eq=False)
class SitingProblem:
    """A siting problem: weighted demand, candidates and the costs between them.

    Attributes
    ----------
    kind : str
        Station kind the sites are for.
    demand_source : str
        Where the demand comes from (see :func:`demand_points`).
    demand : GeoDataFrame
        ``id``, ``name``, ``weight`` and a point per demand location.
    candidates : GeoDataFrame
        ``id``, ``name``, ``existing`` (an open station: stays open) and a point per candidate.
    cost : numpy.ndarray
        ``(len(demand), len(candidates))`` travel metres or seconds.
    unit : str
        ``"m"`` or ``"s"``.
    method : str
        ``"straight"`` or ``"network"``; ``detour`` and ``speed_kmh`` as given to the matrix.
    """

    kind: str
    demand_source: str
    demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    cost: np.ndarray
    unit: str = "m"
    method: str = "straight"
    detour: float = DEFAULT_DETOUR
    speed_kmh: float = WALKING_KMH

    @classmethod
    def from_geodataframes(
        cls,
        demand: gpd.GeoDataFrame,
        candidates: gpd.GeoDataFrame,
        *,
        kind: str,
        weight_column: str = "weight",
        existing_column: str | None = "existing",
        demand_source: str = "custom",
        store: Store | None = None,
        method: str = "straight",
        unit: str = "m",
        detour: float = DEFAULT_DETOUR,
        speed_kmh: float = WALKING_KMH,
    ) -> SitingProblem:
        """Build the problem from demand points and candidate sites of any origin.

        Parameters
        ----------
        demand, candidates : GeoDataFrame
            Points with a CRS (other geometries count by their centroid); ``id`` and ``name``
            columns are used when present.
        kind : str
            Station kind the sites are for.
        weight_column : str, default "weight"
            Demand column holding the weights.
        existing_column : str or None, default "existing"
            Candidate column flagging open stations (kept open); None: no station is open.
        demand_source : str
            Label of the demand in summaries.
        store : Store, optional
            Needed for ``method="network"`` (its ``roads``).
        method, unit, detour, speed_kmh
            As :func:`gridmap.travel.travel_matrix`; costs are rounded to whole metres or
            seconds (fewer distinct values make the radius formulations smaller).
        """

        def labelled(frame: gpd.GeoDataFrame, extra: dict[str, object]) -> gpd.GeoDataFrame:
            ids = frame["id"] if "id" in frame else pd.Series(range(len(frame)), index=frame.index)
            names = frame["name"] if "name" in frame else pd.Series(None, index=frame.index)
            columns = {"id": ids.astype(str).to_numpy(), "name": names.to_numpy(), **extra}
            return gpd.GeoDataFrame(columns, geometry=frame.geometry.to_crs(CRS).values, crs=CRS)

        points = labelled(demand, {"weight": demand[weight_column].to_numpy(dtype=float)})
        flags = (
            np.zeros(len(candidates), bool)
            if existing_column is None
            else candidates[existing_column].fillna(False).to_numpy(dtype=bool)
        )
        sites = labelled(candidates, {"existing": flags})
        cost = travel_matrix(
            store,
            points.geometry,
            sites.geometry,
            method=method,
            unit=unit,
            detour=detour,
            speed_kmh=speed_kmh,
        )
        return cls(
            kind, demand_source, points, sites, np.round(cost), unit, method, detour, speed_kmh
        )

    @classmethod
    def from_store(
        cls,
        store: Store,
        *,
        kind: str,
        demand: str = "population",
        method: str = "straight",
        unit: str = "m",
        detour: float = DEFAULT_DETOUR,
        speed_kmh: float = WALKING_KMH,
    ) -> SitingProblem:
        """Build the problem from the store's layers.

        Demand from :func:`demand_points` (``demand`` names the source), candidates from
        :func:`candidate_sites`; the other parameters as :meth:`from_geodataframes`.
        """
        return cls.from_geodataframes(
            demand_points(store, demand),
            candidate_sites(store, kind),
            kind=kind,
            demand_source=demand,
            store=store,
            method=method,
            unit=unit,
            detour=detour,
            speed_kmh=speed_kmh,
        )

    @property
    def weights(self) -> np.ndarray:
        """Return the demand weights."""
        return self.demand["weight"].to_numpy(dtype=float)

    @property
    def existing(self) -> tuple[int, ...]:
        """Return the candidate columns of the open stations."""
        return tuple(int(i) for i in np.flatnonzero(self.candidates["existing"].to_numpy()))

    def describe_costs(self) -> str:
        """Return how costs were measured, e.g. ``straight line x1.3, metres``."""
        how = f"straight line x{self.detour:g}" if self.method == "straight" else "road network"
        unit = "metres" if self.unit == "m" else f"seconds at {self.speed_kmh:g} km/h"
        return f"{how}, {unit}"
