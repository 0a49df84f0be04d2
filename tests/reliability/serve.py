"""Run the web service as `gridmap serve` does, with settings the command has no option for.

Usage: python -m tests.reliability.serve --store URL --port N [--threads 8] [--job-seconds S]

The reliability tests start it as a process of its own (as in production, the test's clients
then share no interpreter lock with the server).
"""

from __future__ import annotations

import argparse
import logging

import waitress

from web.app import create_app
from web.config import Config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--job-seconds", type=float, default=Config.job_seconds)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = Config(store=args.store, job_seconds=args.job_seconds)
    app = create_app(config)
    waitress.serve(
        app,
        host="127.0.0.1",
        port=args.port,
        threads=args.threads,
        max_request_body_size=config.max_body_bytes,
        ident="gridmap",
    )


if __name__ == "__main__":
    main()
