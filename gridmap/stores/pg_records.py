"""The PostGIS primitives of :class:`~gridmap.stores.records.RecordStore`.

Concurrent reports carrying the same idempotency key or fingerprint are put one after the other
by a transaction-scoped advisory lock on the key's hash, so the second finds the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import psycopg
import shapely
from psycopg import sql

from gridmap.calendar import working_calendar
from gridmap.model import Layer, Table
from gridmap.stores import pg_values


def _where(spec: Table, where: Mapping[str, Any] | None) -> tuple[sql.Composable, list[Any]]:
    clauses, params = [], []
    for name, wanted in (where or {}).items():
        clause, values = pg_values.condition(spec.field(name), name, wanted)
        clauses.append(clause)
        params += values
    if not clauses:
        return sql.SQL(""), []
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params


def _names(names: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


class PostGISRecords:
    """Plain-table reads and writes, and the single-row insert of a report."""

    def _record_select(
        self,
        tx: psycopg.Connection,
        spec: Table,
        where: Mapping[str, Any] | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        condition, params = _where(spec, where)
        query = sql.SQL("SELECT {} FROM {} t").format(
            _names(spec.columns), sql.Identifier(spec.name)
        )
        query += condition + sql.SQL(" ORDER BY t.{}").format(sql.Identifier(spec.key))
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

    def _insert_row(
        self, tx: psycopg.Connection, spec: Layer, values: Mapping[str, Any], geometry: Any
    ) -> None:
        names = [c for c in spec.columns if c in values]
        tx.execute(
            sql.SQL("INSERT INTO {} (geom, {}) VALUES (ST_GeomFromEWKB(%s), {})").format(
                sql.Identifier(spec.name),
                _names(names),
                sql.SQL(", ").join(sql.Placeholder() * len(names)),
            ),
            [
                pg_values.ewkb([geometry])[0],
                *(pg_values.param(spec.field(c), values[c]) for c in names),
            ],
        )

    def _exists(self, tx: psycopg.Connection, spec: Layer, key: str) -> bool:
        query = sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(
            sql.Identifier(spec.name), sql.Identifier(spec.key)
        )
        return tx.execute(query, (key,)).fetchone() is not None

    def _next_incident_number(self, tx: psycopg.Connection) -> int:
        return int(tx.execute("SELECT nextval('incident_number')").fetchone()[0])

    def _grid_at(self, tx: psycopg.Connection, point: shapely.Point) -> str | None:
        tx.execute("LOCK TABLE grids IN SHARE MODE")
        found = tx.execute(
            "SELECT code FROM grids WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) "
            "ORDER BY code LIMIT 1",
            (point.x, point.y),
        ).fetchone()
        return None if found is None else found[0]

    def _serialise(self, tx: psycopg.Connection, key: str) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
