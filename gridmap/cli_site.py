"""``gridmap site``: suggest where new stations go (LSCP, MCLP, p-median, p-center).

Solves on the store's demand and candidate sites (:mod:`gridmap.siting`), writes the suggested
sites' rank, marginal gain and label to the ``sites`` layer, and prints a summary.
"""

from __future__ import annotations

import argparse
import math
import re

from gridmap.errors import GridMapError

__all__ = ["add_parser", "format_cost", "parse_radius", "summary_lines"]

MODEL_HELP = {
    "lscp": "fewest new sites so that all demand is within the radius",
    "mclp": "p new sites covering the most demand within the radius",
    "pmedian": "p new sites with the least mean distance to the demand",
    "pcenter": "p new sites with the least worst distance to the demand",
}
_RADIUS = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(m|km|s|min|h)?\s*")
_SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0}


def parse_radius(text: str) -> tuple[float, str]:
    """Return (value, unit) from ``500``/``500m``/``1.5km`` (metres) or ``90s``/``10min``/``1h``.

    Raises
    ------
    GridMapError
        If the text is not a positive distance or time.
    """
    match = _RADIUS.fullmatch(text)
    if not match or float(match[1]) <= 0:
        raise GridMapError(f"radius {text!r} is not a positive distance or time (500m, 10min)")
    value, unit = float(match[1]), match[2] or "m"
    if unit in _SECONDS:
        return value * _SECONDS[unit], "s"
    return value * (1000.0 if unit == "km" else 1.0), "m"


def format_cost(value: float, unit: str) -> str:
    """Return a distance (``1,234 m``) or time (``7.5 min``) for the summary; ``n/a`` for NaN."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:,.0f} m" if unit == "m" else f"{value / 60:,.1f} min"


def _gain(value: float, model: str, unit: str) -> str:
    if not math.isfinite(value):
        return "n/a"
    if model in ("mclp", "lscp"):
        return f"{value:,.1f}"
    if model == "pmedian":  # weighted distance: weight x metres or seconds
        return f"{value:,.0f}" if unit == "m" else f"{value / 60:,.1f}"
    return format_cost(value, unit)


def summary_lines(outcome, top: int = 10) -> list[str]:
    """Return the printed summary of a :class:`gridmap.siting.SitingOutcome`."""
    problem, result, model = outcome.problem, outcome.result, outcome.model
    unit, kind = problem.unit, problem.kind
    n_new, n_old = len(outcome.order), len(problem.existing)
    gap = "n/a" if not math.isfinite(result.gap) else f"{result.gap:.2%}"
    weight = problem.weights.sum()
    asked = "fewest sites" if outcome.p is None else f"p = {outcome.p} new"
    gain_unit = {
        "mclp": "covered weight",
        "lscp": "covered weight",
        "pmedian": "weighted " + ("m" if unit == "m" else "min"),
        "pcenter": "worst distance",
    }[model]
    lines = [
        f"model: {model} ({asked}, {kind}, radius {format_cost(outcome.radius, unit)}); "
        f"costs: {problem.describe_costs()}",
        f"demand: {problem.demand_source}, {len(problem.demand):,} location(s), weight "
        f"{weight:,.1f}; candidates: {len(problem.candidates) - n_old:,} site(s), "
        f"{n_old:,} open station(s) kept",
        f"status: {result.status}; objective {result.objective:,.2f}; bound {result.bound:,.2f}; "
        f"gap {gap}; {result.seconds:.2f} s",
        f"covered within {format_cost(outcome.radius, unit)}: before "
        f"{outcome.before.covered_share:.1%} -> after {outcome.after.covered_share:.1%}",
        f"mean distance: before {format_cost(outcome.before.mean, unit)} -> after "
        f"{format_cost(outcome.after.mean, unit)}",
        f"max distance: before {format_cost(outcome.before.worst, unit)} -> after "
        f"{format_cost(outcome.after.worst, unit)}",
        f"suggested: {n_new} new {kind} site(s); gain = {gain_unit} added in rank order",
    ]
    rows = outcome.suggestions.head(top)
    if len(rows):
        width = max(2, *(len(str(i)) for i in rows["id"]))
        lines.append(f"{'rank':>4}  {'id':<{width}}  {'gain':>12}  name")
        for r in rows.itertuples():
            name = "" if r.name is None else str(r.name)
            lines.append(f"{r.rank:>4}  {r.id:<{width}}  {_gain(r.gain, model, unit):>12}  {name}")
        if n_new > top:
            lines.append(f"... {n_new - top} more (see the sites layer, column rank)")
    return lines


def _cmd_site(args: argparse.Namespace) -> None:
    from gridmap.siting import SitingProblem
    from gridmap.siting_solve import solve_siting, write_suggestions
    from gridmap.stores import open_store

    radius, unit = (None, "m") if args.radius is None else parse_radius(args.radius)
    store = open_store(args.store, create=False)
    try:
        problem = SitingProblem.from_store(
            store,
            kind=args.kind,
            demand=args.demand,
            method="network" if args.network else "straight",
            unit=unit,
            detour=args.detour,
            speed_kmh=args.speed,
        )
        outcome = solve_siting(
            problem, args.model, p=args.p, radius=radius, time_limit=args.time_limit
        )
        for line in summary_lines(outcome, args.top):
            print(line)
        if args.dry_run:
            print("dry run: nothing written")
            return
        n = write_suggestions(store, outcome)
        print(f"ranks written to {n} {args.kind} site(s) in {store.url} (older ones cleared)")
    finally:
        store.close()


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``gridmap site MODEL ...`` to the command's subparsers."""
    from gridmap.siting import DEMAND_SOURCES

    site = sub.add_parser("site", help="suggest sites for new stations (lscp, mclp, pmedian...)")
    models = site.add_subparsers(dest="model", required=True, metavar="MODEL")
    for model, text in MODEL_HELP.items():
        p = models.add_parser(model, help=text, description=text)
        p.add_argument("--kind", required=True, help="station kind, e.g. red_home")
        p.add_argument(
            "--radius",
            help="service radius: 500m, 1.5km, or a time such as 10min (default: the kind's)",
        )
        if model != "lscp":
            p.add_argument("--p", type=int, required=True, help="number of new sites")
        p.add_argument("--demand", choices=DEMAND_SOURCES, default="population")
        p.add_argument("--network", action="store_true", help="road network travel costs")
        p.add_argument("--detour", type=float, default=1.3, help="straight-line detour factor")
        p.add_argument("--speed", type=float, default=4.5, help="km/h for times (default 4.5)")
        p.add_argument("--time-limit", type=float, default=60.0, help="solver seconds")
        p.add_argument("--top", type=int, default=10, help="suggestions to print")
        p.add_argument("--dry-run", action="store_true", help="print only, write nothing")
        p.add_argument("--store", default=argparse.SUPPRESS, help="as gridmap --store")
        p.set_defaults(run=_cmd_site, p=None)
