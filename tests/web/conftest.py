"""Fixtures of the web tests: the app over a fresh store of each backend, and signed-in users."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from gridmap import accounts
from web.app import create_app
from web.config import Config


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def store_url(request, tmp_path) -> str:
    """Return the URL of a fresh, empty store of each backend."""
    if request.param == "postgis":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "web.gpkg")


@pytest.fixture
def make_app(store_url):
    """Return a function building the app over the fresh store (settings may be overridden)."""
    built = []

    def make(**settings):
        app = create_app(Config(store=store_url, **settings))
        built.append(app)
        return app

    yield make
    for app in built:
        ctx = app.extensions["gridmap"]
        ctx.jobs.shutdown()
        ctx.store.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def store(app):
    """The app's own store (the same one its handlers use)."""
    return app.extensions["gridmap"].store


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def bearer(store):
    """Return a function giving the Authorization header of a signed-in user of a role."""

    def login(role: str) -> dict[str, str]:
        name = f"{role}-user"
        if not store.records("accounts", {"name": name}):
            accounts.create_user(store, name, role, "password-1")
        token, _, _ = accounts.sign_in(store, name, "password-1")
        return {"Authorization": f"Bearer {token}"}

    return login


@pytest.fixture
def live_url(app) -> Iterator[str]:
    """Serve the app from a thread on 127.0.0.1 and return its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
