"""Benchmark the VRPTW solver on Solomon instances against the best-known solutions.

Usage::

    .venv/bin/python benchmarks/bench_routing.py [C101 R101 ...] [--time-limit S]

Without names it runs every instance listed in the README of
``../shared/benchmarks/solomon`` (C101, R101, RC101), ``--time-limit`` seconds
each (default 30). Each row shows vehicles and total distance (double
precision, unrounded) against the best-known solution (BKS, hierarchical:
vehicles first, then distance), the distance gap in percent and the time. The
goal is a mean distance gap of at most 2 %. Instances are solved one after the
other (the routing search is single-threaded).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optimizer.routing import solve_vrptw  # noqa: E402
from optimizer.solomon import read_solomon  # noqa: E402

SOLOMON = REPO.parent / "shared" / "benchmarks" / "solomon"
GOAL = 2.0


def best_known() -> dict[str, tuple[int, float]]:
    """BKS (vehicles, distance) per instance, parsed from the folder's README table."""
    text = (SOLOMON / "README.md").read_text()
    rows = re.findall(r"\|\s*([A-Z]+\d+)\s*\|\s*\d+\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|", text)
    return {name: (int(v), float(d)) for name, v, d in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="instance names (default: all in the README)")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per instance")
    args = parser.parse_args(argv)
    bks = best_known()
    names = args.names or sorted(bks)
    print(f"Solomon VRPTW, {args.time_limit:g} s per instance (PATH_CHEAPEST_ARC + GLS)")
    header = f"{'instance':<9}{'veh':>4}{'BKS':>5}{'distance':>11}{'BKS dist':>10}{'gap %':>8}{'s':>7}  ok"
    print(header)
    print("-" * len(header))
    gaps = []
    for name in names:
        inst = read_solomon(SOLOMON / f"{name}.txt")
        result = solve_vrptw(inst, time_limit=args.time_limit)
        known = bks.get(name)
        if known is None:
            print(f"{name:<9}{result.vehicles:>4}{'-':>5}{result.distance:>11.2f}{'-':>10}")
            continue
        gap = round(100.0 * (result.distance - known[1]) / known[1], 2) + 0.0
        gaps.append(gap)
        print(
            f"{name:<9}{result.vehicles:>4}{known[0]:>5}{result.distance:>11.2f}"
            f"{known[1]:>10.2f}{gap:>8.2f}{result.seconds:>7.1f}  "
            f"{'feasible' if result.feasible else 'INFEASIBLE ' + str(result.dropped)}"
        )
    if gaps:
        mean = sum(gaps) / len(gaps)
        verdict = "holds" if mean <= GOAL else "MISSED"
        print(f"mean distance gap {mean:.2f} % (goal <= {GOAL:g} %: {verdict})")
        print("note: a negative gap comes with more vehicles than the BKS (hierarchical objective)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
