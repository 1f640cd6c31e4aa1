"""Property tests of the WSP and MMS codecs: decoders refuse bad input only with MmsError (saying
where), truncated messages never pass for whole ones, and what the encoders write, the decoders read
back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.codecs import wsp
from appliance.codecs.mms import (
    MmsError,
    decode_mms_pdu,
    decode_notification_ind,
    decode_retrieve_conf,
    encode_acknowledge_ind,
    encode_notification_ind,
    encode_notifyresp_ind,
    encode_retrieve_conf,
)
from tests.support.mutation import mutated

FUZZ = settings(max_examples=500, deadline=None)
ROUND_TRIP = settings(max_examples=150, deadline=None)
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

VALUE_DECODERS = [
    wsp.decode_uintvar,
    wsp.decode_short_integer,
    wsp.decode_long_integer,
    wsp.decode_integer_value,
    wsp.decode_value_length,
    wsp.decode_text_string,
    wsp.decode_quoted_string,
    wsp.decode_text_value,
    wsp.decode_date_value,
    wsp.decode_encoded_string_value,
    wsp.decode_content_type,
    wsp.decode_headers,
    wsp.decode_multipart,
]


def decode_everyhow(data: bytes) -> None:
    """Every decoder on the data; only MmsError may come out, and it says where."""
    decoders = [
        wsp.decode_push,
        decode_mms_pdu,
        decode_retrieve_conf,
        lambda raw: decode_notification_ind(raw, now=NOW),
        *VALUE_DECODERS,
    ]
    for decode in decoders:
        try:
            decode(data)
        except MmsError as error:
            assert re.search(r"offset|octets|must carry|no octets", str(error)), str(error)


# --- decoders against hostile input --------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_nothing_but_mms_error(data):
    decode_everyhow(data)


@FUZZ
@given(st.sampled_from([0x80, 0x82, 0x84, 0x87]), st.binary(max_size=200))
def test_bytes_behind_a_valid_message_type_raise_nothing_but_mms_error(message_type, rest):
    decode_everyhow(bytes([0x8C, message_type]) + rest)


@FUZZ
@given(st.integers(0, 255), st.sampled_from([6, 7]), st.binary(max_size=200))
def test_bytes_behind_a_push_pdu_type_raise_nothing_but_mms_error(tid, pdu_type, rest):
    decode_everyhow(bytes([tid, pdu_type]) + rest)


def field_values() -> st.SearchStrategy[bytes]:
    """One header value as WSP shapes them: a short integer, a text, or a length and that many
    octets (mostly honest)."""
    short = st.integers(0x80, 0xFF).map(lambda v: bytes([v]))
    text = st.binary(max_size=12).map(lambda b: b.replace(b"\x00", b"") + b"\x00")
    counted = st.binary(max_size=40).flatmap(
        lambda body: st.sampled_from([len(body), len(body) + 1, 31]).map(
            lambda n: (bytes([n]) if n < 31 else b"\x1f" + wsp.encode_uintvar(len(body))) + body
        )
    )
    return short | text | counted


@st.composite
def shaped_mms(draw: st.DrawFn) -> bytes:
    """A PDU shaped like an MMS: message type, then known fields with plausible values, maybe a
    Content-Type and a multipart body."""
    out = bytearray([0x8C, draw(st.sampled_from([0x82, 0x84, 0x80, 0x86]))])
    for _ in range(draw(st.integers(0, 8))):
        out.append(draw(st.integers(0x81, 0xBF)))
        out += draw(field_values())
    if draw(st.booleans()):
        out.append(0x84)
        out += draw(
            st.sampled_from([b"\xb3", b"\xa3", b"\x83", b"\x1b\xb3\x8a<s>\x00", b"\x1f"]) | field_values()
        )
        entries = draw(st.lists(st.tuples(field_values(), st.binary(max_size=30)), max_size=4))
        out += wsp.encode_uintvar(draw(st.sampled_from([len(entries), len(entries) + 1, 0])))
        for head, data in entries:
            out += wsp.encode_uintvar(len(head)) + wsp.encode_uintvar(draw(st.sampled_from([len(data), 200])))
            out += head + data
    return bytes(out)


@FUZZ
@given(shaped_mms())
def test_mms_shaped_input_raises_nothing_but_mms_error(data):
    decode_everyhow(data)
    decode_everyhow(wsp.encode_push(1, body=data))


def seeds() -> list[bytes]:
    parts = [
        ("image/jpeg", "zdjęcie.jpg", b"\xff\xd8\xff\xe0" + bytes(60), None),
        ("text/plain", "t.txt", "Cześć 😀".encode(), "utf-8"),
        ("text/plain", "u.txt", "Łódź".encode("utf-16"), "utf-16"),
    ]
    notification = encode_notification_ind(
        "T1", "http://m/1", 1234, 3600, sender="+48600100200", subject="Zaż 😀"
    )
    return [
        encode_retrieve_conf("+48600100200", ["+48500100200", "a@b.pl"], "Zażółć 😀", parts, NOW, "M", "T"),
        encode_retrieve_conf("+1", "+2", None, parts[:1], NOW, "M", multipart="mixed"),
        notification,
        wsp.encode_push(7, body=notification),
        encode_notifyresp_ind("T1", report_allowed=True),
        encode_acknowledge_ind("T1"),
    ]


SEEDS = seeds()


@FUZZ
@given(mutated(SEEDS))
def test_mutated_pdus_raise_nothing_but_mms_error(data):
    decode_everyhow(data)


# --- truncation --------------------------------------------------------------------------------


def test_every_truncation_of_a_retrieve_conf_is_a_clear_error():
    whole = SEEDS[0]
    for length in range(len(whole)):
        try:
            decode_retrieve_conf(whole[:length])
        except MmsError as error:
            assert re.search(r"truncated|offset|no octets", str(error)), str(error)
        else:
            raise AssertionError(f"{length} of {len(whole)} octets decoded as a whole message")


def test_every_truncation_of_a_notification_is_a_clear_error():
    whole = SEEDS[2]
    for length in range(len(whole)):
        try:
            decode_notification_ind(whole[:length], now=NOW)
        except MmsError as error:
            assert re.search(r"truncated|offset|no octets|must carry", str(error)), str(error)
        else:
            raise AssertionError(f"{length} of {len(whole)} octets decoded as a whole notification")


# --- round trips ---------------------------------------------------------------------------------

# Texts the encoders accept: no NUL (it ends a Text-string); names without path separators and not
# starting with a control character. No U+FEFF: a leading one reads as a byte order mark.
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff"), max_size=40)
names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1, max_size=20
)
phone_numbers = st.from_regex(r"\+?[0-9]{3,15}", fullmatch=True)
addresses = phone_numbers | st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.pl", fullmatch=True)
media = st.sampled_from(
    ["image/jpeg", "image/png", "audio/amr", "video/3gpp", "text/x-vCard", "application/pdf", "x-foo/bar"]
)
charsets = st.sampled_from(["utf-8", "iso-8859-2", "us-ascii", "utf-16"])
parts = st.lists(
    st.tuples(media, st.none() | names, st.binary(max_size=300), st.none())
    | st.tuples(st.just("text/plain"), st.none() | names, st.binary(max_size=100), charsets),
    max_size=5,
)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


@ROUND_TRIP
@given(
    addresses,
    st.lists(addresses, min_size=1, max_size=3),
    st.none() | texts,
    parts,
    moments,
    st.sampled_from(["related", "mixed"]),
)
def test_encode_retrieve_conf_then_decode_gives_back_everything(
    sender, to, subject, message_parts, date, multipart
):
    message = decode_retrieve_conf(
        encode_retrieve_conf(sender, to, subject, message_parts, date, "MID", "TID", multipart=multipart)
    )
    assert (message.sender, message.to, message.subject, message.date) == (sender, to, subject, date)
    decoded = [p for p in message.parts if p.content_id != "smil"]
    assert [(p.name, p.data) for p in decoded] == [(name, data) for _, name, data, _ in message_parts]
    assert [p.content_type.lower() for p in decoded] == [
        content_type.lower() for content_type, *_ in message_parts
    ]
    assert [p.params.get("charset") for p in decoded] == [charset for *_, charset in message_parts]


@ROUND_TRIP
@given(
    texts.filter(bool),
    texts.filter(bool),
    st.integers(0, 2**40),
    st.integers(0, 2**31) | moments,
    st.none() | addresses,
    st.none() | texts,
)
def test_encode_notification_ind_then_decode_gives_back_everything(
    transaction_id, location, size, expiry, sender, subject
):
    if transaction_id[0] < " " or location[0] < " ":
        return  # a Text-string cannot start with a control octet; the encoder refuses it
    notification = decode_notification_ind(
        encode_notification_ind(transaction_id, location, size, expiry, sender=sender, subject=subject),
        now=NOW,
    )
    assert (notification.transaction_id, notification.content_location) == (transaction_id, location)
    assert (notification.size, notification.sender, notification.subject) == (size, sender, subject)
    expected = expiry if isinstance(expiry, datetime) else NOW + timedelta(seconds=expiry)
    assert notification.expiry == expected


@ROUND_TRIP
@given(st.integers(0, 255), st.binary(max_size=300), st.sampled_from([wsp.PUSH, wsp.CONFIRMED_PUSH]))
def test_encode_push_then_decode_push(tid, body, pdu_type):
    pdu = wsp.decode_push(wsp.encode_push(tid, body=body, pdu_type=pdu_type))
    assert (pdu.transaction_id, pdu.body, pdu.application_id) == (tid, body, "x-wap-application:mms.ua")


@ROUND_TRIP
@given(st.integers(0, 2**32 - 1))
def test_uintvar_round_trip(value):
    assert wsp.decode_uintvar(wsp.encode_uintvar(value)) == (value, len(wsp.encode_uintvar(value)))


@ROUND_TRIP
@given(texts, st.sampled_from(["utf-8", "utf-16", "iso-10646-ucs-2"]))
def test_encoded_string_value_round_trip(text, charset):
    raw = wsp.encode_encoded_string_value(text, charset)
    assert wsp.decode_encoded_string_value(raw) == (text, len(raw))
