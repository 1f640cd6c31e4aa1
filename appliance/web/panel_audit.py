"""The audit log page, for admins: who changed what, when and from where, newest first, filtered and
exported as CSV or JSON.

Nothing here changes or deletes an entry; the export is itself an entry (``audit.export``), since a
copy of the log leaving the box is worth knowing about. The export is a POST for that reason: a
link a browser may prefetch must not write to the log.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from sqlalchemy import select

from appliance.audit import is_change, record_request
from appliance.db.models import AuditEntry
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.audit_filter import AuditFilter, BadFilter, entry_json

bp = Blueprint("audit", __name__)

PAGE_SIZE = 50
# A spreadsheet would run a cell starting with these as a formula (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXPORT_FORMATS = ("csv", "json")


@bp.before_request
def _admins_only() -> None:
    if not current_principal().is_admin:
        abort(403)


@bp.get("/audit")
def index() -> str:
    session = db_session()
    audit_filter, error = _filter()
    before = request.args.get("before", "")
    query = select(AuditEntry).where(*audit_filter.clauses()).order_by(AuditEntry.id.desc()).limit(PAGE_SIZE + 1)
    if before.isascii() and before.isdigit():
        query = query.where(AuditEntry.id < int(before))
    entries = list(session.scalars(query))
    older = entries[PAGE_SIZE - 1].id if len(entries) > PAGE_SIZE else None
    actions = session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).all()
    return render_template(
        "panel/audit.html", entries=[_entry_view(e) for e in entries[:PAGE_SIZE]], filters=audit_filter,
        error=error, actions=actions,
        older_url=url_for("audit.index", before=older, **audit_filter.args()) if older else None,
        newest_url=url_for("audit.index", **audit_filter.args()) if before else None)


@bp.post("/audit/export")
def export() -> Response:
    """Every entry the filters select, oldest first, as a download; recorded before it is read, so
    the export lists itself."""
    session = db_session()
    audit_filter, error = _filter(request.form)
    file_format = request.form.get("format", "")
    if error or file_format not in EXPORT_FORMATS:
        abort(400)
    record_request(session, "audit.export", details={"format": file_format, "filters": audit_filter.args()})
    session.commit()
    entries = session.scalars(select(AuditEntry).where(*audit_filter.clauses()).order_by(AuditEntry.id))
    name = f"audit-log-{datetime.now(UTC):%Y%m%d-%H%M%S}.{file_format}"
    if file_format == "json":
        body = json.dumps([entry_json(e) for e in entries], ensure_ascii=False, indent=1)
        mimetype = "application/json"
    else:
        body, mimetype = _csv(entries), "text/csv"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _filter(args: Any = None) -> tuple[AuditFilter, str | None]:
    try:
        return AuditFilter.from_args(request.args if args is None else args), None
    except BadFilter as exc:
        return AuditFilter(), str(exc)


def _csv(entries: Any) -> str:
    """UTF-8 with a byte-order mark, so Excel opens Polish letters intact; details as JSON."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "address", "action", "target", "details"])
    for entry in entries:
        row = entry_json(entry)
        row["details"] = json.dumps(entry.details, ensure_ascii=False) if entry.details is not None else ""
        writer.writerow([_cell(value) for value in row.values()])
    return "\ufeff" + out.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _entry_view(entry: AuditEntry) -> dict[str, Any]:
    """An entry with its details as rows a person reads: field, then the value or old → new."""
    rows = []
    details = entry.details or {}
    changes = is_change(entry.action)
    for name, value in details.items():
        if changes and isinstance(value, list) and len(value) == 2:
            rows.append({"field": name, "old": _text(value[0]), "new": _text(value[1]), "change": True})
        else:
            rows.append({"field": name, "new": _text(value), "change": False})
    return {"entry": entry, "rows": rows}


def _text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value, ensure_ascii=False)
