"""The statistics summary: messages, senders, opt-ins, votes and entries per scope and local day.

Why: statistics of an access number over 90 days read every message its SIM received in them (a
quarter of a million on a busy appliance) and their senders; counted from the messages that takes
a second. Read from this summary it is a few hundred rows a day at most, whatever the traffic.

What is kept, per **scope** (``keyword:<id>``: messages routed to the keyword; ``sim:<ICCID>``: messages
the SIM received, which is an access number's traffic, as in ``appliance.statistics``) and **local
calendar day** of ``SUMMARY_TIMEZONE``, everything on the day of the message it comes from:

- ``statistics_days``: messages, and opt-in/opt-out events those messages caused;
- ``statistics_poll_days``: votes those messages cast, per poll and option;
- ``statistics_contest_days``: entries (and correct ones) those messages made, per contest;
- ``statistics_sender_days``: messages per sender and day (only read to keep the next table right);
- ``statistics_day_senders``: a day's senders by the day each last wrote before. A day's unique
  senders are the sum of its rows; the unique senders of a range are those of its days whose previous
  day lies before the range (each sender is counted on its first day in the range, once). The numbers
  that entered a contest are kept the same way, as the senders of the scope ``<scope>/contest:<id>``.

Statistics asked in another time zone are computed from the messages themselves (``appliance.statistics``).

How it stays equal to the messages: every change is applied in the transaction that changes them.
- ORM: a flush listener (installed on every session factory by ``appliance.db.engine``) counts
  ``Message`` rows added, changed in a counted column (``iccid``, ``received_at``, ``sender``,
  ``keyword_id``: an MMS routed after its fetch, a partial message completed by a late part) or
  deleted, and ``ContactEvent`` opt-ins/opt-outs, ``PollVote`` and ``ContestEntry`` rows added,
  changed (a keep-last vote moving to a newer message) or deleted. A message that moves takes its
  opt-ins, votes and entries along.
- Bulk statements (Core, or the ORM's ``update()``/``delete()``) bypass the listener and call this
  module themselves: reception's inserts (:func:`count_new_messages`), a keyword's deletion
  (:func:`forget_keyword`), a contact's (:func:`uncount_contact_events`), a poll's
  (:func:`forget_poll`), a contest's (:func:`forget_contest`). Any new bulk change to those tables
  must too; the randomised tests compare the summary with the messages after every kind of change.
- :func:`rebuild` writes it from scratch (the benchmark loads raw rows; a repair).

Concurrency: SQLite has one writer at a time, and the summary is written after the change to the
messages, so with the write lock held. On PostgreSQL a transaction takes an advisory lock per SIM
(ICCID) of the messages it counts, in ICCID order, before it reads and writes that SIM's scopes:
reception, the MMS fetcher and the partial-set release may work on one SIM at once.
"""

from __future__ import annotations

import importlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, bindparam, delete, event, func, or_, select, text, tuple_
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import get_history

from appliance.db.models import (
    ContactEvent,
    ContestEntry,
    Message,
    PollVote,
    StatisticsContestDay,
    StatisticsDay,
    StatisticsDaySenders,
    StatisticsPollDay,
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
_votes: Table = PollVote.__table__  # type: ignore[assignment]
_entries: Table = ContestEntry.__table__  # type: ignore[assignment]
_poll_days: Table = StatisticsPollDay.__table__  # type: ignore[assignment]
_contest_days: Table = StatisticsContestDay.__table__  # type: ignore[assignment]
_TABLES = (_days, _sender_days, _day_senders, _poll_days, _contest_days)
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


def contest_scope(scope: str, contest_id: int) -> str:
    """Where the numbers that entered a contest through a scope's messages are kept as senders."""
    return f"{scope}/contest:{contest_id}"


@dataclass
class SummaryChange:
    """Counts to add (or, negative, take off) the summary, gathered and then applied at once.

    ``sign`` everywhere: how many to add (negative: to take off).
    """

    messages: Counter[tuple[str, date]] = field(default_factory=Counter)
    opt_ins: Counter[tuple[str, date]] = field(default_factory=Counter)
    opt_outs: Counter[tuple[str, date]] = field(default_factory=Counter)
    senders: Counter[tuple[str, str, date]] = field(default_factory=Counter)
    votes: Counter[tuple[str, date, int, str]] = field(default_factory=Counter)
    entries: Counter[tuple[str, date, int]] = field(default_factory=Counter)
    correct: Counter[tuple[str, date, int]] = field(default_factory=Counter)
    iccids: set[str] = field(default_factory=set)

    def message(self, counted: Counted, sign: int = 1) -> None:
        day = local_day(counted.received_at)
        self.iccids.add(counted.iccid)
        for scope in counted.scopes:
            self.messages[scope, day] += sign
            if counted.sender is not None:
                self.senders[scope, counted.sender, day] += sign

    def attached(self, counted: Counted, key: tuple[Any, ...], sign: int = 1) -> None:
        """A row counted on its message's day: ``("opt_in"|"opt_out",)``, ``("vote", poll, option)``,
        ``("entry", contest, correct, msisdn)`` (see ``_ATTACHED``)."""
        day = local_day(counted.received_at)
        self.iccids.add(counted.iccid)
        for scope in counted.scopes:
            if key[0] == "opt_in":
                self.opt_ins[scope, day] += sign
            elif key[0] == "opt_out":
                self.opt_outs[scope, day] += sign
            elif key[0] == "vote":
                self.votes[scope, day, key[1], key[2]] += sign
            else:
                _, contest_id, correct, msisdn = key
                self.entries[scope, day, contest_id] += sign
                if correct:
                    self.correct[scope, day, contest_id] += sign
                self.senders[contest_scope(scope, contest_id), msisdn, day] += sign

    def __bool__(self) -> bool:
        return any(any(counter.values()) for counter in (self.messages, self.opt_ins, self.opt_outs, self.senders,
                                                         self.votes, self.entries))


@dataclass(frozen=True)
class _Attached:
    """A table whose rows are counted on the day of the message they point at."""

    table: Table
    columns: tuple[str, ...]  # the ones the key is made of, message_id excluded

    def key(self, values: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The summary key of a row from its ``columns``; None for a row the summary does not count."""
        if self.table is _events:
            return (values[0],) if values[0] in OPT_KINDS else None
        if self.table is _votes:
            return ("vote", *values)
        return ("entry", values[0], bool(values[1]), values[2])

    def where(self) -> Any:
        return self.table.c.kind.in_(OPT_KINDS) if self.table is _events else None


_ATTACHED = {
    ContactEvent: _Attached(_events, ("kind",)),
    PollVote: _Attached(_votes, ("poll_id", "option_code")),
    ContestEntry: _Attached(_entries, ("contest_id", "correct", "msisdn")),
}


def count_new_messages(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Count messages inserted with a Core statement (reception's batches): dicts of message columns."""
    change = SummaryChange()
    for row in rows:
        change.message(Counted(row["iccid"], row.get("keyword_id"), row.get("sender"), row["received_at"]))
    apply(session.connection(), change)


def forget_keyword(session: Session, keyword_id: int) -> None:
    """Drop a keyword's scope, as its deletion unlinks its messages (a reused id starts from nothing)."""
    connection = session.connection()
    scope = keyword_scope(keyword_id)
    for table in _TABLES:
        connection.execute(delete(table).where(or_(table.c.scope == scope, table.c.scope.startswith(f"{scope}/"))))


def forget_poll(session: Session, poll_id: int) -> None:
    """Drop a poll's votes from the summary, before a bulk delete of them."""
    session.connection().execute(delete(_poll_days).where(_poll_days.c.poll_id == poll_id))


def forget_contest(session: Session, contest_id: int) -> None:
    """Drop a contest's entries and numbers from the summary, before a bulk delete of them."""
    connection = session.connection()
    scopes = [contest_scope(scope, contest_id) for scope in connection.scalars(
        select(_contest_days.c.scope).where(_contest_days.c.contest_id == contest_id).distinct())]
    connection.execute(delete(_contest_days).where(_contest_days.c.contest_id == contest_id))
    for table in (_sender_days, _day_senders):
        for start in range(0, len(scopes), _IN_CHUNK):
            connection.execute(delete(table).where(table.c.scope.in_(scopes[start:start + _IN_CHUNK])))


def uncount_contact_events(session: Session, contact_id: int) -> None:
    """Take a contact's opt-ins and opt-outs off the summary before a bulk delete of its events."""
    change = SummaryChange()
    query = (select(_messages.c.iccid, _messages.c.keyword_id, _messages.c.sender, _messages.c.received_at,
                    _events.c.kind)
             .select_from(_events.join(_messages, _messages.c.id == _events.c.message_id))
             .where(_events.c.contact_id == contact_id, _events.c.kind.in_(OPT_KINDS)))
    for iccid, keyword_id, sender, received_at, kind in session.connection().execute(query):
        change.attached(Counted(iccid, keyword_id, sender, received_at), (kind,), -1)
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
    _add_counts(connection, _days, [
        {"scope": scope, "day": day, "messages": change.messages[scope, day],
         "opt_ins": change.opt_ins[scope, day], "opt_outs": change.opt_outs[scope, day]} for scope, day in keys],
        ("scope", "day"), ("messages", "opt_ins", "opt_outs"))
    _add_counts(connection, _poll_days, [
        {"scope": scope, "day": day, "poll_id": poll_id, "option_code": option, "votes": count}
        for (scope, day, poll_id, option), count in sorted(change.votes.items())],
        ("scope", "day", "poll_id", "option_code"), ("votes",))
    _add_counts(connection, _contest_days, [
        {"scope": scope, "day": day, "contest_id": contest_id, "entries": change.entries[scope, day, contest_id],
         "correct": change.correct[scope, day, contest_id]}
        for scope, day, contest_id in sorted({*change.entries, *change.correct})],
        ("scope", "day", "contest_id"), ("entries", "correct"))


def _add_counts(connection: Connection, table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...],
                counters: tuple[str, ...]) -> None:
    """Add the rows' counters, then delete the rows of those keys that are left with nothing."""
    rows = [row for row in rows if any(row[name] for name in counters)]
    _add(connection, table, keys, counters, rows)
    emptied = [tuple(row[key] for key in keys) for row in rows if any(row[name] < 0 for name in counters)]
    if emptied:
        connection.execute(delete(table).where(tuple_(*(table.c[key] for key in keys)).in_(emptied),
                                               *(table.c[name] == 0 for name in counters)))


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
    _add_counts(connection, _day_senders, [
        {"scope": scope, "day": day, "previous_day": previous, "senders": delta}
        for (scope, day, previous), delta in sorted(visits.items())], ("scope", "day", "previous_day"), ("senders",))


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
        # The module of the dialect in use, which its engine has imported already: importing both
        # here would add PostgreSQL's (2.2 MiB) to every SQLite appliance.
        inserting = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(table)
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
    attached: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)  # (message id, key)


def _before_flush(session: Session, _context: object, _instances: object) -> None:
    deleted = _Deleted()
    for obj in session.deleted:
        if isinstance(obj, Message):
            deleted.messages[obj.id] = _old(obj)
        elif (attached := _ATTACHED.get(type(obj))) is not None:
            message_id = _old_value(obj, "message_id")
            key = attached.key(tuple(_old_value(obj, name) for name in attached.columns))
            if key is not None and message_id is not None:
                deleted.attached.append((message_id, key))
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

    # Opt-ins, votes, entries: (message id, key, count, the message as they were counted by; None: as it is).
    rows: list[tuple[int, tuple[Any, ...], int, Counted | None]] = []
    flushed: dict[Table, set[int]] = defaultdict(set)
    for obj in session.new:
        if (attached := _ATTACHED.get(type(obj))) is not None:
            flushed[attached.table].add(obj.id)  # type: ignore[attr-defined]
            key = attached.key(tuple(getattr(obj, name) for name in attached.columns))
            if key is not None and obj.message_id is not None:  # type: ignore[attr-defined]
                rows.append((obj.message_id, key, 1, None))  # type: ignore[attr-defined]
    for obj in session.dirty:
        attached = _ATTACHED.get(type(obj))
        if attached is not None and _changed(obj, (*attached.columns, "message_id")):
            flushed[attached.table].add(obj.id)  # type: ignore[attr-defined]
            message_id = _old_value(obj, "message_id")
            key = attached.key(tuple(_old_value(obj, name) for name in attached.columns))
            if key is not None and message_id is not None:
                rows.append((message_id, key, -1, moved.get(message_id)))
            key = attached.key(tuple(getattr(obj, name) for name in attached.columns))
            if key is not None and obj.message_id is not None:  # type: ignore[attr-defined]
                rows.append((obj.message_id, key, 1, None))  # type: ignore[attr-defined]
    rows.extend((message_id, key, -1, moved.get(message_id)) for message_id, key in deleted.attached)
    connection = session.connection()
    if moved:
        # The stored rows of a message that moved go with it (those of this flush are counted above).
        for attached in _ATTACHED.values():
            table = attached.table
            columns = [table.c[name] for name in attached.columns]
            query = (select(table.c.message_id, *columns, func.count())
                     .where(table.c.message_id.in_(sorted(moved))).group_by(table.c.message_id, *columns))
            if attached.where() is not None:
                query = query.where(attached.where())
            if flushed[table]:
                query = query.where(table.c.id.not_in(sorted(flushed[table])))
            for message_id, *values, count in connection.execute(query):
                key = attached.key(tuple(values))
                if key is not None:
                    rows.append((message_id, key, -count, moved[message_id]))
                    rows.append((message_id, key, count, None))
    if rows:
        current = _counted_messages(connection, {message_id for message_id, _, _, was in rows if was is None})
        for message_id, key, count, was in rows:
            counted = was or current.get(message_id)
            if counted is not None:  # None: the message is gone too, and was taken off with its rows
                change.attached(counted, key, count)
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
    """Write the whole summary from the messages and what they caused (in the caller's transaction).

    One pass per kind of scope over the messages ordered by (scope, sender, time), and one over the
    contest entries ordered by (contest, number, time): a sender's days in a scope come together, so
    no more than the per-day counts is held in memory.
    """
    for table in _TABLES:
        connection.execute(delete(table))
    change = SummaryChange()  # the per-day counts; senders are written as they come
    visits: Counter[tuple[str, date, date]] = Counter()
    pending: list[dict[str, Any]] = []
    for scope, sender, days in _chain(_senders_days(connection, change), _contest_numbers_days(connection, change)):
        pending.extend({"scope": scope, "sender": sender, "day": day, "messages": count}
                       for day, count in sorted(days.items()))
        visits.update((scope, day, previous) for day, previous in day_senders(sorted(days)))
        if len(pending) >= _REBUILD_CHUNK:
            connection.execute(_sender_days.insert(), pending)
            pending.clear()
    if pending:
        connection.execute(_sender_days.insert(), pending)
    m = _messages
    for attached in (_ATTACHED[ContactEvent], _ATTACHED[PollVote]):
        table = attached.table
        query = (select(m.c.iccid, m.c.keyword_id, m.c.sender, m.c.received_at,
                        *(table.c[name] for name in attached.columns))
                 .select_from(table.join(m, m.c.id == table.c.message_id)))
        if attached.where() is not None:
            query = query.where(attached.where())
        for iccid, keyword_id, sender, received_at, *values in connection.execute(
                query.execution_options(yield_per=_REBUILD_CHUNK)):
            key = attached.key(tuple(values))
            if key is not None:
                change.attached(Counted(iccid, keyword_id, sender, received_at), key)
    _insert(connection, _days, [
        {"scope": scope, "day": day, "messages": change.messages[scope, day], "opt_ins": change.opt_ins[scope, day],
         "opt_outs": change.opt_outs[scope, day]} for scope, day in sorted(change.messages)])
    _insert(connection, _day_senders, [{"scope": scope, "day": day, "previous_day": previous, "senders": count}
                                       for (scope, day, previous), count in sorted(visits.items())])
    _insert(connection, _poll_days, [
        {"scope": scope, "day": day, "poll_id": poll_id, "option_code": option, "votes": count}
        for (scope, day, poll_id, option), count in sorted(change.votes.items())])
    _insert(connection, _contest_days, [
        {"scope": scope, "day": day, "contest_id": contest_id, "entries": count,
         "correct": change.correct[scope, day, contest_id]}
        for (scope, day, contest_id), count in sorted(change.entries.items())])


def _chain(*iterators: Iterator[tuple[str, str, Counter[date]]]) -> Iterator[tuple[str, str, Counter[date]]]:
    for iterator in iterators:
        yield from iterator


def _senders_days(connection: Connection, change: SummaryChange) -> Iterator[tuple[str, str, Counter[date]]]:
    """Each (scope, sender) with its messages per day; counts every message into ``change`` on the way."""
    m = _messages
    for column, scope_of in ((m.c.iccid, sim_scope), (m.c.keyword_id, keyword_scope)):
        query = (select(column, m.c.sender, m.c.received_at).where(column.is_not(None))
                 .order_by(column, m.c.sender, m.c.received_at))
        current: tuple[str, str] | None = None
        days: Counter[date] = Counter()
        for key, sender, received_at in connection.execute(query.execution_options(yield_per=_REBUILD_CHUNK)):
            scope, day = scope_of(key), local_day(received_at)
            change.messages[scope, day] += 1
            if sender is None:
                continue
            if current != (scope, sender):
                if current is not None:
                    yield *current, days
                current, days = (scope, sender), Counter()
            days[day] += 1
        if current is not None:
            yield *current, days


def _contest_numbers_days(connection: Connection,
                          change: SummaryChange) -> Iterator[tuple[str, str, Counter[date]]]:
    """Each (contest scope, number) with its entries per day; counts the entries into ``change``."""
    m, e = _messages, _entries
    query = (select(e.c.contest_id, e.c.msisdn, e.c.correct, m.c.iccid, m.c.keyword_id, m.c.sender, m.c.received_at)
             .select_from(e.join(m, m.c.id == e.c.message_id))
             .order_by(e.c.contest_id, e.c.msisdn))
    current: tuple[int, str] | None = None
    numbers: dict[str, Counter[date]] = defaultdict(Counter)
    for contest_id, msisdn, correct, iccid, keyword_id, sender, received_at in connection.execute(
            query.execution_options(yield_per=_REBUILD_CHUNK)):
        if current != (contest_id, msisdn):
            if current is not None:
                yield from ((scope, current[1], days) for scope, days in numbers.items())
            current, numbers = (contest_id, msisdn), defaultdict(Counter)
        counted = Counted(iccid, keyword_id, sender, received_at)
        day = local_day(received_at)
        for scope in counted.scopes:
            change.entries[scope, day, contest_id] += 1
            if correct:
                change.correct[scope, day, contest_id] += 1
            numbers[contest_scope(scope, contest_id)][day] += 1
    if current is not None:
        yield from ((scope, current[1], days) for scope, days in numbers.items())


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _REBUILD_CHUNK):
        connection.execute(table.insert(), rows[start:start + _REBUILD_CHUNK])


__all__ = ["LOOKBACK_DAYS", "SUMMARY_TIMEZONE", "Counted", "SummaryChange", "apply", "contest_scope",
           "count_new_messages", "day_senders", "forget_contest", "forget_keyword", "forget_poll", "install",
           "keyword_scope", "local_day", "rebuild", "sim_scope", "uncount_contact_events"]
