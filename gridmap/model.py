"""The GridMap data model: the layers, their fields, and the checks every stored row passes.

Every layer is stored in WGS84 (EPSG:4326) with one key column (``code`` for grids, ``id`` for
the rest). Fields marked ``derived`` are computed by the store when a row is written (grid area,
an incident's grid and deadline, row versions).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from gridmap.catalog import categories, station_kinds
from gridmap.workflow import STATES

CRS = "EPSG:4326"
SOURCES = ("hotline", "app", "patrol", "open311")
STATION_STATUSES = ("planned", "open", "closed")
DEMAND_KINDS = ("residential", "courier", "incident")
PRIORITIES = (1, 2, 3)  # 1 urgent (紧急), 2 high (较急), 3 normal (一般)


@dataclass(frozen=True)
class Field:
    """One attribute column.

    ``kind`` is one of ``text``, ``int``, ``float``, ``datetime`` (timezone-aware) or ``list``
    (a list of strings, e.g. a worker's skills).
    """

    name: str
    kind: str = "text"
    required: bool = False
    choices: Callable[[], Collection[object]] | None = None
    default: object = None
    derived: bool = False
    minimum: float | None = None


class _Fields:
    """What layers and plain tables share: their fields, looked up by name."""

    fields: tuple[Field, ...]

    @property
    def columns(self) -> list[str]:
        """Return the column names in storage order (key first)."""
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        """Return the field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@dataclass(frozen=True)
class Layer(_Fields):
    """One layer: its key, geometry type and fields."""

    name: str
    key: str
    geometry: str  # "MultiPolygon", "Point" or "LineString"
    fields: tuple[Field, ...]
    geometry_required: bool = True
    title_zh: str = ""
    title_en: str = ""


def _const(values: Collection[object]) -> Callable[[], Collection[object]]:
    return lambda: values


LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer(
            "grids",
            "code",
            "MultiPolygon",
            (
                Field("code", required=True),
                Field("name"),
                Field("district"),
                Field("street"),
                Field("community"),
                Field("population", "float", default=0.0, minimum=0),
                Field("households", "int", default=0, minimum=0),
                Field("area_m2", "float", derived=True),
            ),
            title_zh="单元网格",
            title_en="Unit grids",
        ),
        Layer(
            "stations",
            "id",
            "Point",
            (
                Field("id", required=True),
                Field("kind", required=True, choices=lambda: station_kinds().keys()),
                Field("name"),
                Field("capacity", "int", minimum=0),
                Field("opening_hours"),
                Field("status", default="open", choices=_const(STATION_STATUSES)),
                Field("service_radius_m", "float", minimum=0),
            ),
            title_zh="服务站点",
            title_en="Stations",
        ),
        Layer(
            "incidents",
            "id",
            "Point",
            (
                Field("id", required=True),
                Field("category", required=True, choices=lambda: categories().keys()),
                Field("description"),
                Field("source", default="hotline", choices=_const(SOURCES)),
                Field("priority", "int", default=3, choices=_const(PRIORITIES)),
                Field("reported_at", "datetime", required=True),
                Field("status", default="received", choices=_const(tuple(STATES))),
                Field("grid_code", derived=True),
                Field("worker_id"),
                Field("deadline", "datetime", derived=True),
                Field("version", "int", derived=True),
                Field("updated_at", "datetime", derived=True),
            ),
            title_zh="事件",
            title_en="Incidents",
        ),
        Layer(
            "workers",
            "id",
            "Point",
            (
                Field("id", required=True),
                Field("name"),
                Field("grid_codes", "list", default=()),
                Field("skills", "list", default=()),
                Field("max_open", "int", default=10, minimum=0),
                Field("shift_start", default="09:00"),
                Field("shift_end", default="18:00"),
            ),
            geometry_required=False,
            title_zh="网格员",
            title_en="Grid workers",
        ),
        Layer(
            "sites",
            "id",
            "Point",
            (
                Field("id", required=True),
                Field("kind", required=True, choices=lambda: station_kinds().keys()),
                Field("name"),
                Field("cost", "float", default=0.0, minimum=0),
                Field("capacity", "int", minimum=0),
                # written by `gridmap site`: 1 = best suggestion, null when not suggested
                Field("rank", "int", minimum=1),
                Field("gain", "float"),
                Field("suggested_by"),
            ),
            title_zh="候选站址",
            title_en="Candidate sites",
        ),
        Layer(
            "demand",
            "id",
            "Point",
            (
                Field("id", required=True),
                Field("kind", required=True, choices=_const(DEMAND_KINDS)),
                Field("name"),
                Field("weight", "float", default=1.0, minimum=0),
            ),
            title_zh="需求点",
            title_en="Demand points",
        ),
        Layer(
            "roads",
            "id",
            "LineString",
            (
                Field("id", required=True),
                Field("u", required=True),  # node ids: the edge runs from u to v
                Field("v", required=True),
                Field("length_m", "float", minimum=0),
                Field("name"),
                Field("highway"),
                Field("oneway", "int", default=0, choices=_const((0, 1))),
                Field("speed_kmh", "float", minimum=0),
            ),
            title_zh="道路网络",
            title_en="Road network",
        ),
    )
}

ROLES = ("citizen", "dispatcher", "planner", "official", "admin")


@dataclass(frozen=True)
class Table(_Fields):
    """A plain table beside the layers (no geometry): intake records and accounts."""

    name: str
    key: str
    fields: tuple[Field, ...]


#: Plain tables. ``requests`` keeps what a citizen gave with a report (contact details are
#: private: never published with the incident); ``accounts`` holds users (hashed passwords) and
#: API keys (hashed); ``sessions`` the hashed bearer tokens of signed-in users.
TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table(
            "requests",
            "incident_id",
            (
                Field("incident_id", required=True),
                Field("request_key"),  # the client's Idempotency-Key
                Field("fingerprint"),  # device + description + place: repeats within minutes
                Field("token", required=True),
                Field("received_at", "datetime", required=True),
                Field("email"),
                Field("phone"),
                Field("first_name"),
                Field("last_name"),
                Field("device_id"),
                Field("account_id"),
                Field("address"),
                Field("media_url"),
                Field("api_key"),  # the name of the key the request came with
            ),
        ),
        Table(
            "accounts",
            "name",
            (
                Field("name", required=True),
                Field("kind", required=True, choices=_const(("user", "key"))),
                Field("role", required=True, choices=_const(ROLES)),
                Field("secret", required=True),  # password hash, or the key's SHA-256
                Field("created_at", "datetime", required=True),
                Field("expires_at", "datetime"),
            ),
        ),
        Table(
            "sessions",
            "token",
            (
                Field("token", required=True),  # SHA-256 of the bearer token
                Field("account", required=True),
                Field("role", required=True, choices=_const(ROLES)),
                Field("expires_at", "datetime", required=True),
            ),
        ),
    )
}

#: The incident transition history, a plain table beside the layers.
HISTORY_COLUMNS = (
    "incident_id",
    "seq",
    "at",
    "from_status",
    "to_status",
    "action",
    "actor",
    "note",
)


def layer(name: str) -> Layer:
    """Return the layer called ``name``.

    Raises
    ------
    NotFoundError
        If there is no such layer.
    """
    from gridmap.errors import NotFoundError

    try:
        return LAYERS[name]
    except KeyError:
        raise NotFoundError(f"unknown layer {name!r}; layers are: {', '.join(LAYERS)}") from None


def table(name: str) -> Table:
    """Return the plain table called ``name``.

    Raises
    ------
    NotFoundError
        If there is no such table.
    """
    from gridmap.errors import NotFoundError

    try:
        return TABLES[name]
    except KeyError:
        raise NotFoundError(f"unknown table {name!r}; tables are: {', '.join(TABLES)}") from None
