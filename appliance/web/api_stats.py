"""REST API v1 statistics: per keyword and per access number over a range of local days.

    GET /api/v1/statistics/keywords/<id>?from=YYYY-MM-DD&to=YYYY-MM-DD&tz=Europe/Warsaw
    GET /api/v1/statistics/access-numbers/<id>?from=…&to=…&tz=…

``from`` and ``to`` are inclusive local days of ``tz`` (default Europe/Warsaw); without them, the 30
days up to today. Authentication, error bodies and who sees what are the API's own
(``appliance.web.api``): an account's token reads its own keywords and numbers; a shared number's
figures are every account's (403 for it).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, request

from appliance.db.models import AccessNumber, Keyword
from appliance.statistics import (
    DEFAULT_TIMEZONE,
    Statistics,
    StatisticsRangeError,
    access_number_statistics,
    keyword_statistics,
)
from appliance.web import api, db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError, sees_access_number

# Nested in the API blueprint: its token check and JSON error handler apply here too.
bp = Blueprint("api_stats", __name__, url_prefix="/statistics")
api.bp.register_blueprint(bp)

DEFAULT_DAYS = 30
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(8999, 12, 31)


@bp.get("/keywords/<int:keyword_id>")
def keyword(keyword_id: int) -> Response:
    row = db_session().get(Keyword, keyword_id)
    if row is None or not current_principal().sees(row.account_id):
        raise ApiError(404, "not_found", f"no keyword with id {keyword_id}")
    first, last, zone = _range()
    stats = _computed(lambda: keyword_statistics(db_session(), keyword_id, first, last, zone))
    if stats is None:
        raise ApiError(404, "not_found", f"no keyword with id {keyword_id}")
    return jsonify(statistics_json(stats))


@bp.get("/access-numbers/<int:access_number_id>")
def access_number(access_number_id: int) -> Response:
    number, principal = db_session().get(AccessNumber, access_number_id), current_principal()
    if number is None or not sees_access_number(principal, number):
        raise ApiError(404, "not_found", f"no access number with id {access_number_id}")
    if not principal.sees(number.account_id):
        raise ApiError(403, "forbidden", f"access number {number.number} is shared: its figures count every "
                                         "account's messages; ask for your keywords' statistics instead")
    first, last, zone = _range()
    stats = _computed(lambda: access_number_statistics(db_session(), access_number_id, first, last, zone))
    if stats is None:
        raise ApiError(404, "not_found", f"no access number with id {access_number_id}")
    return jsonify(statistics_json(stats))


def statistics_json(stats: Statistics) -> dict[str, object]:
    return {
        stats.scope: stats.scope_id,
        "from": stats.first_day.isoformat(),
        "to": stats.last_day.isoformat(),
        "timezone": stats.timezone,
        "messages": stats.messages,
        "unique_senders": stats.unique_senders,
        "opt_ins": stats.opt_ins,
        "opt_outs": stats.opt_outs,
        "days": [{**asdict(d), "day": d.day.isoformat()} for d in stats.days],
        "polls": [{"id": p.poll_id, "question": p.question, "voters": p.voters,
                   "options": [asdict(o) for o in p.options]} for p in stats.polls],
        "contests": [{"id": c.contest_id, "name": c.name, "entries": c.entries, "correct": c.correct,
                      "unique_numbers": c.unique_numbers} for c in stats.contests],
    }


def _computed(compute):  # type: ignore[no-untyped-def]
    try:
        return compute()
    except StatisticsRangeError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from exc


def _range() -> tuple[date, date, str]:
    zone = request.args.get("tz", "").strip() or DEFAULT_TIMEZONE
    last = _day_param("to")
    first = _day_param("from")
    if last is None:
        try:
            today = datetime.now(ZoneInfo(zone)).date()
        except (ValueError, KeyError):  # an unknown zone is reported by the statistics with its name
            today = date.today()
        last = today if first is None else first + timedelta(days=DEFAULT_DAYS - 1)
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    return first, last, zone


def _day_param(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "invalid_request", f"'{name}' must be a day as YYYY-MM-DD, not {value!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:  # near the calendar's ends, day arithmetic overflows
        raise ApiError(400, "invalid_request", f"'{name}' must be a day from {FIRST_DAY} to {LAST_DAY}, not {value}")
    return day
