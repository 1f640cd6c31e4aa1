"""Which messages the inbox shows: the filters of its form, read from the query string.

One definition serves the inbox page, its "older" links and the live events stream (a row arriving
live is sent only when it matches the page's filters). Values that do not parse are ignored rather
than refused: a hand-edited or stale link still shows a page.

Days are local calendar days of the box's time zone, as in the statistics (``DEFAULT_TIMEZONE``): a
shop owner's "today" starts at midnight on the wall clock, not in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from appliance.db.engine import unicode_lower
from appliance.db.models import AccessNumber, Keyword, Message
from appliance.statistics import DEFAULT_TIMEZONE, DayBounds
from appliance.web.access import Principal

STATUSES = ("routed", "unmatched", "partial", "undecodable", "fetching")
MAX_SEARCH_LENGTH = 200


@dataclass(frozen=True)
class InboxFilter:
    # Query-string names: number (access number id), keyword (keyword id), account (id; admins),
    # from / to (YYYY-MM-DD, inclusive), q (sender or text), status.
    number: int | None = None
    keyword: int | None = None
    account: int | None = None
    first_day: date | None = None
    last_day: date | None = None
    search: str = ""
    status: str = ""

    @classmethod
    def from_args(cls, args: MultiDict[str, str], principal: Principal) -> InboxFilter:
        search = " ".join(args.get("q", "").split())[:MAX_SEARCH_LENGTH]
        status = args.get("status", "")
        return cls(
            number=_positive_int(args.get("number")),
            keyword=_positive_int(args.get("keyword")),
            # An account's user sees one account anyway; the filter is the admin's.
            account=_positive_int(args.get("account")) if principal.is_admin else None,
            first_day=_day(args.get("from")),
            last_day=_day(args.get("to")),
            search=search,
            status=status if status in STATUSES else "",
        )

    def args(self) -> dict[str, str]:
        """The filters as query-string arguments (for ``url_for``), only those that are set."""
        names = {"first_day": "from", "last_day": "to", "search": "q"}
        found = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value not in (None, ""):
                found[names.get(item.name, item.name)] = value.isoformat() if isinstance(value, date) else str(value)
        return found

    @property
    def active(self) -> bool:
        return bool(self.args())

    def clauses(self) -> list[ColumnElement[bool]]:
        """WHERE clauses on ``Message`` for these filters (the principal's scope is added by the caller)."""
        found: list[ColumnElement[bool]] = []
        if self.number is not None:
            found.append(Message.iccid.in_(select(AccessNumber.iccid).where(AccessNumber.id == self.number)))
        if self.keyword is not None:
            found.append(Message.keyword_id == self.keyword)
        if self.account is not None:
            found.append(Message.account_id == self.account)
        if self.first_day is not None:
            found.append(Message.received_at >= day_start(self.first_day))
        if self.last_day is not None:
            found.append(Message.received_at < day_end(self.last_day))
        if self.search:
            # LIKE with the wildcards in the typed text escaped: "50%" finds "50%", not "50 zł".
            term = self.search.lower()
            found.append(or_(*(unicode_lower(column).contains(term, autoescape=True)
                               for column in (Message.sender, Message.text, Message.subject))))
        if self.status:
            found.append(Message.status == self.status)
        return found


def visible_messages(principal: Principal, inbox_filter: InboxFilter | None = None) -> list[ColumnElement[bool]]:
    """WHERE clauses for the messages ``principal`` may see, narrowed by ``inbox_filter``."""
    return [principal.visible(Message.account_id), *(inbox_filter.clauses() if inbox_filter else ())]


def visible_numbers(session: Session, principal: Principal) -> list[AccessNumber]:
    """The access numbers an inbox can be filtered by: all for an admin; for an account's user its own
    numbers and the shared numbers where it has keywords (its messages arrive there too)."""
    query = select(AccessNumber).order_by(AccessNumber.number)
    if principal.account_id is not None and not principal.is_admin:
        query = query.where(or_(
            AccessNumber.account_id == principal.account_id,
            AccessNumber.id.in_(select(Keyword.access_number_id).where(Keyword.account_id == principal.account_id))))
    return list(session.scalars(query))


def today(zone: str = DEFAULT_TIMEZONE) -> date:
    """The box's calendar day now."""
    return datetime.now(ZoneInfo(zone)).date()


def day_start(day: date) -> datetime:
    return DayBounds.of(day, day).start


def day_end(day: date) -> datetime:
    return DayBounds.of(day, day).end


def _positive_int(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() and 0 < int(text) < 2**63 else None


def _day(text: str | None) -> date | None:
    try:
        day = date.fromisoformat(text) if text else None
    except ValueError:
        return None
    # The first and last day have no midnight in every time zone: datetime cannot hold it in UTC.
    return day if day is not None and date.min < day < date.max else None
