"""The outbox: which deliveries a stored message gets, and an SMS forward end to end through a SIM."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import (
    AccessNumber,
    Account,
    Delivery,
    DeliveryAttempt,
    ForwardTarget,
    Keyword,
    Message,
)
from appliance.delivery.outbox import OutboxWorker, enqueue_for_messages
from appliance.delivery.sms_forward import SmsChannel, forward_text
from appliance.modem.outbound import OutboundQueue
from tests.modem.test_session import Rig, wait_for

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def target(account: int, kind: str = "url", address: str = "http://127.0.0.1:9/hook", **fields: object) -> ForwardTarget:
    return ForwardTarget(account_id=account, name=f"{kind} target", kind=kind, address=address,
                         secret=secrets.token_urlsafe(16), download_token=secrets.token_urlsafe(16), **fields)


class Shop:
    """Two accounts on one shared number, a keyword each, a dedicated number of the first."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.ogrodnik, self.piekarz = Account(name="Ogrodnik"), Account(name="Piekarz")
        session.add_all([self.ogrodnik, self.piekarz])
        session.flush()
        self.shared = AccessNumber(number="+48500000001", iccid="8948000000000000001", kind="shared")
        self.dedicated = AccessNumber(number="+48500000002", iccid="8948000000000000002", kind="dedicated",
                                      account_id=self.ogrodnik.id)
        session.add_all([self.shared, self.dedicated])
        session.flush()
        self.roze = Keyword(access_number_id=self.shared.id, account_id=self.ogrodnik.id, keyword="ROZE",
                            mode="base", actions=[])
        self.chleb = Keyword(access_number_id=self.shared.id, account_id=self.piekarz.id, keyword="CHLEB",
                             mode="base", actions=[])
        session.add_all([self.roze, self.chleb])
        session.flush()

    def message(self, *, iccid: str | None = None, account: Account | None = None, keyword: Keyword | None = None,
                status: str = "routed", kind: str = "sms") -> Message:
        message = Message(iccid=iccid or self.shared.iccid, sender="+48600100200", text="ROZE 3 sztuki",
                          kind=kind, status=status, received_at=NOW,
                          account_id=account.id if account else None, keyword_id=keyword.id if keyword else None)
        self.session.add(message)
        self.session.flush()
        return message

    def deliveries(self) -> list[tuple[int, int]]:
        return sorted((t, m) for t, m in self.session.execute(select(Delivery.target_id, Delivery.message_id)))


@pytest.fixture
def shop(session_factory: sessionmaker[Session]) -> Iterator[Shop]:
    with session_factory.begin() as session:
        yield Shop(session)


def test_every_enabled_target_of_the_messages_account_gets_one_delivery(shop: Shop) -> None:
    hook, mail, off = (target(shop.ogrodnik.id), target(shop.ogrodnik.id, "email", "jan@example.com"),
                       target(shop.ogrodnik.id, enabled=False))
    other = target(shop.piekarz.id)
    shop.session.add_all([hook, mail, off, other])
    shop.session.flush()
    message = shop.message(account=shop.ogrodnik, keyword=shop.roze)

    assert enqueue_for_messages(shop.session, [message.id]) == 2
    assert enqueue_for_messages(shop.session, [message.id]) == 0  # never twice
    assert shop.deliveries() == sorted([(hook.id, message.id), (mail.id, message.id)])
    delivery = shop.session.scalars(select(Delivery)).first()
    assert delivery.give_up_at == NOW + timedelta(hours=24) and len(delivery.idempotency_key) == 32


def test_filters_narrow_a_target_to_an_access_number_or_a_keyword(shop: Shop) -> None:
    by_number = target(shop.ogrodnik.id, access_number_id=shop.dedicated.id)
    by_keyword = target(shop.ogrodnik.id, keyword_id=shop.roze.id)
    shop.session.add_all([by_number, by_keyword])
    shop.session.flush()
    on_shared = shop.message(account=shop.ogrodnik, keyword=shop.roze)
    on_dedicated = shop.message(iccid=shop.dedicated.iccid, account=shop.ogrodnik)

    enqueue_for_messages(shop.session, [on_shared.id, on_dedicated.id])
    assert shop.deliveries() == sorted([(by_keyword.id, on_shared.id), (by_number.id, on_dedicated.id)])


def test_a_forward_action_names_a_target_its_filters_would_not_reach(shop: Shop) -> None:
    named = target(shop.ogrodnik.id, actions_only=True)
    shop.session.add(named)
    shop.session.flush()
    shop.roze.actions = [{"type": "forward", "target": named.id}]
    with_action = shop.message(account=shop.ogrodnik, keyword=shop.roze)
    without = shop.message(iccid=shop.dedicated.iccid, account=shop.ogrodnik)

    enqueue_for_messages(shop.session, [with_action.id, without.id])
    assert shop.deliveries() == [(named.id, with_action.id)]


@pytest.mark.parametrize("status", ["fetching", "undecodable", "expired", "failed"])
def test_messages_not_complete_are_not_forwarded(shop: Shop, status: str) -> None:
    shop.session.add(target(shop.ogrodnik.id))
    shop.session.flush()
    message = shop.message(account=shop.ogrodnik, status=status, kind="mms" if status != "undecodable" else "sms")
    assert enqueue_for_messages(shop.session, [message.id]) == 0


def test_a_message_of_no_account_is_forwarded_nowhere(shop: Shop) -> None:
    shop.session.add(target(shop.ogrodnik.id))
    shop.session.flush()
    assert enqueue_for_messages(shop.session, [shop.message(status="unmatched").id]) == 0


def test_the_forwarded_text_says_who_wrote_and_sums_up_an_mms() -> None:
    assert forward_text({"kind": "sms", "sender": "+48600100200", "text": "Dzień dobry"}) == \
        "From +48600100200: Dzień dobry"
    mms = {"kind": "mms", "sender": "+48600100200", "subject": "Zdjęcie", "text": "Róże",
           "attachments": [{}, {}]}
    assert forward_text(mms) == "From +48600100200: [MMS] Zdjęcie Róże (2 attachments)"


@pytest.fixture
def rig(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[Rig]:
    rig = Rig(tmp_path, session_factory)
    yield rig
    rig.stop()


def test_a_text_is_forwarded_by_sms_once_through_the_sim_it_came_in_on(rig: Rig) -> None:
    rig.emulator.add_modem("huawei")
    info = rig.emulator.modem(1).info()
    with rig.sessions.begin() as session:
        account = Account(name="Kwiaciarnia")
        session.add(account)
        session.flush()
        session.add(AccessNumber(number=str(info["msisdn"]), iccid=str(info["iccid"]), kind="dedicated",
                                 account_id=account.id))
        session.add(target(account.id, "sms", "+48601999888"))
    modem = rig.session(1, outbound=OutboundQueue(rig.sessions), send_interval=0.05)
    worker = OutboxWorker(rig.sessions, {"sms": SmsChannel(rig.sessions, lambda _iccid: modem.wake())},
                          "http://appliance.test/", check_seconds=0.2)
    worker.start()
    try:
        long_text = "Poproszę bukiet róż na sobotę, odbiór o 10:00. " * 5  # a concatenated SMS
        rig.emulator.deliver_sms(1, "+48600100200", long_text)
        forwarded = f"From +48600100200: {long_text}"

        def received() -> str:
            return "".join(str(s["text"]) for s in rig.emulator.sent(1) if s["to"] == "+48601999888")

        wait_for(lambda: received() == forwarded, what="the forward, every part of it")
        parts = len(rig.emulator.sent(1))
        assert parts > 1 and {s["to"] for s in rig.emulator.sent(1)} == {"+48601999888"}
        worker.run_due()  # nothing more is due: the forward went once
        with rig.sessions() as session:
            delivery = session.scalars(select(Delivery)).one()
            attempts = session.scalars(select(DeliveryAttempt)).all()
        assert delivery.status == "delivered" and [a.ok for a in attempts] == [True]
        assert len(rig.emulator.sent(1)) == parts
    finally:
        worker.stop()
