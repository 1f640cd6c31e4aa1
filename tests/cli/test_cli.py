"""The ``appliance`` command as an installer and a developer use it."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import requests
from click.testing import CliRunner
from sqlalchemy import select

from appliance import __version__
from appliance.cli import main
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.models import ApiToken
from appliance.web.tokens import hash_token
from tests.support.ports import free_port


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_token_create_prints_the_secret_once_and_stores_only_its_hash(tmp_path: Path, database_url: str) -> None:
    env = {"APPLIANCE_DATA_DIR": str(tmp_path), "APPLIANCE_DATABASE_URL": database_url}
    result = CliRunner().invoke(main, ["token", "create", "crm", "--admin"], env=env)
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        token = session.scalar(select(ApiToken))
    engine.dispose()
    assert token is not None and token.name == "crm" and token.is_admin
    assert token.token_hash == hash_token(secret) and secret not in token.token_hash


def test_a_bad_settings_file_is_reported_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("http_port = 'x'\n")
    result = CliRunner().invoke(main, ["db", "upgrade", "--config", str(config)])
    assert result.exit_code != 0
    assert "http_port" in result.output and "Traceback" not in result.output


def test_run_stops_with_a_clear_error_when_the_schema_cannot_be_upgraded(tmp_path: Path) -> None:
    # A database left by a newer version: its revision is one this version has no migration for.
    database = tmp_path / "appliance.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES ('9999')")
    env = {**os.environ, "APPLIANCE_DATA_DIR": str(tmp_path), "APPLIANCE_HTTP_PORT": "0",
           "APPLIANCE_MODEMS": "[]", "APPLIANCE_UDEV_DISCOVERY": "false"}
    result = subprocess.run([sys.executable, "-m", "appliance.cli", "run"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "9999" in result.stderr  # Alembic's own words, from the child
    assert "Error: the schema upgrade failed (exit status 1)" in result.stderr
    assert "panel on http" not in result.stderr


def test_emulate_writes_modems_json_and_serves_the_control_api(tmp_path: Path) -> None:
    state = tmp_path / "emu"
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "emulate", "--modems", "2", "--control-port", "0",
         "--state-dir", str(state), "--operator-network"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    try:
        deadline = time.monotonic() + 20
        modems: list[dict[str, object]] = []
        while not (modems and modems[0]["interface"]) and time.monotonic() < deadline:
            time.sleep(0.1)
            if (state / "modems.json").exists():
                modems = json.loads((state / "modems.json").read_text())
        assert [m["id"] for m in modems] == [1, 2]
        assert all(os.path.exists(str(m["port"])) and str(m["iccid"]).startswith("89") for m in modems)
        # The Huawei shows a network interface for data calls; the SIM800 has none.
        interface = str(modems[0]["interface"])
        assert os.path.exists(f"/sys/class/net/{interface}") and modems[1]["interface"] is None
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=20)
    assert process.returncode == 0, errors
    assert not os.path.exists(f"/sys/class/net/{interface}"), "the operator network is removed on exit"


def test_demo_shows_messages_arriving_over_the_api(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "APPLIANCE_DATA_DIR": str(tmp_path), "APPLIANCE_HTTP_PORT": str(port),
           "APPLIANCE_HTTPS_PORT": "0"}
    token = subprocess.run([sys.executable, "-m", "appliance.cli", "token", "create", "demo"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "appliance.cli", "user", "create", "owner@shop.pl", "--admin",
                    "--password-stdin"], env=env, input="demo password 1\n", text=True, check=True,
                   capture_output=True)
    process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "demo", "--interval", "0.3"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        items: list[dict[str, object]] = []
        deadline = time.monotonic() + 40
        while len(items) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/messages",
                                                 headers={"Authorization": f"Bearer {token}"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    items = json.load(response)["items"]
            except OSError:
                continue
        assert len(items) >= 3
        browser = requests.Session()
        login = browser.get(f"http://127.0.0.1:{port}/login", timeout=5).text
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
        browser.post(f"http://127.0.0.1:{port}/login", timeout=5, data={
            "csrf_token": csrf, "email": "owner@shop.pl", "password": "demo password 1"}).raise_for_status()
        page = browser.get(f"http://127.0.0.1:{port}/inbox", timeout=5).text
        assert str(items[0]["sender"]) in page
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
