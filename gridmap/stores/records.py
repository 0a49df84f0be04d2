"""Plain records beside the layers, and the intake of one citizen's report.

Reports arrive one at a time and many per second, so :meth:`RecordStore.intake` takes a lean
path: the report is checked by :func:`~gridmap.validate_record.check_record`, located by an
index probe of the grids around it, given its deadline, and stored with its intake record in one
transaction. A repeated ``Idempotency-Key``, or the same device, description and place within a
few minutes, returns the case already stored instead of a second one.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
import shapely

from gridmap.calendar import working_calendar
from gridmap.catalog import categories
from gridmap.errors import ConflictError, ValidationError
from gridmap.model import Layer, Table, layer, table
from gridmap.validate_record import check_record

#: A report repeating a device's description and place within this window is the same report.
REPEAT_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Intake:
    """What :meth:`RecordStore.intake` did: the case's id, its token, whether it is new."""

    incident_id: str
    token: str
    created: bool


@dataclass(frozen=True)
class _Report:
    """A report checked and ready to store: incident fields, intake record, place, time."""

    fields: dict[str, Any]
    record: dict[str, Any]
    point: shapely.Point
    received_at: pd.Timestamp


class RecordStore:
    """Store behaviour over plain tables, written over a few primitives of each backend."""

    # -- primitives a backend implements -------------------------------------------------------
    def _record_select(
        self, tx: Any, spec: Table, where: Mapping[str, Any] | None, limit: int | None
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _record_insert(self, tx: Any, spec: Table, values: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _record_delete(self, tx: Any, spec: Table, where: Mapping[str, Any]) -> int:
        raise NotImplementedError

    def _insert_row(self, tx: Any, spec: Layer, values: Mapping[str, Any], geometry: Any) -> None:
        raise NotImplementedError

    def _exists(self, tx: Any, spec: Layer, key: str) -> bool:
        raise NotImplementedError

    def _next_incident_number(self, tx: Any) -> int:
        raise NotImplementedError

    def _grid_at(self, tx: Any, point: shapely.Point) -> str | None:
        """Return the code of the grid covering ``point`` (the smallest code when several)."""
        raise NotImplementedError

    def _serialise(self, tx: Any, key: str) -> None:
        """Make concurrent transactions passing the same ``key`` run one after the other."""
        raise NotImplementedError

    def _transaction(self, *, write: bool = True) -> Any:
        raise NotImplementedError

    # -- the shared behaviour -------------------------------------------------------------------
    def add_record(self, table_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check and store one record; return it as stored.

        Raises
        ------
        ValidationError
            If a value is refused.
        ConflictError
            If a record with the same key exists.
        """
        spec = table(table_name)
        clean = check_record(spec, values)
        with self._transaction() as tx:
            if self._record_select(tx, spec, {spec.key: clean[spec.key]}, 1):
                raise ConflictError(f"{spec.name}: {spec.key} {clean[spec.key]!r} already exists")
            self._record_insert(tx, spec, clean)
        return clean

    def records(
        self,
        table_name: str,
        where: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return the records of a table matching ``where`` (see :data:`~.base.Where`)."""
        spec = table(table_name)
        _check_fields(spec, where)
        with self._transaction(write=False) as tx:
            return self._record_select(tx, spec, where, limit)

    def delete_records(self, table_name: str, where: Mapping[str, Any]) -> int:
        """Delete the records matching ``where``; return how many."""
        spec = table(table_name)
        _check_fields(spec, where)
        with self._transaction() as tx:
            return self._record_delete(tx, spec, where)

    def intake(
        self,
        report: Mapping[str, Any],
        request: Mapping[str, Any],
        *,
        at: pd.Timestamp | None = None,
    ) -> Intake:
        """Store a citizen's report as a new incident with its intake record, exactly once.

        Parameters
        ----------
        report : mapping
            The incident's fields (``category``, ``description``, ``priority``, ``source``, ...)
            and its ``geometry`` (a shapely Point in WGS84). ``reported_at`` defaults to ``at``.
        request : mapping
            The intake record's fields (contact details, ``device_id``, ``request_key``,
            ``fingerprint``...); ``incident_id``, ``token`` and ``received_at`` are set here.
        at : Timestamp, optional
            The time of receipt (now by default).

        Returns
        -------
        Intake
            The new case, or the one stored before under the same ``request_key`` (any time) or
            ``fingerprint`` (within :data:`REPEAT_WINDOW`), with ``created`` False.

        Raises
        ------
        ValidationError
            If a field of the report or the request is refused (nothing is stored).
        """
        now = pd.Timestamp(at if at is not None else pd.Timestamp.now(tz="UTC"))
        now = now.tz_convert(working_calendar().timezone).floor("ms")
        point = _point(report.get("geometry"))
        fields = check_record(
            layer("incidents"), {"reported_at": now, **report, "id": "-", "status": "received"}
        )
        token = secrets.token_urlsafe(12)
        record = check_record(
            table("requests"), {**request, "incident_id": "-", "token": token, "received_at": now}
        )
        return self._submit_intake(_Report(fields, record, point, now))

    def _submit_intake(self, report: _Report) -> Intake:
        """Store one checked report in its own transaction (a backend may group them)."""
        with self._transaction() as tx:
            return self._store_report(tx, report)

    def _store_report(self, tx: Any, report: _Report) -> Intake:
        """Store one checked report inside ``tx``: the intake's transactional part."""
        incidents, requests = layer("incidents"), table("requests")
        fields, record, now = report.fields, report.record, report.received_at
        repeat = record["request_key"] or record["fingerprint"]
        if repeat:
            self._serialise(tx, str(repeat))
            earlier = self._earlier(tx, requests, record, now)
            if earlier is not None:
                return Intake(earlier["incident_id"], earlier["token"], created=False)
        incident_id = self._new_incident_id(tx, incidents)
        limit = categories()[fields["category"]].limit_hours
        row = {
            **fields,
            "id": incident_id,
            "grid_code": self._grid_at(tx, report.point),
            "deadline": working_calendar().add_working_hours(fields["reported_at"], limit),
            "version": 1,
            "updated_at": now,
        }
        self._insert_row(tx, incidents, row, report.point)
        self._record_insert(tx, requests, {**record, "incident_id": incident_id})
        return Intake(incident_id, record["token"], created=True)

    def _earlier(
        self, tx: Any, spec: Table, record: Mapping[str, Any], now: pd.Timestamp
    ) -> dict[str, Any] | None:
        if record["request_key"]:
            found = self._record_select(tx, spec, {"request_key": record["request_key"]}, 1)
            if found:
                return found[0]
        if record["fingerprint"]:
            recent = {
                "fingerprint": record["fingerprint"],
                "received_at": slice(now - REPEAT_WINDOW, None),
            }
            found = self._record_select(tx, spec, recent, 1)
            if found:
                return found[0]
        return None

    def _new_incident_id(self, tx: Any, spec: Layer) -> str:
        """Return the next free case number ``R00000001``, ``R00000002``..."""
        while True:
            candidate = f"R{self._next_incident_number(tx):08d}"
            if not self._exists(tx, spec, candidate):
                return candidate


def _point(geometry: Any) -> shapely.Point:
    if not isinstance(geometry, shapely.Point) or geometry.is_empty:
        raise ValidationError("a report needs its location as a point")
    x, y = geometry.x, geometry.y
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise ValidationError(f"location ({x:g}, {y:g}) is outside the WGS84 range")
    return geometry


def _check_fields(spec: Table, where: Mapping[str, Any] | None) -> None:
    unknown = set(where or {}) - set(spec.columns)
    if unknown:
        raise ValidationError(f"{spec.name} cannot be filtered by {', '.join(sorted(unknown))}")
