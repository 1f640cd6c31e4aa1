"""An MMS may come from an e-mail address (OMA MMS: From is an RFC 5322 address, up to 254
characters): it is stored and shown with that sender, and its keywords vote, enter and join like a
phone's. Only SMS cannot reach it: an automatic answer is held back with the reason, a group send
counts it as an invalid number, and nothing is queued to be retried.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.campaigns.group_send import GroupSender, progress
from appliance.config import Settings
from appliance.db.models import (
    AccessNumber,
    Account,
    AutoReply,
    Contact,
    ContactEvent,
    Contest,
    ContestEntry,
    Group,
    GroupMember,
    GroupSend,
    Keyword,
    Message,
    OutboundSms,
    Poll,
    PollVote,
)
from appliance.statistics import access_number_statistics
from appliance.web import create_app
from appliance.web.tokens import create_token
from tests.mms.test_mms_reception import MmsRig, email_address
from tests.modem.test_session import wait_for


@pytest.fixture
def rig(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[MmsRig]:
    rig = MmsRig(tmp_path, session_factory)
    yield rig
    rig.stop()


def owned_number_with_campaigns(rig: MmsRig) -> dict[str, int]:
    """The rig's number given to an account whose keywords vote, enter a contest and join a club."""
    with rig.sessions.begin() as session:
        shop = Account(name="Kwiaciarnia")
        session.add(shop)
        session.flush()
        number = session.scalar(select(AccessNumber).where(AccessNumber.iccid == rig.iccid))
        assert number is not None
        number.account_id = shop.id
        poll = Poll(account_id=shop.id, question="Ulubiony kwiat?", options=[{"code": "1", "label": "Róża"}],
                    confirmation="Dziękujemy za głos")
        contest = Contest(account_id=shop.id, answer="Łódź")
        club = Group(account_id=shop.id, name="Klub")
        session.add_all([poll, contest, club])
        session.flush()
        session.add_all([
            Keyword(access_number_id=number.id, account_id=shop.id, keyword="GŁOS", mode="base",
                    actions=[{"type": "poll_vote", "poll": poll.id}]),
            Keyword(access_number_id=number.id, account_id=shop.id, keyword="KONKURS", mode="base",
                    actions=[{"type": "contest_entry", "contest": contest.id}]),
            Keyword(access_number_id=number.id, account_id=shop.id, keyword="KLUB", mode="base",
                    actions=[{"type": "join_group", "group": club.id},
                             {"type": "autoreply", "text": "Witamy w klubie"}]),
        ])
        return {"number": number.id, "poll": poll.id, "contest": contest.id, "club": club.id}


@pytest.mark.parametrize("length", [100, 254])
def test_an_mms_from_an_e_mail_address_is_stored_shown_and_acts_on_its_keywords(
    rig: MmsRig, database_url: str, tmp_path: Path, length: int
) -> None:
    sender = email_address(length)
    ids = owned_number_with_campaigns(rig)
    for text in ("GŁOS 1", "KONKURS Łódź", "KLUB"):
        rig.emulator.deliver_mms(1, sender, [("text/plain", "a.txt", text.encode(), "utf-8")])
    wait_for(lambda: [m.status for m in rig.mms()] == ["routed"] * 3, timeout=30, what="three MMS routed")

    with rig.sessions() as session:
        assert {m.sender for m in rig.mms()} == {sender}
        assert session.execute(select(PollVote.poll_id, PollVote.msisdn, PollVote.option_code)).all() == [
            (ids["poll"], sender, "1")]
        assert session.execute(select(ContestEntry.contest_id, ContestEntry.msisdn, ContestEntry.correct)).all() == [
            (ids["contest"], sender, True)]
        contact = session.scalar(select(Contact).where(Contact.msisdn == sender))
        assert contact is not None
        assert session.scalar(select(GroupMember.group_id).where(GroupMember.contact_id == contact.id)) == ids["club"]
        assert session.scalars(select(ContactEvent.kind).where(ContactEvent.contact_id == contact.id)).all() == [
            "opt_in"]
        # The vote's confirmation and the club's welcome: held back, said why, nothing queued to retry.
        held = session.scalars(select(AutoReply.held_back).where(AutoReply.recipient == sender)).all()
        assert len(held) == 2 and all(reason and "an e-mail address: never answered" in reason for reason in held)
        assert session.scalar(select(func.count()).select_from(OutboundSms)) == 0

        today = datetime.now(UTC).date()
        for from_messages in (False, True):
            statistics = access_number_statistics(session, ids["number"], today, today, "UTC",
                                                  from_messages=from_messages)
            assert statistics is not None
            assert (statistics.messages, statistics.unique_senders, statistics.opt_ins) == (3, 1, 1)
            assert [(p.voters, p.options[0].votes) for p in statistics.polls] == [(1, 1)]
            assert [(c.entries, c.correct, c.unique_numbers) for c in statistics.contests] == [(1, 1, 1)]
        first_id = rig.mms()[0].id

    app = create_app(Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="x"), rig.sessions)
    with rig.sessions.begin() as session:
        token = create_token(session, "t")
    body = app.test_client().get(f"/api/v1/messages/{first_id}", headers={"Authorization": f"Bearer {token}"})
    assert body.get_json()["sender"] == sender

    # A later text to the club cannot reach the address by SMS: the send says so, nothing waits to retry.
    with rig.sessions.begin() as session:
        club = session.get(Group, ids["club"])
        assert club is not None
        send = GroupSend(account_id=club.account_id, group_id=club.id, access_number_id=ids["number"],
                         text="Promocja na róże")
        session.add(send)
        session.flush()
        send_id = send.id
    assert GroupSender(rig.sessions).run_due() == [send_id]
    with rig.sessions() as session:
        assert progress(session, send_id) == {"invalid_number": 1}
        assert session.scalar(select(func.count()).select_from(OutboundSms)) == 0


def test_a_notification_from_255_characters_is_kept_raw_and_not_fetched(rig: MmsRig) -> None:
    rig.emulator.deliver_mms(1, email_address(255), [("text/plain", "a.txt", b"abc", "utf-8")])
    wait_for(lambda: rig.messages(), what="the push to be stored")
    [message] = rig.messages()
    assert message.status == "undecodable"
    assert "From of 255 characters is longer than the 254 kept" in (message.error or "")
    assert rig.transfer() is None
    with rig.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message).where(Message.kind == "mms")) == 0
