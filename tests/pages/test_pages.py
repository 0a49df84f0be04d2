"""The role pages through the test client, over both stores: roles, sign-in, language, content."""

from __future__ import annotations

import re

import pytest

from gridmap import accounts
from tests.pages.conftest import PAYLOAD, REGISTERED

REMOTE = re.compile(r'(src|href)="https?://')
PAGES = ("/dispatch", "/coverage", "/heatmap")
ROLE_OF = {"/dispatch": "dispatcher", "/coverage": "planner", "/heatmap": "official"}
ESCAPED = "&lt;img src=x onerror="


def html(response) -> str:
    assert response.content_type.startswith("text/html"), response.content_type
    return response.get_data(as_text=True)


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    r = client.get(f"{path}?lang=en")
    assert r.status_code == 302
    assert r.headers["Location"] == f"/login?next={path.replace('/', '%2F')}%3Flang%3Den"


@pytest.mark.parametrize("path", PAGES)
def test_each_page_is_for_its_role_and_admins(client, city, bearer, path):
    assert client.get(path, headers=bearer(ROLE_OF[path])).status_code == 200
    assert client.get(path, headers=bearer("admin")).status_code == 200
    for role in {"dispatcher", "planner", "official"} - {ROLE_OF[path]}:
        r = client.get(f"{path}?lang=en", headers=bearer(role))
        assert r.status_code == 403
        assert "You may not open this page" in html(r)


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_offline_escaped_and_complete(client, city, bearer, path):
    page = html(client.get(f"{path}?lang=en", headers=bearer("admin")))
    assert not REMOTE.search(page)
    assert PAYLOAD not in page
    assert "evaluated" not in page and "block-ran" not in page  # no Jinja ran on user text
    assert page.count('id="gm-map"') == 1 and 'id="gm-panel"' in page
    assert "/static/vendor/leaflet-1.9.3/leaflet.js" in page
    assert "gm-legend" in page
    assert "OpenStreetMap" not in page  # no OSM data and no tiles in this city


def test_dispatch_page_escapes_the_payload_and_lists_urgent_cases(client, city, bearer):
    page = html(client.get("/dispatch?lang=en", headers=bearer("dispatcher")))
    assert "&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;" in page  # urgent list (Jinja)
    assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;&#36;&#123;" in page  # map
    assert 'id="gm-urgent"' in page and "I01" in page
    assert "Suggest assignments" in page and "Accept all" in page


def test_dispatch_filters_run_in_the_store(client, city, bearer):
    who = bearer("dispatcher")
    everything = html(client.get("/dispatch?lang=en", headers=who))
    assert "19 open cases" in everything  # 4 registered + 5 dispatched, handling, received each
    page = html(client.get("/dispatch?lang=en&status=registered", headers=who))
    assert "4 open cases" in page
    page = html(client.get("/dispatch?lang=en&status=registered&grid=11010100100101", headers=who))
    assert "2 open cases" in page and '"focus":[116.38,' in page
    page = html(client.get("/dispatch?lang=en&category=E0201", headers=who))
    assert "5 open cases" in page
    r = client.get("/dispatch?lang=en&category=NOPE", headers=who)
    assert r.status_code == 422 and "NOPE" in html(r)
    assert client.get("/dispatch?status=closed", headers=who).status_code == 422


def test_coverage_page_compares_before_and_after(client, city, bearer):
    who = bearer("planner")
    page = html(client.get("/coverage?lang=en", headers=who))
    assert 'id="gm-figures"' in page and "Population" in page and "Courier demand" in page
    assert 'id="gm-sites"' in page and "候选 B" in page and "mclp p=2" in page
    assert page.index("候选 B") < page.index("&lt;img src=x")  # rank 1 before rank 2
    assert '<option value="red_home" selected>' in page  # the siting run's kind by default
    after = html(client.get("/coverage?lang=en&scenario=after&kind=", headers=who))
    assert 'aria-current="true">After the suggested sites' in after
    assert client.get("/coverage?metric=nope", headers=who).status_code == 422


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_heatmap_page_has_periods_kpis_charts_and_hotspots(client, city, bearer, period):
    page = html(client.get(f"/heatmap?lang=en&period={period}", headers=bearer("official")))
    assert f"Period: last {period}" in page
    assert 'id="gm-hotspots"' in page or "No data" in page
    assert page.count('<svg class="gm-chart"') == 2
    assert "Incidents per day" in page and "Median closure time per day (hours)" in page
    assert "Closure rate" in page and "On-time rate" in page and "Overdue open" in page


def test_heatmap_options_are_checked(client, city, bearer):
    who = bearer("official")
    assert client.get("/heatmap?period=year", headers=who).status_code == 422
    assert client.get("/heatmap?kpi=nope", headers=who).status_code == 422
    page = html(client.get("/heatmap?lang=en&kpi=overdue_open", headers=who))
    assert '<option value="overdue_open" selected>' in page


def test_pages_work_on_an_empty_store(client, bearer):
    for path in PAGES:
        r = client.get(f"{path}?lang=en", headers=bearer("admin"))
        assert r.status_code == 200, (path, r.get_data(as_text=True)[:500])


@pytest.mark.parametrize(
    ("header", "lang", "word"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", "派遣台"),
        ("en-GB,en;q=0.9,zh;q=0.5", "en", "Dispatch"),
        ("fr-FR, zh;q=0.4", "zh-CN", "派遣台"),
        ("", "en", "Dispatch"),
    ],
)
def test_language_follows_the_browser(client, city, bearer, header, lang, word):
    page = html(
        client.get("/dispatch", headers={**bearer("dispatcher"), "Accept-Language": header})
    )
    assert f'<html lang="{lang}">' in page and word in page


def test_lang_parameter_wins_and_the_switch_link_keeps_the_query(client, city, bearer):
    headers = {**bearer("dispatcher"), "Accept-Language": "zh-CN"}
    page = html(client.get("/dispatch?lang=en&status=registered", headers=headers))
    assert '<html lang="en">' in page and "Open cases" in page
    assert 'href="/dispatch?lang=zh&amp;status=registered"' in page
    page = html(client.get("/dispatch?status=registered", headers=headers))
    assert 'href="/dispatch?status=registered&amp;lang=en"' in page and "在办" in page


def test_sign_in_sets_an_httponly_strict_cookie_that_opens_pages(client, city, store):
    accounts.create_user(store, "disp", "dispatcher", "password-1")
    page = html(client.get("/login?next=/dispatch%3Fstatus%3Dregistered&lang=en"))
    assert 'name="next" value="/dispatch?status=registered"' in page
    r = client.post("/login?lang=en", data={"name": "disp", "password": "wrong", "next": "/x"})
    assert r.status_code == 401 and "Wrong user name or password" in html(r)
    r = client.post(
        "/login?lang=en", data={"name": "disp", "password": "password-1", "next": "/dispatch"}
    )
    assert r.status_code == 303 and r.headers["Location"] == "/dispatch"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("gridmap_session=gms_")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert client.get("/dispatch").status_code == 200
    assert client.get("/api/me").json == {"name": "disp", "role": "dispatcher"}
    assert client.get("/login").status_code == 303  # signed in already: straight on
    r = client.post("/logout")
    assert r.status_code == 303 and "Max-Age=0" in r.headers["Set-Cookie"]
    assert client.get("/dispatch").status_code == 302


def test_sign_in_refuses_other_sites_and_foreign_next(client, city, store):
    accounts.create_user(store, "disp", "dispatcher", "password-1")
    form = {"name": "disp", "password": "password-1"}
    r = client.post("/login", data=form, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "Set-Cookie" not in r.headers
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = client.post("/login?lang=en", data={**form, "next": target})
        assert r.headers["Location"] == "/dispatch?lang=en"
    accounts.create_user(store, "someone", "citizen", "password-1")
    r = client.post("/login?lang=en", data={"name": "someone", "password": "password-1"})
    assert r.status_code == 403 and "has no map page" in html(r)


def test_the_cookie_changes_nothing_without_the_pages_header(client, city, store):
    accounts.create_user(store, "disp", "dispatcher", "password-1")
    client.post("/login", data={"name": "disp", "password": "password-1"})
    assert client.post("/api/dispatch", json={}).status_code == 401  # a cross-site form's view
    r = client.post("/api/dispatch", json={}, headers={"X-Requested-With": "GridMap"})
    assert r.status_code == 202


def test_a_stale_cookie_is_dropped(client, city):
    client.set_cookie("gridmap_session", "gms_expired", domain="localhost")
    r = client.get("/dispatch")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    assert "gridmap_session=;" in r.headers["Set-Cookie"] and "Max-Age=0" in r.headers["Set-Cookie"]
    assert client.get("/login").status_code == 200  # the browser dropped it
    client.set_cookie("gridmap_session", "gms_expired", domain="localhost")
    r = client.get("/login")
    assert r.status_code == 303 and "Max-Age=0" in r.headers["Set-Cookie"]


def test_suggestion_lines_give_both_ends(client, app, city, bearer):
    who = bearer("dispatcher")
    job = client.post("/api/dispatch", json={"now": "next-workday"}, headers=who).json
    app.extensions["gridmap"].jobs.wait(job["id"], 30)
    r = client.get(f"/dispatch/jobs/{job['id']}/lines?lang=en", headers=who)
    assert r.status_code == 200, r.json
    rows = r.json["rows"]
    assert {row["incident_id"] for row in rows} == set(REGISTERED)
    for row in rows:
        assert row["worker_id"] in ("W1", "W2") and row["category"] == "Exposed rubbish"
        assert len(row["from"]) == 2 and len(row["to"]) == 2
    assert (
        client.get(f"/dispatch/jobs/{job['id']}/lines", headers=bearer("admin")).status_code == 200
    )
    other = {"Authorization": who["Authorization"]}
    accounts.create_user(app.extensions["gridmap"].store, "other", "dispatcher", "password-1")
    token, _, _ = accounts.sign_in(app.extensions["gridmap"].store, "other", "password-1")
    other = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/dispatch/jobs/{job['id']}/lines", headers=other).status_code == 403
    assert client.get("/dispatch/jobs/nope/lines", headers=who).status_code == 404


def test_pages_follow_changes_to_the_store(client, city, bearer):
    who = bearer("admin")
    assert "4 open cases" in html(client.get("/dispatch?lang=en&status=registered", headers=who))
    before = html(client.get("/heatmap?lang=en&period=month&kpi=overdue_open", headers=who))
    city.transition("I00", "dispatch", actor="test", worker_id="W1")
    assert "3 open cases" in html(client.get("/dispatch?lang=en&status=registered", headers=who))
    after = html(client.get("/heatmap?lang=en&period=month&kpi=overdue_open", headers=who))
    assert before != after


def test_static_files_are_served(client):
    r = client.get("/static/vendor/leaflet-1.9.3/leaflet.js")
    assert r.status_code == 200 and b"Leaflet" in r.data[:2000]


def test_tiles_come_from_the_configuration_with_osm_attribution(make_app, bearer):
    app = make_app(tiles="https://tiles.example/{z}/{x}/{y}.png")
    client = app.test_client()
    store = app.extensions["gridmap"].store
    from tests.pages.conftest import fill_city

    fill_city(store)
    accounts.create_user(store, "adm", "admin", "password-1")
    token, _, _ = accounts.sign_in(store, "adm", "password-1")
    who = {"Authorization": f"Bearer {token}"}
    for path in PAGES:
        page = html(client.get(f"{path}?lang=en", headers=who))
        assert "https://tiles.example/{z}/{x}/{y}.png" in page
        assert '"attribution": "\\u00a9 OpenStreetMap contributors"' in page  # JSON-escaped ©
        assert not REMOTE.search(page)


def test_osm_data_is_attributed(client, city, bearer):
    who = bearer("admin")
    assert "OpenStreetMap contributors, ODbL" not in html(client.get("/heatmap", headers=who))
    city.set_layer_info(
        "grids", description="(c) OpenStreetMap contributors, ODbL", simulated=False
    )
    for path in PAGES:
        assert "OpenStreetMap contributors, ODbL" in html(client.get(path, headers=who))


def test_login_with_a_refused_bearer_header_shows_the_form_not_a_loop(client):
    r = client.get("/login", headers={"Authorization": "Bearer gms_not-a-session"})
    assert r.status_code == 401
    assert "<form" in r.get_data(as_text=True)
    stale = client.get("/login", headers={"Cookie": "gridmap_session=gms_gone"})
    assert stale.status_code in (200, 303)
