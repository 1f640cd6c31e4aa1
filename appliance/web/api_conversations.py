"""REST API v1, dialogue: an access number's conversations and replies through its SIM.

    GET  /api/v1/access-numbers/<id>/conversations?limit=&offset=
    GET  /api/v1/access-numbers/<id>/conversations/<sender>?limit=&before=
    POST /api/v1/access-numbers/<id>/conversations/<sender>   {"text": "…"}   (not a read-only token)

``<sender>`` is the number exactly as the messages show it, URL-encoded ("+" may stay as it is in a
path). What a conversation holds, what an account's token sees of it, and when a reply may go out:
:mod:`appliance.campaigns.dialogue`.
Authentication and error bodies are the API's own (:mod:`appliance.web.api`).
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify, request

from appliance.campaigns.dialogue import (
    Entry,
    ReplyRefused,
    conversation,
    conversations,
    reply,
    reply_refusal,
    visibility,
)
from appliance.db.models import AccessNumber
from appliance.representation import conversation_entry_json, conversation_json
from appliance.web import api, db_session
from appliance.web.access import current_principal
from appliance.web.api import MAX_INTEGER, ApiError, _int_param, _json_body, require_writer

# Nested in the API blueprint: its token check and JSON error handler apply here too.
bp = Blueprint("api_conversations", __name__, url_prefix="/access-numbers/<int:number_id>/conversations")
api.bp.register_blueprint(bp)

DEFAULT_CONVERSATIONS = 50
DEFAULT_ENTRIES = 100
MAX_LIMIT = 1000
# What ``older`` holds: the direction and id of a message (appliance.campaigns.dialogue.Entry.cursor).
_CURSOR = re.compile(r"(?:in|out)-([0-9]{1,10})")
# The HTTP status of each refusal (appliance.campaigns.dialogue names them).
REFUSAL_STATUS = {"not_found": 404, "not_sendable": 400, "invalid_text": 400, "no_sim": 409, "opted_out": 409}


@bp.get("")
def list_conversations(number_id: int) -> Response:
    """One row per sender, most recent activity first; ``next_offset`` is null on the last page."""
    number = _number(number_id)
    limit = _int_param("limit", default=DEFAULT_CONVERSATIONS, minimum=1, maximum=MAX_LIMIT)
    offset = _int_param("offset", default=0, minimum=0)
    rows, more = conversations(db_session(), [number], limit=limit, offset=offset,
                               for_account=current_principal().only_account)
    return jsonify({"items": [conversation_json(row) for row in rows],
                    "next_offset": offset + len(rows) if more else None})


@bp.get("/<sender>")
def get_conversation(number_id: int, sender: str) -> Response:
    """The newest ``limit`` messages both ways, oldest first; ``older`` is the ``before`` of the page
    before them (null at the start). ``reply_refused`` says why no reply can go out now, or is null."""
    session, number, account = db_session(), _number(number_id), current_principal().only_account
    limit = _int_param("limit", default=DEFAULT_ENTRIES, minimum=1, maximum=MAX_LIMIT)
    before = request.args.get("before") or None
    cursor = _CURSOR.fullmatch(before or "in-0")
    try:
        if cursor is None or int(cursor[1]) > MAX_INTEGER:  # "in-²" or "in-99999999999" would fail the query
            raise ValueError(f"{before!r} names no message of the conversation with {sender} on {number.number}")
        entries, older = conversation(session, number, sender, limit=limit, before=before, for_account=account)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", f"before: {exc}") from None
    refusal = reply_refusal(session, number, sender, for_account=account)
    if not entries and refusal is not None and refusal.code == "not_found":
        raise ApiError(404, "not_found", refusal.message)
    return jsonify({
        "access_number": number.id,
        "number": number.number,
        "sender": sender,
        "items": [conversation_entry_json(entry, number.number, base_url=request.host_url) for entry in entries],
        "older": older,
        "reply_refused": {"code": refusal.code, "message": refusal.message} if refusal is not None else None,
    })


@bp.post("/<sender>")
def post_reply(number_id: int, sender: str) -> tuple[Response, int]:
    """``{"text": "…"}`` → 201 with the queued text as the conversation shows it."""
    principal = require_writer()
    session, number = db_session(), _number(number_id)
    body = _json_body()
    text = body.get("text")
    if not isinstance(text, str):
        raise ApiError(400, "invalid_text", "text: is required, a string")
    try:
        outbound = reply(session, number, sender, text, for_account=principal.only_account)
    except ReplyRefused as exc:
        session.rollback()
        raise ApiError(REFUSAL_STATUS[exc.code], exc.code, exc.message) from None
    session.commit()
    wake_sim = current_app.extensions.get("appliance.wake_sim")
    if wake_sim is not None:
        wake_sim(number.iccid)
    return jsonify(conversation_entry_json(Entry("out", outbound.created_at, outbound), number.number)), 201


def _number(number_id: int) -> AccessNumber:
    """The access number, if this token sees any of its conversations (another account's dedicated
    number is as good as absent)."""
    number = db_session().get(AccessNumber, number_id)
    if number is None or visibility(number, current_principal().only_account) is None:
        raise ApiError(404, "not_found", f"no access number with id {number_id}")
    return number
