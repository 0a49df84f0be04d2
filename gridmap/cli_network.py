"""``gridmap network``: store a road network for travel times (OSM extract or OSMnx GraphML)."""

from __future__ import annotations

import argparse

__all__ = ["add_parser"]


def _cmd_import(args: argparse.Namespace) -> None:
    from gridmap.cli import progress_bar
    from gridmap.network import import_network
    from gridmap.stores import open_store

    store = open_store(args.store)
    try:
        with progress_bar(None, "roads", unit="edges") as step:
            report = import_network(store, args.file, mode=args.mode, progress=step)
    finally:
        store.close()
    print(report)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``gridmap network import FILE`` to the command's subparsers."""
    from gridmap.network import MODES

    network = sub.add_parser("network", help="road network for travel times")
    actions = network.add_subparsers(dest="network_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "import", help="replace the store's roads with an OSM extract or OSMnx GraphML network"
    )
    p.add_argument("file", help="an .osm.pbf extract or a .graphml file (OSMnx)")
    p.add_argument("--mode", choices=MODES, default="walking", help="default: walking")
    p.add_argument("--store", default=argparse.SUPPRESS, help="as gridmap --store")
    p.set_defaults(run=_cmd_import)
