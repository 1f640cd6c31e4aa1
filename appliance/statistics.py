"""Statistics per keyword and per access number over a range of days.

Days are **local calendar days** in one IANA time zone, ``Europe/Warsaw`` unless the caller names
another (accounts have no zone of their own yet): a shop owner's "Monday" runs from Monday 00:00 to
Tuesday 00:00 on the wall clock, 23 or 25 hours long on the days the clocks change.

Where the numbers per day come from:
- in the summary's zone (``SUMMARY_TIMEZONE``, Europe/Warsaw: the default), from the statistics
  summary kept with the messages (``appliance.db.statistics_summary``): a few rows per day instead of
  every message, so an access number's 90 days cost what a keyword's do (1,000,000 stored messages:
  see docs/rules.md). Everything below, poll and contest results included.
- in any other zone, from the messages themselves, the same on SQLite and PostgreSQL: the zone
  arithmetic is done here, in Python, giving each day its UTC bounds ``[start, end)``; the queries join
  a small table of those bounds (:func:`day_table`) to the messages by range. Each day is then an
  index range scan on ``(keyword_id, received_at, sender)`` or ``(iccid, received_at, sender)``, read
  from the index alone, with no per-row date function (SQLite has no time zone database, and
  ``date(received_at)`` would bucket by UTC day). Poll votes and contest entries are read from
  whichever side is smaller, the scope's messages or the votes (entries). Both ways count the same;
  tests hold them equal.

What is counted, for a scope (a keyword: messages routed to it; an access number: messages received
by the SIM it is bound to). Everything hangs off the messages of the scope received in the range, and
is counted on the day its message arrived (an opt-in is recorded within moments of its message anyway):
- messages and unique senders per day, and unique senders over the whole range;
- opt-ins and opt-outs per day: ``ContactEvent`` rows of kind ``opt_in``/``opt_out`` caused by those
  messages (events without a message, e.g. from a CSV import or the panel, belong to no scope);
- poll results: votes those messages cast, per option code, and voters; polls named by the scope's
  keyword actions are listed even without a vote;
- contest entries those messages made: total, correct, unique numbers; contests named by the scope's
  keyword actions are listed even without an entry.

To compare keywords (their popularity), :func:`keyword_messages` counts the messages of many keywords
over a range in one query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    Subquery,
    Table,
    and_,
    case,
    distinct,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from appliance.db.models import (
    AccessNumber,
    ContactEvent,
    Contest,
    ContestEntry,
    Keyword,
    Message,
    Poll,
    PollVote,
    StatisticsContestDay,
    StatisticsDay,
    StatisticsDaySenders,
    StatisticsPollDay,
    UtcDateTime,
)
from appliance.db.statistics_summary import (
    LOOKBACK_DAYS,
    SUMMARY_TIMEZONE,
    contest_scope,
    keyword_scope,
    sim_scope,
)

DEFAULT_TIMEZONE = SUMMARY_TIMEZONE
# One row per day in the bounds table; SQLite allows at most 500 terms in a compound SELECT. The
# summary remembers a sender's previous day that far back, so a range may not be longer.
MAX_DAYS = 366
assert MAX_DAYS <= LOOKBACK_DAYS

_messages = Message.__table__
_events = ContactEvent.__table__
_votes: Table = PollVote.__table__  # type: ignore[assignment]
_entries: Table = ContestEntry.__table__  # type: ignore[assignment]
_summary_days = StatisticsDay.__table__
_summary_senders = StatisticsDaySenders.__table__
_summary_polls = StatisticsPollDay.__table__
_summary_contests = StatisticsContestDay.__table__


class StatisticsRangeError(ValueError):
    """A date range or time zone the statistics cannot be computed for; the message says why."""


@dataclass(frozen=True)
class DayStatistics:
    day: date
    messages: int = 0
    unique_senders: int = 0
    opt_ins: int = 0
    opt_outs: int = 0


@dataclass(frozen=True)
class PollOptionResult:
    code: str
    label: str | None
    votes: int


@dataclass(frozen=True)
class PollResult:
    poll_id: int
    question: str
    options: list[PollOptionResult]
    voters: int


@dataclass(frozen=True)
class ContestResult:
    contest_id: int
    name: str | None
    entries: int
    correct: int
    unique_numbers: int


@dataclass(frozen=True)
class Statistics:
    scope: str  # "keyword" | "access_number"
    scope_id: int
    first_day: date
    last_day: date
    timezone: str
    days: list[DayStatistics]
    unique_senders: int
    polls: list[PollResult] = field(default_factory=list)
    contests: list[ContestResult] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(d.messages for d in self.days)

    @property
    def opt_ins(self) -> int:
        return sum(d.opt_ins for d in self.days)

    @property
    def opt_outs(self) -> int:
        return sum(d.opt_outs for d in self.days)


@dataclass(frozen=True)
class DayBounds:
    """Local days ``first``…``last`` (inclusive) of ``zone`` and the UTC instant each one starts and ends."""

    first: date
    last: date
    zone: str
    starts: list[datetime]  # len = days + 1: day n is [starts[n], starts[n + 1])

    @classmethod
    def of(cls, first: date, last: date, zone: str = DEFAULT_TIMEZONE) -> DayBounds:
        if last < first:
            raise StatisticsRangeError(f"the range ends ({last}) before it starts ({first})")
        count = (last - first).days + 1
        if count > MAX_DAYS:
            raise StatisticsRangeError(f"the range spans {count} days; at most {MAX_DAYS} at once")
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise StatisticsRangeError(f"unknown time zone {zone!r} (expected an IANA name such as "
                                       f"{DEFAULT_TIMEZONE})") from exc
        starts = [datetime.combine(first + timedelta(days=n), time(), tz).astimezone(UTC)
                  for n in range(count + 1)]
        return cls(first, last, zone, starts)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(len(self.starts) - 1)]

    @property
    def start(self) -> datetime:
        return self.starts[0]

    @property
    def end(self) -> datetime:
        return self.starts[-1]


def day_table(bounds: DayBounds) -> Subquery:
    """The days as rows ``(day, start, end)``, day numbered from 0, to join other tables by time range.

    Plain ``SELECT … UNION ALL SELECT …`` of bound values: the one form SQLite and PostgreSQL both
    accept (SQLite takes no column list after ``VALUES … AS t``).
    """
    rows = [select(literal(n, Integer).label("day"),
                   literal(bounds.starts[n], UtcDateTime()).label("start"),
                   literal(bounds.starts[n + 1], UtcDateTime()).label("end"))
            for n in range(len(bounds.starts) - 1)]
    return (union_all(*rows) if len(rows) > 1 else rows[0]).subquery("days")


def keyword_statistics(session: Session, keyword_id: int, first: date, last: date,
                       zone: str = DEFAULT_TIMEZONE, *, from_messages: bool = False) -> Statistics | None:
    """Statistics of the messages routed to a keyword; None when there is no such keyword.

    ``from_messages``: count from the messages even in the summary's zone (slow: to check the summary).
    """
    keyword = session.get(Keyword, keyword_id)
    if keyword is None:
        return None
    bounds = DayBounds.of(first, last, zone)
    return _statistics(session, "keyword", keyword_id, _messages.c.keyword_id == keyword_id,
                       None if from_messages else keyword_scope(keyword_id), bounds, [keyword])


def access_number_statistics(session: Session, access_number_id: int, first: date, last: date,
                             zone: str = DEFAULT_TIMEZONE, *, from_messages: bool = False) -> Statistics | None:
    """Statistics of the messages received by an access number's SIM; None when there is no such number.

    ``from_messages``: count from the messages even in the summary's zone (slow: to check the summary).
    """
    number = session.get(AccessNumber, access_number_id)
    if number is None:
        return None
    bounds = DayBounds.of(first, last, zone)
    keywords = list(session.scalars(select(Keyword).where(Keyword.access_number_id == access_number_id)))
    return _statistics(session, "access_number", access_number_id, _messages.c.iccid == number.iccid,
                       None if from_messages else sim_scope(number.iccid), bounds, keywords)


def keyword_messages(session: Session, keyword_ids: Collection[int], first: date, last: date,
                     zone: str = DEFAULT_TIMEZONE, *, from_messages: bool = False) -> dict[int, int]:
    """Messages routed to each keyword over the days, for comparing keywords (their popularity);
    keywords without a message in the range are left out. One query for all of them, from the
    summary in its zone (``from_messages``: from the messages even there, as the other functions)."""
    bounds = DayBounds.of(first, last, zone)
    if not keyword_ids:
        return {}
    if bounds.zone == SUMMARY_TIMEZONE and not from_messages:
        scopes = {keyword_scope(k): k for k in keyword_ids}
        d = _summary_days
        query = (select(d.c.scope, func.sum(d.c.messages))
                 .where(d.c.scope.in_(sorted(scopes)), d.c.day >= bounds.first, d.c.day <= bounds.last)
                 .group_by(d.c.scope))
        return {scopes[scope]: int(count) for scope, count in session.execute(query) if count}
    m = _messages
    query = (select(m.c.keyword_id, func.count())
             .where(_in_range(m.c.keyword_id.in_(sorted(keyword_ids)), bounds))
             .group_by(m.c.keyword_id))
    return {keyword_id: count for keyword_id, count in session.execute(query)}


def _statistics(session: Session, scope: str, scope_id: int, in_scope: ColumnElement[bool],
                summary_scope: str | None, bounds: DayBounds, keywords: list[Keyword]) -> Statistics:
    if summary_scope is not None and bounds.zone == SUMMARY_TIMEZONE:
        days, unique_senders = _days_from_summary(session, summary_scope, bounds)
        votes = _votes_from_summary(session, summary_scope, bounds)
        entries = _entries_from_summary(session, summary_scope, bounds)
    else:
        days, unique_senders = _days_from_messages(session, in_scope, bounds)
        messages = sum(d.messages for d in days)
        votes = _votes_from_messages(session, in_scope, bounds, _fewer_rows(session, _votes, messages))
        entries = _entries_from_messages(session, in_scope, bounds, _fewer_rows(session, _entries, messages))
    return Statistics(scope, scope_id, bounds.first, bounds.last, bounds.zone, days, unique_senders,
                      _poll_results(session, votes, _named_in_actions(keywords, "poll_vote", "poll")),
                      _contest_results(session, entries, _named_in_actions(keywords, "contest_entry", "contest")))


def _days_from_summary(session: Session, scope: str, bounds: DayBounds) -> tuple[list[DayStatistics], int]:
    """Per day and over the range, from the summary: a sender counts for the range on the first day of
    it they wrote, the one whose previous day lies before the range."""
    d, s = _summary_days, _summary_senders
    per_day: dict[date, dict[str, int]] = defaultdict(dict)
    query = (select(d.c.day, d.c.messages, d.c.opt_ins, d.c.opt_outs)
             .where(d.c.scope == scope, d.c.day >= bounds.first, d.c.day <= bounds.last))
    for day, messages, opt_ins, opt_outs in session.execute(query):
        per_day[day].update(messages=messages, opt_ins=opt_ins, opt_outs=opt_outs)
    unique_senders = 0
    query = (select(s.c.day, func.sum(s.c.senders),
                    func.sum(case((s.c.previous_day < bounds.first, s.c.senders), else_=0)))
             .where(s.c.scope == scope, s.c.day >= bounds.first, s.c.day <= bounds.last)
             .group_by(s.c.day))
    for day, senders, new_in_range in session.execute(query):
        per_day[day]["unique_senders"] = int(senders)
        unique_senders += int(new_in_range)
    return [DayStatistics(day, **per_day.get(day, {})) for day in bounds.days], unique_senders


def _days_from_messages(session: Session, in_scope: ColumnElement[bool],
                        bounds: DayBounds) -> tuple[list[DayStatistics], int]:
    per_day: dict[int, dict[str, int]] = defaultdict(dict)
    for day, count, senders in session.execute(_messages_per_day(in_scope, bounds)):
        per_day[day].update(messages=count, unique_senders=senders)
    for day, kind, count in session.execute(_opt_ins_and_outs_per_day(in_scope, bounds)):
        per_day[day]["opt_ins" if kind == "opt_in" else "opt_outs"] = count
    days = [DayStatistics(day, **per_day.get(n, {})) for n, day in enumerate(bounds.days)]
    unique_senders = session.execute(select(func.count(distinct(_messages.c.sender)))
                                     .where(_in_range(in_scope, bounds))).scalar_one()
    return days, unique_senders


def _messages_per_day(in_scope: ColumnElement[bool], bounds: DayBounds):  # type: ignore[no-untyped-def]
    days = day_table(bounds)
    m = _messages
    joined = days.join(m, and_(in_scope, m.c.received_at >= days.c.start, m.c.received_at < days.c.end))
    return (select(days.c.day, func.count(), func.count(distinct(m.c.sender)))
            .select_from(joined).group_by(days.c.day))


def _opt_ins_and_outs_per_day(in_scope: ColumnElement[bool], bounds: DayBounds):  # type: ignore[no-untyped-def]
    days = day_table(bounds)
    m, e = _messages, _events
    joined = (days.join(m, and_(in_scope, m.c.received_at >= days.c.start, m.c.received_at < days.c.end))
              .join(e, and_(e.c.message_id == m.c.id, e.c.kind.in_(("opt_in", "opt_out")))))
    return select(days.c.day, e.c.kind, func.count()).select_from(joined).group_by(days.c.day, e.c.kind)


def _in_range(in_scope: ColumnElement[bool], bounds: DayBounds) -> ColumnElement[bool]:
    return and_(in_scope, _messages.c.received_at >= bounds.start, _messages.c.received_at < bounds.end)


def _named_in_actions(keywords: list[Keyword], action: str, key: str) -> set[int]:
    named = set()
    for keyword in keywords:
        for item in keyword.actions or []:
            if item.get("type") == action and isinstance(item.get(key), int):
                named.add(int(item[key]))  # type: ignore[call-overload]
    return named


def _fewer_rows(session: Session, table: Table, messages: int) -> bool:
    """Whether ``table`` (votes, entries) has fewer rows than the scope has messages in the range.

    Then its rows are read, each looking up its message (``EXISTS``, which SQLite runs per row as
    written), rather than the scope's messages, each looking up its row: an access number's 90 days
    are a quarter of a million messages and a few thousand votes. The highest id stands in for the
    row count: one index look-up, never fewer than the rows there are.
    """
    newest = session.execute(select(func.max(table.c.id))).scalar()
    return (newest or 0) < messages


def _of_messages_in_range(table: Table, in_scope: ColumnElement[bool], bounds: DayBounds,
                          from_rows: bool) -> tuple[FromClause, ColumnElement[bool]]:
    """FROM and WHERE for the rows of ``table`` made by the scope's messages in the range."""
    m = _messages
    if from_rows:
        # OFFSET 0 keeps PostgreSQL from turning the EXISTS into a join, for which it would read the
        # scope's messages after all (a hash join over them); as written, it is one look-up per row.
        message = select(m.c.id).where(m.c.id == table.c.message_id, _in_range(in_scope, bounds)).offset(0)
        return table, exists(message)
    return m.join(table, table.c.message_id == m.c.id), _in_range(in_scope, bounds)


def _votes_from_messages(session: Session, in_scope: ColumnElement[bool], bounds: DayBounds,
                         from_votes: bool) -> dict[int, dict[str, int]]:
    """Votes per poll and option code."""
    v = _votes
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    source, condition = _of_messages_in_range(v, in_scope, bounds, from_votes)
    query = (select(v.c.poll_id, v.c.option_code, func.count())
             .select_from(source).where(condition)
             .group_by(v.c.poll_id, v.c.option_code))
    for poll_id, code, votes in session.execute(query):
        counts[poll_id][code] = votes
    return counts


def _votes_from_summary(session: Session, scope: str, bounds: DayBounds) -> dict[int, dict[str, int]]:
    p = _summary_polls
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    query = (select(p.c.poll_id, p.c.option_code, func.sum(p.c.votes))
             .where(p.c.scope == scope, p.c.day >= bounds.first, p.c.day <= bounds.last)
             .group_by(p.c.poll_id, p.c.option_code))
    for poll_id, code, votes in session.execute(query):
        counts[poll_id][code] = int(votes)
    return counts


def _poll_results(session: Session, counts: dict[int, dict[str, int]], named: set[int]) -> list[PollResult]:
    ids = named | set(counts)
    if not ids:
        return []
    results = []
    for poll in session.scalars(select(Poll).where(Poll.id.in_(ids)).order_by(Poll.id)):
        votes = counts.get(poll.id, {})
        options = [PollOptionResult(o["code"], o.get("label"), votes.get(o["code"], 0)) for o in poll.options]
        known = {o["code"] for o in poll.options}
        # A vote for an option since removed from the poll still counts; it is listed after the rest.
        options += [PollOptionResult(code, None, n) for code, n in sorted(votes.items()) if code not in known]
        # One row per (poll, number) by the table's unique constraint: voters are the votes' sum.
        results.append(PollResult(poll.id, poll.question, options, sum(votes.values())))
    return results


def _entries_from_messages(session: Session, in_scope: ColumnElement[bool], bounds: DayBounds,
                           from_entries: bool) -> dict[int, tuple[int, int, int]]:
    """(entries, correct ones, unique numbers) per contest."""
    c = _entries
    source, condition = _of_messages_in_range(c, in_scope, bounds, from_entries)
    query = (select(c.c.contest_id, func.count(), func.coalesce(func.sum(case((c.c.correct, 1), else_=0)), 0),
                    func.count(distinct(c.c.msisdn)))
             .select_from(source).where(condition)
             .group_by(c.c.contest_id))
    return {contest_id: (entries, correct, numbers) for contest_id, entries, correct, numbers in session.execute(query)}


def _entries_from_summary(session: Session, scope: str, bounds: DayBounds) -> dict[int, tuple[int, int, int]]:
    c, s = _summary_contests, _summary_senders
    query = (select(c.c.contest_id, func.sum(c.c.entries), func.sum(c.c.correct))
             .where(c.c.scope == scope, c.c.day >= bounds.first, c.c.day <= bounds.last)
             .group_by(c.c.contest_id))
    totals = {contest_id: (int(entries), int(correct)) for contest_id, entries, correct in session.execute(query)}
    if not totals:
        return {}
    scopes = {contest_scope(scope, contest_id): contest_id for contest_id in totals}
    numbers: dict[int, int] = defaultdict(int)
    query = (select(s.c.scope, func.sum(case((s.c.previous_day < bounds.first, s.c.senders), else_=0)))
             .where(s.c.scope.in_(sorted(scopes)), s.c.day >= bounds.first, s.c.day <= bounds.last)
             .group_by(s.c.scope))
    for contest, count in session.execute(query):
        numbers[scopes[contest]] = int(count)
    return {contest_id: (entries, correct, numbers[contest_id]) for contest_id, (entries, correct) in totals.items()}


def _contest_results(session: Session, totals: dict[int, tuple[int, int, int]],
                     named: set[int]) -> list[ContestResult]:
    ids = named | set(totals)
    if not ids:
        return []
    return [ContestResult(contest.id, contest.name, *totals.get(contest.id, (0, 0, 0)))
            for contest in session.scalars(select(Contest).where(Contest.id.in_(ids)).order_by(Contest.id))]
