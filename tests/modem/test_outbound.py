"""Outbound SMS: queued per SIM, sent by its modem session as PDUs, followed to the delivery report."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import OutboundSms
from appliance.modem.outbound import OutboundError, OutboundQueue, enqueue_sms, withdraw
from appliance.modem.session import ModemSession
from tests.modem.test_session import Rig, wait_for

GAMMU_DECODE = Path(__file__).parents[1] / "support" / "gammu_decode.py"
POLISH_400 = ("Szanowni Państwo, dziękujemy za zamówienie nr 4711. Przesyłka zostanie wysłana jutro "
              "rano kurierem; prosimy o przygotowanie kwoty 259,99 zł. Źdźbło, gęś, łąka, żółw, ćma — "
              "wszystkie polskie znaki: ąćęłńóśźż ĄĆĘŁŃÓŚŹŻ. W razie pytań prosimy o kontakt pod "
              "numerem 22 123 45 67 od poniedziałku do piątku w godzinach 8-16. Pozdrawiamy serdecznie, "
              "Zespół Obsługi Klienta sklepu internetowego Ogrodnik w Krakowie.")[:400]


@pytest.fixture
def rig(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[Rig]:
    rig = Rig(tmp_path, session_factory)
    yield rig
    rig.stop()


def sending_session(rig: Rig, modem_id: int = 1) -> ModemSession:
    return rig.session(modem_id, outbound=OutboundQueue(rig.sessions), send_interval=0.05)


def queue(rig: Rig, session: ModemSession, to: str, text: str) -> int:
    with rig.sessions.begin() as db:
        outbound_id = enqueue_sms(db, session.status.iccid or "", to, text).id
    session.wake()
    return outbound_id


def outbound(rig: Rig, outbound_id: int) -> OutboundSms:
    with rig.sessions() as db:
        row = db.get(OutboundSms, outbound_id)
        assert row is not None
        row.parts  # noqa: B018 - loaded while the session is open
        return row


def gammu_reads(pdus: list[str]) -> dict[str, object]:
    result = subprocess.run(["/usr/bin/python3", str(GAMMU_DECODE)], input=json.dumps(pdus),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"Debian's python3-gammu is needed (CI installs it): {result.stderr}"
    return json.loads(result.stdout)


def test_a_400_character_polish_text_goes_out_as_one_ucs2_concatenated_set(rig: Rig) -> None:
    assert len(POLISH_400) == 400
    rig.emulator.add_modem("quectel")
    session = sending_session(rig)
    outbound_id = queue(rig, session, "+48600100200", POLISH_400)
    wait_for(lambda: outbound(rig, outbound_id).status in ("sent", "delivered"), what="the text sent")
    sent = rig.emulator.sent(1)
    assert len(sent) == 6  # 400 UCS-2 characters, 67 per part
    decoded = gammu_reads([item["pdu"] for item in sent])
    assert decoded["sets"] == 1 and decoded["text"] == POLISH_400
    assert {p["number"] for p in decoded["parts"]} == {"+48600100200"}  # type: ignore[index, union-attr]
    assert {p["udh_type"] for p in decoded["parts"]} == {"ConcatenatedMessages"}  # type: ignore[index, union-attr]


def test_a_delivery_report_marks_the_text_delivered(rig: Rig) -> None:
    rig.emulator.add_modem("simcom")
    session = sending_session(rig)
    outbound_id = queue(rig, session, "+48600100200", "Twoje zamówienie jest gotowe do odbioru.")
    wait_for(lambda: outbound(rig, outbound_id).status == "delivered", what="the delivery report")
    [part] = outbound(rig, outbound_id).parts
    assert part.status == "delivered" and part.report_status == 0
    assert part.message_reference == rig.emulator.sent(1)[0]["message_reference"]


def test_a_failed_delivery_report_marks_the_text_failed(rig: Rig) -> None:
    rig.emulator.add_modem("huawei")
    session = sending_session(rig)
    rig.emulator.fault(1, "report_status", status=0x46)  # TS 23.040: 0x46 SM validity period expired
    outbound_id = queue(rig, session, "+48600100200", "nie dotrze")
    wait_for(lambda: outbound(rig, outbound_id).status == "failed", what="the failure report")
    assert outbound(rig, outbound_id).parts[0].report_status == 0x46


def test_a_refused_submit_is_retried_with_backoff(rig: Rig) -> None:
    rig.emulator.add_modem("quectel")
    session = sending_session(rig)
    rig.emulator.fault(1, "send_error", code=500, count=1)
    outbound_id = queue(rig, session, "+48600100200", "za drugim razem")
    wait_for(lambda: outbound(rig, outbound_id).status in ("sent", "delivered"), timeout=30,
             what="the retry to succeed")
    row = outbound(rig, outbound_id)
    assert row.attempts == 2 and len(rig.emulator.sent(1)) == 1


def test_a_permanent_error_is_not_retried(rig: Rig) -> None:
    rig.emulator.add_modem("simcom")
    session = sending_session(rig)
    rig.emulator.fault(1, "send_error", code=21, count=5)  # RP cause 21: short message transfer rejected
    outbound_id = queue(rig, session, "+48600100200", "odrzucona")
    wait_for(lambda: outbound(rig, outbound_id).status == "failed", what="the permanent failure")
    row = outbound(rig, outbound_id)
    assert row.attempts == 1 and "CMS ERROR: 21" in (row.last_error or "")


def test_texts_leave_one_sim_at_its_paced_rate_in_order(rig: Rig) -> None:
    rig.emulator.add_modem("huawei")
    session = rig.session(1, outbound=OutboundQueue(rig.sessions), send_interval=0.3)
    ids = [queue(rig, session, "+48600100200", f"wiadomość {n}") for n in range(4)]
    started = time.monotonic()
    wait_for(lambda: all(outbound(rig, i).status in ("sent", "delivered") for i in ids), what="all four sent")
    assert time.monotonic() - started >= 0.9  # three pauses between four submits
    assert [item["text"] for item in rig.emulator.sent(1)] == [f"wiadomość {n}" for n in range(4)]


def test_a_text_interrupted_by_a_crash_is_queued_again_without_resending_sent_parts(
        session_factory: sessionmaker[Session]) -> None:
    queue_ = OutboundQueue(session_factory)
    with session_factory.begin() as db:
        outbound_id = enqueue_sms(db, "8948000000000000001", "+48600100200", "x" * 300).id
    claimed = queue_.claim_next("8948000000000000001")
    assert claimed is not None and len(claimed.parts) == 2
    queue_.part_sent(claimed.parts[0].id, 17)
    assert queue_.recover_interrupted() == 1  # the process died here
    again = queue_.claim_next("8948000000000000001")
    assert again is not None and again.id == outbound_id
    assert [p.sequence for p in again.parts] == [2]


@pytest.mark.parametrize(("to", "text", "message"), [
    ("", "x", "not a phone number"), ("ALLEGRO", "x", "not a phone number"), ("+48600100200", "", "empty"),
])
def test_bad_texts_are_refused_when_queued(session_factory: sessionmaker[Session], to: str, text: str,
                                           message: str) -> None:
    with session_factory.begin() as db, pytest.raises(OutboundError, match=message):
        enqueue_sms(db, "8948000000000000001", to, text)


def test_only_texts_no_modem_has_tried_are_withdrawn_and_a_withdrawn_text_is_never_claimed(
        session_factory: sessionmaker[Session]) -> None:
    iccid = "8948000000000000001"
    with session_factory.begin() as db:
        ids = [enqueue_sms(db, iccid, f"+4860010020{n}", "Promocja").id for n in range(3)]
    queue_ = OutboundQueue(session_factory)
    claimed = queue_.claim_next(iccid)  # a modem takes the first
    assert claimed is not None and claimed.id == ids[0]
    queue_.send_failed(ids[0], "+CMS ERROR: 38", permanent=False)  # tried once, back in the queue

    with session_factory.begin() as db:
        assert withdraw(db, select(OutboundSms.id).where(OutboundSms.id.in_(ids))) == 2

    with session_factory() as db:
        statuses = dict(db.execute(select(OutboundSms.id, OutboundSms.status)).all())
    assert statuses == {ids[0]: "queued", ids[1]: "cancelled", ids[2]: "cancelled"}
    assert queue_.claim_next(iccid, now=datetime.now(UTC) + timedelta(hours=1)).id == ids[0]
    assert queue_.claim_next(iccid, now=datetime.now(UTC) + timedelta(hours=1)) is None
