"""The gridmap command, run as a user runs it (a subprocess) and in-process for speed."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box

from gridmap.cli import main, parse_size
from gridmap.errors import GridMapError
from gridmap.spatial import area_m2
from gridmap.stores import open_store
from tests.conftest import random_incidents, square_grids


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridmap.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_every_subcommand():
    out = run("--help")
    assert out.returncode == 0
    for command in ("init", "import", "export", "grids", "locate", "demo", "stats"):
        assert command in out.stdout
    assert run("grids", "generate", "--help").returncode == 0


def test_user_error_is_one_line_without_traceback(tmp_path):
    out = run("--store", str(tmp_path / "missing.gpkg"), "stats")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "no GridMap store" in out.stderr and "Traceback" not in out.stderr
    debug = run("--debug", "--store", str(tmp_path / "missing.gpkg"), "stats")
    assert "Traceback" in debug.stderr


def test_bad_store_url(tmp_path, capsys):
    assert main(["--store", str(tmp_path / "x.txt"), "init"]) == 2
    assert "neither a .gpkg file nor a postgresql:// URL" in capsys.readouterr().err


def test_init_then_stats_json(tmp_path, capsys):
    url = str(tmp_path / "s.gpkg")
    assert main(["--store", url, "init"]) == 0
    store = open_store(url)
    store.insert("grids", square_grids())
    store.insert("incidents", random_incidents(12, square_grids()))
    store.close()
    capsys.readouterr()
    assert main(["--store", url, "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["layers"]["grids"]["count"] == 9
    assert stats["layers"]["incidents"]["count"] == 12
    assert sum(stats["incidents"]["by_status"].values()) == 12
    assert sum(v["total"] for v in stats["incidents"]["by_grid"].values()) == 12
    assert sum(v["count"] for v in stats["incidents"]["by_category"].values()) == 12


def test_store_from_environment(tmp_path, monkeypatch, capsys):
    url = str(tmp_path / "env.gpkg")
    monkeypatch.setenv("GRIDMAP_STORE", url)
    assert main(["init"]) == 0
    assert url in capsys.readouterr().out


def test_grids_generate_and_check(tmp_path, capsys):
    boundary = gpd.GeoDataFrame(
        {"name": ["area"]},
        geometry=[Polygon([(116.38, 39.88), (116.40, 39.88), (116.40, 39.90), (116.385, 39.895)])],
        crs=4326,
    )
    path = tmp_path / "boundary.geojson"
    boundary.to_file(path)
    url = str(tmp_path / "g.gpkg")
    assert main(["--store", url, "grids", "generate", str(path), "--size", "400m"]) == 0
    grids = open_store(url).read("grids")
    assert len(grids) > 10
    assert grids["area_m2"].sum() == pytest.approx(area_m2(boundary).sum(), rel=1e-6)
    assert main(["--store", url, "grids", "check"]) == 0
    assert "0 issue(s)" in capsys.readouterr().out
    overlapping = gpd.GeoDataFrame(
        {"code": ["a", "b"]}, geometry=[box(0, 0, 0.01, 0.01), box(0.005, 0, 0.015, 0.01)], crs=4326
    )
    bad = tmp_path / "bad.geojson"
    overlapping.to_file(bad)
    with pytest.raises(SystemExit) as exit_:
        main(["grids", "check", str(bad)])
    assert exit_.value.code == 1
    assert "overlap" in capsys.readouterr().out


def test_locate_recomputes_grids(tmp_path, capsys):
    url = str(tmp_path / "l.gpkg")
    store = open_store(url)
    store.insert("incidents", random_incidents(10, square_grids()))
    assert store.count("incidents", where={"grid_code": None}) == 10
    store.insert("grids", square_grids())
    store.close()
    assert main(["--store", url, "locate"]) == 0
    assert "10 incident(s) located" in capsys.readouterr().out
    assert open_store(url).count("incidents", where={"grid_code": None}) == 0


@pytest.mark.parametrize(("text", "metres"), [("200m", 200), ("1.5km", 1500), ("300", 300)])
def test_parse_size(text, metres):
    assert parse_size(text) == metres


@pytest.mark.parametrize("text", ["", "-5m", "abc", "0"])
def test_parse_size_rejects(text):
    with pytest.raises(GridMapError):
        parse_size(text)
