"""REST API v1, dialogue: an access number's conversations and replies through its SIM.

    GET  /api/v1/access-numbers/<id>/conversations?limit=&offset=
    GET  /api/v1/access-numbers/<id>/conversations/<sender>?limit=&before=
    POST /api/v1/access-numbers/<id>/conversations/<sender>   {"text": "…"}

An account's token reads and replies on its own numbers only: a shared number's conversations mix
every account's customers (403). A read-only token reads them all and replies to none.

``<sender>`` is the number exactly as the messages show it, URL-encoded ("+" may stay as it is in a
path). What a conversation holds and when a reply may go out: :mod:`appliance.campaigns.dialogue`.
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
)
from appliance.db.models import AccessNumber
from appliance.representation import conversation_entry_json, conversation_json
from appliance.web import api, db_session
from appliance.web.access import current_principal
from appliance.web.api import (
    MAX_INTEGER,
    ApiError,
    _int_param,
    _json_body,
    require_change,
    require_writer,
    sees_access_number,
)

# Nested in the API blueprint: its token check and JSON error handler apply here too.
bp = Blueprint("api_conversations", __name__, url_prefix="/access-numbers/<int:number_id>/conversations")
api.bp.register_blueprint(bp)

DEFAULT_CONVERSATIONS = 50
DEFAULT_ENTRIES = 100
MAX_LIMIT = 1000
# The HTTP status of each refusal (appliance.campaigns.dialogue names them).
# What ``older`` holds: the direction and id of a message (appliance.campaigns.dialogue.Entry.cursor).
_CURSOR = re.compile(r"(?:in|out)-([0-9]{1,10})")
REFUSAL_STATUS = {"not_found": 404, "not_sendable": 400, "invalid_text": 400, "no_sim": 409, "opted_out": 409}


@bp.get("")
def list_conversations(number_id: int) -> Response:
    """One row per sender, most recent activity first; ``next_offset`` is null on the last page."""
    number = _number(number_id)
    limit = _int_param("limit", default=DEFAULT_CONVERSATIONS, minimum=1, maximum=MAX_LIMIT)
    offset = _int_param("offset", default=0, minimum=0)  # at most MAX_INTEGER, as every integer parameter
    rows, more = conversations(db_session(), number, limit=limit, offset=offset)
    return jsonify({"items": [conversation_json(row) for row in rows],
                    "next_offset": offset + len(rows) if more else None})


@bp.get("/<sender>")
def get_conversation(number_id: int, sender: str) -> Response:
    """The newest ``limit`` messages both ways, oldest first; ``older`` is the ``before`` of the page
    before them (null at the start). ``reply_refused`` says why no reply can go out now, or is null."""
    session, number = db_session(), _number(number_id)
    limit = _int_param("limit", default=DEFAULT_ENTRIES, minimum=1, maximum=MAX_LIMIT)
    before = request.args.get("before") or None
    cursor = _CURSOR.fullmatch(before or "in-0")
    try:
        if cursor is None or int(cursor[1]) > MAX_INTEGER:  # "in-²" or "in-99999999999" would fail the query
            raise ValueError(f"{before!r} names no message of the conversation with {sender} on {number.number}")
        entries, older = conversation(session, number, sender, limit=limit, before=before)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", f"before: {exc}") from None
    refusal = reply_refusal(session, number, sender)
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
    require_writer()
    session, number = db_session(), _number(number_id)
    require_change(number.account_id)
    body = _json_body()
    text = body.get("text")
    if not isinstance(text, str):
        raise ApiError(400, "invalid_text", "text: is required, a string")
    try:
        outbound = reply(session, number, sender, text)
    except ReplyRefused as exc:
        session.rollback()
        raise ApiError(REFUSAL_STATUS[exc.code], exc.code, exc.message) from None
    session.commit()
    wake_sim = current_app.extensions.get("appliance.wake_sim")
    if wake_sim is not None:
        wake_sim(number.iccid)
    return jsonify(conversation_entry_json(Entry("out", outbound.created_at, outbound), number.number)), 201


def _number(number_id: int) -> AccessNumber:
    """The access number whose conversations are asked for: 404 when the principal does not see it,
    403 when it sees it but not all its conversations (a shared number, for an account's token)."""
    number = db_session().get(AccessNumber, number_id)
    principal = current_principal()
    if number is None or not sees_access_number(principal, number):
        raise ApiError(404, "not_found", f"no access number with id {number_id}")
    if not principal.sees(number.account_id):
        raise ApiError(403, "forbidden", f"access number {number.number} is shared: its conversations are "
                                         "every account's, for admin and read-only tokens to read")
    return number
