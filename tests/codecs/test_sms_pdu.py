"""SMS PDUs (3GPP TS 23.040), read and written. PDUs here are built by hand, field by field."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta, timezone

import pytest

from appliance.codecs.sms_pdu import (
    Concat,
    PduError,
    PortAddress,
    SmsDeliver,
    SmsStatusReport,
    decode_mt_pdu,
    decode_sms_deliver,
    decode_sms_status_report,
    decode_sms_submit,
    decode_ucs2,
    encode_sms_deliver,
    encode_sms_deliver_data,
    encode_sms_status_report,
    encode_sms_submit,
)


def pdu(*fields: str) -> bytes:
    """Hex fields, spaces allowed, joined into one PDU."""
    return bytes.fromhex("".join(fields).replace(" ", ""))


def zone(hours: int, minutes: int = 0) -> timezone:
    sign = -1 if hours < 0 else 1
    return timezone(sign * timedelta(hours=abs(hours), minutes=minutes))


SMSC = "07 91 8406010013F0"  # 7 octets follow: international, +48601000310 (F pads the odd digit)
NO_SMSC = "00"
OA = "0B 91 8406100002F0"  # 11 digits, international: +48600100200
SCTS = "42 50 60 70 80 90 80"  # 24-05-06 07:08:09, zone 08 quarters = +02:00 (semi-octets swapped)
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=zone(2))
DELIVER = "04"  # TP-MTI 00 (SMS-DELIVER), TP-MMS 1 (no more messages waiting)
DELIVER_UDH = "44"  # ... and TP-UDHI
PID = "00"
GSM7 = "00"
EIGHT_BIT = "04"
UCS2 = "08"
# Offsets in error messages count from the PDU's first octet. With SMSC and OA above: first octet 8,
# TP-OA 9-16, TP-PID 17, TP-DCS 18, TP-SCTS 19-25, TP-UDL 26, TP-UD from 27.


# --- SMS-DELIVER: text ---------------------------------------------------------------------------


def test_a_plain_gsm_deliver_reads_field_by_field():
    message = decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, GSM7, SCTS, "05", "C8329BFD06"))
    assert message == SmsDeliver(
        smsc="+48601000310",
        sender="+48600100200",
        sender_toa=0x91,
        pid=0,
        dcs=0,
        alphabet="gsm7",
        message_class=None,
        timestamp=WHEN,
        udh=b"",
        concat=None,
        ports=None,
        text="Hello",
        data=bytes.fromhex("C8329BFD06"),
        more_messages=False,
        status_report_indication=False,
        reply_path=False,
    )


def test_septet_0x5f_reads_as_the_section_sign():
    assert decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, GSM7, SCTS, "01", "5F")).text == "§"


def test_extension_table_characters_count_two_septets_in_the_udl():
    # €[] = ESC 65, ESC 3C, ESC 3E: six septets.
    message = decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, GSM7, SCTS, "06", "9BF286B7F101"))
    assert message.text == "€[]"


def test_turkish_locking_and_single_shift_tables_announced_in_the_udh():
    # UDH: IE 25 (locking shift) Turkish, IE 24 (single shift) Turkish; 7 octets = 8 septets, no
    # fill bits. Text septets: ESC 47 (Ğ, single shift), 40 (İ), 1D (ş), 60 (ç), 07 (ı), ESC 28 ({).
    message = decode_sms_deliver(
        pdu(SMSC, DELIVER_UDH, OA, PID, GSM7, SCTS, "10", "06 250101 240101", "9B23B0033E6C50")
    )
    assert message.text == "Ğİşçı{"
    assert message.udh == bytes.fromhex("250101240101")


def test_spanish_single_shift_table():
    # UDH: IE 24 Spanish; 4 octets = 5 septets with 3 fill bits.
    message = decode_sms_deliver(
        pdu(SMSC, DELIVER_UDH, OA, PID, GSM7, SCTS, "12", "03 240102", "D804E5E2371BD40FBBC99B3A")
    )
    assert message.text == "Árbol ñandú"


def test_portuguese_locking_shift_table():
    # Septets 41 09 7B 6F 20 04 20 24 20 60 in the Portuguese locking shift table.
    message = decode_sms_deliver(
        pdu(SMSC, DELIVER_UDH, OA, PID, GSM7, SCTS, "0F", "03 250103", "0826F66F100144028101")
    )
    assert message.text == "Ação ê º ~"


def test_ucs2_text_with_an_emoji_as_a_surrogate_pair():
    message = decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, UCS2, SCTS, "0A", "0048 0069 0020 D83D DE00"))
    assert message.alphabet == "ucs2"
    assert message.text == "Hi 😀"


def test_a_surrogate_pair_split_across_parts_joins_again_from_the_data():
    first = decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, UCS2, SCTS, "04", "0048 D83D"))
    second = decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, UCS2, SCTS, "04", "DE00 0021"))
    assert first.text == "H\ufffd"
    assert decode_ucs2(first.data + second.data) == "H😀!"


def test_ucs2_nul_characters_are_dropped_from_the_text_but_kept_in_the_data():
    # Found by fuzz/reception.py: PostgreSQL refuses U+0000 in text, failing the reception's batch.
    message = decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, UCS2, SCTS, "08", "0048 0000 0069 0000"))
    assert (message.text, message.data) == ("Hi", bytes.fromhex("0048000000690000"))


def test_an_odd_ucs2_octet_count_keeps_what_can_be_read():
    assert decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, UCS2, SCTS, "03", "0048 00")).text == "H\ufffd"


# --- SMS-DELIVER: user data header ---------------------------------------------------------------


def test_wap_push_as_8bit_data_to_port_2948_with_16_bit_port_addressing():
    # UDH: IE 05 (16-bit application ports) destination 0B84 = 2948, source 23F0 = 9200.
    message = decode_sms_deliver(
        pdu(SMSC, DELIVER_UDH, OA, PID, EIGHT_BIT, SCTS, "0E", "06 05040B8423F0", "01060403AE81EA")
    )
    assert message.alphabet == "8bit"
    assert message.ports == PortAddress(destination=2948, source=9200, bits=16)
    assert message.text is None
    assert message.data == bytes.fromhex("01060403AE81EA")


def test_8_bit_application_port_addressing():
    message = decode_sms_deliver(pdu(SMSC, DELIVER_UDH, OA, PID, EIGHT_BIT, SCTS, "05", "04 0402F5F5", "AA"))
    assert message.ports == PortAddress(destination=0xF5, source=0xF5, bits=8)


def test_concatenation_with_an_8_bit_reference_and_one_fill_bit():
    # UDH 05 00 03 2A 02 01: 6 octets = 48 bits; the text starts on septet 7 after one fill bit.
    message = decode_sms_deliver(
        pdu(SMSC, DELIVER_UDH, OA, PID, GSM7, SCTS, "0C", "0500032A0201", "906536FB0D")
    )
    assert message.concat == Concat(reference=0x2A, total=2, sequence=1, reference_bits=8)
    assert message.text == "Hello"


def test_concatenation_with_a_16_bit_reference():
    message = decode_sms_deliver(
        pdu(SMSC, DELIVER_UDH, OA, PID, GSM7, SCTS, "0B", "06 08041234 0302", "61F118")
    )
    assert message.concat == Concat(reference=0x1234, total=3, sequence=2, reference_bits=16)
    assert message.text == "abc"


def test_an_unknown_information_element_is_skipped():
    # IE 70 (unknown to us) with two octets, then 8-bit concatenation.
    message = decode_sms_deliver(
        pdu(SMSC, DELIVER_UDH, OA, PID, EIGHT_BIT, SCTS, "0C", "09 7002AABB 00032A0201", "DEAD")
    )
    assert message.concat == Concat(0x2A, 2, 1, 8)
    assert message.udh == bytes.fromhex("7002AABB00032A0201")
    assert message.data == bytes.fromhex("DEAD")


@pytest.mark.parametrize(
    "element",
    ["00032A0000", "00032A0203", "0002 2A02"],
    ids=["zero parts in total", "sequence past the total", "wrong length"],
)
def test_an_invalid_concatenation_element_is_ignored(element):
    # TS 23.040 §9.2.3.24.1: such an element is ignored as a whole.
    udh = bytes.fromhex(element.replace(" ", ""))
    header = bytes([len(udh)]) + udh
    message = decode_sms_deliver(
        pdu(SMSC, DELIVER_UDH, OA, PID, EIGHT_BIT, SCTS, f"{len(header) + 1:02X}", header.hex(), "AA")
    )
    assert message.concat is None
    assert message.data == b"\xaa"


def test_a_udh_length_past_the_end_of_the_user_data_is_an_error():
    with pytest.raises(PduError, match=r"UDH length 32 at offset 27 runs past the end"):
        decode_sms_deliver(pdu(SMSC, DELIVER_UDH, OA, PID, EIGHT_BIT, SCTS, "04", "20 000301"))


def test_an_information_element_running_past_the_udh_is_an_error():
    with pytest.raises(PduError, match=r"element 0x00 at offset 28 claims 7 octets"):
        decode_sms_deliver(pdu(SMSC, DELIVER_UDH, OA, PID, EIGHT_BIT, SCTS, "06", "05 00072A0201"))


def test_a_udh_flag_with_empty_user_data_is_an_error():
    with pytest.raises(PduError, match="TP-UDHI is set but the user data"):
        decode_sms_deliver(pdu(SMSC, DELIVER_UDH, OA, PID, EIGHT_BIT, SCTS, "00"))


# --- SMS-DELIVER: data coding scheme (TS 23.038 §4) ------------------------------------------------


@pytest.mark.parametrize(
    ("dcs", "alphabet", "message_class"),
    [
        (0x10, "gsm7", 0),  # general data coding with class 0 (flash SMS)
        (0xF0, "gsm7", 0),  # data coding / message class group, class 0
        (0x11, "gsm7", 1),
        (0xF6, "8bit", 2),
        (0x1A, "ucs2", 2),
        (0x40, "gsm7", None),  # marked for automatic deletion
        (0x0C, "gsm7", None),  # reserved alphabet: read as GSM 7-bit
        (0x84, "gsm7", None),  # reserved coding group: read as GSM 7-bit
        (0xC8, "gsm7", None),  # message waiting, discard
        (0xD0, "gsm7", None),  # message waiting, store
        (0xE0, "ucs2", None),  # message waiting, store, UCS-2
    ],
)
def test_data_coding_scheme_chooses_alphabet_and_class(dcs, alphabet, message_class):
    user_data = {"gsm7": "05 4176594E07", "8bit": "05 416C657274", "ucs2": "0A 0041006C006500720074"}[
        alphabet
    ]
    message = decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, f"{dcs:02X}", SCTS, user_data))
    assert (message.alphabet, message.message_class) == (alphabet, message_class)
    assert message.text == (None if alphabet == "8bit" else "Alert")


def test_compressed_user_data_is_reported_not_guessed():
    with pytest.raises(PduError, match=r"TP-DCS 0x20 at offset 18: compressed"):
        decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, "20", SCTS, "01", "00"))


# --- SMS-DELIVER: addresses ----------------------------------------------------------------------


def test_alphanumeric_sender():
    # TOA D0: alphanumeric; length 0D = 13 semi-octets, the 49 bits of 7 packed septets.
    message = decode_sms_deliver(pdu(SMSC, DELIVER, "0D D0 4126B378943E01", PID, GSM7, SCTS, "01", "41"))
    assert (message.sender, message.sender_toa) == ("ALLEGRO", 0xD0)


def test_national_sender_has_no_plus():
    # TOA A1: type of number "national", ISDN numbering plan.
    message = decode_sms_deliver(pdu(SMSC, DELIVER, "09 A1 06100002F0", PID, GSM7, SCTS, "01", "41"))
    assert (message.sender, message.sender_toa) == ("600100200", 0xA1)


def test_unknown_type_of_number_sender_and_star_hash_digits():
    message = decode_sms_deliver(pdu(SMSC, DELIVER, "04 81 1A2B", PID, GSM7, SCTS, "01", "41"))
    assert message.sender == "*1#2"


def test_twenty_digits_is_the_longest_address():
    message = decode_sms_deliver(pdu(SMSC, DELIVER, "14 91 21436587092143658709", PID, GSM7, SCTS, "01", "41"))
    assert message.sender == "+12345678901234567890"


# Found by fuzz/sms.py: a TP-OA of 136 digits gave a sender longer than the sender column.
FUZZED_LONG_SENDER = bytes.fromhex(
    "07918405210077f78888888888888888440b918405210077f7000462214071846200860605040b0000000000000000"
    "00000000000000000000000000000000000000008423f0010603beaf848c8298454d5530303030316563393935a200"
    "848c0000454d556535008d03beaf848c3230305d545950453d504c4d4e00960dea5a67c5826f737a656e6965008a80"
    "8e03eacf8588058103093a808368748c8298454d553030303030656339393536986515008d938918802b3438363030"
    "353662616331343136"
)


@pytest.mark.parametrize(("raw", "message"), [
    (pdu(SMSC, DELIVER, "15 91 2143658709214365870921", PID, GSM7, SCTS, "01", "41"),
     "TP-OA length 21 at offset 9: an address has at most 20 digits"),
    (FUZZED_LONG_SENDER, "TP-OA length 136 at offset 9"),
    (pdu(SMSC, "06", "2A", "FF 91" + "21" * 128, SCTS, SCTS, "00"), "TP-RA length 255 at offset 10"),
])
def test_an_address_longer_than_twenty_digits_is_an_error(raw, message):
    with pytest.raises(PduError, match=message):
        decode_mt_pdu(raw)


def test_an_empty_smsc_field_means_none():
    message = decode_sms_deliver(pdu(NO_SMSC, DELIVER, OA, PID, GSM7, SCTS, "01", "41"))
    assert message.smsc is None


def test_an_smsc_field_holding_only_a_type_of_address_means_none():
    # Gammu writes "01 81" when it has no SMSC number.
    assert decode_sms_deliver(pdu("0181", DELIVER, OA, PID, GSM7, SCTS, "01", "41")).smsc is None


def test_a_pdu_without_smsc_field():
    message = decode_sms_deliver(pdu(DELIVER, OA, PID, GSM7, SCTS, "01", "41"), with_smsc=False)
    assert (message.smsc, message.text) == (None, "A")


# --- SMS-DELIVER: timestamps (TS 23.040 §9.2.3.11) -------------------------------------------------


@pytest.mark.parametrize(
    ("zone_octet", "offset"),
    [
        ("80", zone(2)),  # 08 quarters
        ("29", zone(-3)),  # 12 quarters, sign bit 3 of the octet set
        ("32", zone(5, 45)),  # 23 quarters: Nepal
        ("00", zone(0)),
        ("1C", zone(-10, 15)),  # 41 quarters: tens 4 with the sign bit, units 1
    ],
)
def test_service_centre_time_stamp_carries_its_own_time_zone(zone_octet, offset):
    scts = "42 50 60 70 80 90 " + zone_octet
    message = decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, GSM7, scts, "01", "41"))
    assert message.timestamp == datetime(2024, 5, 6, 7, 8, 9, tzinfo=offset)
    assert message.timestamp.utcoffset() == offset.utcoffset(None)


@pytest.mark.parametrize("scts", ["42 31 60 70 80 90 80", "42 50 60 70 80 9A 80", "42 50 00 70 80 90 80"])
def test_an_impossible_time_stamp_is_an_error(scts):
    with pytest.raises(PduError, match="TP-SCTS at offset"):
        decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, GSM7, scts, "01", "41"))


# --- SMS-DELIVER: first octet --------------------------------------------------------------------


def test_first_octet_flags():
    # A0 = TP-RP, TP-SRI; TP-MMS 0 means more messages are waiting at the service centre.
    message = decode_sms_deliver(pdu(SMSC, "A0", OA, PID, GSM7, SCTS, "01", "41"))
    assert (message.more_messages, message.status_report_indication, message.reply_path) == (True, True, True)


def test_a_reserved_message_type_is_read_as_sms_deliver():
    # TS 23.040 §9.2.3.1: a TP-MTI of 11 is processed as an SMS-DELIVER.
    assert decode_sms_deliver(pdu(SMSC, "07", OA, PID, GSM7, SCTS, "01", "41")).text == "A"


def test_an_sms_submit_is_not_an_sms_deliver():
    with pytest.raises(PduError, match=r"TP-MTI 1 \(SMS-SUBMIT\) at offset 8: this is not an SMS-DELIVER"):
        decode_sms_deliver(pdu(SMSC, "01", "00", OA, PID, GSM7, "01", "41"))


# --- truncation ----------------------------------------------------------------------------------


def test_every_truncation_of_a_deliver_is_an_error():
    whole = pdu(SMSC, DELIVER_UDH, OA, PID, GSM7, SCTS, "0C", "0500032A0201", "906536FB0D")
    for length in range(len(whole)):
        with pytest.raises(PduError, match="truncated"):
            decode_sms_deliver(whole[:length])


def test_truncated_user_data_names_the_udl_and_the_offset():
    with pytest.raises(
        PduError, match=r"TP-UD \(TP-UDL 5 at offset 26\) at offset 27 needs 5 octets, only 3 left"
    ):
        decode_sms_deliver(pdu(SMSC, DELIVER, OA, PID, GSM7, SCTS, "05", "C8329B"))


def test_text_is_not_a_pdu():
    with pytest.raises(PduError, match="bytes.fromhex"):
        decode_sms_deliver("0791")  # type: ignore[arg-type]


# --- SMS-STATUS-REPORT ---------------------------------------------------------------------------


STATUS_REPORT = pdu(
    NO_SMSC,
    "06",  # TP-MTI 10 (SMS-STATUS-REPORT), TP-MMS 1
    "2A",  # TP-MR
    OA,  # TP-RA
    SCTS,  # TP-SCTS
    "42 50 60 70 90 00 29",  # TP-DT: 07:09:00 -03:00
    "00",  # TP-ST: received by the SME
)


def test_status_report():
    report = decode_sms_status_report(STATUS_REPORT)
    assert report == SmsStatusReport(
        smsc=None,
        message_reference=0x2A,
        recipient="+48600100200",
        recipient_toa=0x91,
        timestamp=WHEN,
        discharge_time=datetime(2024, 5, 6, 7, 9, 0, tzinfo=zone(-3)),
        status=0,
    )


def test_status_report_with_trailing_parameter_indicator_and_user_data():
    report = decode_sms_status_report(STATUS_REPORT + pdu("04", "00"))
    assert report.status == 0


def test_encode_status_report_writes_every_field():
    discharge = datetime(2024, 5, 6, 7, 9, 0, tzinfo=zone(-3))
    assert encode_sms_status_report(0x2A, "+48600100200", WHEN, discharge) == STATUS_REPORT


def test_encoded_status_report_reads_back_with_its_smsc_and_a_failure_status():
    discharge = datetime(2024, 5, 6, 7, 9, 0, tzinfo=zone(-3))
    encoded = encode_sms_status_report(255, "600100200", WHEN, discharge, 0x46, smsc="+48601000310")
    assert encoded.startswith(pdu(SMSC, "06", "FF", "09 81 06100002F0"))
    assert decode_sms_status_report(encoded) == SmsStatusReport(
        smsc="+48601000310",
        message_reference=255,
        recipient="600100200",
        recipient_toa=0x81,
        timestamp=WHEN,
        discharge_time=discharge,
        status=0x46,
    )


@pytest.mark.parametrize(
    ("reference", "recipient", "status", "message"),
    [(256, "+1", 0, "TP-MR"), (1, "+1", 256, "TP-ST"), (1, "Shop", 0, "not a phone number")],
)
def test_encode_status_report_refuses_what_it_cannot_write(reference, recipient, status, message):
    with pytest.raises(PduError, match=message):
        encode_sms_status_report(reference, recipient, WHEN, WHEN, status)


def test_gammu_reads_our_status_report():
    """Debian's python3-gammu (for /usr/bin/python3) decodes what we encode."""
    encoded = encode_sms_status_report(
        42, "+48600100200", WHEN, WHEN + timedelta(seconds=51), 0x46, smsc="+48601000310"
    )
    script = (
        "import gammu, json, sys\n"
        "sms = gammu.DecodePDU(bytes.fromhex(sys.argv[1]))\n"
        "print(json.dumps({k: sms[k] for k in ('Type', 'MessageReference', 'Number', 'DeliveryStatus')}"
        " | {'SMSC': sms['SMSC']['Number']}))\n"
    )
    run = subprocess.run(
        ["/usr/bin/python3", "-c", script, encoded.hex()], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, f"gammu (apt-get install python3-gammu) failed:\n{run.stderr}"
    assert json.loads(run.stdout) == {
        "Type": "Status_Report",
        "MessageReference": 42,
        "Number": "+48600100200",
        "DeliveryStatus": 0x46,
        "SMSC": "+48601000310",
    }


def test_a_modem_pdu_is_dispatched_on_its_message_type():
    assert isinstance(decode_mt_pdu(STATUS_REPORT), SmsStatusReport)
    assert decode_mt_pdu(pdu(SMSC, DELIVER, OA, PID, GSM7, SCTS, "01", "41")).text == "A"
    assert decode_mt_pdu(pdu(DELIVER, OA, PID, GSM7, SCTS, "01", "41"), with_smsc=False).text == "A"
    with pytest.raises(PduError, match="use decode_sms_submit"):
        decode_mt_pdu(pdu(NO_SMSC, "11", "00", OA, PID, GSM7, "A7", "01", "41"))


# --- SMS-SUBMIT ----------------------------------------------------------------------------------


def test_submit_with_relative_validity_and_status_report_request():
    # 31 = TP-MTI 01, TP-VPF 10 (relative), TP-SRR.
    message = decode_sms_submit(pdu(NO_SMSC, "31", "07", OA, PID, GSM7, "A7", "05", "C8329BFD06"))
    assert (message.message_reference, message.recipient, message.text) == (7, "+48600100200", "Hello")
    assert message.request_status_report


@pytest.mark.parametrize("first", ["19", "09"], ids=["absolute", "enhanced"])
def test_submit_with_a_seven_octet_validity_period(first):
    message = decode_sms_submit(pdu(NO_SMSC, first, "00", OA, PID, GSM7, SCTS, "05", "C8329BFD06"))
    assert message.text == "Hello"


def test_submit_without_validity_period():
    assert decode_sms_submit(pdu("01", "00", OA, PID, GSM7, "01", "41"), with_smsc=False).text == "A"


# --- encoding SMS-SUBMIT -------------------------------------------------------------------------


def test_encode_submit_writes_every_field():
    [single] = encode_sms_submit("+48600100200", "Hello", reference=7, request_status_report=True)
    assert single == pdu(NO_SMSC, "31", "07", OA, PID, GSM7, "A7", "05", "C8329BFD06")


def test_encode_submit_with_an_smsc_and_a_national_number():
    [single] = encode_sms_submit("600100200", "A", smsc="+48601000310")
    assert single == pdu(SMSC, "11", "00", "09 81 06100002F0", PID, GSM7, "A7", "01", "41")


def test_a_161_character_text_takes_two_parts_of_153_and_8():
    parts = [decode_sms_submit(p) for p in encode_sms_submit("+1", "x" * 161, concat_reference=300)]
    assert [len(part.text) for part in parts] == [153, 8]
    assert [part.concat for part in parts] == [Concat(44, 2, 1, 8), Concat(44, 2, 2, 8)]
    assert [part.message_reference for part in parts] == [0, 1]


def test_a_160_septet_text_fits_one_part():
    assert len(encode_sms_submit("+1", "x" * 158 + "€")) == 1
    assert len(encode_sms_submit("+1", "x" * 159 + "€")) == 2


def test_an_escape_sequence_is_never_split_between_parts():
    parts = [decode_sms_submit(p) for p in encode_sms_submit("+1", "a" * 152 + "€" + "b" * 10)]
    # 152 septets + ESC would fill the 153 of a part; the escape sequence moves whole.
    assert [part.text for part in parts] == ["a" * 152, "€" + "b" * 10]


def test_ucs2_when_any_character_is_outside_the_gsm_tables():
    [single] = encode_sms_submit("+1", "zażółć")
    message = decode_sms_submit(single)
    assert (message.alphabet, message.dcs, message.text) == ("ucs2", 0x08, "zażółć")


def test_seventy_ucs2_units_fit_one_part_and_seventy_one_do_not():
    assert len(encode_sms_submit("+1", "ą" * 70)) == 1
    assert [len(decode_sms_submit(p).text) for p in encode_sms_submit("+1", "ą" * 71)] == [67, 4]


def test_a_surrogate_pair_is_never_split_between_parts():
    text = "a" * 66 + "😀" + "b" * 10
    parts = [decode_sms_submit(p) for p in encode_sms_submit("+1", text)]
    assert [part.text for part in parts] == ["a" * 66, "😀" + "b" * 10]


def test_a_recipient_must_be_a_phone_number():
    with pytest.raises(PduError, match="recipient 'ALLEGRO' is not a phone number"):
        encode_sms_submit("ALLEGRO", "x")
    with pytest.raises(PduError, match="at most 20"):
        encode_sms_submit("+" + "1" * 21, "x")


def test_a_message_of_more_than_255_parts_is_refused():
    with pytest.raises(PduError, match="256 parts"):
        encode_sms_submit("+1", "x" * 153 * 256)


# --- encoding SMS-DELIVER ------------------------------------------------------------------------


def test_encode_deliver_writes_every_field():
    [single] = encode_sms_deliver("+48600100200", "Hello", WHEN, smsc="+48601000310")
    assert single == pdu(SMSC, DELIVER, OA, PID, GSM7, SCTS, "05", "C8329BFD06")


def test_encode_deliver_from_an_alphanumeric_sender():
    [single] = encode_sms_deliver("ALLEGRO", "A", WHEN)
    assert single == pdu(NO_SMSC, DELIVER, "0D D0 4126B378943E01", PID, GSM7, SCTS, "01", "41")


def test_encode_deliver_flash_message():
    [single] = encode_sms_deliver("+1", "Alert", WHEN, message_class=0)
    assert decode_sms_deliver(single).message_class == 0
    assert decode_sms_deliver(single).dcs == 0x10


def test_encode_deliver_time_zones():
    for offset in (zone(-3), zone(2), zone(5, 45), zone(-10, 15)):
        when = datetime(2031, 12, 31, 23, 59, 58, tzinfo=offset)
        [single] = encode_sms_deliver("+1", "x", when)
        assert decode_sms_deliver(single).timestamp.utcoffset() == offset.utcoffset(None)
        assert decode_sms_deliver(single).timestamp == when


def test_a_naive_timestamp_is_written_as_utc():
    [single] = encode_sms_deliver("+1", "x", datetime(2024, 5, 6, 7, 8, 9))
    assert decode_sms_deliver(single).timestamp == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_a_timestamp_outside_the_two_digit_years_is_refused():
    with pytest.raises(PduError, match="outside 2000-2099"):
        encode_sms_deliver("+1", "x", datetime(1999, 12, 31))


@pytest.mark.parametrize(
    ("sender", "problem"),
    [
        ("Zażółć", "neither a phone number nor GSM 7-bit text"),
        ("TwelveLetter", "alphanumeric address holds 11"),
    ],
)
def test_a_sender_must_be_a_number_or_short_gsm_text(sender, problem):
    with pytest.raises(PduError, match=problem):
        encode_sms_deliver(sender, "x", WHEN)


def test_a_long_deliver_is_a_concatenated_set():
    text = "Zażółć gęślą jaźń 😀 " * 10
    parts = [decode_sms_deliver(p) for p in encode_sms_deliver("+1", text, WHEN, concat_reference=7)]
    assert [part.concat for part in parts] == [Concat(7, len(parts), n, 8) for n in range(1, len(parts) + 1)]
    assert "".join(part.text for part in parts) == text


def test_wap_push_data_in_one_part():
    push = bytes(range(133))
    [single] = encode_sms_deliver_data("+1", push, WHEN, ports=PortAddress(2948, 9200, 16))
    message = decode_sms_deliver(single)
    assert (message.alphabet, message.dcs, message.ports, message.concat) == (
        "8bit",
        0x04,
        PortAddress(2948, 9200, 16),
        None,
    )
    assert message.udh == bytes.fromhex("05040B8423F0")
    assert message.data == push


def test_long_wap_push_data_repeats_the_ports_in_every_part():
    push = bytes(range(256)) + bytes(44)
    parts = [
        decode_sms_deliver(p)
        for p in encode_sms_deliver_data(
            "+1", push, WHEN, ports=PortAddress(2948, 9200, 16), concat_reference=9
        )
    ]
    assert [len(part.data) for part in parts] == [128, 128, 44]
    assert all(part.ports == PortAddress(2948, 9200, 16) for part in parts)
    assert [part.concat for part in parts] == [Concat(9, 3, 1, 8), Concat(9, 3, 2, 8), Concat(9, 3, 3, 8)]
    assert b"".join(part.data for part in parts) == push


def test_data_with_8_bit_ports_and_without_ports():
    [with_ports] = encode_sms_deliver_data("+1", b"\x01", WHEN, ports=PortAddress(0xF5, 0xF5, 8))
    assert decode_sms_deliver(with_ports).ports == PortAddress(0xF5, 0xF5, 8)
    [plain] = encode_sms_deliver_data("+1", b"\x01" * 140, WHEN)
    assert decode_sms_deliver(plain).udh == b""
    with pytest.raises(PduError, match="does not fit its 8-bit"):
        encode_sms_deliver_data("+1", b"", WHEN, ports=PortAddress(2948, 9200, 8))
