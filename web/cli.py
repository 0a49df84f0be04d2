"""``gridmap serve``: the web service on a production WSGI server (waitress)."""

from __future__ import annotations

import argparse
import logging
import sys

from web.config import Config

__all__ = ["add_parser"]


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


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``gridmap`` command."""
    p = sub.add_parser("serve", help="run the web service (OGC API, Open311, case work, maps)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    p.add_argument("--tiles", help="basemap tile URL template (default: none, grid outlines)")
    p.add_argument("--tiles-attribution", help="attribution shown with --tiles")
    p.add_argument("--jurisdiction", default="gridmap.local", help="Open311 jurisdiction_id")
    p.set_defaults(run=_serve)
