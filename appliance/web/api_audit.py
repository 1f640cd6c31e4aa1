"""REST API v1, the audit log, for admin tokens: ``GET /api/v1/audit`` pages through the entries.

Paged as every list (``?after_id=&limit=`` in id order, oldest first), filtered as the panel's page
(:mod:`appliance.web.audit_filter`: ``action``, ``actor``, ``from``, ``to``). Reading the log is not
an export and is not itself recorded: a monitoring tool polling it would fill the log with its reads.
There is no route that changes or deletes an entry.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from sqlalchemy import select

from appliance.db.models import AuditEntry
from appliance.web import api
from appliance.web.api import ApiError, _require_admin, page_response, paginated
from appliance.web.audit_filter import AuditFilter, BadFilter, entry_json

# Nested in the API blueprint: its token check and JSON error handler apply here too.
bp = Blueprint("api_audit", __name__)
api.bp.register_blueprint(bp)


@bp.get("/audit")
def list_entries() -> Response:
    _require_admin()
    try:
        audit_filter = AuditFilter.from_args(request.args)
    except BadFilter as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from None
    entries, next_after_id = paginated(select(AuditEntry).where(*audit_filter.clauses()), AuditEntry.id)
    return page_response([entry_json(e) for e in entries], next_after_id)
