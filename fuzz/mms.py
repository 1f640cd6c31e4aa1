"""Fuzz target: an MMS PDU as the fetcher and the notification handler decode it.

The same octets go through ``read_retrieve_conf`` (what ``MmsFetcher._fetch`` reads the body the
MMSC answers a fetch with) and, as the body of a WAP push, through ``read_push`` (what
``accept_push`` reads a notification with). ``MmsError`` is the documented error: the fetcher keeps
the body as an undecodable MMS, the reception the push.

Invariants of an m-retrieve-conf that decodes, on what ``MmsFetcher._store`` uses: the
Retrieve-Status is an octet or absent; the sender fits the messages.sender column; sender, subject
and texts hold no U+0000 (PostgreSQL refuses it); every part is typed, its data is the PDU's octets
at the offset the part gives, a text part has its text; the attachment store can name and type
each part; and the parts written again by ``encode_retrieve_conf`` read back the same.
"""

from __future__ import annotations

from datetime import UTC, datetime

import atheris

with atheris.instrument_imports(include=["appliance"]):
    from appliance.attachments import safe_name, stored_content_type
    from appliance.codecs.mms import MmsError, MmsMessage, decode_retrieve_conf, encode_retrieve_conf
    from appliance.codecs.wsp import encode_push
    from appliance.db.models import Message
    from appliance.mms.fetch import read_retrieve_conf
    from appliance.mms.notifications import read_push

from fuzz import vectors
from fuzz.harness import Family, check, main
from fuzz.wap_push import check_notification

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
PUSH_HEAD = encode_push(1, body=b"")  # an MMS push with no body yet: the case's octets follow
SENDER_LENGTH = Message.__table__.c.sender.type.length


def run_case(data: bytes) -> None:
    try:
        _, notification = read_push(PUSH_HEAD + data, NOW)
    except MmsError:
        pass
    else:
        assert notification is not None
        check_notification(notification)
    try:
        message = read_retrieve_conf(data)
    except MmsError:
        return
    check_message(message, data)


def check_message(message: MmsMessage, data: bytes) -> None:
    status = message.retrieve_status
    check(status is None or 0 <= status <= 255, "Retrieve-Status not an octet")
    check(message.sender is None or len(message.sender) <= SENDER_LENGTH, "sender longer than its column")
    check(all(isinstance(address, str) for address in message.to + message.cc), "To or Cc that is not text")
    texts = [message.sender or "", message.subject or "", *(part.text or "" for part in message.parts)]
    check(all("\x00" not in text for text in texts), "U+0000 in text, which PostgreSQL refuses")
    for part in message.parts:
        check(isinstance(part.content_type, str), "part without a content type")
        check(data[part.offset:part.offset + len(part.data)] == part.data, "part data not at its offset")
        is_text = part.content_type.lower().startswith("text/")
        check(isinstance(part.text, str) if is_text else part.text is None, "text part without text")
        check(part.name is None or isinstance(part.name, str), "part name that is not text")
        stored_content_type(part.content_type)
        safe_name(part.name)
    check_round_trip(message)


def check_round_trip(message: MmsMessage) -> None:
    parts = [(part.content_type, None, part.data,
              charset if isinstance(charset := part.params.get("charset"), str) else None)
             for part in message.parts]
    try:
        again = encode_retrieve_conf("+48600100200", "+48500100200", None, parts, NOW, "M",
                                     multipart="mixed", smil=False)
    except MmsError:
        return  # a content type or charset the encoder does not write (the decoder is more lenient)
    reread = decode_retrieve_conf(again)
    check([(p.content_type.lower(), p.data, p.text) for p in reread.parts]
          == [(p.content_type.lower(), p.data, p.text) for p in message.parts],
          "parts changed through encode and decode")


FAMILY = Family("mms", run_case, expected=(), max_len=4096, cases=100_000)

if __name__ == "__main__":
    main(FAMILY, lambda: vectors.recorded("mms"))
