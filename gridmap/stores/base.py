"""The ``Store`` protocol and the behaviour every backend shares.

A store holds the layers of :mod:`gridmap.model`. What a write means (validation, derived fields,
the case workflow and its history) is decided here once; a backend only supplies the SQL
primitives of :class:`BaseStore` (``_transaction``, ``_select``, ``_write``, ...), each running
inside the transaction it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.calendar import working_calendar
from gridmap.catalog import categories, station_kinds
from gridmap.errors import ConflictError, NotFoundError, ValidationError
from gridmap.model import CRS, HISTORY_COLUMNS, Layer, layer
from gridmap.spatial import area_m2, locate
from gridmap.stores.records import Intake, RecordStore
from gridmap.validate import check_columns, check_rows, raise_problems
from gridmap.workflow import next_status

BBox = tuple[float, float, float, float]
Progress = Callable[[int], None]
#: ``where`` maps a field to a value (equality), a list/tuple/set (any of) or a slice
#: ``slice(lo, hi)`` (``lo <= value < hi``, either end open when None).
Where = Mapping[str, Any]


@dataclass(frozen=True)
class LayerInfo:
    """What a store knows about one layer."""

    name: str
    count: int
    bbox: BBox | None
    description: str
    simulated: bool


@runtime_checkable
class Store(Protocol):
    """A place where GridMap's layers live (a GeoPackage file or a PostGIS database)."""

    url: str

    def init(self) -> None:
        """Create every layer that does not exist yet (idempotent)."""

    def read(
        self,
        layer: str,
        *,
        bbox: BBox | None = None,
        where: Where | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> gpd.GeoDataFrame:
        """Return rows of ``layer`` in storage order, filtered by bbox (lon/lat) and attributes."""

    def count(self, layer: str, *, bbox: BBox | None = None, where: Where | None = None) -> int:
        """Return how many rows of ``layer`` match the filters."""

    def get(self, layer: str, key: str) -> pd.Series:
        """Return one row by its key, or raise :class:`NotFoundError`."""

    def insert(
        self,
        layer: str,
        rows: pd.DataFrame,
        *,
        replace: bool = False,
        progress: Progress | None = None,
        history: pd.DataFrame | None = None,
    ) -> int:
        """Validate, derive and write rows in one transaction; return how many were written.

        Incidents whose status is past ``received`` get one ``import`` history entry, unless
        ``history`` gives their transitions (the columns of ``HISTORY_COLUMNS`` but ``seq``).
        ``replace`` swaps the layer's rows (and, for incidents, their history) for these.
        """

    def update(
        self,
        layer: str,
        key: str,
        values: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> pd.Series:
        """Change fields of one row in one transaction and return the stored row."""

    def set_values(
        self,
        layer: str,
        keys: Sequence[str],
        column_values: Mapping[str, Sequence[Any]],
        *,
        reset: Where | None = None,
    ) -> int:
        """Write columns of many rows in one transaction; return how many rows were written.

        ``column_values`` maps a field to one value per key. With ``reset``, those fields are
        first set back to their default (null for most) on every row matching the filter.
        """

    def delete(self, layer: str, keys: Sequence[str]) -> int:
        """Delete rows by key in one transaction; return how many were deleted."""

    def locate(self, points: gpd.GeoSeries) -> pd.Series:
        """Return the grid code of each point (missing when outside every grid)."""

    def relocate_incidents(self, progress: Progress | None = None) -> dict[str, int]:
        """Recompute every incident's grid code from the current grids."""

    def transition(
        self,
        incident_id: str,
        action: str,
        *,
        actor: str,
        note: str = "",
        worker_id: str | None = None,
        deadline: datetime | None = None,
        expected_version: int | None = None,
        at: datetime | None = None,
    ) -> pd.Series:
        """Move an incident through the case workflow, recording the transition."""

    def history(self, incident_id: str | None = None) -> pd.DataFrame:
        """Return the transition history (of one incident, or all) in order."""

    def layer_info(self, layer: str) -> LayerInfo:
        """Return the count, extent and description of a layer."""

    def set_layer_info(self, layer: str, *, description: str, simulated: bool) -> None:
        """Record a layer's description and whether its data is simulated."""

    def add_record(self, table: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check and store one record of a plain table (:data:`gridmap.model.TABLES`)."""

    def records(
        self, table: str, where: Where | None = None, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Return the records of a plain table matching ``where``."""

    def delete_records(self, table: str, where: Where) -> int:
        """Delete the records of a plain table matching ``where``; return how many."""

    def intake(
        self, report: Mapping[str, Any], request: Mapping[str, Any], *, at: Any = None
    ) -> Intake:
        """Store a citizen's report as a new incident with its intake record, exactly once."""

    def close(self) -> None:
        """Release connections."""


def utcnow() -> datetime:
    """Return the current instant (timezone-aware, UTC)."""
    return datetime.now(UTC)


#: Up to this many points are located against the grids around them only.
FEW_POINTS = 64


class BaseStore(RecordStore):
    """Store behaviour shared by the backends, written over a few SQL primitives."""

    url: str

    # -- primitives a backend implements -------------------------------------------------------
    def _transaction(self, *, write: bool = True) -> AbstractContextManager[Any]:
        """Return a context running its block in one transaction (``write=False``: reads only)."""
        raise NotImplementedError

    def _select(
        self,
        tx: Any,
        spec: Layer,
        bbox: BBox | None,
        where: Where | None,
        limit: int | None,
        offset: int,
        *,
        lock: bool = False,
    ) -> gpd.GeoDataFrame:
        raise NotImplementedError

    def _count(self, tx: Any, spec: Layer, bbox: BBox | None, where: Where | None) -> int:
        raise NotImplementedError

    def _keys(self, tx: Any, spec: Layer) -> set[str]:
        raise NotImplementedError

    def _write(
        self, tx: Any, spec: Layer, rows: gpd.GeoDataFrame, progress: Progress | None
    ) -> None:
        raise NotImplementedError

    def _clear(self, tx: Any, spec: Layer) -> None:
        raise NotImplementedError

    def _update_row(
        self, tx: Any, spec: Layer, key: str, values: dict[str, Any], geometry: Any
    ) -> None:
        raise NotImplementedError

    def _delete(self, tx: Any, spec: Layer, keys: Sequence[str]) -> int:
        raise NotImplementedError

    def _set_column(
        self, tx: Any, spec: Layer, column: str, keys: Sequence[str], values: Sequence[Any]
    ) -> None:
        raise NotImplementedError

    def _history(self, tx: Any, incident_id: str | None, *, reports: bool = False) -> pd.DataFrame:
        """Return the stored transitions ordered by incident and seq.

        With ``reports``, each case's report too (seq 0, read by :data:`REPORT_SQL`).
        """
        raise NotImplementedError

    def _append_history(self, tx: Any, rows: pd.DataFrame) -> None:
        raise NotImplementedError

    def _grids(self, tx: Any) -> gpd.GeoDataFrame:
        return self._select(tx, layer("grids"), None, None, None, 0)

    def _locate(self, tx: Any, points: gpd.GeoSeries) -> pd.Series:
        if len(points) <= FEW_POINTS:
            minx, miny, maxx, maxy = points.total_bounds
            box = (minx - 1e-9, miny - 1e-9, maxx + 1e-9, maxy + 1e-9)  # a lone point has an area
            grids = self._select(tx, layer("grids"), box, None, None, 0)
            return locate(points, grids)
        return locate(points, self._grids(tx))

    # -- the shared behaviour -------------------------------------------------------------------
    def read(
        self,
        layer_name: str,
        *,
        bbox: BBox | None = None,
        where: Where | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> gpd.GeoDataFrame:
        """Return rows of a layer; see :meth:`Store.read`."""
        spec = layer(layer_name)
        _check_where(spec, where)
        with self._transaction(write=False) as tx:
            return self._select(tx, spec, bbox, where, limit, offset)

    def count(
        self, layer_name: str, *, bbox: BBox | None = None, where: Where | None = None
    ) -> int:
        """Return how many rows match; see :meth:`Store.count`."""
        spec = layer(layer_name)
        _check_where(spec, where)
        with self._transaction(write=False) as tx:
            return self._count(tx, spec, bbox, where)

    def get(self, layer_name: str, key: str) -> pd.Series:
        """Return one row by key; see :meth:`Store.get`."""
        spec = layer(layer_name)
        with self._transaction(write=False) as tx:
            return self._get(tx, spec, key)

    def _get(self, tx: Any, spec: Layer, key: str, *, lock: bool = False) -> pd.Series:
        rows = self._select(tx, spec, None, {spec.key: key}, 1, 0, lock=lock)
        if rows.empty:
            raise NotFoundError(f"{spec.name}: no row with {spec.key} {key!r}")
        return rows.iloc[0]

    def insert(
        self,
        layer_name: str,
        rows: pd.DataFrame,
        *,
        replace: bool = False,
        progress: Progress | None = None,
        history: pd.DataFrame | None = None,
    ) -> int:
        """Validate, derive and write rows atomically; see :meth:`Store.insert`."""
        spec = layer(layer_name)
        with self._transaction() as tx:
            existing = set() if replace else self._keys(tx, spec)
            clean, problems = check_rows(spec, rows, existing_keys=existing)
            raise_problems(problems, f"{spec.name}")
            clean = self._derive(tx, spec, clean)
            if replace:
                self._clear(tx, spec)
            self._write(tx, spec, clean, progress)
            if spec.name == "incidents":
                entries = _import_history(clean) if history is None else _checked(history, clean)
                if len(entries):
                    self._append_history(tx, entries)
        return len(clean)

    def _derive(self, tx: Any, spec: Layer, rows: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        rows = rows.copy()
        if spec.name == "grids":
            rows["area_m2"] = area_m2(rows.geometry) if len(rows) else np.array([], float)
        elif spec.name == "stations":
            radius = rows["kind"].map(lambda k: station_kinds()[k].radius_m)
            rows["service_radius_m"] = rows["service_radius_m"].fillna(radius).astype(float)
        elif spec.name == "incidents":
            now = pd.Timestamp(utcnow()).tz_convert(working_calendar().timezone)
            rows["grid_code"] = self._locate(tx, rows.geometry).to_numpy() if len(rows) else []
            rows["deadline"] = _deadlines(rows["reported_at"], rows["category"])
            rows["version"] = pd.array(np.ones(len(rows), dtype="int64"), dtype="Int64")
            rows["updated_at"] = pd.Series(now, index=rows.index).dt.as_unit("us")
        return rows[[*spec.columns, "geometry"]]

    def update(
        self,
        layer_name: str,
        key: str,
        values: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> pd.Series:
        """Change fields of one row; see :meth:`Store.update`."""
        spec = layer(layer_name)
        unknown = set(values) - set(spec.columns) - {"geometry"}
        if unknown:
            raise ValidationError(f"{spec.name} has no field(s) {', '.join(sorted(unknown))}")
        fixed = {spec.key, *(f.name for f in spec.fields if f.derived)} & set(values)
        if spec.name == "incidents":
            fixed |= {"status"} & set(values)
        if fixed:
            raise ValidationError(
                f"{spec.name}: {', '.join(sorted(fixed))} cannot be set directly"
                + (" (use a workflow action)" if "status" in fixed else "")
            )
        with self._transaction() as tx:
            row = self._get(tx, spec, key, lock=True)
            _check_version(spec, key, row, expected_version)
            merged = gpd.GeoDataFrame([{**row.to_dict(), **values}], geometry="geometry", crs=CRS)
            clean, problems = check_rows(spec, merged)
            raise_problems(problems, f"{spec.name} {key}")
            derived = self._derive(tx, spec, clean)
            if spec.name == "incidents":
                derived["version"] = row["version"] + 1
            changed = {c: derived[c].iloc[0] for c in spec.columns if c != spec.key}
            if spec.name == "incidents":
                changed["deadline"] = (
                    row["deadline"]
                    if not {"category", "reported_at"} & set(values)
                    else changed["deadline"]
                )
            self._update_row(tx, spec, key, changed, derived.geometry.iloc[0])
            return self._get(tx, spec, key)

    def set_values(
        self,
        layer_name: str,
        keys: Sequence[str],
        column_values: Mapping[str, Sequence[Any]],
        *,
        reset: Where | None = None,
    ) -> int:
        """Write columns of many rows atomically; see :meth:`Store.set_values`.

        Raises
        ------
        ValidationError
            If a column is the key, derived, an incident's status, a list, or holds a value the
            field refuses; or the value lists and ``keys`` differ in length or repeat a key.
        NotFoundError
            If a key names no row (nothing is written).
        """
        spec = layer(layer_name)
        keys = [str(k) for k in keys]
        _check_where(spec, reset)
        fixed = {spec.key, *(f.name for f in spec.fields if f.derived or f.kind == "list")}
        if spec.name == "incidents":
            fixed.add("status")
        clean = _settable(spec, keys, column_values, fixed)
        with self._transaction() as tx:
            missing = set(keys) - self._keys(tx, spec)
            if missing:
                raise NotFoundError(f"{spec.name}: no row with {spec.key} {min(missing)!r}")
            if reset is not None:
                rows = self._select(tx, spec, None, reset, None, 0, lock=True)
                written = set(keys)
                cleared = [k for k in rows[spec.key] if k not in written]
                for name in clean:
                    default = spec.field(name).default
                    self._set_column(tx, spec, name, cleared, [default] * len(cleared))
            for name, values in clean.items():
                self._set_column(tx, spec, name, keys, values)
        return len(keys)

    def delete(self, layer_name: str, keys: Sequence[str]) -> int:
        """Delete rows by key; see :meth:`Store.delete`."""
        spec = layer(layer_name)
        with self._transaction() as tx:
            return self._delete(tx, spec, list(keys))

    def locate(self, points: gpd.GeoSeries) -> pd.Series:
        """Return the grid code of each point; see :meth:`Store.locate`."""
        with self._transaction(write=False) as tx:
            return self._locate(tx, points.to_crs(CRS) if points.crs else points)

    def relocate_incidents(self, progress: Progress | None = None) -> dict[str, int]:
        """Recompute every incident's grid code from the current grids; return the counts."""
        spec = layer("incidents")
        with self._transaction() as tx:
            rows = self._select(tx, spec, None, None, None, 0)
            codes = self._locate(tx, rows.geometry).astype(object)
            codes = codes.where(codes.notna(), None).reset_index(drop=True)
            changed = (codes.fillna("") != rows["grid_code"].fillna("")).to_numpy()
            self._set_column(
                tx, spec, "grid_code", rows["id"][changed].tolist(), codes[changed].tolist()
            )
            if progress is not None:
                progress(len(rows))
        outside = int(codes.isna().sum())
        return {"located": len(rows) - outside, "outside": outside, "changed": int(changed.sum())}

    def transition(
        self,
        incident_id: str,
        action: str,
        *,
        actor: str,
        note: str = "",
        worker_id: str | None = None,
        deadline: datetime | None = None,
        expected_version: int | None = None,
        at: datetime | None = None,
    ) -> pd.Series:
        """Apply a workflow action to an incident; see :meth:`Store.transition`."""
        spec = layer("incidents")
        at = pd.Timestamp(at or utcnow()).tz_convert(working_calendar().timezone)
        with self._transaction() as tx:
            row = self._get(tx, spec, incident_id, lock=True)
            _check_version(spec, incident_id, row, expected_version)
            status = next_status(row["status"], action)
            changed = {"status": status, "version": int(row["version"]) + 1, "updated_at": at}
            if action == "dispatch":
                if not worker_id:
                    raise ValidationError("dispatch needs the worker to hand the case to")
                self._get(tx, layer("workers"), worker_id)
                changed["worker_id"] = worker_id
            elif action == "return":
                changed["worker_id"] = None
            elif action == "extend":
                if deadline is None:
                    raise ValidationError("an extension needs the new deadline")
                if at > row["deadline"]:
                    raise ConflictError("an extension must be requested before the deadline")
                if pd.Timestamp(deadline) <= row["deadline"]:
                    raise ValidationError("the new deadline must be later than the current one")
                changed["deadline"] = pd.Timestamp(deadline)
            self._update_row(tx, spec, incident_id, changed, None)
            stored = self._history(tx, incident_id)
            seq = int(stored["seq"].max()) if len(stored) else 0
            entry = [incident_id, seq + 1, at, row["status"], status, action, actor, note]
            self._append_history(tx, pd.DataFrame([entry], columns=list(HISTORY_COLUMNS)))
            return self._get(tx, spec, incident_id)

    def history(self, incident_id: str | None = None) -> pd.DataFrame:
        """Return the transition history; see :meth:`Store.history`."""
        with self._transaction(write=False) as tx:
            return self._history(tx, incident_id, reports=True)

    def layer_info(self, layer_name: str) -> LayerInfo:
        """Return a layer's count and extent; see :meth:`Store.layer_info`."""
        raise NotImplementedError

    def __enter__(self) -> BaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release connections."""


def _check_where(spec: Layer, where: Where | None) -> None:
    unknown = set(where or {}) - set(spec.columns)
    if unknown:
        raise ValidationError(f"{spec.name} cannot be filtered by {', '.join(sorted(unknown))}")


def _settable(
    spec: Layer,
    keys: list[str],
    given: Mapping[str, Sequence[Any]],
    fixed: set[str],
) -> dict[str, list[Any]]:
    """Return the checked values of :meth:`BaseStore.set_values`, or raise why they are refused."""
    refused = sorted(fixed & set(given))
    if refused:
        raise ValidationError(f"{spec.name}: {', '.join(refused)} cannot be set this way")
    if len(set(keys)) != len(keys):
        raise ValidationError(f"{spec.name}: a {spec.key} is given twice")
    wrong = [name for name, values in given.items() if len(values) != len(keys)]
    if wrong:
        raise ValidationError(f"{spec.name}: {wrong[0]} needs one value per key ({len(keys)})")
    raw = pd.DataFrame({name: list(values) for name, values in given.items()}, dtype=object)
    frame, problems = check_columns(spec, raw)
    raise_problems(problems, spec.name)
    return {name: frame[name].astype(object).tolist() for name in frame.columns}


def _check_version(spec: Layer, key: str, row: pd.Series, expected: int | None) -> None:
    if expected is not None and int(row["version"]) != int(expected):
        raise ConflictError(
            f"{spec.name} {key} was changed by someone else "
            f"(version {row['version']}, expected {expected}); reload and try again"
        )


def _deadlines(reported_at: pd.Series, category: pd.Series) -> pd.DatetimeIndex:
    hours = {code: c.limit_hours for code, c in categories().items()}
    limits = category.map(hours).to_numpy(dtype=float)
    starts = pd.DatetimeIndex(reported_at)
    return working_calendar().add_working_hours_many(starts, limits).as_unit("us")


#: The report of each case (its history's seq 0) read from the incidents, in the order of
#: :data:`~gridmap.model.HISTORY_COLUMNS`; ``{where}`` is empty or a filter on the id.
REPORT_SQL = (
    "SELECT id, 0, reported_at, NULL, 'received', 'report', source, '' FROM incidents{where}"
)


def _import_history(rows: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return an ``import`` entry for every incident stored past the ``received`` state."""
    moved = rows[rows["status"] != "received"]
    return pd.DataFrame(
        {
            "incident_id": moved["id"],
            "seq": 1,
            "at": moved["updated_at"],
            "from_status": "received",
            "to_status": moved["status"],
            "action": "import",
            "actor": "import",
            "note": "",
        },
        columns=list(HISTORY_COLUMNS),
    ).reset_index(drop=True)


def _checked(history: pd.DataFrame, rows: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return the given transitions numbered per incident, checked against the statuses."""
    history = history.sort_values(["incident_id", "at"], kind="stable").reset_index(drop=True)
    unknown = set(history["incident_id"]) - set(rows["id"])
    if unknown:
        raise ValidationError(f"history names incidents not being stored: {sorted(unknown)[:5]}")
    history["seq"] = history.groupby("incident_id").cumcount() + 1
    last = history.groupby("incident_id")["to_status"].last()
    status = rows.set_index("id")["status"]
    ends = last.reindex(status.index).fillna("received")
    wrong = status.index[ends.ne(status).to_numpy()]
    if len(wrong):
        raise ValidationError(
            f"incident {wrong[0]}: its history ends in {ends[wrong[0]]!r} "
            f"but its status is {status[wrong[0]]!r}"
        )
    return history[list(HISTORY_COLUMNS)]


def chunks(n: int, size: int) -> Iterator[slice]:
    """Yield slices covering ``range(n)`` in steps of ``size``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
