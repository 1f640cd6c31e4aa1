"""Group sends: what may be scheduled, cancelling before and during a send, progress for people (both backends)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from appliance.campaigns.group_send import (
    Audience,
    GroupSender,
    GroupSendRefused,
    Progress,
    audiences,
    cancel,
    group_sends,
    progress,
    progress_of,
    schedule,
)
from appliance.db.models import AccessNumber, Account, Contact, Group, GroupMember, GroupSend, OutboundSms

SHARED_SIM, GARDEN_SIM, PIZZA_SIM = "89480610001111111111", "89480610002222222222", "89480610003333333333"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ANIA, BARTEK, CELINA = "+48600100200", "+48600100300", "+48600100400"


@dataclass
class Shop:
    sessions: sessionmaker[Session]
    garden: int
    pizza: int
    shared: int
    garden_number: int
    pizza_number: int
    newsletter: int

    def schedule(self, text: str = "Wiosenna promocja", number: int | None = None, at: datetime | None = None,
                 group: int | None = None) -> int:
        with self.sessions.begin() as session:
            chosen_group = session.get(Group, group or self.newsletter)
            chosen_number = session.get(AccessNumber, number or self.shared)
            assert chosen_group is not None and chosen_number is not None
            return schedule(session, chosen_group, chosen_number, text, at, now=NOW).id

    def cancel(self, send_id: int, now: datetime = NOW) -> int:
        with self.sessions.begin() as session:
            send = session.get(GroupSend, send_id)
            assert send is not None
            return cancel(session, send, now)

    def status(self, send_id: int) -> str:
        with self.sessions() as session:
            send = session.get(GroupSend, send_id)
            assert send is not None
            return send.status

    def progress(self, send_id: int) -> Progress:
        with self.sessions() as session:
            send = session.get(GroupSend, send_id)
            assert send is not None
            return progress_of(session, [send])[send_id]

    def texts(self) -> list[tuple[str, str, int | None]]:
        with self.sessions() as session:
            return [tuple(row) for row in session.execute(  # type: ignore[misc]
                select(OutboundSms.recipient, OutboundSms.status, OutboundSms.account_id).order_by(OutboundSms.id))]


@pytest.fixture
def shop(session_factory: sessionmaker[Session]) -> Shop:
    with session_factory.begin() as session:
        garden, pizza = Account(name="Ogrodnik"), Account(name="Pizzeria")
        session.add_all([garden, pizza])
        session.flush()
        numbers = [AccessNumber(number="+48500100100", iccid=SHARED_SIM, kind="shared"),
                   AccessNumber(number="+48500200200", iccid=GARDEN_SIM, kind="dedicated", account_id=garden.id),
                   AccessNumber(number="+48500300300", iccid=PIZZA_SIM, kind="dedicated", account_id=pizza.id)]
        newsletter = Group(account_id=garden.id, name="Newsletter")
        session.add_all([*numbers, newsletter])
        contacts = [Contact(account_id=garden.id, msisdn=ANIA, name="Ania"),
                    Contact(account_id=garden.id, msisdn=BARTEK),
                    Contact(account_id=garden.id, msisdn=CELINA, opted_out_at=NOW - timedelta(days=1))]
        session.add_all(contacts)
        session.flush()
        session.add_all(GroupMember(group_id=newsletter.id, contact_id=c.id) for c in contacts)
        return Shop(session_factory, garden.id, pizza.id, *(n.id for n in numbers), newsletter.id)


def refusal(shop: Shop, **kwargs: object) -> tuple[str | None, str]:
    with pytest.raises(GroupSendRefused) as caught:
        shop.schedule(**kwargs)  # type: ignore[arg-type]
    return caught.value.field, caught.value.message


def test_a_group_sends_from_a_shared_number_or_its_own_account_s_never_another_s(shop: Shop) -> None:
    assert shop.schedule(number=shop.shared) and shop.schedule(number=shop.garden_number)
    assert refusal(shop, number=shop.pizza_number) == (
        "access_number", "+48500300300 is dedicated to another account; a group sends from a shared number or "
                         "from one of its own account's numbers")


def test_a_blank_text_a_text_over_255_sms_and_a_time_in_the_past_are_refused(shop: Shop) -> None:
    assert refusal(shop, text=" \n ") == ("text", "must not be empty")
    assert refusal(shop, text="x" * 153 * 256) == ("text", "needs 256 SMS; one text may take at most 255")
    assert refusal(shop, at=NOW - timedelta(minutes=5)) == ("scheduled_at", "2026-11-25T08:55:00Z is in the past")
    assert shop.schedule(at=NOW - timedelta(seconds=50))  # the minute the form showed as "now"
    with shop.sessions() as session:
        assert [s.text for s in session.scalars(select(GroupSend))] == ["Wiosenna promocja"]


def test_a_scheduled_send_waits_for_its_time_and_shows_the_group_as_it_stands(shop: Shop) -> None:
    later = shop.schedule("Jutro promocja", at=NOW + timedelta(days=1))
    sender = GroupSender(shop.sessions)

    assert sender.run_due(NOW) == []
    assert shop.progress(later) == Progress(recipients=2, pending=2, sent=0, delivered=0, failed=0, cancelled=0,
                                            opted_out=1)
    assert sender.run_due(NOW + timedelta(days=1)) == [later]
    assert shop.texts() == [(ANIA, "queued", shop.garden), (BARTEK, "queued", shop.garden)]


def test_a_scheduled_send_cancelled_never_goes_out(shop: Shop) -> None:
    send = shop.schedule(at=NOW + timedelta(hours=1))

    assert shop.cancel(send) == 0

    assert shop.status(send) == "cancelled"
    assert GroupSender(shop.sessions).run_due(NOW + timedelta(hours=2)) == []
    assert shop.texts() == []
    assert shop.progress(send) == Progress(0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(GroupSendRefused, match="is cancelled and no text of it is left waiting"):
        shop.cancel(send)


def test_cancelling_a_send_under_way_withdraws_the_texts_no_modem_has_tried(shop: Shop) -> None:
    send = shop.schedule()
    GroupSender(shop.sessions).run_due(NOW)
    with shop.sessions.begin() as session:  # a modem took Ania's text and is sending it
        session.execute(update(OutboundSms).where(OutboundSms.recipient == ANIA).values(status="sending", attempts=1))

    assert shop.cancel(send) == 1

    assert shop.texts() == [(ANIA, "sending", shop.garden), (BARTEK, "cancelled", shop.garden)]
    assert shop.status(send) == "cancelled"
    assert shop.progress(send) == Progress(recipients=2, pending=1, sent=0, delivered=0, failed=0, cancelled=1,
                                           opted_out=1)
    with shop.sessions() as session:
        assert progress(session, send) == {"sending": 1, "cancelled": 1, "opted_out": 1}


def test_a_send_whose_texts_all_left_cannot_be_cancelled(shop: Shop) -> None:
    send = shop.schedule()
    GroupSender(shop.sessions).run_due(NOW)
    with shop.sessions.begin() as session:
        session.execute(update(OutboundSms).where(OutboundSms.recipient == ANIA).values(status="delivered"))
        session.execute(update(OutboundSms).where(OutboundSms.recipient == BARTEK).values(status="failed", attempts=5))

    with pytest.raises(GroupSendRefused) as caught:
        shop.cancel(send)

    assert caught.value.code == "not_cancellable"
    assert shop.status(send) == "done"
    assert shop.progress(send) == Progress(recipients=2, pending=0, sent=1, delivered=1, failed=1, cancelled=0,
                                           opted_out=1)


def test_sends_are_listed_newest_first_per_account_a_page_at_a_time(shop: Shop) -> None:
    with shop.sessions.begin() as session:
        fans = Group(account_id=shop.pizza, name="Fani pizzy")
        session.add(fans)
        session.flush()
        fans_id = fans.id
    first, second = shop.schedule("pierwsza"), shop.schedule("druga")
    pizza = shop.schedule("pizza", number=shop.pizza_number, group=fans_id)

    with shop.sessions() as session:
        everyone, more = group_sends(session, for_account=None, limit=2)
        assert ([s.id for s in everyone], more) == ([pizza, second], True)
        rest, more = group_sends(session, for_account=None, limit=2, before_id=second)
        assert ([s.id for s in rest], more) == ([first], False)
        garden, _ = group_sends(session, for_account=shop.garden, limit=10)
        assert [s.id for s in garden] == [second, first]
        assert audiences(session, [shop.newsletter, fans_id]) == {shop.newsletter: Audience(2, 1),
                                                                   fans_id: Audience(0, 0)}
