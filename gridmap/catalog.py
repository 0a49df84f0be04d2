"""The category catalog and the station kinds shipped in ``data/``.

The taxonomy is data, not code: cities extend the national event/component classes with local
ones by editing ``data/categories.csv`` (or pointing ``GRIDMAP_DATA`` at their own folder).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gridmap.errors import GridMapError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def data_dir() -> Path:
    """Return the folder holding the catalog, the calendar and the demo settings."""
    return Path(os.environ.get("GRIDMAP_DATA", DATA_DIR))


@dataclass(frozen=True)
class Category:
    """One incident category: an event/component minor class or a hotline request type."""

    code: str
    kind: str  # "event", "component" or "hotline"
    major_code: str
    major_zh: str
    major_en: str
    zh: str
    en: str
    limit_hours: float  # time limit in working hours
    skill: str


@dataclass(frozen=True)
class StationKind:
    """A kind of service station and its default service radius (life-circle level)."""

    kind: str
    zh: str
    en: str
    radius_m: float
    life_circle: int  # minutes


def _rows(name: str) -> list[dict[str, str]]:
    path = data_dir() / name
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        raise GridMapError(f"catalog file {path} is missing") from None


@cache
def categories() -> dict[str, Category]:
    """Return the category catalog keyed by code."""
    return {
        r["code"]: Category(**{**r, "limit_hours": float(r["limit_hours"])})
        for r in _rows("categories.csv")
    }


@cache
def station_kinds() -> dict[str, StationKind]:
    """Return the station kinds keyed by kind."""
    return {
        r["kind"]: StationKind(
            r["kind"], r["zh"], r["en"], float(r["radius_m"]), int(r["life_circle"])
        )
        for r in _rows("station_kinds.csv")
    }


def skills() -> list[str]:
    """Return the sorted skills that categories require."""
    return sorted({c.skill for c in categories().values()})


def load_category_mapping(path: str | Path) -> dict[str, str]:
    """Read a two-column CSV (``source,code``) mapping a source's category labels to catalog codes.

    Raises
    ------
    GridMapError
        If the file lacks the columns or maps to a code that is not in the catalog.
    """
    known = categories()
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GridMapError(f"category mapping {path} is not UTF-8 text ({exc.reason})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        if not reader.fieldnames or {"source", "code"} - set(reader.fieldnames):
            raise GridMapError(f"category mapping {path} needs the columns source,code")
        mapping = {}
        for line, row in enumerate(reader, start=2):
            if row["code"] not in known:
                raise GridMapError(
                    f"category mapping {path} line {line}: {row['code']!r} is not a catalog code"
                )
            mapping[row["source"]] = row["code"]
    except csv.Error as exc:
        raise GridMapError(
            f"category mapping {path} is not a well-formed CSV file: {exc}"
        ) from None
    return mapping
