"""The statistics summary: messages, senders and opt-ins per scope and local day, kept with the messages.

Why: statistics of an access number over 90 days read every message its SIM received in them (a
quarter of a million on a busy appliance) and their senders; counted from the messages that takes
a second. Read from this summary it is a few hundred rows a day at most, whatever the traffic.

What is kept, per **scope** (``keyword:<id>``: messages routed to the keyword; ``sim:<ICCID>``: messages
the SIM received, which is an access number's traffic, as in ``appliance.statistics``) and **local
calendar day** of ``SUMMARY_TIMEZONE``:

- ``statistics_days``: messages, and opt-in/opt-out events those messages caused;
- ``statistics_sender_days``: messages per sender and day (only read to keep the next table right);
- ``statistics_day_senders``: a day's senders by the day each last wrote before. A day's unique
  senders are the sum of its rows; the unique senders of a range are those of its days whose previous
  day lies before the range (each sender is counted on its first day in the range, once).

Statistics asked in another time zone are computed from the messages themselves (``appliance.statistics``).

How it stays equal to the messages: every change is applied in the transaction that changes them.
- ORM: a flush listener (installed on every session factory by ``appliance.db.engine``) counts
  ``Message`` rows added, changed in a counted column (``iccid``, ``received_at``, ``sender``,
  ``keyword_id``: an MMS routed after its fetch, a partial message completed by a late part) or
  deleted, and ``ContactEvent`` opt-ins/opt-outs added, changed or deleted. A message that moves
  takes its opt-ins and opt-outs along.
- Statements that bypass the ORM call this module themselves: reception's bulk inserts
  (:func:`count_new_messages`), a keyword's deletion (:func:`forget_keyword`), a contact's
  (:func:`uncount_contact_events`). Whatever else changes messages with a bulk statement must too.
- :func:`rebuild` writes it from scratch (the benchmark loads raw rows; a repair).

Concurrency: SQLite has one writer at a time, and the summary is written after the change to the
messages, so with the write lock held. On PostgreSQL a transaction takes an advisory lock per SIM
(ICCID) of the messages it counts, in ICCID order, before it reads and writes that SIM's scopes:
reception, the MMS fetcher and the partial-set release may work on one SIM at once.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, bindparam, delete, event, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import get_history

from appliance.db.models import (
    ContactEvent,
    Message,
    StatisticsDay,
    StatisticsDaySenders,
    StatisticsSenderDay,
)

log = logging.getLogger(__name__)

SUMMARY_TIMEZONE = "Europe/Warsaw"
# A previous day longer ago than this is stored as "this long ago, plus one": no range of
# statistics (at most ``appliance.statistics.MAX_DAYS`` days) reaches further back.
LOOKBACK_DAYS = 366
OPT_KINDS = ("opt_in", "opt_out")
# Advisory lock key space of the summary (two int4 keys: this, then hashtext(ICCID)).
_LOCK_SPACE = 0x53544154
_IN_CHUNK = 500
_ZONE = ZoneInfo(SUMMARY_TIMEZONE)

_days: Table = StatisticsDay.__table__  # type: ignore[assignment]
_sender_days: Table = StatisticsSenderDay.__table__  # type: ignore[assignment]
_day_senders: Table = StatisticsDaySenders.__table__  # type: ignore[assignment]
_messages: Table = Message.__table__  # type: ignore[assignment]
_events: Table = ContactEvent.__table__  # type: ignore[assignment]
_COUNTED = ("iccid", "keyword_id", "sender", "received_at")


def local_day(moment: datetime) -> date:
    return moment.astimezone(_ZONE).date()


def keyword_scope(keyword_id: int) -> str:
    return f"keyword:{keyword_id}"


def sim_scope(iccid: str) -> str:
    return f"sim:{iccid}"


@dataclass(frozen=True)
class Counted:
    """A message as the summary counts it."""

    iccid: str
    keyword_id: int | None
    sender: str | None
    received_at: datetime

    @property
    def scopes(self) -> list[str]:
        scopes = [sim_scope(self.iccid)]
        if self.keyword_id is not None:
            scopes.append(keyword_scope(self.keyword_id))
        return scopes


@dataclass
class SummaryChange:
    """Counts to add (or, negative, take off) the summary, gathered and then applied at once."""

    messages: Counter[tuple[str, date]] = field(default_factory=Counter)
    opt_ins: Counter[tuple[str, date]] = field(default_factory=Counter)
    opt_outs: Counter[tuple[str, date]] = field(default_factory=Counter)
    senders: Counter[tuple[str, str, date]] = field(default_factory=Counter)
    iccids: set[str] = field(default_factory=set)

    def message(self, counted: Counted, sign: int = 1) -> None:
        day = local_day(counted.received_at)
        self.iccids.add(counted.iccid)
        for scope in counted.scopes:
            self.messages[scope, day] += sign
            if counted.sender is not None:
                self.senders[scope, counted.sender, day] += sign

    def event(self, counted: Counted, kind: str, sign: int = 1) -> None:
        """``sign``: how many such events to add (negative: to take off)."""
        if kind not in OPT_KINDS:
            return
        day = local_day(counted.received_at)
        self.iccids.add(counted.iccid)
        for scope in counted.scopes:
            (self.opt_ins if kind == "opt_in" else self.opt_outs)[scope, day] += sign

    def __bool__(self) -> bool:
        return any(any(counter.values()) for counter in (self.messages, self.opt_ins, self.opt_outs, self.senders))


def count_new_messages(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Count messages inserted with a Core statement (reception's batches): dicts of message columns."""
    change = SummaryChange()
    for row in rows:
        change.message(Counted(row["iccid"], row.get("keyword_id"), row.get("sender"), row["received_at"]))
    apply(session.connection(), change)


def forget_keyword(session: Session, keyword_id: int) -> None:
    """Drop a keyword's scope, as its deletion unlinks its messages (a reused id starts from nothing)."""
    connection = session.connection()
    for table in (_days, _sender_days, _day_senders):
        connection.execute(delete(table).where(table.c.scope == keyword_scope(keyword_id)))


def uncount_contact_events(session: Session, contact_id: int) -> None:
    """Take a contact's opt-ins and opt-outs off the summary before a bulk delete of its events."""
    change = SummaryChange()
    query = (select(_messages.c.iccid, _messages.c.keyword_id, _messages.c.sender, _messages.c.received_at,
                    _events.c.kind)
             .select_from(_events.join(_messages, _messages.c.id == _events.c.message_id))
             .where(_events.c.contact_id == contact_id, _events.c.kind.in_(OPT_KINDS)))
    for iccid, keyword_id, sender, received_at, kind in session.connection().execute(query):
        change.event(Counted(iccid, keyword_id, sender, received_at), kind, -1)
    apply(session.connection(), change)


def apply(connection: Connection, change: SummaryChange) -> None:
    """Add a change to the summary, in the caller's transaction."""
    if not change:
        return
    if connection.dialect.name == "postgresql":
        for iccid in sorted(change.iccids):
            connection.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:iccid))"),
                               {"space": _LOCK_SPACE, "iccid": iccid})
    _apply_senders(connection, change.senders)
    keys = sorted({*change.messages, *change.opt_ins, *change.opt_outs})
    rows = [{"scope": scope, "day": day, "messages": change.messages[scope, day],
             "opt_ins": change.opt_ins[scope, day], "opt_outs": change.opt_outs[scope, day]}
            for scope, day in keys]
    rows = [row for row in rows if row["messages"] or row["opt_ins"] or row["opt_outs"]]
    _add(connection, _days, ("scope", "day"), ("messages", "opt_ins", "opt_outs"), rows)
    emptied = [row for row in rows if row["messages"] < 0 or row["opt_ins"] < 0 or row["opt_outs"] < 0]
    if emptied:
        connection.execute(
            delete(_days).where(tuple_(_days.c.scope, _days.c.day).in_([(r["scope"], r["day"]) for r in emptied]),
                                _days.c.messages == 0, _days.c.opt_ins == 0, _days.c.opt_outs == 0))


def _apply_senders(connection: Connection, deltas: Counter[tuple[str, str, date]]) -> None:
    changes: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    for (scope, sender, day), delta in deltas.items():
        if delta:
            changes[scope, sender][day] = delta
    if not changes:
        return
    days = [day for per_day in changes.values() for day in per_day]
    # Whatever lies further from the changed days than a previous day is remembered cannot change.
    low, high = min(days) - timedelta(days=LOOKBACK_DAYS), max(days) + timedelta(days=LOOKBACK_DAYS)
    known: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    pairs = sorted(changes)
    for start in range(0, len(pairs), _IN_CHUNK):
        found = connection.execute(_KNOWN_DAYS, {"pairs": pairs[start:start + _IN_CHUNK], "low": low, "high": high})
        for scope, sender, day, count in found:
            known[scope, sender][day] = count
    visits: Counter[tuple[str, date, date]] = Counter()
    gone = []
    for (scope, sender), per_day in changes.items():
        before = known.get((scope, sender), {})
        after = dict(before)
        for day, delta in per_day.items():
            count = after.get(day, 0) + delta
            if count < 0:
                log.error("statistics summary: %s took %d messages of %s off %s, which had %d", scope, -delta,
                          sender, day, after.get(day, 0))
            if count > 0:
                after[day] = count
            else:
                after.pop(day, None)
                if day in before:
                    gone.append((scope, sender, day))
        if before.keys() != after.keys():
            visits.update((scope, day, previous) for day, previous in day_senders(sorted(after)))
            visits.subtract((scope, day, previous) for day, previous in day_senders(sorted(before)))
    rows = [{"scope": scope, "sender": sender, "day": day, "messages": delta}
            for (scope, sender), per_day in sorted(changes.items()) for day, delta in sorted(per_day.items())]
    _add(connection, _sender_days, ("scope", "sender", "day"), ("messages",), rows)
    if gone:
        connection.execute(delete(_sender_days).where(
            tuple_(_sender_days.c.scope, _sender_days.c.sender, _sender_days.c.day).in_(gone)))
    rows = [{"scope": scope, "day": day, "previous_day": previous, "senders": delta}
            for (scope, day, previous), delta in sorted(visits.items()) if delta]
    _add(connection, _day_senders, ("scope", "day", "previous_day"), ("senders",), rows)
    emptied = [(r["scope"], r["day"], r["previous_day"]) for r in rows if r["senders"] < 0]
    if emptied:
        connection.execute(delete(_day_senders).where(
            tuple_(_day_senders.c.scope, _day_senders.c.day, _day_senders.c.previous_day).in_(emptied),
            _day_senders.c.senders == 0))


def day_senders(days: Iterable[date]) -> Iterator[tuple[date, date]]:
    """``(day, previous_day)`` of one sender's days in one scope (ascending), as the summary stores them."""
    previous: date | None = None
    for day in days:
        floor = day - timedelta(days=LOOKBACK_DAYS + 1)
        yield day, previous if previous is not None and previous > floor else floor
        previous = day


# Built once: reception runs these for every batch, and building statements is most of their cost.
_KNOWN_DAYS = (select(_sender_days.c.scope, _sender_days.c.sender, _sender_days.c.day, _sender_days.c.messages)
               .where(tuple_(_sender_days.c.scope, _sender_days.c.sender).in_(bindparam("pairs", expanding=True)),
                      _sender_days.c.day >= bindparam("low"), _sender_days.c.day <= bindparam("high")))
_UPSERTS: dict[tuple[str, str], Any] = {}


def _add(connection: Connection, table: Table, keys: tuple[str, ...], counters: tuple[str, ...],
         rows: list[dict[str, Any]]) -> None:
    """Insert the rows, or add their counters to the rows already there (one statement, both dialects)."""
    if not rows:
        return
    dialect = connection.dialect.name
    statement = _UPSERTS.get((dialect, table.name))
    if statement is None:
        inserting = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        statement = _UPSERTS[dialect, table.name] = inserting.on_conflict_do_update(
            index_elements=[table.c[key] for key in keys],
            set_={name: table.c[name] + inserting.excluded[name] for name in counters})
    connection.execute(statement, rows)


# --- the ORM side --------------------------------------------------------------------------------

def install(sessions: sessionmaker[Session]) -> None:
    """Keep the summary for every flush of sessions from this factory."""
    event.listen(sessions, "before_flush", _before_flush)
    event.listen(sessions, "after_flush", _after_flush)


_DELETED_KEY = "statistics_summary.deleted"


@dataclass
class _Deleted:
    """Rows a flush deletes, with the values they were counted by, read before the rows are gone."""

    messages: dict[int, Counted] = field(default_factory=dict)
    events: list[tuple[int, str]] = field(default_factory=list)  # (message id, kind)


def _before_flush(session: Session, _context: object, _instances: object) -> None:
    deleted = _Deleted()
    for obj in session.deleted:
        if isinstance(obj, Message):
            deleted.messages[obj.id] = _old(obj)
        elif isinstance(obj, ContactEvent):
            kind, message_id = _old_value(obj, "kind"), _old_value(obj, "message_id")
            if kind in OPT_KINDS and message_id is not None:
                deleted.events.append((message_id, kind))
    session.info[_DELETED_KEY] = deleted


def _after_flush(session: Session, _context: object) -> None:
    change = SummaryChange()
    deleted: _Deleted = session.info.pop(_DELETED_KEY, None) or _Deleted()
    # Messages whose counted values changed (or that are gone): id -> the values they were counted by.
    moved: dict[int, Counted] = dict(deleted.messages)
    for counted in deleted.messages.values():
        change.message(counted, -1)
    for obj in session.new:
        if isinstance(obj, Message):
            change.message(_now(obj))
    for obj in session.dirty:
        if isinstance(obj, Message) and _changed(obj, _COUNTED):
            before, after = _old(obj), _now(obj)
            if before != after:
                change.message(before, -1)
                change.message(after)
                moved[obj.id] = before

    # Opt-ins and opt-outs: (message id, kind, count, the message as they were counted by; None: as it is).
    events: list[tuple[int, str, int, Counted | None]] = []
    flushed_events: set[int] = set()
    for obj in session.new:
        if isinstance(obj, ContactEvent):
            flushed_events.add(obj.id)
            if obj.kind in OPT_KINDS and obj.message_id is not None:
                events.append((obj.message_id, obj.kind, 1, None))
    for obj in session.dirty:
        if isinstance(obj, ContactEvent) and _changed(obj, ("kind", "message_id")):
            flushed_events.add(obj.id)
            kind, message_id = _old_value(obj, "kind"), _old_value(obj, "message_id")
            if kind in OPT_KINDS and message_id is not None:
                events.append((message_id, kind, -1, moved.get(message_id)))
            if obj.kind in OPT_KINDS and obj.message_id is not None:
                events.append((obj.message_id, obj.kind, 1, None))
    events.extend((message_id, kind, -1, moved.get(message_id)) for message_id, kind in deleted.events)
    connection = session.connection()
    if moved:
        # The stored events of a message that moved go with it (those of this flush are counted above).
        query = (select(_events.c.message_id, _events.c.kind, func.count())
                 .where(_events.c.message_id.in_(sorted(moved)), _events.c.kind.in_(OPT_KINDS))
                 .group_by(_events.c.message_id, _events.c.kind))
        if flushed_events:
            query = query.where(_events.c.id.not_in(sorted(flushed_events)))
        for message_id, kind, count in connection.execute(query):
            events.append((message_id, kind, -count, moved[message_id]))
            events.append((message_id, kind, count, None))
    if events:
        current = _counted_messages(connection, {message_id for message_id, _, _, was in events if was is None})
        for message_id, kind, count, was in events:
            counted = was or current.get(message_id)
            if counted is not None:  # None: the message is gone too, and was taken off with its events
                change.event(counted, kind, count)
    apply(connection, change)


def _counted_messages(connection: Connection, ids: set[int]) -> dict[int, Counted]:
    found: dict[int, Counted] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), _IN_CHUNK):
        query = (select(_messages.c.id, _messages.c.iccid, _messages.c.keyword_id, _messages.c.sender,
                        _messages.c.received_at)
                 .where(_messages.c.id.in_(ordered[start:start + _IN_CHUNK])))
        for message_id, *values in connection.execute(query):
            found[message_id] = Counted(*values)
    return found


def _changed(obj: object, names: Iterable[str]) -> bool:
    return any(get_history(obj, name).has_changes() for name in names)


def _old_value(obj: object, name: str) -> Any:
    history = get_history(obj, name)
    if history.deleted:
        return history.deleted[0]
    if history.unchanged:
        return history.unchanged[0]
    return getattr(obj, name)


def _old(message: Message) -> Counted:
    return Counted(*(_old_value(message, name) for name in _COUNTED))


def _now(message: Message) -> Counted:
    return Counted(message.iccid, message.keyword_id, message.sender, message.received_at)


# --- from scratch --------------------------------------------------------------------------------

_REBUILD_CHUNK = 10_000


def rebuild(connection: Connection) -> None:
    """Write the whole summary from the messages and their events (in the caller's transaction).

    One pass per kind of scope over the messages ordered by (scope, sender, time): a sender's days in
    a scope come together, so no more than the per-day counts is held in memory.
    """
    for table in (_days, _sender_days, _day_senders):
        connection.execute(delete(table))
    per_day: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    visits: Counter[tuple[str, date, date]] = Counter()
    pending: list[dict[str, Any]] = []
    for scope, sender, days in _senders_days(connection, per_day):
        pending.extend({"scope": scope, "sender": sender, "day": day, "messages": count}
                       for day, count in sorted(days.items()))
        visits.update((scope, day, previous) for day, previous in day_senders(sorted(days)))
        if len(pending) >= _REBUILD_CHUNK:
            connection.execute(_sender_days.insert(), pending)
            pending.clear()
    if pending:
        connection.execute(_sender_days.insert(), pending)
    m = _messages
    query = (select(m.c.iccid, m.c.keyword_id, m.c.sender, m.c.received_at, _events.c.kind)
             .select_from(_events.join(m, m.c.id == _events.c.message_id)).where(_events.c.kind.in_(OPT_KINDS)))
    for iccid, keyword_id, sender, received_at, kind in connection.execute(
            query.execution_options(yield_per=_REBUILD_CHUNK)):
        for scope in Counted(iccid, keyword_id, sender, received_at).scopes:
            per_day[scope, local_day(received_at)][1 if kind == "opt_in" else 2] += 1
    _insert(connection, _days, [{"scope": scope, "day": day, "messages": counts[0], "opt_ins": counts[1],
                                 "opt_outs": counts[2]} for (scope, day), counts in sorted(per_day.items())])
    _insert(connection, _day_senders, [{"scope": scope, "day": day, "previous_day": previous, "senders": count}
                                       for (scope, day, previous), count in sorted(visits.items())])


def _senders_days(connection: Connection,
                  per_day: dict[tuple[str, date], list[int]]) -> Iterator[tuple[str, str, Counter[date]]]:
    """Each (scope, sender) with its messages per day; counts every message into ``per_day`` on the way."""
    m = _messages
    for column, scope_of in ((m.c.iccid, sim_scope), (m.c.keyword_id, keyword_scope)):
        query = (select(column, m.c.sender, m.c.received_at).where(column.is_not(None))
                 .order_by(column, m.c.sender, m.c.received_at))
        current: tuple[str, str] | None = None
        days: Counter[date] = Counter()
        for key, sender, received_at in connection.execute(query.execution_options(yield_per=_REBUILD_CHUNK)):
            scope, day = scope_of(key), local_day(received_at)
            per_day[scope, day][0] += 1
            if sender is None:
                continue
            if current != (scope, sender):
                if current is not None:
                    yield *current, days
                current, days = (scope, sender), Counter()
            days[day] += 1
        if current is not None:
            yield *current, days


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _REBUILD_CHUNK):
        connection.execute(table.insert(), rows[start:start + _REBUILD_CHUNK])


__all__ = ["LOOKBACK_DAYS", "SUMMARY_TIMEZONE", "Counted", "SummaryChange", "apply",
           "count_new_messages", "day_senders", "forget_keyword", "install", "keyword_scope", "local_day",
           "rebuild", "sim_scope", "uncount_contact_events"]
