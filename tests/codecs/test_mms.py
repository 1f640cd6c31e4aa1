"""MMS PDUs (OMA-TS-MMS_ENC-V1_3): notifications, retrieved messages and the client's answers,
read from hand-built spec examples, from python-messaging's encoder and from our own encoders."""

from __future__ import annotations

import array
import os
from datetime import UTC, datetime, timedelta, timezone

import pytest
from messaging.mms import wsp_pdu
from messaging.mms.message import DataPart, MMSMessage, MMSMessagePage
from messaging.mms.mms_pdu import MMSDecoder, MMSEncoder

from appliance.codecs.mms import (
    MmsError,
    MmsMessage,
    MmsNotification,
    MmsTimeValue,
    decode_mms_pdu,
    decode_notification_ind,
    decode_retrieve_conf,
    encode_acknowledge_ind,
    encode_notification_ind,
    encode_notifyresp_ind,
    encode_retrieve_conf,
)
from appliance.codecs.wsp import decode_push, encode_push


def octets(*fields: str | bytes) -> bytes:
    """Hex fields (spaces allowed) and literal byte strings, joined."""
    return b"".join(f if isinstance(f, bytes) else bytes.fromhex(f.replace(" ", "")) for f in fields)


NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
SUBJECT = "Zażółć gęślą jaźń 😀"

# m-notification-ind, field by field (§6.2 Table 2, values §7.3):
NOTIFICATION_IND = octets(
    "8C 82",  # X-Mms-Message-Type: m-notification-ind
    "98", b"NOK5AC0000001\x00",  # X-Mms-Transaction-ID: Text-string
    "8D 92",  # X-Mms-MMS-Version: 1.2 (Short-integer: major 1 in bits 6-4, minor 2)
    "89 18 80", b"+48600100200/TYPE=PLMN\x00",  # From: Value-length 24, Address-present-token, address
    "96 18 EA", "Konkurs: zdjęcie 📷".encode(), "00",  # Subject: Value-length 24, charset UTF-8 (106)
    "8A 80",  # X-Mms-Message-Class: Personal
    "8E 02 74 00",  # X-Mms-Message-Size: Long-integer 0x7400 = 29696
    "88 05 81 03 03 F4 80",  # X-Mms-Expiry: Value-length 5, Relative-token, 0x03F480 s = 3 days
    "83", b"http://mmsc.example.pl/NOK5AC0000001\x00",  # X-Mms-Content-Location
)  # fmt: skip


# --- m-notification-ind --------------------------------------------------------------------------


def test_a_hand_built_notification_reads_field_by_field():
    notification = decode_notification_ind(NOTIFICATION_IND, now=NOW)
    assert notification == MmsNotification(
        transaction_id="NOK5AC0000001",
        version="1.2",
        sender="+48600100200",
        subject="Konkurs: zdjęcie 📷",
        message_class="personal",
        size=29696,
        expiry=NOW + timedelta(days=3),
        content_location="http://mmsc.example.pl/NOK5AC0000001",
        headers=notification.headers,
    )
    assert notification.headers["X-Mms-Expiry"] == MmsTimeValue(relative_seconds=259200)


def test_a_wap_push_of_a_notification_as_operators_send_it():
    # TID, Push, HeadersLen 3, 0xBE application/vnd.wap.mms-message, X-Wap-Application-Id mms.ua
    push = decode_push(octets("01 06 03 BE AF 84") + NOTIFICATION_IND)
    assert push.application_id == "x-wap-application:mms.ua"
    assert decode_notification_ind(push.body, now=NOW).content_location.endswith("/NOK5AC0000001")


def test_the_expiry_and_delivery_time_codings_of_ts_31_102_annex_j():
    # TS 31.102 J.1 codes these MMS fields without bit 7 in an EF; in a PDU the field octets are
    # 0x87 and 0x88. Delivery-Time: absolute, 5-octet date; Expiry: relative 0x55223344 s.
    data = octets("8C 82 98 54 00 8D 90 87 07 80 05 11 22 33 44 55 88 06 81 04 55 22 33 44 83") + b"u\x00"
    pdu = decode_mms_pdu(data)
    assert pdu.headers["X-Mms-Delivery-Time"] == MmsTimeValue(
        absolute=datetime.fromtimestamp(0x1122334455, UTC)
    )
    assert pdu.headers["X-Mms-Expiry"] == MmsTimeValue(relative_seconds=0x55223344)


def test_absolute_expiry_and_insert_address_token():
    data = octets("8C 82 98 54 00 8D 93 89 01 81 88 06 80 04 66 38 B4 00 83") + b"http://m/x\x00"
    notification = decode_notification_ind(data, now=NOW)
    assert notification.sender is None  # Insert-address-token: the MMSC did not say
    assert notification.expiry == datetime(2024, 5, 6, 10, 42, 8, tzinfo=UTC)
    assert notification.version == "1.3"


def test_a_sender_with_an_empty_address_or_without_value_length_still_reads():
    empty = octets("8C 82 98 54 00 8D 90 89 02 80 00 83") + b"u\x00"
    assert decode_notification_ind(empty, now=NOW).sender is None
    bare = octets("8C 82 98 54 00 8D 90 89") + b"+48600100200/TYPE=PLMN\x00" + octets("83") + b"u\x00"
    assert decode_notification_ind(bare, now=NOW).sender == "+48600100200"


def test_an_email_sender_and_a_token_text_message_class():
    data = octets("8C 82 98 54 00 8D 90 89 0D 80") + b"a@b.example\x00" + octets("8A") + b"promo\x00"
    data += octets("83") + b"u\x00"
    notification = decode_notification_ind(data, now=NOW)
    assert (notification.sender, notification.message_class) == ("a@b.example", "promo")


def test_a_relative_expiry_beyond_any_date_is_an_error():
    data = octets("8C 82 98 54 00 8D 90 88 0C 81 0A FF FF FF FF FF FF FF FF FF FF 83") + b"u\x00"
    with pytest.raises(MmsError, match="X-Mms-Expiry at offset 10: 1208925819614629174706175 seconds"):
        decode_notification_ind(data, now=NOW)


def test_relative_expiry_needs_an_aware_now():
    with pytest.raises(MmsError, match="timezone-aware"):
        decode_notification_ind(NOTIFICATION_IND, now=datetime(2024, 1, 1))


def test_a_notification_without_content_location_cannot_be_fetched():
    with pytest.raises(MmsError, match="m-notification-ind has no X-Mms-Content-Location"):
        decode_notification_ind(octets("8C 82 98 54 00 8D 90"), now=NOW)


def test_a_notification_is_not_a_retrieved_message():
    with pytest.raises(MmsError, match="offset 1 is m-notification-ind, not m-retrieve-conf"):
        decode_retrieve_conf(NOTIFICATION_IND)


def test_encode_notification_ind_then_decode():
    raw = encode_notification_ind(
        "T-1", "http://mmsc.example/m/1", 307_200, timedelta(days=2), sender="+48600100200", subject=SUBJECT
    )
    notification = decode_notification_ind(raw, now=NOW)
    assert (notification.transaction_id, notification.version) == ("T-1", "1.3")
    assert (notification.sender, notification.subject) == ("+48600100200", SUBJECT)
    assert (notification.size, notification.expiry) == (307_200, NOW + timedelta(days=2))
    assert notification.content_location == "http://mmsc.example/m/1"
    assert notification.message_class == "personal"


def test_encode_notification_ind_with_absolute_expiry_writes_table_2_order():
    expiry = datetime(2024, 5, 8, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    raw = encode_notification_ind("T", "u", 1, expiry, version="1.2")
    assert raw == octets("8C 82 98 54 00 8D 92 8A 80 8E 01 01 88 06 80 04 66 3B 22 F0 83") + b"u\x00"
    assert decode_notification_ind(raw, now=NOW).expiry == expiry


def test_a_notification_inside_an_encoded_push_round_trips():
    body = encode_notification_ind("T", "http://m/x", 10, 3600)
    push = decode_push(encode_push(0x33, body=body))
    assert push.body == body
    assert decode_notification_ind(push.body, now=NOW).expiry == NOW + timedelta(hours=1)


# --- other PDUs and real captures ----------------------------------------------------------------


def test_a_read_report_captured_from_a_korean_handset():
    # m-read-rec-ind with To and From as UTF-8 Encoded-string-values (i5on9i.tistory.com/225).
    data = octets(
        "8c 87 8d 92 8b 33 30 31 33 31 36 36 00 97 19 ea 2b 38 32 31 30 32 32 31 31 33 35 32 38 2f 54"
        "59 50 45 3d 50 4c 4d 4e 00 89 1b 80 19 ea 2b 38 32 31 30 32 32 31 31 34 32 38 30 2f 54 59 50"
        "45 3d 50 4c 4d 4e 00 85 04 4c 28 82 54 9b 80"
    )
    pdu = decode_mms_pdu(data)
    assert pdu.message_type == "m-read-rec-ind"
    assert pdu.headers == {
        "X-Mms-Message-Type": "m-read-rec-ind",
        "X-Mms-MMS-Version": "1.2",
        "Message-ID": "3013166",
        "To": ["+821022113528"],
        "From": "+821022114280",
        "Date": datetime(2010, 6, 28, 11, 7, tzinfo=UTC),
        "X-Mms-Read-Status": "read",
    }


def test_encode_notifyresp_ind_and_acknowledge_ind():
    assert encode_notifyresp_ind("T1") == octets("8C 83 98 54 31 00 8D 93 95 81")
    assert encode_notifyresp_ind("T1", "deferred", "1.2", report_allowed=False) == octets(
        "8C 83 98 54 31 00 8D 92 95 83 91 81"
    )
    assert encode_acknowledge_ind("T1", report_allowed=True) == octets("8C 85 98 54 31 00 8D 93 91 80")
    assert decode_mms_pdu(encode_notifyresp_ind("T1", "rejected")).headers["X-Mms-Status"] == "rejected"
    with pytest.raises(MmsError, match="X-Mms-Status 'fetched' is not one of"):
        encode_notifyresp_ind("T1", "fetched")


# --- m-retrieve-conf -------------------------------------------------------------------------------

SMIL = b'<smil><body><par><img src="photo.jpg"/><text src="text.txt"/></par></body></smil>'


def test_a_version_without_minor_is_answered_with_the_same_version():
    # X-Mms-MMS-Version 0x9F: major 1, minor 15 (none), which reads as "1".
    notification = decode_notification_ind(NOTIFICATION_IND.replace(bytes.fromhex("8D 92"), bytes.fromhex("8D 9F")),
                                           now=NOW)
    assert notification.version == "1"
    answer = encode_notifyresp_ind(notification.transaction_id, version=notification.version)
    assert decode_mms_pdu(answer).headers["X-Mms-MMS-Version"] == "1"


def test_a_hand_built_retrieve_conf_reads_headers_and_parts():
    smil_head = octets("1B B3 8A") + b"<smil>\x00" + octets("89") + b"application/smil\x00"
    text = "Gęś i źdźbło".encode("iso-8859-2")
    parts = [
        (octets("11") + b"application/smil\x00" + octets("C0") + b'"<smil>\x00', SMIL),
        (octets("9E C0") + b'"<img1>\x00' + octets("8E") + b"photo.jpg\x00", b"\xff\xd8\xff\xe0JFIF"),
        (octets("0A 83 81 85 85") + b"t.txt\x00" + octets("8E") + b"dir/text.txt\x00", text),
    ]
    body = bytes([len(parts)]) + b"".join(bytes([len(h), len(d)]) + h + d for h, d in parts)
    data = (
        octets("8C 84 98") + b"T9\x00" + octets("8D 92")
        + octets("8B") + b"MID-77\x00"
        + octets("89 18 80") + b"+48600100200/TYPE=PLMN\x00"
        + octets("97") + b"+48500100200/TYPE=PLMN\x00"
        + octets("82") + b"ola@example.pl\x00"
        + octets("82") + b"+48700100200/TYPE=PLMN\x00"
        + octets("85 04 66 38 7E 99")  # Date: 2024-05-06 06:54:17 UTC
        + octets("96 06 85") + "Ćma!".encode("iso-8859-2") + b"\x00"  # Subject: ISO-8859-2
        + octets("8A 80 8F 82")  # Personal, High
        + octets("84") + smil_head  # Content-Type last
        + body
    )  # fmt: skip
    message = decode_retrieve_conf(data)
    assert (message.transaction_id, message.message_id, message.version) == ("T9", "MID-77", "1.2")
    assert (message.sender, message.to, message.cc) == (
        "+48600100200",
        ["+48500100200"],
        ["ola@example.pl", "+48700100200"],
    )
    assert message.subject == "Ćma!"
    assert message.date == datetime(2024, 5, 6, 6, 54, 17, tzinfo=UTC)
    assert (message.message_class, message.priority) == ("personal", "high")
    assert message.content_type == "application/vnd.wap.multipart.related"
    assert message.content_type_params == {"start": "<smil>", "type": "application/smil"}
    smil, image, text_part = message.parts
    assert (smil.content_type, smil.content_id, smil.data, smil.text) == (
        "application/smil",
        "smil",
        SMIL,
        None,
    )
    assert (image.content_type, image.name, image.content_id) == ("image/jpeg", "photo.jpg", "img1")
    assert image.data == b"\xff\xd8\xff\xe0JFIF"
    assert text_part.params == {"charset": "iso-8859-2", "name": "t.txt"}
    assert (text_part.name, text_part.content_location) == ("text.txt", "dir/text.txt")
    assert text_part.text == "Gęś i źdźbło"
    assert text_part.data == text
    assert data[text_part.offset : text_part.offset + len(text)] == text


@pytest.mark.parametrize(
    ("charset", "raw", "text"),
    [
        (octets("81 EA"), "Łódź 😀".encode(), "Łódź 😀"),
        (octets("81 85"), "Łódź".encode("iso-8859-2"), "Łódź"),
        (octets("81 02 03 F7"), b"\xfe\xff" + "Łódź".encode("utf-16-be"), "Łódź"),
        (octets("81 83"), b"plain ascii", "plain ascii"),
        (b"", b"bez charsetu: UTF-8", "bez charsetu: UTF-8"),
    ],
)
def test_a_single_part_text_message_is_one_part_decoded_by_its_charset(charset, raw, text):
    content_type = bytes([1 + len(charset)]) + octets("83") + charset if charset else octets("83")
    data = octets("8C 84 8D 90 84") + content_type + raw
    message = decode_retrieve_conf(data)
    assert message.content_type == "text/plain"
    [part] = message.parts
    assert (part.content_type, part.data, part.text) == ("text/plain", raw, text)


@pytest.mark.parametrize(("charset", "raw"), [
    (octets("81 EA"), b"Hi\x00\x00"),
    (octets("81 02 03 F7"), "Hi\x00".encode("utf-16-be")),
])
def test_nul_characters_are_dropped_from_a_part_text_but_kept_in_its_data(charset, raw):
    # PostgreSQL refuses U+0000 in text (messages.text is the MMS's text parts joined).
    data = octets("8C 84 8D 90 84", bytes([1 + len(charset)]), "83", charset) + raw
    [part] = decode_retrieve_conf(data).parts
    assert (part.text, part.data) == ("Hi", raw)


def test_a_nested_multipart_alternative_is_replaced_by_its_parts():
    inner = octets("02 01 05 83") + b"plain" + octets("01 06 82") + b"<b>x</b>"[:6]
    outer_body = (
        octets("02 01 02 9E") + b"\xff\xd8" + octets("01") + bytes([len(inner)]) + octets("A6") + inner
    )
    message = decode_retrieve_conf(octets("8C 84 8D 90 84 A3") + outer_body)
    assert [(p.content_type, p.data) for p in message.parts] == [
        ("image/jpeg", b"\xff\xd8"),
        ("text/plain", b"plain"),
        ("text/html", b"<b>x</"),
    ]


def test_a_part_that_claims_multipart_but_is_not_is_kept_whole():
    body = octets("01 01 03 A3") + b"\xff\xff\xff"
    [part] = decode_retrieve_conf(octets("8C 84 8D 90 84 A3") + body).parts
    assert (part.content_type, part.data) == ("application/vnd.wap.multipart.mixed", b"\xff\xff\xff")


def test_part_name_from_the_name_parameter_or_content_disposition_filename():
    by_param = octets("0A 9E 85") + b"img.jpg\x00"
    disposition = octets("9E AE 08 81 86") + b"f.jpg\x00"
    body = octets("02") + bytes([len(by_param), 0]) + by_param + bytes([len(disposition), 0]) + disposition
    first, second = decode_retrieve_conf(octets("8C 84 8D 90 84 A3") + body).parts
    assert (first.name, second.name) == ("img.jpg", "f.jpg")


def test_a_retrieve_conf_with_an_error_status_and_no_body():
    message = decode_retrieve_conf(octets("8C 84 98 54 00 8D 92 99 E2 9A") + b"not found\x00")
    assert (message.retrieve_status, message.retrieve_text, message.parts) == (0xE2, "not found", [])


def test_a_retrieve_conf_cut_before_its_body_is_an_error():
    with pytest.raises(MmsError, match="m-retrieve-conf ends at offset 7 without Content-Type"):
        decode_retrieve_conf(octets("8C 84 98 54 00 8D 92"))


def test_not_an_mms_pdu_says_so_with_the_offset():
    with pytest.raises(MmsError, match=r"first octet \(offset 0\) is 0x01"):
        decode_mms_pdu(octets("01 06 03 BE AF 84"))
    with pytest.raises(MmsError, match="no octets"):
        decode_mms_pdu(b"")
    with pytest.raises(MmsError, match="offset 1: 0xFF is not a message type"):
        decode_mms_pdu(octets("8C FF"))
    with pytest.raises(MmsError, match="bytes, not str"):
        decode_mms_pdu("8C82")  # type: ignore[arg-type]


def test_a_bad_expiry_token_names_the_field_and_offset():
    with pytest.raises(MmsError, match="X-Mms-Expiry at offset 4: 0x82 is neither Absolute"):
        decode_mms_pdu(octets("8C 82 88 02 82 01"))


# Found by fuzz/wap_push.py: the push's notification has an application header named Content-Type
# (Token-text "Content-Type", a text value), which the decoder took for the message's Content-Type
# field and failed on with AttributeError.
FUZZED_TEXTUAL_CONTENT_TYPE = bytes.fromhex(
    "010603beaf848c82985431008d0100436f6e74656e742d54797065000000000048938918802b343836303031303032"
    "30302f545950453d504c4d4e0096808e0204d28804"
)


def test_a_textual_content_type_header_is_just_a_header():
    pdu = decode_mms_pdu(octets("8C 84 98", b"T\x00", "8D 93", b"Content-Type\x00", b"text/plain\x00"))
    assert (pdu.content_type, pdu.parts) == (None, [])
    assert pdu.headers["Content-Type"] == "text/plain"


def test_a_fuzzed_push_with_a_textual_content_type_header_is_a_clear_error():
    with pytest.raises(MmsError, match="header at offset 23"):
        decode_notification_ind(decode_push(FUZZED_TEXTUAL_CONTENT_TYPE).body, now=NOW)


def test_unknown_and_application_headers_are_kept():
    data = octets("8C 82 C5 81") + b"X-Operator\x00promo\x00" + octets("B0 03 01 02 03")
    headers = decode_mms_pdu(data).headers
    assert headers["0x45"] == b"\x81"
    assert headers["X-Operator"] == "promo"
    assert headers["Additional-headers"] == b"\x01\x02\x03"


# --- round trips -----------------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(300 * 1024)
VCARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jan Kowalski\r\nTEL:+48600100200\r\nEND:VCARD\r\n"
AMR = b"#!AMR\n" + bytes([0x3C]) + os.urandom(31) + bytes([0x3C]) + os.urandom(31)
TEXT = "Cześć! Zażółć gęślą jaźń 😀".encode()
PARTS = [
    ("image/jpeg", "zdjęcie.jpg", JPEG, None),
    ("text/plain", "tekst.txt", TEXT, "utf-8"),
    ("text/x-vCard", "jan.vcf", VCARD, None),
    ("audio/amr", "clip.amr", AMR, None),
]


@pytest.mark.parametrize("multipart", ["related", "mixed"])
def test_encode_retrieve_conf_then_decode_gives_every_part_byte_identical(multipart):
    raw = encode_retrieve_conf(
        "+48600100200", "+48500100200", SUBJECT, PARTS, NOW, "MID-1", "T-1", multipart=multipart
    )
    message = decode_retrieve_conf(raw)
    assert (message.sender, message.to, message.subject, message.date) == (
        "+48600100200",
        ["+48500100200"],
        SUBJECT,
        NOW,
    )
    assert (message.message_id, message.transaction_id) == ("MID-1", "T-1")
    parts = message.parts
    if multipart == "related":
        smil, *parts = parts
        assert message.content_type == "application/vnd.wap.multipart.related"
        assert message.content_type_params == {"start": "<smil>", "type": "application/smil"}
        assert smil.content_type == "application/smil" and smil.content_id == "smil"
        assert b'<img src="zdj\xc4\x99cie.jpg" region="Image"/>' in smil.data
        assert b'<audio src="clip.amr"/>' in smil.data
    else:
        assert message.content_type == "application/vnd.wap.multipart.mixed"
    assert [(p.content_type, p.name, p.data) for p in parts] == [
        (content_type, name, data) for content_type, name, data, _ in PARTS
    ]
    assert parts[1].text == TEXT.decode()
    assert parts[1].params["charset"] == "utf-8"


def test_encode_retrieve_conf_keeps_a_given_smil_and_points_start_at_it():
    parts = [("application/smil", "mine.smil", SMIL, "utf-8"), ("image/jpeg", "photo.jpg", b"\xff\xd8", None)]
    message = decode_retrieve_conf(encode_retrieve_conf("+1", ["+2", "a@b.pl"], None, parts, NOW, "M"))
    assert message.content_type_params["start"] == "<part1>"
    assert [p.data for p in message.parts] == [SMIL, b"\xff\xd8"]
    assert message.to == ["+2", "a@b.pl"]
    assert message.subject is None and message.transaction_id is None


def test_encode_retrieve_conf_refuses_what_it_cannot_write():
    with pytest.raises(MmsError, match="multipart 'alternative'"):
        encode_retrieve_conf("+1", "+2", "s", [], NOW, "M", multipart="alternative")
    with pytest.raises(MmsError, match=r"part 1 \(a.txt\): data is str"):
        encode_retrieve_conf("+1", "+2", "s", [("text/plain", "a.txt", "text", None)], NOW, "M")  # type: ignore[list-item]
    with pytest.raises(MmsError, match="contains NUL"):
        encode_retrieve_conf("+1", "+2", "s", [], NOW, "M\x00")
    with pytest.raises(MmsError, match="MMS version"):
        encode_notifyresp_ind("T", version="one")


# --- python-messaging (messaging.mms 0.5.13) -------------------------------------------------------


def python_messaging_text_message(**headers: object) -> bytes:
    message = MMSMessage()
    message.headers.update(headers)
    page = MMSMessagePage()
    page.add_text("Hi there")
    message.add_page(page)
    return bytes(MMSEncoder().encode(message))


def test_reads_python_messagings_m_send_req_with_smil_and_text():
    data = python_messaging_text_message(
        To="+48600100200/TYPE=PLMN",
        From="+48600999888/TYPE=PLMN",
        Subject="Hello",
        **{"Transaction-Id": "42"},
    )
    pdu = decode_mms_pdu(data)
    assert pdu.message_type == "m-send-req"
    assert pdu.headers["To"] == ["+48600100200"]
    assert (pdu.headers["From"], pdu.headers["Subject"]) == ("+48600999888", "Hello")
    assert pdu.headers["X-Mms-Transaction-Id"] == "42"
    assert pdu.headers["X-Mms-MMS-Version"] == "1.0"
    smil, text = pdu.parts
    assert smil.content_type == "application/smil"
    assert smil.content_id == "0000"  # written as a textual "Content-ID" header (WSP 1.2 table)
    assert (text.content_type, text.text) == ("text/plain", "Hi there")


def test_reads_python_messagings_m_retrieve_conf():
    data = python_messaging_text_message(
        **{"Message-Type": "m-retrieve-conf", "Transaction-Id": "T1", "MMS-Version": "1.2"},
        From="+48600999888/TYPE=PLMN",
        **{"Message-ID": "MID1"},
    )
    message = decode_retrieve_conf(data)
    assert (message.transaction_id, message.version, message.sender, message.message_id) == (
        "T1",
        "1.2",
        "+48600999888",
        "MID1",
    )
    assert [p.text for p in message.parts[1:]] == ["Hi there"]


def test_reads_python_messagings_binary_part_given_as_latin1_text():
    # The way python-messaging carries octets: a str of code points 0-255 (see the bug below).
    payload = bytes(range(256)) * 8
    message = MMSMessage()
    part = DataPart()
    part.set_data(payload.decode("latin-1"), "image/jpeg")
    part.headers["Content-Location"] = "x.jpg"
    page = MMSMessagePage()
    page.image = (part, 0, 0)
    message.add_page(page)
    [_, image] = decode_mms_pdu(bytes(MMSEncoder().encode(message))).parts
    assert (image.content_type, image.name, image.data) == ("image/jpeg", "x.jpg", payload)


def test_python_messagings_field_encoders_write_our_notifyresp_byte_for_byte():
    theirs = b"".join(
        bytes(MMSEncoder.encode_header(name, value))
        for name, value in [
            ("Message-Type", "m-notifyresp-ind"),
            ("Transaction-Id", "T1"),
            ("MMS-Version", "1.3"),
            ("Status", "Retrieved"),
        ]
    )
    assert theirs == encode_notifyresp_ind("T1", "retrieved", "1.3")


# Its Date decoder calls datetime.utcfromtimestamp, deprecated from Python 3.12 on.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_python_messagings_decoder_reads_our_retrieve_conf_parts_byte_identical():
    parts = [("image/jpeg", "a.jpg", JPEG[:5000], None), ("text/plain", "t.txt", TEXT, "utf-8")]
    raw = encode_retrieve_conf("+48600100200", "+48500100200", SUBJECT, parts, NOW, "MID", "T")
    theirs = MMSDecoder().decode_data(array.array("B", raw))
    assert theirs.headers["Subject"] == SUBJECT
    assert theirs.headers["From"] == "+48600100200/TYPE=PLMN"
    assert [bytes(p.data) for p in theirs.data_parts[1:]] == [JPEG[:5000], TEXT]


def test_python_messaging_bug_long_integer_written_little_endian():
    # WSP §8.4.2.1: Multi-octet-integer, most significant octet first. python-messaging writes
    # X-Mms-Message-Size 1234 as 02 D2 04; we follow the spec and read that as 0xD204.
    theirs = bytes(MMSEncoder.encode_header("Message-Size", 1234))
    assert theirs == octets("8E 02 D2 04")
    assert decode_mms_pdu(octets("8C 82") + theirs).headers["X-Mms-Message-Size"] == 0xD204
    assert octets("8E 02 04 D2") in encode_notification_ind("T", "u", 1234, 60)


def test_python_messaging_bug_data_parts_counted_but_never_written():
    # add_data_part() counts the part in nEntries, but encode_message_body() writes only the SMIL
    # and the slides: the entity promises 2 entries and holds 1. We refuse it, saying where.
    message = MMSMessage()
    part = DataPart()
    part.set_data("data", "text/plain")
    message.add_data_part(part)
    data = bytes(MMSEncoder().encode(message))
    with pytest.raises(MmsError, match=r"truncated: multipart entry 2 of 2 expected at offset \d+"):
        decode_mms_pdu(data)


def test_python_messaging_bug_text_beyond_latin1_cannot_be_encoded():
    # encode_text_string() writes ord(c) per character: no charset, nothing above U+00FF.
    with pytest.raises(OverflowError):
        python_messaging_text_message(Subject=SUBJECT)
    # Latin-1 goes out as raw ISO-8859-1 octets without a charset; we read it as ISO-8859-1
    # because it is not UTF-8.
    assert decode_mms_pdu(python_messaging_text_message(Subject="café")).headers["Subject"] == "café"


def test_python_messaging_bug_binary_part_data_cannot_be_encoded_on_python3():
    # encode_message_body() does ord() on every element of the data: bytes give ints, ord fails.
    part = DataPart()
    part.set_data(b"\xff\xd8", "image/jpeg")
    page = MMSMessagePage()
    page.image = (part, 0, 0)
    message = MMSMessage()
    message.add_page(page)
    with pytest.raises(TypeError):
        MMSEncoder().encode(message)


def test_python_messaging_bug_content_type_parameters_crash_and_miscount():
    # encode_parameter() sorts dict_keys (Python 2 only) ...
    message = MMSMessage()
    message.headers["Content-Type"] = ("application/vnd.wap.multipart.related", {"Start": "<0000>"})
    with pytest.raises(AttributeError):
        MMSEncoder().encode(message)
    # ... and encode_content_general_form() sets Value-length to the number of list items, not of
    # octets: 1 for a 17-octet media type.
    value_length, media_type = wsp_pdu.Encoder.encode_content_general_form("application/smil", {})
    assert (value_length, bytes(media_type)) == (1, b"application/smil\x00")


def test_python_messaging_bug_smil_text_src_is_the_text_itself():
    data = python_messaging_text_message()
    smil = decode_mms_pdu(data).parts[0].data
    assert b'<text src="Hi there"' in smil  # should reference the text part, not contain it
    assert b'duration="4000"' in smil  # SMIL's attribute is "dur"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_python_messaging_bug_content_id_of_wsp_1_3_is_unknown_to_its_decoder():
    # Content-ID is header 0x40 from WSP encoding 1.3 on; python-messaging's decoder stops at 1.2,
    # misreads our C0 22 "<part1>" as a header named '"' and loses the Content-Location after it.
    raw = encode_retrieve_conf("+1", "+2", None, [("image/jpeg", "a.jpg", b"\xff", None)], NOW, "M")
    theirs = MMSDecoder().decode_data(array.array("B", raw))
    assert "Content-Location" not in theirs.data_parts[1].headers
    ours = decode_retrieve_conf(raw).parts[1]
    assert (ours.content_id, ours.content_location) == ("part1", "a.jpg")


def test_mms_message_view_from_a_pdu():
    pdu = decode_mms_pdu(encode_retrieve_conf("+1", "+2", "s", [], NOW, "M", smil=False))
    message = MmsMessage.from_pdu(pdu)
    assert (message.parts, message.subject) == ([], "s")
