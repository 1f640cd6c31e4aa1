"""The panel's statistics: traffic per day and keyword popularity as charts drawn on the box.

One scope at a time, an access number (every message its SIM received) or a keyword (the messages
routed to it), over the last 7, 30 or 90 days of the box's zone; the numbers come from
:mod:`appliance.statistics`, which reads its per-day summary, so a busy number's 90 days cost a few
milliseconds. Popularity compares the keywords of the scope's access number that the user sees.

An account's user sees the numbers dedicated to the account and its own keywords, not the whole
traffic of a shared number, which other accounts' messages are part of.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.db.models import AccessNumber, Keyword
from appliance.statistics import (
    DEFAULT_TIMEZONE,
    Statistics,
    access_number_statistics,
    keyword_messages,
    keyword_statistics,
)
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.campaign_pages import BOX_ZONE
from appliance.web.charts import Bar, Column, bar_chart, column_chart
from appliance.web.dates import day_and_month, full_date

bp = Blueprint("statistics", __name__)

RANGES = (7, 30, 90)
DEFAULT_RANGE = 30
# Bars in the popularity chart; the rest are summed up under it.
MOST_POPULAR = 15


@bp.get("/statistics")
def index() -> str:
    session = db_session()
    principal = current_principal()
    numbers = list(session.scalars(select(AccessNumber).where(principal.visible(AccessNumber.account_id))
                                   .order_by(AccessNumber.number)))
    keywords = list(session.scalars(select(Keyword).where(principal.visible(Keyword.account_id))
                                    .order_by(Keyword.keyword, Keyword.id)))
    number_texts = dict(session.execute(select(AccessNumber.id, AccessNumber.number)).all())
    days = request.args.get("days", DEFAULT_RANGE, type=int)
    if days not in RANGES:
        days = DEFAULT_RANGE
    last = datetime.now(BOX_ZONE).date()
    first = last - timedelta(days=days - 1)
    scope = _scope(request.args.get("scope", ""), numbers, keywords)
    context: dict[str, Any] = {"numbers": numbers, "keywords": keywords, "number_texts": number_texts,
                               "ranges": RANGES, "days": days, "scope": scope, "first": first, "last": last,
                               "scope_value": _scope_value(scope)}
    if scope is None:
        return render_template("campaigns/statistics.html", **context)
    if isinstance(scope, AccessNumber):
        stats = access_number_statistics(session, scope.id, first, last, DEFAULT_TIMEZONE)
        number_id, title = scope.id, scope.number
    else:
        stats = keyword_statistics(session, scope.id, first, last, DEFAULT_TIMEZONE)
        number_id, title = scope.access_number_id, scope.keyword
    assert stats is not None
    compared = [k for k in keywords if k.access_number_id == number_id]
    context.update(stats=stats, traffic_chart=Markup(_traffic_chart(stats, title)),
                   popularity_chart=Markup(_popularity_chart(session, compared, first, last, number_texts[number_id]))
                   if compared else None)
    return render_template("campaigns/statistics.html", **context)


def _scope(raw: str, numbers: list[AccessNumber], keywords: list[Keyword]) -> AccessNumber | Keyword | None:
    """``number-<id>`` or ``keyword-<id>`` among what the user sees (404 otherwise); nothing chosen,
    the first number, else the first keyword."""
    if not raw:
        return numbers[0] if numbers else (keywords[0] if keywords else None)
    kind, _dash, ident = raw.partition("-")
    rows: list[Any] = {"number": numbers, "keyword": keywords}.get(kind, [])
    found = next((row for row in rows if ident.isdigit() and row.id == int(ident)), None)
    if found is None:
        abort(404)
    return found


def _scope_value(scope: AccessNumber | Keyword | None) -> str:
    if scope is None:
        return ""
    return f"{'number' if isinstance(scope, AccessNumber) else 'keyword'}-{scope.id}"


def _traffic_chart(stats: Statistics, scope_title: str) -> str:
    columns = [Column(day_and_month(d.day), d.messages,
                      f"{full_date(d.day)}: " + ngettext("%(num)d message", "%(num)d messages", d.messages))
               for d in stats.days]
    summary = (ngettext("%(num)d message", "%(num)d messages", stats.messages) + ", "
               + ngettext("%(num)d sender", "%(num)d senders", stats.unique_senders))
    title = _("Messages per day: %(scope)s", scope=scope_title)
    return column_chart(title, summary, columns, chart_id="traffic-chart")


def _popularity_chart(session: Session, keywords: list[Keyword], first: date, last: date, number: str) -> str:
    counts = keyword_messages(session, [k.id for k in keywords], first, last, DEFAULT_TIMEZONE)
    ranked = sorted(keywords, key=lambda k: (-counts.get(k.id, 0), k.keyword.casefold(), k.id))
    shown, rest = ranked[:MOST_POPULAR], ranked[MOST_POPULAR:]
    bars = [Bar(k.keyword, counts.get(k.id, 0), str(counts.get(k.id, 0))) for k in shown]
    total = sum(counts.values())
    summary = ngettext("%(num)d message to a keyword", "%(num)d messages to keywords", total)
    if rest:
        summary += "; " + _("%(keywords)d more keywords: %(messages)d", keywords=len(rest),
                            messages=sum(counts.get(k.id, 0) for k in rest))
    return bar_chart(_("Keyword popularity on %(number)s", number=number), summary, bars,
                     chart_id="popularity-chart")

