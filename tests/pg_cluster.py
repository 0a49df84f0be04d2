"""A throwaway PostgreSQL + PostGIS server for the tests, and fresh databases from a template.

Each test process (each xdist worker) starts its own cluster on 127.0.0.1 the first time a
PostGIS test needs one: ``initdb`` into a temporary folder, a free port, the unix socket inside
that folder, the server run as ``postgres`` when the tests run as root. The migrations are
applied to a new schema for every test (a store whose URL puts that schema first in the search
path), dropped afterwards. With ``GRIDMAP_TEST_PG_DSN`` set, that database is used instead (its
user needs ``CREATE`` on it, PostGIS installed or the right to install it, and ``CREATEDB`` for
the test of migrations on an empty database).

Under ``CI=true`` a server that cannot be had fails the tests; elsewhere they are skipped with the
reason.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from gridmap.stores.migrate import LOCK_KEY, upgrade

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin",)
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class ServerUnavailable(RuntimeError):
    """No PostgreSQL + PostGIS server can be had for the tests."""


def pg_bindir() -> Path:
    """Return the folder holding ``initdb`` and ``pg_ctl`` (``GRIDMAP_PG_BIN`` or Debian's)."""
    given = os.environ.get("GRIDMAP_PG_BIN")
    candidates = [given] if given else list(PG_BIN_CANDIDATES)
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    raise ServerUnavailable(
        f"PostgreSQL 15 binaries (initdb, pg_ctl) not found in {', '.join(candidates)} "
        "(apt-get install postgresql-15-postgis-3, or set GRIDMAP_TEST_PG_DSN)"
    )


def url_from_params(params: dict[str, str]) -> str:
    """Return a ``postgresql://`` URL holding libpq connection parameters."""
    params = dict(params)
    dbname = params.pop("dbname", "postgres")
    return f"postgresql:///{quote(dbname, safe='')}?{urlencode(params)}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgCluster:
    """A PostgreSQL cluster in a temporary folder, on 127.0.0.1 only, with a random password."""

    root: Path
    port: int = 0
    durable: bool = False
    settings: dict[str, str] = field(default_factory=dict)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    _as_postgres: bool = field(default=False, repr=False)

    @classmethod
    def start(
        cls, *, durable: bool = False, settings: dict[str, str] | None = None, attempts: int = 4
    ) -> PgCluster:
        """Create and start a cluster.

        ``durable`` keeps fsync and synchronous commit on (for benchmarks); ``settings`` are
        more server settings (``postgres -c name=value``).
        """
        bindir = pg_bindir()
        as_postgres = os.geteuid() == 0  # the server refuses to run as root
        # as root, a folder the postgres user can reach (a private TMPDIR may not be)
        root = Path(tempfile.mkdtemp(prefix="gridmap-pg-", dir="/tmp" if as_postgres else None))
        cluster = cls(
            root, durable=durable, settings=dict(settings or {}), _as_postgres=as_postgres
        )
        try:
            (root / "sock").mkdir()
            if cluster._as_postgres:
                try:
                    shutil.chown(root, "postgres", "postgres")
                    shutil.chown(root / "sock", "postgres", "postgres")
                except LookupError:
                    raise ServerUnavailable(
                        "running as root needs the postgres user to run the server as "
                        "(the Debian package creates it)"
                    ) from None
            pwfile = root / "pwfile"  # a password, so other local users cannot log in
            pwfile.write_text(cluster.password + "\n")
            pwfile.chmod(0o600)
            if cluster._as_postgres:
                shutil.chown(pwfile, "postgres", "postgres")
            cluster._run(
                bindir / "initdb",
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            pwfile.unlink()
            for attempt in itertools.count(1):
                cluster.port = _free_port()
                try:
                    cluster._pg_ctl("start", "-w", "-t", "60", "-l", str(root / "server.log"))
                    break
                except ServerUnavailable:
                    if attempt >= attempts:  # a port taken between probe and start: try another
                        raise
            cluster._check_postgis()
        except BaseException:
            cluster.stop()
            raise
        atexit.register(cluster.stop)
        return cluster

    def _run(self, *cmd: object) -> None:
        args = [str(c) for c in cmd]
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerUnavailable(
                f"{Path(args[4 if self._as_postgres else 0]).name} failed "
                f"({done.returncode}): {done.stderr.strip()[-2000:]}\n{tail}"
            )

    def _pg_ctl(self, action: str, *extra: str) -> None:
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root / "sock"),
            **({} if self.durable else FAST_SETTINGS),
            **self.settings,
        }
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        self._run(
            pg_bindir() / "pg_ctl", action, "-D", str(self.root / "data"), "-o", options, *extra
        )

    def _check_postgis(self) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as con:
            found = con.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
        if found is None:
            raise ServerUnavailable(
                "PostgreSQL runs but PostGIS is missing (apt-get install postgresql-15-postgis-3)"
            )

    def dsn(self, dbname: str = "postgres") -> str:
        """Return the URL of one database of this cluster (TCP on 127.0.0.1)."""
        return url_from_params(
            {
                "dbname": dbname,
                "host": "127.0.0.1",
                "port": str(self.port),
                "user": "postgres",
                "password": self.password,
            }
        )

    def stop(self) -> None:
        """Stop the server (if running) and delete its folder; safe to call twice."""
        if (self.root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(ServerUnavailable):
                self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")
        shutil.rmtree(self.root, ignore_errors=True)


class TestDatabases:
    """Fresh, migrated stores on one server: one schema per test in one database per process.

    A store in its own schema (``search_path`` set in its URL) is as isolated as a database of
    its own, and creating one with the migrations takes some 60 ms where copying a template
    database takes 0.3-1 s (CREATE DATABASE checkpoints).
    """

    __test__ = False  # not a test class

    def __init__(self, admin_url: str, prefix: str, *, own_database: bool) -> None:
        self.prefix = prefix
        self._admin_params = conninfo_to_dict(admin_url)
        self._counter = itertools.count(1)
        self._databases: list[str] = []
        if own_database:
            self.database = self.create_database(f"{prefix}_db")
        else:
            self.database = self._admin_params.get("dbname", "postgres")
        with self._connect(self.database) as con:
            con.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))  # the migrations' lock
            try:
                con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            finally:
                con.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))

    def _connect(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=10)

    def url(self, dbname: str, schema: str | None = None) -> str:
        """Return the URL of database ``dbname`` (with ``schema`` first in the search path)."""
        params = {**self._admin_params, "dbname": dbname}
        if schema is not None:
            options = params.get("options", "")
            params["options"] = f"{options} -csearch_path={schema},public".strip()
        return url_from_params(params)

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (no PostGIS, no migrations) and return its name."""
        name = name or f"{self.prefix}_{next(self._counter)}"
        with self._connect(self._admin_params.get("dbname", "postgres")) as con:
            con.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            con.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        self._databases.append(name)
        return name

    def create_empty(self) -> str:
        """Create an empty schema (no migrations) and return the URL of a store in it."""
        schema = f"{self.prefix}_{next(self._counter)}"
        with self._connect(self.database) as con:
            con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        return self.url(self.database, schema)

    def create(self) -> str:
        """Create a schema with every migration applied and return the URL of a store in it."""
        url = self.create_empty()
        upgrade(url)
        return url

    def drop(self, url: str) -> None:
        """Drop the schema (or database) of ``url``."""
        params = conninfo_to_dict(url)
        schema = params.get("options", "").rpartition("search_path=")[2].partition(",")[0]
        if not schema:
            with self._connect(self._admin_params.get("dbname", "postgres")) as con:
                con.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(params["dbname"])
                    )
                )
            return
        with self._connect(params["dbname"]) as con:
            con.execute("SET lock_timeout = '20s'")
            con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    def close(self) -> None:
        """Drop the databases this object created."""
        with self._connect(self._admin_params.get("dbname", "postgres")) as con:
            for name in self._databases:
                with contextlib.suppress(psycopg.Error):
                    con.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
        self._databases.clear()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostGIS tests need a server under CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL + PostGIS server: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Return the admin URL of a PostgreSQL + PostGIS server for this test process."""
    given = os.environ.get("GRIDMAP_TEST_PG_DSN")
    if given:
        try:
            with psycopg.connect(given, connect_timeout=10):
                pass
        except psycopg.Error as exc:
            _unavailable(f"GRIDMAP_TEST_PG_DSN does not connect: {exc}")
        yield url_from_params(conninfo_to_dict(given))
        return
    try:
        cluster = PgCluster.start()
    except (ServerUnavailable, OSError, psycopg.Error) as exc:
        _unavailable(str(exc))
    try:
        yield cluster.dsn()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_databases(pg_server: str) -> Iterator[TestDatabases]:
    """Return the factory of fresh databases of this test process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    own = not os.environ.get("GRIDMAP_TEST_PG_DSN")
    dbs = TestDatabases(pg_server, f"gridmap_test_{worker}_{os.getpid()}", own_database=own)
    try:
        yield dbs
    finally:
        dbs.close()


@pytest.fixture
def pg_url(pg_databases: TestDatabases) -> Iterator[str]:
    """Return the URL of a fresh store with the migrations applied (dropped afterwards)."""
    url = pg_databases.create()
    try:
        yield url
    finally:
        pg_databases.drop(url)
