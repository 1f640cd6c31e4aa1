"""Retention: an account's rows older than its retention period go, to the second, files included;
everything younger, everything of other accounts and anything still waiting to be sent stays."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.attachments import AttachmentStore
from appliance.audit import SYSTEM
from appliance.db.models import (
    AccessNumber,
    Account,
    Attachment,
    AuditEntry,
    AutoReply,
    Contact,
    Contest,
    ContestEntry,
    Delivery,
    DeliveryAttempt,
    ForwardTarget,
    Group,
    GroupMember,
    Keyword,
    Message,
    MmsTransfer,
    OutboundPart,
    OutboundSms,
    Poll,
    PollVote,
    SmsPart,
    StatisticsDay,
    StatisticsPollDay,
    StatusReport,
)
from appliance.retention import purge_expired

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DAYS = 30
CUTOFF = NOW - timedelta(days=DAYS)
JUST_OLDER, EXACTLY, JUST_YOUNGER = CUTOFF - timedelta(seconds=1), CUTOFF, CUTOFF + timedelta(seconds=1)
SHOP_SIM, SHARED_SIM, GARDEN_SIM = "89480610000000000001", "89480610000000000002", "89480610000000000003"


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, "PNG")
    return out.getvalue()


POSTER, OLD_ONLY = png((250, 0, 0)), png((0, 250, 0))


class Box:
    """A shop keeping messages 30 days, a garden centre keeping them forever, and a shared number."""

    def __init__(self, sessions: sessionmaker[Session], store: AttachmentStore) -> None:
        self.sessions, self.store = sessions, store
        with sessions.begin() as session:
            shop, garden = Account(name="Kwiaciarnia", retention_days=DAYS), Account(name="Centrum ogrodnicze")
            session.add_all([shop, garden])
            session.flush()
            dedicated = AccessNumber(number="+48500100100", iccid=SHOP_SIM, kind="dedicated", account_id=shop.id)
            shared = AccessNumber(number="+48500200200", iccid=SHARED_SIM, kind="shared")
            garden_number = AccessNumber(number="+48500300300", iccid=GARDEN_SIM, kind="shared")
            session.add_all([dedicated, shared, garden_number])
            session.flush()
            session.add_all([Keyword(access_number_id=shared.id, account_id=shop.id, keyword="ROZE"),
                             Keyword(access_number_id=shared.id, account_id=garden.id, keyword="DRZEWA"),
                             Keyword(access_number_id=garden_number.id, account_id=garden.id, keyword="TUJE")])
            poll = Poll(account_id=shop.id, question="?", options=[{"code": "A", "label": "a"}])
            contest = Contest(account_id=shop.id, name="Wiosna")
            group = Group(account_id=shop.id, name="Klienci")
            target = ForwardTarget(account_id=shop.id, name="CRM", kind="url", address="http://crm.test/",
                                   secret="s", download_token=secrets.token_urlsafe(8))
            session.add_all([poll, contest, group, target])
            session.flush()
            self.shop, self.garden, self.dedicated, self.shared = shop.id, garden.id, dedicated.id, shared.id
            self.poll, self.contest, self.group, self.target = poll.id, contest.id, group.id, target.id

    def message(self, at: datetime, sender: str, *, account: int | None, sim: str = SHOP_SIM,
                pictures: tuple[bytes, ...] = (), delivery: str = "delivered") -> int:
        """A message with everything that hangs off one: raw part, picture, vote, entry, forward, answer."""
        with self.sessions.begin() as session:
            message = Message(received_at=at, iccid=sim, sender=sender, text="ROZE A", status="routed",
                              account_id=account, kind="mms" if pictures else "sms")
            session.add(message)
            session.flush()
            session.add(SmsPart(dedupe_key=secrets.token_hex(16), iccid=sim, pdu_hex="00", received_at=at,
                                sender=sender, message_id=message.id))
            if pictures:
                self.store.add_parts(session, message, [("image/png", f"p{n}.png", data)
                                                        for n, data in enumerate(pictures)])
                session.add(MmsTransfer(iccid=sim, transaction_id=secrets.token_hex(4), message_id=message.id,
                                        content_location="http://mmsc/x", notification_hex="00",
                                        status="retrieved", raw_sha256=self.store.put(b"raw mms " + sender.encode())))
            if account == self.shop:
                session.add_all([
                    PollVote(poll_id=self.poll, msisdn=sender + str(message.id), option_code="A",
                             message_id=message.id, voted_at=at),
                    ContestEntry(contest_id=self.contest, msisdn=sender, answer="a", correct=True,
                                 message_id=message.id, entered_at=at),
                    AutoReply(account_id=account, access_number_id=self.dedicated, recipient=sender, message_id=message.id, at=at)])
                forward = Delivery(target_id=self.target, message_id=message.id, status=delivery,
                                   idempotency_key=secrets.token_hex(16), give_up_at=at + timedelta(days=1))
                session.add(forward)
                session.flush()
                session.add(DeliveryAttempt(delivery_id=forward.id, attempt=1, duration_ms=5.0, ok=True))
            return message.id

    def text(self, at: datetime, status: str, *, account: int | None, sim: str = SHOP_SIM) -> int:
        with self.sessions.begin() as session:
            text = OutboundSms(created_at=at, iccid=sim, recipient="+48600100200", text="Dziękujemy", status=status,
                               account_id=account)
            text.parts = [OutboundPart(sequence=1, pdu_hex="0011", status="delivered", message_reference=7)]
            session.add(text)
            session.flush()
            session.add(StatusReport(dedupe_key=secrets.token_hex(16), iccid=sim, pdu_hex="06", received_at=at,
                                     recipient="+48600100200", outbound_part_id=text.parts[0].id))
            return text.id

    def ids(self, model: type) -> set[int]:
        with self.sessions() as session:
            return set(session.scalars(select(model.id)))  # type: ignore[attr-defined]


@pytest.fixture
def box(session_factory: sessionmaker[Session], tmp_path: Path) -> Box:
    return Box(session_factory, AttachmentStore(tmp_path / "data"))


def summary(session: Session) -> list[tuple[object, ...]]:
    return [tuple(row) for table in (StatisticsDay.__table__, StatisticsPollDay.__table__)
            for row in session.execute(table.select().order_by(*table.primary_key.columns))]


def test_a_purge_deletes_exactly_what_is_older_than_the_retention_with_its_files(box: Box) -> None:
    older = box.message(JUST_OLDER, "+48600000001", account=box.shop, pictures=(POSTER, OLD_ONLY))
    exactly = box.message(EXACTLY, "+48600000002", account=box.shop)
    younger = box.message(JUST_YOUNGER, "+48600000003", account=box.shop, pictures=(POSTER,))
    garden_old = box.message(NOW - timedelta(days=400), "+48600000004", account=box.garden, sim=GARDEN_SIM,
                             pictures=(POSTER,))
    with box.sessions.begin() as session:
        contact = Contact(account_id=box.shop, msisdn="+48600000001")
        session.add(contact)
        session.flush()
        session.add(GroupMember(group_id=box.group, contact_id=contact.id, message_id=older))
    old_text, young_text = box.text(JUST_OLDER, "delivered", account=box.shop), box.text(JUST_YOUNGER, "sent",
                                                                                          account=box.shop)
    waiting = box.text(NOW - timedelta(days=90), "queued", account=box.shop)
    with box.sessions() as session:
        files = {row.name: (row.sha256, row.thumbnail_sha256) for row in session.scalars(
            select(Attachment).where(Attachment.message_id == older))}
        counts_before = summary(session)
    assert all(box.store.exists(sha) for pair in files.values() for sha in pair)

    purged = purge_expired(box.sessions, box.store, now=NOW)

    assert box.ids(Message) == {exactly, younger, garden_old}
    assert box.ids(OutboundSms) == {young_text, waiting}  # a queued text is never purged, however old
    assert old_text not in box.ids(OutboundSms) and len(box.ids(StatusReport)) == 2
    poster, poster_thumbnail = files["p0.png"]
    old_only, old_only_thumbnail = files["p1.png"]
    assert box.store.exists(poster) and box.store.exists(poster_thumbnail)  # still the younger message's
    assert not box.store.exists(old_only) and not box.store.exists(old_only_thumbnail)
    with box.sessions() as session:
        assert set(session.scalars(select(SmsPart.message_id))) == {exactly, younger, garden_old}
        for model in (PollVote, ContestEntry, AutoReply, Delivery):
            assert set(session.scalars(select(model.message_id))) == {exactly, younger}, model
        assert session.scalar(select(func.count()).select_from(DeliveryAttempt)) == 2
        assert set(session.scalars(select(MmsTransfer.message_id))) == {younger, garden_old}
        membership = session.scalars(select(GroupMember)).one()
        assert membership.message_id is None  # the contact stays in the group; only the link went
        assert summary(session) == counts_before  # statistics keep counting what was received
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.purge")).one()
    assert entry.actor == SYSTEM and entry.target == f"account {box.shop} (Kwiaciarnia)"
    assert entry.details is not None and entry.details["messages"] == 1 and entry.details["outbound_sms"] == 1
    assert entry.details["files"] == 3 and entry.details["days"] == DAYS  # picture, its thumbnail, the raw MMS
    assert purged == {f"account {box.shop} (Kwiaciarnia)": {key: value for key, value in entry.details.items()
                                                  if key not in ("days", "before")}}

    assert purge_expired(box.sessions, box.store, now=NOW) == {}  # nothing more, and no empty audit entry
    with box.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "retention.purge")) == 1


def test_a_message_still_being_forwarded_waits_for_its_forward(box: Box) -> None:
    retrying = box.message(NOW - timedelta(days=60), "+48600000001", account=box.shop, delivery="pending")
    done = box.message(NOW - timedelta(days=60), "+48600000002", account=box.shop, delivery="dead")

    purge_expired(box.sessions, box.store, now=NOW)

    assert box.ids(Message) == {retrying}
    assert done not in box.ids(Message)


def test_messages_without_an_account_follow_the_shortest_retention_on_their_number(box: Box) -> None:
    shared_old = box.message(JUST_OLDER, "+48600000005", account=None, sim=SHARED_SIM)
    shared_young = box.message(JUST_YOUNGER, "+48600000006", account=None, sim=SHARED_SIM)
    garden_unmatched = box.message(NOW - timedelta(days=400), "+48600000007", account=None, sim=GARDEN_SIM)
    box_text_old = box.text(JUST_OLDER, "delivered", account=None, sim=SHARED_SIM)
    box_text_garden = box.text(JUST_OLDER, "delivered", account=None, sim=GARDEN_SIM)

    purged = purge_expired(box.sessions, box.store, now=NOW)

    assert shared_old not in box.ids(Message)  # the shop (30 days) has a keyword on the shared number
    assert {shared_young, garden_unmatched} <= box.ids(Message)  # only the garden (forever) on its number
    assert box.ids(OutboundSms) == {box_text_garden} and box_text_old not in box.ids(OutboundSms)
    assert list(purged) == [f"messages without an account on access number {box.shared}"]


def test_no_retention_set_keeps_everything(box: Box) -> None:
    with box.sessions.begin() as session:
        shop = session.get(Account, box.shop)
        assert shop is not None
        shop.retention_days = None
    old = box.message(NOW - timedelta(days=3000), "+48600000001", account=box.shop, pictures=(OLD_ONLY,))

    assert purge_expired(box.sessions, box.store, now=NOW) == {}
    assert box.ids(Message) == {old}
