"""The case workflow API: detail and history, legal and illegal actions, dispatch runs."""

from __future__ import annotations

import time

import geopandas as gpd
import pytest

from tests.conftest import square_grids
from tests.dispatch_helpers import TUESDAY, incident, worker


@pytest.fixture
def cases(store):
    store.insert("grids", square_grids(3))
    store.insert(
        "workers",
        gpd.GeoDataFrame(
            [worker("W1", [0, 1], ["sanitation"]), worker("W2", [2], ["sanitation"])],
            crs="EPSG:4326",
        ),
    )
    rows = [incident(f"I{i}", "E0102", grid=i % 3, status="registered") for i in range(4)]
    rows.append(incident("I9", "E0102", grid=0, status="received"))
    store.insert("incidents", gpd.GeoDataFrame(rows, crs="EPSG:4326"))
    return store


def act(client, headers, incident_id, **body):
    return client.post(f"/api/incidents/{incident_id}/actions", json=body, headers=headers)


def test_incident_detail_shows_history_and_allowed_actions(client, cases, bearer):
    r = client.get("/api/incidents/I9", headers=bearer("official"))
    assert r.status_code == 200
    body = r.json
    assert body["status"] == "received"
    assert body["allowed_actions"] == ["register", "reject"]
    assert [h["action"] for h in body["history"]] == ["report"]
    assert client.get("/api/incidents/NOPE", headers=bearer("official")).status_code == 404


def test_reporter_contact_only_for_roles_that_may_read_it(client, store, bearer):
    store.insert("grids", square_grids(1))
    from shapely.geometry import Point

    done = store.intake(
        {"category": "E0102", "description": "垃圾", "geometry": Point(116.385, 39.895)},
        {"email": "a@example.cn", "phone": "13800000000"},
    )
    url = f"/api/incidents/{done.incident_id}"
    assert client.get(url, headers=bearer("dispatcher")).json["reporter"]["phone"] == "13800000000"
    assert "reporter" not in client.get(url, headers=bearer("planner")).json
    assert client.get(url).status_code == 401


def test_legal_path_to_closed_records_every_step(client, cases, bearer):
    who = bearer("dispatcher")
    for action, extra in [
        ("register", {}),
        ("dispatch", {"worker_id": "W1"}),
        ("accept", {}),
        ("resolve", {"note": "cleaned"}),
        ("rework", {"note": "still dirty"}),
        ("resolve", {}),
        ("close", {}),
    ]:
        r = act(client, who, "I9", action=action, **extra)
        assert r.status_code == 200, r.json
    body = client.get("/api/incidents/I9", headers=who).json
    assert body["status"] == "closed" and body["worker_id"] == "W1"
    steps = [(h["action"], h["actor"]) for h in body["history"][1:]]
    assert steps == [
        (a, "dispatcher-user")
        for a in ["register", "dispatch", "accept", "resolve", "rework", "resolve", "close"]
    ]
    assert body["history"][4]["note"] == "cleaned"


def test_illegal_action_is_409_listing_the_allowed_ones(client, cases, bearer):
    r = act(client, bearer("dispatcher"), "I9", action="close")
    assert r.status_code == 409
    assert "register" in r.json["description"] and "reject" in r.json["description"]
    assert (
        client.get("/api/incidents/I9", headers=bearer("dispatcher")).json["status"] == "received"
    )


def test_stale_version_is_409_and_changes_nothing(client, cases, bearer):
    who = bearer("dispatcher")
    version = client.get("/api/incidents/I0", headers=who).json["version"]
    assert (
        act(
            client, who, "I0", action="dispatch", worker_id="W1", expected_version=version
        ).status_code
        == 200
    )
    stale = act(client, who, "I0", action="return", expected_version=version)
    assert stale.status_code == 409
    assert client.get("/api/incidents/I0", headers=who).json["worker_id"] == "W1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "fly"}, "action"),
        ({"action": "dispatch", "worker_id": 7}, "worker_id"),
        ({"action": "register", "expected_version": "one"}, "expected_version"),
        ({"action": "register", "colour": "red"}, "colour"),
        ({"action": "extend", "deadline": "tomorrow"}, "deadline"),
    ],
)
def test_bad_action_bodies_name_the_field(client, cases, bearer, body, field):
    r = client.post("/api/incidents/I9/actions", json=body, headers=bearer("dispatcher"))
    assert r.status_code in (400, 422)
    assert field in r.json["description"]
    assert client.get("/api/incidents/I9", headers=bearer("dispatcher")).json["version"] == 1


def test_only_dispatchers_act(client, cases, bearer):
    assert act(client, {}, "I9", action="register").status_code == 401
    for role in ("planner", "official", "citizen"):
        assert act(client, bearer(role), "I9", action="register").status_code == 403
    assert act(client, bearer("admin"), "I9", action="register").status_code == 200


def run_dispatch(client, who):
    r = client.post("/api/dispatch", json={"now": TUESDAY}, headers=who)
    assert r.status_code == 202, r.json
    job = r.json
    for _ in range(500):
        job = client.get(f"/api/jobs/{job['id']}", headers=who).json
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.02)
    assert job["status"] == "done", job
    return job


def test_dispatch_job_suggests_then_dispatcher_accepts_all(client, cases, bearer):
    who = bearer("dispatcher")
    job = run_dispatch(client, who)
    result = job["result"]
    assert result["summary"]["status"] in ("OPTIMAL", "FEASIBLE")
    assert {"objective", "bound", "gap"} <= set(result["summary"])
    suggested = {s["incident_id"]: s["worker_id"] for s in result["suggestions"]}
    assert set(suggested) == {"I0", "I1", "I2", "I3"}
    r = client.post(f"/api/jobs/{job['id']}/accept", headers=who)
    assert r.status_code == 200 and sorted(r.json["dispatched"]) == sorted(suggested)
    for incident_id, worker_id in suggested.items():
        row = cases.get("incidents", incident_id)
        assert (row["status"], row["worker_id"]) == ("dispatched", worker_id)


def test_dispatcher_overrides_one_suggestion(client, cases, bearer):
    who = bearer("dispatcher")
    job = run_dispatch(client, who)
    first = job["result"]["suggestions"][0]
    other = "W2" if first["worker_id"] == "W1" else "W1"
    r = client.post(
        f"/api/jobs/{job['id']}/accept",
        json={"assignments": [{"incident_id": first["incident_id"], "worker_id": other}]},
        headers=who,
    )
    assert r.json["dispatched"] == [first["incident_id"]]
    assert cases.get("incidents", first["incident_id"])["worker_id"] == other
    untouched = job["result"]["suggestions"][1]["incident_id"]
    assert cases.get("incidents", untouched)["status"] == "registered"


def test_accepting_after_a_change_reports_the_conflict(client, cases, bearer):
    who = bearer("dispatcher")
    job = run_dispatch(client, who)
    first = job["result"]["suggestions"][0]["incident_id"]
    assert act(client, who, first, action="dispatch", worker_id="W2").status_code == 200
    r = client.post(f"/api/jobs/{job['id']}/accept", headers=who)
    assert [c["incident_id"] for c in r.json["conflicts"]] == [first]


def test_jobs_are_private_to_their_owner(client, cases, bearer, store):
    job = run_dispatch(client, bearer("dispatcher"))
    from gridmap import accounts

    accounts.create_user(store, "other", "dispatcher", "password-2")
    token, _, _ = accounts.sign_in(store, "other", "password-2")
    other = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/jobs/{job['id']}", headers=other).status_code == 403
    assert client.get(f"/api/jobs/{job['id']}", headers=bearer("official")).status_code == 200
    assert client.get("/api/jobs/nope", headers=other).status_code == 404


def test_accept_refuses_malformed_assignments(client, cases, bearer):
    who = bearer("dispatcher")
    job = run_dispatch(client, who)
    for pairs in (
        [{"incident_id": [{}], "worker_id": "W1"}],
        [{"incident_id": "I0", "worker_id": 5}],
    ):
        r = client.post(f"/api/jobs/{job['id']}/accept", json={"assignments": pairs}, headers=who)
        assert r.status_code == 422 and "assignments[0]" in r.json["description"]
    assert cases.get("incidents", "I0")["status"] == "registered"
