"""``gridmap map dispatch|coverage|heatmap --out FILE``: a role page's map as a standalone file.

The map is the one the web page shows (same data, same builders), written as one HTML file with
every script and stylesheet inlined (it opens from disk with no server and no network), and
optionally as a PNG screenshot taken with Debian's headless Chromium.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import folium

from gridmap.stores import open_store
from web.maps import render_standalone, to_png
from web.maps.heatmap import PERIODS
from web.maps.text import LANGS

__all__ = ["add_parser", "build_map"]

WHICH = ("dispatch", "coverage", "heatmap")


def build_map(args: argparse.Namespace) -> folium.Map:
    """Return the map ``args.which`` over ``args.store``, as the web page builds it.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (see :func:`add_parser`).

    Returns
    -------
    folium.Map
        The dispatcher's, planner's or official's map.

    Raises
    ------
    gridmap.errors.ValidationError
        For options the page would refuse (an unknown category, kind, metric...).
    """
    store = open_store(args.store, create=False)
    try:
        basemap = {"tiles": args.tiles, "attribution": args.tiles_attribution}
        if args.which == "dispatch":
            from web.pages.dispatch import DispatchFilters, build_dispatch, read_dispatch

            filters = DispatchFilters.parse(args.category, args.grid, args.status)
            inputs = read_dispatch(store, filters)
            return build_dispatch(inputs, filters, lang=args.lang, **basemap).map
        if args.which == "coverage":
            from web.pages.coverage import (
                build_coverage,
                check_options,
                default_kind,
                read_coverage,
            )

            layers = read_coverage(store)
            asked = default_kind(layers.sites) if args.kind is None else args.kind
            kind, metric, scenario = check_options(asked, args.metric, args.scenario)
            return build_coverage(
                layers, kind=kind, metric=metric, scenario=scenario, lang=args.lang, **basemap
            ).map
        from web.pages.data import data_note, snapshot
        from web.pages.official import build_heatmap, check_options

        period, kpi = check_options(args.period, args.kpi)
        return build_heatmap(
            store.read("grids"),
            snapshot(store),
            period=period,
            kpi=kpi,
            lang=args.lang,
            note=data_note(store, ("grids", "incidents")),
            **basemap,
        ).map
    finally:
        store.close()


def _run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_standalone(build_map(args)), encoding="utf-8")
    size = out.stat().st_size
    print(f"{args.which} map written to {out} ({size / 1e6:.1f} MB)")
    if args.png:
        shot = to_png(out, args.png, width=args.width, height=args.height)
        print(f"screenshot written to {shot}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``map`` to the ``gridmap`` command."""
    p = sub.add_parser(
        "map",
        help="write a role page's map as a standalone HTML file (and a PNG)",
        description="Write the dispatcher's, planner's or official's map as one HTML file that "
        "opens with no server and no network, optionally with a PNG screenshot.",
    )
    p.add_argument("which", choices=WHICH, help="which map")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--png", help="also write a screenshot here (needs Debian chromium)")
    p.add_argument("--lang", choices=LANGS, default="zh", help="language (default zh)")
    p.add_argument("--tiles", help="basemap tile URL template (default: none, grid outlines)")
    p.add_argument("--tiles-attribution", help="attribution of --tiles (default: OpenStreetMap)")
    p.add_argument("--width", type=int, default=1280, help="screenshot width (default 1280)")
    p.add_argument("--height", type=int, default=800, help="screenshot height (default 800)")
    d = p.add_argument_group("dispatch")
    d.add_argument("--category", help="only cases of this category code")
    d.add_argument("--grid", help="only cases in this grid")
    d.add_argument("--status", help="only cases in this open state")
    c = p.add_argument_group("coverage")
    c.add_argument("--kind", help="only stations and sites of this kind ('' for all)")
    c.add_argument("--metric", help="what colours the grids (default population_share)")
    c.add_argument("--scenario", choices=("before", "after"), help="with the suggested sites?")
    h = p.add_argument_group("heatmap")
    h.add_argument("--period", choices=tuple(PERIODS), default="week", help="default week")
    h.add_argument("--kpi", help="KPI colouring the grids (default closure_rate)")
    p.set_defaults(run=_run)
