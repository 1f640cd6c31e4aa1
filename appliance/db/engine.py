"""Engine and session factory for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL``: a commit is on the SD card before the modem is
told to delete the PDU it came from. Throughput comes from batching several PDUs per commit, not from
weakening durability.

:class:`unicode_lower` lower-cases text in SQL the same way on both: SQLite's own ``lower()`` folds
ASCII only ("ŁÓDŹ" stays "ŁÓDŹ"), so on SQLite it calls Python's ``str.lower``, registered on every
connection; PostgreSQL's ``lower()`` already follows Unicode in a UTF-8 locale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, String, create_engine, event, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from appliance import audit
from appliance.db.statistics_summary import install


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        path = make_url(database_url).database
        # A file's pool keeps two connections open, opens more while busy and closes them after:
        # each kept one holds its own schema, prepared statements and page cache, about 0.4 MiB
        # after traffic with a new database, and a page cache of at most 512 KiB (see the PRAGMA).
        # Fifteen at most, as SQLAlchemy's default pool allows. (An in-memory database has one.)
        on_file = bool(path) and path != ":memory:" and "mode=memory" not in database_url
        if on_file:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(database_url, connect_args={"timeout": 30, "check_same_thread": False},
                               **({"pool_size": 2, "max_overflow": 13} if on_file else {}))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Deleted rows are overwritten with zeros, not left in free pages: an erased phone number
            # must not be readable from the database file (appliance.erasure).
            cursor.execute("PRAGMA secure_delete=ON")
            # SQLite's own page cache, per connection: 512 KiB, not the default 2 MiB. Pages it does
            # not hold are still in the kernel's file cache, a copy away; the default's difference is
            # megabytes of RSS once the panel's pages have read through a large database.
            cursor.execute("PRAGMA cache_size=-512")
            cursor.close()
            dbapi_connection.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)

        return engine
    return create_engine(database_url, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep the statistics summary in step with the messages they change, and record
    configuration changes in the audit log."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    install(sessions)
    audit.install(sessions)
    return sessions


class unicode_lower(GenericFunction[str]):  # noqa: N801 - named as SQL functions are
    """``lower(text)`` with Unicode case mapping on SQLite too (see the module's docstring)."""

    type = String()
    inherit_cache = True


@compiles(unicode_lower)
def _lower_elsewhere(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _lower_on_sqlite(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"unicode_lower({compiler.process(element.clauses, **kw)})"


def _unicode_lower(text: str | None) -> str | None:
    return text.lower() if isinstance(text, str) else text
