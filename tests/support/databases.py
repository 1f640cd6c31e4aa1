"""Fresh, migrated databases per test: a copy of a migrated SQLite file, or a PostgreSQL template clone."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from appliance.db.migrate import upgrade


class SqliteDatabases:
    def __init__(self, workdir: Path) -> None:
        self._template = workdir / "template.db"
        upgrade(f"sqlite:///{self._template}")

    def create(self, directory: Path) -> str:
        target = directory / "appliance.db"
        shutil.copyfile(self._template, target)
        return f"sqlite:///{target}"


class PostgresDatabases:
    """CREATE DATABASE … TEMPLATE is a file copy on the server: milliseconds, not a migration run."""

    TEMPLATE = "appliance_template"

    def __init__(self, server_url: str) -> None:
        self._server = make_url(server_url)
        self._admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.TEMPLATE}"'))
            connection.execute(text(f'CREATE DATABASE "{self.TEMPLATE}"'))
        upgrade(self._server.set(database=self.TEMPLATE).render_as_string(hide_password=False))

    def create(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.TEMPLATE}"'))
        return self._server.set(database=name).render_as_string(hide_password=False)

    def create_empty(self) -> str:
        """A database with no schema at all, for a test that migrates it step by step."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        return self._server.set(database=name).render_as_string(hide_password=False)

    def dispose(self) -> None:
        self._admin.dispose()
