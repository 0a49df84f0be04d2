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
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import shapely

from gridmap.calendar import working_calendar
from gridmap.catalog import categories
from gridmap.errors import ConflictError, ValidationError
from gridmap.model import Table, layer, table
from gridmap.validate_record import check_record, parse_time

#: A report repeating a device's description and place within this window is the same report.
REPEAT_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Intake:
    """What :meth:`RecordStore.intake` did: the case's id, its token, whether it is new."""

    incident_id: str
    token: str
    created: bool


@dataclass(frozen=True)
class Report:
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

    def _submit_intake(self, report: Report) -> Intake:
        """Store one checked report in a transaction of its own, exactly once.

        A report whose ``request_key`` was stored before (any time), or whose ``fingerprint``
        was stored within :data:`REPEAT_WINDOW` of its receipt, returns that earlier case with
        ``created`` False; concurrent reports with the same key are put one after the other. A
        new case gets the next free number ``R00000001``... as its id and the code of the grid
        covering its point (the smallest code when several), read in the same transaction.
        """
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
        now = parse_time(at if at is not None else datetime.now(UTC))
        point = _point(report.get("geometry"))
        fields = check_record(
            layer("incidents"), {"reported_at": now, **report, "id": "-", "status": "received"}
        )
        token = secrets.token_urlsafe(12)
        record = check_record(
            table("requests"), {**request, "incident_id": "-", "token": token, "received_at": now}
        )
        return self._submit_intake(Report(fields, record, point, now))


def case_row(report: Report) -> dict[str, Any]:
    """Return the incident row of a new case, but for its ``id`` and ``grid_code``."""
    fields = report.fields
    limit = categories()[fields["category"]].limit_hours
    return {
        **fields,
        "deadline": working_calendar().add_working_hours(fields["reported_at"], limit),
        "version": 1,
        "updated_at": report.received_at,
    }


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
