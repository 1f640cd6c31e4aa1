"""Stored messages are routed by their SIM's access number and its keywords (both backends)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.codecs.sms_pdu import encode_sms_deliver
from appliance.db.models import AccessNumber, Account, Keyword, Message
from appliance.reception.store import MessageStore, ReceivedPdu

SHARED_SIM = "89480610001111111111"
DEDICATED_SIM = "89480610002222222222"
WHEN = datetime(2026, 11, 25, 15, 0, tzinfo=timezone(timedelta(hours=1)))


@pytest.fixture
def store(session_factory: sessionmaker[Session]) -> MessageStore:
    with session_factory.begin() as session:
        garden, pizza = Account(name="Ogrodnik"), Account(name="Pizzeria")
        session.add_all([garden, pizza])
        session.flush()
        shared = AccessNumber(number="+48500100100", iccid=SHARED_SIM, kind="shared")
        dedicated = AccessNumber(number="+48500200200", iccid=DEDICATED_SIM, kind="dedicated", account_id=pizza.id)
        session.add_all([shared, dedicated])
        session.flush()
        session.add_all([
            Keyword(access_number_id=shared.id, account_id=garden.id, keyword="OGRODNIK", mode="base"),
            Keyword(access_number_id=shared.id, account_id=pizza.id, keyword="PIZZA", mode="base",
                    typo_tolerant=True),
            Keyword(access_number_id=dedicated.id, account_id=pizza.id, keyword="ZAMÓWIENIE", mode="base"),
        ])
    return MessageStore(session_factory, partial_timeout=timedelta(hours=24))


def deliver(store: MessageStore, iccid: str, text: str, sender: str = "+48600100200") -> None:
    pdus = encode_sms_deliver(sender, text, WHEN)
    store.store([ReceivedPdu(iccid, pdu) for pdu in pdus])


def last(session_factory: sessionmaker[Session]) -> Message:
    with session_factory() as session:
        message = session.scalars(select(Message).order_by(Message.id.desc())).first()
        assert message is not None
        return message


def account_id(session_factory: sessionmaker[Session], name: str) -> int:
    with session_factory() as session:
        found = session.scalar(select(Account.id).where(Account.name == name))
        assert found is not None
        return found


def test_a_keyword_on_a_shared_number_routes_to_its_account_with_the_payload(store, session_factory) -> None:
    deliver(store, SHARED_SIM, "ogrodnik, Jan Kowalski")
    message = last(session_factory)
    assert (message.status, message.keyword, message.payload, message.route_reason) == (
        "routed", "OGRODNIK", "Jan Kowalski", "base")
    assert message.account_id == account_id(session_factory, "Ogrodnik")


def test_a_one_letter_typo_still_finds_a_typo_tolerant_keyword(store, session_factory) -> None:
    deliver(store, SHARED_SIM, "PIZA 2x margherita")
    message = last(session_factory)
    assert (message.status, message.keyword, message.route_reason) == ("routed", "PIZZA", "typo")


def test_a_message_matching_no_keyword_on_a_shared_number_is_unmatched(store, session_factory) -> None:
    deliver(store, SHARED_SIM, "Dzień dobry, czy sklep jest otwarty?")
    message = last(session_factory)
    assert (message.status, message.account_id, message.keyword, message.route_reason) == (
        "unmatched", None, None, "unmatched")


def test_every_message_on_a_dedicated_number_belongs_to_its_owner(store, session_factory) -> None:
    deliver(store, DEDICATED_SIM, "Dzień dobry")
    message = last(session_factory)
    assert (message.status, message.keyword, message.route_reason) == ("routed", None, "owner")
    assert message.account_id == account_id(session_factory, "Pizzeria")
    deliver(store, DEDICATED_SIM, "zamowienie: 2x capricciosa")
    assert (last(session_factory).keyword, last(session_factory).payload) == ("ZAMÓWIENIE", "2x capricciosa")


def test_a_multipart_message_is_routed_on_its_whole_text(store, session_factory) -> None:
    text = "OGRODNIK " + "proszę o wycenę trawnika i żywopłotu, " * 10
    deliver(store, SHARED_SIM, text)
    message = last(session_factory)
    assert message.parts_total > 1 and message.keyword == "OGRODNIK" and message.status == "routed"


def test_a_keyword_added_later_routes_the_next_message(store, session_factory) -> None:
    deliver(store, SHARED_SIM, "KONKURS odpowiedź B")
    assert last(session_factory).status == "unmatched"
    with session_factory.begin() as session:
        shared = session.scalar(select(AccessNumber).where(AccessNumber.iccid == SHARED_SIM))
        assert shared is not None
        session.add(Keyword(access_number_id=shared.id, account_id=account_id(session_factory, "Ogrodnik"),
                            keyword="KONKURS", mode="base"))
    deliver(store, SHARED_SIM, "KONKURS odpowiedź C")
    assert (last(session_factory).status, last(session_factory).payload) == ("routed", "odpowiedź C")


def test_a_sim_without_an_access_number_stays_unmatched_without_a_decision(store, session_factory) -> None:
    deliver(store, "89480610009999999999", "OGRODNIK Jan")
    message = last(session_factory)
    assert (message.status, message.keyword, message.route_reason) == ("unmatched", None, None)
