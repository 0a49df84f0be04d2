"""The embedded default store: one GeoPackage file that QGIS opens, every layer a table.

Layers are created by GDAL (through pyogrio) so the file is a standard GeoPackage with R*Tree
spatial indexes. Rows are read and written through stdlib ``sqlite3`` inside explicit
transactions (``BEGIN IMMEDIATE``: one writer at a time, readers never blocked thanks to WAL),
with the geometry blob codec and the functions GDAL's index triggers call. Large writes drop the
per-row index triggers inside the transaction, insert the rows and their index entries in bulk,
and put the triggers back before committing, so they stay atomic.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridmap.errors import NotFoundError, StoreError
from gridmap.model import CRS, HISTORY_COLUMNS, LAYERS, TABLES, Layer
from gridmap.stores import gpkg_records, gpkg_rtree, sqlvalues
from gridmap.stores.base import (
    REPORT_SQL,
    BaseStore,
    BBox,
    LayerInfo,
    Progress,
    Where,
    chunks,
)
from gridmap.stores.gpkg_blob import decode, encode, register_functions
from gridmap.stores.group_commit import GroupCommit
from gridmap.stores.records import Intake
from gridmap.stores.sqlite_bulk import insert_columns

BULK_ROWS = 2000  # from this many rows on, the index is filled in bulk
CHUNK = 50_000
_PANDAS_TYPES = {
    "text": "str",
    "int": "int64",
    "float": "float64",
    "datetime": "datetime64[ms, UTC]",
    "list": "str",
}
_SQL_TYPES = {
    "text": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "datetime": "DATETIME",
    "list": "TEXT",
}
_HISTORY_TYPES = {"seq": "int64", "at": "datetime64[ms, UTC]"}


@contextmanager
def _savepoint(tx: sqlite3.Connection) -> Iterator[None]:
    """Run a block in a savepoint, rolled back alone when the block raises."""
    tx.execute("SAVEPOINT one_write")
    try:
        yield
    except BaseException:
        tx.execute("ROLLBACK TO one_write")
        tx.execute("RELEASE one_write")
        raise
    tx.execute("RELEASE one_write")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class GeoPackageStore(gpkg_records.GeoPackageRecords, BaseStore):
    """A GridMap store in one GeoPackage file.

    Parameters
    ----------
    path : str or Path
        The ``.gpkg`` file.
    create : bool
        Create the file and its layers when missing (default); otherwise a missing file is an
        error.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        # reports arriving together share one commit (one disk flush): see group_commit
        self._intakes = GroupCommit(self._transaction, _savepoint, self._store_report)
        if not self.path.exists() and not create:
            raise NotFoundError(f"no GridMap store at {self.path} (run `gridmap init` first)")
        self.init()

    # -- connections and transactions ---------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            try:
                con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                con.execute("PRAGMA journal_mode=WAL")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a GeoPackage: {exc}") from None
            con.execute("PRAGMA busy_timeout=30000")
            con.execute("PRAGMA trusted_schema=ON")
            register_functions(con)
            self._local.con = con
        return con

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """Run a block in one transaction: writers one at a time, readers on a snapshot (WAL)."""
        con = self._con()
        if con.in_transaction:  # nested use inside one transaction
            yield con
            return
        with self._write_lock if write else nullcontext():
            con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _submit_intake(self, report: Any) -> Intake:
        return self._intakes.submit(report)

    def close(self) -> None:
        """Close this thread's connection."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # -- schema --------------------------------------------------------------------------------
    def init(self) -> None:
        """Create every missing layer, the history table and their indexes.

        Layers are created by GDAL, which links its own copy of SQLite: two SQLite copies in one
        process must never hold the same file open together (closing one drops the other's
        POSIX locks), so GDAL only runs here, with this store's connection closed.
        """
        missing = self._missing_tables()
        if missing:
            self.close()
            self._create_tables(missing)
        con = self._con()
        self._add_missing_columns(con)
        for spec in [*LAYERS.values(), *TABLES.values()]:
            con.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {_q(spec.name + '_key')} "
                f"ON {_q(spec.name)} ({_q(spec.key)})"
            )
        for sql in gpkg_records.INDEXES:
            con.execute(sql)
        con.execute("CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status)")
        con.execute("CREATE INDEX IF NOT EXISTS incidents_grid ON incidents (grid_code)")
        con.execute("CREATE INDEX IF NOT EXISTS incidents_reported ON incidents (reported_at)")
        con.execute(
            "CREATE INDEX IF NOT EXISTS incidents_worker ON incidents (worker_id) "
            "WHERE worker_id IS NOT NULL"
        )
        con.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS incident_history_key "
            "ON incident_history (incident_id, seq)"
        )

    def _add_missing_columns(self, con: sqlite3.Connection) -> None:
        """Add the fields a newer model gave a layer to a file written before (all nullable)."""
        for spec in LAYERS.values():
            found = {row[1] for row in con.execute(f"PRAGMA table_info({_q(spec.name)})")}
            for f in spec.fields:
                if f.name not in found:
                    con.execute(
                        f"ALTER TABLE {_q(spec.name)} ADD COLUMN {_q(f.name)} {_SQL_TYPES[f.kind]}"
                    )

    def _missing_tables(self) -> list[str]:
        wanted = [*LAYERS, *TABLES, "incident_history", "gridmap_meta"]
        if not self.path.exists():
            return wanted
        try:
            found = {r[0] for r in self._con().execute("SELECT table_name FROM gpkg_contents")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a GeoPackage: {exc}") from None
        return [name for name in wanted if name not in found]

    def _create_tables(self, names: list[str]) -> None:
        for name in names:
            if name in LAYERS:
                self._create_layer(LAYERS[name])
            elif name in TABLES:
                fields = TABLES[name].fields
                frame = pd.DataFrame(
                    {f.name: pd.Series([], dtype=_PANDAS_TYPES[f.kind]) for f in fields}
                )
                pyogrio.write_dataframe(frame, self.path, layer=name)
            else:
                columns = (
                    HISTORY_COLUMNS if name == "incident_history" else ("layer", "key", "value")
                )
                frame = pd.DataFrame(
                    {c: pd.Series([], dtype=_HISTORY_TYPES.get(c, "str")) for c in columns}
                )
                pyogrio.write_dataframe(frame, self.path, layer=name)

    def _create_layer(self, spec: Layer) -> None:
        frame = gpd.GeoDataFrame(
            {f.name: pd.Series([], dtype=_PANDAS_TYPES[f.kind]) for f in spec.fields},
            geometry=gpd.GeoSeries([], crs=CRS),
        )
        pyogrio.write_dataframe(
            frame,
            self.path,
            layer=spec.name,
            geometry_type=spec.geometry,
            layer_options={"DESCRIPTION": spec.title_en},
        )

    # -- reads ---------------------------------------------------------------------------------
    def _filters(
        self, spec: Layer, bbox: BBox | None, where: Where | None
    ) -> tuple[str, str, list[Any]]:
        join, clauses, params = "", [], []
        if bbox is not None:
            join = f" JOIN {_q(f'rtree_{spec.name}_geom')} r ON r.id = t.fid"
            clauses.append("r.maxx >= ? AND r.minx <= ? AND r.maxy >= ? AND r.miny <= ?")
            params += [bbox[0], bbox[2], bbox[1], bbox[3]]
        for name, value in (where or {}).items():
            clause, values = sqlvalues.condition(spec.field(name), f"t.{_q(name)}", value, "?")
            clauses.append(clause)
            params += values
        return join, (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _select(
        self,
        tx: sqlite3.Connection,
        spec: Layer,
        bbox: BBox | None,
        where: Where | None,
        limit: int | None,
        offset: int,
        *,
        lock: bool = False,
    ) -> gpd.GeoDataFrame:
        join, cond, params = self._filters(spec, bbox, where)
        columns = ", ".join(f"t.{_q(c)}" for c in spec.columns)
        sql = f"SELECT t.geom, {columns} FROM {_q(spec.name)} t{join}{cond} ORDER BY t.fid"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else int(limit), int(offset)]
        raw = tx.execute(sql, params).fetchall()
        data = list(zip(*raw, strict=True)) if raw else [[] for _ in range(len(spec.columns) + 1)]
        frame = sqlvalues.frame(spec, {c: data[i + 1] for i, c in enumerate(spec.columns)})
        geoms = gpd.GeoSeries(decode(list(data[0])), crs=CRS)
        out = gpd.GeoDataFrame(frame, geometry=geoms.values, crs=CRS)
        if bbox is not None and len(out):
            out = out[out.intersects(shapely.box(*bbox))].reset_index(drop=True)
        return out

    def _count(
        self, tx: sqlite3.Connection, spec: Layer, bbox: BBox | None, where: Where | None
    ) -> int:
        if bbox is not None:
            return len(self._select(tx, spec, bbox, where, None, 0))
        join, cond, params = self._filters(spec, None, where)
        return tx.execute(f"SELECT count(*) FROM {_q(spec.name)} t{join}{cond}", params).fetchone()[
            0
        ]

    def _keys(self, tx: sqlite3.Connection, spec: Layer) -> set[str]:
        return {k for (k,) in tx.execute(f"SELECT {_q(spec.key)} FROM {_q(spec.name)}")}

    # -- writes --------------------------------------------------------------------------------
    def _write(
        self, tx: sqlite3.Connection, spec: Layer, rows: gpd.GeoDataFrame, progress: Progress | None
    ) -> None:
        n = len(rows)
        if n == 0:
            return
        table = _q(spec.name)
        start = (
            1
            + tx.execute(
                f"SELECT max(coalesce((SELECT max(fid) FROM {table}), 0), "
                "coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0))",
                (spec.name,),
            ).fetchone()[0]
        )
        fids = np.arange(start, start + n, dtype=np.int64)
        names = ["fid", "geom", *map(_q, spec.columns)]
        geoms = rows.geometry.to_numpy()
        existing = tx.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        bulk = n >= max(BULK_ROWS, existing)  # rebuilding the indexes is cheaper than updating
        rebuild = self._drop_indexes(tx, spec.name) if bulk else []
        for part in chunks(n, CHUNK):
            columns = [sqlvalues.column(spec.field(c), rows[c].iloc[part]) for c in spec.columns]
            insert_columns(tx, table, names, [fids[part].tolist(), encode(geoms[part]), *columns])
            if progress is not None:
                progress(part.stop - part.start)
        if bulk:
            self._rebuild_rtree(tx, spec, fids, geoms)
            self._restore_indexes(tx, spec.name, rebuild)
        self._touch(tx, spec)

    def _drop_indexes(self, tx: sqlite3.Connection, table: str) -> list[str]:
        """Drop a table's per-row triggers and attribute indexes; return the SQL recreating them."""
        triggers = [
            f"rtree_{table}_geom_insert",
            f"rtree_{table}_geom_delete",
            f"trigger_insert_feature_count_{table}",
            f"trigger_delete_feature_count_{table}",
        ]
        found = tx.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
            "AND (type = 'index' OR name IN (?, ?, ?, ?))",
            (table, *triggers),
        ).fetchall()
        for kind, name, _ in found:
            tx.execute(f"DROP {kind.upper()} {_q(name)}")
        return [sql for _, _, sql in found]

    def _restore_indexes(self, tx: sqlite3.Connection, table: str, sql: list[str]) -> None:
        for text in sql:
            tx.execute(text)
        tx.execute(
            "UPDATE gpkg_ogr_contents SET feature_count = "
            f"(SELECT count(*) FROM {_q(table)}) WHERE lower(table_name) = lower(?)",
            (table,),
        )

    def _rebuild_rtree(
        self, tx: sqlite3.Connection, spec: Layer, fids: np.ndarray, geoms: np.ndarray
    ) -> None:
        rtree = f"rtree_{spec.name}_geom"
        old = np.array(
            tx.execute(f"SELECT id, minx, maxx, miny, maxy FROM {_q(rtree)}").fetchall(),
            dtype=np.float64,
        ).reshape(-1, 5)
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        boxes = gpkg_rtree.float32_boxes(shapely.bounds(geoms[keep]))
        gpkg_rtree.rebuild(
            tx,
            rtree,
            np.concatenate([old[:, 0].astype(np.int64), fids[keep]]),
            np.concatenate([old[:, 1:].astype(np.float32), boxes]),
        )

    def _touch(self, tx: sqlite3.Connection, spec: Layer) -> None:
        tx.execute(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
            "WHERE table_name = ?",
            (spec.name,),
        )

    def _clear(self, tx: sqlite3.Connection, spec: Layer) -> None:
        tables = [spec.name, "incident_history"] if spec.name == "incidents" else [spec.name]
        for table in tables:  # without per-row triggers SQLite empties a table at once
            rebuild = self._drop_indexes(tx, table)
            tx.execute(f"DELETE FROM {_q(table)}")
            self._restore_indexes(tx, table, rebuild)
        gpkg_rtree.rebuild(tx, f"rtree_{spec.name}_geom", np.zeros(0, np.int64), np.zeros((0, 4)))

    def _update_row(
        self, tx: sqlite3.Connection, spec: Layer, key: str, values: dict[str, Any], geometry: Any
    ) -> None:
        names = list(values)
        params = [
            sqlvalues.column(spec.field(c), pd.Series([values[c]], dtype=object))[0] for c in names
        ]
        sets = [f"{_q(c)} = ?" for c in names]
        if geometry is not None:
            sets.append("geom = ?")
            params.append(encode(np.array([geometry], dtype=object))[0])
        tx.execute(
            f"UPDATE {_q(spec.name)} SET {', '.join(sets)} WHERE {_q(spec.key)} = ?",
            [*params, key],
        )
        self._touch(tx, spec)

    def _delete(self, tx: sqlite3.Connection, spec: Layer, keys: Sequence[str]) -> int:
        deleted = 0
        for part in chunks(len(keys), 500):
            batch = list(keys[part])
            marks = ", ".join("?" * len(batch))
            deleted += tx.execute(
                f"DELETE FROM {_q(spec.name)} WHERE {_q(spec.key)} IN ({marks})", batch
            ).rowcount
            if spec.name == "incidents":
                tx.execute(f"DELETE FROM incident_history WHERE incident_id IN ({marks})", batch)
        self._touch(tx, spec)
        return deleted

    def _set_column(
        self,
        tx: sqlite3.Connection,
        spec: Layer,
        column: str,
        keys: Sequence[str],
        values: Sequence[Any],
    ) -> None:
        params = sqlvalues.column(spec.field(column), pd.Series(list(values), dtype=object))
        tx.executemany(
            f"UPDATE {_q(spec.name)} SET {_q(column)} = ? WHERE {_q(spec.key)} = ?",
            zip(params, keys, strict=True),
        )
        self._touch(tx, spec)

    # -- history and metadata ------------------------------------------------------------------
    def _history(
        self, tx: sqlite3.Connection, incident_id: str | None, *, reports: bool = False
    ) -> pd.DataFrame:
        one = incident_id is not None
        sql = f"SELECT {', '.join(HISTORY_COLUMNS)} FROM incident_history"
        sql += " WHERE incident_id = ?" if one else ""
        if reports:
            sql += " UNION ALL " + REPORT_SQL.format(where=" WHERE id = ?" if one else "")
        params = [incident_id] * (one * (1 + reports))
        frame = pd.DataFrame(
            tx.execute(sql + " ORDER BY incident_id, seq", params).fetchall(),
            columns=list(HISTORY_COLUMNS),
        )
        frame["seq"] = frame["seq"].astype("int64")
        frame["at"] = sqlvalues.parse_times(frame["at"])
        return frame

    def _append_history(self, tx: sqlite3.Connection, rows: pd.DataFrame) -> None:
        rows = rows.sort_values(["incident_id", "seq"])  # index inserts in key order
        columns = [
            sqlvalues.format_times(rows[c]) if c == "at" else rows[c].astype(object).tolist()
            for c in HISTORY_COLUMNS
        ]
        columns = [[None if v is None or v != v else v for v in c] for c in columns]
        bulk = len(rows) >= BULK_ROWS
        rebuild = self._drop_indexes(tx, "incident_history") if bulk else []
        insert_columns(tx, "incident_history", HISTORY_COLUMNS, columns)
        if bulk:
            self._restore_indexes(tx, "incident_history", rebuild)

    def layer_info(self, layer_name: str) -> LayerInfo:
        """Return the count, extent, description and simulated flag of a layer."""
        spec = LAYERS.get(layer_name)
        if spec is None:
            raise NotFoundError(f"unknown layer {layer_name!r}")
        with self._transaction(write=False) as tx:
            count = tx.execute(f"SELECT count(*) FROM {_q(spec.name)}").fetchone()[0]
            box = tx.execute(
                f"SELECT min(minx), min(miny), max(maxx), max(maxy) "
                f"FROM {_q(f'rtree_{spec.name}_geom')}"
            ).fetchone()
            meta = dict(
                tx.execute("SELECT key, value FROM gridmap_meta WHERE layer = ?", (spec.name,))
            )
        return LayerInfo(
            spec.name,
            count,
            None if box[0] is None else tuple(box),
            meta.get("description", ""),
            meta.get("simulated") == "true",
        )

    def set_layer_info(self, layer_name: str, *, description: str, simulated: bool) -> None:
        """Record a layer's description (also shown by QGIS) and whether it is simulated."""
        spec = LAYERS.get(layer_name)
        if spec is None:
            raise NotFoundError(f"unknown layer {layer_name!r}")
        with self._transaction() as tx:
            tx.execute("DELETE FROM gridmap_meta WHERE layer = ?", (spec.name,))
            tx.executemany(
                "INSERT INTO gridmap_meta (layer, key, value) VALUES (?, ?, ?)",
                [
                    (spec.name, "description", description),
                    (spec.name, "simulated", "true" if simulated else "false"),
                ],
            )
            tx.execute(
                "UPDATE gpkg_contents SET description = ? WHERE table_name = ?",
                (description, spec.name),
            )
