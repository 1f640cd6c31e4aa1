"""WSP value encodings, content types, headers, multipart and push PDUs (WAP-230-WSP), read and
written. Byte strings here are built by hand from the spec, field by field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.codecs import wsp
from appliance.codecs.wsp import (
    ContentDisposition,
    ContentType,
    MmsError,
    WspPart,
    decode_content_type,
    decode_date_value,
    decode_encoded_string_value,
    decode_headers,
    decode_integer_value,
    decode_long_integer,
    decode_multipart,
    decode_push,
    decode_quoted_string,
    decode_short_integer,
    decode_text,
    decode_text_string,
    decode_text_value,
    decode_uintvar,
    decode_value_length,
    encode_content_type,
    encode_encoded_string_value,
    encode_header,
    encode_integer_value,
    encode_long_integer,
    encode_multipart,
    encode_push,
    encode_quoted_string,
    encode_text_string,
    encode_uintvar,
    encode_value_length,
)


def octets(*fields: str | bytes) -> bytes:
    """Hex fields (spaces allowed) and literal byte strings, joined."""
    return b"".join(f if isinstance(f, bytes) else bytes.fromhex(f.replace(" ", "")) for f in fields)


MMS_MESSAGE = "application/vnd.wap.mms-message"


# --- §8.1.2 uintvar ------------------------------------------------------------------------------


def test_uintvar_example_of_the_spec_0x87a5_is_82_8f_25():
    # WSP §8.1.2: 0x87A5 = 1 0000010 1 0001111 0 0100101
    assert encode_uintvar(0x87A5) == octets("82 8F 25")
    assert decode_uintvar(octets("82 8F 25 FF")) == (0x87A5, 3)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 16383, 16384, 2**32 - 1])
def test_uintvar_round_trips_at_the_seven_bit_boundaries(value):
    raw = encode_uintvar(value)
    assert decode_uintvar(raw) == (value, len(raw))


def test_a_uintvar_of_more_than_five_octets_is_refused_with_its_offset():
    with pytest.raises(MmsError, match="offset 1: uintvar longer than 5 octets"):
        decode_uintvar(octets("00 80 80 80 80 80 01"), 1)


def test_a_uintvar_cut_short_says_truncated():
    with pytest.raises(MmsError, match="truncated: uintvar expected at offset 2"):
        decode_uintvar(octets("82 8F"))


def test_encoders_refuse_what_a_uintvar_cannot_hold():
    with pytest.raises(MmsError):
        encode_uintvar(2**32)
    with pytest.raises(MmsError):
        encode_uintvar(-1)


# --- §8.4.2.1 integers -----------------------------------------------------------------------------


def test_short_integer_is_the_value_with_bit_7_set():
    assert decode_short_integer(octets("84")) == (4, 1)
    with pytest.raises(MmsError, match="0x04 is not a Short-integer"):
        decode_short_integer(octets("04"))


def test_long_integer_is_a_length_then_big_endian_octets():
    assert decode_long_integer(octets("02 04 D2")) == (1234, 3)
    assert encode_long_integer(1234) == octets("02 04 D2")
    assert encode_long_integer(0) == octets("01 00")


def test_long_integer_with_short_length_zero_reads_as_zero():
    # §8.4.2.1 asks for 1-30 octets; python-messaging writes 0 as a bare 00, read leniently.
    assert decode_long_integer(octets("00")) == (0, 1)


def test_long_integer_length_above_30_is_not_a_long_integer():
    with pytest.raises(MmsError, match="0x1F is not a Long-integer Short-length"):
        decode_long_integer(octets("1F 01"))


def test_integer_value_is_short_below_128_else_long():
    assert encode_integer_value(127) == octets("FF")
    assert encode_integer_value(128) == octets("01 80")
    assert decode_integer_value(octets("FF")) == (127, 1)
    assert decode_integer_value(octets("01 80")) == (128, 2)


def test_date_value_is_seconds_since_1970_utc():
    assert decode_date_value(octets("04 4C 28 82 54")) == (datetime(2010, 6, 28, 11, 7, tzinfo=UTC), 5)


def test_a_date_too_far_away_is_an_error_not_an_overflow():
    with pytest.raises(MmsError, match="not a representable date"):
        decode_date_value(octets("1E") + b"\xff" * 30)


# --- §8.4.2.2 lengths ------------------------------------------------------------------------------


def test_value_length_short_form_and_length_quote():
    assert decode_value_length(octets("1E")) == (30, 1)
    assert decode_value_length(octets("1F 82 8F 25")) == (0x87A5, 4)
    assert encode_value_length(30) == octets("1E")
    assert encode_value_length(31) == octets("1F 1F")
    with pytest.raises(MmsError, match="0x20 is not a Value-length"):
        decode_value_length(octets("20"))


# --- §8.4.2.1 texts --------------------------------------------------------------------------------


def test_text_string_ends_at_nul():
    assert decode_text_string(b"abc\x00def") == ("abc", 4)


def test_text_string_starting_above_127_carries_a_quote_which_the_reader_drops():
    raw = encode_text_string("żaba")
    assert raw == b"\x7f" + "żaba".encode() + b"\x00"
    assert decode_text_string(raw) == ("żaba", len(raw))


def test_a_text_starting_with_del_is_quoted_so_the_del_survives():
    assert decode_text_string(encode_text_string("\x7fx"))[0] == "\x7fx"


def test_text_that_is_not_utf8_reads_as_latin1():
    assert decode_text_string(b"caf\xe9\x00")[0] == "café"


def test_text_without_end_of_string_is_truncated_with_its_offset():
    with pytest.raises(MmsError, match="Text-string at offset 2 has no End-of-string"):
        decode_text_string(b"xxabc", 2)


def test_encoders_refuse_nul_inside_and_control_octets_in_front():
    with pytest.raises(MmsError, match="contains NUL"):
        encode_text_string("a\x00b")
    with pytest.raises(MmsError, match="control octet 0x01"):
        encode_text_string("\x01abc")


def test_an_empty_media_type_is_refused_not_written_as_a_value_length():
    # Found by fuzz/wap_push.py: a push typed by an empty quoted Text-string reads as media type "";
    # written again, its lone NUL read back as Value-length 0 and the push no longer decoded.
    push = decode_push(bytes.fromhex("0106027f0000af"))
    assert push.content_type.media_type == ""
    with pytest.raises(MmsError, match="a media type cannot be empty"):
        encode_push(push.transaction_id, push.content_type, [], push.body)


def test_quoted_string_opens_with_a_double_quote_and_has_no_closing_one():
    assert encode_quoted_string("<0001>") == b'"<0001>\x00'
    assert decode_quoted_string(b'"<0001>\x00') == ("<0001>", 8)


def test_text_value_is_no_value_token_text_or_quoted_string():
    assert decode_text_value(b"\x00") == ("", 1)
    assert decode_text_value(b"token\x00") == ("token", 6)
    assert decode_text_value(b'"quoted text\x00') == ("quoted text", 13)


# --- encoded-string-value (OMA-TS-MMS_ENC §7.2.9) and charsets -------------------------------------


def test_encoded_string_value_plain_text_string():
    assert decode_encoded_string_value(b"Hello\x00") == ("Hello", 6)
    assert encode_encoded_string_value("Hello") == b"Hello\x00"


def test_encoded_string_value_utf8_with_polish_letters_and_emoji():
    text = "Zażółć gęślą jaźń 😀"
    raw = encode_encoded_string_value(text)
    body = "Zażółć gęślą jaźń 😀".encode() + b"\x00"
    # 33 octets: past the 30 a Short-length holds, so Length-quote (0x1F) and a uintvar.
    assert raw == octets("1F 21 EA") + body  # 0xEA: Short-integer 106, UTF-8
    assert decode_encoded_string_value(raw) == (text, len(raw))


def test_encoded_string_value_empty_text_is_end_of_string_alone():
    assert encode_encoded_string_value("") == b"\x00"
    assert decode_encoded_string_value(b"\x00") == ("", 1)


@pytest.mark.parametrize(
    ("mibenum", "charset", "raw", "text"),
    [
        ("EA", "utf-8", "Łódź".encode(), "Łódź"),
        ("83", "us-ascii", b"plain", "plain"),
        ("84", "iso-8859-1", "café".encode("latin-1"), "café"),
        ("85", "iso-8859-2", "Łódź".encode("iso-8859-2"), "Łódź"),
        ("02 03 F7", "utf-16", b"\xfe\xff" + "Łódź".encode("utf-16-be"), "Łódź"),
        ("02 03 F7", "utf-16", "Łódź".encode("utf-16-be"), "Łódź"),  # no BOM: big-endian
        ("02 03 F7", "utf-16", b"\xff\xfe" + "Łódź".encode("utf-16-le"), "Łódź"),
        ("02 03 E8", "iso-10646-ucs-2", "Łódź".encode("utf-16-be"), "Łódź"),
        ("02 07 EA", "big5", "中文".encode("big5"), "中文"),
        ("91", "shift_jis", "日本".encode("shift_jis"), "日本"),
        ("02 08 CA", "windows-1250", "Łódź".encode("cp1250"), "Łódź"),
    ],
)
def test_encoded_string_value_in_each_charset(mibenum, charset, raw, text):
    terminator = b"\x00\x00" if charset in ("utf-16", "iso-10646-ucs-2") else b"\x00"
    quote = b"\x7f" if raw[0] >= 0x7F else b""
    body = octets(mibenum) + quote + raw + terminator
    data = bytes([len(body)]) + body
    assert decode_encoded_string_value(data) == (text, len(data))
    assert wsp.charset_name(decode_integer_value(octets(mibenum))[0]) == charset


def test_utf16_written_by_the_encoder_reads_back():
    raw = encode_encoded_string_value("Zażółć 😀", charset="utf-16")
    assert decode_encoded_string_value(raw)[0] == "Zażółć 😀"


def test_any_charset_and_unknown_mibenums_read_as_utf8():
    assert decode_encoded_string_value(octets("06 80") + "zaż".encode() + b"\x00")[0] == "zaż"
    assert decode_encoded_string_value(octets("07 02 0B B7") + b"abc\x00")[0] == "abc"
    assert wsp.charset_name(2999) == "mibenum-2999"


def test_decode_text_replaces_what_the_charset_cannot_read():
    assert decode_text(b"ok\xff", "utf-8") == "ok\ufffd"
    assert decode_text(b"\xef\xbb\xbfBOM", "utf-8") == "BOM"
    assert decode_text(b"abc", None) == "abc"


def test_mibenum_knows_names_and_aliases():
    assert wsp.mibenum("UTF-8") == 106
    assert wsp.mibenum("latin2") == 5
    assert wsp.mibenum("UCS-2") == 1000
    with pytest.raises(MmsError, match="no MIBenum"):
        wsp.mibenum("klingon")


# --- Table 40 and content types (§8.4.2.24) ----------------------------------------------------


def test_well_known_content_types_of_table_40():
    assert wsp.CONTENT_TYPES[0x03] == "text/plain"
    assert wsp.CONTENT_TYPES[0x0C] == "multipart/mixed"
    assert wsp.CONTENT_TYPES[0x0E] == "multipart/byteranges"  # not "byterantes"
    assert wsp.CONTENT_TYPES[0x1E] == "image/jpeg"
    assert wsp.CONTENT_TYPES[0x23] == "application/vnd.wap.multipart.mixed"
    assert wsp.CONTENT_TYPES[0x33] == "application/vnd.wap.multipart.related"
    assert wsp.CONTENT_TYPES[0x3E] == MMS_MESSAGE
    assert wsp.CONTENT_TYPES[0x4F] == "audio/*"


def test_constrained_media_well_known_and_textual():
    assert decode_content_type(octets("BE")) == (ContentType(MMS_MESSAGE), 1)
    assert decode_content_type(b"audio/amr\x00") == (ContentType("audio/amr"), 10)
    assert encode_content_type(MMS_MESSAGE) == octets("BE")
    assert encode_content_type("audio/amr") == b"audio/amr\x00"


def test_general_form_multipart_related_with_start_and_type_in_wsp_1_2_encoding():
    # Value-length, 0xB3 related, 0x89 Type (constrained-encoding) application/smil, 0x8A Start
    data = octets("1B B3 89") + b"application/smil\x00" + octets("8A") + b"<smil>\x00"
    content_type, end = decode_content_type(data)
    assert end == len(data)
    assert content_type == ContentType(
        "application/vnd.wap.multipart.related", {"type": "application/smil", "start": "<smil>"}
    )


def test_general_form_with_wsp_1_4_text_value_parameters():
    # 0x97 Name, 0x98 Filename, 0x99 Start as Text-value (quoted string allowed)
    body = octets("9E 97") + b'"photo.jpg\x00' + octets("98") + b"p.jpg\x00" + octets("99 00")
    content_type, _ = decode_content_type(bytes([len(body)]) + body)
    assert content_type == ContentType("image/jpeg", {"name": "photo.jpg", "filename": "p.jpg", "start": ""})


def test_general_form_as_a_samsung_phone_writes_a_text_part():
    # From an m-send-req posted on the NowSMS forum: text/plain; charset=utf-8; name=12345678.txt
    data = octets("11 83 81 EA 85") + b"12345678.txt\x00"
    content_type, _ = decode_content_type(data)
    assert content_type == ContentType("text/plain", {"charset": "utf-8", "name": "12345678.txt"})
    assert content_type.charset == "utf-8"


def test_wsp_1_1_type_parameter_is_an_integer_naming_a_well_known_type():
    body = octets("B3 83 83")  # Type (0x03) = Integer-value 3: text/plain
    assert decode_content_type(bytes([len(body)]) + body)[0].params == {"type": "text/plain"}


def test_untyped_parameters_by_token_with_integer_or_text_value():
    body = octets("83") + b"format\x00flowed\x00" + b"level\x00" + octets("82")
    assert decode_content_type(bytes([len(body)]) + body)[0].params == {"format": "flowed", "level": 2}


def test_a_well_known_media_number_nobody_registered_is_kept_as_octet_stream():
    assert decode_content_type(octets("FF"))[0].media_type == "application/octet-stream"


def test_long_integer_well_known_media_in_the_general_form():
    body = octets("02 03 05")  # 0x0305 text/calendar
    assert decode_content_type(bytes([len(body)]) + body)[0].media_type == "text/calendar"


def test_content_type_encoder_writes_the_general_form_when_there_are_parameters():
    raw = encode_content_type("text/plain", {"charset": "utf-8", "name": "a.txt"})
    assert raw == octets("0A 83 81 EA 85") + b"a.txt\x00"
    related = encode_content_type(
        "application/vnd.wap.multipart.related", {"start": "<smil>", "type": "application/smil"}
    )
    assert related == octets("1B B3 8A") + b"<smil>\x00" + octets("89") + b"application/smil\x00"
    for encoded in (raw, related):
        assert decode_content_type(encoded)[1] == len(encoded)


def test_a_content_type_value_longer_than_its_value_length_is_truncated():
    with pytest.raises(MmsError, match="truncated"):
        decode_content_type(octets("05 83 81"))


# --- headers (§8.4.2.6, Table 39) --------------------------------------------------------------


def test_header_numbers_of_table_39():
    assert wsp.HEADER_FIELDS[0x0E] == "Content-Location"
    assert wsp.HEADER_FIELDS[0x2F] == "X-Wap-Application-Id"
    assert wsp.HEADER_FIELDS[0x40] == "Content-ID"
    assert wsp.HEADER_FIELDS[0x2E] == wsp.HEADER_FIELDS[0x45] == "Content-Disposition"


def test_part_headers_content_id_content_location_and_an_application_header():
    data = (
        octets("C0")
        + b'"<29155136>\x00'
        + octets("8E")
        + b"12345678.txt\x00"
        + b"X-Custom\x00value\x00"
        + octets("8D 81")  # Content-Length 1
    )
    assert decode_headers(data) == {
        "Content-ID": "<29155136>",
        "Content-Location": "12345678.txt",
        "X-Custom": "value",
        "Content-Length": 1,
    }


def test_content_id_written_by_wsp_1_2_encoders_as_a_textual_header_reads_the_same():
    assert decode_headers(b"Content-ID\x00<0000>\x00") == {"Content-ID": "<0000>"}


def test_content_disposition_with_filename():
    body = octets("81 86") + b"photo.jpg\x00"  # attachment; filename=photo.jpg
    data = octets("AE") + bytes([len(body)]) + body
    assert decode_headers(data) == {
        "Content-Disposition": ContentDisposition("attachment", {"filename": "photo.jpg"})
    }
    assert encode_header(
        "Content-Disposition", ContentDisposition("attachment", {"filename": "photo.jpg"})
    ) == (octets("AE 0C 81 86") + b"photo.jpg\x00")


def test_header_encoder_uses_well_known_numbers_and_falls_back_to_application_headers():
    assert encode_header("X-Wap-Application-Id", "x-wap-application:mms.ua") == octets("AF 84")
    assert encode_header("Content-Location", "a.jpg") == octets("8E") + b"a.jpg\x00"
    assert encode_header("Content-ID", "<a>") == octets("C0") + b'"<a>\x00'
    assert encode_header("X-Anything", "v") == b"X-Anything\x00v\x00"


def test_code_page_shifts_are_followed_not_fatal():
    # Shift-delimiter 0x7F to page 2, one header there, Short-cut-shift 0x01 back to page 1.
    headers = decode_headers(octets("7F 02 81 85 01 8E") + b"a\x00")
    assert headers == {"page2-0x01": 5, "Content-Location": "a"}


def test_a_nul_where_a_header_name_belongs_is_an_error_with_its_offset():
    with pytest.raises(MmsError, match="header at offset 2: 0x00"):
        decode_headers(octets("8D 81 00"))


# --- push PDU (§8.2.4.1) -----------------------------------------------------------------------


NOTIFICATION = (
    octets("8C 82 98")
    + b"NOK5AC0000001\x00"
    + octets("8D 92")
    + octets("89 18 80")
    + b"+48600100200/TYPE=PLMN\x00"
    + octets("8A 80 8E 02 74 00 88 05 81 03 03 F4 80 83")
    + b"http://mmsc.example.pl/NOK5AC0000001\x00"
)


def test_operator_push_with_the_binary_content_type():
    # TID 01, Push, HeadersLen 3: 0xBE application/vnd.wap.mms-message, X-Wap-Application-Id mms.ua
    pdu = decode_push(octets("01 06 03 BE AF 84") + NOTIFICATION)
    assert pdu.transaction_id == 1
    assert pdu.pdu_type == "push"
    assert pdu.content_type == ContentType(MMS_MESSAGE)
    assert pdu.application_id == "x-wap-application:mms.ua"
    assert pdu.body == NOTIFICATION
    assert pdu.body_offset == 6


def test_operator_push_with_the_textual_content_type():
    pdu = decode_push(octets("00 06 22") + MMS_MESSAGE.encode() + b"\x00" + octets("AF 84") + NOTIFICATION)
    assert pdu.content_type.media_type == MMS_MESSAGE
    assert pdu.headers == {"X-Wap-Application-Id": "x-wap-application:mms.ua"}
    assert pdu.body == NOTIFICATION


def test_push_as_posted_on_the_nowsms_forum_with_content_length_and_push_flag():
    # support.nowsms.com "MMS Notification WAP Push ISSUE" (2006), from the TID on.
    data = (
        octets("59 06 26")
        + MMS_MESSAGE.encode()
        + octets("00 8D DC AF 84 B4 80")
        + octets("8C 82 98")
        + b"M20060217003438\x00"
        + octets("8D 90 89 02 80 00 8A 80 8E 01 80 88 05 81 03 01 51 80 83")
        + b"http://10.0.9.25/M20060217003438\x00"
    )
    pdu = decode_push(data)
    assert pdu.transaction_id == 0x59
    assert pdu.headers == {
        "Content-Length": 0x5C,
        "X-Wap-Application-Id": "x-wap-application:mms.ua",
        "Push-Flag": 0,
    }
    assert pdu.body.startswith(octets("8C 82 98"))


def test_confirmed_push_and_other_pdu_types():
    assert decode_push(octets("01 07 01 BE")).pdu_type == "confirmed-push"
    with pytest.raises(MmsError, match="offset 1: 0x40 is not Push"):
        decode_push(octets("01 40 01 BE"))


def test_push_headers_longer_than_the_pdu_are_truncated_with_offsets():
    with pytest.raises(MmsError, match="push headers at offset 3 is 9 octets long, only 3 left"):
        decode_push(octets("01 06 09 BE AF 84"))


def test_encode_push_by_default_writes_what_an_mmsc_sends():
    assert encode_push(0x2A, body=NOTIFICATION) == octets("2A 06 03 BE AF 84") + NOTIFICATION


def test_encode_push_then_decode_push_with_more_headers():
    raw = encode_push(
        7,
        MMS_MESSAGE,
        [("X-Wap-Application-Id", "x-wap-application:mms.ua"), ("Content-Length", 300), ("Push-Flag", 1)],
        NOTIFICATION,
        pdu_type=wsp.CONFIRMED_PUSH,
    )
    pdu = decode_push(raw)
    assert (pdu.transaction_id, pdu.pdu_type, pdu.body) == (7, "confirmed-push", NOTIFICATION)
    assert pdu.headers == {
        "X-Wap-Application-Id": "x-wap-application:mms.ua",
        "Content-Length": 300,
        "Push-Flag": 1,
    }


def test_an_application_id_by_uri_or_by_unknown_code():
    assert decode_push(octets("01 06 03 BE AF 8F")).application_id == "x-wap-application-code:15"
    raw = encode_push(1, MMS_MESSAGE, {"X-Wap-Application-Id": "x-wap-application:other"})
    assert decode_push(raw).application_id == "x-wap-application:other"


# --- multipart (§8.5) ----------------------------------------------------------------------------


def test_multipart_entries_read_with_content_type_headers_and_data():
    text_head = octets("83") + octets("8E") + b"t.txt\x00"
    image_head = octets("9E") + octets("C0") + b'"<img>\x00'
    data = (
        octets("02")
        + bytes([len(text_head), 2])
        + text_head
        + b"hi"
        + bytes([len(image_head)])
        + encode_uintvar(200)
        + image_head
        + bytes(range(200))
    )
    first, second = decode_multipart(data)
    assert first == WspPart(ContentType("text/plain"), {"Content-Location": "t.txt"}, b"hi", 11)
    assert second.content_type == ContentType("image/jpeg")
    assert second.headers == {"Content-ID": "<img>"}
    assert second.data == bytes(range(200))


def test_multipart_promising_more_entries_than_it_has_says_which_and_where():
    data = encode_multipart([WspPart(ContentType("text/plain"), {}, b"x")])
    with pytest.raises(MmsError, match=r"multipart entry 2 of 2 expected at offset 5"):
        decode_multipart(b"\x02" + data[1:])


def test_multipart_data_cut_short_is_truncated():
    data = encode_multipart([WspPart(ContentType("image/jpeg"), {}, bytes(100))])
    with pytest.raises(
        MmsError, match=r"multipart entry 1 of 1 data at offset 4 needs 100 octets, only 50 left"
    ):
        decode_multipart(data[:54])


def test_encode_multipart_then_decode():
    parts = [
        WspPart(ContentType("text/plain", {"charset": "utf-8"}), {"Content-Location": "a.txt"}, "ą".encode()),
        WspPart(ContentType("image/png"), {"Content-ID": "<p>"}, bytes(1000)),
    ]
    decoded = decode_multipart(encode_multipart(parts))
    assert [(p.content_type, p.headers, p.data) for p in decoded] == [
        (p.content_type, p.headers, p.data) for p in parts
    ]


# --- input shape ---------------------------------------------------------------------------------


def test_value_decoders_refuse_text_and_offsets_outside_the_data():
    with pytest.raises(MmsError, match="bytes, not str"):
        decode_uintvar("82")  # type: ignore[arg-type]
    with pytest.raises(MmsError, match="offset 5 is outside the 2 octets"):
        decode_uintvar(b"\x01\x02", 5)
    with pytest.raises(MmsError, match="bytes, not str"):
        decode_push("0106")  # type: ignore[arg-type]
