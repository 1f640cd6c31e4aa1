"""Campaigns end to end through emulated modems: texts in over the air, answers out over the air."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.campaigns.group_send import GroupSender, progress
from appliance.config import Settings
from appliance.db.models import (
    AccessNumber,
    Account,
    Autoresponder,
    Contact,
    Contest,
    ContestEntry,
    Group,
    GroupSend,
    Keyword,
    Message,
    OutboundSms,
    Poll,
    PollVote,
)
from appliance.modem.outbound import OutboundQueue
from appliance.modem.registry import ModemRegistry
from appliance.modem.session import ModemSession
from appliance.web import create_app
from appliance.web.tokens import create_token
from tests.modem.test_session import Rig, wait_for

ANIA, BARTEK, CELINA, DAREK = "+48600100200", "+48600100300", "+48600100400", "+48600100500"


@pytest.fixture
def rig(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[Rig]:
    rig = Rig(tmp_path, session_factory)
    yield rig
    rig.stop()


def sending_session(rig: Rig, modem_id: int) -> ModemSession:
    return rig.session(modem_id, outbound=OutboundQueue(rig.sessions), send_interval=0.05)


def access_number(rig: Rig, modem_id: int, account: int, kind: str) -> int:
    info = rig.emulator.modem(modem_id).info()
    with rig.sessions.begin() as session:
        number = AccessNumber(number=str(info["msisdn"]), iccid=str(info["iccid"]), kind=kind,
                              account_id=account if kind == "dedicated" else None)
        session.add(number)
        session.flush()
        return number.id


def add(rig: Rig, row: object) -> int:
    with rig.sessions.begin() as session:
        session.add(row)
        session.flush()
        return row.id  # type: ignore[attr-defined, no-any-return]


def message_count(rig: Rig) -> int:
    with rig.sessions() as session:
        return session.scalar(select(func.count(Message.id))) or 0


def sent_to(rig: Rig, modem_id: int, recipient: str) -> list[str]:
    return [str(item["text"]) for item in rig.emulator.sent(modem_id) if item["to"] == recipient]


def all_sent(rig: Rig) -> bool:
    with rig.sessions() as session:
        return not session.scalar(select(func.count(OutboundSms.id))
                                  .where(OutboundSms.status.in_(("queued", "sending"))))


def test_a_keyword_opts_senders_in_and_answers_and_stop_keeps_them_out_of_a_later_group_send(rig: Rig) -> None:
    rig.emulator.add_modem("simcom")
    garden = add(rig, Account(name="Ogrodnik"))
    shared = access_number(rig, 1, garden, "shared")
    newsletter = add(rig, Group(account_id=garden, name="Newsletter"))
    add(rig, Keyword(access_number_id=shared, account_id=garden, keyword="OGRODNIK", mode="base", actions=[
        {"type": "join_group", "group": newsletter},
        {"type": "autoreply", "text": "Witamy w klubie ogrodnika! Wypisz się: STOP"}]))
    session = sending_session(rig, 1)

    for sender in (ANIA, BARTEK, CELINA):
        rig.emulator.deliver_sms(1, sender, "Ogrodnik")
    wait_for(lambda: all(sent_to(rig, 1, s) for s in (ANIA, BARTEK, CELINA)), what="the three autoreplies")
    assert sent_to(rig, 1, ANIA) == ["Witamy w klubie ogrodnika! Wypisz się: STOP"]

    rig.emulator.deliver_sms(1, ANIA, "STOP")
    wait_for(lambda: message_count(rig) == 4, what="the STOP stored")
    with rig.sessions() as db:
        ania = db.scalar(select(Contact).where(Contact.msisdn == ANIA))
        assert ania is not None and ania.opted_out_at is not None

    send = add(rig, GroupSend(account_id=garden, group_id=newsletter, access_number_id=shared,
                              text="Wiosenna promocja na róże!"))
    assert GroupSender(rig.sessions).run_due() == [send]
    session.wake()
    wait_for(lambda: all_sent(rig), what="the group send sent")
    assert sent_to(rig, 1, BARTEK)[-1] == sent_to(rig, 1, CELINA)[-1] == "Wiosenna promocja na róże!"
    assert sent_to(rig, 1, ANIA) == ["Witamy w klubie ogrodnika! Wypisz się: STOP"]  # nothing after STOP
    with rig.sessions() as db:
        assert sum(progress(db, send).values()) == 2  # Ania left the group: not even a recipient


def test_a_poll_counts_one_vote_per_number_and_a_contest_collects_entries_by_its_rules(rig: Rig) -> None:
    rig.emulator.add_modem("quectel")
    shop = add(rig, Account(name="Kwiaciarnia"))
    number = access_number(rig, 1, shop, "dedicated")
    poll = add(rig, Poll(account_id=shop, question="Ulubiony kwiat?", policy="keep_first",
                         options=[{"code": "1", "label": "Róża"}, {"code": "2", "label": "Tulipan"},
                                  {"code": "3", "label": "Storczyk"}],
                         confirmation="Dziękujemy za głos: {option}"))
    contest = add(rig, Contest(account_id=shop, answer="Łódź", entries_per_number=1))
    add(rig, Keyword(access_number_id=number, account_id=shop, keyword="GŁOS", mode="base",
                     actions=[{"type": "poll_vote", "poll": poll}]))
    add(rig, Keyword(access_number_id=number, account_id=shop, keyword="KONKURS", mode="base",
                     actions=[{"type": "contest_entry", "contest": contest}]))
    sending_session(rig, 1)

    texts = [(ANIA, "głos 1"), (BARTEK, "GLOS tulipan"), (CELINA, "Głos: róża!"), (ANIA, "głos 2"),
             (DAREK, "głos 4"), (DAREK, "głos storczyk"),
             (ANIA, "KONKURS Łódź"), (ANIA, "konkurs lodz"), (BARTEK, "konkurs Kraków"), (CELINA, "Konkurs LÓDŹ")]
    for sender, text in texts:
        rig.emulator.deliver_sms(1, sender, text)
    wait_for(lambda: message_count(rig) == len(texts), what="every text stored")

    with rig.sessions() as db:
        votes = db.execute(select(PollVote.option_code, PollVote.msisdn)).all()
        entries = db.execute(select(ContestEntry.msisdn, ContestEntry.correct).order_by(ContestEntry.msisdn)).all()
    assert Counter(code for code, _ in votes) == {"1": 2, "2": 1, "3": 1}
    assert sorted(msisdn for _, msisdn in votes) == [ANIA, BARTEK, CELINA, DAREK]
    assert [tuple(entry) for entry in entries] == [(ANIA, True), (BARTEK, False), (CELINA, True)]
    wait_for(lambda: len(sent_to(rig, 1, DAREK)) == 1, what="Darek's confirmation")
    assert sent_to(rig, 1, DAREK) == ["Dziękujemy za głos: Storczyk"]
    wait_for(lambda: all_sent(rig), what="every confirmation sent")
    assert sent_to(rig, 1, ANIA) == ["Dziękujemy za głos: Róża"]  # her second vote did not count


def test_two_autoresponder_robots_texting_each_other_stop_at_the_rate_limit(rig: Rig) -> None:
    rig.emulator.add_modem("huawei")
    rig.emulator.add_modem("simcom")
    msisdn = {modem: str(rig.emulator.modem(modem).info()["msisdn"]) for modem in (1, 2)}
    for modem in (1, 2):
        account = add(rig, Account(name=f"Robot {modem}"))
        number = access_number(rig, modem, account, "dedicated")
        add(rig, Autoresponder(account_id=account, access_number_id=number, max_per_sender=3,
                               text=f"Robot {modem}: dziękujemy za wiadomość, odpowiemy wkrótce."))
    sending_session(rig, 1)
    sending_session(rig, 2)

    # The network between the two SIMs: what one sends to the other's number, the other receives.
    relayed = {1: 0, 2: 0}
    stamp = datetime.now(UTC)
    rig.emulator.deliver_sms(1, msisdn[2], "Dzień dobry")
    quiet_since = time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() - quiet_since < 5.0:
        assert time.monotonic() < deadline, "the robots never stopped"
        for source, target in ((1, 2), (2, 1)):
            sent = [item for item in rig.emulator.sent(source) if item["to"] == msisdn[target]]
            for item in sent[relayed[source]:]:
                # A robot repeats itself word for word; its SMSC stamps each text a second apart at least.
                stamp += timedelta(seconds=1)
                rig.emulator.deliver_sms(target, msisdn[source], str(item["text"]), smsc_time=stamp)
                quiet_since = time.monotonic()
            relayed[source] = len(sent)
        time.sleep(0.1)

    assert relayed == {1: 3, 2: 3}
    assert message_count(rig) == 1 + 3 + 3  # the first text, then each robot's three answers received


def test_a_text_no_keyword_matches_gets_the_shared_number_s_default_reply_and_a_robot_gets_none(rig: Rig) -> None:
    rig.emulator.add_modem("quectel")
    garden = add(rig, Account(name="Ogrodnik"))
    shared = access_number(rig, 1, garden, "shared")
    with rig.sessions.begin() as db:
        number = db.get(AccessNumber, shared)
        assert number is not None
        number.unmatched_reply = "Nie znamy tego hasła. Ogrodnicy piszą OGRODNIK."
    add(rig, Keyword(access_number_id=shared, account_id=garden, keyword="OGRODNIK", mode="base"))
    sending_session(rig, 1)

    rig.emulator.deliver_sms(1, "InfoSMS", "Twoja paczka czeka")  # a robot: never answered
    rig.emulator.deliver_sms(1, ANIA, "Ogrodnik")  # a keyword: no default reply
    rig.emulator.deliver_sms(1, BARTEK, "Dzień dobry, czy są sadzonki?")
    wait_for(lambda: sent_to(rig, 1, BARTEK), what="the default reply")
    wait_for(lambda: message_count(rig) == 3 and all_sent(rig), what="every text stored and answered")
    assert [(item["to"], item["text"]) for item in rig.emulator.sent(1)] == [
        (BARTEK, "Nie znamy tego hasła. Ogrodnicy piszą OGRODNIK.")]


def test_a_reply_posted_through_the_api_reaches_the_sender_from_the_sim_they_wrote_to(
        rig: Rig, tmp_path: Path, database_url: str) -> None:
    rig.emulator.add_modem("huawei")
    rig.emulator.add_modem("simcom")
    shop = add(rig, Account(name="Kwiaciarnia"))
    access_number(rig, 1, shop, "dedicated")
    florist = access_number(rig, 2, shop, "dedicated")
    sessions = {modem: sending_session(rig, modem) for modem in (1, 2)}
    registry = ModemRegistry(rig.sessions)  # what the pool does with each session's status
    for session in sessions.values():
        registry.record(session.status)
    with rig.sessions.begin() as db:
        token = create_token(db, "crm", admin=True)
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="test"), rig.sessions,
                     wake_sim=lambda iccid: [s.wake() for s in sessions.values() if s.status.iccid == iccid])
    client = app.test_client()

    rig.emulator.deliver_sms(2, ANIA, "Czy macie białe róże?")
    wait_for(lambda: message_count(rig) == 1, what="Ania's question stored")
    response = client.post(f"/api/v1/access-numbers/{florist}/conversations/{ANIA}",
                           json={"text": "Mamy, zapraszamy do 18:00 🌹"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.get_json()

    wait_for(lambda: sent_to(rig, 2, ANIA), what="the reply on the network")
    assert sent_to(rig, 2, ANIA) == ["Mamy, zapraszamy do 18:00 🌹"]
    assert rig.emulator.sent(1) == []
    wait_for(lambda: all_sent(rig), what="the reply marked sent")
    conversation = client.get(f"/api/v1/access-numbers/{florist}/conversations/{ANIA}",
                              headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [(item["direction"], item["text"]) for item in conversation["items"]] == [
        ("in", "Czy macie białe róże?"), ("out", "Mamy, zapraszamy do 18:00 🌹")]
    assert conversation["items"][1]["status"] in ("sent", "delivered")
