"""Erasing a phone number leaves no row and no file that mentions it, and nothing of anyone else goes.

The traffic is real: SMS in GSM 7-bit and UCS-2, a concatenated set, a sender with a national number,
MMS fetched from the emulator's MMSC, keywords voting, entering a contest and joining a group, an
autoresponder answering over the air with delivery reports coming back, a webhook and an SMS forward
delivered, a group send and a contest draw. Then the number is erased through the API, and the whole
database (SQLite: its dump and the file bytes; PostgreSQL: pg_dump) and the attachment store are
searched for it in every form: +48…, 48…, 0048…, the national nine digits, the swapped semi-octets of
a PDU, its ASCII hex (MMS headers) and UCS-2.
"""

from __future__ import annotations

import io
import json
import secrets
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import MetaData, func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.attachments import AttachmentStore
from appliance.campaigns.group_send import GroupSender
from appliance.config import Settings
from appliance.db.models import (
    AccessNumber,
    Account,
    Attachment,
    AuditEntry,
    Autoresponder,
    Contact,
    Contest,
    ContestEntry,
    Delivery,
    ForwardTarget,
    Group,
    GroupMember,
    GroupSend,
    Keyword,
    Message,
    OutboundSms,
    Poll,
    PollVote,
    StatisticsContestDay,
    StatisticsDay,
    StatisticsPollDay,
    StatusReport,
)
from appliance.delivery.channels import WebhookChannel
from appliance.delivery.outbox import OutboxWorker
from appliance.delivery.sms_forward import SmsChannel
from appliance.erasure import number_forms
from appliance.mms.bearer import LanBearer
from appliance.mms.fetch import HttpTransport, MmsFetcher
from appliance.modem.outbound import OutboundQueue
from appliance.modem.session import ModemSession
from appliance.web import create_app
from appliance.web.tokens import create_token
from tests.modem.test_session import Rig, wait_for
from tests.support.http_receiver import HttpReceiver

ERASED, OTHER, OWNER = "+48601234567", "+48602765432", "+48700800900"
NATIONAL = "601234567"


def picture(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()


SHARED_PICTURE = picture((200, 30, 30))  # the same contest poster, sent by both


class ShopRig(Rig):
    """A flower shop on a dedicated MMS number: a poll, a contest, a newsletter group, an autoresponder,
    a webhook and an SMS forward to the owner's phone, and a modem session that sends."""

    def __init__(self, tmp_path: Path, sessions: sessionmaker[Session], webhook_url: str) -> None:
        super().__init__(tmp_path, sessions)
        self.emulator.start_mmsc()
        self.modem = self.emulator.add_modem("huawei")
        info = self.modem.info()
        self.iccid = str(info["iccid"])
        described = self.emulator.mmsc.describe()
        with sessions.begin() as session:
            shop = Account(name="Kwiaciarnia")
            session.add(shop)
            session.flush()
            number = AccessNumber(number=str(info["msisdn"]), iccid=self.iccid, kind="dedicated", account_id=shop.id,
                                  mms_enabled=True, mmsc_url=described["operators"]["26003"],
                                  mms_proxy=described["proxy"])
            poll = Poll(account_id=shop.id, question="Ulubiony kwiat?", confirmation="Dziękujemy za głos: {option}",
                        options=[{"code": "1", "label": "Róża"}, {"code": "2", "label": "Tulipan"}])
            contest = Contest(account_id=shop.id, name="Wiosna", answer="Łódź")
            group = Group(account_id=shop.id, name="Newsletter")
            session.add_all([number, poll, contest, group])
            session.flush()
            session.add_all([
                Keyword(access_number_id=number.id, account_id=shop.id, keyword="GLOS", mode="base",
                        actions=[{"type": "poll_vote", "poll": poll.id}]),
                Keyword(access_number_id=number.id, account_id=shop.id, keyword="KONKURS", mode="base",
                        actions=[{"type": "contest_entry", "contest": contest.id}]),
                Keyword(access_number_id=number.id, account_id=shop.id, keyword="ZAPISZ", mode="base",
                        actions=[{"type": "join_group", "group": group.id}]),
                Autoresponder(account_id=shop.id, text="Kwiaciarnia: dziękujemy, {sender}!", max_per_sender=20),
                ForwardTarget(account_id=shop.id, name="CRM", kind="url", address=webhook_url,
                              secret=secrets.token_urlsafe(16), download_token=secrets.token_urlsafe(16)),
                ForwardTarget(account_id=shop.id, name="Telefon właściciela", kind="sms", address=OWNER,
                              secret=secrets.token_urlsafe(16), download_token=secrets.token_urlsafe(16)),
            ])
            self.shop, self.number, self.contest, self.group = shop.id, number.id, contest.id, group.id
        self.store = AttachmentStore(tmp_path / "data")
        self.fetcher = MmsFetcher(sessions, self.store, HttpTransport(timeout=2.0), LanBearer(),
                                  first_retry=timedelta(seconds=0.3), check_seconds=0.2)
        self.fetcher.start()
        self.sender: ModemSession = self.session(1, outbound=OutboundQueue(sessions), send_interval=0.05)
        self.outbox = OutboxWorker(sessions, {"url": WebhookChannel(tmp_path / "ca"),
                                              "sms": SmsChannel(sessions, lambda _iccid: self.sender.wake())},
                                   "http://appliance.test/", check_seconds=0.1, first_retry=timedelta(seconds=0.2))
        self.outbox.start()

    def count(self, query) -> int:  # type: ignore[no-untyped-def]
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(query.subquery())) or 0

    def settled(self) -> bool:
        """Every MMS fetched, every forward done, every text sent, and the texts to the number to be
        erased reported delivered (their reports name it)."""
        self.sender.wake()  # a text queued while the session was busy would wait for its next poll
        return (self.count(select(Message.id).where(Message.status.notin_(("routed", "unmatched")))) == 0
                and self.count(select(Delivery.id).where(Delivery.status != "delivered")) == 0
                and self.count(select(OutboundSms.id).where(OutboundSms.status.notin_(("sent", "delivered")))) == 0
                and self.count(select(OutboundSms.id).where(OutboundSms.recipient.in_((ERASED, NATIONAL)),
                                                            OutboundSms.status != "delivered")) == 0)

    def wait_until_settled(self) -> None:
        """:meth:`settled` within 90 s, or a failure that lists what is still pending."""
        try:
            wait_for(self.settled, timeout=90, what="MMS fetched, forwards delivered and texts reported delivered")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; messages, deliveries, texts: {self.unsettled()}") from None

    def unsettled(self) -> str:
        with self.sessions() as session:
            return repr([session.execute(select(Message.id, Message.status)).all(),
                         session.execute(select(Delivery.id, Delivery.status, Delivery.last_error)).all(),
                         session.execute(select(OutboundSms.id, OutboundSms.recipient, OutboundSms.status,
                                                OutboundSms.last_error)).all()])

    def stop(self) -> None:
        self.outbox.stop()
        self.fetcher.stop()
        super().stop()


@pytest.fixture
def shop(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[tuple[ShopRig, HttpReceiver]]:
    with HttpReceiver() as receiver:
        rig = ShopRig(tmp_path, session_factory, receiver.url)
        try:
            yield rig, receiver
        finally:
            rig.stop()


def traffic(rig: ShopRig) -> None:
    for sender in (ERASED, OTHER):
        rig.emulator.deliver_sms(1, sender, "glos 1")  # GSM 7-bit
        rig.emulator.deliver_sms(1, sender, "KONKURS Łódź 🌹")  # UCS-2
        rig.emulator.deliver_sms(1, sender, "ZAPISZ " + "proszę o wiadomości o promocjach na róże, " * 5)  # 4 parts
        rig.emulator.deliver_mms(1, sender, [("image/png", "plakat.png", SHARED_PICTURE),
                                             ("image/png", "moje.png", picture((0, 90, 0) if sender == ERASED
                                                                               else (0, 0, 90))),
                                             ("text/plain", "t.txt", f"Zdjęcie od {sender}".encode(), "utf-8")],
                                 subject="Konkurs")
    rig.emulator.deliver_sms(1, NATIONAL, "dzień dobry, to ja z numeru krajowego")
    wait_for(lambda: rig.count(select(Message.id)) == 9, timeout=60, what="nine messages stored")


def snapshot(session: Session, sender: str) -> dict[str, object]:
    """What the box holds about ``sender``, to compare before and after another number's erasure."""
    messages = session.scalars(select(Message.id).where(Message.sender == sender).order_by(Message.id)).all()
    return {
        "messages": list(messages),
        "attachments": session.execute(select(Attachment.id, Attachment.sha256).where(
            Attachment.message_id.in_(messages)).order_by(Attachment.id)).all(),
        "texts": session.execute(select(OutboundSms.id, OutboundSms.text).where(
            (OutboundSms.recipient == sender) | OutboundSms.text.contains(sender)).order_by(OutboundSms.id)).all(),
        "contacts": session.scalars(select(Contact.id).where(Contact.msisdn == sender)).all(),
        "members": session.scalars(select(GroupMember.id).join(Contact).where(Contact.msisdn == sender)).all(),
        "votes": session.scalars(select(PollVote.id).where(PollVote.msisdn == sender)).all(),
        "entries": session.scalars(select(ContestEntry.id).where(ContestEntry.msisdn == sender)).all(),
        "deliveries": session.scalars(select(Delivery.id).where(Delivery.message_id.in_(messages))).all(),
        "reports": session.scalars(select(StatusReport.id).where(StatusReport.recipient == sender)).all(),
    }


def statistics(session: Session) -> list[list[tuple[object, ...]]]:
    """The summary's counts (its sender memory aside, which an erasure must drop)."""
    tables = [model.__table__ for model in (StatisticsDay, StatisticsPollDay, StatisticsContestDay)]
    return [[tuple(row) for row in session.execute(table.select().order_by(*table.primary_key.columns))]
            for table in tables]


def database_dump(database_url: str, session_factory: sessionmaker[Session]) -> bytes:
    """Every byte the database would give away: SQLite's SQL dump and its files; PostgreSQL's pg_dump
    (or, without pg_dump, every row of every table)."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        with sqlite3.connect(path) as connection:
            dump = "\n".join(connection.iterdump()).encode()
        files = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        return dump + files
    url = database_url.replace("+psycopg", "")
    try:
        return subprocess.run(["pg_dump", "--data-only", url], check=True, capture_output=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        metadata = MetaData()
        with session_factory() as session:
            metadata.reflect(session.get_bind())
            return "\n".join(repr(row) for table in metadata.sorted_tables
                             for row in session.execute(table.select())).encode()


def mentions(blob: bytes, number: str) -> list[str]:
    forms = number_forms(number)
    needles = {text.encode() for text in forms.texts}
    needles |= {form.encode() for form in forms.pdu_hex} | {form.lower().encode() for form in forms.pdu_hex}
    needles |= {bytes.fromhex(form) for form in forms.pdu_hex}  # raw BCD, in a stored MMS or PDU
    needles |= {form.encode() for form in forms.ascii_hex} | {form.lower().encode() for form in forms.ascii_hex}
    needles |= {forms.core.encode("utf-16-be"), forms.core.encode("utf-16-be").hex().encode(),
                forms.core.encode("utf-16-be").hex().upper().encode()}
    return sorted(repr(needle) for needle in needles if needle in blob)


def store_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (root / "attachments").rglob("*") if p.is_file()}


def test_an_erased_number_is_in_no_row_and_no_file_and_nobody_elses_data_moves(
        shop: tuple[ShopRig, HttpReceiver], database_url: str, session_factory: sessionmaker[Session],
        tmp_path: Path) -> None:
    rig, receiver = shop
    traffic(rig)
    with session_factory.begin() as session:
        session.add(GroupSend(account_id=rig.shop, group_id=rig.group, access_number_id=rig.number,
                              text="Promocja: tulipany -20%"))
    GroupSender(session_factory).run_due()
    rig.sender.wake()
    rig.wait_until_settled()
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="x"), session_factory)
    app.extensions["appliance.attachments"] = rig.store
    with session_factory.begin() as session:
        token = create_token(session, "admin", admin=True)
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    draw = client.post(f"/api/v1/contests/{rig.contest}/draw", json={"winners": 2}, headers=headers)
    assert draw.status_code == 201 and sorted(draw.get_json()["winners"]) == [ERASED, OTHER]
    rig.stop()  # nothing may write while the database is searched
    with session_factory() as session:
        assert snapshot(session, ERASED)["votes"] and snapshot(session, ERASED)["entries"]
        other_before, statistics_before = snapshot(session, OTHER), statistics(session)
    files_before = store_files(tmp_path / "data")
    assert mentions(database_dump(database_url, session_factory), ERASED)  # the search finds it before
    assert any(mentions(data, ERASED) for data in files_before.values())  # the raw MMS names its sender

    answer = client.post("/api/v1/numbers/erase", json={"number": "+48 601 234 567"}, headers=headers)

    assert answer.status_code == 200, answer.get_json()
    erased = answer.get_json()["erased"]
    assert erased["messages"] == 5 and erased["contacts"] == 1 and erased["poll_votes"] == 1
    assert erased["contest_entries"] == 1 and erased["draw_winners"] == 1 and erased["files"] >= 2
    assert erased["outbound_sms"] >= 6 and erased["status_reports"] >= 6 and erased["deliveries"] == 10
    assert mentions(database_dump(database_url, session_factory), ERASED) == []
    files_after = store_files(tmp_path / "data")
    assert [name for name, data in files_after.items() if mentions(data, ERASED)] == []
    with session_factory() as session:
        assert snapshot(session, OTHER) == other_before
        assert statistics(session) == statistics_before  # statistics keep their counts
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "number.erase")).one()
        kept = session.scalars(select(Attachment.sha256).where(Attachment.message_id.in_(other_before["messages"])))
        assert all(sha256 in files_after for sha256 in kept)  # the poster both sent is still there
    assert entry.details is not None and entry.details["receipt"] == answer.get_json()["receipt"]
    assert entry.target == f"receipt {entry.details['receipt']}" and entry.actor == "token 'admin'"
    assert set(files_before) - set(files_after) and set(files_after) < set(files_before)


def test_an_export_holds_the_number_s_messages_texts_and_attachments(
        shop: tuple[ShopRig, HttpReceiver], database_url: str, session_factory: sessionmaker[Session],
        tmp_path: Path) -> None:
    rig, _ = shop
    traffic(rig)
    rig.wait_until_settled()
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="x"), session_factory)
    app.extensions["appliance.attachments"] = rig.store
    with session_factory.begin() as session:
        token = create_token(session, "admin", admin=True)

    answer = app.test_client().post("/api/v1/numbers/export", json={"number": "601 234 567"},
                                    headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    data = json.loads(archive.read("data.json"))
    assert data["number"] == ERASED
    assert {m["sender"] for m in data["messages_received"]} == {ERASED, NATIONAL}
    assert len(data["messages_received"]) == 5 and OTHER not in archive.read("data.json").decode()
    assert [v["option"] for v in data["poll_votes"]] == ["1"] and data["contest_entries"][0]["correct"] is True
    assert data["contacts"][0]["groups"] == ["Newsletter"]
    assert all(t["to"] in (ERASED, NATIONAL, OWNER) for t in data["texts_sent"]) and len(data["texts_sent"]) >= 6
    mms = next(m for m in data["messages_received"] if m["kind"] == "mms")
    poster = next(a for a in mms["attachments"] if a["name"] == "plakat.png")
    assert archive.read(poster["file"]) == SHARED_PICTURE
    with session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "number.export")).one()
    assert entry.details == {"messages": 5, "texts": len(data["texts_sent"]), "contacts": 1, "poll_votes": 1,
                             "contest_entries": 1, "files": len(mms["attachments"])}
    assert all(archive.read(a["file"]) for a in mms["attachments"])
