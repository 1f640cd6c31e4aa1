"""The ``appliance`` command (DESIGN §4.1). Every subcommand takes ``--config FILE`` (or APPLIANCE_CONFIG)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from appliance import __version__
from appliance.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
config_option = click.option("--config", "config_file", type=click.Path(dir_okay=False),
                             envvar="APPLIANCE_CONFIG", help="Settings file (TOML).")


def _settings(config_file: str | None) -> Settings:
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    return settings


def _shutdown_requested() -> threading.Event:
    """An event set by SIGTERM/SIGINT. Installed before anything starts, so a stop request that comes
    while the command is still starting is honoured, not answered by the default handler's kill."""
    requested = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        requested.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return requested


@click.group()
@click.version_option(__version__, prog_name="appliance")
def main() -> None:
    """SMS/MMS reception appliance."""


@main.command()
@config_option
def run(config_file: str | None) -> None:
    """The appliance: modem pool, reception, panel and API."""
    from appliance.db.migrate import UpgradeFailed, upgrade_in_child_process

    stop = _shutdown_requested()
    settings = _settings(config_file)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The schema first, before this process imports the appliance: the upgrading child (64 MiB at
    # its peak) and the daemon (70 MiB once its modules are in) are never both that size at once.
    try:
        upgrade_in_child_process(settings.effective_database_url, settings.data_dir)
    except UpgradeFailed as exc:
        raise click.ClickException(str(exc)) from exc
    from appliance.runtime import Appliance
    from appliance.service import supervised

    appliance = Appliance(settings, upgrade_schema=False)
    appliance.start()
    with supervised(appliance):  # READY=1, the watchdog fed while healthy, STOPPING=1 (systemd)
        stop.wait()
    appliance.stop()


@main.command()
@config_option
@click.option("--modems", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--control-port", default=8090, show_default=True, type=int)
@click.option("--mmsc-port", default=None, type=int, help="Fake MMSC port (MMS issue).")
@click.option("--state-dir", default=".state/emulator", show_default=True, type=click.Path(file_okay=False))
@click.option("--personality", "personalities", multiple=True,
              help="huawei, simcom or quectel; repeated to cycle through (default: all three).")
@click.option("--operator-network", is_flag=True,
              help="Network interfaces for the modems' data calls, the operators' MMS proxies behind them (root).")
def emulate(config_file: str | None, modems: int, control_port: int, mmsc_port: int | None, state_dir: str,
            personalities: tuple[str, ...], operator_network: bool) -> None:
    """AT modem emulator on ptys with its control API; writes STATE_DIR/modems.json."""
    from appliance.modem.emulator.emulator import run_emulator
    from appliance.modem.emulator.operator_network import OperatorNetworkUnavailable

    _settings(config_file)
    stop = _shutdown_requested()
    emulator = run_emulator(modems=modems, control_port=control_port, state_dir=Path(state_dir),
                            mmsc_port=mmsc_port, personalities=list(personalities) or None)
    if operator_network:
        try:
            emulator.start_operator_network()
        except OperatorNetworkUnavailable as exc:
            emulator.stop()
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{modems} emulated modems; control API on http://127.0.0.1:{control_port}; "
               f"ports in {Path(state_dir) / 'modems.json'}", err=True)
    stop.wait()
    emulator.stop()


@main.command()
@config_option
@click.option("--modems", default=4, show_default=True, type=click.IntRange(1, 16))
@click.option("--interval", default=3.0, show_default=True, help="Seconds between demo messages.")
def demo(config_file: str | None, modems: int, interval: float) -> None:
    """Emulator + appliance + generated traffic in one process, for a first look."""
    from appliance.demo import Demo
    from appliance.setup_code import read_code

    stop = _shutdown_requested()
    settings = _settings(config_file)
    demo_run = Demo(settings, modems=modems, interval=interval)
    demo_run.start()
    code = read_code(settings.data_dir)
    if code is not None:
        panel = f"http://{settings.http_host}:{demo_run.appliance.http_port}/"
        click.echo(f"\n    First-run setup code:  {code}\n    Open {panel} and type it in to create the administrator.\n",
                   err=True)
    stop.wait()
    demo_run.stop()


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@config_option
def db_upgrade(config_file: str | None) -> None:
    """Apply all schema migrations (``run`` does this at start too)."""
    from appliance.db.migrate import upgrade

    settings = _settings(config_file)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url, data_dir=settings.data_dir)
    click.echo("database is at the newest schema")


def _shipped_udev_rules() -> list[Path]:
    """The project's udev/*.rules: beside the package in a checkout, /usr/share/appliance/udev in the image."""
    for directory in (Path(__file__).resolve().parents[1] / "udev", Path("/usr/share/appliance/udev")):
        rules = sorted(directory.glob("*.rules"))
        if rules:
            return rules
    raise click.ClickException("no udev rules found (looked beside the package and in /usr/share/appliance/udev)")


@main.command("install-udev")
@click.option("--target", default="/etc/udev/rules.d", show_default=True, type=click.Path(file_okay=False))
@click.option("--reload/--no-reload", default=True, show_default=True,
              help="Tell udev (udevadm control --reload) and re-apply the rules to present ttys.")
def install_udev(target: str, reload: bool) -> None:
    """Install the udev rules for USB modems: ModemManager keeps off, dialout group, /dev/gsm/ names."""
    import shutil
    import subprocess

    Path(target).mkdir(parents=True, exist_ok=True)
    for rules in _shipped_udev_rules():
        shutil.copyfile(rules, Path(target) / rules.name)
        click.echo(f"installed {Path(target) / rules.name}")
    if not reload:
        return
    if not (shutil.which("udevadm") and Path("/run/udev/control").exists()):
        click.echo("udev is not running here (image build?): the rules apply from the next boot")
        return
    for command in (["udevadm", "control", "--reload"],
                    ["udevadm", "trigger", "--action=change", "--subsystem-match=tty"]):
        if subprocess.run(command, check=False).returncode != 0:
            raise click.ClickException(f"`{' '.join(command)}` failed; replug the modems instead")
    click.echo("udev reloaded; replug modems that ModemManager already holds")


@contextmanager
def _database(config_file: str | None) -> Iterator[Session]:
    """One transaction on the configured database, migrated first; committed when the block ends.
    Its configuration changes are recorded in the audit log as the console's."""
    from appliance.audit import CONSOLE, acting_as
    from appliance.db.engine import make_engine, make_session_factory
    from appliance.db.migrate import upgrade
    from appliance.db.sealed import Keyring, use_key

    settings = _settings(config_file)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url, data_dir=settings.data_dir)
    engine = use_key(make_engine(settings.effective_database_url), Keyring.from_data_dir(settings.data_dir))
    try:
        with acting_as(CONSOLE), make_session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _record(engine: Engine, action: str, details: dict[str, object]) -> None:
    """An audit log entry for what the command line did outside a session (a backup, a restore)."""
    from appliance.audit import CONSOLE, record
    from appliance.db.engine import make_session_factory

    with make_session_factory(engine).begin() as session:
        record(session, action, actor=CONSOLE, details=details)


@main.command()
@config_option
@click.argument("archive", type=click.Path(dir_okay=False, writable=True))
def backup(config_file: str | None, archive: str) -> None:
    """Write a backup of the database and the attachment files to ARCHIVE (.tar.gz).

    Safe while the appliance runs and messages keep arriving.
    """
    from appliance.backup import BackupError, write_backup
    from appliance.db.engine import make_engine

    settings = _settings(config_file)
    engine = make_engine(settings.effective_database_url)
    target = Path(archive)
    # Written aside and renamed: an interrupted run never leaves a cut-short file under the name asked for.
    scratch = target.with_name(f".{target.name}.partial")
    try:
        with scratch.open("wb") as out:
            summary = write_backup(engine, settings.data_dir, out)
            out.flush()
            os.fsync(out.fileno())
        scratch.replace(target)
        _record(engine, "backup.create", {"file": str(target), "messages": summary.rows.get("messages", 0),
                                          "attachment_files": summary.attachment_files})
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        scratch.unlink(missing_ok=True)
        engine.dispose()
    click.echo(f"{target}: {summary.rows.get('messages', 0)} messages, {summary.attachment_files} attachment files, "
               f"schema {summary.schema_revision}")
    if summary.missing_files:
        click.echo(f"warning: {len(summary.missing_files)} attachment files were already missing from "
                   f"{settings.data_dir} and are not in the backup", err=True)


@main.command()
@config_option
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the data.")
def restore(config_file: str | None, archive: str, yes: bool) -> None:
    """Replace the database's contents and add the attachment files from a backup ARCHIVE.

    The archive is checked completely before anything changes; a backup of an older version is
    upgraded, one of a newer version refused.
    """
    from sqlalchemy.engine import make_url

    from appliance.backup import BackupError, restore_backup
    from appliance.db.engine import make_engine
    from appliance.db.migrate import upgrade

    settings = _settings(config_file)
    if not yes:
        database = make_url(settings.effective_database_url).render_as_string(hide_password=True)
        click.confirm(f"Replace every message, setting and user in {database} with the contents of {archive}?",
                      abort=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url, data_dir=settings.data_dir)
    engine = make_engine(settings.effective_database_url)
    try:
        with open(archive, "rb") as source:
            summary = restore_backup(engine, settings.data_dir, source)
        _record(engine, "backup.restore", {"file": archive, "backup_created_at": summary.backup_created_at.isoformat(),
                                           "schema": summary.backup_revision, "messages": summary.rows.get("messages", 0)})
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    upgraded = f", upgraded to {summary.upgraded_to}" if summary.upgraded_to else ""
    click.echo(f"restored the backup of {summary.backup_created_at:%Y-%m-%d %H:%M} UTC (schema {summary.backup_revision}"
               f"{upgraded}): {summary.rows.get('messages', 0)} messages, {summary.rows.get('users', 0)} users, "
               f"{summary.attachment_files} attachment files ({summary.new_attachment_files} new)")


@main.group()
def token() -> None:
    """REST API tokens."""


@token.command("create")
@config_option
@click.argument("name")
@click.option("--admin", is_flag=True, help="May configure every account.")
@click.option("--account", "account_id", type=int, default=None,
              help="Sees and configures only this account (by id).")
def token_create(config_file: str | None, name: str, admin: bool, account_id: int | None) -> None:
    """Create an API token and print it once; only its hash is stored.

    Without --admin or --account the token reads every account and changes nothing.
    """
    from appliance.db.models import Account
    from appliance.web.tokens import create_token

    if admin and account_id is not None:
        raise click.UsageError("--admin sees every account already; give --admin or --account, not both")
    with _database(config_file) as session:
        if account_id is not None and session.get(Account, account_id) is None:
            raise click.ClickException(f"there is no account {account_id}")
        secret = create_token(session, name, admin=admin, account_id=account_id)
    click.echo(secret)


@main.group()
def user() -> None:
    """People who sign in to the panel."""


@user.command("create")
@config_option
@click.argument("email")
@click.option("--admin", is_flag=True, help="Sees and configures every account.")
@click.option("--account", "account_id", type=int, default=None, help="The account this user belongs to (by id).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of asking.")
def user_create(config_file: str | None, email: str, admin: bool, account_id: int | None,
                password_stdin: bool) -> None:
    """Create a panel user: an admin, or a user of one account.

    Needs no setup code: whoever types this on the box has it in hand. The code is void afterwards."""
    from appliance.setup_code import void_code
    from appliance.users import UserError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with _database(config_file) as session:
            created = create_user(session, email, password, admin=admin, account_id=account_id)
            click.echo(f"user {created.email} created" + (" (admin)" if admin else f" for account {account_id}"))
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    void_code(_settings(config_file).data_dir)


@main.command("console-note")
@config_option
def console_note(config_file: str | None) -> None:
    """What the owner needs at the box: the HTTPS certificate's fingerprint and, until an admin
    exists, the first-run setup code. Reads the data directory only (the image shows it on the console)."""
    from appliance.https import served_fingerprint
    from appliance.setup_code import read_code

    settings = _settings(config_file)
    try:
        fingerprint = served_fingerprint(settings.data_dir)
    except (OSError, ValueError) as exc:
        click.echo(f"HTTPS certificate: cannot be read ({exc})")
    else:
        if fingerprint is not None:
            click.echo(f"HTTPS certificate SHA-256 fingerprint:\n  {fingerprint}")
    code = read_code(settings.data_dir)
    if code is not None:
        click.echo(f"First-run setup code (the panel asks for it once): {code}")

if __name__ == "__main__":
    sys.exit(main())
