"""The PostGIS primitives of :class:`~gridmap.stores.records.RecordStore`.

A report is stored by one statement sent with its BEGIN, locks and COMMIT in one pipeline: one
exchange with the server. Concurrent reports carrying the same idempotency key or fingerprint
are put one after the other by a transaction-scoped advisory lock on the key's hash, taken by a
statement of its own so that the intake statement after it starts with a snapshot showing the
first report; the grids are share-locked so that no grid edit commits while a report is located.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from gridmap.calendar import working_calendar
from gridmap.model import Table, layer, table
from gridmap.stores import pg_values
from gridmap.stores.records import REPEAT_WINDOW, Intake, Report, case_row


def _where(spec: Table, where: Mapping[str, Any] | None) -> tuple[sql.Composable, list[Any]]:
    clauses, params = [], []
    for name, wanted in (where or {}).items():
        clause, values = pg_values.condition(spec.field(name), name, wanted)
        clauses.append(clause)
        params += values
    if not clauses:
        return sql.SQL(""), []
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params


def _names(names: list[str] | tuple[str, ...]) -> sql.SQL:
    return sql.SQL(", ".join(map(pg_values.quoted, names)))


@functools.cache
def _select_head(name: str) -> sql.SQL:
    names = ", ".join(map(pg_values.quoted, table(name).columns))
    return sql.SQL(f"SELECT {names} FROM {pg_values.quoted(name)} t")


@functools.cache
def _order(name: str) -> sql.SQL:
    return sql.SQL(f" ORDER BY t.{pg_values.quoted(table(name).key)}")


class PostGISRecords:
    """Plain-table reads and writes, and the intake of a report in one exchange."""

    def _record_select(
        self,
        tx: psycopg.Connection,
        spec: Table,
        where: Mapping[str, Any] | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        condition, params = _where(spec, where)
        query = _select_head(spec.name) + condition + _order(spec.name)
        if limit is not None:
            query += sql.SQL(" LIMIT {}").format(sql.Literal(int(limit)))
        tz = working_calendar().timezone
        kinds = [f.kind for f in spec.fields]
        return [
            {
                name: pd.Timestamp(v).tz_convert(tz) if kind == "datetime" and v else v
                for name, kind, v in zip(spec.columns, kinds, row, strict=True)
            }
            for row in tx.execute(query, params)
        ]

    def _record_insert(
        self, tx: psycopg.Connection, spec: Table, values: Mapping[str, Any]
    ) -> None:
        names = [c for c in spec.columns if c in values]
        tx.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(spec.name),
                _names(names),
                sql.SQL(", ").join(sql.Placeholder() * len(names)),
            ),
            [pg_values.param(spec.field(c), values[c]) for c in names],
        )

    def _record_delete(self, tx: psycopg.Connection, spec: Table, where: Mapping[str, Any]) -> int:
        condition, params = _where(spec, where)
        query = sql.SQL("DELETE FROM {} t").format(sql.Identifier(spec.name)) + condition
        return tx.execute(query, params).rowcount

    def _connection(self, *, autocommit: bool) -> AbstractContextManager[psycopg.Connection]:
        raise NotImplementedError

    def _submit_intake(self, report: Report) -> Intake:
        """Store one checked report in one exchange with the server (see the module's text).

        BEGIN, the locks, the intake statement and COMMIT go out together in a pipeline. A
        number already taken by an imported case makes the statement insert nothing; the next
        number is then tried.
        """
        record, since = report.record, report.received_at - REPEAT_WINDOW
        row = case_row(report)
        incidents, requests = layer("incidents"), table("requests")
        incident = [(c, row[c]) for c in incidents.columns if c in row and c != "id"]
        request = [(c, record[c]) for c in requests.columns if c != "incident_id"]
        query = _intake_sql(tuple(c for c, _ in incident), tuple(c for c, _ in request))
        params = [
            record["request_key"],
            record["fingerprint"],
            pg_values.param(requests.field("received_at"), since),
            pg_values.ewkb([report.point])[0],
            report.point.x,
            report.point.y,
            *(pg_values.param(incidents.field(c), v) for c, v in incident),
            *(pg_values.param(requests.field(c), v) for c, v in request),
        ]
        repeat = record["request_key"] or record["fingerprint"]
        while True:
            with self._connection(autocommit=True) as con:
                with con.pipeline():
                    con.execute("BEGIN")
                    if repeat:
                        con.execute(
                            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (repeat,)
                        )
                    con.execute("LOCK TABLE grids IN SHARE MODE")
                    cursor = con.execute(query, params)
                    con.execute("COMMIT")
                found = cursor.fetchone()
            if found is not None:
                return Intake(found[0], found[1], created=found[2])


@functools.cache
def _intake_sql(incident: tuple[str, ...], request: tuple[str, ...]) -> bytes:
    """Return the statement storing a report unless a repeat of it is stored (see above)."""
    marks = sql.SQL(", ").join(sql.Placeholder() * len(incident))
    query = sql.SQL(
        """
        WITH earlier AS (
            SELECT incident_id, token FROM (
                SELECT incident_id, token, 0 AS rank FROM requests WHERE request_key = %s
                UNION ALL
                SELECT incident_id, token, 1 FROM requests
                WHERE fingerprint = %s AND received_at >= %s
            ) found
            ORDER BY rank, incident_id LIMIT 1
        ), number AS (
            SELECT nextval('incident_number')::text AS n WHERE NOT EXISTS (SELECT FROM earlier)
        ), incident AS (
            INSERT INTO incidents (id, geom, grid_code, {incident})
            SELECT 'R' || lpad(n, greatest(8, length(n)), '0'), ST_GeomFromEWKB(%s),
                (SELECT code FROM grids
                 WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))
                 ORDER BY code LIMIT 1),
                {marks}
            FROM number
            ON CONFLICT (id) DO NOTHING
            RETURNING id
        ), request AS (
            INSERT INTO requests (incident_id, {request})
            SELECT id, {request_marks} FROM incident
            RETURNING token
        )
        SELECT incident_id, token, false FROM earlier
        UNION ALL
        SELECT incident.id, request.token, true FROM incident, request
        """
    ).format(
        incident=_names(list(incident)),
        marks=marks,
        request=_names(list(request)),
        request_marks=sql.SQL(", ").join(sql.Placeholder() * len(request)),
    )
    return query.as_string(None).encode()
