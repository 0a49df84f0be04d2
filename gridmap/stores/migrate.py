"""Versioned schema migrations of the PostGIS store.

The migrations are plain SQL files shipped in ``gridmap/stores/migrations`` and named
``NNNN_what.sql``; they are applied in order, each in its own transaction, and recorded in the
table ``gridmap_migrations`` with a checksum of their text. Applying is idempotent: what is
recorded is skipped, and concurrent upgrades of one database are serialised by an advisory lock.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import psycopg

from gridmap.errors import StoreError
from gridmap.stores.pg_connect import connect, redact

TABLE = "gridmap_migrations"
LOCK_KEY = 7_226_201_701  # pg_advisory_xact_lock key shared by every GridMap upgrade
_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True)
class Migration:
    """One SQL file: its version (``0001``), name, text and checksum."""

    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """Return the SHA-256 of the file's text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


@cache
def migrations() -> tuple[Migration, ...]:
    """Return the migrations shipped with GridMap, in order."""
    found = []
    for entry in resources.files("gridmap.stores").joinpath("migrations").iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(match[1], match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two migrations share a version: {versions}")
    return tuple(found)


def applied(con: psycopg.Connection) -> dict[str, str]:
    """Return the recorded migrations of a database (version -> checksum); empty when none."""
    exists = con.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
    if not exists or not exists[0]:
        return {}
    return dict(con.execute(f"SELECT version, checksum FROM {TABLE}").fetchall())


def pending(con: psycopg.Connection) -> list[Migration]:
    """Return the migrations not yet applied, after checking the applied ones.

    Raises
    ------
    StoreError
        If the database holds a migration this GridMap does not know (it is newer), or an applied
        migration's file changed since.
    """
    done = applied(con)
    known = {m.version: m for m in migrations()}
    unknown = sorted(set(done) - set(known))
    if unknown:
        raise StoreError(
            f"the database has schema version {unknown[-1]}, newer than this GridMap knows "
            f"({max(known, default='none')}): upgrade GridMap"
        )
    for version, checksum in done.items():
        if known[version].checksum != checksum:
            raise StoreError(
                f"migration {version}_{known[version].name}.sql changed after it was applied; "
                "never edit an applied migration, add a new one"
            )
    return [m for m in migrations() if m.version not in done]


def apply_pending(con: psycopg.Connection) -> list[str]:
    """Apply every pending migration on ``con``, one transaction each; return their names.

    ``con`` must not be inside a transaction. An up-to-date database is only read (a role
    without DDL rights can open it); otherwise an advisory lock serialises concurrent upgrades:
    a second process waits, then finds nothing left to do.
    """
    done: list[str] = []
    with con.transaction():
        if not pending(con):
            return done
    while True:
        with con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                "version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            todo = pending(con)
            if not todo:
                return done
            step = todo[0]
            try:
                con.execute(step.sql.encode())  # no parameters: run as a script
            except psycopg.Error as exc:
                raise StoreError(
                    f"migration {step.version}_{step.name}.sql failed: {exc}".strip()
                ) from None
            con.execute(
                f"INSERT INTO {TABLE} (version, name, checksum) VALUES (%s, %s, %s)",
                (step.version, step.name, step.checksum),
            )
        done.append(f"{step.version}_{step.name}")


def upgrade(url: str) -> list[str]:
    """Bring the database at ``url`` to the newest schema; return the migrations applied.

    Parameters
    ----------
    url : str
        A ``postgresql://`` URL.

    Returns
    -------
    list of str
        The applied migrations (``["0001_initial"]``), empty when the database was up to date.

    Raises
    ------
    StoreError
        If the server cannot be reached, a migration fails (nothing of it is kept), or the
        database is newer than this GridMap.
    """
    with connect(url) as con:
        try:
            return apply_pending(con)
        except psycopg.Error as exc:
            raise StoreError(f"cannot upgrade {redact(url)}: {exc}") from None
