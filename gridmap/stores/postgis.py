"""The shared store: every layer a table in PostgreSQL + PostGIS, for many users at once.

Connections come from a :class:`psycopg_pool.ConnectionPool` (the web service shares one store
between threads); every public operation is one transaction on one connection. Reads filter by
bounding box with ``&&`` on the GiST indexes; rows a caller changes are locked with
``SELECT ... FOR UPDATE`` first, so two writers of one incident queue up instead of losing an
update, and a stale ``expected_version`` is a :class:`~gridmap.errors.ConflictError`. Bulk writes
use binary COPY (:mod:`gridmap.stores.pg_copy`). The schema comes from versioned migrations
(:mod:`gridmap.stores.migrate`).

When the server goes away the store fails fast and heals by itself (:mod:`gridmap.stores.pg_pool`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import pq, sql

from gridmap.catalog import categories, station_kinds
from gridmap.errors import NotFoundError, StoreError
from gridmap.model import CRS, HISTORY_COLUMNS, LAYERS, Layer
from gridmap.spatial import locate
from gridmap.stores import migrate, pg_copy, pg_values
from gridmap.stores.base import REPORT_SQL, BaseStore, BBox, LayerInfo, Progress, Where
from gridmap.stores.pg_connect import (
    connect,
    redact,
    translate,
)
from gridmap.stores.pg_pool import POOL_SIZE, POOL_TIMEOUT_S, GuardedPool
from gridmap.stores.pg_records import PostGISRecords

#: Up to this many points are located in SQL (one GiST probe of the grids per point); more are
#: located by :func:`gridmap.spatial.locate` on the grids read in the same transaction, which is
#: some 30 times faster per point for big imports.
SQL_LOCATE_ROWS = pg_copy.BULK_ROWS


def _ident(*names: str) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


class PostGISStore(PostGISRecords, BaseStore):
    """A GridMap store in a PostgreSQL database with PostGIS.

    Parameters
    ----------
    url : str
        A ``postgresql://`` URL (libpq parameters, ``~/.pgpass`` and ``PG*`` variables apply).
    create : bool
        Apply the pending schema migrations when the database lacks them (default); otherwise a
        database without the GridMap schema is an error.
    pool_size : int
        Most connections the store opens at once (threads beyond wait for a free one).
    pool_timeout : float
        Longest wait for a free connection while the server answers (a server that does not
        answer fails the wait within about :data:`~gridmap.stores.pg_pool.PROBE_AFTER_S`).
    """

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        pool_size: int = POOL_SIZE,
        pool_timeout: float = POOL_TIMEOUT_S,
    ) -> None:
        self._conninfo = url
        self.url = redact(url)
        self._create = create
        self._pool = GuardedPool(url, self.url, size=pool_size, timeout=pool_timeout)
        self._local = threading.local()
        self.init()

    def __repr__(self) -> str:
        return f"PostGISStore({self.url!r})"

    # -- connections and transactions ---------------------------------------------------------
    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[psycopg.Connection]:
        """Run a block in one transaction on a pooled connection.

        Reads (``write=False``) run without a transaction block: each statement sees what was
        committed when it started, as it would in a READ COMMITTED transaction, and the BEGIN
        and COMMIT round trips are saved.
        """
        current = getattr(self._local, "con", None)
        if current is not None:  # nested use inside one transaction
            yield current
            return
        with self._connection(autocommit=not write) as con:
            if not write:
                yield con
                return
            with con.transaction():
                self._local.con = con
                try:
                    yield con
                finally:
                    self._local.con = None

    @contextmanager
    def _connection(self, *, autocommit: bool) -> Iterator[psycopg.Connection]:
        """Lend a pooled connection; a failure is rolled back and translated."""
        pool, con = self._pool.checkout()
        con.autocommit = autocommit
        try:
            yield con
        except psycopg.Error as exc:
            if not con.closed and con.info.transaction_status != pq.TransactionStatus.IDLE:
                try:
                    con.rollback()
                except psycopg.Error:  # the connection is unusable: the pool drops it
                    con.close()
            if con.closed:  # the server went away, or this connection did: which one?
                down = self._pool.check_server()
                if down is not None:
                    raise down from None
            raise translate(exc, self.url) from None
        finally:
            if not con.closed:
                con.autocommit = False
            pool.putconn(con)

    def close(self) -> None:
        """Close every connection of the pool."""
        self._pool.close()

    # -- schema --------------------------------------------------------------------------------
    def init(self) -> None:
        """Apply the pending migrations (when ``create``) and record the catalog's codes.

        Raises
        ------
        StoreError
            If the server cannot be reached, or the database lacks the schema and ``create`` is
            false.
        """
        with connect(self._conninfo, autocommit=True) as con:
            try:
                if self._create:
                    migrate.apply_pending(con)
                elif migrate.pending(con):
                    raise StoreError(
                        f"{self.url} is not an up-to-date GridMap database "
                        "(run `gridmap db upgrade` first)"
                    )
                with con.transaction():
                    self._sync_catalog(con)
            except psycopg.Error as exc:
                raise translate(exc, self.url) from None

    @staticmethod
    def _sync_catalog(con: psycopg.Connection) -> None:
        """Add the catalog's categories and station kinds the database lacks (never removes)."""
        for table, key, items in (
            ("gridmap_categories", "code", categories().values()),
            ("gridmap_station_kinds", "kind", station_kinds().values()),
        ):
            rows = [(getattr(i, key), i.zh, i.en) for i in items]
            con.execute(
                sql.SQL(
                    "INSERT INTO {t} ({k}, zh, en) SELECT * FROM unnest(%s::text[], %s::text[], "
                    "%s::text[]) ON CONFLICT ({k}) DO UPDATE SET zh = EXCLUDED.zh, en = EXCLUDED.en "
                    "WHERE ({t}.zh, {t}.en) IS DISTINCT FROM (EXCLUDED.zh, EXCLUDED.en)"
                ).format(t=sql.Identifier(table), k=sql.Identifier(key)),
                [list(c) for c in zip(*rows, strict=True)],
            )

    # -- reads ---------------------------------------------------------------------------------
    def _filters(
        self, spec: Layer, bbox: BBox | None, where: Where | None
    ) -> tuple[sql.Composable, list[Any]]:
        clauses: list[sql.Composable] = []
        params: list[Any] = []
        if bbox is not None:
            clauses.append(
                sql.SQL(
                    "t.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326) "
                    "AND ST_Intersects(t.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))"
                )
            )
            params += [float(v) for v in bbox] * 2
        for name, value in (where or {}).items():
            clause, values = pg_values.condition(spec.field(name), name, value)
            clauses.append(clause)
            params += values
        if not clauses:
            return sql.SQL(""), params
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params

    def _select(
        self,
        tx: psycopg.Connection,
        spec: Layer,
        bbox: BBox | None,
        where: Where | None,
        limit: int | None,
        offset: int,
        *,
        lock: bool = False,
    ) -> gpd.GeoDataFrame:
        cond, params = self._filters(spec, bbox, where)
        query = sql.SQL("SELECT ST_AsBinary(t.geom), {} FROM {} t{} ORDER BY t.fid").format(
            sql.SQL(", ").join(sql.SQL("t.") + sql.Identifier(c) for c in spec.columns),
            sql.Identifier(spec.name),
            cond,
        )
        if limit is not None or offset:
            query += sql.SQL(" LIMIT %s OFFSET %s")
            params += [None if limit is None else int(limit), int(offset)]
        if lock:
            query += sql.SQL(" FOR UPDATE OF t")
        with tx.cursor(binary=True) as cur:
            raw = cur.execute(query, params).fetchall()
        data = list(zip(*raw, strict=True)) if raw else [[] for _ in range(len(spec.columns) + 1)]
        frame = pg_values.frame(spec, {c: data[i + 1] for i, c in enumerate(spec.columns)})
        geoms = shapely.from_wkb(np.array(data[0], dtype=object))
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=CRS).values, crs=CRS)

    def _count(
        self, tx: psycopg.Connection, spec: Layer, bbox: BBox | None, where: Where | None
    ) -> int:
        cond, params = self._filters(spec, bbox, where)
        query = sql.SQL("SELECT count(*) FROM {} t{}").format(sql.Identifier(spec.name), cond)
        return tx.execute(query, params).fetchone()[0]

    def _keys(self, tx: psycopg.Connection, spec: Layer) -> set[str]:
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.Identifier(spec.key), sql.Identifier(spec.name)
        )
        return {k for (k,) in tx.execute(query)}

    # -- locating points in grids --------------------------------------------------------------
    def _locate(self, tx: psycopg.Connection, points: gpd.GeoSeries) -> pd.Series:
        """Return each point's grid code (smallest code when several grids cover it).

        In a write transaction the grids are locked against writers (``SHARE`` mode) until it
        ends, so the codes stay right for the rows it stores.
        """
        if not tx.autocommit:
            tx.execute("LOCK TABLE grids IN SHARE MODE")
        if len(points) > SQL_LOCATE_ROWS:
            return locate(points, self._grids(tx))
        values = pg_values.ewkb(points.to_numpy())
        codes = tx.execute(
            "SELECT (SELECT g.code FROM grids g WHERE ST_Covers(g.geom, ST_GeomFromEWKB(u.wkb)) "
            "ORDER BY g.code LIMIT 1) FROM unnest(%s::bytea[]) WITH ORDINALITY AS u(wkb, n) "
            "ORDER BY u.n",
            (list(values),),
        ).fetchall()
        result = pd.array([c for (c,) in codes], dtype="string")
        return pd.Series(result, index=points.index, name="code")

    # -- writes --------------------------------------------------------------------------------
    def _write(
        self, tx: psycopg.Connection, spec: Layer, rows: gpd.GeoDataFrame, progress: Progress | None
    ) -> None:
        pg_copy.write_layer(tx, spec, rows, progress)

    def _clear(self, tx: psycopg.Connection, spec: Layer) -> None:
        pg_copy.clear(tx, spec.name)
        if spec.name == "incidents":
            pg_copy.clear(tx, "incident_history")

    def _update_row(
        self,
        tx: psycopg.Connection,
        spec: Layer,
        key: str,
        values: dict[str, Any],
        geometry: Any,
    ) -> None:
        sets = [sql.SQL("{} = %s").format(sql.Identifier(c)) for c in values]
        params = [pg_values.param(spec.field(c), v) for c, v in values.items()]
        if geometry is not None:
            sets.append(sql.SQL("geom = ST_GeomFromEWKB(%s)"))
            params.append(pg_values.ewkb([geometry])[0])
        tx.execute(
            sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
                sql.Identifier(spec.name), sql.SQL(", ").join(sets), sql.Identifier(spec.key)
            ),
            [*params, key],
        )

    def _delete(self, tx: psycopg.Connection, spec: Layer, keys: Sequence[str]) -> int:
        keys = [str(k) for k in keys]
        deleted = tx.execute(
            sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                sql.Identifier(spec.name), sql.Identifier(spec.key)
            ),
            (keys,),
        ).rowcount
        if spec.name == "incidents":
            tx.execute("DELETE FROM incident_history WHERE incident_id = ANY(%s)", (keys,))
        return deleted

    def _set_column(
        self,
        tx: psycopg.Connection,
        spec: Layer,
        column: str,
        keys: Sequence[str],
        values: Sequence[Any],
    ) -> None:
        if not len(keys):
            return
        field = spec.field(column)
        tx.execute(
            sql.SQL(
                "UPDATE {t} SET {c} = v.value FROM unnest(%s::text[], %s::{type}) "
                "AS v(key, value) WHERE {t}.{k} = v.key"
            ).format(
                t=sql.Identifier(spec.name),
                c=sql.Identifier(column),
                k=sql.Identifier(spec.key),
                type=sql.SQL(_ARRAY_TYPES[field.kind]),
            ),
            ([str(k) for k in keys], [pg_values.param(field, v) for v in values]),
        )

    # -- history and metadata ------------------------------------------------------------------
    def _history(
        self, tx: psycopg.Connection, incident_id: str | None, *, reports: bool = False
    ) -> pd.DataFrame:
        one = incident_id is not None
        query = sql.SQL("SELECT {} FROM incident_history").format(_ident(*HISTORY_COLUMNS))
        query += sql.SQL(" WHERE incident_id = %s" if one else "")
        if reports:
            where = " WHERE id = %s" if one else ""
            query += sql.SQL(" UNION ALL " + REPORT_SQL.format(where=where))
        params = [incident_id] * (one * (1 + reports))
        raw = tx.execute(query + sql.SQL(" ORDER BY incident_id, seq"), params).fetchall()
        frame = pd.DataFrame(raw, columns=list(HISTORY_COLUMNS))
        frame["seq"] = frame["seq"].astype("int64")
        frame["at"] = pg_values.times(frame["at"].tolist())
        return frame

    def _append_history(self, tx: psycopg.Connection, rows: pd.DataFrame) -> None:
        pg_copy.append_history(tx, rows)

    def layer_info(self, layer_name: str) -> LayerInfo:
        """Return the count, extent, description and simulated flag of a layer."""
        spec = _layer(layer_name)
        with self._transaction() as tx:
            count, *box = tx.execute(
                sql.SQL(
                    "SELECT s.n, ST_XMin(s.e), ST_YMin(s.e), ST_XMax(s.e), ST_YMax(s.e) "
                    "FROM (SELECT count(*) AS n, ST_Extent(geom) AS e FROM {}) s"
                ).format(sql.Identifier(spec.name))
            ).fetchone()
            meta = tx.execute(
                "SELECT description, simulated FROM gridmap_layers WHERE layer = %s", (spec.name,)
            ).fetchone()
        description, simulated = meta or ("", False)
        bbox = None if box[0] is None else tuple(float(v) for v in box)
        return LayerInfo(spec.name, count, bbox, description, bool(simulated))

    def set_layer_info(self, layer_name: str, *, description: str, simulated: bool) -> None:
        """Record a layer's description and whether its data is simulated."""
        spec = _layer(layer_name)
        with self._transaction() as tx:
            tx.execute(
                "INSERT INTO gridmap_layers (layer, description, simulated) VALUES (%s, %s, %s) "
                "ON CONFLICT (layer) DO UPDATE SET description = EXCLUDED.description, "
                "simulated = EXCLUDED.simulated",
                (spec.name, description, bool(simulated)),
            )


_ARRAY_TYPES = {
    "text": "text[]",
    "int": "bigint[]",
    "float": "float8[]",
    "datetime": "timestamptz[]",
}


def _layer(name: str) -> Layer:
    spec = LAYERS.get(name)
    if spec is None:
        raise NotFoundError(f"unknown layer {name!r}")
    return spec
