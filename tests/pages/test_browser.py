"""The role pages in headless Chromium, served by the real app from a thread on 127.0.0.1.

Each test signs in through ``/login``, opens its page with every request leaving 127.0.0.1
blocked (and recorded), and checks: no console error or page error, nothing requested outside,
the layers and legend drawn, user text inert. The dispatcher accepts suggestions and the store
changes. Screenshots go to ``artifacts/pages_*.png``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from gridmap import accounts
from tests.pages.conftest import PAYLOAD, REGISTERED, fill_city
from web.app import create_app
from web.config import Config

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PASSWORD = "password-1"
POKE = """() => {
    const targets = document.querySelectorAll(
        "#gm-map path.leaflet-interactive, #gm-map .leaflet-marker-icon");
    for (const el of targets) {
        for (const type of ["mouseover", "mousemove", "click"]) {
            el.dispatchEvent(new MouseEvent(type, {bubbles: true, cancelable: true, view: window,
                                                   clientX: 300, clientY: 300}));
        }
    }
    return targets.length;
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """The app over a filled GeoPackage, served from a thread; one user per role."""
    path = tmp_path_factory.mktemp("pages") / "city.gpkg"
    app = create_app(Config(store=str(path)))
    ctx = app.extensions["gridmap"]
    fill_city(ctx.store)
    for role in ("dispatcher", "planner", "official", "admin"):
        accounts.create_user(ctx.store, role, role, PASSWORD)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", store=ctx.store)
    server.shutdown()
    thread.join()
    ctx.jobs.shutdown()
    ctx.store.close()


@pytest.fixture
def visit(chromium, site):
    """Return ``visit(role, path) -> (page, errors, outside)``: sign in, then open ``path``."""
    contexts = []

    def open_(role: str, path: str):
        context = chromium.new_context(viewport={"width": 1400, "height": 850}, locale="en-GB")
        contexts.append(context)
        errors: list[str] = []
        outside: list[str] = []

        def route(r) -> None:
            url = r.request.url
            if url.startswith("data:") or urlsplit(url).hostname == "127.0.0.1":
                r.continue_()
            else:
                outside.append(url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        page.goto(f"{site.url}/login?next={quote(path)}")
        page.fill("#gm-name", role)
        page.fill("#gm-password", PASSWORD)
        page.click("#gm-login button[type=submit]")
        page.wait_for_selector("html[data-ready='1']")
        assert page.url == site.url + path
        return page, errors, outside

    yield open_
    for context in contexts:
        context.close()


def poke(page) -> int:
    count = page.evaluate(POKE)
    page.mouse.move(500, 400)
    page.wait_for_timeout(100)
    return count


def assert_clean(page, errors, outside) -> None:
    assert errors == []
    assert outside == []
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src='x']").count() == 0


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"pages_{name}.png"))


def test_dispatcher_suggests_and_accepts(visit, site):
    page, errors, outside = visit("dispatcher", "/dispatch?lang=en")
    # 9 grids + 19 open cases (circles); 2 workers as badges; the legend.
    assert page.locator("#gm-map path.leaflet-interactive").count() == 9 + 19
    assert page.locator("#gm-map .leaflet-marker-icon").count() == 2
    assert "Overdue" in page.locator(".gm-legend").inner_text()
    assert poke(page) > 0

    page.locator("#gm-urgent li", has_text="I01").locator(".gm-details").click()
    expect(page.locator("#gm-detail dd").first).to_have_text("I01")
    assert PAYLOAD in page.locator("#gm-detail").inner_text()  # shown as text
    assert "History" in page.locator("#gm-detail").inner_text()

    page.select_option("#gm-plan-at", "next-workday")
    page.click("#gm-suggest")
    page.wait_for_selector("html[data-suggestions='4']")
    assert page.locator("path.gm-suggestion").count() == 4
    first = page.locator("#gm-suggestions li").first
    incident_id = first.get_attribute("data-incident")
    worker_id = first.locator("input").input_value()
    first.locator(".gm-accept").click()
    first.locator(".gm-done").wait_for()
    row = site.store.get("incidents", incident_id)
    assert (row["status"], row["worker_id"]) == ("dispatched", worker_id)

    page.click("#gm-accept-all")
    page.wait_for_function("document.querySelectorAll('#gm-suggestions .gm-done').length === 4")
    assert {site.store.get("incidents", i)["status"] for i in REGISTERED} == {"dispatched"}
    assert_clean(page, errors, outside)
    screenshot(page, "dispatch")


def test_planner_sees_coverage_and_sites(visit, site):
    page, errors, outside = visit("planner", "/coverage?lang=en")
    assert page.locator("#gm-map path.leaflet-interactive").count() >= 9 + 1  # grids, stations
    assert page.locator("#gm-map .leaflet-marker-icon").count() == 2  # ranked sites
    assert page.locator("#gm-map .legend svg").count() > 0  # branca colour scale (d3)
    assert "Suggested sites" in page.locator(".gm-legend").inner_text()
    assert page.locator("#gm-sites tr").count() == 1 + 2
    assert "Population" in page.locator("#gm-figures").inner_text()
    screenshot(page, "coverage")
    poke(page)
    assert PAYLOAD in page.locator("#gm-sites").inner_text()
    assert_clean(page, errors, outside)


def test_official_sees_heat_kpis_trends_and_hotspots(visit, site):
    page, errors, outside = visit("official", "/heatmap?lang=en&period=month")
    assert page.locator("#gm-map path.leaflet-interactive").count() == 9
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert page.locator("#gm-map .legend svg").count() > 0  # KPI colour scale
    assert "Hotspot grids" in page.locator(".gm-legend").inner_text()
    assert page.locator("svg.gm-chart").count() == 2
    assert page.locator("#gm-hotspots tr").count() > 1
    screenshot(page, "heatmap")
    poke(page)
    assert_clean(page, errors, outside)
    page.goto(f"{site.url}/dispatch?lang=en")  # not for this role
    assert "You may not open this page" in page.locator("h1").inner_text()
