"""Keyword actions, autoresponders and opt-outs, run by the store with the messages (both backends)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from appliance.campaigns import engine as engine_module
from appliance.campaigns.group_send import GroupSender, progress
from appliance.codecs.sms_pdu import encode_sms_deliver
from appliance.db.models import (
    AccessNumber,
    Account,
    AutoReply,
    Autoresponder,
    Contact,
    ContactEvent,
    Contest,
    ContestEntry,
    Group,
    GroupMember,
    GroupSend,
    GroupSendRecipient,
    Keyword,
    Message,
    OutboundSms,
    Poll,
    PollVote,
)
from appliance.reception.store import MessageStore, ReceivedPdu

SHARED_SIM = "89480610001111111111"
DEDICATED_SIM = "89480610002222222222"
ANIA, BARTEK = "+48600100200", "+48600100300"
_SECONDS = itertools.count()


@dataclass
class Setup:
    sessions: sessionmaker[Session]
    store: MessageStore
    garden: int
    pizza: int
    shared: int
    dedicated: int
    newsletter: int
    promo: int
    pizza_fans: int

    def deliver(self, text: str, sender: str = ANIA, iccid: str = SHARED_SIM) -> None:
        # Each delivery its own SMSC time: the store drops a PDU it has seen before.
        when = datetime(2026, 11, 25, 15, 0, tzinfo=UTC) + timedelta(seconds=next(_SECONDS))
        self.store.store([ReceivedPdu(iccid, pdu) for pdu in encode_sms_deliver(sender, text, when)])

    def keyword(self, number: int, account: int, keyword: str, actions: list[dict[str, object]],
                mode: str = "base") -> int:
        with self.sessions.begin() as session:
            row = Keyword(access_number_id=number, account_id=account, keyword=keyword, mode=mode, actions=actions)
            session.add(row)
            session.flush()
            return row.id

    def add(self, row: object) -> int:
        with self.sessions.begin() as session:
            session.add(row)
            session.flush()
            return row.id  # type: ignore[attr-defined, no-any-return]

    def replies(self, to: str | None = None) -> list[tuple[str, str, str]]:
        with self.sessions() as session:
            query = select(OutboundSms.iccid, OutboundSms.recipient, OutboundSms.text).order_by(OutboundSms.id)
            if to is not None:
                query = query.where(OutboundSms.recipient == to)
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]

    def members(self, group: int) -> list[str]:
        with self.sessions() as session:
            return list(session.scalars(select(Contact.msisdn).join(GroupMember, GroupMember.contact_id == Contact.id)
                                        .where(GroupMember.group_id == group).order_by(Contact.msisdn)))

    def contact(self, account: int, msisdn: str = ANIA) -> Contact | None:
        with self.sessions() as session:
            return session.scalar(select(Contact).where(Contact.account_id == account, Contact.msisdn == msisdn))

    def events(self, account: int, msisdn: str = ANIA) -> list[tuple[str, int | None]]:
        with self.sessions() as session:
            return [tuple(row) for row in session.execute(  # type: ignore[misc]
                select(ContactEvent.kind, ContactEvent.group_id).join(Contact, Contact.id == ContactEvent.contact_id)
                .where(Contact.account_id == account, Contact.msisdn == msisdn).order_by(ContactEvent.id))]

    def held_back(self) -> list[str | None]:
        with self.sessions() as session:
            return list(session.scalars(select(AutoReply.held_back).order_by(AutoReply.id)))


@pytest.fixture
def setup(session_factory: sessionmaker[Session]) -> Setup:
    with session_factory.begin() as session:
        garden, pizza = Account(name="Ogrodnik"), Account(name="Pizzeria")
        session.add_all([garden, pizza])
        session.flush()
        shared = AccessNumber(number="+48500100100", iccid=SHARED_SIM, kind="shared")
        dedicated = AccessNumber(number="+48500200200", iccid=DEDICATED_SIM, kind="dedicated", account_id=pizza.id)
        newsletter, promo = Group(account_id=garden.id, name="Newsletter"), Group(account_id=garden.id, name="Promo")
        pizza_fans = Group(account_id=pizza.id, name="Fani pizzy")
        session.add_all([shared, dedicated, newsletter, promo, pizza_fans])
        session.flush()
        ids = (garden.id, pizza.id, shared.id, dedicated.id, newsletter.id, promo.id, pizza_fans.id)
    return Setup(session_factory, MessageStore(session_factory, partial_timeout=timedelta(hours=24)), *ids)


def test_a_keyword_joins_the_sender_to_a_group_and_answers_with_the_template(setup: Setup) -> None:
    setup.keyword(setup.shared, setup.garden, "OGRODNIK", [
        {"type": "join_group", "group": setup.newsletter},
        {"type": "autoreply", "text": "Witaj {name}! {keyword} zapisał {sender}: {payload} {nieznane}"},
    ])
    setup.deliver("ogrodnik róże")
    assert setup.members(setup.newsletter) == [ANIA]
    assert setup.replies() == [(SHARED_SIM, ANIA, "Witaj ! OGRODNIK zapisał +48600100200: róże {nieznane}")]
    assert setup.events(setup.garden) == [("opt_in", setup.newsletter)]
    with setup.sessions() as session:
        member = session.scalars(select(GroupMember)).one()
        message = session.scalars(select(Message)).one()
        assert (member.keyword, member.message_id) == ("OGRODNIK", message.id)


def test_joining_twice_keeps_one_membership(setup: Setup) -> None:
    setup.keyword(setup.shared, setup.garden, "OGRODNIK", [{"type": "join_group", "group": setup.newsletter}])
    setup.deliver("OGRODNIK")
    setup.deliver("Ogrodnik!")
    assert setup.members(setup.newsletter) == [ANIA]
    assert setup.events(setup.garden) == [("opt_in", setup.newsletter)]


def test_a_stop_removes_the_sender_from_every_group_of_the_account(setup: Setup) -> None:
    setup.keyword(setup.shared, setup.garden, "OGRODNIK", [{"type": "join_group", "group": setup.newsletter}])
    setup.keyword(setup.shared, setup.garden, "PROMO", [{"type": "join_group", "group": setup.promo}])
    setup.deliver("OGRODNIK")
    setup.deliver("PROMO")
    setup.deliver("OGRODNIK", sender=BARTEK)
    setup.deliver("Stop, proszę")
    assert setup.members(setup.newsletter) == [BARTEK]
    assert setup.members(setup.promo) == []
    contact = setup.contact(setup.garden)
    assert contact is not None and contact.opted_out_at is not None
    kinds = [kind for kind, _ in setup.events(setup.garden)]
    assert kinds == ["opt_in", "opt_in", "left", "left", "opt_out"]


def test_a_stop_on_a_shared_number_leaves_accounts_the_sender_never_met_there_alone(setup: Setup) -> None:
    setup.keyword(setup.shared, setup.garden, "OGRODNIK", [{"type": "join_group", "group": setup.newsletter}])
    with setup.sessions.begin() as session:  # the pizzeria knows Ania from elsewhere (an import)
        contact = Contact(account_id=setup.pizza, msisdn=ANIA)
        session.add(contact)
        session.flush()
        session.add(GroupMember(group_id=setup.pizza_fans, contact_id=contact.id))
    setup.deliver("OGRODNIK")
    setup.deliver("STOP")
    assert setup.members(setup.newsletter) == []
    assert setup.members(setup.pizza_fans) == [ANIA]
    pizza_contact = setup.contact(setup.pizza)
    assert pizza_contact is not None and pizza_contact.opted_out_at is None


def test_a_stop_reaches_an_account_whose_group_send_reached_the_sender_from_that_number(setup: Setup) -> None:
    with setup.sessions.begin() as session:
        contact = Contact(account_id=setup.garden, msisdn=ANIA)
        session.add(contact)
        session.flush()
        session.add(GroupMember(group_id=setup.promo, contact_id=contact.id))
        session.add(GroupSend(account_id=setup.garden, group_id=setup.promo, access_number_id=setup.shared,
                              text="Promocja!"))
    GroupSender(setup.sessions).run_due()
    setup.deliver("stop")
    assert setup.members(setup.promo) == []


def opt_out_words(setup: Setup, account: int, words: list[str]) -> None:
    with setup.sessions.begin() as session:
        row = session.get(Account, account)
        assert row is not None
        row.opt_out_words = words


def test_an_account_s_configured_opt_out_word_opts_out_and_a_later_group_send_skips_the_sender(setup: Setup) -> None:
    setup.keyword(setup.dedicated, setup.pizza, "PIZZA", [{"type": "join_group", "group": setup.pizza_fans}])
    setup.deliver("pizza", iccid=DEDICATED_SIM)
    setup.deliver("pizza", sender=BARTEK, iccid=DEDICATED_SIM)
    setup.deliver("Wypisz mnie!", iccid=DEDICATED_SIM)  # not a word of the account yet: an ordinary message
    assert setup.members(setup.pizza_fans) == [ANIA, BARTEK]

    opt_out_words(setup, setup.pizza, ["WYPISZ", "Rezygnuję"])  # the running store reads it with the next batch
    setup.deliver("Wypisz mnie!", iccid=DEDICATED_SIM)
    assert setup.members(setup.pizza_fans) == [BARTEK]
    assert [kind for kind, _ in setup.events(setup.pizza)] == ["opt_in", "left", "opt_out"]

    with setup.sessions.begin() as session:  # an import puts her back in the group: she stays opted out
        contact = session.scalars(select(Contact).where(Contact.account_id == setup.pizza, Contact.msisdn == ANIA)).one()
        session.add(GroupMember(group_id=setup.pizza_fans, contact_id=contact.id))
    send = setup.add(GroupSend(account_id=setup.pizza, group_id=setup.pizza_fans, access_number_id=setup.dedicated,
                               text="Dziś pizza za pół ceny"))
    GroupSender(setup.sessions).run_due()
    assert setup.replies() == [(DEDICATED_SIM, BARTEK, "Dziś pizza za pół ceny")]
    with setup.sessions() as session:
        assert progress(session, send) == {"queued": 1, "opted_out": 1}


def test_another_account_s_opt_out_word_is_an_ordinary_message_on_a_dedicated_number(setup: Setup) -> None:
    opt_out_words(setup, setup.garden, ["KONIEC"])
    setup.keyword(setup.dedicated, setup.pizza, "PIZZA", [{"type": "join_group", "group": setup.pizza_fans}])
    setup.deliver("pizza", iccid=DEDICATED_SIM)
    setup.deliver("koniec", iccid=DEDICATED_SIM)
    assert setup.members(setup.pizza_fans) == [ANIA]
    contact = setup.contact(setup.pizza)
    assert contact is not None and contact.opted_out_at is None


def test_an_opt_out_word_on_a_shared_number_reaches_only_the_account_that_configured_it(setup: Setup) -> None:
    opt_out_words(setup, setup.garden, ["WYPISZ"])
    setup.keyword(setup.shared, setup.garden, "OGRODNIK", [{"type": "join_group", "group": setup.newsletter}])
    setup.keyword(setup.shared, setup.pizza, "PIZZA", [{"type": "join_group", "group": setup.pizza_fans}])
    setup.deliver("OGRODNIK")
    setup.deliver("PIZZA")
    setup.deliver("wypisz")
    assert setup.members(setup.newsletter) == []
    assert setup.members(setup.pizza_fans) == [ANIA]


def test_a_stop_gets_no_answer_and_joining_again_after_it_is_a_new_opt_in(setup: Setup) -> None:
    setup.keyword(setup.dedicated, setup.pizza, "PIZZA", [
        {"type": "join_group", "group": setup.pizza_fans}, {"type": "autoreply", "text": "Zapisano"}])
    setup.add(Autoresponder(account_id=setup.pizza, access_number_id=setup.dedicated, text="Dziękujemy",
                            max_per_sender=10))
    setup.deliver("PIZZA", iccid=DEDICATED_SIM)
    setup.deliver("STOP", iccid=DEDICATED_SIM)
    assert [text for _, _, text in setup.replies()] == ["Zapisano", "Dziękujemy"]
    setup.deliver("jakieś pytanie", iccid=DEDICATED_SIM)  # the number's autoresponder stays silent now
    assert len(setup.replies()) == 2
    assert setup.held_back()[-1] == "the sender opted out of this account"
    setup.deliver("PIZZA", iccid=DEDICATED_SIM)
    assert setup.members(setup.pizza_fans) == [ANIA]
    contact = setup.contact(setup.pizza)
    assert contact is not None and contact.opted_out_at is None
    assert [text for _, _, text in setup.replies()] == ["Zapisano", "Dziękujemy", "Zapisano", "Dziękujemy"]


def test_automatic_answers_stop_at_the_rate_limit_and_resume_after_the_window(setup: Setup) -> None:
    setup.add(Autoresponder(account_id=setup.pizza, access_number_id=setup.dedicated, text="Odpowiemy wkrótce",
                            max_per_sender=2, window_seconds=3600))
    for n in range(4):
        setup.deliver(f"pytanie {n}", iccid=DEDICATED_SIM)
    assert len(setup.replies()) == 2
    assert [reason is not None and reason.startswith("rate limit") for reason in setup.held_back()] == [
        False, False, True, True]
    setup.deliver("pytanie od Bartka", sender=BARTEK, iccid=DEDICATED_SIM)  # the limit is per sender
    assert len(setup.replies(BARTEK)) == 1
    with setup.sessions.begin() as session:
        session.execute(update(AutoReply).values(at=datetime.now(UTC) - timedelta(hours=2)))
    setup.deliver("pytanie po godzinie", iccid=DEDICATED_SIM)
    assert len(setup.replies(ANIA)) == 3


@pytest.mark.parametrize("sender", ["ALLEGRO", "80123", "7100"])
def test_robots_get_no_automatic_answer(setup: Setup, sender: str) -> None:
    setup.keyword(setup.dedicated, setup.pizza, "PIZZA", [{"type": "autoreply", "text": "Zapisano"}])
    setup.add(Autoresponder(account_id=setup.pizza, access_number_id=setup.dedicated, text="Dziękujemy"))
    setup.deliver("PIZZA", sender=sender, iccid=DEDICATED_SIM)
    assert setup.replies() == []
    assert all(reason and "alphanumeric, a short code" in reason for reason in setup.held_back())
    assert len(setup.held_back()) == 2


def test_autoresponders_of_the_keyword_and_of_the_number_fire_for_their_account_only(setup: Setup) -> None:
    garden_kw = setup.keyword(setup.shared, setup.garden, "OGRODNIK", [])
    setup.keyword(setup.shared, setup.pizza, "PIZZA", [])
    setup.add(Autoresponder(account_id=setup.garden, keyword_id=garden_kw, text="o ogrodniku"))
    setup.add(Autoresponder(account_id=setup.garden, access_number_id=setup.shared, text="ogrodnik ogólnie"))
    setup.add(Autoresponder(account_id=setup.garden, text="ogrodnik wszędzie"))
    setup.add(Autoresponder(account_id=setup.garden, access_number_id=setup.shared, text="wyłączony",
                            enabled=False))
    setup.add(Autoresponder(account_id=setup.pizza, access_number_id=setup.shared, text="pizzeria"))
    setup.deliver("OGRODNIK")
    assert [text for _, _, text in setup.replies()] == ["o ogrodniku", "ogrodnik ogólnie", "ogrodnik wszędzie"]
    setup.deliver("coś bez słowa kluczowego", sender=BARTEK)  # unmatched: nobody's message, no answer
    assert setup.replies(BARTEK) == []


@pytest.mark.parametrize(("policy", "expected"), [("keep_first", "A"), ("keep_last", "B")])
def test_a_poll_counts_one_vote_per_number(setup: Setup, policy: str, expected: str) -> None:
    poll = setup.add(Poll(account_id=setup.garden, question="Róże czy tulipany?", policy=policy,
                          options=[{"code": "A", "label": "Róże"}, {"code": "B", "label": "Tulipany"}],
                          confirmation="Głos na {option} ({code}) przyjęty"))
    setup.keyword(setup.shared, setup.garden, "ANKIETA", [{"type": "poll_vote", "poll": poll}])
    setup.deliver("ANKIETA a")
    setup.deliver("ankieta TULIPANY")
    setup.deliver("ankieta C")  # no such option: no vote, no answer
    setup.deliver("ANKIETA róże", sender=BARTEK)
    with setup.sessions() as session:
        votes = {msisdn: code for msisdn, code in session.execute(select(PollVote.msisdn, PollVote.option_code))}
    assert votes == {ANIA: expected, BARTEK: "A"}
    confirmations = [text for _, _, text in setup.replies(ANIA)]
    assert confirmations == (["Głos na Róże (A) przyjęty"] if policy == "keep_first"
                             else ["Głos na Róże (A) przyjęty", "Głos na Tulipany (B) przyjęty"])


def test_a_poll_outside_its_time_answers_closed_and_counts_nothing(setup: Setup) -> None:
    now = datetime.now(UTC)
    poll = setup.add(Poll(account_id=setup.garden, question="?", options=[{"code": "A", "label": "Tak"}],
                          closes_at=now - timedelta(minutes=1), closed_reply="Ankieta zamknięta",
                          confirmation="Dzięki"))
    later = setup.add(Poll(account_id=setup.garden, question="?", options=[{"code": "A", "label": "Tak"}],
                           opens_at=now + timedelta(hours=1)))
    setup.keyword(setup.shared, setup.garden, "ANKIETA", [{"type": "poll_vote", "poll": poll}])
    setup.keyword(setup.shared, setup.garden, "PÓŹNIEJ", [{"type": "poll_vote", "poll": later}])
    setup.deliver("ANKIETA A")
    setup.deliver("później A")
    with setup.sessions() as session:
        assert session.scalars(select(PollVote)).all() == []
    assert [text for _, _, text in setup.replies()] == ["Ankieta zamknięta"]


def test_a_contest_takes_entries_in_its_window_up_to_the_limit_per_number(setup: Setup) -> None:
    now = datetime.now(UTC)
    contest = setup.add(Contest(account_id=setup.garden, answer="Łódź", entries_per_number=2,
                                opens_at=now - timedelta(hours=1), closes_at=now + timedelta(hours=1)))
    closed = setup.add(Contest(account_id=setup.garden, closes_at=now - timedelta(hours=1)))
    setup.keyword(setup.shared, setup.garden, "KONKURS", [{"type": "contest_entry", "contest": contest}])
    setup.keyword(setup.shared, setup.garden, "STARY", [{"type": "contest_entry", "contest": closed}])
    setup.deliver("KONKURS Kraków")
    setup.deliver("konkurs LODZ")
    setup.deliver("konkurs łódź")  # a third entry: over the limit of two
    setup.deliver("KONKURS Łódź!", sender=BARTEK)
    setup.deliver("STARY cokolwiek")
    with setup.sessions() as session:
        entries = [tuple(row) for row in session.execute(select(
            ContestEntry.contest_id, ContestEntry.msisdn, ContestEntry.answer, ContestEntry.correct)
            .order_by(ContestEntry.id))]
    assert entries == [(contest, ANIA, "Kraków", False), (contest, ANIA, "LODZ", True),
                       (contest, BARTEK, "Łódź!", True)]


def test_leave_groups_and_forward_actions(setup: Setup) -> None:
    setup.keyword(setup.shared, setup.garden, "OGRODNIK", [{"type": "join_group", "group": setup.newsletter},
                                                           {"type": "forward", "target": 7}])
    setup.keyword(setup.shared, setup.garden, "KONIEC", [{"type": "leave_groups"}], mode="exact")
    setup.deliver("OGRODNIK")
    assert setup.members(setup.newsletter) == [ANIA]
    setup.deliver("koniec")
    assert setup.members(setup.newsletter) == []
    contact = setup.contact(setup.garden)
    assert contact is not None and contact.opted_out_at is None  # left the groups, not every send
    assert setup.events(setup.garden) == [("opt_in", setup.newsletter), ("left", setup.newsletter)]


def test_a_group_of_another_account_is_never_joined(setup: Setup) -> None:
    setup.keyword(setup.shared, setup.garden, "OGRODNIK", [{"type": "join_group", "group": setup.pizza_fans}])
    setup.deliver("OGRODNIK")
    assert setup.members(setup.pizza_fans) == []


def test_a_failing_action_is_rolled_back_alone_and_the_message_is_stored(setup: Setup,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    setup.keyword(setup.shared, setup.garden, "OGRODNIK", [{"type": "join_group", "group": setup.newsletter},
                                                           {"type": "autoreply", "text": "Zapisano"}])

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(engine_module, "_contest_entry", broken)
    setup.keyword(setup.shared, setup.garden, "KONKURS", [{"type": "autoreply", "text": "Wpis"},
                                                          {"type": "contest_entry", "contest": 1}])
    setup.store.store([ReceivedPdu(SHARED_SIM, pdu) for text, sender in [("KONKURS x", ANIA), ("OGRODNIK", BARTEK)]
                       for pdu in encode_sms_deliver(sender, text, datetime(2026, 1, 1, tzinfo=UTC))])
    with setup.sessions() as session:
        assert len(session.scalars(select(Message)).all()) == 2
    assert setup.replies() == [(SHARED_SIM, BARTEK, "Zapisano")]
    assert setup.members(setup.newsletter) == [BARTEK]


def test_an_incomplete_multipart_message_does_nothing(setup: Setup) -> None:
    setup.keyword(setup.shared, setup.garden, "OGRODNIK", [{"type": "join_group", "group": setup.newsletter}])
    parts = encode_sms_deliver(ANIA, "OGRODNIK " + "długi tekst " * 40, datetime(2026, 1, 1, tzinfo=UTC))
    setup.store.store([ReceivedPdu(SHARED_SIM, parts[0])])
    setup.store.release_stale_sets(now=datetime.now(UTC) + timedelta(days=2))
    assert setup.members(setup.newsletter) == []
    setup.store.store([ReceivedPdu(SHARED_SIM, pdu) for pdu in parts[1:]])  # the rest arrives late
    assert setup.members(setup.newsletter) == [ANIA]


def test_a_group_send_reaches_members_except_opted_out_ones_with_progress(setup: Setup) -> None:
    with setup.sessions.begin() as session:
        contacts = [Contact(account_id=setup.garden, msisdn=ANIA, name="Ania"),
                    Contact(account_id=setup.garden, msisdn=BARTEK),
                    Contact(account_id=setup.garden, msisdn="+48600100400", opted_out_at=datetime.now(UTC)),
                    Contact(account_id=setup.garden, msisdn="nie-numer")]
        session.add_all(contacts)
        session.flush()
        session.add_all(GroupMember(group_id=setup.newsletter, contact_id=c.id) for c in contacts)
    now = datetime.now(UTC)
    due = setup.add(GroupSend(account_id=setup.garden, group_id=setup.newsletter, access_number_id=setup.shared,
                              text="Cześć {name}, nowości!", scheduled_at=now))
    later = setup.add(GroupSend(account_id=setup.garden, group_id=setup.newsletter, access_number_id=setup.shared,
                                text="Jutro", scheduled_at=now + timedelta(days=1)))
    sender = GroupSender(setup.sessions)
    assert sender.run_due(now) == [due]
    assert sender.run_due(now) == []  # done once, never again
    assert setup.replies() == [(SHARED_SIM, ANIA, "Cześć Ania, nowości!"), (SHARED_SIM, BARTEK, "Cześć , nowości!")]
    with setup.sessions.begin() as session:
        assert progress(session, due) == {"queued": 2, "opted_out": 1, "invalid_number": 1}
        session.execute(update(OutboundSms).where(OutboundSms.recipient == ANIA).values(status="delivered"))
        assert progress(session, due) == {"delivered": 1, "queued": 1, "opted_out": 1, "invalid_number": 1}
        statuses = session.scalars(select(GroupSend.status).order_by(GroupSend.id)).all()
        assert statuses == ["done", "scheduled"]
        assert len(session.scalars(select(GroupSendRecipient)).all()) == 4
    assert sender.run_due(now + timedelta(days=2)) == [later]


def test_a_group_send_wakes_the_sim_it_goes_out_from(session_factory) -> None:
    from datetime import UTC, datetime

    from appliance.campaigns.group_send import GroupSender
    from appliance.db.models import AccessNumber, Account, Contact, Group, GroupMember, GroupSend

    with session_factory.begin() as session:
        account = Account(name="Sklep")
        session.add(account)
        session.flush()
        number = AccessNumber(number="+48500300300", iccid="89480610003333333333", kind="dedicated",
                              account_id=account.id)
        group = Group(account_id=account.id, name="Newsletter")
        contact = Contact(account_id=account.id, msisdn="+48600100200")
        session.add_all([number, group, contact])
        session.flush()
        session.add(GroupMember(group_id=group.id, contact_id=contact.id))
        session.add(GroupSend(account_id=account.id, group_id=group.id, access_number_id=number.id,
                              text="Promocja!", scheduled_at=datetime(2026, 1, 1, tzinfo=UTC)))
    woken: list[str] = []
    GroupSender(session_factory, wake_sim=woken.append).run_due()
    assert woken == ["89480610003333333333"]


def unmatched_reply(setup: Setup, number: int, text: str) -> None:
    with setup.sessions.begin() as session:
        row = session.get(AccessNumber, number)
        assert row is not None
        row.unmatched_reply = text


def test_a_message_no_keyword_matches_on_a_shared_number_gets_the_number_s_default_reply(setup: Setup) -> None:
    unmatched_reply(setup, setup.shared, "Nie znamy tego hasła, {sender}. Wyślij OGRODNIK.")
    setup.keyword(setup.shared, setup.garden, "OGRODNIK", [])
    setup.deliver("dzień dobry")
    setup.deliver("OGRODNIK", sender=BARTEK)  # a keyword: its account's business, no default reply
    assert setup.replies() == [(SHARED_SIM, ANIA, f"Nie znamy tego hasła, {ANIA}. Wyślij OGRODNIK.")]
    with setup.sessions() as session:
        record = session.scalars(select(AutoReply)).one()
        assert (record.account_id, record.recipient, record.held_back) == (None, ANIA, None)


def test_on_a_dedicated_number_the_default_reply_answers_texts_without_a_keyword_unless_an_autoresponder_did(
        setup: Setup) -> None:
    unmatched_reply(setup, setup.dedicated, "Wyślij PIZZA, by zamówić.")
    setup.keyword(setup.dedicated, setup.pizza, "PIZZA", [])
    setup.deliver("pizza", iccid=DEDICATED_SIM)
    setup.deliver("a jaka pizza dziś?", iccid=DEDICATED_SIM)
    assert setup.replies() == [(DEDICATED_SIM, ANIA, "Wyślij PIZZA, by zamówić.")]
    with setup.sessions() as session:
        assert session.scalars(select(AutoReply.account_id)).all() == [setup.pizza]  # the owner speaks

    setup.add(Autoresponder(account_id=setup.pizza, access_number_id=setup.dedicated, text="Dziękujemy"))
    setup.deliver("halo", sender=BARTEK, iccid=DEDICATED_SIM)
    assert setup.replies(BARTEK) == [(DEDICATED_SIM, BARTEK, "Dziękujemy")]


@pytest.mark.parametrize("sender", ["ALLEGRO", "80123"])
def test_the_default_reply_never_answers_robots(setup: Setup, sender: str) -> None:
    unmatched_reply(setup, setup.shared, "Nie znamy tego hasła.")
    setup.deliver("Twoja paczka czeka", sender=sender)
    assert setup.replies() == []
    [reason] = setup.held_back()
    assert reason is not None and "alphanumeric, a short code" in reason


def test_the_default_reply_stops_at_the_rate_limit(setup: Setup) -> None:
    unmatched_reply(setup, setup.shared, "Nie znamy tego hasła.")
    for n in range(engine_module.DEFAULT_MAX_PER_SENDER + 2):
        setup.deliver(f"pytanie {n}")
    assert len(setup.replies()) == engine_module.DEFAULT_MAX_PER_SENDER
    assert [reason is not None and reason.startswith("rate limit") for reason in setup.held_back()] == [
        False, False, False, True, True]


def test_an_opt_out_gets_no_default_reply_even_when_it_reaches_no_account(setup: Setup) -> None:
    unmatched_reply(setup, setup.shared, "Nie znamy tego hasła.")
    unmatched_reply(setup, setup.dedicated, "Wyślij PIZZA, by zamówić.")
    opt_out_words(setup, setup.garden, ["KONIEC"])
    setup.deliver("STOP")  # Ania has dealt with no account on the shared number yet
    setup.deliver("koniec", sender=BARTEK, iccid=DEDICATED_SIM)  # the garden's word, not the pizzeria's
    setup.deliver("dzień dobry")
    assert setup.replies() == [(SHARED_SIM, ANIA, "Nie znamy tego hasła.")]


def test_a_contact_opted_out_of_the_owner_gets_no_default_reply(setup: Setup) -> None:
    unmatched_reply(setup, setup.dedicated, "Wyślij PIZZA, by zamówić.")
    setup.deliver("STOP", iccid=DEDICATED_SIM)
    setup.deliver("halo?", iccid=DEDICATED_SIM)
    assert setup.replies() == []
    assert setup.held_back() == ["the sender opted out of this account"]
