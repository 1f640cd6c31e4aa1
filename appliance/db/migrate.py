"""Schema upgrades with Alembic: ``appliance db upgrade``, and at every start of ``appliance run`` in a
short-lived child process.

Alembic (with Mako and Pygments, which it brings) takes about 11 MiB once imported, and a Python
process never gives an imported module's memory back. The daemon needs it only to upgrade at start,
so it runs :func:`upgrade` in a child (:func:`upgrade_in_child_process`) and Alembic never enters its
memory; the functions here import Alembic when called, so that importing this module costs nothing.
A restore, and a backup of a PostgreSQL database, still load it into the process they run in.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")


class UpgradeFailed(RuntimeError):
    """The child process could not bring the schema up to date; its own error is in the log before this."""


def alembic_config(database_url: str, data_dir: Path | None = None) -> Config:
    """``data_dir`` is where migrations that seal or open stored secrets find the key file
    (appliance.db.sealed); without it they read the settings (APPLIANCE_CONFIG, APPLIANCE_DATA_DIR)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if data_dir is not None:
        config.attributes["data_dir"] = data_dir
    return config


def upgrade(database_url: str, revision: str = "head", data_dir: Path | None = None) -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url, data_dir), revision)


def downgrade(database_url: str, revision: str, data_dir: Path | None = None) -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url, data_dir), revision)


def upgrade_in_child_process(database_url: str, data_dir: Path) -> None:
    """:func:`upgrade` to the newest schema in a fresh interpreter (see the module's docstring). The URL
    goes through the child's stdin, not its command line, where a PostgreSQL password would show in
    ``ps``; the child logs at this process's level, to the same stderr."""
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    result = subprocess.run([sys.executable, "-m", __name__, level, str(data_dir)], input=database_url, text=True,
                            check=False)
    if result.returncode != 0:
        raise UpgradeFailed(f"the schema upgrade failed (exit status {result.returncode}); see the error above")


def head_revision() -> str:
    """The newest schema revision this version of the appliance knows."""
    head = _scripts().get_current_head()
    assert head is not None
    return head


def is_known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this version's migrations (not one made by a newer version)."""
    from alembic.util import CommandError

    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://"))


if __name__ == "__main__":
    from appliance.cli import LOG_FORMAT

    logging.basicConfig(level=sys.argv[1], format=LOG_FORMAT)
    upgrade(sys.stdin.read(), data_dir=Path(sys.argv[2]))
