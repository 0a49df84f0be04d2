"""The ``gridmap`` command: one subcommand per job a planner, dispatcher or official runs.

A user error prints one line and exits with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points

from tqdm import tqdm

from gridmap import cli_accounts, cli_dispatch, cli_kpi, cli_network, cli_site
from gridmap.errors import GridMapError, ValidationError
from gridmap.model import LAYERS
from gridmap.stores import open_store, store_url

EXIT_USER_ERROR = 2


@contextmanager
def progress_bar(
    total: int | None, what: str, unit: str = "rows"
) -> Iterator[Callable[[int], None]]:
    """Yield a callback advancing a progress bar on stderr (silent when not a terminal)."""
    bar = tqdm(total=total, desc=what, unit=unit, disable=None, leave=False, file=sys.stderr)
    try:
        yield bar.update
    finally:
        bar.close()


def parse_size(text: str) -> float:
    """Return metres from ``200``, ``200m`` or ``1.5km``."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(m|km)?\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise GridMapError(f"size {text!r} is not a positive length such as 200m or 1km")
    return float(match.group(1)) * (1000.0 if match.group(2) == "km" else 1.0)


def _mapping(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise GridMapError(f"--map {pair!r} must look like FIELD=COLUMN")
        out[field.strip()] = column.strip()
    return out


def _cmd_init(args: argparse.Namespace) -> None:
    store = open_store(args.store)
    print(f"store ready: {store.url} (layers: {', '.join(LAYERS)})")


def _cmd_import(args: argparse.Namespace) -> None:
    from gridmap.importer import import_file

    store = open_store(args.store)
    with progress_bar(None, f"import {args.layer}") as step:
        report = import_file(
            store,
            args.layer,
            args.file,
            lon=args.lon,
            lat=args.lat,
            mapping=_mapping(args.map),
            date_format=args.date_format,
            crs=args.crs,
            category_map=args.category_map,
            source_layer=args.source_layer,
            skip_invalid=args.skip_invalid,
            rejects=args.rejects,
            replace=args.replace,
            progress=step,
        )
    print(f"{report.layer}: {report.loaded} row(s) loaded from {args.file}", end="")
    print(f", {report.rejected} rejected (see {args.rejects})" if report.rejected else "")


def _cmd_export(args: argparse.Namespace) -> None:
    from gridmap.export import export_layer

    n = export_layer(open_store(args.store, create=False), args.layer, args.file)
    print(f"{args.layer}: {n} row(s) written to {args.file}")


def _cmd_grids_generate(args: argparse.Namespace) -> None:
    import geopandas as gpd

    from gridmap.grids import generate_grids

    boundary = _read_layer(args.boundary)
    demand = _read_layer(args.demand) if args.demand else None
    grids = generate_grids(
        boundary,
        parse_size(args.size),
        args.shape,
        code_prefix=args.prefix,
        code_column=args.code_column,
        demand=demand,
        demand_column=args.demand_column,
    )
    if args.out:
        gpd.GeoDataFrame(grids).to_file(args.out)
        print(f"{len(grids)} {args.shape} grid(s) of {args.size} written to {args.out}")
        return
    store = open_store(args.store)
    store.insert("grids", grids, replace=args.replace)
    print(f"{len(grids)} {args.shape} grid(s) of {args.size} stored in {store.url}")


def _read_layer(path: str):
    import geopandas as gpd
    import pyogrio

    try:
        frame = gpd.read_file(path)
    except (pyogrio.errors.DataSourceError, FileNotFoundError) as exc:
        raise GridMapError(f"cannot read {path}: {exc}") from None
    if frame.crs is None:
        raise GridMapError(f"{path} has no coordinate system; give the file a CRS")
    return frame.to_crs("EPSG:4326")


def _cmd_grids_check(args: argparse.Namespace) -> None:
    from gridmap.grids import check_topology

    grids = _read_layer(args.file) if args.file else open_store(args.store).read("grids")
    issues = check_topology(grids, min_area_m2=args.min_area)
    if args.json:
        print(json.dumps([issue.__dict__ for issue in issues], ensure_ascii=False, indent=1))
    else:
        for issue in issues:
            codes = ", ".join(issue.codes)
            print(f"{issue.kind:<14} {issue.area_m2:>12.1f} m2  {codes}  {issue.detail or ''}")
        print(f"{len(grids)} grid(s) checked, {len(issues)} issue(s)")
    if issues:
        sys.exit(1)


def _cmd_locate(args: argparse.Namespace) -> None:
    store = open_store(args.store)
    with progress_bar(None, "locate") as step:
        result = store.relocate_incidents(progress=step)
    print(
        f"{result['located']} incident(s) located in grids, {result['outside']} outside every "
        f"grid, {result['changed']} grid code(s) changed"
    )


def _cmd_demo(args: argparse.Namespace) -> None:
    from gridmap.demo import build_demo, build_synthetic

    store = open_store(args.store)
    with progress_bar(None, "demo") as step:
        if args.synthetic:
            summary = build_synthetic(
                store, grids=args.grids, incidents=args.incidents, seed=args.seed, progress=step
            )
        else:
            summary = build_demo(store, progress=step)
    print(summary)


def _cmd_stats(args: argparse.Namespace) -> None:
    from gridmap.stats import store_stats

    stats = store_stats(open_store(args.store, create=False))
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=1))
        return
    print(f"store: {stats['store']}")
    for name, info in stats["layers"].items():
        flag = " (simulated)" if info["simulated"] else ""
        print(f"  {name:<10} {info['count']:>9}{flag}")
    incidents = stats.get("incidents")
    if incidents:
        print(
            "incidents by status: "
            + ", ".join(f"{k} {v}" for k, v in incidents["by_status"].items())
        )
        print(
            f"open and overdue as of {incidents['as_of'][:16]}: {incidents['overdue_open']}; "
            f"outside every grid: {incidents['outside_grids']}"
        )


def _cmd_db_upgrade(args: argparse.Namespace) -> None:
    from gridmap.stores.migrate import upgrade
    from gridmap.stores.pg_connect import redact

    url = args.url or args.store
    if not url.startswith(("postgresql://", "postgres://")):
        open_store(url)  # a GeoPackage has no migrations: opening creates what is missing
        print(f"{url}: GeoPackage stores need no migrations; store ready")
        return
    done = upgrade(url)
    where = redact(url)
    print(f"{where}: applied {', '.join(done)}" if done else f"{where}: schema is up to date")


def _cmd_db_copy(args: argparse.Namespace) -> None:
    from gridmap.stores.copy import copy_store

    source = open_store(args.source or args.store, create=False)
    target = open_store(args.target)
    try:
        with progress_bar(None, "copy") as step:
            counts = copy_store(source, target, progress=step, replace=args.replace)
    finally:
        source.close()
        target.close()
    for name, n in counts.items():
        print(f"  {name:<17} {n:>9}")
    print(f"copied {source.url} -> {target.url}; counts verified")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``gridmap`` argument parser."""
    parser = argparse.ArgumentParser(prog="gridmap", description="Grid governance on a map.")
    parser.add_argument(
        "--store",
        default=None,
        help="a .gpkg file or a postgresql:// URL (default: $GRIDMAP_STORE or ./gridmap.gpkg)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create an empty store")
    p.set_defaults(run=_cmd_init)

    p = sub.add_parser("import", help="import a file into a layer (atomic)")
    p.add_argument("layer", choices=list(LAYERS))
    p.add_argument("file", help="GeoJSON, GeoPackage, Shapefile (.shp/.zip), CSV or OSM PBF")
    p.add_argument("--lon", help="CSV column holding longitudes")
    p.add_argument("--lat", help="CSV column holding latitudes")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN")
    p.add_argument(
        "--date-format", help="strftime format of date columns, e.g. %%Y/%%m/%%d %%H:%%M"
    )
    p.add_argument("--crs", help="coordinates' system: gcj02, bd09 or an EPSG code")
    p.add_argument("--category-map", help="CSV mapping source categories to catalog codes")
    p.add_argument("--source-layer", help="layer to read from a multi-layer file")
    p.add_argument("--skip-invalid", action="store_true", help="load the valid rows only")
    p.add_argument("--rejects", help="file receiving rejected rows with their reasons")
    p.add_argument("--replace", action="store_true", help="replace the layer's rows")
    p.set_defaults(run=_cmd_import)

    p = sub.add_parser("export", help="export a layer to GeoJSON, GeoPackage or CSV")
    p.add_argument("layer", choices=list(LAYERS))
    p.add_argument("file")
    p.set_defaults(run=_cmd_export)

    grids = sub.add_parser("grids", help="generate or check unit grids")
    gsub = grids.add_subparsers(dest="grids_command", required=True, metavar="ACTION")
    p = gsub.add_parser("generate", help="cut a boundary into square or hexagonal grids")
    p.add_argument("boundary", help="polygon file of the area to cover")
    p.add_argument("--size", default="200m", help="cell size, e.g. 200m or 1km")
    p.add_argument("--shape", choices=["square", "hex"], default="square")
    p.add_argument("--prefix", default=None, help="code prefix for free codes")
    p.add_argument("--code-column", help="boundary column with 12-digit community codes")
    p.add_argument("--demand", help="point or polygon file to spread population from")
    p.add_argument("--demand-column", help="demand column holding population")
    p.add_argument("--out", help="write to this file instead of the store")
    p.add_argument("--replace", action="store_true", help="replace the store's grids")
    p.set_defaults(run=_cmd_grids_generate)
    p = gsub.add_parser("check", help="report invalid rings, overlaps and gaps")
    p.add_argument("file", nargs="?", help="a grid file (default: the store's grids)")
    p.add_argument("--min-area", type=float, default=1.0, help="smallest overlap/gap in m2")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_grids_check)

    p = sub.add_parser("locate", help="recompute every incident's grid")
    p.set_defaults(run=_cmd_locate)

    p = sub.add_parser("demo", help="build the demo scenario (real OSM data of central Helsinki)")
    p.add_argument("--synthetic", action="store_true", help="a synthetic city of any size")
    p.add_argument("--grids", type=int, default=10_000)
    p.add_argument("--incidents", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_cmd_demo)

    p = sub.add_parser("stats", help="counts per layer; incidents per grid, category, status")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_stats)

    db = sub.add_parser("db", help="database schema and copies between stores")
    dsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = dsub.add_parser("upgrade", help="apply the pending schema migrations (PostGIS)")
    p.add_argument("url", nargs="?", help="the store to upgrade (default: --store)")
    p.set_defaults(run=_cmd_db_upgrade)
    p = dsub.add_parser("copy", help="copy every layer, the history and metadata to another store")
    p.add_argument("--from", dest="source", help="the store to read (default: --store)")
    p.add_argument("--to", dest="target", required=True, help="a .gpkg file or postgresql:// URL")
    p.add_argument("--replace", action="store_true", help="overwrite a target that holds rows")
    p.set_defaults(run=_cmd_db_copy)

    cli_network.add_parser(sub)
    cli_site.add_parser(sub)
    cli_dispatch.add_parser(sub)
    cli_kpi.add_parser(sub)
    cli_accounts.add_parser(sub)
    for entry in entry_points(group="gridmap.commands"):  # commands of the web service
        entry.load()(sub)
    _store_option_everywhere(parser)
    return parser


def _store_option_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let ``--store`` come after the command too (``gridmap kpi --store city.gpkg``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                if "--store" not in child._option_string_actions:
                    child.add_argument("--store", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
                _store_option_everywhere(child)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.store = store_url(args.store)
    try:
        args.run(args)
    except GridMapError as exc:
        if args.debug:
            raise
        print(f"gridmap: error: {exc}", file=sys.stderr)
        if isinstance(exc, ValidationError):
            for reason in exc.reasons[:10]:
                print(f"  {reason}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        if args.debug:
            raise
        print(f"gridmap: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("gridmap: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
