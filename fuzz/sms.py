"""Fuzz target: an SMS PDU line as the reception reads it off a modem.

The input goes the way a ``+CMGL`` listing does in ``ModemSession.drain_storage``: as the hex line
a modem prints, through ``responses.parse_cmgl``; the PDU gets its dedupe key and goes through
``decode_mt_pdu`` as ``MessageStore._classify`` does; a WAP push goes on to ``read_push``, what
``accept_push`` reads it with. ``PduError`` and ``MmsError`` are the documented errors: with them
the store keeps the raw PDU as an undecodable message (``fuzz.reception`` replays the corpus, and lines
that are not hex, through the real store to check that).

Invariants of a PDU that decodes: the alphabet and the text agree; a concatenation's sequence lies
within its total; the user data comes from the PDU; sender, set key and recipient fit their
columns and hold no U+0000 (PostgreSQL refuses it); and the text survives the encoder the appliance
sends with (``encode_sms_submit``) and its decoder, whole.
"""

from __future__ import annotations

from datetime import UTC, datetime

import atheris

with atheris.instrument_imports(include=["appliance"]):
    from appliance.codecs.mms import MmsError
    from appliance.codecs.sms_pdu import (
        PduError,
        SmsDeliver,
        SmsStatusReport,
        decode_mt_pdu,
        decode_sms_submit,
        encode_sms_submit,
    )
    from appliance.db.models import Message, StatusReport
    from appliance.mms.notifications import WAP_PUSH_PORTS, read_push
    from appliance.modem import responses
    from appliance.reception.store import concat_key, dedupe_key

from fuzz import vectors
from fuzz.harness import Family, check, main

ICCID = "89480610001234567890"
NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
ALPHABETS = {"gsm7", "8bit", "ucs2"}
# What the store writes must fit its columns: PostgreSQL refuses a longer value, failing the batch.
SENDER_LENGTH = Message.__table__.c.sender.type.length
CONCAT_KEY_LENGTH = Message.__table__.c.concat_key.type.length
RECIPIENT_LENGTH = StatusReport.__table__.c.recipient.type.length


def run_case(data: bytes) -> None:
    [entry] = responses.parse_cmgl([f"+CMGL: 1,0,,{len(data)}", data.hex().upper()])
    # As ModemSession.drain_storage hands it to the store.
    pdu = entry.pdu if entry.pdu is not None else entry.raw_line.encode()
    check(len(dedupe_key(ICCID, pdu)) == 64, "dedupe key is not a SHA-256")
    try:
        decoded = decode_mt_pdu(pdu)
    except PduError as error:
        check(str(error), "PduError without a message")
        return
    if isinstance(decoded, SmsStatusReport):
        check_status_report(decoded)
    else:
        check_deliver(decoded, pdu)


def check_status_report(report: SmsStatusReport) -> None:
    check(len(report.recipient) <= RECIPIENT_LENGTH, "recipient longer than its column")
    check(0 <= report.message_reference <= 255 and 0 <= report.status <= 255, "TP-MR or TP-ST out of range")
    check(report.timestamp.utcoffset() is not None, "TP-SCTS without a time zone")
    check(report.discharge_time.utcoffset() is not None, "TP-DT without a time zone")


def check_deliver(sms: SmsDeliver, pdu: bytes) -> None:
    check(sms.alphabet in ALPHABETS, f"unknown alphabet {sms.alphabet!r}")
    check((sms.text is None) == (sms.alphabet == "8bit"), "text present for 8-bit data or missing otherwise")
    check(sms.data in pdu and sms.udh in pdu, "user data that is not in the PDU")
    check(sms.timestamp.utcoffset() is not None, "TP-SCTS without a time zone")
    check(len(sms.sender) <= SENDER_LENGTH, "sender longer than its column")
    check("\x00" not in sms.sender + (sms.text or ""), "U+0000 in text, which PostgreSQL refuses")
    if sms.concat is not None:
        check(1 <= sms.concat.sequence <= sms.concat.total, "concatenation sequence outside 1..total")
        key = concat_key(ICCID, sms)
        check(key is None or sms.concat.total >= 2, "a set key for a one-part set")
        check(key is None or len(key) <= CONCAT_KEY_LENGTH, "set key longer than its column")
    if sms.text is not None:
        # What we received we can send on (autoresponders, forwards by SMS) without losing a character.
        resent = [decode_sms_submit(part) for part in encode_sms_submit("+48600100200", sms.text)]
        check("".join(part.text or "" for part in resent) == sms.text, "text changed by encode and decode")
    if sms.ports is not None and sms.ports.destination in WAP_PUSH_PORTS and sms.concat is None:
        try:
            read_push(sms.data, NOW)  # what accept_push reads of a one-part WAP push
        except MmsError:
            pass


FAMILY = Family("sms", run_case, expected=(), max_len=400, cases=1_000_000)

if __name__ == "__main__":
    main(FAMILY, lambda: vectors.recorded("sms"))
