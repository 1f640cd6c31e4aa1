"""The System page, for admins and whoever they phone for help: what runs, how full the disk is, the
recent application log and each modem's recent AT dialogue, each downloadable as text.

The logs are the running appliance's (``create_app``'s ``log_entries`` and ``at_logs``): kept in
memory by :mod:`appliance.recent_log` and :mod:`appliance.modem.at_log`, read here, never written.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from sqlalchemy import text
from sqlalchemy.orm import Session

from appliance import __version__
from appliance.modem.at_log import PortAtLog
from appliance.recent_log import LogEntry
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.dates import duration

bp = Blueprint("system", __name__)

# Written into the image at build time (CustomPiOS's /etc/<name>_commit); absent on a development box.
COMMIT_FILE = Path("/etc/appliance_commit")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The page shows the newest of the kept records and AT lines; the downloads have them all.
LOG_LINES_SHOWN = 300
AT_LINES_SHOWN = 100


@bp.before_request
def _admins_only() -> None:
    if not current_principal().is_admin:
        abort(403)


@bp.get("/system")
def index() -> str:
    level = _level()
    entries = _log_entries(level)
    return render_template(
        "panel/system.html",
        facts=_facts(db_session()),
        levels=LEVELS,
        level=level,
        log_kept=current_app.extensions["appliance.log_entries"] is not None,
        log_entries=[_log_view(entry) for entry in reversed(entries[-LOG_LINES_SHOWN:])],
        log_count=len(entries),
        at_logs=[(port_log, port_log.log.entries(AT_LINES_SHOWN), port_log.log.count()) for port_log in _at_logs()],
    )


@bp.get("/system/log.txt")
def log_download() -> Response:
    level = _level()
    lines = [entry.as_text() for entry in _log_entries(level)]
    return _text_download(lines, f"appliance-log-{_stamp()}.txt")


@bp.get("/system/at-log.txt")
def at_log_download() -> Response:
    """One port's AT log; ``?port=`` is the port's path as the page lists it."""
    port = request.args.get("port", "")
    found = next((port_log for port_log in _at_logs() if port_log.port == port), None)
    if found is None:
        abort(404)
    header = f"AT log of {found.port}" + (f", SIM {found.iccid}" if found.iccid else "")
    name = "".join(c if c.isalnum() else "-" for c in Path(found.port).name)
    return _text_download([header, ""] + [entry.as_text() for entry in found.log.entries()],
                          f"at-log-{name}-{_stamp()}.txt")


def _level() -> str:
    chosen = request.args.get("level", "").upper()
    return chosen if chosen in LEVELS else "DEBUG"


def _log_entries(level: str) -> list[LogEntry]:
    source = current_app.extensions["appliance.log_entries"]
    minimum = logging.getLevelName(level)
    return [entry for entry in (source() if source is not None else []) if entry.level >= minimum]


def _at_logs() -> Sequence[PortAtLog]:
    return current_app.extensions["appliance.at_logs"]()


def _log_view(entry: LogEntry) -> dict[str, Any]:
    return {"at": datetime.fromtimestamp(entry.created, UTC).isoformat(), "time_text": _utc(entry.created), "level": entry.level_name, "logger": entry.logger,
            "message": entry.message, "tone": "bad" if entry.level >= logging.ERROR else
            ("partial" if entry.level >= logging.WARNING else "neutral")}


def _facts(session: Session) -> dict[str, Any]:
    settings = current_app.config["APPLIANCE_SETTINGS"]
    system_uptime = _system_uptime()
    facts: dict[str, Any] = {
        "version": __version__,
        "commit": COMMIT_FILE.read_text(errors="replace").strip()[:80] if COMMIT_FILE.is_file() else None,
        "running_for": duration(time.time() - current_app.extensions["appliance.started_at"]),
        "system_up_for": duration(system_uptime) if system_uptime is not None else None,
        "data_dir": settings.data_dir,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
    }
    try:
        disk = shutil.disk_usage(settings.data_dir)
        facts.update(disk_free=disk.free, disk_total=disk.total, disk_error=None)
    except OSError as exc:
        facts.update(disk_free=None, disk_total=None, disk_error=exc.strerror)
    facts["database"], facts["database_size"] = _database(session)
    return facts


def _database(session: Session) -> tuple[str, int | None]:
    """What the store is and how much it takes: the SQLite file with its write-ahead log, or the
    PostgreSQL database's own size."""
    url = session.get_bind().url
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        sizes = [os.path.getsize(name) for name in (path, path + "-wal") if name and os.path.isfile(name)]
        return f"SQLite {path}", sum(sizes) if sizes else None
    if url.get_backend_name() == "postgresql":
        size = session.scalar(text("SELECT pg_database_size(current_database())"))
        return f"PostgreSQL {url.render_as_string(hide_password=True)}", size
    return url.get_backend_name(), None


def _system_uptime() -> float | None:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _utc(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _text_download(lines: list[str], filename: str) -> Response:
    response = Response("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
