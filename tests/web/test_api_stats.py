"""GET /api/v1/statistics/keywords/{id} and /access-numbers/{id}: JSON statistics for any valid token."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import AccessNumber, Account, Contact, ContactEvent, Keyword, Poll, PollVote
from appliance.statistics import access_number_statistics, keyword_statistics
from appliance.web.tokens import create_token
from tests.web.conftest import DEFAULT_ICCID, Store


@pytest.fixture
def pizza(session_factory: sessionmaker[Session], store: Store) -> dict[str, int]:
    with session_factory() as session:
        account = Account(name="Pizzeria")
        session.add(account)
        session.flush()
        number = AccessNumber(number="+48500600700", iccid=DEFAULT_ICCID, kind="shared")
        poll = Poll(account_id=account.id, question="Która?", options=[{"code": "A", "label": "Tak"},
                                                                       {"code": "B", "label": "Nie"}])
        session.add_all([number, poll])
        session.flush()
        keyword = Keyword(access_number_id=number.id, account_id=account.id, keyword="PIZZA",
                          actions=[{"type": "poll_vote", "poll": poll.id}])
        session.add(keyword)
        session.commit()
        ids = {"keyword": keyword.id, "number": number.id, "poll": poll.id}
    # 23:30 UTC on the 24th is already the 25th in Warsaw.
    for sender, at in [("+48600000001", datetime(2026, 11, 24, 23, 30, tzinfo=UTC)),
                       ("+48600000002", datetime(2026, 11, 25, 10, 0, tzinfo=UTC)),
                       ("+48600000001", datetime(2026, 11, 26, 10, 0, tzinfo=UTC))]:
        message = store.message(sender=sender, received_at=at, keyword_id=ids["keyword"], status="routed")
        if at.day != 26:  # the two messages of the 25th in Warsaw vote
            with session_factory() as session:
                session.add(PollVote(poll_id=ids["poll"], msisdn=sender, option_code="B", message_id=message.id,
                                     voted_at=at))
                session.commit()
    store.message(sender="+48600000003", received_at=datetime(2026, 11, 25, 11, 0, tzinfo=UTC))  # unmatched
    return ids


def test_keyword_statistics_per_warsaw_day(client: FlaskClient, auth: dict[str, str], pizza: dict[str, int]) -> None:
    response = client.get(f"/api/v1/statistics/keywords/{pizza['keyword']}?from=2026-11-24&to=2026-11-26",
                          headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("keyword", "from", "to", "timezone", "messages", "unique_senders",
                                 "opt_ins", "opt_outs")} == {
        "keyword": pizza["keyword"], "from": "2026-11-24", "to": "2026-11-26", "timezone": "Europe/Warsaw",
        "messages": 3, "unique_senders": 2, "opt_ins": 0, "opt_outs": 0}
    assert [(d["day"], d["messages"], d["unique_senders"]) for d in body["days"]] == [
        ("2026-11-24", 0, 0), ("2026-11-25", 2, 2), ("2026-11-26", 1, 1)]
    assert body["polls"] == [{"id": pizza["poll"], "question": "Która?", "voters": 2, "options": [
        {"code": "A", "label": "Tak", "votes": 0}, {"code": "B", "label": "Nie", "votes": 2}]}]
    assert body["contests"] == []


def test_access_number_statistics_in_another_time_zone(client: FlaskClient, auth: dict[str, str],
                                                       pizza: dict[str, int]) -> None:
    response = client.get(f"/api/v1/statistics/access-numbers/{pizza['number']}"
                          "?from=2026-11-24&to=2026-11-25&tz=UTC", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["access_number"] == pizza["number"]
    assert [(d["day"], d["messages"]) for d in body["days"]] == [("2026-11-24", 1), ("2026-11-25", 2)]
    assert (body["messages"], body["unique_senders"]) == (3, 3)


def test_without_a_range_the_last_30_days(client: FlaskClient, auth: dict[str, str], pizza: dict[str, int]) -> None:
    body = client.get(f"/api/v1/statistics/keywords/{pizza['keyword']}", headers=auth).get_json()
    assert len(body["days"]) == 30 and body["days"][-1]["day"] == body["to"]


@pytest.mark.parametrize(("query", "message"), [
    ("from=2026-11-26&to=2026-11-24", "before it starts"),
    ("from=yesterday", "'from' must be a day as YYYY-MM-DD"),
    ("from=2020-01-01&to=2026-01-01", "at most 366"),
    ("tz=Mars/Olympus", "unknown time zone"),
])
def test_a_bad_range_is_a_400_saying_why(client: FlaskClient, auth: dict[str, str], pizza: dict[str, int],
                                         query: str, message: str) -> None:
    response = client.get(f"/api/v1/statistics/keywords/{pizza['keyword']}?{query}", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert message in response.get_json()["error"]["message"]


def test_unknown_ids_are_404(client: FlaskClient, auth: dict[str, str]) -> None:
    for path in ("keywords/999", "access-numbers/999"):
        response = client.get(f"/api/v1/statistics/{path}", headers=auth)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_a_token_is_required(client: FlaskClient, pizza: dict[str, int]) -> None:
    response = client.get(f"/api/v1/statistics/keywords/{pizza['keyword']}")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    response = client.get(f"/api/v1/statistics/keywords/{pizza['keyword']}",
                          headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


@pytest.fixture
def admin(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory() as session:
        secret = create_token(session, "admin", admin=True)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _summary_and_messages_agree(session_factory: sessionmaker[Session], pizza: dict[str, int]) -> None:
    with session_factory() as session:
        for call, ident in ((keyword_statistics, pizza["keyword"]), (access_number_statistics, pizza["number"])):
            summary = call(session, ident, date(2026, 11, 24), date(2026, 11, 26))
            assert summary == call(session, ident, date(2026, 11, 24), date(2026, 11, 26), from_messages=True)


def test_a_deleted_keyword_takes_its_statistics_along_and_a_keyword_reusing_its_id_starts_from_nothing(
        client: FlaskClient, admin: dict[str, str], pizza: dict[str, int],
        session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        for vote in session.scalars(select(PollVote)):
            session.delete(vote)
        session.execute(update(Keyword).values(actions=[]))
    assert client.delete(f"/api/v1/keywords/{pizza['keyword']}", headers=admin).status_code == 204
    with session_factory.begin() as session:  # SQLite hands the highest id out again once it is free
        number = session.get(AccessNumber, pizza["number"])
        assert number is not None
        again = Keyword(id=pizza["keyword"], access_number_id=number.id, keyword="KAWA")
        session.add(again)
    body = client.get(f"/api/v1/statistics/keywords/{pizza['keyword']}?from=2026-11-24&to=2026-11-26",
                      headers=admin).get_json()
    assert (body["messages"], body["unique_senders"]) == (0, 0)
    body = client.get(f"/api/v1/statistics/access-numbers/{pizza['number']}?from=2026-11-24&to=2026-11-26",
                      headers=admin).get_json()
    assert body["messages"] == 4  # the messages stay the number's
    _summary_and_messages_agree(session_factory, pizza)


def test_a_deleted_contact_takes_its_opt_ins_off_the_statistics(
        client: FlaskClient, admin: dict[str, str], pizza: dict[str, int],
        session_factory: sessionmaker[Session], store: Store) -> None:
    message = store.message(sender="+48600000007", received_at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
                            keyword_id=pizza["keyword"], status="routed")
    with session_factory.begin() as session:
        account_id = session.scalar(select(Account.id))
        contact = Contact(account_id=account_id, msisdn="+48600000007")
        session.add(contact)
        session.flush()
        session.add(ContactEvent(contact_id=contact.id, kind="opt_in", message_id=message.id,
                                 at=datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)))
        contact_id = contact.id
    url = f"/api/v1/statistics/keywords/{pizza['keyword']}?from=2026-11-24&to=2026-11-26"
    assert client.get(url, headers=admin).get_json()["opt_ins"] == 1
    assert client.delete(f"/api/v1/contacts/{contact_id}", headers=admin).status_code == 204
    assert client.get(url, headers=admin).get_json()["opt_ins"] == 0
    _summary_and_messages_agree(session_factory, pizza)
