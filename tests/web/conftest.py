"""Fixtures for the web layer: an app on a fresh, migrated database per test (SQLite and PostgreSQL).

``store`` puts messages and modems in that database the way the reception side will; ``api_token``
and ``auth`` give a working bearer token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from appliance.config import Settings
from appliance.db.models import Message, Modem
from appliance.web import create_app
from appliance.web.tokens import create_token

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
