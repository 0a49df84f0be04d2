"""Reader for Solomon (1987) VRPTW benchmark files."""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from optimizer.errors import SpecificationError

__all__ = ["VRPTWInstance", "read_solomon"]


def _frozen(values: np.ndarray, dtype: type) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class VRPTWInstance:
    """A vehicle routing problem with time windows (one depot, identical vehicles).

    Row 0 of every array is the depot, rows ``1..n`` are the customers, so a
    customer's row equals its Solomon customer number.

    Attributes
    ----------
    name : str
        Instance name (first line of the file, e.g. ``"C101"``).
    vehicles : int
        Number of vehicles available.
    capacity : int
        Capacity of every vehicle.
    coordinates : numpy.ndarray
        ``(n + 1, 2)`` float64 read-only array of x, y coordinates.
    demand : numpy.ndarray
        ``(n + 1,)`` int64 demands (0 for the depot).
    ready : numpy.ndarray
        ``(n + 1,)`` float64 earliest service start times (depot: opening time).
    due : numpy.ndarray
        ``(n + 1,)`` float64 latest service start times (depot: latest return).
    service : numpy.ndarray
        ``(n + 1,)`` float64 service durations (0 for the depot).
    """

    name: str
    vehicles: int
    capacity: int
    coordinates: np.ndarray
    demand: np.ndarray
    ready: np.ndarray
    due: np.ndarray
    service: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "coordinates", _frozen(self.coordinates, np.float64))
        object.__setattr__(self, "demand", _frozen(self.demand, np.int64))
        for name in ("ready", "due", "service"):
            object.__setattr__(self, name, _frozen(getattr(self, name), np.float64))

    @property
    def n_customers(self) -> int:
        """Number of customers (the depot excluded)."""
        return int(self.demand.shape[0] - 1)

    def distances(self) -> np.ndarray:
        """Return the ``(n + 1, n + 1)`` Euclidean distance matrix in double precision."""
        diff = self.coordinates[:, None, :] - self.coordinates[None, :, :]
        return np.sqrt((diff**2).sum(axis=2))


def read_solomon(path: str | PathLike[str]) -> VRPTWInstance:
    """Read a Solomon VRPTW instance in its original layout.

    The file holds the instance name, a ``VEHICLE`` block (``NUMBER CAPACITY``
    header, then the two values) and a ``CUSTOMER`` block whose rows are
    ``CUST NO. XCOORD. YCOORD. DEMAND READY TIME DUE DATE SERVICE TIME``,
    the depot first as customer 0. Distances and travel times are the
    Euclidean distances between the coordinates (not rounded).

    Parameters
    ----------
    path : str or path-like
        The instance file.

    Returns
    -------
    VRPTWInstance
        The instance.

    Raises
    ------
    SpecificationError
        If the file does not follow the layout: missing blocks, rows of the
        wrong length, customers not numbered ``0..n`` in order, a window with
        ``ready > due``, or a negative demand or service time.
    """
    path = Path(path)
    lines = [line.split() for line in path.read_text().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise SpecificationError(f"{path}: empty file")
    name = lines[0][0]
    upper = [" ".join(line).upper() for line in lines]
    try:
        vehicle_at = upper.index("VEHICLE")
        customer_at = upper.index("CUSTOMER")
    except ValueError:
        raise SpecificationError(f"{path}: missing VEHICLE or CUSTOMER block") from None
    try:
        vehicles, capacity = (int(v) for v in lines[vehicle_at + 2][:2])
    except (IndexError, ValueError):
        raise SpecificationError(f"{path}: cannot read 'NUMBER CAPACITY' values") from None
    rows = []
    for line in lines[customer_at + 1 :]:
        if not line[0].lstrip("-").replace(".", "", 1).isdigit():
            continue  # the column header line
        if len(line) != 7:
            raise SpecificationError(f"{path}: customer row with {len(line)} fields: {line}")
        try:
            rows.append([float(v) for v in line])
        except ValueError as exc:
            raise SpecificationError(f"{path}: non-numeric customer field ({exc})") from None
    if not rows:
        raise SpecificationError(f"{path}: no customer rows")
    table = np.array(rows)
    if not np.array_equal(table[:, 0], np.arange(len(rows))):
        raise SpecificationError(f"{path}: customers must be numbered 0..n in order (depot 0)")
    if (table[:, 4] > table[:, 5]).any():
        bad = int(table[np.argmax(table[:, 4] > table[:, 5]), 0])
        raise SpecificationError(f"{path}: customer {bad} has ready time after due date")
    if (table[:, 3] < 0).any() or (table[:, 6] < 0).any():
        raise SpecificationError(f"{path}: negative demand or service time")
    if vehicles < 1 or capacity < 0:
        raise SpecificationError(f"{path}: need at least one vehicle and capacity >= 0")
    return VRPTWInstance(
        name=name,
        vehicles=vehicles,
        capacity=capacity,
        coordinates=table[:, 1:3],
        demand=np.rint(table[:, 3]).astype(np.int64),
        ready=table[:, 4],
        due=table[:, 5],
        service=table[:, 6],
    )
