"""Bulk writes into PostGIS: binary COPY of typed columns and EWKB, with index rebuilds.

A write that at least doubles a table drops the table's indexes and key constraints inside the
transaction, copies the rows, and recreates them before the commit (a sorted build is several
times faster than inserting into a GiST and B-trees row by row). Readers wait on the table
lock meanwhile; the write stays atomic. Such a write needs the table's owner (the role that
ran the migrations); another role writes row by row into the indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import geopandas as gpd
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from gridmap.model import HISTORY_COLUMNS, Layer
from gridmap.stores import pg_binary
from gridmap.stores.base import Progress, chunks
from gridmap.stores.pg_values import SRID

BULK_ROWS = 2000  # from this many rows on (and at least the table's size), indexes are rebuilt
CHUNK = 50_000
BUILD_MEMORY = "512MB"  # maintenance_work_mem for index rebuilds (GiST sorted build)


_ENCODERS: dict[str, Callable[[pd.Series], pg_binary.Column]] = {
    "text": pg_binary.text,
    "int": pg_binary.int8,
    "float": pg_binary.float8,
    "datetime": pg_binary.timestamptz,
    "list": pg_binary.text_array,
}
_HISTORY_KINDS = dict(zip(HISTORY_COLUMNS, ("text", "int", "datetime", *["text"] * 5), strict=True))


def _copy(
    con: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    parts: Iterator[list[pg_binary.Column]],
    progress: Progress | None = None,
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    # a writer thread sends each chunk while the next one is encoded: client and server overlap
    with con.cursor() as cur, cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
        copy.write(pg_binary.SIGNATURE)
        for part in parts:
            copy.write(pg_binary.rows(part))
            if progress is not None:
                progress(len(part[0].lengths))
        copy.write(pg_binary.TRAILER)


def write_layer(
    con: psycopg.Connection, spec: Layer, rows: gpd.GeoDataFrame, progress: Progress | None
) -> None:
    """Copy canonical rows of a layer into its table (rebuilding the indexes for big writes)."""
    if len(rows) == 0:
        return
    geoms = rows.geometry.to_numpy()

    def parts() -> Iterator[list[pg_binary.Column]]:
        for part in chunks(len(rows), CHUNK):
            block = rows.iloc[part]
            columns = [_ENCODERS[spec.field(c).kind](block[c]) for c in spec.columns]
            yield [*columns, pg_binary.geometry(geoms[part], SRID)]

    with bulk_load(con, spec.name, len(rows)):
        _copy(con, spec.name, [*spec.columns, "geom"], parts(), progress)


def append_history(con: psycopg.Connection, rows: pd.DataFrame) -> None:
    """Copy incident transitions (``HISTORY_COLUMNS``) into ``incident_history``."""
    if len(rows) == 0:
        return
    rows = rows.sort_values(["incident_id", "seq"], kind="stable").reset_index(drop=True)

    def parts() -> Iterator[list[pg_binary.Column]]:
        for part in chunks(len(rows), CHUNK):
            block = rows.iloc[part]
            yield [_ENCODERS[kind](block[c]) for c, kind in _HISTORY_KINDS.items()]

    with bulk_load(con, "incident_history", len(rows)):
        _copy(con, "incident_history", HISTORY_COLUMNS, parts())


def _owned(con: psycopg.Connection, table: str) -> bool:
    row = con.execute(
        "SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = %s::regclass",
        (table,),
    ).fetchone()
    return bool(row and row[0])


def clear(con: psycopg.Connection, table: str) -> None:
    """Remove every row of ``table`` (TRUNCATE when owned: instant, and rolled back on error)."""
    name = sql.Identifier(table)
    if _owned(con, table):
        con.execute(sql.SQL("TRUNCATE {}").format(name))
    else:
        con.execute(sql.SQL("DELETE FROM {}").format(name))


def is_bulk(con: psycopg.Connection, table: str, n: int) -> bool:
    """Return whether writing ``n`` rows should rebuild the table's indexes."""
    if n < BULK_ROWS:
        return False
    counted = con.execute(
        sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) s").format(sql.Identifier(table)),
        (n + 1,),
    ).fetchone()
    return counted is not None and counted[0] <= n and _owned(con, table)


@contextmanager
def bulk_load(con: psycopg.Connection, table: str, n: int) -> Iterator[None]:
    """Drop the indexes and key constraints of ``table`` for a big write, then restore them."""
    if not is_bulk(con, table, n):
        yield
        return
    constraints = con.execute(
        "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') "
        "ORDER BY contype = 'f', conname",
        (table,),
    ).fetchall()
    indexes = con.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid "
        "AND c.conrelid = x.indrelid) ORDER BY i.relname",
        (table,),
    ).fetchall()
    name = sql.Identifier(table)
    for constraint, _, _ in reversed(constraints):  # foreign keys first
        con.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(name, sql.Identifier(constraint))
        )
    for index, _ in indexes:
        con.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index)))
    yield
    con.execute("SELECT set_config('maintenance_work_mem', %s, true)", (BUILD_MEMORY,))
    for constraint, definition, _ in constraints:
        con.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                name, sql.Identifier(constraint), sql.SQL(definition)
            )
        )
    for _, definition in indexes:
        con.execute(sql.SQL(definition))
    # no ANALYZE here (0.5-1 s for a million rows): the index builds set the row count, and
    # autovacuum samples the new rows within a minute
