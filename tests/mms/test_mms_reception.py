"""MMS end to end through the emulator: WAP push by SMS, fetch through the operator's proxy, parts kept."""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.attachments import AttachmentStore
from appliance.codecs.mms import encode_retrieve_conf
from appliance.config import Settings
from appliance.db.models import (
    AccessNumber,
    Account,
    Attachment,
    AutoReply,
    Autoresponder,
    Message,
    MmsTransfer,
)
from appliance.mms.bearer import LanBearer, MmsBearer, ModemBearer
from appliance.mms.fetch import HttpTransport, MmsFetcher
from appliance.modem.session import ModemSession
from appliance.web import create_app
from appliance.web.tokens import create_token
from tests.modem.test_session import Rig, wait_for

SUBJECT = "Zdjęcie z ogrodu 🌻 żółć"
TEXT = "Zamawiam róże 🌹 i tulipany, dostawa jutro"
VCARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jan Kowalski\r\nTEL;TYPE=CELL:+48600100200\r\nEND:VCARD\r\n"


def email_address(length: int) -> str:
    """A plausible e-mail address of exactly ``length`` characters."""
    local, tail = "zamowienia.sklep@", ".example.pl"
    labels = "poczta." * ((length - len(local) - len(tail)) // 7)
    address = local + labels + "x" * (length - len(local) - len(labels) - len(tail)) + tail
    assert len(address) == length
    return address


def jpeg_of_about(size: int) -> bytes:
    """A real JPEG (noise compresses badly) of roughly ``size`` bytes."""
    rng = random.Random(1)
    side = 360
    while True:
        image = Image.frombytes("RGB", (side, side), bytes(rng.getrandbits(8) for _ in range(side * side * 3)))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        if out.tell() >= size:
            return out.getvalue()
        side += 60


AMR = b"#!AMR\n" + bytes(random.Random(2).getrandbits(8) for _ in range(4000))


class MmsRig(Rig):
    """A modem with an Orange SIM, its dedicated access number, and an MMS fetcher.

    ``bearer="lan"``: the fetcher reaches the fake MMSC's proxy on 127.0.0.1. ``bearer="modem"``: the
    emulator runs its operator network and the access number has Orange's published settings (APN
    mms, user mms/mms, proxy 192.168.6.104:8080), reachable only over the SIM's data call.
    """

    def __init__(self, tmp_path: Path, session_factory: sessionmaker[Session], *, notify: bool = True,
                 personality: str = "huawei", bearer: str = "lan", timeout: float = 1.5,
                 **access: object) -> None:
        super().__init__(tmp_path, session_factory)
        self.emulator.start_mmsc()
        fetch_bearer: MmsBearer = LanBearer()
        settings: dict[str, object] = {"mms_proxy": self.emulator.mmsc.describe()["proxy"]}
        if bearer == "modem":
            network = self.emulator.start_operator_network()
            interfaces = {str(self.emulator.state_dir / f"ttyEMU{n}"): network.interface(n) for n in range(1, 9)}
            fetch_bearer = ModemBearer(self.session_for_sim, interfaces)
            settings = {"mms_proxy": "192.168.6.104:8080", "mms_apn": "mms", "mms_apn_user": "mms",
                        "mms_apn_password": "mms"}
        self.modem = self.emulator.add_modem(personality)
        described = self.emulator.mmsc.describe()
        self.iccid = str(self.modem.info()["iccid"])
        with session_factory.begin() as session:
            session.add(AccessNumber(**{"number": "+48500100100", "iccid": self.iccid, "kind": "dedicated",
                                        "mms_enabled": True,
                                        "mmsc_url": described["operators"]["26003"] if notify else None,
                                        **settings, **access}))
        self.store = AttachmentStore(tmp_path / "data")
        self.fetcher = MmsFetcher(session_factory, self.store, HttpTransport(timeout=timeout),
                                  fetch_bearer, first_retry=timedelta(seconds=0.3), check_seconds=0.2)
        self.fetcher.start()
        self.session(1)

    def session_for_sim(self, iccid: str) -> ModemSession | None:
        return next((s for s in self.modem_sessions if s.status.iccid == iccid), None)

    def mms(self) -> list[Message]:
        with self.sessions() as session:
            return list(session.scalars(select(Message).where(Message.kind == "mms").order_by(Message.id)))

    def transfer(self) -> MmsTransfer | None:
        with self.sessions() as session:
            return session.scalar(select(MmsTransfer))

    def settled(self, status: str, timeout: float = 20) -> Message:
        wait_for(lambda: [m.status for m in self.mms()] == [status], timeout=timeout, what=f"one MMS {status}")
        return self.mms()[0]

    def stop(self) -> None:
        self.fetcher.stop()
        super().stop()


@pytest.fixture
def rig(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[MmsRig]:
    rig = MmsRig(tmp_path, session_factory)
    yield rig
    rig.stop()


def test_an_mms_arrives_with_every_part_byte_identical(rig: MmsRig, database_url: str, tmp_path: Path) -> None:
    photo = jpeg_of_about(300_000)
    posted = [("image/jpeg", "ogrod.jpg", photo), ("text/plain", "tekst.txt", TEXT.encode(), "utf-8"),
              ("text/x-vcard", "jan.vcf", VCARD), ("audio/amr", "glos.amr", AMR)]
    rig.emulator.deliver_mms(1, "+48600100200", posted, subject=SUBJECT)
    message = rig.settled("unmatched")
    assert (message.sender, message.subject, message.text) == ("+48600100200", SUBJECT, TEXT)
    with rig.sessions() as session:
        attachments = list(session.scalars(select(Attachment).where(Attachment.message_id == message.id)))
    stored = {a.name: rig.store.read(a.sha256) for a in attachments}
    for _, name, data, *_ in posted:
        assert stored[name] == data, f"{name} differs"
    assert next(a for a in attachments if a.name == "ogrod.jpg").thumbnail_sha256
    wait_for(lambda: ("m-notifyresp-ind", "retrieved") in [(e["type"], e["status"]) for e in rig.emulator.mms_log(1)],
             what="the MMSC to hear the NotifyResp")

    app = create_app(Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="x"), rig.sessions)
    app.extensions["appliance.attachments"] = rig.store
    with rig.sessions.begin() as session:
        token = create_token(session, "t")
    client = app.test_client()
    body = client.get(f"/api/v1/messages/{message.id}", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body["kind"] == "mms" and body["subject"] == SUBJECT and body["access_number"] == "+48500100100"
    photo_json = next(a for a in body["attachments"] if a["name"] == "ogrod.jpg")
    assert photo_json["size"] == len(photo) and photo_json["url"].startswith("http://localhost/")
    download = client.get(photo_json["url"], headers={"Authorization": f"Bearer {token}"})
    assert download.data == photo and download.headers["X-Content-Type-Options"] == "nosniff"


def test_a_repeated_notification_stores_the_mms_once(tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
    rig = MmsRig(tmp_path, session_factory, notify=False)  # no NotifyResp reaches the MMSC
    try:
        # Over a second apart, so the SMSC timestamps differ and the SMS-level dedupe does not hide
        # the repeats: the transaction id has to catch them.
        rig.emulator.fault(1, "mms_redeliver", seconds=1.2, count=2)
        rig.emulator.deliver_mms(1, "+48600100200", [("text/plain", "a.txt", b"raz", "utf-8")])
        wait_for(lambda: [e["status"] for e in rig.emulator.mms_log(1)].count("resent") == 2, timeout=20,
                 what="two repeated notifications")
        wait_for(lambda: (t := rig.transfer()) is not None and t.notified == 3, what="each repeat to be seen")
        rig.settled("unmatched")
        assert len(rig.mms()) == 1
    finally:
        rig.stop()


def test_a_notification_repeated_after_the_fetch_does_not_act_again(
        tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        account = Account(name="Fotokonkurs")
        session.add(account)
        session.flush()
        session.add(Autoresponder(account_id=account.id, text="Dziękujemy za zdjęcie!", max_per_sender=10))
        account_id = account.id
    rig = MmsRig(tmp_path, session_factory, notify=False, account_id=account_id)  # no NotifyResp: repeats
    try:
        rig.emulator.fault(1, "mms_redeliver", seconds=1.2, count=2)
        rig.emulator.deliver_mms(1, "+48600100200", [("text/plain", "a.txt", b"moje zdjecie", "utf-8")])
        rig.settled("routed")
        wait_for(lambda: (t := rig.transfer()) is not None and t.notified == 3, timeout=20,
                 what="both repeats to arrive after the fetch")
        with rig.sessions() as session:
            replies = session.scalars(select(AutoReply.recipient)).all()
        assert replies == ["+48600100200"]
    finally:
        rig.stop()


def test_an_expired_notification_is_marked_expired(rig: MmsRig) -> None:
    rig.emulator.fault(1, "mms_expired")
    rig.emulator.deliver_mms(1, "+48600100200", [("text/plain", "a.txt", b"za pozno", "utf-8")])
    message = rig.settled("expired")
    assert "expired" in (message.error or "")


def test_an_mmsc_that_answers_404_fails_the_mms_with_the_reason(rig: MmsRig) -> None:
    rig.emulator.fault(1, "mmsc_status", status=404, count=None)
    rig.emulator.deliver_mms(1, "+48600100200", [("text/plain", "a.txt", b"nie ma", "utf-8")])
    message = rig.settled("failed")
    transfer = rig.transfer()
    assert "404" in (message.error or "") and transfer is not None and transfer.attempts == 1


@pytest.mark.parametrize("fault", [{"kind": "mmsc_status", "status": 500, "count": 2},
                                   {"kind": "mmsc_timeout", "seconds": 3, "count": 1},
                                   {"kind": "mmsc_truncate", "bytes": 100, "count": 1}])
def test_passing_mmsc_trouble_is_retried_until_the_mms_is_fetched(rig: MmsRig, fault: dict[str, object]) -> None:
    rig.emulator.fault(1, **fault)
    rig.emulator.deliver_mms(1, "+48600100200", [("text/plain", "a.txt", b"w koncu", "utf-8")])
    message = rig.settled("unmatched", timeout=30)
    transfer = rig.transfer()
    assert message.text == "w koncu" and transfer is not None and transfer.attempts >= 2


@pytest.mark.parametrize("raw", [
    b"\x00garbage that is no MMS at all" * 10,
    encode_retrieve_conf("+48600100200", ["+48500100100"], "x", [("text/plain", "a.txt", b"abc" * 50, "utf-8")],
                         datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "id-1")[:60],
    # A From longer than the sender column (254, the longest e-mail address): PostgreSQL would refuse
    # the row and the fetch fail again until the MMS expired (found by fuzz/mms.py).
    encode_retrieve_conf(email_address(255), ["+48500100100"], "x", [("text/plain", "a.txt", b"abc", "utf-8")],
                         datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "id-1"),
], ids=["garbage", "cut-short", "long-sender"])
def test_mms_bytes_that_do_not_decode_are_kept_and_the_mms_marked_undecodable(rig: MmsRig, raw: bytes) -> None:
    rig.emulator.deliver_mms_raw(1, raw, "+48600100200")
    message = rig.settled("undecodable")
    assert "does not decode" in (message.error or "")
    transfer = rig.transfer()
    assert transfer is not None and transfer.raw_sha256 and rig.store.read(transfer.raw_sha256) == raw
    wait_for(lambda: ("m-notifyresp-ind", "unrecognised") in [(e["type"], e["status"])
                                                              for e in rig.emulator.mms_log(1)],
             what="the MMSC to hear the NotifyResp")


def test_a_wap_push_that_is_not_an_mms_is_kept_not_shown_as_garbage(rig: MmsRig) -> None:
    from appliance.codecs.sms_pdu import PortAddress, encode_sms_deliver_data
    from appliance.codecs.wsp import encode_push

    push = encode_push(7, "application/vnd.wap.sic", body=b"\x02\x05\x6a\x00")
    for pdu in encode_sms_deliver_data("+48601000310", push, _now(), ports=PortAddress(2948, 9200, 16)):
        rig.emulator.deliver_pdu(1, pdu.hex())
    wait_for(lambda: rig.messages(), what="the push to be stored")
    [message] = rig.messages()
    assert message.text is None and "application/vnd.wap.sic" in (message.error or "")
    time.sleep(0.3)
    assert rig.mms() == []


def _now() -> datetime:
    return datetime.now().astimezone()


def test_an_mms_on_a_dedicated_number_is_routed_to_its_owner(rig: MmsRig) -> None:
    from appliance.db.models import Account

    with rig.sessions.begin() as session:
        owner = Account(name="Fotokonkurs")
        session.add(owner)
        session.flush()
        number = session.scalar(select(AccessNumber).where(AccessNumber.iccid == rig.iccid))
        assert number is not None
        number.account_id = owner.id
        owner_id = owner.id
    rig.emulator.deliver_mms(1, "+48600100200", [("image/jpeg", "a.jpg", jpeg_of_about(1000))], subject="Zgłoszenie")
    message = rig.settled("routed")
    assert (message.account_id, message.route_reason) == (owner_id, "owner")


def test_an_mms_a_killed_run_was_fetching_is_fetched_at_the_next_start_not_minutes_later(
        rig: MmsRig, tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
    rig.fetcher.stop()
    rig.emulator.deliver_mms(1, "+48600100200", [("text/plain", "a.txt", b"po restarcie", "utf-8")])
    wait_for(lambda: rig.transfer() is not None, what="the notification stored")
    with session_factory.begin() as session:  # what a run killed during the fetch leaves: its lease
        transfer = session.scalar(select(MmsTransfer))
        transfer.attempts, transfer.next_attempt_at = 1, datetime.now(UTC) + timedelta(minutes=5)

    rig.fetcher = MmsFetcher(session_factory, rig.store, HttpTransport(timeout=1.5), LanBearer(),
                             first_retry=timedelta(seconds=0.3), check_seconds=0.2)
    assert rig.fetcher.recover_interrupted() == 1
    rig.fetcher.start()

    message = rig.settled("unmatched", timeout=10)
    assert message.text == "po restarcie"


def test_an_mms_fetched_but_not_storable_here_is_retried_soon_and_then_stored(
        rig: MmsRig, tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
    """A full disk when the parts are written once left the transfer on its five-minute lease."""
    rig.fetcher.stop()
    blocked = tmp_path / "blocked"
    blocked.write_bytes(b"")  # a file where the attachment store wants its directory: every write fails
    rig.fetcher = MmsFetcher(session_factory, AttachmentStore(blocked), HttpTransport(timeout=1.5), LanBearer(),
                             first_retry=timedelta(seconds=30), check_seconds=0.2)
    rig.fetcher.start()
    rig.emulator.deliver_mms(1, "+48600100200", [("text/plain", "a.txt", b"kiedy jest miejsce", "utf-8")])
    wait_for(lambda: (transfer := rig.transfer()) is not None and transfer.last_error is not None,
             what="the first attempt recorded")
    transfer = rig.transfer()
    assert transfer is not None and (transfer.status, transfer.attempts) == ("pending", 1)
    assert "fetched but not stored" in (transfer.last_error or "")
    assert transfer.next_attempt_at < datetime.now(UTC) + timedelta(seconds=40)  # the retry, not the lease

    blocked.unlink()
    with session_factory.begin() as session:  # the retry's time, brought forward
        session.scalar(select(MmsTransfer)).next_attempt_at = datetime.now(UTC)
    message = rig.settled("unmatched", timeout=10)
    assert message.text == "kiedy jest miejsce"
