"""Fuzz target: the user data of a WAP push SMS (port 2948), as ``accept_push`` reads it.

``read_push`` decodes the WSP push PDU and, when it announces an MMS, the m-notification-ind it
carries, and refuses values the database cannot keep. ``MmsError`` is the documented error: the
reception keeps the push raw as an undecodable message.

Invariants of a push that decodes: the body is the rest of the PDU from where the decoder says it
begins, and the push written again by ``encode_push`` (its type, TID, content type and body) reads
back the same. Of a notification that decodes: what the fetcher needs (transaction id, location)
is there, the size is not negative, the expiry has a time zone, what ``accept_push`` writes fits
its columns and holds no U+0000 (PostgreSQL refuses either, failing the reception's whole batch),
and the fetcher can answer it with an m-notifyresp-ind of its transaction id and version.
"""

from __future__ import annotations

from datetime import UTC, datetime

import atheris

with atheris.instrument_imports(include=["appliance"]):
    from appliance.codecs.mms import MmsError, MmsNotification, encode_notifyresp_ind
    from appliance.codecs.wsp import CONFIRMED_PUSH, PUSH, decode_push, encode_push
    from appliance.db.models import Message, MmsTransfer
    from appliance.mms.notifications import read_push

from fuzz import vectors
from fuzz.harness import BrokenInvariant, Family, check, main

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
PDU_TYPES = {"push": PUSH, "confirmed-push": CONFIRMED_PUSH}


def run_case(data: bytes) -> None:
    push, notification = read_push(data, NOW)
    check(push.body == data[push.body_offset:], "push body is not the rest of the PDU")
    try:
        again = encode_push(push.transaction_id, push.content_type, [], push.body,
                            pdu_type=PDU_TYPES[push.pdu_type])
    except MmsError:
        pass  # a content type the encoder does not write (the decoder is more lenient)
    else:
        try:
            reread = decode_push(again)
        except MmsError:
            raise BrokenInvariant("a push the encoder wrote does not decode") from None
        check((reread.transaction_id, reread.pdu_type, reread.body)
              == (push.transaction_id, push.pdu_type, push.body), "push changed through encode and decode")
        check(reread.content_type.media_type.lower() == push.content_type.media_type.lower(),
              "push content type changed through encode and decode")
    if notification is not None:
        check_notification(notification)


def check_notification(notification: MmsNotification) -> None:
    check(notification.transaction_id and notification.content_location, "no transaction id or location")
    check(notification.size is None or notification.size >= 0, "negative X-Mms-Message-Size")
    expiry = notification.expiry
    check(expiry is None or expiry.utcoffset() is not None, "expiry without time zone")
    check(notification.sender is None or isinstance(notification.sender, str), "sender that is not text")
    check(notification.subject is None or isinstance(notification.subject, str), "subject that is not text")
    texts = [notification.transaction_id, notification.content_location, notification.sender or "",
             notification.subject or ""]
    check(all("\x00" not in text for text in texts), "U+0000 in text, which PostgreSQL refuses")
    for value, column in [(notification.transaction_id, MmsTransfer.__table__.c.transaction_id),
                          (notification.version, MmsTransfer.__table__.c.mms_version),
                          (notification.sender or "", Message.__table__.c.sender)]:
        check(len(value) <= column.type.length, f"{column} longer than its column")
    check(notification.size is None or notification.size < 2**31, "size past mms_transfers.size")
    try:
        encode_notifyresp_ind(notification.transaction_id, version=notification.version)
    except MmsError:
        raise BrokenInvariant("the fetcher cannot answer with an m-notifyresp-ind") from None


FAMILY = Family("wap_push", run_case, expected=(MmsError,), max_len=1200, cases=300_000)

if __name__ == "__main__":
    # The pushes of the tests, and every MMS of the tests as the body of one.
    main(FAMILY, lambda: [*vectors.recorded("wap_push"),
                          *(encode_push(1, body=pdu) for pdu in vectors.recorded("mms"))])
