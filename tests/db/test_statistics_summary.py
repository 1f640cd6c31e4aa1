"""The statistics summary counts exactly what the messages say, however they are stored and changed.

Every comparison is between the statistics read from the summary and the same statistics counted
from the messages (``from_messages=True``), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, Table, delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.codecs.mms import encode_retrieve_conf
from appliance.codecs.sms_pdu import encode_sms_deliver
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.migrate import upgrade
from appliance.db.models import (
    AccessNumber,
    Account,
    Contact,
    ContactEvent,
    Contest,
    ContestEntry,
    Keyword,
    Message,
    MmsTransfer,
    Poll,
    PollVote,
    StatisticsContestDay,
    StatisticsDay,
    StatisticsDaySenders,
    StatisticsPollDay,
    StatisticsSenderDay,
)
from appliance.db.statistics_summary import (
    count_new_messages,
    forget_contest,
    forget_poll,
    local_day,
    rebuild,
    uncount_contact_events,
)
from appliance.mms.bearer import LanBearer
from appliance.mms.fetch import MmsFetcher
from appliance.reception.store import MessageStore, ReceivedPdu
from appliance.statistics import access_number_statistics, keyword_statistics
from tests.support.databases import PostgresDatabases

SIM = "89480610001234567801"
OTHER_SIM = "89480610001234567802"
# A week before Warsaw's clocks go forward (29 March 2026): local days of 23 and 24 hours both.
BASE = date(2026, 3, 25)
SUMMARY_TABLES = (StatisticsDay, StatisticsSenderDay, StatisticsDaySenders, StatisticsPollDay,
                  StatisticsContestDay)


@dataclass
class Shop:
    number: int
    other_number: int
    pizza: int
    kawa: int
    other_pizza: int
    polls: tuple[int, int] = (0, 0)
    contests: tuple[int, int] = (0, 0)

    @classmethod
    def create(cls, sessions: sessionmaker[Session]) -> Shop:
        """PIZZA votes in the first poll and enters the first contest; the second ones are named by none."""
        with sessions.begin() as session:
            account = Account(name="Pizzeria")
            session.add(account)
            session.flush()
            number = AccessNumber(number="+48500600700", iccid=SIM, kind="shared")
            other = AccessNumber(number="+48500600701", iccid=OTHER_SIM, kind="dedicated", account_id=account.id)
            polls = [Poll(account_id=account.id, question=f"Ankieta {n}?",
                          options=[{"code": "A", "label": "Tak"}, {"code": "B", "label": "Nie"}]) for n in (1, 2)]
            contests = [Contest(account_id=account.id, name=f"Konkurs {n}", answer="42") for n in (1, 2)]
            session.add_all([number, other, *polls, *contests])
            session.flush()
            actions: list[dict[str, object]] = [{"type": "poll_vote", "poll": polls[0].id},
                                                {"type": "contest_entry", "contest": contests[0].id}]
            keywords = [Keyword(access_number_id=number.id, account_id=account.id, keyword="PIZZA", actions=actions),
                        Keyword(access_number_id=number.id, account_id=account.id, keyword="KAWA"),
                        Keyword(access_number_id=other.id, account_id=account.id, keyword="PIZZA")]
            session.add_all(keywords)
            session.flush()
            return cls(number.id, other.id, *(k.id for k in keywords), (polls[0].id, polls[1].id),
                       (contests[0].id, contests[1].id))

    def targets(self) -> list[tuple[str, int | None]]:
        """Where a message may go: (SIM, keyword)."""
        return [(SIM, self.pizza), (SIM, self.kawa), (SIM, None), (OTHER_SIM, self.other_pizza), (OTHER_SIM, None)]

    def assert_summary_counts_what_the_messages_say(self, sessions: sessionmaker[Session],
                                                    ranges: list[tuple[date, date]]) -> None:
        with sessions() as session:
            for first, last in ranges:
                for call, ident in ((keyword_statistics, self.pizza), (keyword_statistics, self.kawa),
                                    (keyword_statistics, self.other_pizza),
                                    (access_number_statistics, self.number),
                                    (access_number_statistics, self.other_number)):
                    summary = call(session, ident, first, last)
                    counted = call(session, ident, first, last, from_messages=True)
                    assert summary == counted, f"{call.__name__}({ident}) {first}…{last}"


def summary_rows(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    with sessions() as session:
        return {model.__tablename__: sorted(tuple(row) for row in session.execute(select(model.__table__)))
                for model in SUMMARY_TABLES}


def warsaw_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), ZoneInfo("Europe/Warsaw")).astimezone(UTC)


# --- randomised: every way a message or an opt-in comes, moves and goes ----------------------------

DAY_OFFSETS = (-420, -400, -367, -366, -365, -40, -1, 0, 1, 2, 3, 4, 5, 6, 7, 9)
SENDERS = ("+48600000001", "+48600000002", "+48600000003", "+48600000004", None)

add = st.tuples(st.just("add"), st.sampled_from(DAY_OFFSETS), st.integers(0, 23), st.sampled_from((0, 59)),
                st.sampled_from(SENDERS), st.integers(0, 4), st.booleans())
opt = st.tuples(st.just("opt"), st.integers(0, 1000), st.sampled_from(("opt_in", "opt_out", "joined")),
                st.integers(0, 3))
move = st.tuples(st.just("move"), st.integers(0, 1000), st.integers(0, 4), st.sampled_from(SENDERS))
forget_contact = st.tuples(st.just("delete_contact"), st.integers(0, 3))
vote = st.tuples(st.just("vote"), st.integers(0, 1000), st.integers(0, 1), st.sampled_from("ABZ"))
entry = st.tuples(st.just("entry"), st.integers(0, 1000), st.integers(0, 1), st.booleans(), st.integers(0, 3))
forget_campaign = st.tuples(st.sampled_from(("delete_poll", "delete_contest")), st.integers(0, 1))
remove = st.tuples(st.just("delete_message"), st.integers(0, 1000))
ranges = st.tuples(st.integers(-430, 12), st.integers(0, 365))


def _run(shop: Shop, sessions: sessionmaker[Session], operation: tuple[Any, ...], ids: list[int]) -> None:
    kind = operation[0]
    with sessions.begin() as session:
        if kind == "add":
            _, offset, hour, minute, sender, target, core = operation
            iccid, keyword_id = shop.targets()[target]
            at = datetime.combine(BASE + timedelta(days=offset), time(hour, minute), UTC)
            row = {"received_at": at, "iccid": iccid, "sender": sender, "keyword_id": keyword_id,
                   "status": "routed" if keyword_id else "unmatched", "text": "x"}
            if core:  # as reception stores its batches
                [message_id] = session.connection().scalars(
                    insert(Message.__table__).returning(Message.__table__.c.id), [row])
                count_new_messages(session, [row])
            else:
                message = Message(**row)
                session.add(message)
                session.flush()
                message_id = message.id
            ids.append(message_id)
        elif kind == "opt" and ids:
            _, pick, event_kind, contact = operation
            contact_id = _contact(session, contact)
            session.add(ContactEvent(contact_id=contact_id, kind=event_kind, message_id=ids[pick % len(ids)],
                                     at=datetime.now(UTC)))
        elif kind == "move" and ids:  # as an MMS fetched later, or a partial message a late part completes
            _, pick, target, sender = operation
            message = session.get(Message, ids[pick % len(ids)])
            assert message is not None
            iccid, keyword_id = shop.targets()[target]
            session.expire(message)  # what it was counted by is loaded again before it changes
            message.iccid, message.keyword_id, message.sender = iccid, keyword_id, sender
        elif kind == "vote" and ids:  # keep-last: a number's vote moves to its newest message
            _, pick, poll, option = operation
            message = session.get(Message, ids[pick % len(ids)])
            assert message is not None
            msisdn = message.sender or "+48600000009"
            found = session.scalar(select(PollVote).where(PollVote.poll_id == shop.polls[poll],
                                                          PollVote.msisdn == msisdn))
            if found is None:
                session.add(PollVote(poll_id=shop.polls[poll], msisdn=msisdn, option_code=option,
                                     message_id=message.id))
            else:
                session.expire(found)
                found.option_code, found.message_id = option, message.id
        elif kind == "entry" and ids:
            _, pick, contest, correct, number = operation
            session.add(ContestEntry(contest_id=shop.contests[contest], msisdn=SENDERS[number], correct=correct,
                                     answer="42" if correct else "7", message_id=ids[pick % len(ids)]))
        elif kind == "delete_poll":  # as the API does: the poll's votes go in bulk
            forget_poll(session, shop.polls[operation[1]])
            session.execute(delete(PollVote).where(PollVote.poll_id == shop.polls[operation[1]]))
        elif kind == "delete_contest":
            forget_contest(session, shop.contests[operation[1]])
            session.execute(delete(ContestEntry).where(ContestEntry.contest_id == shop.contests[operation[1]]))
        elif kind == "delete_contact":
            contact_id = _contact(session, operation[1])
            uncount_contact_events(session, contact_id)  # as the API's contact deletion does
            session.execute(delete(ContactEvent).where(ContactEvent.contact_id == contact_id))
        elif kind == "delete_message" and ids:
            message_id = ids.pop(operation[1] % len(ids))
            for model in (ContactEvent, PollVote, ContestEntry):
                for row in session.scalars(select(model).where(model.message_id == message_id)):
                    session.delete(row)
            session.flush()
            session.delete(session.get(Message, message_id))


def _contact(session: Session, n: int) -> int:
    msisdn = f"+4860000000{n + 1}"
    found = session.scalar(select(Contact.id).where(Contact.msisdn == msisdn))
    if found is None:
        account_id = session.scalar(select(Account.id))
        contact = Contact(account_id=account_id, msisdn=msisdn)
        session.add(contact)
        session.flush()
        found = contact.id
    return found


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(st.one_of(add, add, add, opt, opt, move, forget_contact, remove, vote, vote, entry,
                                     entry, forget_campaign), min_size=1, max_size=30),
       windows=st.lists(ranges, min_size=1, max_size=3))
def test_the_summary_counts_what_the_messages_say_whatever_comes_moves_and_goes(
        session_factory: sessionmaker[Session], operations: list[tuple[Any, ...]],
        windows: list[tuple[int, int]]) -> None:
    with session_factory.begin() as session:
        for model in (ContactEvent, Contact, PollVote, ContestEntry, Message, *SUMMARY_TABLES):
            session.execute(delete(model))
    shop = _shop(session_factory)
    ids: list[int] = []
    for operation in operations:
        _run(shop, session_factory, operation, ids)
    shop.assert_summary_counts_what_the_messages_say(session_factory, [
        (BASE + timedelta(days=start), BASE + timedelta(days=start + length)) for start, length in windows])
    kept = summary_rows(session_factory)
    with session_factory.begin() as session:
        rebuild(session.connection())
    assert summary_rows(session_factory) == kept  # and no empty row is left behind


def _shop(sessions: sessionmaker[Session]) -> Shop:
    """One shop per database (Hypothesis runs many examples on the test's one database)."""
    with sessions() as session:
        number = session.scalar(select(AccessNumber).where(AccessNumber.iccid == SIM))
        if number is not None:
            keywords = {(k.access_number_id, k.keyword): k.id for k in session.scalars(select(Keyword))}
            other = session.scalar(select(AccessNumber.id).where(AccessNumber.iccid == OTHER_SIM))
            assert other is not None
            polls = tuple(session.scalars(select(Poll.id).order_by(Poll.id)))
            contests = tuple(session.scalars(select(Contest.id).order_by(Contest.id)))
            return Shop(number.id, other, keywords[number.id, "PIZZA"], keywords[number.id, "KAWA"],
                        keywords[other, "PIZZA"], polls, contests)  # type: ignore[arg-type]
    return Shop.create(sessions)


# --- specification ---------------------------------------------------------------------------------

@pytest.fixture
def shop(session_factory: sessionmaker[Session]) -> Shop:
    return Shop.create(session_factory)


def test_a_sender_counts_once_over_a_range_however_many_days_they_wrote(
        shop: Shop, session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        for days_before, sender in [(400, "+48600000001"), (3, "+48600000001"), (2, "+48600000001"),
                                    (2, "+48600000002"), (0, "+48600000001")]:
            session.add(Message(received_at=warsaw_midnight(BASE - timedelta(days=days_before)) + timedelta(hours=12),
                                iccid=SIM, sender=sender, keyword_id=shop.pizza, status="routed"))
    with session_factory() as session:
        stats = keyword_statistics(session, shop.pizza, BASE - timedelta(days=3), BASE)
        assert stats is not None
        assert [(d.messages, d.unique_senders) for d in stats.days] == [(1, 1), (2, 2), (0, 0), (1, 1)]
        assert (stats.messages, stats.unique_senders) == (4, 2)
        # 366 days, the longest range: the message 400 days back stays outside, its sender counts once.
        year = keyword_statistics(session, shop.pizza, BASE - timedelta(days=365), BASE)
        assert year is not None and (year.messages, year.unique_senders) == (4, 2)
    shop.assert_summary_counts_what_the_messages_say(session_factory, [
        (BASE - timedelta(days=400), BASE - timedelta(days=35)), (BASE - timedelta(days=365), BASE)])


def test_days_are_warsaw_days_across_the_change_to_summer_time(
        shop: Shop, session_factory: sessionmaker[Session]) -> None:
    # 30 March 2026 starts at 22:00 UTC on the 29th (CEST); 29 March started at 23:00 UTC on the 28th.
    with session_factory.begin() as session:
        for at in (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
                   datetime(2026, 3, 29, 21, 59, tzinfo=UTC), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)):
            session.add(Message(received_at=at, iccid=SIM, sender="+48600000001", status="unmatched"))
    assert local_day(datetime(2026, 3, 29, 22, 0, tzinfo=UTC)) == date(2026, 3, 30)
    with session_factory() as session:
        stats = access_number_statistics(session, shop.number, date(2026, 3, 28), date(2026, 3, 30))
        assert stats is not None and [d.messages for d in stats.days] == [1, 2, 1]
    shop.assert_summary_counts_what_the_messages_say(session_factory, [(date(2026, 3, 28), date(2026, 3, 30))])


def test_statistics_in_another_zone_are_counted_from_the_messages(
        shop: Shop, session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.add(Message(received_at=datetime(2026, 3, 28, 23, 30, tzinfo=UTC), iccid=SIM, sender="+48600000001",
                            status="unmatched"))
        session.execute(delete(StatisticsDay))  # were the summary read, the message would be gone
    with session_factory() as session:
        utc = access_number_statistics(session, shop.number, date(2026, 3, 28), date(2026, 3, 29), "UTC")
        assert utc is not None and [d.messages for d in utc.days] == [1, 0]
        warsaw = access_number_statistics(session, shop.number, date(2026, 3, 28), date(2026, 3, 29))
        assert warsaw is not None and warsaw.messages == 0


def test_reception_counts_its_batches_and_a_late_part_moves_a_partial_message_to_its_keyword(
        shop: Shop, session_factory: sessionmaker[Session]) -> None:
    store = MessageStore(session_factory, partial_timeout=timedelta(hours=24))
    when = datetime.now(UTC).replace(microsecond=0)
    store.store([ReceivedPdu(SIM, pdu) for pdu in encode_sms_deliver("+48600100200", "PIZZA margherita", when)])
    store.store([ReceivedPdu(SIM, pdu) for pdu in encode_sms_deliver("+48600100201", "dzień dobry", when)])
    # The first part, the one with the keyword, comes late: the partial message matches nothing.
    parts = encode_sms_deliver("+48600100202", "PIZZA " + "żółć gęślą jaźń " * 10, when, concat_reference=7)
    store.store([ReceivedPdu(SIM, parts[1]), ReceivedPdu(SIM, parts[2])])
    released = datetime.now(UTC) + timedelta(hours=25)
    store.release_stale_sets(now=released)  # stored as received then
    # From today to the day of the release: two days on, when the test runs in the last local hour.
    first, last = local_day(datetime.now(UTC)), local_day(released)
    with session_factory() as session:
        stats = keyword_statistics(session, shop.pizza, first, last)
        assert stats is not None and (stats.messages, stats.unique_senders) == (1, 1)
    store.store([ReceivedPdu(SIM, parts[0])])
    with session_factory() as session:
        stats = keyword_statistics(session, shop.pizza, first, last)
        number = access_number_statistics(session, shop.number, first, last)
        assert stats is not None and (stats.messages, stats.unique_senders) == (2, 2)
        assert number is not None and (number.messages, number.unique_senders) == (3, 3)
    shop.assert_summary_counts_what_the_messages_say(session_factory, [(first, last)])


class _Mmsc:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def get(self, url: str, proxy: str | None, source: str | None) -> bytes:
        return self.body

    def post(self, url: str, proxy: str | None, source: str | None, body: bytes) -> None:
        pass


class _Attachments:
    def put(self, data: bytes) -> str:
        return "0" * 64

    def add_parts(self, session: Session, message: Message, parts: list[Any]) -> None:
        pass


def test_an_mms_counts_for_its_keyword_and_sender_once_fetched(
        shop: Shop, session_factory: sessionmaker[Session]) -> None:
    announced = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    with session_factory.begin() as session:
        # As the WAP push left it: no keyword yet, the push gateway's number as the sender.
        message = Message(iccid=SIM, received_at=announced, kind="mms", status="fetching", sender="+48600999999")
        session.add(message)
        session.flush()
        session.add(MmsTransfer(iccid=SIM, transaction_id="T1", message_id=message.id, content_location="http://m/1",
                                notification_hex="", next_attempt_at=announced, created_at=announced))
    today = local_day(announced)
    with session_factory() as session:
        before = access_number_statistics(session, shop.number, today, today)
        assert before is not None and before.messages == 1
    body = encode_retrieve_conf("+48600100200", "+48500600700", "Zdjęcie",
                                [("text/plain", "t.txt", b"PIZZA hawajska", "utf-8")], announced, "M1")
    fetcher = MmsFetcher(session_factory, _Attachments(), _Mmsc(body), LanBearer())  # type: ignore[arg-type]
    assert fetcher.run_due() == 1
    with session_factory() as session:
        stats = keyword_statistics(session, shop.pizza, today, today)
        assert stats is not None and (stats.messages, stats.unique_senders) == (1, 1)
        fetched = session.get(Message, message.id)
        assert fetched is not None and (fetched.keyword_id, fetched.sender) == (shop.pizza, "+48600100200")
    shop.assert_summary_counts_what_the_messages_say(session_factory, [(today, today)])
    with session_factory() as session:  # PIZZA's actions ran on the fetched MMS: its contest entry counts
        stats = keyword_statistics(session, shop.pizza, today, today)
        assert stats is not None and [(c.entries, c.unique_numbers) for c in stats.contests] == [(1, 1)]
    assert [row for row in summary_rows(session_factory)["statistics_sender_days"] if "/" not in row[0]] == [
        (f"keyword:{shop.pizza}", "+48600100200", today, 1), (f"sim:{SIM}", "+48600100200", today, 1)]


# --- the migration ---------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'appliance.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return databases.create_empty()


def test_the_migration_fills_the_summary_from_the_messages_stored_before_it(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0006")
    engine = make_engine(empty_database_url)
    try:
        sessions = make_session_factory(engine)
        with engine.begin() as connection:  # as 0006 stored them: no summary to keep yet
            for name, rows in [
                ("accounts", [{"id": 1, "name": "Pizzeria", "created_at": datetime.now(UTC)}]),
                ("access_numbers", [{"id": 1, "number": "+48500600700", "iccid": SIM, "kind": "shared",
                                     "mms_enabled": False, "created_at": datetime.now(UTC),
                                     "updated_at": datetime.now(UTC)}]),
                ("access_numbers", [{"id": 2, "number": "+48500600701", "iccid": OTHER_SIM, "kind": "shared",
                                     "mms_enabled": False, "created_at": datetime.now(UTC),
                                     "updated_at": datetime.now(UTC)}]),
            ]:
                # The tables as 0006 has them (today's models would add later columns' defaults).
                connection.execute(Table(name, MetaData(), autoload_with=connection).insert(), rows)
            connection.execute(Keyword.__table__.insert(), [
                {"id": n, "access_number_id": 1 if n < 3 else 2, "account_id": 1, "keyword": f"K{n}", "mode": "base",
                 "typo_tolerant": False, "actions": [], "created_at": datetime.now(UTC),
                 "updated_at": datetime.now(UTC)} for n in (1, 2, 3)])
            connection.execute(Contact.__table__.insert(), [
                {"id": 1, "account_id": 1, "msisdn": "+48600000001", "created_at": datetime.now(UTC)}])
            start = warsaw_midnight(BASE) - timedelta(hours=3)
            messages = [{"id": n + 1, "received_at": start + timedelta(hours=7 * n), "iccid": (SIM, OTHER_SIM)[n % 5 == 4],
                         "sender": (f"+4860000000{n % 4}" if n % 9 else None),
                         "keyword_id": (1, 2, None, None, 3)[n % 5], "status": "routed", "kind": "sms",
                         "parts_total": 1, "parts_received": 1} for n in range(60)]
            connection.execute(Message.__table__.insert(), messages)
            connection.execute(ContactEvent.__table__.insert(), [
                {"contact_id": 1, "kind": ("opt_in", "opt_out", "joined")[n % 3], "message_id": n + 1,
                 "at": datetime.now(UTC)} for n in range(0, 60, 4)])
            connection.execute(Poll.__table__.insert(), [{"id": 1, "account_id": 1, "question": "?", "policy": "keep_last",
                                                          "options": [{"code": "A"}], "created_at": datetime.now(UTC)}])
            connection.execute(Contest.__table__.insert(), [{"id": 1, "account_id": 1, "entries_per_number": 3,
                                                             "created_at": datetime.now(UTC)}])
            connection.execute(PollVote.__table__.insert(), [
                {"poll_id": 1, "msisdn": f"+4860000000{n}", "option_code": "AB"[n % 2], "message_id": n * 5 + 1,
                 "voted_at": datetime.now(UTC)} for n in range(8)])
            connection.execute(ContestEntry.__table__.insert(), [
                {"contest_id": 1, "msisdn": f"+4860000000{n % 3}", "correct": n % 2 == 0, "message_id": n * 3 + 2,
                 "entered_at": datetime.now(UTC)} for n in range(15)])
        upgrade(empty_database_url)
        shop = Shop(1, 2, 1, 2, 3)
        with sessions() as session:
            stats = access_number_statistics(session, 1, BASE - timedelta(days=1), BASE + timedelta(days=20))
            assert stats is not None and stats.messages == 48 and stats.opt_ins > 0 and stats.opt_outs > 0
            assert [p.voters for p in stats.polls] == [8]
            assert [(c.entries, c.unique_numbers) for c in stats.contests] == [(12, 3)]
        shop.assert_summary_counts_what_the_messages_say(sessions, [
            (BASE - timedelta(days=1), BASE + timedelta(days=20)), (BASE + timedelta(days=3), BASE + timedelta(days=9))])
        kept = summary_rows(sessions)
        with engine.begin() as connection:
            rebuild(connection)
        assert summary_rows(sessions) == kept
    finally:
        engine.dispose()
