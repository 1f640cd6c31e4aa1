"""The shop owner's panel: received messages newest first, the state of each modem.

The page polls ``/panel/messages.json`` for messages newer than the newest it shows and prepends the
rows, rendered here by the same macro as the page so that escaping lives in one place (Jinja's
autoescape). Server-sent events replace the polling later.

A message's sender links to its conversation with the access number (:mod:`appliance.web.conversations`),
which has a reply form. Sign-in and CSRF protection of every form are :mod:`appliance.web.auth`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    get_template_attribute,
    jsonify,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from appliance.db.models import AccessNumber, Attachment, Message, Modem
from appliance.representation import (
    device_issue_json,
    message_json,
    modem_json,
    msisdns_by_iccid,
)
from appliance.web import db_session
from appliance.web.api import ApiError, attachment_response, thumbnail_response

bp = Blueprint("panel", __name__)

PAGE_SIZE = 50
# A tab that slept for a long time catches up over a few polls instead of in one huge answer.
POLL_BATCH = 200
POLL_INTERVAL_MS = 2000

MESSAGES_TEMPLATE = "panel/messages.html"


@bp.get("/")
def messages() -> str:
    """Newest first, ``PAGE_SIZE`` a page; ``?before_id=`` shows older ones (and stops the live updates)."""
    before_id = request.args.get("before_id", type=int)
    session = db_session()
    query = (select(Message).order_by(Message.id.desc()).limit(PAGE_SIZE + 1)
             .options(selectinload(Message.attachments)))
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = list(session.scalars(query))
    older_id = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    return render_template(
        MESSAGES_TEMPLATE,
        messages=_message_views(rows),
        modems=_modem_views(),
        issues=_issue_views(),
        live=before_id is None,
        # The newest id in the database, not only on this page, is where polling starts.
        last_id=rows[0].id if rows and before_id is None else 0,
        older_url=url_for("panel.messages", before_id=older_id) if older_id is not None else None,
        newest_url=url_for("panel.messages") if before_id is not None else None,
        poll_url=url_for("panel.messages_since"),
        poll_interval_ms=POLL_INTERVAL_MS,
    )


@bp.get("/panel/messages.json")
def messages_since() -> Response:
    """Rows for messages after ``after_id``, oldest first (the page prepends each), and the modem strip."""
    after_id = request.args.get("after_id", default=0, type=int)
    if after_id < 0:
        abort(400)
    session = db_session()
    rows = list(session.scalars(
        select(Message).where(Message.id > after_id).order_by(Message.id).limit(POLL_BATCH)
        .options(selectinload(Message.attachments))))
    message_row = get_template_attribute(MESSAGES_TEMPLATE, "message_row")
    modem_strip = get_template_attribute(MESSAGES_TEMPLATE, "modem_strip")
    return jsonify({
        "items": [{"id": view["id"], "html": str(message_row(view))} for view in _message_views(rows)],
        "modems_html": str(modem_strip(_modem_views(), _issue_views())),
    })


@bp.get("/panel/attachments/<int:attachment_id>")
def attachment(attachment_id: int) -> Response:
    """An MMS part as a download, with the API's headers (never inline: issue 4)."""
    return _served(attachment_id, attachment_response)


@bp.get("/panel/attachments/<int:attachment_id>/thumbnail")
def attachment_thumbnail(attachment_id: int) -> Response:
    """The JPEG thumbnail the appliance made of an image part: the only picture the page shows inline."""
    return _served(attachment_id, thumbnail_response, thumbnail=True)


def _served(attachment_id: int, respond: Callable[[Attachment], Response], *, thumbnail: bool = False) -> Response:
    row = db_session().get(Attachment, attachment_id)
    if row is None or (thumbnail and row.thumbnail_sha256 is None):
        abort(404)
    try:
        return respond(row)
    except ApiError as exc:  # the file is missing from the data directory
        abort(exc.status, exc.message)


def _message_views(rows: list[Message]) -> list[dict[str, Any]]:
    session = db_session()
    iccids = {m.iccid for m in rows}
    msisdns = msisdns_by_iccid(session, iccids)
    numbers = dict(session.execute(select(AccessNumber.iccid, AccessNumber.id)
                                   .where(AccessNumber.iccid.in_(iccids))).all())
    views = []
    for message in rows:
        view = message_json(message, msisdns=msisdns)
        view["received_at_text"] = utc_text(message.received_at)
        number_id = numbers.get(message.iccid)
        view["conversation_url"] = (url_for("conversations.thread", number_id=number_id, sender=message.sender)
                                    if number_id is not None and message.sender else None)
        link_attachments(view)
        views.append(view)
    return views


def link_attachments(view: dict[str, Any]) -> None:
    """Point a message view's attachments at the panel's own routes (no API token in the browser)."""
    for part in view["attachments"]:
        part["download_url"] = url_for("panel.attachment", attachment_id=part["id"])
        part["thumbnail_src"] = (url_for("panel.attachment_thumbnail", attachment_id=part["id"])
                                 if part["thumbnail_url"] else None)


def _issue_views() -> list[dict[str, Any]]:
    return [device_issue_json(issue) for issue in current_app.extensions["appliance.device_issues"]()]


def _modem_views() -> list[dict[str, Any]]:
    session = db_session()
    bound = {a.iccid: a for a in session.scalars(select(AccessNumber))}
    views = []
    for modem in session.scalars(select(Modem).order_by(Modem.id)):
        view = modem_json(modem, bound.get(modem.iccid))
        view["tone"] = state_tone(modem.state)
        view["signal_text"] = signal_text(modem.signal_dbm)
        view["registration_text"] = REGISTRATION_TEXT.get(modem.registration or "", "")
        views.append(view)
    return views


def utc_text(moment: datetime) -> str:
    """Shown until the page's script rewrites it in the browser's own time zone."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


_GOOD_STATES = {"registered", "connected", "enabled", "ready"}
_BAD_STATES = {"failed", "locked", "sim_locked", "disabled", "disconnected", "unplugged", "gone", "error", "no_sim"}
# What the network registration means for the owner; home registration needs no words.
REGISTRATION_TEXT = {
    "roaming": "roaming",
    "searching": "searching for the network",
    "denied": "network refused the SIM (check it is active)",
    "not_registered": "not registered",
    "unknown": "registration unknown",
}


def state_tone(state: str | None) -> str:
    """``ok``, ``bad`` or ``neutral``: the colour of a modem's state badge."""
    if state in _GOOD_STATES:
        return "ok"
    if state in _BAD_STATES:
        return "bad"
    return "neutral"


def signal_text(dbm: int | None) -> str:
    """Signal strength in words a shop owner can act on (thresholds as phones draw their bars)."""
    if dbm is None:
        return "signal unknown"
    for floor, word in ((-73, "excellent"), (-83, "good"), (-93, "fair"), (-105, "weak")):
        if dbm >= floor:
            return f"signal {word} ({dbm} dBm)"
    return f"no usable signal ({dbm} dBm)"
