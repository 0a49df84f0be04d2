"""``gridmap dispatch``, ``gridmap staff`` and ``gridmap patrol``: who handles what, where, in what order.

- ``dispatch`` hands the open registered incidents to grid workers (:mod:`gridmap.dispatching`)
  and moves them to ``dispatched``;
- ``staff`` rebalances which worker looks after which grid (:mod:`gridmap.staffing_plan`);
- ``patrol`` orders one worker's cases for a shift (:mod:`gridmap.patrol`).

``dispatch`` and ``staff`` write unless ``--dry-run``; ``patrol`` only prints.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

__all__ = ["add_parser", "dispatch_lines", "patrol_lines", "staff_lines"]


def _minutes(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:,.1f} min"


def _gap(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2%}"


def dispatch_lines(plan: Any, top: int = 10) -> list[str]:
    """Return the printed summary of a :class:`gridmap.dispatching.DispatchPlan`."""
    s = plan.summary()
    unassigned = sum(s["unassigned"].values())
    reasons = ", ".join(f"{k} {v}" for k, v in s["unassigned"].items())
    lost = f" ({len(s['unlocated_workers'])} without location left out)" * bool(
        s["unlocated_workers"]
    )
    lines = [
        f"dispatch at {plan.now:%Y-%m-%d %H:%M} ({plan.now.tz}); travel: {s['travel']}",
        f"workers: {s['workers']}, {s['on_shift']} on shift{lost}; incidents considered: "
        f"{s['considered']}",
        f"assigned: {s['assigned']}; unassigned: {unassigned}" + (f" ({reasons})" * bool(reasons)),
        f"travel: mean {_minutes(s['mean_travel_minutes'])}, max "
        f"{_minutes(s['max_travel_minutes'])}; outside own grid: {s['outside_own_grid']}",
        f"solver: {s['method']}; status {s['status']}; objective {s['objective']:,.2f}; "
        f"bound {s['bound']:,.2f}; gap {_gap(s['gap'])}; {s['seconds']:.2f} s",
    ]
    if s["received_waiting"]:
        lines.append(
            f"{s['received_waiting']} received report(s) are not registered yet "
            "(--register files and dispatches them)"
        )
    if s["considered"] and not s["on_shift"]:
        lines.append("no worker is on shift at this time (--now sets another time)")
    rows = plan.assigned
    if rows:
        lines.append(
            f"{'incident':<10} {'worker':<8} {'travel':>9} {'grid':<10} {'prio':>4} "
            f"{'work h left':>11}  {'cost':>7}  own grid"
        )
        for e in rows[:top]:
            cost = e.travel_cost + e.outside_grid_cost
            lines.append(
                f"{e.incident_id:<10} {e.worker_id:<8} {_minutes(e.travel_minutes):>9} "
                f"{e.grid_code or '-':<10} {e.priority:>4} {e.hours_to_deadline:>11.1f}  "
                f"{cost:>7,.0f}  {'no' if e.outside_grid else 'yes'}"
            )
        if len(rows) > top:
            lines.append(f"... {len(rows) - top} more")
    return lines


def _cmd_dispatch(args: argparse.Namespace) -> None:
    from gridmap.dispatching import DispatchPlan
    from gridmap.stores import open_store

    store = open_store(args.store, create=False)
    try:
        plan = DispatchPlan.from_store(
            store,
            now=args.now,
            k=args.k,
            method="network" if args.network else "straight",
            detour=args.detour,
            speed_kmh=args.speed,
            service_minutes=args.service,
            include_received=args.register,
            cumulative_shift=not args.per_case_shift,
            time_limit=args.time_limit,
        )
        for line in dispatch_lines(plan, args.top):
            print(line)
        if args.dry_run:
            print("dry run: nothing written")
            return
        report = plan.apply(store, actor=args.actor)
        first = f" ({len(report.registered)} registered first)" * bool(report.registered)
        print(f"dispatched {len(report.dispatched)} incident(s) in {store.url}{first}")
        for incident, why in report.conflicts:
            print(f"  not dispatched {incident}: {why}")
    finally:
        store.close()


def staff_lines(plan: Any, top: int = 20) -> list[str]:
    """Return the printed summary of a :class:`gridmap.staffing_plan.StaffingPlan`."""
    s = plan.summary()
    lines = [
        f"workload: expected cases per day from {s['period_days']:.0f} day(s) of incidents, "
        f"population weight {s['population_weight']:g}"
    ]
    moves = []
    for team, t in zip(s["teams"], plan.teams, strict=True):
        links = f", {team['links']} link(s) between separate groups" * bool(team["links"])
        lines += [
            f"team {'+'.join(team['skills']) or '(no skills)'}: {team['workers']} worker(s), "
            f"{team['grids']} grid(s){links}",
            f"  spread (max - min): {team['spread_before']:.2f} -> {team['spread_after']:.2f} "
            f"per day (mean {team['mean_workload']:.2f}); CV {team['cv_before']:.2f} -> "
            f"{team['cv_after']:.2f}; moved grids: {team['moved_grids']}; contiguous: "
            f"{'yes' if team['contiguous'] else 'no'}",
            f"  solver: {team['status']}; gap {_gap(team['gap'])}; {team['seconds']:.2f} s",
        ]
        moves += t.moves()
    if moves:
        lines.append(f"moved grids ({len(moves)}):")
        lines += [f"  {grid:<12} {a} -> {b}" for grid, a, b in moves[:top]]
        if len(moves) > top:
            lines.append(f"  ... {len(moves) - top} more")
    return lines


def _cmd_staff(args: argparse.Namespace) -> None:
    from gridmap.staffing_plan import StaffingPlan
    from gridmap.stores import open_store

    store = open_store(args.store, create=False)
    try:
        plan = StaffingPlan.from_store(
            store, population_weight=args.population_weight, time_limit=args.time_limit
        )
        for line in staff_lines(plan, args.top):
            print(line)
        if args.dry_run:
            print("dry run: nothing written")
            return
        n = plan.apply(store)
        print(f"grid_codes written for {n} worker(s) in {store.url}")
    finally:
        store.close()


def patrol_lines(route: Any) -> list[str]:
    """Return the printed route of a :class:`gridmap.patrol.PatrolRoute`."""
    lines = [
        f"route of {route.worker_id} on {route.shift_start:%Y-%m-%d}: shift until "
        f"{route.shift_end:%H:%M}, leaving at {route.shift_start:%H:%M}; "
        f"{len(route.visits)} visit(s), {len(route.dropped)} dropped; travel "
        f"{_minutes(route.travel_minutes)}; back at {route.back_at:%H:%M}"
    ]
    if route.visits:
        lines.append(
            f"{'#':>3}  {'arrive':<6} {'start':<6} {'done':<6} {'stop':<14} {'category':<8} "
            f"{'prio':>4}  latest start"
        )
        for n, v in enumerate(route.visits, start=1):
            note = " (overdue or due too soon: any time)" if v.late else ""
            lines.append(
                f"{n:>3}  {v.arrival:%H:%M}  {v.start:%H:%M}  {v.finish:%H:%M}  "
                f"{v.stop_id:<14} {v.category:<8} {v.priority:>4}  "
                f"{v.latest_start:%m-%d %H:%M}{note}"
            )
    for d in route.dropped:
        lines.append(
            f"dropped {d.kind} {d.stop_id} (priority {d.priority}, due "
            f"{d.deadline:%m-%d %H:%M}): {d.reason}"
        )
    return lines


def _cmd_patrol(args: argparse.Namespace) -> None:
    from gridmap.patrol import PatrolRoute
    from gridmap.stores import open_store

    store = open_store(args.store, create=False)
    try:
        route = PatrolRoute.from_store(
            store,
            args.worker,
            day=args.date,
            now=args.now,
            method="network" if args.network else "straight",
            detour=args.detour,
            speed_kmh=args.speed,
            service_minutes=args.service,
            time_limit=args.time_limit,
            round_minutes=args.rounds,
        )
        for line in patrol_lines(route):
            print(line)
    finally:
        store.close()


def _travel_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", action="store_true", help="road network travel times")
    p.add_argument("--detour", type=float, default=1.3, help="straight-line detour factor")
    p.add_argument("--speed", type=float, default=15.0, help="km/h (default 15, an e-bike)")
    p.add_argument("--service", type=float, default=15.0, help="minutes on site per case")
    p.add_argument(
        "--now",
        help="plan at this time (2025-12-01T09:00, or next-workday); default now, or the "
        "end of a historical data set",
    )
    p.add_argument("--store", default=argparse.SUPPRESS, help="as gridmap --store")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``gridmap dispatch``, ``gridmap staff`` and ``gridmap patrol`` to the subparsers."""
    p = sub.add_parser("dispatch", help="hand open registered incidents to grid workers")
    p.add_argument("--dry-run", action="store_true", help="print only, write nothing")
    p.add_argument(
        "--register", action="store_true", help="also file (立案) and dispatch received reports"
    )
    p.add_argument("--time-limit", type=float, default=10.0, help="solver seconds (CP-SAT)")
    p.add_argument(
        "--per-case-shift",
        action="store_true",
        help="check each case alone against the remaining shift (min-cost flow) instead of "
        "all of a worker's new cases together",
    )
    p.add_argument("--k", type=int, default=20, help="candidate workers per incident (large runs)")
    p.add_argument("--actor", default="dispatcher", help="name recorded in the history")
    p.add_argument("--top", type=int, default=10, help="assignments to print")
    _travel_options(p)
    p.set_defaults(run=_cmd_dispatch)

    p = sub.add_parser("staff", help="rebalance which worker looks after which grid")
    p.add_argument("--dry-run", action="store_true", help="print only, write nothing")
    p.add_argument("--time-limit", type=float, default=10.0, help="solver seconds in all")
    p.add_argument(
        "--population-weight",
        type=float,
        default=0.2,
        help="share of the workload spread by population (default 0.2)",
    )
    p.add_argument("--top", type=int, default=20, help="moved grids to print")
    p.add_argument("--store", default=argparse.SUPPRESS, help="as gridmap --store")
    p.set_defaults(run=_cmd_staff)

    p = sub.add_parser("patrol", help="order a worker's cases and grid rounds for the day")
    p.add_argument("--worker", required=True, help="worker id")
    p.add_argument(
        "--rounds", type=float, default=10.0, help="minutes of a patrol round per grid (0: none)"
    )
    p.add_argument("--date", help="YYYY-MM-DD (default: the current or next shift)")
    p.add_argument("--time-limit", type=float, default=5.0, help="search seconds")
    _travel_options(p)
    p.set_defaults(run=_cmd_patrol)
