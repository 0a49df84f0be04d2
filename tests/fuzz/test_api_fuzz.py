"""Schema-driven fuzzing of the JSON API and Open311 from the served OpenAPI description.

schemathesis loads ``GET /openapi.json`` from the running service (the app on waitress on
127.0.0.1, as ``gridmap serve`` runs it) and generates requests for every operation: requests
the schema allows and requests that break it (wrong types, missing fields, values out of range).
Each goes out with the credentials of a role (or none, a wrong token, an API key), its path
parameters often steered to rows that exist so that the handlers get past their 404s. What must
hold, over both stores:

* no response is a 5xx, and the service logs no internal error;
* a refused write (4xx) changes no row: not the row counts of any table (counted straight from
  the database), not the incident or feature the path names;
* an Open311 report that answers 201 adds its incident and intake record and nothing else, a
  repeat (200) adds nothing; a workflow action that answers 200 adds one history entry and
  bumps the incident's version;
* no background job started by the fuzz fails with an internal error.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pytest
import requests
import schemathesis
import waitress
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.errors import SerializationNotPossible
from shapely.geometry import LineString, Point, box, mapping

from gridmap import accounts
from gridmap.catalog import categories
from gridmap.model import LAYERS, ROLES
from gridmap.workflow import allowed_actions
from tests.conftest import random_incidents, square_grids
from web.app import create_app
from web.config import Config

#: Requests per store: the GeoPackage run sends at least 10,000; PostGIS a smaller run, a tenth
#: of that, to keep the suite within its time. The GeoPackage run is cut into parts (tests of
#: their own) that xdist runs side by side.
MINIMUM = {"gpkg": 10_000, "postgis": 1_000}
SCALE = {"gpkg": 1.0, "postgis": 0.1}
PARTS = {"gpkg": 4, "postgis": 1}
RUNS = [
    pytest.param(store, part, id=f"{store}-{part + 1}of{PARTS[store]}", marks=marks)
    for store, marks in (("gpkg", ()), ("postgis", pytest.mark.postgis))
    for part in range(PARTS[store])
]
#: Cases drawn per operation, scaled per store. Examples that a strategy gives up on half-way
#: (their requests sent all the same) do not count: some 25% more requests go out.
BUDGET = {
    "POST /open311/v2/requests.{fmt}": 1300,
    "POST /api/incidents/{incident_id}/actions": 1100,
    "GET /collections/{layer}/items": 650,
    "POST /collections/{layer}/items": 400,
    "PATCH /collections/{layer}/items/{item_id}": 300,
    "DELETE /collections/{layer}/items/{item_id}": 250,
    "GET /open311/v2/requests.{fmt}": 250,
    "POST /api/login": 120,
    "POST /api/logout": 60,
    "GET /": 20,
    "GET /conformance": 20,
    "GET /collections": 40,
    "GET /api/workflow": 20,
    "GET /openapi.json": 20,
}
DEFAULT_BUDGET = 225
#: How much dearer than most a request of these operations is (to balance the parts).
COST = {
    "POST /api/logout": 3.0,  # each one signs in again (scrypt)
    "PATCH /collections/{layer}/items/{item_id}": 2.5,
    "POST /api/siting": 2.5,
    "GET /open311/v2/requests.{fmt}": 2.0,
    "POST /collections/{layer}/items": 1.8,
    "GET /api/kpi.csv": 1.6,
    "GET /api/kpi": 1.4,
    "POST /open311/v2/requests.{fmt}": 1.4,
}
CASES_PER_EXAMPLE = 10  # requests drawn per hypothesis example (fewer, cheaper examples)
#: Who a request comes from: a role's signed-in user, an Open311 API key (as a bearer token), a
#: wrong token, nobody, or whatever Authorization header schemathesis generated.
IDENTITIES = ("anonymous", "wrong token", "generated", "api key", *ROLES)
WRITES = ("POST", "PATCH", "DELETE")
GEOMETRIES = {
    "Point": Point(116.39, 39.885),
    "LineString": LineString([(116.39, 39.885), (116.395, 39.88)]),
    "MultiPolygon": box(116.38, 39.87, 116.385, 39.875),
}
#: The modules of the JSON API, OGC API - Features and Open311 (not the HTML pages).
API_MODULES = {
    f"web.{name}"
    for name in ("accounts_api", "cases", "editing", "kpi_api", "ogcapi", "open311", "openapi")
}


# -- the service ---------------------------------------------------------------------------------
def seed(store) -> dict[str, list[str]]:
    """Fill a fresh store with a small city; return the keys of each layer."""
    grids = square_grids(3)
    store.insert("grids", grids)
    store.insert("incidents", random_incidents(40, grids, seed=8))
    x0, y0 = 116.385, 39.885
    store.insert(
        "workers",
        gpd.GeoDataFrame(
            {
                "id": ["W1", "W2", "W3"],
                "name": ["甲", "乙", "丙"],
                "grid_codes": [grids["code"].tolist()[:3], grids["code"].tolist()[3:], []],
                "skills": [["sanitation"], ["traffic", "sanitation"], []],
            },
            geometry=[Point(x0, y0), Point(x0 + 0.01, y0), None],
            crs="EPSG:4326",
        ),
    )
    points = [Point(x0 + 0.003 * i, y0 - 0.002 * i) for i in range(4)]
    store.insert(
        "stations",
        gpd.GeoDataFrame(
            {"id": ["S1", "S2"], "kind": ["red_home", "public_toilet"]}, geometry=points[:2]
        ).set_crs("EPSG:4326"),
    )
    store.insert(
        "sites",
        gpd.GeoDataFrame(
            {"id": [f"C{i}" for i in range(4)], "kind": ["red_home"] * 4}, geometry=points
        ).set_crs("EPSG:4326"),
    )
    store.insert(
        "demand",
        gpd.GeoDataFrame(
            {"id": ["D1", "D2", "D3"], "kind": ["residential", "courier", "incident"]},
            geometry=points[1:],
        ).set_crs("EPSG:4326"),
    )
    store.insert(
        "roads",
        gpd.GeoDataFrame(
            {"id": ["R1", "R2"], "u": ["a", "b"], "v": ["b", "c"]},
            geometry=[LineString(points[:2]), LineString(points[1:3])],
        ).set_crs("EPSG:4326"),
    )
    incidents = store.read("incidents")["id"].tolist()
    # cases in every state, so that each workflow action meets a case it applies to
    for i, path in enumerate(
        [
            ["register"],
            ["reject"],
            ["register", "dispatch"],
            ["register", "dispatch", "accept"],
            ["register", "dispatch", "accept", "resolve"],
            ["register", "dispatch", "accept", "resolve", "close"],
        ]
        * 3
    ):
        for action in path:
            worker = "W1" if action == "dispatch" else None
            store.transition(incidents[i], action, actor="seed", worker_id=worker)
    return {name: store.read(name)[spec.key].astype(str).tolist() for name, spec in LAYERS.items()}


@dataclass
class Service:
    """The running service, its store, and what the fuzz knows of it (keys, tokens, jobs)."""

    app: Any
    store: Any
    base_url: str
    keys: dict[str, list[str]]
    api_key: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)
    tokens: list[str] = field(default_factory=list)  # Open311 request tokens
    jobs: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=lambda: ["nobody"])  # ones the fuzz may delete

    def sign_in(self, role: str) -> None:
        token, _, _ = accounts.sign_in(self.store, f"fuzz-{role}", "password-1")
        self.headers[role] = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, role: str, **kwargs: Any) -> requests.Response:
        response = self.session.post(self.base_url + path, headers=self.headers[role], **kwargs)
        assert response.status_code < 300, response.text
        return response


@pytest.fixture
def service(store_url) -> Iterator[Service]:
    app = create_app(Config(store=store_url, job_seconds=0.3))
    ctx = app.extensions["gridmap"]
    keys = seed(ctx.store)
    for role in ROLES:
        accounts.create_user(ctx.store, f"fuzz-{role}", role, "password-1")
    api_key = accounts.create_key(ctx.store, "citizen")
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4, ident="gridmap")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    svc = Service(app, ctx.store, f"http://127.0.0.1:{server.effective_port}", keys, api_key)
    for role in ROLES:
        svc.sign_in(role)
    svc.headers["anonymous"] = svc.headers["generated"] = {}
    svc.headers["wrong token"] = {"Authorization": "Bearer not-a-token"}
    svc.headers["api key"] = {"Authorization": f"Bearer {api_key}"}
    # a few reports and finished runs, so that the token and job endpoints meet real ones
    for i in range(3):
        form = {
            "api_key": api_key,
            "service_code": "E0102",
            "lat": 39.885,
            "long": 116.39 + i / 1e3,
        }
        reply = svc.post("/open311/v2/requests.json", "anonymous", data=form).json()[0]
        svc.tokens.append(reply["token"])
        svc.keys["incidents"].append(reply["service_request_id"])
    for name in ("spare-1", "spare-2", "spare-3"):  # accounts the fuzz may delete
        accounts.create_user(ctx.store, name, "citizen", "password-1")
        svc.accounts.append(name)
    svc.jobs.append(svc.post("/api/dispatch", "dispatcher", json={}).json()["id"])
    siting = {"model": "mclp", "kind": "red_home", "p": 2, "demand": "population"}
    svc.jobs.append(svc.post("/api/siting", "planner", json=siting).json()["id"])
    for job in svc.jobs:
        ctx.jobs.wait(job, timeout=30)
    yield svc
    svc.session.close()  # its kept-alive connections would hold the server's loop
    server.close()
    thread.join(timeout=5)
    ctx.jobs.shutdown()
    ctx.store.close()


class InternalErrors(logging.Handler):
    """Keep the service's error log records (its 500 handler writes one, and so would waitress)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))


# -- steering ------------------------------------------------------------------------------------
def named_row(case) -> tuple[str, str, str] | None:
    """Return the table, key column and key of the row a write's path names, if any."""
    params = case.path_parameters or {}
    if "incident_id" in params:
        return "incidents", "id", str(params["incident_id"])
    if "item_id" in params and params.get("layer") in LAYERS:
        layer = LAYERS[params["layer"]]
        return layer.name, layer.key, str(params["item_id"])
    return None


@dataclass
class Fuzz:
    """One store's fuzz run: the service, what it was sent, and what went wrong."""

    svc: Service
    counts: Any
    roles: dict[str, tuple[str, ...] | None]
    sent: int = 0
    unsendable: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    by_operation: dict[str, Counter] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    rejected_writes: int = 0
    partial_writes: int = 0

    def steer(self, case, draw) -> str:
        """Aim a case at what exists (often); return the identity to send it as.

        Path parameters are pointed at known rows, tokens and jobs, workflow actions at ones the
        incident's state allows, report forms at the API key, features at the layer's type.
        The pools grow as the service answers, so every draw here has a fixed range whatever
        the pool holds: hypothesis sees the same draws. Hypothesis favours the first choice
        (0, False): the useful one comes first.
        """
        svc = self.svc
        params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
        body = case.body if isinstance(case.body, dict) else {}
        layer = params.get("layer") if params.get("layer") in LAYERS else "incidents"
        known = {
            "incident_id": svc.keys["incidents"],
            "request_id": svc.keys["incidents"],
            "item_id": svc.keys[layer],
            "job_id": svc.jobs,
            "token": svc.tokens,
            "code": sorted(categories())[:20],
            "name": svc.accounts,
        }
        steered = draw(st.integers(0, 3)) < 3
        for name in sorted(params):
            index = draw(st.integers(0, 10**6))
            if steered and known.get(name):
                params[name] = known[name][index % len(known[name])]
        if str(params.get("name", "")).startswith("fuzz-"):
            params["name"] = "nobody"  # never delete the fuzz's own users
        if "api_key" in body and draw(st.integers(0, 4)) < 4:
            body["api_key"] = svc.api_key
            body.pop("jurisdiction_id", None)
        if "action" in body and draw(st.integers(0, 2)) < 2:
            self.plausible_action(params.get("incident_id"), body, draw)
        if body.get("type") == "Feature" and draw(st.integers(0, 2)) == 0:
            # a feature keyed and shaped for its layer, in the city
            if isinstance(body.get("properties"), dict):
                body["properties"][LAYERS[layer].key] = f"fz{draw(st.integers(0, 10**6))}"
            body["geometry"] = mapping(GEOMETRIES[LAYERS[layer].geometry])
        if "model" in body and draw(st.integers(0, 2)) < 2:  # a siting run the city can meet
            body.update(kind="red_home", demand=draw(st.sampled_from(["population", "courier"])))
            body["p"] = None if body["model"] == "lscp" else draw(st.integers(1, 3))
        if "password" in body and draw(st.integers(0, 2)) == 0:
            body.update(name=f"fuzz-{draw(st.sampled_from(ROLES))}", password="password-1")
        if case.operation.label == "GET /collections/{layer}/items" and draw(st.booleans()):
            name = draw(st.sampled_from([f.name for f in LAYERS[layer].fields]))
            value = draw(st.text(max_size=8) | st.integers().map(str) | st.floats().map(str))
            case.query = {**(case.query or {}), name: value}
        allowed = self.roles.get(case.operation.label)
        first = [*allowed, "admin"] if allowed else ["anonymous", "api key"]
        return draw(st.sampled_from([*first, *(i for i in IDENTITIES if i not in first)]))

    def plausible_action(self, incident: object, body: dict[str, Any], draw) -> None:
        """Make a workflow action one the incident's state allows, with what it needs."""
        index = draw(st.integers(0, 10**6))
        row = self.counts.row("incidents", "id", str(incident)) if incident else None
        actions = allowed_actions(row["status"]) if row else []
        if actions:
            body["action"] = actions[index % len(actions)]
            body["worker_id"] = ["W1", "W2", "W3"][index % 3]
            body["deadline"] = "2099-01-01T00:00:00+08:00"

    def send(self, case, who: str) -> None:
        label = case.operation.label
        write = case.method.upper() in WRITES
        target = named_row(case) if write else None
        before = self.counts() if write else None
        row_before = self.counts.row(*target) if target else None
        try:
            request = case.as_transport_kwargs(self.svc.base_url)
            # schemathesis leaves out every Authorization header (ours too) from the negative
            # cases that drop theirs: the identity's header goes on after it serialised the case
            if who != "generated":
                request["headers"] = {
                    **{k: v for k, v in request["headers"].items() if k.lower() != "authorization"},
                    **self.svc.headers[who],
                }
            response = self.svc.session.request(**request, allow_redirects=False, timeout=60)
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL) as exc:
            self.unsendable[type(exc).__name__] += 1  # refused by the client, never sent
            return
        except (UnicodeEncodeError, ValueError, SerializationNotPossible) as exc:
            self.unsendable[type(exc).__name__] += 1
            return
        self.sent += 1
        status = response.status_code
        self.statuses[status] += 1
        self.by_operation.setdefault(label, Counter())[status] += 1
        if status >= 500:
            self.fail(case, who, f"{status}: {response.text[:300]}")
        if write:
            self.check_write(case, who, response, before, row_before)
        self.learn(case, who, response)

    def check_write(self, case, who: str, response, before, row_before) -> None:
        """Check what a write changed: nothing when refused, exactly its rows when done."""
        status, target = response.status_code, named_row(case)
        after = self.counts()
        change = {k: after[k] - before[k] for k in after if after[k] != before[k]}
        if status >= 400:  # refused (or failed): nothing may have changed
            self.rejected_writes += 1
            row_after = self.counts.row(*target) if target else None
            if change or row_after != row_before:
                self.partial_writes += 1
                self.fail(case, who, f"refused with {status} yet wrote {change or row_after}")
            return
        expected = self.expected_change(case, who, status)
        if expected is not None and change != expected:
            self.fail(case, who, f"{status} changed {change}, expected {expected}")
        if case.operation.label.endswith("/actions") and status == 200 and row_before:
            version = int(row_before["version"])
            if response.json().get("version") != version + 1:
                self.fail(case, who, f"version {version} -> {response.json().get('version')}")

    def expected_change(self, case, who: str, status: int) -> dict[str, int] | None:
        """Return how a successful write changes the row counts (None: not checked)."""
        label = case.operation.label
        layer = (case.path_parameters or {}).get("layer")
        return {
            "POST /open311/v2/requests.{fmt}": {"incidents": 1, "requests": 1}
            if status == 201
            else {},
            "POST /api/incidents/{incident_id}/actions": {"incident_history": 1},
            "POST /collections/{layer}/items": {layer: 1},
            "PATCH /collections/{layer}/items/{item_id}": {},
            "DELETE /collections/{layer}/items/{item_id}": {layer: -1},
            "POST /api/dispatch": {},
            "POST /api/siting": {},
            "POST /api/login": {"sessions": 1},
            "POST /api/logout": {"sessions": -1} if who in ROLES else {},
            "POST /api/accounts": {"accounts": 1},
        }.get(label)

    def learn(self, case, who: str, response) -> None:
        """Remember jobs, tokens and accounts the service handed out; sign in again after logout."""
        label, status, svc = case.operation.label, response.status_code, self.svc
        if status == 202:
            svc.jobs.append(response.json()["id"])
        elif label == "POST /open311/v2/requests.{fmt}" and status in (200, 201):
            if case.path_parameters.get("fmt") == "json":
                svc.tokens.append(response.json()[0]["token"])
                svc.keys["incidents"].append(response.json()[0]["service_request_id"])
        elif label == "POST /api/accounts" and status == 201:
            if response.json().get("kind") == "user":
                svc.accounts.append(response.json()["name"])
        elif label == "POST /api/logout" and status == 204 and who in ROLES:
            svc.sign_in(who)

    def fail(self, case, who: str, what: str) -> None:
        self.failures.append(f"{case.operation.label} as {who}: {what}\n  {case.as_curl_command()}")


# -- the test ------------------------------------------------------------------------------------
def budget(operation, backend: str) -> int:
    return math.ceil(BUDGET.get(operation.label, DEFAULT_BUDGET) * SCALE[backend])


def share(operations: list, backend: str, part: int) -> list:
    """Return the operations of one part: dealt out so that the parts take about as long."""

    def weight(op) -> float:
        return budget(op, backend) * COST.get(op.label, 1.0)

    loads = [0.0] * PARTS[backend]
    mine = []
    for operation in sorted(operations, key=lambda op: (-weight(op), op.label)):
        lightest = loads.index(min(loads))
        loads[lightest] += weight(operation)
        if lightest == part:
            mine.append(operation)
    return mine


def strategies(operation) -> st.SearchStrategy:
    """Cases the schema allows (mostly) and cases that break it (operations with inputs)."""
    positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    has_input = operation.path_parameters or operation.query or operation.body
    if not has_input:
        return positive
    negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    return st.one_of(positive, positive, negative)


def run_operation(fuzz: Fuzz, cases: st.SearchStrategy, budget: int) -> None:
    """Send about ``budget`` cases of one operation, drawn by hypothesis (reproducibly)."""

    @settings(
        max_examples=math.ceil(budget / CASES_PER_EXAMPLE),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz_operation(data):
        for _ in range(CASES_PER_EXAMPLE):
            case = data.draw(cases)
            fuzz.send(case, fuzz.steer(case, data.draw))

    fuzz_operation()


@pytest.mark.slow
@pytest.mark.parametrize(("store_url", "part"), RUNS, indirect=["store_url"])
def test_api_answers_every_generated_request_without_5xx_or_partial_writes(
    service, store_url, row_counts, record, request, part
):
    backend = request.node.callspec.params["store_url"]
    schema = schemathesis.openapi.from_url(f"{service.base_url}/openapi.json")
    routes = service.app.extensions["gridmap"].routes
    roles = {
        f"{r.method} {r.path.replace('<', '{').replace('>', '}')}": r.roles
        for r in routes
        if r.handler.__module__ in API_MODULES  # the HTML pages are not part of this fuzz
    }
    fuzz = Fuzz(service, row_counts(store_url), roles)
    errors = InternalErrors()
    for log in (logging.getLogger("gridmap.web"), logging.getLogger("waitress")):
        log.addHandler(errors)
        request.addfinalizer(lambda log=log: log.removeHandler(errors))
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.label in roles]
    assert len(operations) >= 30, [op.label for op in operations]
    everything = sum(budget(op, backend) for op in operations)
    operations = share(operations, backend, part)
    mine = sum(budget(op, backend) for op in operations)
    for operation in operations:
        run_operation(fuzz, strategies(operation), budget(operation, backend))

    ctx = service.app.extensions["gridmap"]
    job_errors = [
        f"{job.kind} job {job.id}: {job.error}"
        for job in (ctx.jobs.wait(job_id, timeout=30) for job_id in service.jobs)
        if job.error.startswith("internal error")
    ]
    figures = {
        "store": backend,
        "requests_sent": fuzz.sent,
        "unsendable_cases": dict(fuzz.unsendable),
        "statuses": {str(k): v for k, v in sorted(fuzz.statuses.items())},
        "responses_5xx": sum(v for k, v in fuzz.statuses.items() if k >= 500),
        "internal_errors_logged": len(errors.messages),
        "rejected_writes_checked": fuzz.rejected_writes,
        "partial_writes": fuzz.partial_writes,
        "jobs_started": len(service.jobs),
        "jobs_failed_internally": len(job_errors),
        "operations": len(operations),
        "by_operation": {
            label: {str(k): v for k, v in sorted(c.items())}
            for label, c in sorted(fuzz.by_operation.items())
        },
    }
    record(f"api_fuzz[{backend}, part {part + 1} of {PARTS[backend]}]", figures)
    problems = fuzz.failures + errors.messages + job_errors
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:30])
    # the parts' minimums, in proportion to their budgets, add up to the store's minimum
    assert fuzz.sent >= MINIMUM[backend] * mine / everything, figures
