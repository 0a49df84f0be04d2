"""The GeoPackage primitives of :class:`~gridmap.stores.records.RecordStore`.

Plain tables are GeoPackage attribute tables; every write runs inside the store's ``BEGIN
IMMEDIATE`` transaction, which already puts writers one after the other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gridmap.errors import ConflictError
from gridmap.model import Layer, Table, layer, table
from gridmap.stores import sqlvalues
from gridmap.stores.gpkg_blob import decode, encode
from gridmap.stores.records import REPEAT_WINDOW, Intake, Report, case_row

#: Indexes of the plain tables (beside the unique index on each key).
INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS requests_request_key ON requests (request_key)",
    "CREATE UNIQUE INDEX IF NOT EXISTS requests_token ON requests (token)",
    "CREATE INDEX IF NOT EXISTS requests_fingerprint ON requests (fingerprint, received_at)",
    "CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at)",
)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class GeoPackageRecords:
    """Plain-table reads and writes, and the step-by-step intake of a report."""

    def _touch(self, tx: sqlite3.Connection, spec: Layer) -> None:
        raise NotImplementedError

    def _record_select(
        self,
        tx: sqlite3.Connection,
        spec: Table,
        where: Mapping[str, Any] | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        clauses, params = [], []
        for name, wanted in (where or {}).items():
            clause, values = sqlvalues.condition(spec.field(name), _q(name), wanted, "?")
            clauses.append(clause)
            params += values
        sql = f"SELECT {', '.join(map(_q, spec.columns))} FROM {_q(spec.name)}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        fields = spec.fields
        return [
            {f.name: sqlvalues.read_value(f, raw) for f, raw in zip(fields, row, strict=True)}
            for row in tx.execute(sql, params)
        ]

    def _record_insert(
        self, tx: sqlite3.Connection, spec: Table, values: Mapping[str, Any]
    ) -> None:
        names = [c for c in spec.columns if c in values]
        params = [sqlvalues.sql_value(spec.field(c), values[c]) for c in names]
        marks = ", ".join("?" * len(names))
        try:
            tx.execute(
                f"INSERT INTO {_q(spec.name)} ({', '.join(map(_q, names))}) VALUES ({marks})",
                params,
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"{spec.name}: {exc}") from None

    def _record_delete(self, tx: sqlite3.Connection, spec: Table, where: Mapping[str, Any]) -> int:
        clauses, params = [], []
        for name, wanted in where.items():
            clause, values = sqlvalues.condition(spec.field(name), _q(name), wanted, "?")
            clauses.append(clause)
            params += values
        condition = " AND ".join(clauses) or "1 = 1"
        return tx.execute(f"DELETE FROM {_q(spec.name)} WHERE {condition}", params).rowcount

    def _store_report(self, tx: sqlite3.Connection, report: Report) -> Intake:
        """Store one checked report, step by step (the transaction is the only writer)."""
        record = report.record
        earlier = self._earlier(tx, record, report.received_at)
        if earlier is not None:
            return Intake(earlier["incident_id"], earlier["token"], created=False)
        incidents = layer("incidents")
        incident_id = self._new_incident_id(tx)
        row = {**case_row(report), "id": incident_id, "grid_code": self._grid_at(tx, report.point)}
        names = [c for c in incidents.columns if c in row]
        params = [sqlvalues.sql_value(incidents.field(c), row[c]) for c in names]
        blob = encode(np.array([report.point], dtype=object))[0]
        marks = ", ".join("?" * (len(names) + 1))
        tx.execute(
            f"INSERT INTO incidents (geom, {', '.join(map(_q, names))}) VALUES ({marks})",
            [blob, *params],
        )
        self._touch(tx, incidents)
        self._record_insert(tx, table("requests"), {**record, "incident_id": incident_id})
        return Intake(incident_id, record["token"], created=True)

    def _earlier(
        self, tx: sqlite3.Connection, record: Mapping[str, Any], now: pd.Timestamp
    ) -> dict[str, Any] | None:
        """Return the intake record stored before under the report's key or fingerprint."""
        requests = table("requests")
        if record["request_key"]:
            found = self._record_select(tx, requests, {"request_key": record["request_key"]}, 1)
            if found:
                return found[0]
        if record["fingerprint"]:
            recent = {
                "fingerprint": record["fingerprint"],
                "received_at": slice(now - REPEAT_WINDOW, None),
            }
            found = self._record_select(tx, requests, recent, 1)
            if found:
                return found[0]
        return None

    def _new_incident_id(self, tx: sqlite3.Connection) -> str:
        """Return the next free case number ``R00000001``, ``R00000002``..."""
        while True:
            candidate = f"R{self._next_incident_number(tx):08d}"
            if tx.execute("SELECT 1 FROM incidents WHERE id = ?", (candidate,)).fetchone() is None:
                return candidate

    def _next_incident_number(self, tx: sqlite3.Connection) -> int:
        found = tx.execute(
            "SELECT value FROM gridmap_meta WHERE layer = 'counter' AND key = 'incidents'"
        ).fetchone()
        number = int(found[0]) + 1 if found else 1
        if found:
            tx.execute(
                "UPDATE gridmap_meta SET value = ? WHERE layer = 'counter' AND key = 'incidents'",
                (str(number),),
            )
        else:
            tx.execute(
                "INSERT INTO gridmap_meta (layer, key, value) VALUES ('counter', 'incidents', ?)",
                (str(number),),
            )
        return number

    def _grid_at(self, tx: sqlite3.Connection, point: shapely.Point) -> str | None:
        x, y = point.x, point.y
        rows = tx.execute(
            "SELECT t.code, t.geom FROM grids t JOIN rtree_grids_geom r ON r.id = t.fid "
            "WHERE r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ? ORDER BY t.code",
            (x, x, y, y),
        ).fetchall()
        if not rows:
            return None
        shapes = decode([blob for _, blob in rows])
        covering = shapely.covers(shapes, point)
        return next((code for (code, _), hit in zip(rows, covering, strict=True) if hit), None)
