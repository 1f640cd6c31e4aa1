"""MMS encapsulation (OMA-TS-MMS_ENC-V1_3 §6-§7): the PDUs an MMS client receives and sends,
read into headers and body parts, and written for the emulator's MMSC and the appliance's replies.

Pure functions over bytes. ``decode_mms_pdu`` and the typed views raise MmsError and nothing else,
whatever bytes they are given; the message names the field and the offset (from the PDU's first
octet) that is wrong. Encoders raise MmsError for values they cannot represent.

Choices made where the spec leaves room:
- X-Mms-Message-Type must be the first octet (§6: "MUST be the first header"); anything else is not
  an MMS PDU. Other headers are taken in any order; a repeated one keeps its first value, except
  To, Cc and Bcc, which collect every address.
- Addresses lose their ``/TYPE=PLMN`` (or any ``/TYPE=…``) suffix (§8: Address = ( e-mail |
  device-address ), device-address = ( global-phone-number "/TYPE=PLMN" ) | …). The From
  Insert-address-token reads as ``None``; so does an empty address.
- Header values: Date → aware UTC datetime; X-Mms-Expiry, X-Mms-Delivery-Time and
  X-Mms-Reply-Charging-Deadline → :class:`MmsTimeValue`; Yes/No fields → bool; X-Mms-Message-Class,
  X-Mms-Priority, X-Mms-Status and the other enumerations → lower-case names, an unregistered octet
  → its int; X-Mms-Response-Status and X-Mms-Retrieve-Status → their int codes (0x80 = Ok); fields
  of the mailbox PDUs this appliance never receives → the raw octets of the value.
- A body part that is itself a WSP multipart (phones send multipart/alternative) is replaced by its
  own parts; one that does not decode as multipart is kept whole.
- A part's ``name`` is the last path segment of its Content-Location, else its ``name`` parameter,
  else a ``filename`` (content type or Content-Disposition); ``content_id`` loses its angle brackets.
- ``text`` is the part decoded by its charset parameter for text/* parts (UTF-8 when none is given),
  undecodable octets as U+FFFD; ``data`` always holds the octets as received.
- Encoders write MMS version 1.3 unless told, addresses that are phone numbers with ``/TYPE=PLMN``,
  texts outside printable ASCII as UTF-8 Encoded-string-values, and naive datetimes as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import quoteattr

from appliance.codecs.wsp import (
    ContentDisposition,
    ContentType,
    MmsError,
    WspPart,
    WspReader,
    decode_text,
    encode_content_type,
    encode_encoded_string_value,
    encode_long_integer,
    encode_multipart,
    encode_short_integer,
    encode_text_string,
    encode_value_length,
    is_multipart,
)

__all__ = [
    "MESSAGE_TYPES",
    "MmsError",
    "MmsMessage",
    "MmsNotification",
    "MmsPart",
    "MmsPdu",
    "MmsTimeValue",
    "decode_mms_pdu",
    "decode_notification_ind",
    "decode_retrieve_conf",
    "encode_acknowledge_ind",
    "encode_notification_ind",
    "encode_notifyresp_ind",
    "encode_retrieve_conf",
]


# --------------------------------------------------------------------------------------------
# Tables (§7.4)

# §7.3.30 X-Mms-Message-Type values.
MESSAGE_TYPES: dict[int, str] = {
    0x80: "m-send-req", 0x81: "m-send-conf", 0x82: "m-notification-ind", 0x83: "m-notifyresp-ind",
    0x84: "m-retrieve-conf", 0x85: "m-acknowledge-ind", 0x86: "m-delivery-ind",
    0x87: "m-read-rec-ind", 0x88: "m-read-orig-ind", 0x89: "m-forward-req", 0x8A: "m-forward-conf",
    0x8B: "m-mbox-store-req", 0x8C: "m-mbox-store-conf", 0x8D: "m-mbox-view-req",
    0x8E: "m-mbox-view-conf", 0x8F: "m-mbox-upload-req", 0x90: "m-mbox-upload-conf",
    0x91: "m-mbox-delete-req", 0x92: "m-mbox-delete-conf", 0x93: "m-mbox-descr",
    0x94: "m-delete-req", 0x95: "m-delete-conf", 0x96: "m-cancel-req", 0x97: "m-cancel-conf",
}  # fmt: skip
_MESSAGE_TYPE_OCTETS = {name: octet for octet, name in MESSAGE_TYPES.items()}

_YES_NO = {0x80: True, 0x81: False}
_CLASSES = {0x80: "personal", 0x81: "advertisement", 0x82: "informational", 0x83: "auto"}
_PRIORITIES = {0x80: "low", 0x81: "normal", 0x82: "high"}
_STATUSES = {
    0x80: "expired", 0x81: "retrieved", 0x82: "rejected", 0x83: "deferred", 0x84: "unrecognised",
    0x85: "indeterminate", 0x86: "forwarded", 0x87: "unreachable",
}  # fmt: skip
_ENUMERATIONS: dict[str, dict[int, object]] = {
    "yes-no": _YES_NO,
    "class": _CLASSES,
    "priority": _PRIORITIES,
    "status": _STATUSES,
    "visibility": {0x80: "hide", 0x81: "show"},
    "read-status": {0x80: "read", 0x81: "deleted-without-being-read"},
    "reply-charging": {0x80: "requested", 0x81: "requested-text-only", 0x82: "accepted",
                       0x83: "accepted-text-only"},
    "mm-state": {0x80: "draft", 0x81: "sent", 0x82: "new", 0x83: "retrieved", 0x84: "forwarded"},
    "retrieval-mode": {0x80: "manual"},
    "content-class": {0x80: "text", 0x81: "image-basic", 0x82: "image-rich", 0x83: "video-basic",
                      0x84: "video-rich", 0x85: "megapixel", 0x86: "content-basic", 0x87: "content-rich"},
    "cancel-status": {0x80: "received", 0x81: "corrupted"},
    "code": {},
}  # fmt: skip

# §7.4 Table 27: field number → (name, value kind).
_FIELDS: dict[int, tuple[str, str]] = {
    0x01: ("Bcc", "address"),
    0x02: ("Cc", "address"),
    0x03: ("X-Mms-Content-Location", "text"),
    0x04: ("Content-Type", "content-type"),
    0x05: ("Date", "date"),
    0x06: ("X-Mms-Delivery-Report", "yes-no"),
    0x07: ("X-Mms-Delivery-Time", "time"),
    0x08: ("X-Mms-Expiry", "time"),
    0x09: ("From", "from"),
    0x0A: ("X-Mms-Message-Class", "class"),
    0x0B: ("Message-ID", "text"),
    0x0C: ("X-Mms-Message-Type", "message-type"),
    0x0D: ("X-Mms-MMS-Version", "version"),
    0x0E: ("X-Mms-Message-Size", "long"),
    0x0F: ("X-Mms-Priority", "priority"),
    0x10: ("X-Mms-Read-Report", "yes-no"),
    0x11: ("X-Mms-Report-Allowed", "yes-no"),
    0x12: ("X-Mms-Response-Status", "code"),
    0x13: ("X-Mms-Response-Text", "encoded"),
    0x14: ("X-Mms-Sender-Visibility", "visibility"),
    0x15: ("X-Mms-Status", "status"),
    0x16: ("Subject", "encoded"),
    0x17: ("To", "address"),
    0x18: ("X-Mms-Transaction-Id", "text"),
    0x19: ("X-Mms-Retrieve-Status", "code"),
    0x1A: ("X-Mms-Retrieve-Text", "encoded"),
    0x1B: ("X-Mms-Read-Status", "read-status"),
    0x1C: ("X-Mms-Reply-Charging", "reply-charging"),
    0x1D: ("X-Mms-Reply-Charging-Deadline", "time"),
    0x1E: ("X-Mms-Reply-Charging-ID", "text"),
    0x1F: ("X-Mms-Reply-Charging-Size", "long"),
    0x20: ("X-Mms-Previously-Sent-By", "raw"),
    0x21: ("X-Mms-Previously-Sent-Date", "raw"),
    0x22: ("X-Mms-Store", "yes-no"),
    0x23: ("X-Mms-MM-State", "mm-state"),
    0x24: ("X-Mms-MM-Flags", "raw"),
    0x25: ("X-Mms-Store-Status", "code"),
    0x26: ("X-Mms-Store-Status-Text", "encoded"),
    0x27: ("X-Mms-Stored", "yes-no"),
    0x28: ("X-Mms-Attributes", "raw"),
    0x29: ("X-Mms-Totals", "raw"),
    0x2A: ("X-Mms-Mbox-Totals", "raw"),
    0x2B: ("X-Mms-Quotas", "raw"),
    0x2C: ("X-Mms-Mbox-Quotas", "raw"),
    0x2D: ("X-Mms-Message-Count", "integer"),
    0x2E: ("Content", "raw"),
    0x2F: ("X-Mms-Start", "integer"),
    0x30: ("Additional-headers", "raw"),
    0x31: ("X-Mms-Distribution-Indicator", "yes-no"),
    0x32: ("X-Mms-Element-Descriptor", "raw"),
    0x33: ("X-Mms-Limit", "integer"),
    0x34: ("X-Mms-Recommended-Retrieval-Mode", "retrieval-mode"),
    0x35: ("X-Mms-Recommended-Retrieval-Mode-Text", "encoded"),
    0x36: ("X-Mms-Status-Text", "encoded"),
    0x37: ("X-Mms-Applic-ID", "text"),
    0x38: ("X-Mms-Reply-Applic-ID", "text"),
    0x39: ("X-Mms-Aux-Applic-Info", "text"),
    0x3A: ("X-Mms-Content-Class", "content-class"),
    0x3B: ("X-Mms-DRM-Content", "yes-no"),
    0x3C: ("X-Mms-Adaptation-Allowed", "yes-no"),
    0x3D: ("X-Mms-Replace-ID", "text"),
    0x3E: ("X-Mms-Cancel-ID", "text"),
    0x3F: ("X-Mms-Cancel-Status", "cancel-status"),
}
_FIELD_NUMBERS = {name: number for number, (name, _kind) in _FIELDS.items()}
_REPEATABLE = {"To", "Cc", "Bcc"}

_MESSAGE_TYPE_FIELD = 0x8C  # X-Mms-Message-Type as it appears on the wire
_ADDRESS_PRESENT = 0x80
_INSERT_ADDRESS = 0x81
_ABSOLUTE = 0x80
_RETRIEVE_OK = 0x80
_MAX_RELATIVE_SECONDS = int(
    (datetime(9999, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
)
_RELATIVE = 0x81
_TYPE_SUFFIX = re.compile(r"/TYPE=[^/]*$", re.IGNORECASE)
_PHONE_NUMBER = re.compile(r"\+?[0-9*#]+")
_MAX_NESTING = 3


# --------------------------------------------------------------------------------------------
# Decoded forms


@dataclass(frozen=True)
class MmsTimeValue:
    """X-Mms-Expiry and its kind (§7.3.20): an absolute date or a number of seconds from now."""

    absolute: datetime | None = None
    relative_seconds: int | None = None

    def resolve(self, now: datetime) -> datetime:
        if self.absolute is not None:
            return self.absolute
        try:
            return now + timedelta(seconds=self.relative_seconds or 0)
        except OverflowError:
            raise MmsError(f"relative time of {self.relative_seconds} seconds is past any date") from None


@dataclass(frozen=True)
class MmsPart:
    content_type: str
    params: dict[str, object]
    name: str | None
    content_id: str | None
    content_location: str | None
    data: bytes
    text: str | None
    headers: dict[str, object] = field(default_factory=dict)
    offset: int = 0  # where the part's data begins in the PDU


@dataclass(frozen=True)
class MmsPdu:
    message_type: str
    headers: dict[str, object]
    content_type: ContentType | None
    parts: list[MmsPart]
    body_offset: int | None  # where the body begins (after Content-Type), None without one
    length: int  # octets in the PDU


@dataclass(frozen=True)
class MmsNotification:
    """m-notification-ind (§6.2): what to fetch, from where, until when."""

    transaction_id: str
    version: str
    sender: str | None
    subject: str | None
    message_class: str
    size: int | None
    expiry: datetime | None
    content_location: str
    headers: dict[str, object]

    @classmethod
    def from_pdu(cls, pdu: MmsPdu, *, now: datetime) -> MmsNotification:
        """The view of a decoded m-notification-ind; a relative expiry counts from *now*."""
        _expect_type(pdu, "m-notification-ind")
        if now.tzinfo is None:
            raise MmsError("now must be timezone-aware to resolve a relative X-Mms-Expiry")
        headers = pdu.headers
        expiry = headers.get("X-Mms-Expiry")
        message_class = headers.get("X-Mms-Message-Class", "personal")
        size = headers.get("X-Mms-Message-Size")
        return cls(
            transaction_id=_required_text(headers, "X-Mms-Transaction-Id", pdu.message_type),
            version=_version_of(headers),
            sender=_sender(headers),
            subject=_optional_text(headers, "Subject"),
            message_class=str(message_class),
            size=size if isinstance(size, int) else None,
            expiry=expiry.resolve(now) if isinstance(expiry, MmsTimeValue) else None,
            content_location=_required_text(headers, "X-Mms-Content-Location", pdu.message_type),
            headers=headers,
        )


@dataclass(frozen=True)
class MmsMessage:
    """m-retrieve-conf (§6.3): the message itself."""

    transaction_id: str | None
    message_id: str | None
    version: str
    sender: str | None
    to: list[str]
    cc: list[str]
    subject: str | None
    date: datetime | None
    content_type: str
    content_type_params: dict[str, object]
    parts: list[MmsPart]
    message_class: str | None
    priority: str | None
    retrieve_status: int | None  # X-Mms-Retrieve-Status; None or 0x80 means Ok
    retrieve_text: str | None
    headers: dict[str, object]

    @classmethod
    def from_pdu(cls, pdu: MmsPdu) -> MmsMessage:
        _expect_type(pdu, "m-retrieve-conf")
        headers = pdu.headers
        status = headers.get("X-Mms-Retrieve-Status")
        if pdu.content_type is None and status in (None, _RETRIEVE_OK):
            # Content-Type is mandatory (§6.3 Table 5); only an error answer may come without a body.
            raise MmsError(
                f"m-retrieve-conf ends at offset {pdu.length} without Content-Type and body: truncated?"
            )
        content_type = pdu.content_type or ContentType("application/octet-stream")
        date = headers.get("Date")
        message_class = headers.get("X-Mms-Message-Class")
        priority = headers.get("X-Mms-Priority")
        return cls(
            transaction_id=_optional_text(headers, "X-Mms-Transaction-Id"),
            message_id=_optional_text(headers, "Message-ID"),
            version=_version_of(headers),
            sender=_sender(headers),
            to=list(headers.get("To", [])),  # type: ignore[call-overload]
            cc=list(headers.get("Cc", [])),  # type: ignore[call-overload]
            subject=_optional_text(headers, "Subject"),
            date=date if isinstance(date, datetime) else None,
            content_type=content_type.media_type,
            content_type_params=content_type.params,
            parts=pdu.parts,
            message_class=message_class if isinstance(message_class, str) else None,
            priority=priority if isinstance(priority, str) else None,
            retrieve_status=status if isinstance(status, int) else None,
            retrieve_text=_optional_text(headers, "X-Mms-Retrieve-Text"),
            headers=headers,
        )


def _expect_type(pdu: MmsPdu, message_type: str) -> None:
    if pdu.message_type != message_type:
        raise MmsError(f"X-Mms-Message-Type at offset 1 is {pdu.message_type}, not {message_type}")


def _required_text(headers: dict[str, object], name: str, message_type: str) -> str:
    value = headers.get(name)
    if not isinstance(value, str) or not value:
        raise MmsError(f"{message_type} has no {name}, which it must carry")
    return value


def _optional_text(headers: dict[str, object], name: str) -> str | None:
    value = headers.get(name)
    return value if isinstance(value, str) else None


def _version_of(headers: dict[str, object]) -> str:
    value = headers.get("X-Mms-MMS-Version")
    return value if isinstance(value, str) else ""


def _sender(headers: dict[str, object]) -> str | None:
    value = headers.get("From")
    return value if isinstance(value, str) and value else None


# --------------------------------------------------------------------------------------------
# Decoding


def _address(text: str) -> str:
    return _TYPE_SUFFIX.sub("", text)


def _from_value(reader: WspReader, what: str) -> str | None:
    # From-value = Value-length (Address-present-token Encoded-string-value | Insert-address-token)
    first = reader.peek(what)
    if 0x1F < first < 0x80:
        # Some MMSCs leave out the Value-length and the token: read the address alone.
        return _address(reader.encoded_string(what))
    inner = reader.value(what)
    token_offset = inner.pos
    token = inner.octet(f"{what} token")
    if token == _INSERT_ADDRESS:
        return None
    if token != _ADDRESS_PRESENT:
        raise MmsError(
            f"{what} at offset {token_offset}: 0x{token:02X} is neither Address-present (0x80) "
            "nor Insert-address (0x81)"
        )
    if inner.at_end():
        return None
    address = _address(inner.encoded_string(what))
    return address or None


def _time_value(reader: WspReader, what: str) -> MmsTimeValue:
    # Expiry-value = Value-length (Absolute-token Date-value | Relative-token Delta-seconds-value)
    inner = reader.value(what)
    token_offset = inner.pos
    token = inner.octet(f"{what} token")
    if token == _ABSOLUTE:
        return MmsTimeValue(absolute=inner.date_value(what))
    if token == _RELATIVE:
        # MMS writes Delta-seconds-value as a Long-integer (so does TS 31.102 Annex J); WSP §8.4.2.3
        # makes it an Integer-value. Both read.
        seconds_offset = inner.pos
        seconds = inner.integer_value(what)
        if seconds > _MAX_RELATIVE_SECONDS:
            raise MmsError(f"{what} at offset {seconds_offset}: {seconds} seconds from now is past year 9999")
        return MmsTimeValue(relative_seconds=seconds)
    raise MmsError(
        f"{what} at offset {token_offset}: 0x{token:02X} is neither Absolute (0x80) nor Relative (0x81)"
    )


def _enumerated(reader: WspReader, kind: str, what: str) -> object:
    first = reader.peek(what)
    if kind == "class" and 0x1F < first < 0x80:
        return reader.text_string(what)  # Message-class-value = Class-identifier | Token-text
    if not first & 0x80:
        raise MmsError(f"{what} at offset {reader.pos}: 0x{first:02X} is not a one-octet value (128-255)")
    reader.pos += 1
    return _ENUMERATIONS[kind].get(first, first)


def _field_value(reader: WspReader, name: str, kind: str) -> object:
    what = name
    if kind == "message-type":
        start = reader.pos
        octet = reader.octet(what)
        if octet not in MESSAGE_TYPES:
            raise MmsError(f"{what} at offset {start}: 0x{octet:02X} is not a message type of MMS 1.3")
        return MESSAGE_TYPES[octet]
    if kind == "text":
        return reader.text_string(what)
    if kind == "encoded":
        return reader.encoded_string(what)
    if kind == "address":
        return _address(reader.encoded_string(what))
    if kind == "from":
        return _from_value(reader, what)
    if kind == "version":
        return reader.version(what)
    if kind == "long":
        # A Long-integer by the spec; a Short-integer is read too, the two cannot be confused.
        return reader.integer_value(what)
    if kind == "integer":
        return reader.integer_value(what)
    if kind == "date":
        return reader.date_value(what)
    if kind == "time":
        return _time_value(reader, what)
    if kind == "content-type":
        return reader.content_type(what)
    if kind in _ENUMERATIONS:
        return _enumerated(reader, kind, what)
    return reader.skip_value(what)


def _mms_headers(reader: WspReader) -> tuple[dict[str, object], ContentType | None]:
    headers: dict[str, object] = {}
    content_type = None
    while not reader.at_end():
        start = reader.pos
        first = reader.octet(f"header at offset {start}")
        if first & 0x80:
            number = first & 0x7F
            name, kind = _FIELDS.get(number, (f"0x{number:02x}", "raw"))
            value = _field_value(reader, name, kind)
        elif first > 0x1F and first != 0x7F:
            # Application-header = Token-text Application-specific-value (§7.2)
            reader.pos = start
            name = reader.text_string(f"application header name at offset {start}")
            value = reader.text_string(f"{name} header")
        else:
            raise MmsError(f"header at offset {start}: 0x{first:02X} is neither a field number nor a token")
        if name in _REPEATABLE:
            headers.setdefault(name, [])
            headers[name].append(value)  # type: ignore[attr-defined]
        else:
            headers.setdefault(name, value)
        if isinstance(value, ContentType):
            # §7: Content-Type (field 0x04) is the last header; the message body follows it. A textual
            # application header of that name is just a header (fuzz/wap_push.py sent one).
            content_type = value
            break
    return headers, content_type


def _strip_brackets(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == "<" and value[-1] == ">" else value


def _last_segment(location: str) -> str:
    return re.split(r"[/\\]", location)[-1]


def _mms_part(part: WspPart) -> MmsPart:
    media = part.content_type.media_type
    params = part.content_type.params
    headers = part.headers
    location = headers.get("Content-Location")
    location = location if isinstance(location, str) else None
    content_id = headers.get("Content-ID")
    content_id = _strip_brackets(content_id) if isinstance(content_id, str) else None
    disposition = headers.get("Content-Disposition")
    disposition_params = disposition.params if isinstance(disposition, ContentDisposition) else {}
    candidates = [
        _last_segment(location) if location else None,
        params.get("name"),
        params.get("filename"),
        disposition_params.get("filename"),
        disposition_params.get("name"),
    ]
    name = next((c for c in candidates if isinstance(c, str) and c), None)
    text = None
    if media.lower().startswith("text/"):
        charset = params.get("charset")
        text = decode_text(part.data, charset if isinstance(charset, str) else None)
    return MmsPart(
        content_type=media,
        params=params,
        name=name,
        content_id=content_id,
        content_location=location,
        data=part.data,
        text=text,
        headers=headers,
        offset=part.offset,
    )


def _flatten(parts: Iterable[WspPart], data: bytes, depth: int = 0) -> list[MmsPart]:
    out: list[MmsPart] = []
    for part in parts:
        if depth < _MAX_NESTING and is_multipart(part.content_type.media_type):
            try:
                inner = WspReader(data, part.offset, part.offset + len(part.data)).multipart()
            except MmsError:
                inner = None
            if inner:
                out += _flatten(inner, data, depth + 1)
                continue
        out.append(_mms_part(part))
    return out


def decode_mms_pdu(data: bytes) -> MmsPdu:
    """Any MMS PDU: its type, its headers, and the parts of its body when it has one."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MmsError(f"an MMS PDU is bytes, not {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise MmsError("not an MMS PDU: no octets at all")
    if data[0] != _MESSAGE_TYPE_FIELD:
        raise MmsError(
            f"not an MMS PDU: the first octet (offset 0) is 0x{data[0]:02X}, X-Mms-Message-Type (0x8C) must come first"
        )
    reader = WspReader(data)
    headers, content_type = _mms_headers(reader)
    message_type = str(headers["X-Mms-Message-Type"])
    if content_type is None:
        return MmsPdu(message_type, headers, None, [], None, len(data))
    body_offset = reader.pos
    if is_multipart(content_type.media_type):
        parts = _flatten(reader.multipart(), data)
    else:
        # A single-part message: the body is the one part, typed by the message's Content-Type.
        body = WspPart(content_type, {}, data[body_offset:], body_offset)
        parts = _flatten([body], data)
    return MmsPdu(message_type, headers, content_type, parts, body_offset, len(data))


def decode_notification_ind(data: bytes, *, now: datetime) -> MmsNotification:
    return MmsNotification.from_pdu(decode_mms_pdu(data), now=now)


def decode_retrieve_conf(data: bytes) -> MmsMessage:
    return MmsMessage.from_pdu(decode_mms_pdu(data))


# --------------------------------------------------------------------------------------------
# Encoding


def _field(name: str, value: bytes) -> bytes:
    return encode_short_integer(_FIELD_NUMBERS[name]) + value


def _encode_version(version: str) -> bytes:
    # MMS-version-value = Short-integer: major in bits 6-4, minor in bits 3-0, 15 for none (§7.3.34);
    # the decoder reads that as "major" alone.
    match = re.fullmatch(r"([0-7])(?:\.([0-9]|1[0-4]))?", version)
    if not match:
        raise MmsError(f"MMS version {version!r} is not major.minor with major 0-7, minor 0-14")
    return encode_short_integer(int(match[1]) << 4 | (int(match[2]) if match[2] else 0x0F))


def _wire_address(address: str) -> str:
    if _PHONE_NUMBER.fullmatch(address):
        return f"{address}/TYPE=PLMN"
    return address


def _encode_date(moment: datetime) -> bytes:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return encode_long_integer(int(moment.timestamp()))


def _encode_from(sender: str | None) -> bytes:
    if sender is None:
        return _field("From", encode_value_length(1) + bytes([_INSERT_ADDRESS]))
    body = bytes([_ADDRESS_PRESENT]) + encode_encoded_string_value(_wire_address(sender))
    return _field("From", encode_value_length(len(body)) + body)


def _encode_enumerated(name: str, table: dict[int, object], value: object) -> bytes:
    wanted = value.lower() if isinstance(value, str) else value
    if wanted == "unrecognized":
        wanted = "unrecognised"
    for octet, label in table.items():
        if label == wanted:
            return _field(name, bytes([octet]))
    if name == "X-Mms-Message-Class" and isinstance(value, str):
        return _field(name, encode_text_string(value))
    raise MmsError(f"{name} {value!r} is not one of {sorted(str(label) for label in table.values())}")


def _encode_head(message_type: str, transaction_id: str | None, version: str) -> bytes:
    out = _field("X-Mms-Message-Type", bytes([_MESSAGE_TYPE_OCTETS[message_type]]))
    if transaction_id is not None:
        out += _field("X-Mms-Transaction-Id", encode_text_string(transaction_id))
    return out + _field("X-Mms-MMS-Version", _encode_version(version))


def encode_notification_ind(
    transaction_id: str,
    content_location: str,
    size: int,
    expiry: datetime | timedelta | int,
    *,
    sender: str | None = None,
    subject: str | None = None,
    message_class: str = "personal",
    priority: str | None = None,
    version: str = "1.3",
) -> bytes:
    """m-notification-ind (§6.2, Table 2 order). *expiry*: an aware datetime is absolute, a
    timedelta or a number of seconds relative."""
    out = _encode_head("m-notification-ind", transaction_id, version)
    if sender is not None:
        out += _encode_from(sender)
    if subject is not None:
        out += _field("Subject", encode_encoded_string_value(subject))
    out += _encode_enumerated("X-Mms-Message-Class", _CLASSES, message_class)
    if priority is not None:
        out += _encode_enumerated("X-Mms-Priority", _PRIORITIES, priority)
    out += _field("X-Mms-Message-Size", encode_long_integer(size))
    if isinstance(expiry, datetime):
        expiry_value = bytes([_ABSOLUTE]) + _encode_date(expiry)
    else:
        seconds = int(expiry.total_seconds()) if isinstance(expiry, timedelta) else int(expiry)
        expiry_value = bytes([_RELATIVE]) + encode_long_integer(seconds)
    out += _field("X-Mms-Expiry", encode_value_length(len(expiry_value)) + expiry_value)
    return out + _field("X-Mms-Content-Location", encode_text_string(content_location))


def encode_notifyresp_ind(
    transaction_id: str,
    status: str = "retrieved",
    version: str = "1.3",
    *,
    report_allowed: bool | None = None,
) -> bytes:
    """m-notifyresp-ind (§6.2): the answer to a notification, by HTTP POST to the MMSC."""
    out = _encode_head("m-notifyresp-ind", transaction_id, version)
    out += _encode_enumerated("X-Mms-Status", _STATUSES, status)
    if report_allowed is not None:
        out += _encode_enumerated("X-Mms-Report-Allowed", _YES_NO, report_allowed)
    return out


def encode_acknowledge_ind(
    transaction_id: str, version: str = "1.3", *, report_allowed: bool | None = None
) -> bytes:
    """m-acknowledge-ind (§6.4): confirms a retrieval made on the client's own initiative."""
    out = _encode_head("m-acknowledge-ind", transaction_id, version)
    if report_allowed is not None:
        out += _encode_enumerated("X-Mms-Report-Allowed", _YES_NO, report_allowed)
    return out


_SMIL = "application/smil"


def _smil_document(entries: Sequence[tuple[str, str]]) -> bytes:
    """A one-region-per-kind SMIL presentation (OMA MMS conformance layout), one slide per part.
    *entries* are (content type, src) pairs."""
    slides = []
    for media, src in entries:
        kind = media.split("/", 1)[0].lower()
        if kind == "image":
            element = f'<img src={quoteattr(src)} region="Image"/>'
        elif kind == "video":
            element = f'<video src={quoteattr(src)} region="Image"/>'
        elif kind == "audio":
            element = f"<audio src={quoteattr(src)}/>"
        elif media.lower() == "text/plain":
            element = f'<text src={quoteattr(src)} region="Text"/>'
        else:
            element = f"<ref src={quoteattr(src)}/>"
        slides.append(f'<par dur="5000ms">{element}</par>')
    document = (
        "<smil><head><layout>"
        '<root-layout width="100%" height="100%"/>'
        '<region id="Image" left="0" top="0" width="100%" height="70%" fit="meet"/>'
        '<region id="Text" left="0" top="70%" width="100%" height="30%" fit="scroll"/>'
        "</layout></head><body>" + "".join(slides) + "</body></smil>"
    )
    return document.encode("utf-8")


def encode_retrieve_conf(
    sender: str | None,
    to: str | Sequence[str],
    subject: str | None,
    parts: Sequence[tuple[str, str | None, bytes, str | None]],
    date: datetime,
    message_id: str,
    transaction_id: str | None = None,
    multipart: str = "related",
    smil: bool | str = "auto",
    *,
    cc: Sequence[str] = (),
    message_class: str = "personal",
    priority: str | None = None,
    version: str = "1.3",
) -> bytes:
    """m-retrieve-conf (§6.3) as an MMSC serves it. *parts* are (content type, name, data, charset
    or None). *multipart* is "related" (application/vnd.wap.multipart.related, with start and type
    naming the SMIL part) or "mixed". *smil*: "auto" adds a SMIL presentation first to a related
    message that has none, False never does, a string is used as the SMIL document."""
    if multipart not in ("related", "mixed"):
        raise MmsError(f"multipart {multipart!r} is neither 'related' nor 'mixed'")
    if smil not in ("auto", True, False) and not isinstance(smil, str):
        raise MmsError(f"smil {smil!r} is not 'auto', True, False or a SMIL document")
    recipients = [to] if isinstance(to, str) else list(to)

    wsp_parts: list[WspPart] = []
    smil_entries: list[tuple[str, str]] = []
    smil_id: str | None = None
    for index, part in enumerate(parts):
        if not (isinstance(part, tuple | list) and len(part) == 4):
            raise MmsError(f"part {index + 1} is not (content type, name, data, charset)")
        media, name, data, charset = part
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MmsError(f"part {index + 1} ({name}): data is {type(data).__name__}, not bytes")
        params: dict[str, object] = {}
        if charset:
            params["charset"] = charset
        if name:
            params["name"] = name
        content_id = f"<part{index + 1}>"
        headers: dict[str, object] = {"Content-ID": content_id}
        if name:
            headers["Content-Location"] = name
        if media.lower() == _SMIL and smil_id is None:
            smil_id = content_id
        smil_entries.append((media, name or f"cid:part{index + 1}"))
        wsp_parts.append(WspPart(ContentType(media, params), headers, bytes(data)))

    custom_smil = isinstance(smil, str) and smil != "auto"
    wants_smil = smil is True or custom_smil or (smil == "auto" and multipart == "related")
    if wants_smil and smil_id is None:
        document = smil.encode("utf-8") if custom_smil else _smil_document(smil_entries)  # type: ignore[union-attr]
        smil_id = "<smil>"
        smil_part = WspPart(
            ContentType(_SMIL, {"charset": "utf-8", "name": "smil.smil"}),
            {"Content-ID": smil_id, "Content-Location": "smil.smil"},
            document,
        )
        wsp_parts.insert(0, smil_part)

    if multipart == "related":
        body_type = ContentType("application/vnd.wap.multipart.related", {})
        if smil_id is not None:
            body_type = ContentType(body_type.media_type, {"start": smil_id, "type": _SMIL})
    else:
        body_type = ContentType("application/vnd.wap.multipart.mixed", {})

    out = _encode_head("m-retrieve-conf", transaction_id, version)
    out += _field("Message-ID", encode_text_string(message_id))
    if sender is not None:
        out += _encode_from(sender)
    for address in recipients:
        out += _field("To", encode_encoded_string_value(_wire_address(address)))
    for address in cc:
        out += _field("Cc", encode_encoded_string_value(_wire_address(address)))
    out += _field("Date", _encode_date(date))
    if subject is not None:
        out += _field("Subject", encode_encoded_string_value(subject))
    out += _encode_enumerated("X-Mms-Message-Class", _CLASSES, message_class)
    if priority is not None:
        out += _encode_enumerated("X-Mms-Priority", _PRIORITIES, priority)
    out += _field("Content-Type", encode_content_type(body_type))
    return out + encode_multipart(wsp_parts)
