"""Case KPIs (gridmap.kpi) and ``gridmap kpi``: hand-checked answers, groups, a store, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from gridmap.cli import main
from gridmap.cli_kpi import table_lines
from gridmap.errors import ValidationError
from gridmap.kpi import KPI_COLUMNS, KPI_LABELS, kpis, store_kpis
from gridmap.model import HISTORY_COLUMNS
from gridmap.workflow import TRANSITIONS
from tests.dispatch_helpers import incident, small_store, worker

TZ = "Asia/Shanghai"
NOW = pd.Timestamp("2025-03-10 12:00", tz=TZ)


def t(text: str) -> pd.Timestamp:
    return pd.Timestamp(f"2025-03-{text}", tz=TZ)


def case(iid, grid, status, reported, deadline, steps, worker_id=None):
    """Return an incidents row and its history ([report] + (action, to_status, at) steps)."""
    row = {
        "id": iid,
        "category": "E0102",
        "status": status,
        "reported_at": t(reported),
        "deadline": t(deadline),
        "grid_code": grid,
        "worker_id": worker_id,
    }
    entries = [(iid, 0, t(reported), None, "received", "report")]
    for seq, (action, to, at) in enumerate(steps, start=1):
        entries.append((iid, seq, t(at), entries[-1][4], to, action))
    return row, entries


def closed_path(register, dispatch, resolve, close):
    return [
        ("register", "registered", register),
        ("dispatch", "dispatched", dispatch),
        ("accept", "handling", dispatch),
        ("resolve", "resolved", resolve),
        ("close", "closed", close),
    ]


CASES = [
    # A: closed on time (response 1 h, closure 3 h)
    case("A", "G1", "closed", "04 09:00", "04 13:00", closed_path("04 09:10", "04 10:00", "04 11:00", "04 12:00"), "W1"),
    # B: closed late (response 2 h, closure 6 h)
    case("B", "G1", "closed", "04 09:00", "04 13:00", closed_path("04 09:10", "04 11:00", "04 14:00", "04 15:00"), "W1"),
    # C: extended (deadline 05 13:00 -> 06 18:00), reworked, closed on time (1 h, 24 h)
    case("C", "G2", "closed", "05 09:00", "06 18:00", [
        ("register", "registered", "05 09:05"),
        ("dispatch", "dispatched", "05 10:00"),
        ("accept", "handling", "05 10:10"),
        ("extend", "handling", "05 11:00"),
        ("resolve", "resolved", "05 12:00"),
        ("rework", "handling", "05 14:00"),
        ("resolve", "resolved", "05 16:00"),
        ("close", "closed", "06 09:00"),
    ], "W2"),
    # D: open and overdue (response 4 h)
    case("D", "G2", "handling", "06 09:00", "06 13:00", [
        ("register", "registered", "06 09:30"),
        ("dispatch", "dispatched", "06 13:00"),
        ("accept", "handling", "06 13:30"),
    ], "W2"),
    # E: rejected (注销), its deadline past: neither due nor overdue
    case("E", "G3", "rejected", "05 10:00", "05 14:00", [("reject", "rejected", "05 10:30")]),
    # F: dispatched, deadline after now: registered, not due (response 1 h)
    case("F", "G3", "dispatched", "10 08:00", "11 12:00", [
        ("register", "registered", "10 08:30"),
        ("dispatch", "dispatched", "10 09:00"),
    ], "W1"),
    # G: received, never filed, deadline past: overdue but not registered; 00:30 local = 06 UTC
    case("G", "G3", "received", "07 00:30", "07 13:00", []),
]  # fmt: skip


def frames(ids: str = "ABCDEFG") -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [row for row, _ in CASES if row["id"] in ids]
    entries = [e for row, hist in CASES if row["id"] in ids for e in hist]
    entries.append(("ZZ", 1, t("04 09:00"), "received", "registered", "register"))  # ignored
    history = pd.DataFrame(
        [(*e, "tester", "") for e in entries], columns=list(HISTORY_COLUMNS)
    ).sort_values(["incident_id", "seq"], ignore_index=True)
    return pd.DataFrame(rows), history


def check(row: pd.Series, expected: dict) -> None:
    for column, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(row[column]), column
        else:
            assert row[column] == pytest.approx(value), (column, row[column], value)


OVERALL = {
    "received": 7,
    "registered": 5,
    "due": 4,
    "closed": 3,
    "closed_on_time": 2,
    "closure_rate": 0.75,
    "on_time_rate": 0.5,
    "reworked": 1,
    "rework_rate": 1 / 3,
    "extended": 1,
    "extension_rate": 0.2,
    "response_p50_h": 1.0,  # of 1, 2, 1, 4, 1
    "response_p90_h": 3.2,
    "closure_p50_h": 6.0,  # of 3, 6, 24
    "closure_p90_h": 20.4,
    "overdue_open": 2,
}


def test_hand_checked_overall():
    out = kpis(*frames(), now=NOW)
    assert list(out.columns) == list(KPI_COLUMNS) and len(out) == 1
    check(out.iloc[0], OVERALL)
    assert out["received"].dtype == np.int64
    assert out.attrs["as_of"].startswith("2025-03-10T12:00:00+08:00")
    assert set(KPI_COLUMNS) <= set(KPI_LABELS) and KPI_LABELS["closure_rate"][0] == "结案率"


def test_per_grid():
    out = kpis(*frames(), by="grid", now=NOW).set_index("grid_code")
    assert list(out.index) == ["G1", "G2", "G3"]
    check(out.loc["G1"], {"received": 2, "due": 2, "closed": 2, "closed_on_time": 1,
                          "closure_rate": 1.0, "on_time_rate": 0.5, "rework_rate": 0.0,
                          "extension_rate": 0.0, "response_p50_h": 1.5, "response_p90_h": 1.9,
                          "closure_p50_h": 4.5, "closure_p90_h": 5.7, "overdue_open": 0})  # fmt: skip
    check(out.loc["G2"], {"received": 2, "registered": 2, "due": 2, "closed": 1,
                          "closure_rate": 0.5, "on_time_rate": 0.5, "reworked": 1,
                          "rework_rate": 1.0, "extension_rate": 0.5, "response_p50_h": 2.5,
                          "response_p90_h": 3.7, "closure_p50_h": 24.0, "overdue_open": 1})  # fmt: skip
    nan = float("nan")
    check(out.loc["G3"], {"received": 3, "registered": 1, "due": 0, "closed": 0,
                          "closure_rate": nan, "on_time_rate": nan, "rework_rate": nan,
                          "extension_rate": 0.0, "response_p50_h": 1.0, "closure_p50_h": nan,
                          "closure_p90_h": nan, "overdue_open": 1})  # fmt: skip


def test_per_worker_keeps_the_unassigned():
    out = kpis(*frames(), by="worker", now=NOW)
    assert out["received"].sum() == 7 and len(out) == 3
    unassigned = out[out["worker_id"].isna()].iloc[0]
    check(unassigned, {"received": 2, "registered": 0, "due": 0, "overdue_open": 1})
    check(out.set_index("worker_id").loc["W1"], {"received": 3, "closed": 2, "due": 2})


def test_periods_in_the_calendar_zone():
    days = kpis(*frames(), period="day", now=NOW).set_index("period")["received"]
    assert days.to_dict() == {
        "2025-03-04": 2,
        "2025-03-05": 2,
        "2025-03-06": 1,
        "2025-03-07": 1,
        "2025-03-10": 1,
    }  # fmt: skip  (G is reported on the 7th in Beijing, the 6th in UTC)
    weeks = kpis(*frames(), period="week", by="category", now=NOW)
    assert weeks[["period", "category", "received"]].values.tolist() == [
        ["2025-03-03", "E0102", 6],
        ["2025-03-10", "E0102", 1],
    ]
    month = kpis(*frames(), period="month", now=NOW)
    assert month["period"].tolist() == ["2025-03"]
    check(month.iloc[0], OVERALL)


def test_start_end_and_now():
    out = kpis(*frames(), start="2025-03-05", end="2025-03-07", now=NOW)
    check(out.iloc[0], {"received": 3, "registered": 2, "due": 2, "closed": 1})  # C, D, E
    early = kpis(*frames(), now=t("04 12:30"))  # statuses stay current: only deadlines move
    check(early.iloc[0], {"due": 3, "closed": 3, "overdue_open": 0, "closure_rate": 1.0})


def test_nothing_due_gives_nan_not_zero():
    out = kpis(*frames("F"), now=NOW).iloc[0]
    check(out, {"received": 1, "registered": 1, "due": 0, "closed": 0})
    for column in ("closure_rate", "on_time_rate", "rework_rate", "closure_p50_h"):
        assert math.isnan(out[column]), column
    incidents, history = frames("")
    empty = kpis(incidents.reindex(columns=list(frames()[0].columns)), history, now=NOW)
    assert len(empty) == 1 and empty.iloc[0]["received"] == 0
    assert math.isnan(empty.iloc[0]["closure_rate"])
    grouped = kpis(incidents.reindex(columns=list(frames()[0].columns)), history, by="grid")
    assert grouped.empty and list(grouped.columns) == ["grid_code", *KPI_COLUMNS]
    assert table_lines(grouped) == ["no incident reported in this range"]


def test_bad_arguments():
    incidents, history = frames()
    with pytest.raises(ValidationError, match="cannot group KPIs by 'street'"):
        kpis(incidents, history, by="street")
    with pytest.raises(ValidationError, match="unknown KPI period"):
        kpis(incidents, history, period="year")
    with pytest.raises(ValidationError, match="start 'soon' is not a date"):
        kpis(incidents, history, start="soon")


def reference(incidents: pd.DataFrame, history: pd.DataFrame, now: pd.Timestamp) -> dict:
    """The definitions of kpis' docstring, one case at a time."""
    n = {k: 0 for k in ("received", "registered", "due", "closed", "on_time", "checked",
                        "reworked", "extended", "overdue")}  # fmt: skip
    responses, closures = [], []
    for row in incidents.itertuples():
        h = history[history["incident_id"] == row.id]
        registered = row.status not in ("received", "rejected")
        closed = row.status == "closed"
        close_at = h.loc[h["to_status"] == "closed", "at"].max() if closed else None
        n["received"] += 1
        n["registered"] += registered
        n["due"] += registered and (closed or row.deadline < now)
        n["closed"] += closed
        n["on_time"] += closed and close_at <= row.deadline
        checked = row.status in ("resolved", "closed")
        n["checked"] += checked
        n["reworked"] += checked and (h["action"] == "rework").any()
        n["extended"] += registered and (h["action"] == "extend").any()
        n["overdue"] += row.status not in ("closed", "rejected") and row.deadline < now
        if (h["action"] == "dispatch").any():
            responses.append(h.loc[h["action"] == "dispatch", "at"].min() - row.reported_at)
        if closed:
            closures.append(close_at - row.reported_at)
    n["response_p90"] = np.quantile([r / pd.Timedelta(hours=1) for r in responses], 0.9)
    n["closure_p50"] = np.median([c / pd.Timedelta(hours=1) for c in closures])
    return n


def random_cases(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``n`` cases walked at random through the workflow, one action per hour."""
    rng = np.random.default_rng(seed)
    rows, entries = [], []
    for i in range(n):
        reported = t("03 08:00") + pd.Timedelta(minutes=int(rng.integers(0, 20_000)))
        status, at, iid = "received", reported, f"R{i:04d}"
        entries.append((iid, 0, at, None, status, "report"))
        for seq in range(1, int(rng.integers(0, 25))):
            actions = [a for a, (src, _) in TRANSITIONS.items() if status in src]
            if not actions:
                break
            action = str(rng.choice(actions))
            at += pd.Timedelta(hours=float(rng.uniform(0.1, 5)))
            new = TRANSITIONS[action][1] or status
            entries.append((iid, seq, at, status, new, action))
            status = new
        deadline = reported + pd.Timedelta(hours=float(rng.uniform(2, 30)))
        rows.append({"id": iid, "status": status, "reported_at": reported, "deadline": deadline,
                     "grid_code": str(rng.choice(["G1", "G2"]))})  # fmt: skip
    history = pd.DataFrame([(*e, "x", "") for e in entries], columns=list(HISTORY_COLUMNS))
    return pd.DataFrame(rows), history


def test_random_walks_match_the_definitions():
    incidents, history = random_cases(300, seed=3)
    now = t("14 00:00")
    out = kpis(incidents, history, by="grid", now=now).set_index("grid_code")
    for grid, part in incidents.groupby("grid_code"):
        ref, row = reference(part, history, now), out.loc[grid]
        assert ref["received"] == row["received"] and ref["registered"] == row["registered"]
        assert (ref["due"], ref["closed"], ref["on_time"]) == (
            row["due"], row["closed"], row["closed_on_time"],
        )  # fmt: skip
        assert (ref["reworked"], ref["extended"], ref["overdue"]) == (
            row["reworked"], row["extended"], row["overdue_open"],
        )  # fmt: skip
        assert row["rework_rate"] == pytest.approx(ref["reworked"] / ref["checked"])
        assert row["response_p90_h"] == pytest.approx(ref["response_p90"])
        assert row["closure_p50_h"] == pytest.approx(ref["closure_p50"])
        assert ref["due"] > 0 and ref["reworked"] > 0 and ref["extended"] > 0


def at(text: str) -> pd.Timestamp:
    return t(text).to_pydatetime()


@pytest.fixture
def store_path(tmp_path):
    """A GeoPackage store whose cases went through store.transition (E0102: 4 working hours)."""
    rows = [
        incident("I1", "E0102", grid=0, status="received"),  # reported 04 09:00, due 14:00
        incident("I2", "E0102", grid=0, status="received"),
        incident("I3", "E0102", grid=4, status="received", reported="2025-03-04T10:00"),
        incident("I4", "E0102", grid=4, status="received", reported="2025-03-04T11:00"),
        incident("I5", "E0102", grid=8, status="received"),
    ]
    workers = [worker("W1", [0], ["sanitation"]), worker("W2", [4], ["sanitation"])]
    path = tmp_path / "s.gpkg"
    store = small_store(path, workers, rows)
    steps = {
        "I1": [("register", "04 09:05"), ("dispatch", "04 09:30", "W1"), ("accept", "04 09:40"),
               ("resolve", "04 11:00"), ("close", "04 12:00")],
        "I2": [("register", "04 09:05"), ("dispatch", "04 10:00", "W1"), ("accept", "04 10:10"),
               ("resolve", "04 15:00"), ("close", "04 16:00")],
        "I3": [("register", "04 10:05"), ("dispatch", "04 10:30", "W2"), ("accept", "04 10:40"),
               ("extend", "04 11:00"), ("resolve", "04 12:00"), ("rework", "04 13:00"),
               ("resolve", "04 14:00"), ("close", "05 09:00")],
        "I4": [("register", "04 11:05"), ("dispatch", "04 11:30", "W2"), ("accept", "04 11:40")],
        "I5": [("reject", "04 09:10")],
    }  # fmt: skip
    for iid, actions in steps.items():
        for action, when, *who in actions:
            store.transition(
                iid, action, actor="tester", at=at(when), worker_id=who[0] if who else None,
                deadline=at("05 18:00") if action == "extend" else None,
            )  # fmt: skip
    store.close()
    return path


STORE_OVERALL = {
    "received": 5, "registered": 4, "due": 4, "closed": 3, "closed_on_time": 2,
    "closure_rate": 0.75, "on_time_rate": 0.5, "reworked": 1, "rework_rate": 1 / 3,
    "extended": 1, "extension_rate": 0.25, "response_p50_h": 0.5, "response_p90_h": 0.85,
    "closure_p50_h": 7.0, "closure_p90_h": 19.8, "overdue_open": 1,
}  # fmt: skip


def test_store_kpis(store_path):
    from gridmap.stores import open_store

    store = open_store(store_path, create=False)
    try:
        assert store.get("incidents", "I1")["deadline"] == t("04 14:00")
        out = store_kpis(store)  # judged as of the last transition, I3's close
        assert out.attrs["as_of"].startswith("2025-03-05T09:00:00")
        check(out.iloc[0], STORE_OVERALL)
        by_worker = store_kpis(store, by="worker").set_index("worker_id", drop=False)
        check(by_worker.loc["W1"], {"received": 2, "closed": 2, "closed_on_time": 1})
        check(by_worker.loc["W2"], {"received": 2, "due": 2, "reworked": 1, "overdue_open": 1})
        assert by_worker["worker_id"].isna().sum() == 1  # I5, rejected before any dispatch
        only_i3 = store_kpis(store, start=t("04 10:00"), end=t("04 11:00"), now=NOW)
        check(only_i3.iloc[0], {"received": 1, "closed": 1, "closed_on_time": 1,
                                "extension_rate": 1.0, "closure_p50_h": 23.0})  # fmt: skip
        early = store_kpis(store, now=at("04 13:00"))  # nothing past its deadline yet
        check(early.iloc[0], {"due": 3, "closed": 3, "overdue_open": 0, "closure_rate": 1.0})
    finally:
        store.close()


def test_cli_csv_json_and_table(store_path, tmp_path, capsys):
    url, csv = str(store_path), tmp_path / "kpi.csv"
    assert main(["--store", url, "kpi", "--csv", str(csv)]) == 0
    assert "1 row(s) written" in capsys.readouterr().out
    check(pd.read_csv(csv, encoding="utf-8-sig").iloc[0], STORE_OVERALL)

    assert main(["kpi", "--store", url, "--by", "grid", "--json"]) == 0
    rows = {r["grid_code"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == ["11010100100101", "11010100100105", "11010100100109"]
    assert rows["11010100100109"]["closure_rate"] is None  # nothing due: null, not 0
    assert rows["11010100100101"]["on_time_rate"] == 0.5

    args = ["--store", url, "kpi", "--period", "day", "--from", "2025-03-04", "--to", "2025-03-04"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "结案率" in out and "Closure rate" in out and "2025-03-04" in out and "75.00%" in out

    assert main(["--store", url, "kpi"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("case KPIs (as of 2025-03-05T09:00")
    assert any(line.startswith("按期结案率 On-time rate") and "50.00%" in line for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2025-13-45"], "--from '2025-13-45' is not a date"),
        (["--to", "yesterday"], "--to 'yesterday' is not a date"),
        (["--from", "2025-03-05", "--to", "2025-03-04"], "is not before --to"),
    ],
)
def test_cli_bad_dates(store_path, capsys, args, message):
    assert main(["--store", str(store_path), "kpi", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("gridmap: error:") and "Traceback" not in err
