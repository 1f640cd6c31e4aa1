"""SMS transfer layer PDUs (3GPP TS 23.040 §9.2): SMS-DELIVER, SMS-SUBMIT and SMS-STATUS-REPORT.

Pure functions over bytes. Decoders raise PduError and nothing else, whatever bytes they are given;
the message names the field and the offset (from the first octet given, SMSC field included) that
is wrong. Encoders raise PduError for input they cannot represent (a bad number, a timestamp outside
2000-2099, a message needing more than 255 parts).

Choices made where the spec leaves room:
- UCS-2 text is decoded as UTF-16 (surrogate pairs join into one character); a lone surrogate or an
  odd trailing octet becomes U+FFFD in ``text``. Multipart UCS-2 texts should be joined from the
  parts' ``data`` with :func:`decode_ucs2`, which repairs a pair a sender split across parts.
- For GSM 7-bit, ``data`` holds the user data octets after the UDH, fill bits included.
- A two-digit SCTS year YY means 20YY.
- ``decode_mt_pdu`` treats the reserved TP-MTI 3 as SMS-DELIVER (TS 23.040 §9.2.3.1); TP-MTI 1 (a
  stored SMS-SUBMIT in +CMGL output) is a PduError there: use ``decode_sms_submit``.
- National language shift tables (UDH IEs 0x24/0x25) are honoured when decoding; encoders write the
  default alphabet and its extension table only, else UCS-2, as phones do.
- Encoders: '+digits' gets TOA 0x91, other digit strings (with * and #) 0x81, anything else is an
  alphanumeric sender (TOA 0xD0, at most 11 septets; SMS-SUBMIT and SMS-STATUS-REPORT refuse it).
  TP-PID 0; TP-DCS 0x00 or 0x08, plus bit 4 and the class bits when a message class is given; 0x04
  for data. SMS-DELIVER and SMS-STATUS-REPORT have TP-MMS set (no more messages). A naive timestamp
  is written as UTC+00:00; an offset is rounded to quarter hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from appliance.codecs import gsm7

__all__ = [
    "MAX_PARTS",
    "Concat",
    "PduError",
    "PortAddress",
    "SmsDeliver",
    "SmsStatusReport",
    "SmsSubmit",
    "TextSize",
    "decode_mt_pdu",
    "decode_sms_deliver",
    "decode_sms_status_report",
    "decode_sms_submit",
    "decode_ucs2",
    "encode_sms_deliver",
    "encode_sms_deliver_data",
    "encode_sms_status_report",
    "encode_sms_submit",
    "measure_text",
]


class PduError(ValueError):
    """The codec's only error type; the message says what is wrong and where (offset)."""


@dataclass(frozen=True)
class Concat:
    reference: int
    total: int
    sequence: int
    reference_bits: int  # 8 or 16


@dataclass(frozen=True)
class PortAddress:
    destination: int
    source: int
    bits: int  # 8 or 16


@dataclass(frozen=True)
class SmsDeliver:
    smsc: str | None
    sender: str
    sender_toa: int
    pid: int
    dcs: int
    alphabet: str
    message_class: int | None
    timestamp: datetime
    udh: bytes
    concat: Concat | None
    ports: PortAddress | None
    text: str | None
    data: bytes
    more_messages: bool
    status_report_indication: bool
    reply_path: bool


@dataclass(frozen=True)
class SmsStatusReport:
    smsc: str | None
    message_reference: int
    recipient: str
    recipient_toa: int
    timestamp: datetime
    discharge_time: datetime
    status: int


@dataclass(frozen=True)
class SmsSubmit:
    smsc: str | None
    message_reference: int
    recipient: str
    recipient_toa: int
    pid: int
    dcs: int
    alphabet: str
    udh: bytes
    concat: Concat | None
    ports: PortAddress | None
    text: str | None
    data: bytes
    request_status_report: bool


# TP-MTI values (TS 23.040 §9.2.3.1), as seen in the mobile-terminated direction.
MTI_DELIVER = 0
MTI_SUBMIT = 1
MTI_STATUS_REPORT = 2
MTI_RESERVED = 3

# TS 23.040 §9.1.2.5: a TP address field is at most 12 octets, so at most 20 semi-octets of value (an
# alphanumeric address: 11 characters).
MAX_ADDRESS_DIGITS = 20

# Information element identifiers (TS 23.040 §9.2.3.24).
IEI_CONCAT_8 = 0x00
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
IEI_CONCAT_16 = 0x08
IEI_SINGLE_SHIFT = 0x24
IEI_LOCKING_SHIFT = 0x25

# Type of address octets (TS 23.040 §9.1.2.5): bit 7 set, type of number in bits 6-4, numbering plan
# in bits 3-0.
TOA_INTERNATIONAL = 0x91
TOA_UNKNOWN = 0x81
TOA_ALPHANUMERIC = 0xD0
_TON_INTERNATIONAL = 1
_TON_ALPHANUMERIC = 5

# Semi-octet digits of an address (TS 23.040 §9.1.2.3); 0xF is the filler of an odd count.
_BCD_DIGITS = "0123456789*#abc"

_MAX_UD_OCTETS = 140
# An 8-bit concatenation element counts the parts in one octet (TS 23.040 §9.2.3.24.1).
MAX_PARTS = 255
_MAX_GSM7_SEPTETS = 160
# UDH length octet + the 8-bit concatenation element (IEI, length, reference, total, sequence).
_CONCAT_UDH_OCTETS = 6
# SMS-SUBMIT validity period: relative format, 0xA7 = 12 h + (0xA7 - 143) * 30 min = 24 h
# (TS 23.040 §9.2.3.12.1).
_VALIDITY_24H = 0xA7


# --------------------------------------------------------------------------------------------
# Reading


class _Reader:
    def __init__(self, pdu: bytes) -> None:
        self.pdu = pdu
        self.pos = 0

    def octet(self, what: str) -> int:
        if self.pos >= len(self.pdu):
            raise PduError(
                f"PDU truncated: {what} expected at offset {self.pos}, PDU is {len(self.pdu)} octets"
            )
        value = self.pdu[self.pos]
        self.pos += 1
        return value

    def take(self, count: int, what: str) -> bytes:
        if self.pos + count > len(self.pdu):
            raise PduError(
                f"PDU truncated: {what} at offset {self.pos} needs {count} octets, "
                f"only {len(self.pdu) - self.pos} left"
            )
        value = self.pdu[self.pos : self.pos + count]
        self.pos += count
        return value


def _as_bytes(pdu: object) -> bytes:
    if isinstance(pdu, bytes | bytearray | memoryview):
        return bytes(pdu)
    raise PduError(f"a PDU is bytes, not {type(pdu).__name__} (hex text: use bytes.fromhex)")


def _semi_octets(raw: bytes, count: int) -> str:
    """Decode *count* semi-octet digits, low nibble first; fillers (0xF) are dropped."""
    digits = []
    for octet in raw:
        digits.append(octet & 0x0F)
        digits.append(octet >> 4)
    return "".join(_BCD_DIGITS[d] for d in digits[:count] if d != 0x0F)


def _read_smsc(reader: _Reader) -> str | None:
    # TS 24.011 §8.2.5.1 / TS 27.005 §3.1: the SMSC length counts octets (TOA included), unlike
    # the TP addresses, whose length counts digits.
    length = reader.octet("SMSC address length")
    if length == 0:
        return None
    raw = reader.take(length, "SMSC address")
    toa = raw[0]
    digits = _semi_octets(raw[1:], 2 * (length - 1))
    if not digits:
        return None
    return "+" + digits if (toa >> 4) & 0x07 == _TON_INTERNATIONAL else digits


def _read_address(reader: _Reader, what: str) -> tuple[str, int]:
    # TS 23.040 §9.1.2.5: the length counts useful semi-octets of the address value; for an
    # alphanumeric address that is the semi-octets the packed septets occupy.
    length_offset = reader.pos
    length = reader.octet(f"{what} length")
    if length > MAX_ADDRESS_DIGITS:
        # Longer ones do not fit the sender column either: on PostgreSQL the row, and the whole
        # batch of PDUs with it, would be refused at every read of the SIM.
        raise PduError(f"{what} length {length} at offset {length_offset}: an address has at most "
                       f"{MAX_ADDRESS_DIGITS} digits (TS 23.040 §9.1.2.5)")
    toa = reader.octet(f"{what} type of address")
    raw = reader.take((length + 1) // 2, what)
    if (toa >> 4) & 0x07 == _TON_ALPHANUMERIC:
        return gsm7.decode(gsm7.unpack(raw, length * 4 // 7)), toa
    digits = _semi_octets(raw, length)
    if (toa >> 4) & 0x07 == _TON_INTERNATIONAL and digits:
        return "+" + digits, toa
    return digits, toa


def _bcd_value(octet: int, what: str, offset: int) -> int:
    # Timestamps are semi-octets with the low nibble first: 0x21 means "12".
    low, high = octet & 0x0F, octet >> 4
    if low > 9 or high > 9:
        raise PduError(f"{what} at offset {offset}: 0x{octet:02X} is not two decimal semi-octets")
    return low * 10 + high


def _read_timestamp(reader: _Reader, what: str) -> datetime:
    start = reader.pos
    raw = reader.take(7, what)
    year, month, day, hour, minute, second = (
        _bcd_value(octet, what, start + index) for index, octet in enumerate(raw[:6])
    )
    # TS 23.040 §9.2.3.11: the time zone is in quarters of an hour; bit 3 of the octet (the high
    # bit of the first, tens, semi-octet) is the sign.
    zone = raw[6]
    tens, units = zone & 0x07, zone >> 4
    if units > 9:
        raise PduError(f"{what} time zone at offset {start + 6}: 0x{zone:02X} is not decimal")
    quarters = tens * 10 + units
    offset = timedelta(minutes=15 * quarters)
    if zone & 0x08:
        offset = -offset
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError as error:
        raise PduError(f"{what} at offset {start}: {raw.hex()} is not a valid time ({error})") from None


def _dcs_alphabet(dcs: int, offset: int) -> tuple[str, int | None]:
    """TS 23.038 §4: the alphabet and message class a TP-DCS value announces."""
    group = dcs >> 4
    if group <= 0x7:
        # 00xx xxxx general data coding, 01xx xxxx the same marked for automatic deletion.
        if dcs & 0x20:
            raise PduError(
                f"TP-DCS 0x{dcs:02X} at offset {offset}: compressed user data (TS 23.042) is not supported"
            )
        message_class = dcs & 0x03 if dcs & 0x10 else None
        # Bits 3-2 = 11 is reserved; "any reserved codings shall be assumed to be the GSM 7 bit
        # default alphabet" (TS 23.038 §4).
        alphabet = ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
        return alphabet, message_class
    if group <= 0xB:
        # 1000..1011: reserved coding groups, read as the GSM 7-bit default alphabet.
        return "gsm7", None
    if group <= 0xD:
        # 1100 / 1101: message waiting indication, discard / store, GSM 7-bit.
        return "gsm7", None
    if group == 0xE:
        # 1110: message waiting indication, store, UCS-2.
        return "ucs2", None
    # 1111: data coding / message class; bit 2 chooses 8-bit data over GSM 7-bit, bit 3 reserved.
    return ("8bit" if dcs & 0x04 else "gsm7"), dcs & 0x03


@dataclass
class _UserData:
    alphabet: str
    message_class: int | None
    udh: bytes
    concat: Concat | None
    ports: PortAddress | None
    text: str | None
    data: bytes


def _parse_udh(udh: bytes, offset: int) -> tuple[Concat | None, PortAddress | None, int, int]:
    """Information elements of a UDH (without its length octet) that start at *offset*."""
    concat: Concat | None = None
    ports: PortAddress | None = None
    locking = single = 0
    index = 0
    while index < len(udh):
        if index + 2 > len(udh):
            raise PduError(
                f"UDH information element at offset {offset + index} is cut off after its identifier"
            )
        iei, length = udh[index], udh[index + 1]
        body = udh[index + 2 : index + 2 + length]
        if len(body) < length:
            raise PduError(
                f"UDH information element 0x{iei:02X} at offset {offset + index} claims {length} octets, "
                f"only {len(body)} left in the header"
            )
        index += 2 + length
        # TS 23.040 §9.2.3.24: a repeated element counts in its last occurrence; an element of
        # the wrong length, or with a zero total or an out-of-range sequence number, is ignored;
        # unknown elements are skipped.
        if iei == IEI_CONCAT_8 and length == 3:
            if body[1] and 0 < body[2] <= body[1]:
                concat = Concat(body[0], body[1], body[2], 8)
        elif iei == IEI_CONCAT_16 and length == 4:
            if body[2] and 0 < body[3] <= body[2]:
                concat = Concat(int.from_bytes(body[:2], "big"), body[2], body[3], 16)
        elif iei == IEI_PORTS_8 and length == 2:
            ports = PortAddress(body[0], body[1], 8)
        elif iei == IEI_PORTS_16 and length == 4:
            ports = PortAddress(int.from_bytes(body[:2], "big"), int.from_bytes(body[2:], "big"), 16)
        elif iei == IEI_SINGLE_SHIFT and length == 1:
            single = body[0]
        elif iei == IEI_LOCKING_SHIFT and length == 1:
            locking = body[0]
    return concat, ports, locking, single


def decode_ucs2(data: bytes) -> str:
    """UCS-2 user data as UTF-16BE (TS 23.038 §5 allows it in practice: phones send surrogate
    pairs); a lone surrogate or an odd trailing octet becomes U+FFFD. U+0000 is dropped: it is no
    character anyone writes (some gateways pad with it), and PostgreSQL refuses it in text, which
    failed the reception's whole batch (fuzz/reception.py found it)."""
    return bytes(data).decode("utf-16-be", errors="replace").replace("\x00", "")


def _read_user_data(reader: _Reader, dcs: int, dcs_offset: int, udhi: bool) -> _UserData:
    alphabet, message_class = _dcs_alphabet(dcs, dcs_offset)
    udl_offset = reader.pos
    udl = reader.octet("TP-UDL")
    # TS 23.040 §9.2.3.16: TP-UDL counts septets for GSM 7-bit (UDH and fill bits included),
    # octets otherwise.
    octets = (udl * 7 + 7) // 8 if alphabet == "gsm7" else udl
    ud_offset = reader.pos
    ud = reader.take(octets, f"TP-UD (TP-UDL {udl} at offset {udl_offset})")
    udh = b""
    header_octets = 0
    concat = ports = None
    locking = single = 0
    if udhi:
        if not ud:
            raise PduError(f"TP-UDHI is set but the user data at offset {ud_offset} is empty")
        # TS 23.040 §9.2.3.24: the UDH length excludes itself.
        header_octets = 1 + ud[0]
        if header_octets > len(ud):
            raise PduError(
                f"UDH length {ud[0]} at offset {ud_offset} runs past the end of the user data "
                f"({len(ud) - 1} octets follow)"
            )
        udh = ud[1:header_octets]
        concat, ports, locking, single = _parse_udh(udh, ud_offset + 1)
    data = ud[header_octets:]
    if alphabet == "gsm7":
        skip = gsm7.header_septets(header_octets) if udhi else 0
        if skip > udl:
            raise PduError(
                f"UDH of {header_octets} octets at offset {ud_offset} does not fit in TP-UDL {udl} septets"
            )
        text = gsm7.decode(gsm7.unpack(ud, udl)[skip:], locking=locking, single=single)
    elif alphabet == "ucs2":
        text = decode_ucs2(data)
    else:
        text = None
    return _UserData(alphabet, message_class, udh, concat, ports, text, data)


def _start(pdu: object, with_smsc: bool) -> tuple[_Reader, str | None, int, int]:
    reader = _Reader(_as_bytes(pdu))
    smsc = _read_smsc(reader) if with_smsc else None
    first_offset = reader.pos
    first = reader.octet("first octet (TP-MTI)")
    return reader, smsc, first, first_offset


_MTI_NAMES = {
    MTI_DELIVER: "SMS-DELIVER",
    MTI_SUBMIT: "SMS-SUBMIT",
    MTI_STATUS_REPORT: "SMS-STATUS-REPORT",
    MTI_RESERVED: "reserved",
}


def _wrong_type(first: int, offset: int, expected: str) -> PduError:
    mti = first & 0x03
    return PduError(f"TP-MTI {mti} ({_MTI_NAMES[mti]}) at offset {offset}: this is not an {expected}")


def decode_sms_deliver(pdu: bytes, *, with_smsc: bool = True) -> SmsDeliver:
    reader, smsc, first, first_offset = _start(pdu, with_smsc)
    # TS 23.040 §9.2.3.1: a reserved TP-MTI is processed as SMS-DELIVER.
    if first & 0x03 not in (MTI_DELIVER, MTI_RESERVED):
        raise _wrong_type(first, first_offset, "SMS-DELIVER")
    sender, sender_toa = _read_address(reader, "TP-OA")
    pid = reader.octet("TP-PID")
    dcs_offset = reader.pos
    dcs = reader.octet("TP-DCS")
    timestamp = _read_timestamp(reader, "TP-SCTS")
    ud = _read_user_data(reader, dcs, dcs_offset, bool(first & 0x40))
    return SmsDeliver(
        smsc=smsc,
        sender=sender,
        sender_toa=sender_toa,
        pid=pid,
        dcs=dcs,
        alphabet=ud.alphabet,
        message_class=ud.message_class,
        timestamp=timestamp,
        udh=ud.udh,
        concat=ud.concat,
        ports=ud.ports,
        text=ud.text,
        data=ud.data,
        # TS 23.040 §9.2.3.2: TP-MMS 0 means more messages are waiting in the SC.
        more_messages=not first & 0x04,
        status_report_indication=bool(first & 0x20),
        reply_path=bool(first & 0x80),
    )


def decode_sms_status_report(pdu: bytes, *, with_smsc: bool = True) -> SmsStatusReport:
    reader, smsc, first, first_offset = _start(pdu, with_smsc)
    if first & 0x03 != MTI_STATUS_REPORT:
        raise _wrong_type(first, first_offset, "SMS-STATUS-REPORT")
    reference = reader.octet("TP-MR")
    recipient, recipient_toa = _read_address(reader, "TP-RA")
    timestamp = _read_timestamp(reader, "TP-SCTS")
    discharge_time = _read_timestamp(reader, "TP-DT")
    status = reader.octet("TP-ST")
    # TP-PI and the optional TP-PID/TP-DCS/TP-UD that may follow carry nothing we report.
    return SmsStatusReport(
        smsc=smsc,
        message_reference=reference,
        recipient=recipient,
        recipient_toa=recipient_toa,
        timestamp=timestamp,
        discharge_time=discharge_time,
        status=status,
    )


def decode_sms_submit(pdu: bytes, *, with_smsc: bool = True) -> SmsSubmit:
    reader, smsc, first, first_offset = _start(pdu, with_smsc)
    if first & 0x03 != MTI_SUBMIT:
        raise _wrong_type(first, first_offset, "SMS-SUBMIT")
    reference = reader.octet("TP-MR")
    recipient, recipient_toa = _read_address(reader, "TP-DA")
    pid = reader.octet("TP-PID")
    dcs_offset = reader.pos
    dcs = reader.octet("TP-DCS")
    # TS 23.040 §9.2.3.3: TP-VPF 00 none, 10 relative (one octet), 01 enhanced and 11 absolute
    # (seven octets each).
    vpf = (first >> 3) & 0x03
    if vpf:
        reader.take(1 if vpf == 0b10 else 7, "TP-VP")
    ud = _read_user_data(reader, dcs, dcs_offset, bool(first & 0x40))
    return SmsSubmit(
        smsc=smsc,
        message_reference=reference,
        recipient=recipient,
        recipient_toa=recipient_toa,
        pid=pid,
        dcs=dcs,
        alphabet=ud.alphabet,
        udh=ud.udh,
        concat=ud.concat,
        ports=ud.ports,
        text=ud.text,
        data=ud.data,
        request_status_report=bool(first & 0x20),
    )


def decode_mt_pdu(pdu: bytes, *, with_smsc: bool = True) -> SmsDeliver | SmsStatusReport:
    """Decode a PDU as a modem delivers it (+CMT, +CDS, +CMGR, +CMGL): by its TP-MTI."""
    reader, _smsc, first, first_offset = _start(pdu, with_smsc)
    mti = first & 0x03
    if mti == MTI_STATUS_REPORT:
        return decode_sms_status_report(pdu, with_smsc=with_smsc)
    if mti in (MTI_DELIVER, MTI_RESERVED):
        return decode_sms_deliver(pdu, with_smsc=with_smsc)
    raise PduError(
        f"TP-MTI 1 at offset {first_offset}: an SMS-SUBMIT (or SUBMIT-REPORT), not a received message; "
        "use decode_sms_submit for stored outgoing messages"
    )


# --------------------------------------------------------------------------------------------
# Writing


def _bcd_digits(digits: str) -> bytes:
    nibbles = [_BCD_DIGITS.index(d) for d in digits]
    if len(nibbles) % 2:
        nibbles.append(0x0F)
    return bytes(low | high << 4 for low, high in zip(nibbles[::2], nibbles[1::2], strict=True))


def _split_number(number: str, what: str) -> tuple[str, int]:
    """A phone number as (digits, type of address), or PduError."""
    international = number.startswith("+")
    digits = number[1:] if international else number
    if not digits or any(d not in "0123456789*#" for d in digits):
        raise PduError(f"{what} {number!r} is not a phone number (digits, '*', '#', optional leading '+')")
    if len(digits) > 20:
        raise PduError(f"{what} {number!r} has {len(digits)} digits; an address holds at most 20")
    return digits, TOA_INTERNATIONAL if international else TOA_UNKNOWN


def _is_phone_number(number: str) -> bool:
    digits = number[1:] if number.startswith("+") else number
    return bool(digits) and all(d in "0123456789*#" for d in digits)


def _encode_address(number: str, what: str, *, alphanumeric: bool) -> bytes:
    if not alphanumeric or _is_phone_number(number):
        digits, toa = _split_number(number, what)
        return bytes([len(digits), toa]) + _bcd_digits(digits)
    if not number or not gsm7.is_encodable(number):
        raise PduError(f"{what} {number!r} is neither a phone number nor GSM 7-bit text")
    septets = gsm7.encode(number)
    if len(septets) > 11:
        raise PduError(f"{what} {number!r} takes {len(septets)} septets; an alphanumeric address holds 11")
    # TS 23.040 §9.1.2.5: for an alphanumeric address the length counts the semi-octets that the
    # packed septets occupy.
    return bytes([(len(septets) * 7 + 3) // 4, TOA_ALPHANUMERIC]) + gsm7.pack(septets)


def _encode_smsc(smsc: str | None) -> bytes:
    if smsc is None or smsc == "":
        return b"\x00"
    digits, toa = _split_number(smsc, "SMSC")
    value = bytes([toa]) + _bcd_digits(digits)
    return bytes([len(value)]) + value


def _encode_timestamp(timestamp: datetime) -> bytes:
    """TP-SCTS; a naive datetime is taken as being in UTC+00:00."""
    if not 2000 <= timestamp.year <= 2099:
        raise PduError(f"timestamp {timestamp.isoformat()} is outside 2000-2099, which TP-SCTS can carry")
    offset = timestamp.utcoffset() or timedelta(0)
    quarters = round(offset.total_seconds() / 900)
    if abs(quarters) > 79:
        raise PduError(f"time zone offset {offset} of {timestamp.isoformat()} does not fit TP-SCTS")

    def swapped(value: int) -> int:
        return (value % 10) << 4 | value // 10

    zone = swapped(abs(quarters)) | (0x08 if quarters < 0 else 0)
    fields = (
        timestamp.year % 100,
        timestamp.month,
        timestamp.day,
        timestamp.hour,
        timestamp.minute,
        timestamp.second,
    )
    return bytes(swapped(value) for value in fields) + bytes([zone])


def _text_parts(text: str, udh_octets_per_part: int) -> tuple[str, list[list[int]] | list[bytes]]:
    """Split *text* as a phone does: GSM 7-bit (with the extension table) when every character has
    a septet, else UCS-2. Returns the alphabet and the parts (septet lists or UTF-16BE octets).

    Parts of a concatenated message leave room for a UDH of *udh_octets_per_part* octets (length
    octet included); an escape sequence or a surrogate pair is never split across parts."""
    codes = [code for code in map(gsm7.char_septets, text) if code is not None]
    if len(codes) == len(text):
        septets = [septet for code in codes for septet in code]
        if len(septets) <= _MAX_GSM7_SEPTETS:
            return "gsm7", [septets]
        room = _MAX_GSM7_SEPTETS - gsm7.header_septets(udh_octets_per_part)
        septet_parts: list[list[int]] = [[]]
        for code in codes:
            if len(septet_parts[-1]) + len(code) > room:
                septet_parts.append([])
            septet_parts[-1].extend(code)
        return "gsm7", septet_parts
    encoded = text.encode("utf-16-be", errors="surrogatepass")
    if len(encoded) <= _MAX_UD_OCTETS:
        return "ucs2", [encoded]
    room = (_MAX_UD_OCTETS - udh_octets_per_part) // 2 * 2
    octet_parts: list[bytes] = []
    start = 0
    while start < len(encoded):
        end = min(start + room, len(encoded))
        # A high surrogate (D800-DBFF) must stay with the low surrogate that follows it.
        if end < len(encoded) and 0xD8 <= encoded[end - 2] <= 0xDB:
            end -= 2
        octet_parts.append(encoded[start:end])
        start = end
    return "ucs2", octet_parts


@dataclass(frozen=True)
class TextSize:
    """How a text travels: its alphabet, how many SMS it takes and how much of them it fills.

    ``units`` are septets for GSM 7-bit (a character of the extension table, such as "€", takes
    two) and UTF-16 code units for UCS-2 (an emoji outside the BMP takes two); ``per_part`` is what
    one part holds: 160/70 alone, 153/67 in a concatenated set, whose header takes the rest.
    """

    alphabet: str  # gsm7 | ucs2
    units: int
    parts: int
    per_part: int


def measure_text(text: str) -> TextSize:
    """The size of *text* as :func:`encode_sms_submit` splits it (the panel's counter shows it)."""
    alphabet, parts = _text_parts(text, udh_octets_per_part=_CONCAT_UDH_OCTETS)
    if alphabet == "gsm7":
        units = sum(len(part) for part in parts)
        per_part = _MAX_GSM7_SEPTETS - (gsm7.header_septets(_CONCAT_UDH_OCTETS) if len(parts) > 1 else 0)
    else:
        units = sum(len(part) for part in parts) // 2
        per_part = (_MAX_UD_OCTETS - (_CONCAT_UDH_OCTETS if len(parts) > 1 else 0)) // 2
    return TextSize(alphabet, units, len(parts), per_part)


def _concat_ie(reference: int, total: int, sequence: int) -> bytes:
    if total > MAX_PARTS:
        raise PduError(f"the message needs {total} parts; a concatenated message has at most {MAX_PARTS}")
    return bytes([IEI_CONCAT_8, 3, reference & 0xFF, total, sequence])


def _user_data(alphabet: str, payload: list[int] | bytes, ies: bytes) -> tuple[int, bytes]:
    """TP-UDL and TP-UD for a payload (septets or octets) behind the given UDH elements."""
    header = bytes([len(ies)]) + ies if ies else b""
    if alphabet == "gsm7":
        skip = gsm7.header_septets(len(header)) if header else 0
        packed = gsm7.pack(payload, fill_bits=7 * skip)
        # The UDH octets take the place of the leading (zero) bits; the fill bits stay zero.
        return skip + len(payload), header + packed[len(header) :]
    return len(header) + len(payload), header + bytes(payload)


def _dcs(alphabet: str, message_class: int | None) -> int:
    coding = {"gsm7": 0x00, "8bit": 0x04, "ucs2": 0x08}[alphabet]
    if message_class is None:
        return coding
    if message_class not in (0, 1, 2, 3):
        raise PduError(f"message class {message_class} is not 0-3")
    # TS 23.038 §4 general data coding: bit 4 says bits 1-0 carry the message class.
    return coding | 0x10 | message_class


def _text_user_data_parts(text: str, concat_reference: int) -> tuple[str, list[tuple[int, bytes, bool]]]:
    alphabet, parts = _text_parts(text, udh_octets_per_part=_CONCAT_UDH_OCTETS)
    out = []
    for sequence, payload in enumerate(parts, start=1):
        ies = _concat_ie(concat_reference, len(parts), sequence) if len(parts) > 1 else b""
        udl, ud = _user_data(alphabet, payload, ies)
        out.append((udl, ud, bool(ies)))
    return alphabet, out


def _deliver_pdu(
    smsc: bytes, udhi: bool, originator: bytes, dcs: int, scts: bytes, udl: int, ud: bytes
) -> bytes:
    # First octet: TP-MTI 00, TP-MMS 1 (no more messages waiting), TP-UDHI bit 6.
    first = 0x04 | (0x40 if udhi else 0)
    return smsc + bytes([first]) + originator + bytes([0x00, dcs]) + scts + bytes([udl]) + ud


def encode_sms_deliver(
    sender: str,
    text: str,
    timestamp: datetime,
    *,
    smsc: str | None = None,
    concat_reference: int = 0,
    message_class: int | None = None,
) -> list[bytes]:
    """SMS-DELIVER PDUs (SMSC field first) for *text* from *sender* ('+48…', digits, or up to 11
    GSM characters as an alphanumeric sender), split into a concatenated set (8-bit reference
    *concat_reference* mod 256) when it does not fit one message."""
    smsc_field = _encode_smsc(smsc)
    originator = _encode_address(sender, "sender", alphanumeric=True)
    scts = _encode_timestamp(timestamp)
    alphabet, parts = _text_user_data_parts(text, concat_reference)
    dcs = _dcs(alphabet, message_class)
    return [_deliver_pdu(smsc_field, udhi, originator, dcs, scts, udl, ud) for udl, ud, udhi in parts]


def encode_sms_deliver_data(
    sender: str,
    data: bytes,
    timestamp: datetime,
    *,
    ports: PortAddress | None = None,
    smsc: str | None = None,
    concat_reference: int = 0,
) -> list[bytes]:
    """SMS-DELIVER PDUs carrying 8-bit *data* (e.g. a WAP push to port 2948), optionally with an
    application port addressing element, split into a concatenated set when long."""
    smsc_field = _encode_smsc(smsc)
    originator = _encode_address(sender, "sender", alphanumeric=True)
    scts = _encode_timestamp(timestamp)
    port_ie = b""
    if ports is not None:
        if ports.bits == 16 and 0 <= ports.destination <= 0xFFFF and 0 <= ports.source <= 0xFFFF:
            port_ie = (
                bytes([IEI_PORTS_16, 4])
                + ports.destination.to_bytes(2, "big")
                + ports.source.to_bytes(2, "big")
            )
        elif ports.bits == 8 and 0 <= ports.destination <= 0xFF and 0 <= ports.source <= 0xFF:
            port_ie = bytes([IEI_PORTS_8, 2, ports.destination, ports.source])
        else:
            raise PduError(f"{ports} does not fit its {ports.bits}-bit port addressing element")
    single_room = _MAX_UD_OCTETS - (1 + len(port_ie) if port_ie else 0)
    data = bytes(data)
    if len(data) <= single_room:
        chunks = [data]
    else:
        room = _MAX_UD_OCTETS - (1 + len(port_ie) + 5)
        chunks = [data[start : start + room] for start in range(0, len(data), room)]
    pdus = []
    for sequence, chunk in enumerate(chunks, start=1):
        # TS 23.040 §9.2.3.24.4 asks for the port element in every part of a concatenated set.
        ies = port_ie + (_concat_ie(concat_reference, len(chunks), sequence) if len(chunks) > 1 else b"")
        udl, ud = _user_data("8bit", chunk, ies)
        pdus.append(_deliver_pdu(smsc_field, bool(ies), originator, _dcs("8bit", None), scts, udl, ud))
    return pdus


def encode_sms_submit(
    to: str,
    text: str,
    *,
    reference: int = 0,
    concat_reference: int = 0,
    request_status_report: bool = False,
    smsc: str | None = None,
) -> list[bytes]:
    """SMS-SUBMIT PDUs (SMSC field first, 00 = the modem's default SMSC) for *text* to *to*.

    Part *n* (from 0) gets TP-MR (reference + n) mod 256; the validity period is 24 hours."""
    smsc_field = _encode_smsc(smsc)
    destination = _encode_address(to, "recipient", alphanumeric=False)
    alphabet, parts = _text_user_data_parts(text, concat_reference)
    dcs = _dcs(alphabet, None)
    pdus = []
    for index, (udl, ud, udhi) in enumerate(parts):
        # First octet: TP-MTI 01, TP-VPF 10 (relative), TP-SRR bit 5, TP-UDHI bit 6.
        first = 0x01 | 0x10 | (0x20 if request_status_report else 0) | (0x40 if udhi else 0)
        pdus.append(
            smsc_field
            + bytes([first, (reference + index) & 0xFF])
            + destination
            + bytes([0x00, dcs, _VALIDITY_24H, udl])
            + ud
        )
    return pdus


def encode_sms_status_report(
    message_reference: int,
    recipient: str,
    timestamp: datetime,
    discharge_time: datetime,
    status: int = 0,
    *,
    smsc: str | None = None,
) -> bytes:
    """An SMS-STATUS-REPORT (TS 23.040 §9.2.2.3), SMSC field first, as an SC sends it for the
    SMS-SUBMIT with TP-MR *message_reference* to *recipient*: TP-SCTS *timestamp* (when the SC
    received the submit), TP-DT *discharge_time* and TP-ST *status* (§9.2.3.15: 0 received by the
    SME, 0x20-0x3F temporary errors, 0x40-0x7F permanent errors such as 0x46 validity expired).

    No TP-PI and no user data follow TP-ST; TP-SRQ is 0 (the report answers an SMS-SUBMIT, not an
    SMS-COMMAND)."""
    if not 0 <= message_reference <= 255:
        raise PduError(f"TP-MR {message_reference} is not 0-255")
    if not 0 <= status <= 255:
        raise PduError(f"TP-ST {status} is not 0-255")
    # First octet: TP-MTI 10, TP-MMS 1 (no more messages waiting), TP-LP 0, TP-SRQ 0, TP-UDHI 0.
    first = MTI_STATUS_REPORT | 0x04
    return (
        _encode_smsc(smsc)
        + bytes([first, message_reference])
        + _encode_address(recipient, "recipient", alphanumeric=False)
        + _encode_timestamp(timestamp)
        + _encode_timestamp(discharge_time)
        + bytes([status])
    )
