"""REST API v1, group sends: one text to every member of a contact group, now or at a set time.

    GET  /api/v1/group-sends?limit=&before_id=     newest first; ``next_before_id`` is null on the last page
    POST /api/v1/group-sends                       {"group", "access_number", "text", "scheduled_at"?}
    GET  /api/v1/group-sends/<id>
    POST /api/v1/group-sends/<id>/cancel

``access_number`` is the number's id or the number itself ("+48500100100"); ``scheduled_at`` is ISO
8601 (without an offset: UTC), absent or null for now. A token sees the sends of the accounts it
sees; creating and cancelling need ``may_change`` on the group's account (403 otherwise; a group the
token does not see is as good as absent: 400). What is checked, what cancelling stops and what the
progress counts mean: :mod:`appliance.campaigns.group_send`. Errors are the API's own
(:mod:`appliance.web.api`); a refused send is 400 ``invalid_field`` naming the field, a send with
nothing left to stop 409 ``not_cancellable``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy.orm import Session

from appliance.campaigns.group_send import (
    GroupSendRefused,
    cancel,
    cancellable,
    group_sends,
    progress_of,
    schedule,
)
from appliance.codecs.sms_pdu import measure_text
from appliance.db.models import Group, GroupSend
from appliance.representation import group_send_json
from appliance.web import api, db_session
from appliance.web.access import current_principal
from appliance.web.api import MAX_INTEGER, ApiError, _int_param, _json_body, require_writer
from appliance.web.api_config import _MISSING, _access_number_ref, _invalid, _time

# Nested in the API blueprint: its token check and JSON error handler apply here too.
bp = Blueprint("api_group_sends", __name__, url_prefix="/group-sends")
api.bp.register_blueprint(bp)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def sends_json(session: Session, sends: list[GroupSend]) -> list[dict[str, object]]:
    """Sends as the API shows them, with their progress counted once for the whole list."""
    progress = progress_of(session, sends)
    return [group_send_json(s, progress[s.id], measure_text(s.text), cancellable=cancellable(s, progress[s.id]))
            for s in sends]


@bp.get("")
def list_group_sends() -> Response:
    limit = _int_param("limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    before_id = _int_param("before_id", default=0, minimum=0) or None
    session = db_session()
    sends, more = group_sends(session, for_account=current_principal().only_account, limit=limit, before_id=before_id)
    return jsonify({"items": sends_json(session, sends), "next_before_id": sends[-1].id if more else None})


@bp.post("")
def create_group_send() -> tuple[Response, int]:
    """201 with the send; a send for now goes out within seconds (the scheduler's next round)."""
    principal = require_writer()
    body, session = _json_body(), db_session()
    group_id = body.get("group")
    is_id = isinstance(group_id, int) and not isinstance(group_id, bool) and 0 < group_id <= MAX_INTEGER
    group = session.get(Group, group_id) if is_id else None
    if group is None or not principal.sees(group.account_id):
        raise _invalid("group", f"no group with id {group_id!r}" if group_id is not None else "is required")
    if not principal.may_change(group.account_id):
        raise ApiError(403, "forbidden", f"this token may not send to the groups of account {group.account_id}")
    if "access_number" not in body:
        raise _invalid("access_number", "is required")
    number = _access_number_ref(session, body["access_number"])
    text = body.get("text")
    if not isinstance(text, str):
        raise _invalid("text", "is required, a string")
    scheduled_at = _time(body, "scheduled_at")
    try:
        send = schedule(session, group, number, text, None if scheduled_at is _MISSING else scheduled_at)
    except GroupSendRefused as exc:
        session.rollback()
        raise ApiError(400, exc.code, str(exc)) from None
    session.commit()
    return jsonify(sends_json(session, [send])[0]), 201


@bp.get("/<int:send_id>")
def get_group_send(send_id: int) -> Response:
    session = db_session()
    return jsonify(sends_json(session, [_send(send_id)])[0])


@bp.post("/<int:send_id>/cancel")
def cancel_group_send(send_id: int) -> Response:
    """A scheduled send never goes out; one under way stops its texts no modem has tried yet."""
    require_writer()
    session, send = db_session(), _send(send_id)
    if not current_principal().may_change(send.account_id):
        raise ApiError(403, "forbidden", f"this token may not cancel the sends of account {send.account_id}")
    try:
        cancel(session, send)
    except GroupSendRefused as exc:
        session.rollback()
        raise ApiError(409, exc.code, exc.message) from None
    session.commit()
    return jsonify(sends_json(session, [send])[0])


def _send(send_id: int) -> GroupSend:
    send = db_session().get(GroupSend, send_id)
    if send is None or not current_principal().sees(send.account_id):
        raise ApiError(404, "not_found", f"no group send with id {send_id}")
    return send
