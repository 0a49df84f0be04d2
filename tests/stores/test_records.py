"""Contract tests of the plain tables and of report intake, run against every backend."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
import shapely

from gridmap.errors import ConflictError, NotFoundError, ValidationError
from gridmap.stores.records import REPEAT_WINDOW
from tests.conftest import square_grids


@pytest.fixture
def gridded(store):
    store.insert("grids", square_grids(2))
    return store


def report(description="路灯不亮", x=116.385, y=39.895, **extra):
    return {
        "category": "C0104",
        "description": description,
        "source": "open311",
        "geometry": shapely.Point(x, y),
        **extra,
    }


def test_records_round_trip_and_keys_are_unique(store):
    now = pd.Timestamp("2026-01-05 09:00", tz="Asia/Shanghai")
    stored = store.add_record(
        "accounts",
        {"name": "li", "kind": "user", "role": "dispatcher", "secret": "h", "created_at": now},
    )
    assert stored["expires_at"] is None
    found = store.records("accounts", {"role": "dispatcher"})
    assert [r["name"] for r in found] == ["li"]
    assert found[0]["created_at"] == now
    with pytest.raises(ConflictError):
        store.add_record(
            "accounts",
            {"name": "li", "kind": "user", "role": "official", "secret": "x", "created_at": now},
        )
    with pytest.raises(ValidationError, match="role"):
        store.add_record(
            "accounts",
            {"name": "wang", "kind": "user", "role": "mayor", "secret": "x", "created_at": now},
        )
    assert store.delete_records("accounts", {"name": "li"}) == 1
    assert store.records("accounts") == []


def test_records_filter_by_time_range(store):
    base = pd.Timestamp("2026-01-05 09:00", tz="Asia/Shanghai")
    for i in range(3):
        store.add_record(
            "accounts",
            {
                "name": f"k{i}",
                "kind": "key",
                "role": "citizen",
                "secret": "s",
                "created_at": base + pd.Timedelta(hours=i),
            },
        )
    later = store.records("accounts", {"created_at": slice(base + pd.Timedelta(minutes=30), None)})
    assert [r["name"] for r in later] == ["k1", "k2"]
    with pytest.raises(ValidationError, match="cannot be filtered"):
        store.records("accounts", {"colour": "red"})
    with pytest.raises(NotFoundError):
        store.records("passwords")


def test_intake_stores_a_located_incident_with_deadline_and_private_record(gridded):
    at = pd.Timestamp("2026-01-05 10:00", tz="Asia/Shanghai")  # a Monday
    done = gridded.intake(report(), {"email": "a@example.cn", "device_id": "d1"}, at=at)
    assert done.created and done.incident_id.startswith("R")
    row = gridded.get("incidents", done.incident_id)
    assert row["grid_code"] == "11010100100101"
    assert row["status"] == "received" and row["source"] == "open311"
    assert row["reported_at"] == at
    assert row["deadline"] > at
    assert int(row["version"]) == 1
    assert "email" not in row.index  # contact details never sit on the published incident
    (record,) = gridded.records("requests", {"incident_id": done.incident_id})
    assert record["email"] == "a@example.cn" and record["token"] == done.token
    history = gridded.history(done.incident_id)
    assert list(history["action"]) == ["report"]


def test_intake_numbers_cases_and_skips_taken_numbers(gridded):
    first = gridded.intake(report(), {})
    second = gridded.intake(report("井盖缺失"), {})
    assert first.incident_id != second.incident_id
    assert int(second.incident_id[1:]) > int(first.incident_id[1:])


def test_repeated_idempotency_key_returns_the_first_case(gridded):
    first = gridded.intake(report(), {"request_key": "abc"})
    again = gridded.intake(report("something else"), {"request_key": "abc"})
    assert (again.incident_id, again.token, again.created) == (
        first.incident_id,
        first.token,
        False,
    )
    assert gridded.count("incidents") == 1


def test_repeated_fingerprint_within_the_window_is_the_same_report(gridded):
    at = pd.Timestamp("2026-01-05 10:00", tz="Asia/Shanghai")
    first = gridded.intake(report(), {"fingerprint": "f"}, at=at)
    soon = gridded.intake(report(), {"fingerprint": "f"}, at=at + REPEAT_WINDOW / 2)
    later = gridded.intake(report(), {"fingerprint": "f"}, at=at + REPEAT_WINDOW * 2)
    assert not soon.created and soon.incident_id == first.incident_id
    assert later.created and later.incident_id != first.incident_id


def test_bad_reports_are_refused_and_nothing_is_written(gridded):
    with pytest.raises(ValidationError, match="category"):
        gridded.intake(report(category="NOPE"), {})
    with pytest.raises(ValidationError, match="priority"):
        gridded.intake(report(priority=9), {})
    with pytest.raises(ValidationError, match="WGS84"):
        gridded.intake(report(x=200.0), {})
    with pytest.raises(ValidationError, match="point"):
        gridded.intake({**report(), "geometry": None}, {})
    assert gridded.count("incidents") == 0
    assert gridded.records("requests") == []


def test_concurrent_intake_with_one_key_stores_one_case(store_factory):
    first = store_factory()
    first.insert("grids", square_grids(2))
    results, errors = [], []

    def post():
        store = store_factory()
        try:
            results.append(store.intake(report(), {"request_key": "same"}))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.incident_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert first.count("incidents") == 1
