"""``gridmap serve``: the web service on a production WSGI server (waitress)."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from web.config import Config

__all__ = ["add_parser"]

DEMO_PASSWORD = "gridmap-demo"


def _serve(args: argparse.Namespace) -> None:
    import waitress

    from web.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = Config(
        store=args.store,
        tiles=args.tiles,
        tiles_attribution=args.tiles_attribution or "",
        jurisdiction_id=args.jurisdiction,
    )
    app = create_app(config)
    base = f"http://{args.host}:{args.port}"
    store = app.extensions["gridmap"].store
    if args.demo_accounts:
        _demo_accounts(store)
    _read_ahead(store)
    print(f"GridMap serving {args.store} on {base}/  (Ctrl+C stops)", file=sys.stderr, flush=True)
    waitress.serve(
        app,
        host=args.host,
        port=args.port,
        threads=args.threads,
        max_request_body_size=config.max_body_bytes,
        ident="gridmap",
        connection_limit=1000,
    )


def _read_ahead(store) -> None:
    """Read a big store into memory before listening (the first pages are then quick)."""
    from web.pages.data import read_ahead

    started = time.perf_counter()
    cases = read_ahead(store)
    if cases:
        print(
            f"read {cases:,} cases ahead in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )


def _demo_accounts(store) -> None:
    """Make sure one user of each staff role exists (demo password), and say so."""
    from gridmap.accounts import create_user

    for role in ("dispatcher", "planner", "official", "admin"):
        if not store.records("accounts", {"name": role}):
            create_user(store, role, role, DEMO_PASSWORD)
    print(
        f"demo users: dispatcher, planner, official, admin (password {DEMO_PASSWORD!r})",
        file=sys.stderr,
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``gridmap`` command."""
    p = sub.add_parser("serve", help="run the web service (OGC API, Open311, case work, maps)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    p.add_argument("--tiles", help="basemap tile URL template (default: none, grid outlines)")
    p.add_argument("--tiles-attribution", help="attribution shown with --tiles")
    p.add_argument("--jurisdiction", default="gridmap.local", help="Open311 jurisdiction_id")
    p.add_argument(
        "--demo-accounts",
        action="store_true",
        help=f"create one user per staff role with the password {DEMO_PASSWORD!r} (demo only)",
    )
    p.set_defaults(run=_serve)
