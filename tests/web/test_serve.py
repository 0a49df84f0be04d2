"""``gridmap serve`` on waitress, and the account commands that go with it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from gridmap import accounts
from gridmap.cli import main
from gridmap.stores import open_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read().decode()}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_serve_runs_the_app_on_waitress(tmp_path, capsys):
    path = tmp_path / "s.gpkg"
    assert main(["keys", "create", "--role", "citizen", "--store", str(path)]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("gm_")
    assert accounts.identify_key(open_store(path), key).role == "citizen"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gridmap.cli", "serve", "--store", str(path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/api/workflow", process)
        with urllib.request.urlopen(f"{base}/api/workflow") as r:
            assert r.headers["Server"] == "gridmap"  # waitress, not werkzeug's dev server
            assert "register" in json.load(r)["actions"]
        request = urllib.request.Request(
            f"{base}/api/me", headers={"Authorization": f"Bearer {key}"}
        )
        with pytest.raises(urllib.error.HTTPError) as err:  # keys are for Open311 only
            urllib.request.urlopen(request)
        assert err.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/api/accounts")
        assert err.value.code == 401
        assert json.load(err.value)["code"] == "Unauthorized"
    finally:
        process.terminate()
        process.wait(10)


def test_users_create_and_revoke(tmp_path, capsys, monkeypatch):
    path = str(tmp_path / "u.gpkg")
    monkeypatch.setenv("GRIDMAP_PASSWORD", "long-enough")
    assert main(["users", "create", "li", "--role", "dispatcher", "--store", path]) == 0
    token, who, _ = accounts.sign_in(open_store(path), "li", "long-enough")
    assert who.role == "dispatcher"
    monkeypatch.setenv("GRIDMAP_PASSWORD", "short")
    assert main(["users", "create", "wang", "--role", "official", "--store", path]) == 2
    assert "password" in capsys.readouterr().err
    assert main(["users", "delete", "li", "--store", path]) == 0
    assert accounts.identify_token(open_store(path), token) is None
    assert main(["keys", "revoke", "gm_nothing", "--store", path]) == 2
