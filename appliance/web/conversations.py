"""The panel's conversations: every thread the signed-in person may see, and one thread with its reply box.

A thread is one person and one access number (:mod:`appliance.campaigns.dialogue`, which also says
what an account's user sees of a shared number). The thread keeps its address from before this
page existed (``/panel/access-numbers/<id>/conversations/<sender>``), so old links still open it.
The thread page polls the status of its texts still on their way (queued, sending) and swaps in the
badge the server renders, so escaping stays Jinja's.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from appliance.campaigns.dialogue import (
    ConversationSummary,
    ReplyRefused,
    conversation,
    conversations,
    reply,
    reply_refusal,
    texts,
    visibility,
)
from appliance.db.models import AccessNumber, OutboundSms
from appliance.representation import conversation_entry_json, iso_utc
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api_conversations import REFUSAL_STATUS
from appliance.web.panel import link_attachments, utc_text
from appliance.web.sms_counter import as_typed

bp = Blueprint("conversations", __name__)

PAGE_SIZE = 50
THREAD_PAGE_SIZE = 100
EXCERPT_CHARACTERS = 140
STATUS_POLL_MS = 3000
INDEX_TEMPLATE = "conversations/index.html"
THREAD_TEMPLATE = "conversations/thread.html"
STATUS_TEMPLATE = "conversations/status.html"
THREAD_PATH = "/panel/access-numbers/<int:number_id>/conversations/<sender>"
# Texts whose status may still change soon: the thread page keeps asking about them.
TEXTS_ON_THEIR_WAY = ("queued", "sending")

OUTBOUND_STATUS = {
    "queued": _l("queued"),
    "sending": _l("sending"),
    "sent": _l("sent"),
    "delivered": _l("delivered"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
}


@bp.app_template_global()
def outbound_status_label(status: str) -> object:
    """A text's status in the reader's language (the status itself when it is new to this list)."""
    return OUTBOUND_STATUS.get(status, status)


@bp.get("/conversations")
def index() -> str:
    """``?number=`` one access number's threads, ``?q=`` senders whose number holds the text, ``?page=``."""
    account = current_principal().only_account
    numbers = _visible_numbers(account)
    number_id = request.args.get("number", type=int)
    chosen = [n for n in numbers if n.id == number_id] if number_id is not None else numbers
    search = request.args.get("q", "").strip()[:64]
    page = max(request.args.get("page", default=1, type=int) or 1, 1)
    rows, more = conversations(db_session(), chosen, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
                               for_account=account, sender_contains=search)

    def page_url(n: int) -> str:
        return url_for("conversations.index", number=number_id, q=search or None, page=n if n > 1 else None)

    return render_template(
        INDEX_TEMPLATE,
        threads=[_thread_view(row) for row in rows],
        numbers=numbers,
        number_id=number_id,
        search=search,
        newer_url=page_url(page - 1) if page > 1 else None,
        older_url=page_url(page + 1) if more else None,
    )


@bp.get(THREAD_PATH)
def thread(number_id: int, sender: str) -> str:
    """The newest ``THREAD_PAGE_SIZE`` messages both ways, oldest first; ``?before=`` earlier ones."""
    return _render_thread(_number(number_id), sender)


@bp.post(THREAD_PATH)
def reply_to(number_id: int, sender: str) -> BaseResponse | tuple[str, int]:
    """The reply form: queued, then back to the thread; refused, the page again with the reason and
    the text as typed."""
    principal = current_principal()
    if principal.read_only:
        abort(403)
    session, number = db_session(), _number(number_id)
    text = as_typed(request.form.get("text"))
    try:
        reply(session, number, sender, text, for_account=principal.only_account)
    except ReplyRefused as exc:
        session.rollback()
        return _render_thread(number, sender, error=exc.message, draft=text), REFUSAL_STATUS[exc.code]
    session.commit()
    wake_sim = current_app.extensions.get("appliance.wake_sim")
    if wake_sim is not None:
        wake_sim(number.iccid)
    return redirect(url_for("conversations.thread", number_id=number.id, sender=sender, _anchor="reply"), 303)


@bp.get(THREAD_PATH + "/statuses.json")
def statuses(number_id: int, sender: str) -> Response:
    """The status badge of each text ``?ids=`` of this thread (others are left out), for the page's poll."""
    number = _number(number_id)
    wanted = [int(part) for part in request.args.get("ids", "").split(",") if part.isdigit()][:THREAD_PAGE_SIZE]
    badge = get_template_attribute(STATUS_TEMPLATE, "status_badge")
    return jsonify({"items": [{"id": text.id, "status": text.status, "html": str(badge(text.status))}
                              for text in texts(db_session(), number, sender, wanted,
                                                for_account=current_principal().only_account)]})


def _visible_numbers(account: int | None) -> list[AccessNumber]:
    numbers = db_session().scalars(select(AccessNumber).order_by(AccessNumber.number))
    return [n for n in numbers if visibility(n, account) is not None]


def _number(number_id: int) -> AccessNumber:
    number = db_session().get(AccessNumber, number_id)
    if number is None or visibility(number, current_principal().only_account) is None:
        abort(404)
    return number


def _thread_view(row: ConversationSummary) -> dict[str, Any]:
    item = row.last.item
    text = (item.text if isinstance(item, OutboundSms) or item.text is not None else item.subject) or ""
    return {
        "number": row.number.number,
        "sender": row.sender,
        "received": row.received,
        "sent": row.sent,
        "last_at": iso_utc(row.last.at),
        "last_at_text": utc_text(row.last.at),
        "last_direction": row.last.direction,
        "last_kind": getattr(item, "kind", "sms"),
        "excerpt": text if len(text) <= EXCERPT_CHARACTERS else text[:EXCERPT_CHARACTERS] + "…",
        "last_sent_status": row.last_sent.status if row.last_sent is not None else None,
        "url": url_for("conversations.thread", number_id=row.number.id, sender=row.sender),
    }


def _render_thread(number: AccessNumber, sender: str, *, error: str | None = None, draft: str = "") -> str:
    session, account = db_session(), current_principal().only_account
    before = request.args.get("before") or None
    try:
        entries, older = conversation(session, number, sender, limit=THREAD_PAGE_SIZE, before=before,
                                      for_account=account)
    except ValueError:  # a stale or mistyped cursor: the newest page, as the messages page does
        before = None
        entries, older = conversation(session, number, sender, limit=THREAD_PAGE_SIZE, for_account=account)
    refusal = reply_refusal(session, number, sender, for_account=account)
    if not entries and refusal is not None and refusal.code == "not_found":
        abort(404)
    views = []
    for entry in entries:
        view = conversation_entry_json(entry, number.number)
        view["at_text"] = utc_text(entry.at)
        if entry.direction == "in":
            link_attachments(view)
        views.append(view)
    return render_template(
        THREAD_TEMPLATE,
        number=number,
        sender=sender,
        entries=views,
        older_url=url_for("conversations.thread", number_id=number.id, sender=sender, before=older)
        if older else None,
        newest_url=url_for("conversations.thread", number_id=number.id, sender=sender) if before else None,
        reply_url=url_for("conversations.reply_to", number_id=number.id, sender=sender),
        statuses_url=url_for("conversations.statuses", number_id=number.id, sender=sender),
        on_their_way=[v["id"] for v in views if v["direction"] == "out" and v["status"] in TEXTS_ON_THEIR_WAY],
        poll_interval_ms=STATUS_POLL_MS,
        refusal=refusal.message if refusal is not None else None,
        error=error,
        draft=draft,
    )
