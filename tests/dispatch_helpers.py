"""Stores for the dispatch, staffing and patrol tests: the real demo and small hand-made ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from gridmap.demo import build_demo
from gridmap.stores import open_store
from tests.conftest import square_grids

#: A Tuesday morning, a working day (the hand-made incidents are reported from 09:00).
TUESDAY = "2025-03-04T09:00"
GRID = [f"110101001001{i:02d}" for i in range(1, 10)]  # square_grids(3), north-west first


def demo_copy(tmp_path_factory, name: str = "demo") -> Path:
    """Build the demo once per test module; return its path."""
    path = tmp_path_factory.mktemp(name) / "demo.gpkg"
    store = open_store(path)
    build_demo(store)
    store.close()
    return path


def copy_of(path: Path, tmp_path: Path) -> Path:
    """Return a private copy of a store file."""
    target = tmp_path / path.name
    shutil.copy(path, target)
    return target


def centre(g: int) -> tuple[float, float]:
    """Return the lon/lat centre of grid ``g`` (0-based) of ``square_grids(3)``."""
    r, c = divmod(g, 3)
    return 116.38 + 0.01 * c + 0.005, 39.90 - 0.01 * r - 0.005


def worker(
    wid: str,
    grids: list[int],
    skills: list[str],
    *,
    at: tuple[float, float] | None = None,
    max_open: int = 10,
    shift: tuple[str, str] = ("09:00", "18:00"),
) -> dict:
    """Return a workers row (location: the centre of its first grid unless ``at``)."""
    return {
        "id": wid,
        "name": wid,
        "grid_codes": [GRID[g] for g in grids],
        "skills": skills,
        "max_open": max_open,
        "shift_start": shift[0],
        "shift_end": shift[1],
        "geometry": Point(at or centre(grids[0])),
    }


def incident(
    iid: str,
    category: str,
    *,
    grid: int = 0,
    at: tuple[float, float] | None = None,
    status: str = "registered",
    worker_id: str | None = None,
    priority: int = 3,
    reported: str = TUESDAY,
) -> dict:
    """Return an incidents row in grid ``grid`` (its centre unless ``at``)."""
    return {
        "id": iid,
        "category": category,
        "priority": priority,
        "source": "patrol",
        "reported_at": pd.Timestamp(reported, tz="Asia/Shanghai"),
        "status": status,
        "worker_id": worker_id,
        "geometry": Point(at or centre(grid)),
    }


def small_store(path: Path, workers: list[dict], incidents: list[dict]):
    """Return an open store with the 3 x 3 square grids, these workers and incidents."""
    store = open_store(path)
    store.insert("grids", square_grids(3))
    if workers:
        store.insert("workers", gpd.GeoDataFrame(workers, crs="EPSG:4326"))
    if incidents:
        store.insert("incidents", gpd.GeoDataFrame(incidents, crs="EPSG:4326"))
    return store
