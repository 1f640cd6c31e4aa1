"""The shop owner's panel: the inbox of received messages, their MMS parts, conversations.

The inbox (``/inbox``) lists the messages the signed-in principal may see, newest first, narrowed by
the filters of :mod:`appliance.web.inbox_filter`; new rows arrive live from
:mod:`appliance.web.panel_events`, rendered by the same macro as the page (``panel/live_parts.html``)
so that escaping lives in one place (Jinja's autoescape). The dashboard and the MMS gallery add
their pages to this blueprint from :mod:`appliance.web.panel_dashboard` and
:mod:`appliance.web.panel_gallery`.

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
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from appliance.db.models import AccessNumber, Account, Attachment, Keyword, Message
from appliance.representation import message_json, msisdns_by_iccid
from appliance.web import db_session
from appliance.web.access import Principal, current_principal
from appliance.web.api import ApiError, attachment_response, thumbnail_response
from appliance.web.inbox_filter import STATUSES, InboxFilter, visible_messages, visible_numbers

bp = Blueprint("panel", __name__)

PAGE_SIZE = 50


@bp.get("/inbox")
def messages() -> str:
    """Newest first, ``PAGE_SIZE`` a page; ``?before_id=`` shows older ones (and stops the live updates).

    Every link of the page keeps the filters, so paging through a search stays in the search.
    """
    principal = current_principal()
    inbox_filter = InboxFilter.from_args(request.args, principal)
    before_id = request.args.get("before_id", type=int)
    session = db_session()
    query = (select(Message).where(*visible_messages(principal, inbox_filter))
             .order_by(Message.id.desc()).limit(PAGE_SIZE + 1).options(selectinload(Message.attachments)))
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = list(session.scalars(query))
    older_id = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    filter_args = inbox_filter.args()
    return render_template(
        "panel/messages.html",
        messages=message_views(rows),
        live=before_id is None,
        older_url=url_for("panel.messages", before_id=older_id, **filter_args) if older_id is not None else None,
        newest_url=url_for("panel.messages", **filter_args) if before_id is not None else None,
        filters=inbox_filter,
        choices=_filter_choices(principal),
    )


def _filter_choices(principal: Principal) -> dict[str, list[tuple[int | str, str]]]:
    """The options of the filter form's lists, limited to what the principal sees."""
    session = db_session()
    numbers = visible_numbers(session, principal)
    keywords = session.execute(
        select(Keyword.id, Keyword.keyword, AccessNumber.number)
        .join(AccessNumber, AccessNumber.id == Keyword.access_number_id)
        .where(principal.visible(Keyword.account_id)).order_by(Keyword.keyword, AccessNumber.number)).all()
    accounts = (session.execute(select(Account.id, Account.name).order_by(Account.name)).all()
                if principal.is_admin else [])
    return {
        "numbers": [(n.id, n.number) for n in numbers],
        "keywords": [(k.id, f"{k.keyword} · {k.number}") for k in keywords],
        "accounts": [(a.id, a.name) for a in accounts],
        "statuses": [(status, status_label(status)) for status in STATUSES],
    }


def status_label(status: str) -> str:
    """What a message's status means, for the filter's list."""
    return {
        "routed": _("Matched a keyword"),
        "unmatched": _("Unmatched (no keyword)"),
        "partial": _("Incomplete (parts missing)"),
        "undecodable": _("Could not be read"),
        "fetching": _("MMS being downloaded"),
    }.get(status, status)


@bp.get("/panel/attachments/<int:attachment_id>")
def attachment(attachment_id: int) -> Response:
    """An MMS part as a download, with the API's headers (never inline: issue 4)."""
    return _served(attachment_id, attachment_response)


@bp.get("/panel/attachments/<int:attachment_id>/thumbnail")
def attachment_thumbnail(attachment_id: int) -> Response:
    """The JPEG thumbnail the appliance made of an image part: the only picture the page shows inline."""
    return _served(attachment_id, thumbnail_response, thumbnail=True)


def _served(attachment_id: int, respond: Callable[[Attachment], Response], *, thumbnail: bool = False) -> Response:
    session = db_session()
    row = session.get(Attachment, attachment_id)
    if row is None or (thumbnail and row.thumbnail_sha256 is None):
        abort(404)
    # Another account's part is answered as if it did not exist, as its message is.
    if not current_principal().sees(session.scalar(select(Message.account_id).where(Message.id == row.message_id))):
        abort(404)
    try:
        return respond(row)
    except ApiError as exc:  # the file is missing from the data directory
        abort(exc.status, exc.message)


def message_views(rows: list[Message]) -> list[dict[str, Any]]:
    """What the inbox row macro shows of each message, with the panel's own links."""
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


def utc_text(moment: datetime) -> str:
    """Shown until the page's script rewrites it in the browser's own time zone."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
