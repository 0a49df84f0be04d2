"""Benchmark the siting models: OR-Library p-median and spopt's San Francisco data.

Usage::

    .venv/bin/python benchmarks/bench_siting.py [pmedN.txt ...] [--time-cap S] [--no-spopt]
        [--pmed-only] [--repeat K]

Without files it runs every ``pmed*.txt`` of ``../shared/benchmarks/pmed``
(numerically sorted), then MCLP, LSCP, p-median and p-center on spopt's San
Francisco test data, then p-center at the demo city's sizes (357 courier
demand points and 3000 incidents x 469 candidate sites, straight-line metres
from ``demo/gridmap.gpkg`` when ``make demo`` has built it, otherwise seeded
uniform points of the same sizes).
Each p-median row shows n, p, our objective, the published optimum (parsed
from that folder's README), whether optimality was proven and the seconds.
When PySAL spopt (with PuLP's bundled CBC) can be imported, the same models
are also solved with it, with the same time cap, for a time ratio; otherwise
the column says "spopt not installed". spopt's time excludes model building,
as in the README's reference table; ours is the whole call. ``--pmed-only``
skips the San Francisco and demo-city runs; ``--repeat K`` solves each
p-median instance K times (both solvers) to show the spread of the timings.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optimizer import siting  # noqa: E402
from optimizer.instances import read_orlib_pmed  # noqa: E402

SHARED = REPO.parent / "shared" / "benchmarks"
PMED = SHARED / "pmed"
SF = SHARED / "spopt_sf_testdata"
DEMO = REPO / "demo" / "gridmap.gpkg"
LIMIT = 60.0

try:  # optional: only for the comparison column
    import pulp
    from spopt.locate import LSCP as SpoptLSCP
    from spopt.locate import MCLP as SpoptMCLP
    from spopt.locate import PCenter as SpoptPCenter
    from spopt.locate import PMedian as SpoptPMedian

    SPOPT = True
except ImportError:
    SPOPT = False


def known_optima(readme: Path) -> dict[str, float]:
    """Parse ``| pmedN.txt | n | m | p | optimum | ...`` rows of the README."""
    if not readme.exists():
        return {}
    row = re.compile(r"^\|\s*(pmed\d+)\.txt\s*\|\s*\d+\s*\|\s*\d+\s*\|\s*\d+\s*\|\s*(\d+)\s*\|")
    return {
        m.group(1): float(m.group(2))
        for line in readme.read_text().splitlines()
        if (m := row.match(line))
    }


def numeric_key(path: Path) -> tuple[int, str]:
    digits = re.findall(r"\d+", path.stem)
    return (int(digits[-1]) if digits else 0, path.name)


def spopt_solve(model, cap: float) -> tuple[str, float]:
    """Solve a built spopt model with CBC; return (status text, solve seconds)."""
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=cap)
    start = time.perf_counter()
    try:
        model.solve(solver)
    except Exception as exc:  # spopt raises when CBC stops without proof
        seconds = time.perf_counter() - start
        return f"not solved ({type(exc).__name__})", seconds
    seconds = time.perf_counter() - start
    # CBC stopped by its time limit with a solution still reports status
    # "Optimal"; sol_status tells a proven optimum from a merely feasible one.
    if model.problem.sol_status != pulp.LpSolutionOptimal:
        return "feasible, not proven", seconds
    return pulp.LpStatus[model.problem.status], seconds


def ratio_text(ours: float, status: str, theirs: float, cap: float) -> str:
    if status != "Optimal":
        return f"not proven in {cap:g} s (> {theirs / ours:.0f}x)"
    return f"{theirs:7.2f} s  x{theirs / ours:.1f}"


def run_pmed(
    files: list[Path], cap: float, use_spopt: bool, repeat: int = 1
) -> tuple[int, int, list[float]]:
    optima = known_optima(PMED / "README.md")
    header = (
        f"{'instance':<10} {'n':>4} {'p':>4} {'objective':>10} {'optimum':>8} {'match':>5} "
        f"{'proven':>6} {'seconds':>8}  {'method':<56} spopt+CBC (ratio)"
    )
    print(header)
    print("-" * len(header))
    proven_in_limit = 0
    speedups = []  # spopt seconds / ours, where spopt proved its optimum
    for path in [path for path in files for _ in range(repeat)]:
        inst = read_orlib_pmed(path)
        result = siting.p_median(inst.cost, inst.p, time_limit=cap)
        known = optima.get(path.stem, math.nan)
        match = "yes" if result.objective == known else ("?" if math.isnan(known) else "NO")
        ok = result.optimal and result.seconds <= LIMIT and match != "NO"
        proven_in_limit += ok
        if not use_spopt:
            comparison = "spopt not installed" if not SPOPT else "skipped (--no-spopt)"
        else:
            model = SpoptPMedian.from_cost_matrix(inst.cost, np.ones(inst.n), inst.p)
            status, seconds = spopt_solve(model, cap)
            comparison = ratio_text(result.seconds, status, seconds, cap)
            if status == "Optimal":
                speedups.append(seconds / result.seconds)
        print(
            f"{path.stem:<10} {inst.n:>4} {inst.p:>4} {result.objective:>10.0f} {known:>8.0f} "
            f"{match:>5} {'yes' if result.optimal else 'NO':>6} {result.seconds:>8.3f}  "
            f"{result.method[:56]:<56} {comparison}",
            flush=True,
        )
    return proven_in_limit, len(files) * repeat, speedups


def sf_data() -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    distances = pd.read_csv(SF / "SF_network_distance_candidateStore_16_censusTract_205_new.csv")
    cost = distances.pivot_table(
        values="distance", index="DestinationName", columns="name"
    ).to_numpy()
    demand = pd.read_csv(SF / "SF_demand_205_centroid_uniform_weight.csv")
    weights = demand.sort_values(by=["NAME"]).reset_index()["POP2000"].to_numpy()
    return cost, weights


def run_sf(cap: float, use_spopt: bool) -> None:
    if not SF.exists():
        print(f"\n(San Francisco data not found at {SF})")
        return
    cost, weights = sf_data()
    print(f"\nspopt San Francisco data: {cost.shape[0]} tracts x {cost.shape[1]} stores")
    cases = [
        ("MCLP p=4, 5 km", lambda: siting.mclp(cost, 5000.0, 4, weights=weights, time_limit=cap)),
        ("LSCP 5 km", lambda: siting.lscp(cost, 5000.0, time_limit=cap)),
        ("p-median p=4", lambda: siting.p_median(cost, 4, weights=weights, time_limit=cap)),
        ("p-center p=5", lambda: siting.p_center(cost, 5, time_limit=cap)),
        ("p-center p=10", lambda: siting.p_center(cost, 10, time_limit=cap)),
    ]
    builders = {
        "MCLP p=4, 5 km": lambda: SpoptMCLP.from_cost_matrix(cost, weights, 5000.0, 4),
        "LSCP 5 km": lambda: SpoptLSCP.from_cost_matrix(cost, 5000.0),
        "p-median p=4": lambda: SpoptPMedian.from_cost_matrix(cost, weights, 4),
        "p-center p=5": lambda: SpoptPCenter.from_cost_matrix(cost, 5),
        "p-center p=10": lambda: SpoptPCenter.from_cost_matrix(cost, 10),
    }
    for name, run in cases:
        result = run()
        extra = ""
        if name.startswith("MCLP"):
            share = (1 - result.n_uncovered / cost.shape[0]) * 100
            extra = f"covered {result.covered_weight:.0f}, {share:.3f} % of tracts"
        elif name.startswith("p-median"):
            extra = f"mean distance {result.objective / weights.sum():.4f}"
        elif name.startswith("p-center"):
            extra = f"bound {result.bound:.2f}, gap {result.gap:.2%}"
        else:
            extra = f"{result.objective:.0f} sites"
        if not use_spopt:
            comparison = "spopt not installed" if not SPOPT else "skipped (--no-spopt)"
        else:
            start = time.perf_counter()
            model = builders[name]()
            build = time.perf_counter() - start
            status, seconds = spopt_solve(model, cap)
            whole = build + seconds
            verdict = "no slower" if result.seconds <= whole else "SLOWER"
            comparison = (
                f"{ratio_text(result.seconds, status, seconds, cap)}; whole call (build + solve) "
                f"{whole:.3f} s: ours {verdict}"
            )
        print(
            f"{name:<16} objective {result.objective:>12.2f}  proven {result.optimal!s:<5} "
            f"{result.seconds:6.3f} s  {extra:<40} spopt: {comparison}"
        )


def city_costs() -> tuple[str, dict[str, np.ndarray]]:
    """The demo city's courier demand and incidents x ``red_home`` sites, in metres.

    Straight-line metres times gridmap's default detour, rounded, as ``gridmap site``
    builds them; seeded uniform points of the same sizes when there is no demo store.
    """
    try:
        import geopandas as gpd

        from gridmap.travel import travel_matrix

        demand = gpd.read_file(DEMO, layer="demand")
        sites = gpd.read_file(DEMO, layer="sites")
        sites = sites[sites["kind"] == "red_home"]
        incidents = gpd.read_file(DEMO, layer="incidents")
        courier = demand[demand["kind"] == "courier"]
        return f"demo store {DEMO.relative_to(REPO)}", {
            "courier": np.round(travel_matrix(None, courier.geometry, sites.geometry)),
            "incidents": np.round(travel_matrix(None, incidents.geometry, sites.geometry)),
        }
    except Exception as exc:  # no demo store (make demo), or gridmap unavailable
        rng = np.random.default_rng(2024)
        sites_xy = rng.uniform(0, 3000, (469, 2))

        def planar(n: int) -> np.ndarray:
            xy = rng.uniform(0, 3000, (n, 2))
            return np.round(np.linalg.norm(xy[:, None, :] - sites_xy[None, :, :], axis=2))

        note = f"uniform points in a 3 km square, seed 2024 ({type(exc).__name__}: {exc})"
        return note, {"courier": planar(357), "incidents": planar(3000)}


def run_city_p_center(cap: float) -> list[str]:
    """p-center at the demo city's sizes; returns the cases not proven optimal."""
    source, instances = city_costs()
    print(f"\np-center at the demo city's sizes ({source}), time limit {cap:g} s")
    unproven = []
    for name, cost in instances.items():
        for p in (5, 10, 20):
            result = siting.p_center(cost, p, time_limit=cap)
            label = f"{name} {cost.shape[0]}x{cost.shape[1]} p={p}"
            if not result.optimal:
                unproven.append(label)
            print(
                f"{label:<26} radius {result.objective:>7.0f} m  bound {result.bound:>7.0f}  "
                f"gap {result.gap:6.2%}  proven {result.optimal!s:<5} {result.seconds:6.2f} s  "
                f"{result.method}",
                flush=True,
            )
    return unproven


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="OR-Library pmed files")
    parser.add_argument(
        "--time-cap", type=float, default=LIMIT, help="seconds per solve, ours and spopt's"
    )
    parser.add_argument("--no-spopt", action="store_true", help="skip the spopt comparison")
    parser.add_argument(
        "--pmed-only", action="store_true", help="skip the San Francisco and demo-city runs"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="solves of each p-median instance (default 1)"
    )
    args = parser.parse_args(argv)
    files = args.files or sorted(PMED.glob("pmed*.txt"), key=numeric_key)
    if not files:
        print(f"no instances given and none found in {PMED}")
        return 1
    use_spopt = SPOPT and not args.no_spopt
    print(f"time cap {args.time_cap:g} s per solve; spopt: {'yes' if SPOPT else 'not installed'}\n")
    proven, total, speedups = run_pmed(
        sorted(files, key=numeric_key), args.time_cap, use_spopt, max(1, args.repeat)
    )
    if not args.pmed_only:
        run_sf(args.time_cap, use_spopt)
        unproven = run_city_p_center(args.time_cap)
    print(f"\nSUMMARY: {proven}/{total} p-median solves proven optimal within {LIMIT:g} s")
    if not args.pmed_only:
        print(
            "p-center at the demo city's sizes: "
            + (f"not proven: {', '.join(unproven)}" if unproven else "all proven optimal")
        )
    if speedups:
        tenfold = sum(x >= 10 for x in speedups)
        print(
            f"where spopt+CBC proved its optimum ({len(speedups)} instances): "
            f"{tenfold} at least 10x faster, smallest speed-up x{min(speedups):.1f}"
        )
    return 0 if proven == total else 2


if __name__ == "__main__":
    sys.exit(main())
