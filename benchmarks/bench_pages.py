"""Benchmark the role pages: size and time-to-ready in headless Chromium.

Usage::

    .venv/bin/python benchmarks/bench_pages.py [--sizes 1000,10000,100000] [--no-naive]

For each size a synthetic city is built (:func:`gridmap.demo.build_synthetic`; one grid per 10
cases, so 10,000 grids at 100,000 cases) in a temporary GeoPackage and served on 127.0.0.1 by
``gridmap serve`` (waitress) in a process of its own, started afresh for each page (dispatcher,
planner, official). Each page is opened as admin in Debian's headless Chromium: "cold" (the
first request: the page is built, from the cases ``gridmap serve`` reads ahead of listening for
a store of 20,000 cases or more) and "warm" (10 s later, twice, the faster: the page cache
answers). A page is ready when its map's layers are drawn (grid polygons, plus
the heat canvas or the case/worker markers). Columns: HTML size, server time (request to first
byte), ready time (navigation start to layers drawn), and the ratio of size and warm ready time
to the reference: a naive folium page with one ``folium.Marker`` (popup and tooltip) per case
at 10,000 cases (its HTML and the same vendored files served from a thread of this process).
Chromium resolves no host but 127.0.0.1; any request elsewhere is reported.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import folium  # noqa: E402
from werkzeug.middleware.shared_data import SharedDataMiddleware  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402
from werkzeug.wrappers import Response  # noqa: E402

from gridmap import accounts  # noqa: E402
from gridmap.demo import build_synthetic  # noqa: E402
from gridmap.stores import open_store  # noqa: E402
from web.app import STATIC  # noqa: E402
from web.maps import render_page  # noqa: E402

PAGES = {
    "dispatch": (
        "/dispatch?lang=en",
        "document.querySelectorAll('#gm-map path.leaflet-interactive').length > 0 &&"
        " document.querySelectorAll('#gm-map .leaflet-marker-icon').length > 0",
    ),
    "coverage": (
        "/coverage?lang=en",
        "document.querySelectorAll('#gm-map path.leaflet-interactive').length > 0",
    ),
    "heatmap": (
        "/heatmap?lang=en&period=week",
        "document.querySelectorAll('#gm-map path.leaflet-interactive').length > 0 &&"
        " document.querySelector('canvas.leaflet-heatmap-layer') !== null",
    ),
}
#: Warm loads per page, after a pause; the fastest is reported.
WARM_RUNS = 2
WARM_PAUSE_S = 10.0
NAIVE_READY = "document.querySelectorAll('.leaflet-marker-icon').length >= {n}"
READY_FLAG = """<script>window.addEventListener("load", function () {
  requestAnimationFrame(function () { requestAnimationFrame(function () {
    window.__gmReady = performance.now(); }); }); });</script>"""


def naive_page(store) -> str:
    """Return a folium page with one marker (popup, tooltip) per case, assets from /static."""
    incidents = store.read("incidents")
    m = folium.Map(
        tiles=None,
        zoom_start=13,
        location=[incidents.geometry.y.mean(), incidents.geometry.x.mean()],
    )
    for row in incidents.itertuples():
        folium.Marker(
            [row.geometry.y, row.geometry.x],
            popup=folium.Popup(str(row.description)),
            tooltip=str(row.id),
        ).add_to(m)
    return render_page(m).replace("</body>", READY_FLAG + "</body>", 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(store_path: Path) -> tuple[str, subprocess.Popen, str]:
    """Start ``gridmap serve`` on the store; return (base URL, process, a session token)."""
    store = open_store(store_path)
    if not store.records("accounts", {"name": "bench"}):
        accounts.create_user(store, "bench", "admin", "bench-password")
    token, _, _ = accounts.sign_in(store, "bench", "bench-password")
    store.close()
    port = free_port()
    gridmap = Path(sys.executable).with_name("gridmap")
    process = subprocess.Popen(
        [str(gridmap), "--store", str(store_path), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/static/vendor/README.md", timeout=2):
                return base, process, token
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gridmap serve did not start")


def serve_naive(html: str) -> tuple[str, Callable[[], None]]:
    """Serve ``html`` at /naive and web/static at /static from a thread; return (URL, stop)."""

    def page(environ, start_response):
        return Response(html, mimetype="text/html")(environ, start_response)

    app = SharedDataMiddleware(page, {"/static": str(STATIC)}, cache_timeout=86_400)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join()

    return f"http://127.0.0.1:{server.server_port}/naive", stop


def measure(context, url: str, ready: str) -> dict[str, float]:
    """Open ``url`` in a new tab; return HTML bytes, server ms and ready ms."""
    page = context.new_page()
    try:
        response = page.goto(url, wait_until="commit", timeout=180_000)
        page.wait_for_function(ready, polling="raf", timeout=180_000)
        page.wait_for_function("window.__gmReady !== undefined", timeout=180_000)
        ready_ms = page.evaluate("Math.max(performance.now(), window.__gmReady)")
        page.wait_for_load_state("load")
        body = response.body()
        timing = response.request.timing
        return {
            "bytes": len(body),
            "server_ms": timing["responseStart"] - timing["requestStart"],
            "ready_ms": ready_ms,
        }
    finally:
        page.close()


OUTSIDE: list[str] = []
#: Chromium resolves no host but 127.0.0.1: a page cannot reach the internet.
NO_DNS = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def record_outside(request) -> None:
    url = request.url
    if not url.startswith(("data:", "blob:")) and urlsplit(url).hostname != "127.0.0.1":
        OUTSIDE.append(url)


def new_context(browser, base: str | None = None, token: str | None = None):
    """Return a browser context (signed in when ``token``) that records requests leaving 127.0.0.1.

    The browser resolves no other host (``--host-resolver-rules``), so nothing leaves; routing
    is not used because it turns Chromium's HTTP cache off.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 850})
    context.on("request", record_outside)
    if base and token:
        context.add_cookies([{"name": "gridmap_session", "value": token, "url": base}])
    return context


def run_size(browser, n: int, with_naive: bool, workdir: Path) -> tuple[list[dict], dict | None]:
    """Build a city of ``n`` cases, serve it, measure the pages (and the naive page)."""
    grids = max(n // 10, 100)
    path = workdir / f"city_{n}.gpkg"
    began = time.perf_counter()
    store = open_store(path)
    build_synthetic(store, grids=grids, incidents=n)
    naive = naive_page(store) if with_naive else None
    store.close()
    print(
        f"  built {n:,} cases, {grids:,} grids in {time.perf_counter() - began:.1f} s", flush=True
    )
    rows = []
    for name, (path_q, ready) in PAGES.items():  # each page on a freshly started server
        base, process, token = serve(path)
        try:
            context = new_context(browser, base, token)
            warmup = context.new_page()  # the browser keeps the vendored files (max-age)
            for asset in ("leaflet-1.9.3/leaflet.js", "leaflet-1.9.3/leaflet.css"):
                warmup.goto(f"{base}/static/vendor/{asset}")
            warmup.close()
            cold = measure(context, base + path_q, ready)
            time.sleep(WARM_PAUSE_S)  # background reading started by the cold request ends
            again = [measure(context, base + path_q, ready) for _ in range(WARM_RUNS)]
            warm = min(again, key=lambda m: m["ready_ms"])
            rows.append({"page": name, "cases": n, "grids": grids, "cold": cold, "warm": warm})
            print(
                f"  {name}: {cold['bytes'] / 1e6:.2f} MB, ready cold {cold['ready_ms']:.0f} ms,"
                f" warm {warm['ready_ms']:.0f} ms",
                flush=True,
            )
            context.close()
        finally:
            process.terminate()
            process.wait(30)
    reference = None
    if naive is not None:
        url, stop = serve_naive(naive)
        try:
            context = new_context(browser)
            measure(context, url, NAIVE_READY.format(n=n))  # scripts into the browser's cache
            reference = measure(context, url, NAIVE_READY.format(n=n))
            context.close()
        finally:
            stop()
    return rows, reference


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="numbers of cases")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive reference")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    exe = shutil.which("chromium")
    if exe is None:
        print("Debian chromium is not installed (apt-get install chromium); nothing measured")
        return 1
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="bench_pages_"))
    rows: list[dict] = []
    reference = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=exe, headless=True, args=["--no-sandbox", NO_DNS]
            )
            for n in sizes:
                print(f"== {n:,} cases", flush=True)
                found, ref = run_size(browser, n, n == 10_000 and not args.no_naive, workdir)
                rows += found
                reference = reference or ref
            browser.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows, reference)
    if OUTSIDE:
        print(f"requests outside 127.0.0.1 (blocked): {OUTSIDE[:5]}")
        return 1
    return 0


def print_table(rows: list[dict], reference: dict | None) -> None:
    head = (
        f"{'page':<9} {'cases':>8} {'grids':>6} {'HTML MB':>8} {'server ms':>16} "
        f"{'ready ms':>16} {'size/naive':>10} {'ready/naive':>11}"
    )
    print()
    print(head)
    print(f"{'':<9} {'':>8} {'':>6} {'':>8} {'cold':>8}{'warm':>8} {'cold':>8}{'warm':>8}")
    print("-" * len(head))
    for r in rows:
        cold, warm = r["cold"], r["warm"]
        size_ratio = ready_ratio = "-"
        if reference:
            size_ratio = f"{cold['bytes'] / reference['bytes']:.2f}"
            ready_ratio = f"{warm['ready_ms'] / reference['ready_ms']:.2f}"
        print(
            f"{r['page']:<9} {r['cases']:>8,} {r['grids']:>6,} {cold['bytes'] / 1e6:>8.2f} "
            f"{cold['server_ms']:>8.0f}{warm['server_ms']:>8.0f} "
            f"{cold['ready_ms']:>8.0f}{warm['ready_ms']:>8.0f} {size_ratio:>10} {ready_ratio:>11}"
        )
    if reference:
        print(
            f"{'naive':<9} {10_000:>8,} {'-':>6} {reference['bytes'] / 1e6:>8.2f} "
            f"{reference['server_ms']:>8.0f}{'':>8} {reference['ready_ms']:>8.0f}{'':>8} "
            f"{1:>10.2f} {1:>11.2f}"
        )
    print(
        "\nready: navigation start to the map's layers drawn; cold: the first request to a"
        " freshly started server (which read a big store ahead before listening); warm: the"
        " page cache answers; naive: one folium.Marker per"
        " case (10,000 cases), ratios to its size and ready time."
    )


if __name__ == "__main__":
    sys.exit(main())
