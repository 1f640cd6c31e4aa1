"""Specification of how raw PDUs become stored parts and messages (both database backends)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.codecs.sms_pdu import encode_sms_deliver
from appliance.db.models import Message, SmsPart, StatusReport
from appliance.reception.store import MessageStore, Outcome, ReceivedPdu

ICCID = "89480610001234567890"
WHEN = datetime(2026, 11, 25, 14, 30, 5, tzinfo=timezone(timedelta(hours=1)))
LONG_TEXT = "Zamówienie: " + "żółć gęślą jaźń " * 10  # UCS-2, three parts of 67 characters


@pytest.fixture
def store(session_factory: sessionmaker[Session]) -> MessageStore:
    return MessageStore(session_factory, partial_timeout=timedelta(hours=24))


def received(pdus: list[bytes], iccid: str = ICCID) -> list[ReceivedPdu]:
    return [ReceivedPdu(iccid=iccid, pdu=pdu, storage="SM", index=i) for i, pdu in enumerate(pdus)]


def messages(session_factory: sessionmaker[Session]) -> list[Message]:
    with session_factory() as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def test_a_single_sms_becomes_one_message_and_its_raw_pdu_is_kept(store, session_factory) -> None:
    pdu = encode_sms_deliver("+48600100200", "Dzień dobry §", WHEN)[0]
    [result] = store.store(received([pdu]))
    assert result.outcome is Outcome.STORED
    [message] = messages(session_factory)
    assert (message.sender, message.text, message.status) == ("+48600100200", "Dzień dobry §", "unmatched")
    assert message.smsc_time == WHEN.astimezone(UTC) and message.smsc_tz_minutes == 60
    with session_factory() as session:
        assert session.scalar(select(SmsPart.pdu_hex)) == pdu.hex().upper()


def test_reading_the_same_pdu_again_after_a_crash_stores_nothing_new(store, session_factory) -> None:
    pdu = encode_sms_deliver("+48600100200", "raz", WHEN)[0]
    store.store(received([pdu]))
    results = store.store(received([pdu, pdu]))
    assert [r.outcome for r in results] == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert len(messages(session_factory)) == 1


def test_the_same_pdu_twice_in_one_batch_is_stored_once(store, session_factory) -> None:
    pdu = encode_sms_deliver("+48600100200", "dwa", WHEN)[0]
    results = store.store(received([pdu, pdu]))
    assert [r.outcome for r in results] == [Outcome.STORED, Outcome.DUPLICATE]
    assert len(messages(session_factory)) == 1


def test_the_same_text_on_two_sims_is_two_messages(store, session_factory) -> None:
    pdu = encode_sms_deliver("+48600100200", "ten sam", WHEN)[0]
    store.store(received([pdu], iccid=ICCID))
    store.store(received([pdu], iccid="89480610009999999999"))
    assert len(messages(session_factory)) == 2


def test_multipart_sets_assemble_in_any_order_interleaved_with_others(store, session_factory) -> None:
    first = encode_sms_deliver("+48600100200", LONG_TEXT, WHEN, concat_reference=7)
    second = encode_sms_deliver("+48600100300", "B" * 400, WHEN, concat_reference=7)
    assert len(first) == 3 and len(second) == 3
    mixed = [first[2], second[1], first[0], second[0], second[2], first[1]]
    for pdu in mixed:  # one PDU per batch, as +CMTI announces them
        store.store(received([pdu]))
    texts = {m.sender: (m.text, m.status, m.parts_received) for m in messages(session_factory)}
    assert texts == {"+48600100200": (LONG_TEXT, "unmatched", 3), "+48600100300": ("B" * 400, "unmatched", 3)}


def test_an_incomplete_set_is_released_as_partial_after_the_timeout(store, session_factory) -> None:
    parts = encode_sms_deliver("+48600100200", LONG_TEXT, WHEN, concat_reference=9)
    store.store(received([parts[0], parts[2]]))
    assert messages(session_factory) == []
    assert store.release_stale_sets(now=datetime.now(UTC) + timedelta(hours=1)) == []
    [released] = store.release_stale_sets(now=datetime.now(UTC) + timedelta(hours=25))
    [message] = messages(session_factory)
    assert message.id == released and message.status == "partial"
    assert (message.parts_received, message.parts_total) == (2, 3)
    assert "[part 2 of 3 missing]" in message.text


def test_a_late_part_completes_the_partial_message(store, session_factory) -> None:
    parts = encode_sms_deliver("+48600100200", LONG_TEXT, WHEN, concat_reference=9)
    store.store(received([parts[0], parts[2]]))
    store.release_stale_sets(now=datetime.now(UTC) + timedelta(hours=25))
    [result] = store.store(received([parts[1]]))
    [message] = messages(session_factory)
    assert result.message_ids == (message.id,)
    assert (message.status, message.text) == ("unmatched", LONG_TEXT)


def test_a_reused_reference_releases_the_older_unfinished_set(store, session_factory) -> None:
    old = encode_sms_deliver("+48600100200", "A" * 300, WHEN, concat_reference=5)
    new = encode_sms_deliver("+48600100200", "C" * 300, WHEN + timedelta(hours=3), concat_reference=5)
    store.store(received([old[0]]))
    store.store(received([new[0], new[1]]))
    by_status = {m.status: m.text for m in messages(session_factory)}
    assert by_status["unmatched"] == "C" * 300
    assert by_status["partial"].startswith("A" * 153) and "[part 2 of 2 missing]" in by_status["partial"]


def test_a_ucs2_text_padded_with_nul_is_stored_without_it(store, session_factory) -> None:
    # Found by fuzz/reception.py: PostgreSQL refused U+0000 in text and with it the whole batch.
    padded = bytes.fromhex("00" "04" "0B918406100002F0" "00" "08" "42506070809080" "08" "0048006900000000")
    assert [result.outcome for result in store.store(received([padded]))] == [Outcome.STORED]
    [message] = messages(session_factory)
    assert message.text == "Hi"


def test_a_reference_reused_twice_releases_each_older_set_once(store, session_factory) -> None:
    # Found by fuzz/reception.py: when the third set's first part came, the second set was released
    # as partial, and its part 3 was also joined to the first set's partial message (which lacked a
    # part 3), then the store failed with KeyError, at every read of the SIM.
    first, second, third = (encode_sms_deliver("+48600100200", letter * 600, WHEN, concat_reference=5)
                            for letter in "ABC")
    for pdu in [*first[:2], *second[:3], third[0]]:
        store.store(received([pdu]))
    partial = sorted(m.text for m in messages(session_factory) if m.status == "partial")
    assert len(partial) == 2
    assert partial[0].startswith("A" * 306) and "[part 3 of 4 missing][part 4 of 4 missing]" in partial[0]
    assert partial[1].startswith("B" * 459) and partial[1].endswith("[part 4 of 4 missing]")


@pytest.mark.parametrize("raw", [
    bytes.fromhex("07914860"),  # truncated inside the SMSC address
    bytes.fromhex("0011000B916407281553F80000AA0AE8329BFD4697D9EC37"),  # an SMS-SUBMIT, not MT
    b"+CMGL garbage line",
])
def test_an_undecodable_pdu_is_kept_raw_with_an_error(store, session_factory, raw) -> None:
    [result] = store.store(received([raw]))
    assert result.outcome is Outcome.UNDECODABLE
    [message] = messages(session_factory)
    assert message.status == "undecodable" and message.error
    with session_factory() as session:
        assert session.scalar(select(SmsPart.pdu_hex)) == raw.hex().upper()


def test_a_sender_too_long_for_its_column_is_kept_raw_and_the_batch_still_stored(store, session_factory) -> None:
    # Found by fuzz/sms.py: a TP-OA of 40 digits. On PostgreSQL the sender column refused it and the
    # whole batch failed, so no PDU of it could ever be deleted from the SIMs.
    long_sender = bytes.fromhex("00" "04" "28" "91" + "21" * 20 + "00" "00" "42506070809080" "01" "41")
    good = encode_sms_deliver("+48600100200", "Dzień dobry", WHEN)[0]
    results = store.store(received([long_sender, good]))
    assert [result.outcome for result in results] == [Outcome.UNDECODABLE, Outcome.STORED]
    by_status = {message.status: message for message in messages(session_factory)}
    assert "at most 20 digits" in by_status["undecodable"].error
    assert by_status["unmatched"].text == "Dzień dobry"
    with session_factory() as session:
        assert long_sender.hex().upper() in session.scalars(select(SmsPart.pdu_hex)).all()


def test_a_status_report_is_kept_apart_from_messages(store, session_factory) -> None:
    report = bytes.fromhex("0006D60B911326880736F4111011719551401110117195714000")
    [result] = store.store(received([report]))
    assert result.outcome is Outcome.STATUS_REPORT
    assert messages(session_factory) == []
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(StatusReport)) == 1


def test_many_random_sets_in_random_order_each_assemble_exactly_once(store, session_factory) -> None:
    rng = random.Random(4)
    texts = {f"+4860010{n:04d}": "".join(rng.choice("abcżółć€ ") for _ in range(rng.randint(1, 500)))
             for n in range(30)}
    pdus = [pdu for sender, text in texts.items()
            for pdu in encode_sms_deliver(sender, text, WHEN, concat_reference=rng.randrange(256))]
    rng.shuffle(pdus)
    for start in range(0, len(pdus), 7):
        store.store(received(pdus[start:start + 7]))
    assert {m.sender: m.text for m in messages(session_factory)} == texts
