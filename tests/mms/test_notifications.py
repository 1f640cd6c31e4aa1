"""WAP pushes the appliance cannot keep as an MMS to fetch are kept raw, and never hold up reception.

The pushes here come from fuzz/wap_push.py (docs/fuzzing.md): each decoded, but held a value its
column cannot take (PostgreSQL then refused the row and with it the reception's whole batch, at every
read of the SIM) or one the fetcher cannot answer the MMSC with.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.codecs.mms import encode_notification_ind
from appliance.codecs.sms_pdu import PortAddress, encode_sms_deliver, encode_sms_deliver_data
from appliance.codecs.wsp import encode_push
from appliance.db.models import Message, MmsTransfer, SmsPart
from appliance.reception.store import MessageStore, Outcome, ReceivedPdu

ICCID = "89480610001234567890"
WHEN = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)

# Not from the fuzzer (its 84-character From fits since senders may be e-mail addresses): one past
# the sender column's 254 characters.
LONG_SENDER = encode_push(1, body=encode_notification_ind("T1", "http://m/1", 100, 3600, sender="a@" + "b" * 253))
FUZZED_LONG_TRANSACTION_ID = bytes.fromhex(
    "010603beaf848c8298547474747474747474747474747474747474747474747474747474747474747474747474747474"
    "74747474747474747474587e585858585858585858585858585858585858585858585858585858585858585858585858"
    "585858585858585858585858746578745858585858585858585858585858585858585858585874747474747474747474"
    "747474747474747474747474747474747474747474747474747474747474747474747474747474747474747474747474"
    "747474747474747474747474747474747474008d90892b3438363030713030322f545950453d504c00837500"
)
# X-Mms-MMS-Version as a Text-string of nine octets that are no version.
FUZZED_TEXT_VERSION = bytes.fromhex(
    "010603beaf848c829854008d0603beaf848c829854008d938a808e010a880481020e1083687474703a2f2f6d2f78938a"
    "808e010a880481020e1083687474703a2f2f6d2f7800"
)
# Not from the fuzzer: X-Mms-Message-Size past mms_transfers.size, a 32-bit column.
HUGE_SIZE = encode_push(1, body=encode_notification_ind("T1", "http://m/1", 2**31, 3600))


@pytest.fixture
def store(session_factory: sessionmaker[Session]) -> MessageStore:
    return MessageStore(session_factory, partial_timeout=timedelta(hours=24))


def as_sms(push: bytes) -> list[bytes]:
    return encode_sms_deliver_data("+48601000310", push, WHEN, ports=PortAddress(2948, 9200, 16))


@pytest.mark.parametrize(("push", "error"), [
    (LONG_SENDER, "From of 255 characters is longer than the 254 kept"),
    (FUZZED_LONG_TRANSACTION_ID, "X-Mms-Transaction-Id of 201 characters is longer than the 200 kept"),
    (FUZZED_TEXT_VERSION, "MMS version .* is not major.minor"),
    (HUGE_SIZE, "X-Mms-Message-Size of 2147483648 octets is past any MMS"),
], ids=["long-sender", "long-transaction-id", "text-version", "huge-size"])
def test_a_push_the_appliance_cannot_keep_as_an_mms_is_kept_raw_and_the_batch_stored(
    store: MessageStore, session_factory: sessionmaker[Session], push: bytes, error: str
) -> None:
    pdus = [*as_sms(push), encode_sms_deliver("+48600100200", "Dzień dobry", WHEN)[0]]
    results = store.store([ReceivedPdu(ICCID, pdu, "SM", index) for index, pdu in enumerate(pdus)])
    assert {result.outcome for result in results} == {Outcome.STORED}
    with session_factory() as session:
        by_status = {message.status: message for message in session.scalars(select(Message))}
        assert set(by_status) == {"undecodable", "unmatched"}
        assert re.match(f"WAP push: {error}", by_status["undecodable"].error)
        assert by_status["unmatched"].text == "Dzień dobry"
        assert session.scalar(select(func.count()).select_from(MmsTransfer)) == 0
        assert set(session.scalars(select(SmsPart.pdu_hex))) == {pdu.hex().upper() for pdu in pdus}

