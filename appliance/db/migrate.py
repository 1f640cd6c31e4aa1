"""Schema upgrades with Alembic, run by ``appliance db upgrade`` and at every start of ``appliance run``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str, data_dir: Path | None = None) -> Config:
    """``data_dir`` is where migrations that seal or open stored secrets find the key file
    (appliance.db.sealed); without it they read the settings (APPLIANCE_CONFIG, APPLIANCE_DATA_DIR)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if data_dir is not None:
        config.attributes["data_dir"] = data_dir
    return config


def upgrade(database_url: str, revision: str = "head", data_dir: Path | None = None) -> None:
    command.upgrade(alembic_config(database_url, data_dir), revision)


def downgrade(database_url: str, revision: str, data_dir: Path | None = None) -> None:
    command.downgrade(alembic_config(database_url, data_dir), revision)
