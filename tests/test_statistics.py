"""Statistics per keyword and per access number, on SQLite and PostgreSQL, bucketed by local day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from appliance import statistics
from appliance.db.models import (
    AccessNumber,
    Account,
    Contact,
    ContactEvent,
    Contest,
    ContestEntry,
    Keyword,
    Message,
    Poll,
    PollVote,
)
from appliance.statistics import (
    DayBounds,
    DayStatistics,
    PollOptionResult,
    StatisticsRangeError,
    access_number_statistics,
    keyword_statistics,
)

SIM = "89480610001234567801"
OTHER_SIM = "89480610001234567802"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Shop:
    """One account with a shared number (PIZZA with a poll, KONKURS with a contest) and a second number."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions
        with sessions() as session:
            account = Account(name="Pizzeria")
            session.add(account)
            session.flush()
            self.account_id = account.id
            number = AccessNumber(number="+48500600700", iccid=SIM, kind="shared")
            other = AccessNumber(number="+48500600701", iccid=OTHER_SIM, kind="dedicated", account_id=account.id)
            session.add_all([number, other])
            session.flush()
            self.number_id, self.other_number_id = number.id, other.id
            poll = Poll(account_id=account.id, question="Która pizza?",
                        options=[{"code": "A", "label": "Margherita"}, {"code": "B", "label": "Capricciosa"},
                                 {"code": "C", "label": "Hawajska"}])
            contest = Contest(account_id=account.id, name="Kwiecień", answer="42")
            session.add_all([poll, contest])
            session.flush()
            self.poll_id, self.contest_id = poll.id, contest.id
            pizza = Keyword(access_number_id=number.id, account_id=account.id, keyword="PIZZA",
                            actions=[{"type": "join_group", "group": 1}, {"type": "poll_vote", "poll": poll.id}])
            konkurs = Keyword(access_number_id=number.id, account_id=account.id, keyword="KONKURS",
                              actions=[{"type": "contest_entry", "contest": contest.id}])
            other_kw = Keyword(access_number_id=other.id, account_id=account.id, keyword="PIZZA")
            session.add_all([pizza, konkurs, other_kw])
            session.commit()
            self.pizza_id, self.konkurs_id, self.other_keyword_id = pizza.id, konkurs.id, other_kw.id
        self._contacts: dict[str, int] = {}

    def message(self, at: datetime, sender: str, keyword_id: int | None = None, iccid: str = SIM) -> int:
        with self.sessions() as session:
            row = Message(received_at=at, iccid=iccid, sender=sender, text="x", status="routed" if keyword_id
                          else "unmatched", keyword_id=keyword_id)
            session.add(row)
            session.commit()
            return row.id

    def contact(self, msisdn: str) -> int:
        if msisdn not in self._contacts:
            with self.sessions() as session:
                row = Contact(account_id=self.account_id, msisdn=msisdn)
                session.add(row)
                session.commit()
                self._contacts[msisdn] = row.id
        return self._contacts[msisdn]

    def add(self, row: Any) -> None:
        with self.sessions() as session:
            session.add(row)
            session.commit()

    def event(self, kind: str, message_id: int, sender: str, at: datetime) -> None:
        self.add(ContactEvent(contact_id=self.contact(sender), kind=kind, message_id=message_id, at=at))


@pytest.fixture
def shop(session_factory: sessionmaker[Session]) -> Shop:
    return Shop(session_factory)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture(params=["from the summary", "from the messages", "from the votes and entries"])
def campaign_reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll and contest results read from the summary, or counted either way round (the statistics
    pick the side with fewer rows when not reading the summary)."""
    if request.param != "from the summary":
        monkeypatch.setattr(statistics, "SUMMARY_TIMEZONE", "no zone at all")
        monkeypatch.setattr(statistics, "_fewer_rows", lambda *_: request.param != "from the messages")


def by_day(days: list[DayStatistics]) -> dict[str, tuple[int, int, int, int]]:
    return {d.day.isoformat(): (d.messages, d.unique_senders, d.opt_ins, d.opt_outs) for d in days
            if (d.messages, d.unique_senders, d.opt_ins, d.opt_outs) != (0, 0, 0, 0)}


def test_messages_per_warsaw_day_and_unique_senders(shop: Shop, session: Session) -> None:
    # 23:59:59 in Warsaw (CET, UTC+1) is still the 24th; 00:00 is the 25th although UTC says the 24th.
    shop.message(utc(2026, 11, 24, 22, 59, 59), "+48600000001", shop.pizza_id)
    shop.message(utc(2026, 11, 24, 23, 0, 0), "+48600000001", shop.pizza_id)
    shop.message(utc(2026, 11, 25, 12, 0), "+48600000002", shop.pizza_id)
    shop.message(utc(2026, 11, 25, 13, 0), "+48600000002", shop.pizza_id)
    shop.message(utc(2026, 11, 25, 14, 0), "+48600000003", shop.konkurs_id)  # another keyword
    shop.message(utc(2026, 11, 25, 15, 0), "+48600000004", shop.other_keyword_id, iccid=OTHER_SIM)

    stats = keyword_statistics(session, shop.pizza_id, date(2026, 11, 24), date(2026, 11, 26))
    assert stats is not None
    assert [d.day for d in stats.days] == [date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)]
    assert by_day(stats.days) == {"2026-11-24": (1, 1, 0, 0), "2026-11-25": (3, 2, 0, 0)}
    assert (stats.messages, stats.unique_senders, stats.timezone) == (4, 2, "Europe/Warsaw")

    utc_stats = keyword_statistics(session, shop.pizza_id, date(2026, 11, 24), date(2026, 11, 26), "UTC")
    assert utc_stats is not None
    assert by_day(utc_stats.days) == {"2026-11-24": (2, 1, 0, 0), "2026-11-25": (2, 1, 0, 0)}


def test_an_access_number_counts_every_message_its_sim_received(shop: Shop, session: Session) -> None:
    shop.message(utc(2026, 11, 25, 9, 0), "+48600000001", shop.pizza_id)
    shop.message(utc(2026, 11, 25, 10, 0), "+48600000002", shop.konkurs_id)
    shop.message(utc(2026, 11, 25, 11, 0), "+48600000002")  # unmatched, still the number's traffic
    shop.message(utc(2026, 11, 25, 12, 0), "+48600000009", shop.other_keyword_id, iccid=OTHER_SIM)

    stats = access_number_statistics(session, shop.number_id, date(2026, 11, 25), date(2026, 11, 25))
    assert stats is not None
    assert (stats.scope, stats.messages, stats.unique_senders) == ("access_number", 3, 2)
    other = access_number_statistics(session, shop.other_number_id, date(2026, 11, 25), date(2026, 11, 25))
    assert other is not None and (other.messages, other.unique_senders) == (1, 1)


def test_keyword_popularity_counts_each_keyword_s_messages_in_the_local_days(shop: Shop, session: Session) -> None:
    shop.message(utc(2026, 11, 24, 22, 59, 59), "+48600000001", shop.pizza_id)  # the 24th in Warsaw: outside
    shop.message(utc(2026, 11, 24, 23, 0, 0), "+48600000001", shop.pizza_id)
    shop.message(utc(2026, 11, 25, 12, 0), "+48600000002", shop.pizza_id)
    shop.message(utc(2026, 11, 26, 9, 0), "+48600000003", shop.konkurs_id)
    shop.message(utc(2026, 11, 26, 10, 0), "+48600000004")  # unmatched
    ids = [shop.pizza_id, shop.konkurs_id, shop.other_keyword_id]

    for from_messages in (False, True):
        assert statistics.keyword_messages(session, ids, date(2026, 11, 25), date(2026, 11, 26),
                                           from_messages=from_messages) == {shop.pizza_id: 2, shop.konkurs_id: 1}
    assert statistics.keyword_messages(session, ids, date(2026, 11, 24), date(2026, 11, 24), "UTC") == {
        shop.pizza_id: 2}
    assert statistics.keyword_messages(session, [], date(2026, 11, 24), date(2026, 11, 24)) == {}


def test_the_day_the_clocks_go_forward_has_23_hours(shop: Shop, session: Session) -> None:
    # 29 March 2026: Warsaw goes from UTC+1 to UTC+2 at 01:00 UTC; the 30th starts at 22:00 UTC.
    bounds = DayBounds.of(date(2026, 3, 29), date(2026, 3, 30))
    assert bounds.starts[1] - bounds.starts[0] == timedelta(hours=23)
    shop.message(utc(2026, 3, 29, 21, 59), "+48600000001", shop.pizza_id)  # 23:59 CEST, the 29th
    shop.message(utc(2026, 3, 29, 22, 0), "+48600000001", shop.pizza_id)  # 00:00 CEST, the 30th
    stats = keyword_statistics(session, shop.pizza_id, date(2026, 3, 29), date(2026, 3, 30))
    assert stats is not None
    assert by_day(stats.days) == {"2026-03-29": (1, 1, 0, 0), "2026-03-30": (1, 1, 0, 0)}


def test_opt_ins_and_opt_outs_per_day_come_from_the_scopes_messages(shop: Shop, session: Session) -> None:
    first = shop.message(utc(2026, 11, 25, 9, 0), "+48600000001", shop.pizza_id)
    shop.event("opt_in", first, "+48600000001", utc(2026, 11, 25, 9, 0, 1))
    second = shop.message(utc(2026, 11, 25, 10, 0), "+48600000002", shop.pizza_id)
    shop.event("opt_in", second, "+48600000002", utc(2026, 11, 25, 10, 0, 1))
    shop.event("joined", second, "+48600000002", utc(2026, 11, 25, 10, 0, 1))  # not an opt-in
    stop = shop.message(utc(2026, 11, 26, 8, 0), "+48600000001")  # STOP: no keyword, same number
    shop.event("opt_out", stop, "+48600000001", utc(2026, 11, 26, 8, 0, 1))
    shop.add(ContactEvent(contact_id=shop.contact("+48600000003"), kind="opt_in",
                          at=utc(2026, 11, 25, 12, 0)))  # a CSV import: no message, no scope

    pizza = keyword_statistics(session, shop.pizza_id, date(2026, 11, 25), date(2026, 11, 26))
    assert pizza is not None
    assert by_day(pizza.days) == {"2026-11-25": (2, 2, 2, 0)}
    number = access_number_statistics(session, shop.number_id, date(2026, 11, 25), date(2026, 11, 26))
    assert number is not None
    assert by_day(number.days) == {"2026-11-25": (2, 2, 2, 0), "2026-11-26": (1, 1, 0, 1)}
    assert (number.opt_ins, number.opt_outs) == (2, 1)


@pytest.mark.usefixtures("campaign_reading")
def test_poll_results_per_option_and_voters(shop: Shop, session: Session) -> None:
    for n, code in enumerate("AABA", start=1):
        sender = f"+4860000000{n}"
        message = shop.message(utc(2026, 11, 25, 9, n), sender, shop.pizza_id)
        shop.add(PollVote(poll_id=shop.poll_id, msisdn=sender, option_code=code, message_id=message,
                          voted_at=utc(2026, 11, 25, 9, n)))
    early = shop.message(utc(2026, 11, 20, 9, 0), "+48600000009", shop.pizza_id)  # before the range
    shop.add(PollVote(poll_id=shop.poll_id, msisdn="+48600000009", option_code="C", message_id=early,
                      voted_at=utc(2026, 11, 20, 9, 0)))

    stats = keyword_statistics(session, shop.pizza_id, date(2026, 11, 25), date(2026, 11, 25))
    assert stats is not None
    [poll] = stats.polls
    assert (poll.poll_id, poll.question, poll.voters) == (shop.poll_id, "Która pizza?", 4)
    assert poll.options == [PollOptionResult("A", "Margherita", 3), PollOptionResult("B", "Capricciosa", 1),
                            PollOptionResult("C", "Hawajska", 0)]
    konkurs = keyword_statistics(session, shop.konkurs_id, date(2026, 11, 25), date(2026, 11, 25))
    assert konkurs is not None and konkurs.polls == []


@pytest.mark.usefixtures("campaign_reading")
def test_contest_entries_total_correct_and_unique_numbers(shop: Shop, session: Session) -> None:
    answers = [("+48600000001", "42"), ("+48600000001", "41"), ("+48600000002", "42"), ("+48600000003", "7")]
    for n, (sender, answer) in enumerate(answers):
        message = shop.message(utc(2026, 11, 25, 9, n), sender, shop.konkurs_id)
        shop.add(ContestEntry(contest_id=shop.contest_id, msisdn=sender, answer=answer, correct=answer == "42",
                              message_id=message, entered_at=utc(2026, 11, 25, 9, n)))

    stats = keyword_statistics(session, shop.konkurs_id, date(2026, 11, 25), date(2026, 11, 25))
    assert stats is not None
    [contest] = stats.contests
    assert (contest.contest_id, contest.name, contest.entries, contest.correct, contest.unique_numbers) == (
        shop.contest_id, "Kwiecień", 4, 2, 3)
    number = access_number_statistics(session, shop.number_id, date(2026, 11, 25), date(2026, 11, 25))
    assert number is not None
    assert [(c.entries, c.correct, c.unique_numbers) for c in number.contests] == [(4, 2, 3)]
    assert [(p.poll_id, p.voters) for p in number.polls] == [(shop.poll_id, 0)]  # named by PIZZA, no votes


def test_an_empty_range_has_a_zero_for_every_day_and_lists_the_keywords_campaigns(shop: Shop, session: Session) -> None:
    shop.message(utc(2026, 11, 25, 9, 0), "+48600000001", shop.pizza_id)
    stats = keyword_statistics(session, shop.pizza_id, date(2026, 12, 1), date(2026, 12, 7))
    assert stats is not None
    assert len(stats.days) == 7 and by_day(stats.days) == {}
    assert (stats.messages, stats.unique_senders, stats.opt_ins, stats.opt_outs) == (0, 0, 0, 0)
    assert [(p.poll_id, p.voters, [o.votes for o in p.options]) for p in stats.polls] == [(shop.poll_id, 0, [0, 0, 0])]
    assert stats.contests == []


def test_unknown_scopes_and_bad_ranges(shop: Shop, session: Session) -> None:
    assert keyword_statistics(session, 9999, date(2026, 11, 25), date(2026, 11, 25)) is None
    assert access_number_statistics(session, 9999, date(2026, 11, 25), date(2026, 11, 25)) is None
    with pytest.raises(StatisticsRangeError, match="before it starts"):
        keyword_statistics(session, shop.pizza_id, date(2026, 11, 25), date(2026, 11, 24))
    with pytest.raises(StatisticsRangeError, match="at most 366"):
        keyword_statistics(session, shop.pizza_id, date(2025, 1, 1), date(2026, 11, 24))
    with pytest.raises(StatisticsRangeError, match="unknown time zone 'Mars/Olympus'"):
        keyword_statistics(session, shop.pizza_id, date(2026, 11, 24), date(2026, 11, 24), "Mars/Olympus")
