"""Fixtures for the web layer: an app on a fresh, migrated database per test (SQLite and PostgreSQL).

``store`` puts messages and modems in that database the way the reception side will; ``api_token``
and ``auth`` give a working bearer token. ``client`` is a browser that has not signed in; ``panel`` is
one signed in as an admin, and ``signed_in(user)`` signs a new browser in as any user.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from appliance.config import Settings
from appliance.db.models import Message, Modem, User
from appliance.users import create_user
from appliance.web import create_app
from appliance.web.auth import SignedInUser
from appliance.web.tokens import create_token

PASSWORD = "correct horse battery"

DEFAULT_ICCID = "8944500102030405067"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="test-secret-key")


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session]) -> Flask:
    app = create_app(settings, session_factory)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def sign_in_browser(client: FlaskClient, user: User) -> FlaskClient:
    """What a successful sign-in leaves in the session cookie, without going through the form."""
    with client.session_transaction() as cookie:
        cookie["_user_id"] = SignedInUser(user).get_id()
        cookie["_fresh"] = True
    return client


class Users:
    """Creates panel users, each committed, with the password ``PASSWORD``."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self._sessions = session_factory

    def create(self, email: str = "admin@example.com", *, admin: bool = True, account_id: int | None = None) -> User:
        with self._sessions() as session:
            user = create_user(session, email, PASSWORD, admin=admin, account_id=account_id)
            session.commit()
            session.refresh(user)
            session.expunge(user)
        return user


@pytest.fixture
def users(session_factory: sessionmaker[Session]) -> Users:
    return Users(session_factory)


@pytest.fixture
def admin_user(users: Users) -> User:
    return users.create()


@pytest.fixture
def signed_in(app: Flask):
    """``signed_in(user)``: a new test browser signed in as ``user``."""
    return lambda user: sign_in_browser(app.test_client(), user)


@pytest.fixture
def panel(app: Flask, admin_user: User) -> FlaskClient:
    """A browser signed in as the box's admin."""
    return sign_in_browser(app.test_client(), admin_user)


class Store:
    """Inserts rows as the reception side would, each in its own committed transaction."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self._sessions = session_factory

    def message(self, **fields: Any) -> Message:
        values: dict[str, Any] = {
            "iccid": DEFAULT_ICCID,
            "sender": "+447700900123",
            "text": "Hello",
            "kind": "sms",
            "status": "unmatched",
            "received_at": datetime.now(UTC),
        }
        values.update(fields)
        return self._add(Message(**values))

    def messages(self, count: int, **fields: Any) -> list[Message]:
        return [self.message(text=f"message {n}", **fields) for n in range(1, count + 1)]

    def modem(self, **fields: Any) -> Modem:
        values: dict[str, Any] = {
            "iccid": DEFAULT_ICCID,
            "msisdn": "+447700900001",
            "imsi": "234150000000001",
            "imei": "860000000000001",
            "manufacturer": "Huawei",
            "model": "E3372",
            "operator": "Vodafone UK",
            "port": "/dev/ttyUSB0",
            "state": "registered",
            "signal_dbm": -71,
            "storage_used": 0,
            "storage_total": 30,
            "last_seen_at": datetime.now(UTC),
        }
        values.update(fields)
        return self._add(Modem(**values))

    def _add(self, row: Any) -> Any:
        with self._sessions() as session:
            session.add(row)
            session.commit()
        return row


@pytest.fixture
def store(session_factory: sessionmaker[Session]) -> Store:
    return Store(session_factory)


@pytest.fixture
def api_token(session_factory: sessionmaker[Session]) -> str:
    with session_factory() as session:
        secret = create_token(session, "tests")
        session.commit()
    return secret


@pytest.fixture
def auth(api_token: str) -> dict[str, str]:
    """Request headers that carry a valid token."""
    return {"Authorization": f"Bearer {api_token}"}


# --- a real browser: Debian's Chromium, a requirement of the suite, not an option ---------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Two poll intervals and then some, on a loaded two-core CI machine.
LIVE_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) "
                    "to run the panel's browser tests")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server_url(app) -> Iterator[str]:
    # A live events stream notices a closed tab when it next writes: often, so that it ends with its test.
    app.config["LIVE_HEARTBEAT_SECONDS"] = 0.5
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="panel-test-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    # Requests still running (the stream of a tab that just closed) finish before the database goes.
    deadline = time.monotonic() + 10
    for request_thread in threading.enumerate():
        if request_thread.name.endswith("(process_request_thread)"):
            request_thread.join(timeout=max(0.0, deadline - time.monotonic()))


@pytest.fixture
def page(browser: Browser, server_url: str, admin_user: User) -> Iterator[Page]:
    """A Chromium tab signed in as the admin through the real sign-in form."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(server_url + "/login")
    page.fill("input[name=email]", admin_user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(lambda url: "/login" not in url)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the panel: {errors}"
