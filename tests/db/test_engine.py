"""What every connection to the SQLite file is set up with, whichever connection of the pool it is."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, text

from appliance.db.engine import make_engine


def pragma(connection: Connection, name: str) -> object:
    return connection.execute(text(f"PRAGMA {name}")).scalar()


def test_each_sqlite_connection_is_durable_checked_erasing_and_small(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'appliance.db'}")
    with engine.connect() as first, engine.connect() as second, engine.connect() as overflow:
        for connection in (first, second, overflow):
            assert pragma(connection, "journal_mode") == "wal"
            assert pragma(connection, "synchronous") == 2  # FULL: on the card before the PDU is deleted
            assert pragma(connection, "foreign_keys") == 1
            assert pragma(connection, "secure_delete") == 1  # an erased number is not left in free pages
            assert pragma(connection, "cache_size") == -512  # KiB of SQLite's own page cache, not 2 MiB
    engine.dispose()
