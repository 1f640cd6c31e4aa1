"""Fixtures shared by every test folder: real databases on both supported backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.engine import make_engine, make_session_factory
from appliance.db.sealed import Keyring, use_key
from tests.support.databases import PostgresDatabases, SqliteDatabases
from tests.support.postgres import ThrowawayCluster

# Locally the fuzzers explore new inputs on every run; in CI they replay a fixed sequence, so a
# submission is judged on the same cases each time (what a local run finds becomes a test).
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """The server from APPLIANCE_TEST_POSTGRES_URL, else a throwaway cluster. Never skipped."""
    url = os.environ.get("APPLIANCE_TEST_POSTGRES_URL")
    cluster = None
    if not url:
        cluster = ThrowawayCluster()
        url = cluster.start()
    databases = PostgresDatabases(url)
    yield databases
    databases.dispose()
    if cluster is not None:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh migrated database; every test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_databases").create(tmp_path)
    return request.getfixturevalue("postgres_databases").create()


@pytest.fixture
def session_factory(database_url: str, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions sealing secrets with the key file of ``tmp_path / "data"``, the data directory every
    test's settings name, so the app and the appliance a test starts open what the test stored."""
    engine = use_key(make_engine(database_url), Keyring.from_data_dir(tmp_path / "data"))
    yield make_session_factory(engine)
    engine.dispose()
