"""WSP encodings (WAP-230-WSP-20010705-a) that MMS reception needs: the value encodings of §8.4.2,
content types with parameters, headers, multipart entities (§8.5) and the connectionless push PDU
(§8.2.4.1) that a WAP push SMS to port 2948 carries.

Pure functions over bytes. Decoders raise MmsError and nothing else, whatever bytes they are given;
the message names the field and the offset (from the first octet of the buffer given) that is wrong.
MmsError is defined here, not in ``mms``, because WSP is only ever read here as the carrier of MMS:
one error type for the whole chain, re-exported by ``appliance.codecs.mms``. Encoders raise MmsError
for values they cannot represent.

Value decoders take ``(data, offset=0)`` and return ``(value, next_offset)``.

Choices made where the spec leaves room:
- Text-string octets are read as UTF-8, and as ISO-8859-1 when they are not valid UTF-8 (old
  phones write Latin-1 names without saying so); text under a declared charset uses that charset,
  undecodable octets becoming U+FFFD. Nothing in a header makes a decoder give up on the message.
- An unknown well-known media number reads as ``application/octet-stream`` (the part is kept).
- A Long-integer with Short-length 0 reads as 0 (§8.4.2.1 asks for 1 to 30 octets; python-messaging
  writes 0 so).
- Well-known parameters are read in both encodings of Table 38 (1.1-1.3 Text-string, 1.4
  Text-value); the encoders write the 1.2 numbers (Charset 0x01, Name 0x05, Filename 0x06, Type
  0x09, Start 0x0A, Start-info 0x0B), which every MMS client reads.
- UTF-16 (MIBenum 1015) and UCS-2 (1000) text without a byte order mark is big-endian (RFC 2781 §4.3).
- Parameter and header names come out in lower case in ``params`` (``charset``, ``name``, ``type``,
  ``start``); header names keep the spelling of Table 39.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = [
    "CHARSETS",
    "CONTENT_TYPES",
    "HEADER_FIELDS",
    "PUSH",
    "CONFIRMED_PUSH",
    "PUSH_APPLICATIONS",
    "ContentDisposition",
    "ContentType",
    "MmsError",
    "PushPdu",
    "WspPart",
    "WspReader",
    "charset_name",
    "decode_content_type",
    "decode_date_value",
    "decode_encoded_string_value",
    "decode_headers",
    "decode_integer_value",
    "decode_long_integer",
    "decode_multipart",
    "decode_push",
    "decode_quoted_string",
    "decode_short_integer",
    "decode_text",
    "decode_text_string",
    "decode_text_value",
    "decode_uintvar",
    "decode_value_length",
    "encode_content_type",
    "encode_encoded_string_value",
    "encode_header",
    "encode_integer_value",
    "encode_long_integer",
    "encode_multipart",
    "encode_push",
    "encode_quoted_string",
    "encode_short_integer",
    "encode_text_string",
    "encode_uintvar",
    "encode_value_length",
    "is_multipart",
    "mibenum",
]


class MmsError(ValueError):
    """The only error of the WSP and MMS codecs; the message says what is wrong and where (offset)."""


# --------------------------------------------------------------------------------------------
# Tables

# WSP Table 40 (content type assignments), with the later OMNA registrations 0x3F-0x54 and the
# long-integer registrations from 0x0201. 0x0E is "multipart/byteranges"; Android and
# python-messaging spell it "byterantes".
_CONTENT_TYPE_LIST = [
    "*/*", "text/*", "text/html", "text/plain", "text/x-hdml", "text/x-ttml", "text/x-vCalendar",
    "text/x-vCard", "text/vnd.wap.wml", "text/vnd.wap.wmlscript", "text/vnd.wap.wta-event",
    "multipart/*", "multipart/mixed", "multipart/form-data", "multipart/byteranges",
    "multipart/alternative", "application/*", "application/java-vm",
    "application/x-www-form-urlencoded", "application/x-hdmlc", "application/vnd.wap.wmlc",
    "application/vnd.wap.wmlscriptc", "application/vnd.wap.wta-eventc", "application/vnd.wap.uaprof",
    "application/vnd.wap.wtls-ca-certificate", "application/vnd.wap.wtls-user-certificate",
    "application/x-x509-ca-cert", "application/x-x509-user-cert", "image/*", "image/gif",
    "image/jpeg", "image/tiff", "image/png", "image/vnd.wap.wbmp", "application/vnd.wap.multipart.*",
    "application/vnd.wap.multipart.mixed", "application/vnd.wap.multipart.form-data",
    "application/vnd.wap.multipart.byteranges", "application/vnd.wap.multipart.alternative",
    "application/xml", "text/xml", "application/vnd.wap.wbxml", "application/x-x968-cross-cert",
    "application/x-x968-ca-cert", "application/x-x968-user-cert", "text/vnd.wap.si",
    "application/vnd.wap.sic", "text/vnd.wap.sl", "application/vnd.wap.slc", "text/vnd.wap.co",
    "application/vnd.wap.coc", "application/vnd.wap.multipart.related", "application/vnd.wap.sia",
    "text/vnd.wap.connectivity-xml", "application/vnd.wap.connectivity-wbxml",
    "application/pkcs7-mime", "application/vnd.wap.hashed-certificate",
    "application/vnd.wap.signed-certificate", "application/vnd.wap.cert-response",
    "application/xhtml+xml", "application/wml+xml", "text/css", "application/vnd.wap.mms-message",
    "application/vnd.wap.rollover-certificate", "application/vnd.wap.locc+wbxml",
    "application/vnd.wap.loc+xml", "application/vnd.syncml.dm+wbxml", "application/vnd.syncml.dm+xml",
    "application/vnd.syncml.notification", "application/vnd.wap.xhtml+xml",
    "application/vnd.wv.csp.cir", "application/vnd.oma.dd+xml", "application/vnd.oma.drm.message",
    "application/vnd.oma.drm.content", "application/vnd.oma.drm.rights+xml",
    "application/vnd.oma.drm.rights+wbxml", "application/vnd.wv.csp+xml",
    "application/vnd.wv.csp+wbxml", "application/vnd.syncml.ds.notification", "audio/*", "video/*",
    "application/vnd.oma.dd2+xml", "application/mikey", "application/vnd.oma.dcd",
    "application/vnd.oma.dcdc",
]  # fmt: skip
CONTENT_TYPES: dict[int, str] = dict(enumerate(_CONTENT_TYPE_LIST))
CONTENT_TYPES.update({
    0x0201: "application/vnd.uplanet.cacheop-wbxml",
    0x0202: "application/vnd.uplanet.signal",
    0x0203: "application/vnd.uplanet.alert-wbxml",
    0x0204: "application/vnd.uplanet.list-wbxml",
    0x0205: "application/vnd.uplanet.listcmd-wbxml",
    0x0206: "application/vnd.uplanet.channel-wbxml",
    0x0207: "application/vnd.uplanet.provisioning-status-uri",
    0x0208: "x-wap.multipart/vnd.uplanet.header-set",
    0x0209: "application/vnd.uplanet.bearer-choice-wbxml",
    0x020A: "application/vnd.phonecom.mmc-wbxml",
    0x020B: "application/vnd.nokia.syncset+wbxml",
    0x020C: "image/x-up-wpng",
    0x0300: "application/iota.mmc-wbxml",
    0x0301: "application/iota.mmc-xml",
    0x0302: "application/vnd.syncml+xml",
    0x0303: "application/vnd.syncml+wbxml",
    0x0304: "text/vnd.wap.emn+xml",
    0x0305: "text/calendar",
    0x0306: "application/vnd.omads-email+xml",
    0x0307: "application/vnd.omads-file+xml",
    0x0308: "application/vnd.omads-folder+xml",
    0x0309: "text/directory;profile=vCard",
    0x030A: "application/vnd.wap.emn+wbxml",
})  # fmt: skip
# Lower-case lookup for the encoders; the lowest number wins (none repeats today).
_CONTENT_TYPE_NUMBERS = {name.lower(): number for number, name in sorted(CONTENT_TYPES.items(), reverse=True)}

# WSP Table 39 (header field name assignments). Several names come back in later encoding
# versions with a new number (and a richer value); the decoder reads both, the encoder writes the
# oldest number.
_HEADER_FIELD_LIST = [
    "Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges", "Age",
    "Allow", "Authorization", "Cache-Control", "Connection", "Content-Base", "Content-Encoding",
    "Content-Language", "Content-Length", "Content-Location", "Content-MD5", "Content-Range",
    "Content-Type", "Date", "Etag", "Expires", "From", "Host", "If-Modified-Since", "If-Match",
    "If-None-Match", "If-Range", "If-Unmodified-Since", "Location", "Last-Modified", "Max-Forwards",
    "Pragma", "Proxy-Authenticate", "Proxy-Authorization", "Public", "Range", "Referer",
    "Retry-After", "Server", "Transfer-Encoding", "Upgrade", "User-Agent", "Vary", "Via", "Warning",
    "WWW-Authenticate", "Content-Disposition",
    # encoding version 1.2, from 0x2F
    "X-Wap-Application-Id", "X-Wap-Content-URI", "X-Wap-Initiator-URI", "Accept-Application",
    "Bearer-Indication", "Push-Flag", "Profile", "Profile-Diff", "Profile-Warning",
    # encoding version 1.3, from 0x38
    "Expect", "TE", "Trailer", "Accept-Charset", "Accept-Encoding", "Cache-Control",
    "Content-Range", "X-Wap-Tod", "Content-ID", "Set-Cookie", "Cookie", "Encoding-Version",
    # encoding version 1.4, from 0x44
    "Profile-Warning", "Content-Disposition", "X-WAP-Security", "Cache-Control",
]  # fmt: skip
HEADER_FIELDS: dict[int, str] = dict(enumerate(_HEADER_FIELD_LIST))
_HEADER_NUMBERS = {name.lower(): number for number, name in sorted(HEADER_FIELDS.items(), reverse=True)}

# WINA push application ids (X-Wap-Application-Id App-assigned-code).
PUSH_APPLICATIONS: dict[int, str] = {
    0x00: "x-wap-application:*",
    0x01: "x-wap-application:push.sia",
    0x02: "x-wap-application:wml.ua",
    0x03: "x-wap-application:wta.ua",
    0x04: "x-wap-application:mms.ua",
    0x05: "x-wap-application:push.syncml",
    0x06: "x-wap-application:loc.ua",
    0x07: "x-wap-application:syncml.dm",
    0x08: "x-wap-application:drm.ua",
    0x09: "x-wap-application:emn.ua",
    0x0A: "x-wap-application:wv.ua",
}
_PUSH_APPLICATION_CODES = {name.lower(): code for code, name in PUSH_APPLICATIONS.items()}

# WSP Table 42 / IANA MIBenum → charset name (lower case, as IANA lists it).
CHARSETS: dict[int, str] = {
    3: "us-ascii", 4: "iso-8859-1", 5: "iso-8859-2", 6: "iso-8859-3", 7: "iso-8859-4",
    8: "iso-8859-5", 9: "iso-8859-6", 10: "iso-8859-7", 11: "iso-8859-8", 12: "iso-8859-9",
    13: "iso-8859-10", 17: "shift_jis", 18: "euc-jp", 36: "ks_c_5601-1987", 37: "iso-2022-kr",
    38: "euc-kr", 39: "iso-2022-jp", 40: "iso-2022-jp-2", 106: "utf-8", 109: "iso-8859-13",
    110: "iso-8859-14", 111: "iso-8859-15", 112: "iso-8859-16", 113: "gbk", 114: "gb18030",
    1000: "iso-10646-ucs-2", 1013: "utf-16be", 1014: "utf-16le", 1015: "utf-16", 1017: "utf-32",
    1018: "utf-32be", 1019: "utf-32le", 2025: "gb2312", 2026: "big5", 2084: "koi8-r", 2088: "koi8-u",
    2250: "windows-1250", 2251: "windows-1251", 2252: "windows-1252", 2253: "windows-1253",
    2254: "windows-1254", 2255: "windows-1255", 2256: "windows-1256", 2257: "windows-1257",
    2258: "windows-1258",
}  # fmt: skip
_CHARSET_NUMBERS = {name: number for number, name in CHARSETS.items()}
_CHARSET_ALIASES = {
    "ascii": "us-ascii", "utf8": "utf-8", "latin1": "iso-8859-1", "latin-1": "iso-8859-1",
    "latin2": "iso-8859-2", "ucs-2": "iso-10646-ucs-2", "ucs2": "iso-10646-ucs-2", "utf16": "utf-16",
    "cp1250": "windows-1250", "cp1251": "windows-1251", "cp1252": "windows-1252", "sjis": "shift_jis",
    "shift-jis": "shift_jis",
}  # fmt: skip
# Charsets Python knows by another name (or, for UCS-2, not at all: it is read as UTF-16).
_PYTHON_CODECS = {"iso-10646-ucs-2": "utf-16", "ks_c_5601-1987": "cp949"}

# WSP Table 38 (well-known parameters): number → (name, value kind). 0x00-0x08 from 1.1, 0x09-0x0B
# from 1.2, 0x0C-0x10 from 1.3, 0x11-0x1D from 1.4 (the 1.4 numbers repeat Name, Filename, Start,
# Start-info, Comment, Domain and Path with a Text-value).
_PARAMETERS: dict[int, tuple[str, str]] = {
    0x00: ("q", "q-value"),
    0x01: ("charset", "charset"),
    0x02: ("level", "version"),
    0x03: ("type", "integer-type"),
    0x05: ("name", "text-string"),
    0x06: ("filename", "text-string"),
    0x07: ("differences", "field-name"),
    0x08: ("padding", "short-integer"),
    0x09: ("type", "constrained-media"),
    0x0A: ("start", "text-string"),
    0x0B: ("start-info", "text-string"),
    0x0C: ("comment", "text-string"),
    0x0D: ("domain", "text-string"),
    0x0E: ("max-age", "integer"),
    0x0F: ("path", "text-string"),
    0x10: ("secure", "no-value"),
    0x11: ("sec", "short-integer"),
    0x12: ("mac", "text-value"),
    0x13: ("creation-date", "date"),
    0x14: ("modification-date", "date"),
    0x15: ("read-date", "date"),
    0x16: ("size", "integer"),
    0x17: ("name", "text-value"),
    0x18: ("filename", "text-value"),
    0x19: ("start", "text-value"),
    0x1A: ("start-info", "text-value"),
    0x1B: ("comment", "text-value"),
    0x1C: ("domain", "text-value"),
    0x1D: ("path", "text-value"),
}
_PARAMETER_ENCODINGS = {"charset": 0x01, "name": 0x05, "filename": 0x06, "type": 0x09, "start": 0x0A,
                        "start-info": 0x0B}  # fmt: skip

# §8.2.1 PDU types of the connectionless push.
PUSH = 0x06
CONFIRMED_PUSH = 0x07
_PUSH_TYPES = {PUSH: "push", CONFIRMED_PUSH: "confirmed-push"}

# §8.4.2.1 / §8.4.2.2 octet ranges.
_QUOTE = 0x7F  # before a Text-string whose first octet is 128-255
_QUOTED_STRING = 0x22  # opens a Quoted-string (no closing quote: End-of-string ends it)
_LENGTH_QUOTE = 0x1F  # Value-length with a uintvar length follows
_MAX_SHORT_LENGTH = 30
_MAX_UINTVAR_OCTETS = 5  # §8.1.2: uintvar carries at most 32 bits
_SHIFT_DELIMITER = 0x7F  # §8.4.2.6, in a header list: a code page number follows
_DISPOSITIONS = {0x80: "form-data", 0x81: "attachment", 0x82: "inline"}  # §8.4.2.53 (+1.4 Inline)
_MAX_NESTING = 4


# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class ContentType:
    """A media type with its parameters (names lower case: charset, name, filename, type, start…)."""

    media_type: str
    params: dict[str, object] = field(default_factory=dict)

    @property
    def charset(self) -> str | None:
        value = self.params.get("charset")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ContentDisposition:
    disposition: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class WspPart:
    """One entry of a WSP multipart entity (§8.5.3); ``offset`` is where its data begins."""

    content_type: ContentType
    headers: dict[str, object]
    data: bytes
    offset: int = 0


@dataclass(frozen=True)
class PushPdu:
    """A connectionless Push or ConfirmedPush PDU (§8.2.4.1) as carried by WDP over SMS."""

    transaction_id: int
    pdu_type: str  # "push" or "confirmed-push"
    content_type: ContentType
    headers: dict[str, object]
    body: bytes
    body_offset: int

    @property
    def application_id(self) -> str | None:
        value = self.headers.get("X-Wap-Application-Id")
        return value if isinstance(value, str) else None


class WspReader:
    """A cursor over ``data[pos:end]`` reading the §8.4.2 values; offsets in errors count from
    ``data[0]``. The MMS codec reads its headers with it."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    @property
    def left(self) -> int:
        return self.end - self.pos

    def at_end(self) -> bool:
        return self.pos >= self.end

    def peek(self, what: str) -> int:
        if self.pos >= self.end:
            raise MmsError(f"truncated: {what} expected at offset {self.pos}, the data ends there")
        return self.data[self.pos]

    def octet(self, what: str) -> int:
        value = self.peek(what)
        self.pos += 1
        return value

    def take(self, count: int, what: str) -> bytes:
        if count > self.end - self.pos:
            raise MmsError(
                f"truncated: {what} at offset {self.pos} needs {count} octets, only {self.end - self.pos} left"
            )
        value = self.data[self.pos : self.pos + count]
        self.pos += count
        return value

    def sub(self, length: int, what: str) -> WspReader:
        """A reader over the next *length* octets; this reader skips past them."""
        if length > self.end - self.pos:
            raise MmsError(
                f"truncated: {what} at offset {self.pos} is {length} octets long, only {self.end - self.pos} left"
            )
        inner = WspReader(self.data, self.pos, self.pos + length)
        self.pos += length
        return inner

    # -- §8.1.2 and §8.4.2.1 basic rules

    def uintvar(self, what: str) -> int:
        start = self.pos
        value = 0
        for _ in range(_MAX_UINTVAR_OCTETS):
            octet = self.octet(what)
            value = (value << 7) | (octet & 0x7F)
            if not octet & 0x80:
                return value
        raise MmsError(f"{what} at offset {start}: uintvar longer than {_MAX_UINTVAR_OCTETS} octets")

    def short_integer(self, what: str) -> int:
        start = self.pos
        octet = self.octet(what)
        if not octet & 0x80:
            raise MmsError(f"{what} at offset {start}: 0x{octet:02X} is not a Short-integer (bit 7 clear)")
        return octet & 0x7F

    def long_integer(self, what: str) -> int:
        start = self.pos
        length = self.octet(what)
        if length > _MAX_SHORT_LENGTH:
            raise MmsError(f"{what} at offset {start}: 0x{length:02X} is not a Long-integer Short-length")
        return int.from_bytes(self.take(length, what), "big")

    def integer_value(self, what: str) -> int:
        if self.peek(what) & 0x80:
            return self.short_integer(what)
        return self.long_integer(what)

    def value_length(self, what: str) -> int:
        start = self.pos
        octet = self.octet(what)
        if octet <= _MAX_SHORT_LENGTH:
            return octet
        if octet == _LENGTH_QUOTE:
            return self.uintvar(what)
        raise MmsError(f"{what} at offset {start}: 0x{octet:02X} is not a Value-length")

    def value(self, what: str) -> WspReader:
        """Value-length and the octets it counts, as a reader."""
        length = self.value_length(what)
        return self.sub(length, what)

    def raw_text(self, what: str) -> bytes:
        """Octets up to End-of-string (NUL), which is consumed but not returned."""
        start = self.pos
        stop = self.data.find(b"\x00", self.pos, self.end)
        if stop < 0:
            raise MmsError(f"truncated: {what} at offset {start} has no End-of-string (0x00)")
        self.pos = stop + 1
        return self.data[start:stop]

    def text_string(self, what: str) -> str:
        if self.peek(what) == _QUOTE:
            self.pos += 1
        return _text(self.raw_text(what))

    def quoted_string(self, what: str) -> str:
        if self.peek(what) == _QUOTED_STRING:
            self.pos += 1
        return _text(self.raw_text(what))

    def text_value(self, what: str) -> str:
        # Text-value = No-value | Token-text | Quoted-string
        first = self.peek(what)
        if first == 0x00:
            self.pos += 1
            return ""
        if first == _QUOTED_STRING:
            return self.quoted_string(what)
        return self.text_string(what)

    def date_value(self, what: str) -> datetime:
        start = self.pos
        return _date(self.long_integer(what), what, start)

    # -- the compound values, defined further down

    def version(self, what: str) -> str:
        return _version(self, what)

    def encoded_string(self, what: str) -> str:
        return _encoded_string(self, what)

    def content_type(self, what: str) -> ContentType:
        return _content_type(self, what)

    def headers(self) -> dict[str, object]:
        return _headers(self)

    def multipart(self) -> list[WspPart]:
        return _multipart(self)

    def skip_value(self, what: str) -> bytes:
        """Any field value by its first octet (§8.4.1.2): 0-30 and 31 give a length, 32-127 open a
        text, 128-255 are a value of their own. Returns the octets of the value."""
        start = self.pos
        first = self.peek(what)
        if first <= _LENGTH_QUOTE:
            inner = self.value(what)
            return self.data[inner.pos : inner.end]
        if first < 0x80:
            self.raw_text(what)
            return self.data[start : self.pos - 1]
        self.pos += 1
        return bytes([first])


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")


def _date(seconds: int, what: str, offset: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise MmsError(f"{what} at offset {offset}: {seconds} seconds is not a representable date") from None


def _public(decode):
    """Wrap a reader method as ``decode_x(data, offset=0) -> (value, next_offset)``."""

    def run(data: bytes, offset: int = 0):
        data = _as_bytes(data)
        if not 0 <= offset <= len(data):
            raise MmsError(f"offset {offset} is outside the {len(data)} octets given")
        reader = WspReader(data, offset)
        value = decode(reader)
        return value, reader.pos

    run.__name__ = decode.__name__
    run.__doc__ = decode.__doc__
    return run


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise MmsError(f"WSP data is bytes, not {type(data).__name__}")


@_public
def decode_uintvar(reader: WspReader) -> int:
    """uintvar (§8.1.2): 7 bits an octet, most significant first, bit 7 set on all but the last."""
    return reader.uintvar("uintvar")


@_public
def decode_short_integer(reader: WspReader) -> int:
    return reader.short_integer("Short-integer")


@_public
def decode_long_integer(reader: WspReader) -> int:
    return reader.long_integer("Long-integer")


@_public
def decode_integer_value(reader: WspReader) -> int:
    """Integer-value = Short-integer | Long-integer."""
    return reader.integer_value("Integer-value")


@_public
def decode_value_length(reader: WspReader) -> int:
    """Value-length = Short-length (0-30) | Length-quote (31) Length (uintvar)."""
    return reader.value_length("Value-length")


@_public
def decode_text_string(reader: WspReader) -> str:
    """Text-string = [Quote] *TEXT End-of-string."""
    return reader.text_string("Text-string")


@_public
def decode_quoted_string(reader: WspReader) -> str:
    """Quoted-string = <Octet 34> *TEXT End-of-string."""
    return reader.quoted_string("Quoted-string")


@_public
def decode_text_value(reader: WspReader) -> str:
    return reader.text_value("Text-value")


@_public
def decode_date_value(reader: WspReader) -> datetime:
    """Date-value = Long-integer seconds since 1970-01-01 00:00:00 UTC."""
    return reader.date_value("Date-value")


# --------------------------------------------------------------------------------------------
# Charsets and encoded strings


def charset_name(number: int) -> str:
    """The IANA name of a MIBenum; an unregistered one keeps its number (``"mibenum-2999"``)."""
    return CHARSETS.get(number, f"mibenum-{number}")


def mibenum(charset: str) -> int:
    """The MIBenum of a charset name (or an alias Python uses); MmsError if unknown."""
    name = charset.strip().lower()
    name = _CHARSET_ALIASES.get(name, name)
    if name in _CHARSET_NUMBERS:
        return _CHARSET_NUMBERS[name]
    if name.startswith("mibenum-") and name[8:].isdigit():
        return int(name[8:])
    raise MmsError(f"charset {charset!r} has no MIBenum known here")


def decode_text(raw: bytes, charset: str | None) -> str:
    """Text in a named charset; no charset means UTF-8. Undecodable octets become U+FFFD, an unknown
    charset reads as UTF-8. A byte order mark is honoured and dropped, and so is U+0000: PostgreSQL
    refuses it in text (the octets stay in the part's data)."""
    return _decoded(raw, charset).replace("\x00", "")


def _decoded(raw: bytes, charset: str | None) -> str:
    name = (charset or "utf-8").strip().lower()
    name = _CHARSET_ALIASES.get(name, name)
    codec = _PYTHON_CODECS.get(name, name)
    if codec == "utf-16":
        # RFC 2781 §4.3: no BOM means big-endian (Python's "utf-16" would take the machine's order).
        if raw[:2] in (codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE):
            return raw.decode("utf-16", "replace")
        return raw.decode("utf-16-be", "replace")
    if codec == "utf-32" and raw[:4] not in (codecs.BOM_UTF32_BE, codecs.BOM_UTF32_LE):
        return raw.decode("utf-32-be", "replace")
    if codec == "utf-8":
        codec = "utf-8-sig"
    try:
        codecs.lookup(codec)
    except LookupError:
        codec = "utf-8"
    return raw.decode(codec, "replace")


def _charset_value(reader: WspReader, what: str) -> str:
    # Well-known-charset = Any-charset (<Octet 128>) | Integer-value (§8.4.2.8)
    if reader.peek(what) == 0x80:
        reader.pos += 1
        return "*"
    return charset_name(reader.integer_value(what))


def _encoded_string(reader: WspReader, what: str) -> str:
    # Encoded-string-value = Text-string | Value-length Char-set Text-string (OMA-TS-MMS_ENC §7.2.9)
    first = reader.peek(what)
    if first > _LENGTH_QUOTE:
        return reader.text_string(what)
    if first == 0x00:
        # An empty Text-string is End-of-string alone; it is not a Value-length of 0.
        reader.pos += 1
        return ""
    inner = reader.value(what)
    charset = _charset_value(inner, f"{what} charset")
    raw = inner.data[inner.pos : inner.end]
    # The Value-length bounds the text, so UTF-16 text with its NUL octets reads whole; the
    # End-of-string (one NUL, two after 16-bit text) is dropped.
    if raw[:1] == bytes([_QUOTE]):
        raw = raw[1:]
    if charset in ("utf-16", "utf-16be", "utf-16le", "iso-10646-ucs-2"):
        raw = raw[:-2] if raw.endswith(b"\x00\x00") and len(raw) % 2 == 0 else raw.rstrip(b"\x00")
    elif charset in ("utf-32", "utf-32be", "utf-32le"):
        raw = raw[: len(raw) - len(raw) % 4]
        while raw.endswith(b"\x00\x00\x00\x00"):
            raw = raw[:-4]
    else:
        raw = raw.split(b"\x00", 1)[0]
    return decode_text(raw, None if charset == "*" else charset)


@_public
def decode_encoded_string_value(reader: WspReader) -> str:
    return _encoded_string(reader, "Encoded-string-value")


# --------------------------------------------------------------------------------------------
# Content types (§8.4.2.24) and parameters (§8.4.2.4)


def _media_name(number: int) -> str:
    return CONTENT_TYPES.get(number, "application/octet-stream")


def _parameter(reader: WspReader, params: dict[str, object]) -> None:
    what = f"parameter at offset {reader.pos}"
    first = reader.peek(what)
    if first & 0x80 or first <= _MAX_SHORT_LENGTH:
        # Typed-parameter = Well-known-parameter-token Typed-value
        number = reader.integer_value(what)
        name, kind = _PARAMETERS.get(number, (f"0x{number:02x}", "unknown"))
        value = _typed_value(reader, kind, f"{name} parameter")
    else:
        # Untyped-parameter = Token-text Untyped-value; Untyped-value = Integer-value | Text-value
        name = reader.text_string(what).lower()
        second = reader.peek(f"{name} parameter")
        value = (
            reader.integer_value(name)
            if second & 0x80 or 0 < second <= _MAX_SHORT_LENGTH
            else (reader.text_value(f"{name} parameter"))
        )
    params.setdefault(name, value)


def _typed_value(reader: WspReader, kind: str, what: str) -> object:
    if kind == "charset":
        return _charset_value(reader, what)
    if kind in ("text-string",):
        return reader.text_string(what)
    if kind == "text-value":
        return reader.text_value(what)
    if kind == "constrained-media":
        # Constrained-encoding = Extension-Media | Short-integer (§8.4.2.7)
        if reader.peek(what) & 0x80:
            return _media_name(reader.short_integer(what))
        return reader.text_string(what)
    if kind == "integer-type":
        # WSP 1.1 Type = Integer-value; a well-known media number when it names one.
        number = reader.integer_value(what)
        return CONTENT_TYPES.get(number, number)
    if kind in ("integer",):
        return reader.integer_value(what)
    if kind == "short-integer":
        return reader.short_integer(what)
    if kind == "date":
        return reader.date_value(what)
    if kind == "version":
        return _version(reader, what)
    if kind == "no-value":
        start = reader.pos
        if reader.octet(what) != 0:
            raise MmsError(f"{what} at offset {start}: No-value must be 0x00")
        return ""
    if kind == "q-value":
        # Q-value is a uintvar: 1-100 → (v-1)/100, 101-1099 → (v-100)/1000 (§8.4.2.3)
        value = reader.uintvar(what)
        return (value - 1) / 100 if value <= 100 else (value - 100) / 1000
    if kind == "field-name":
        if reader.peek(what) & 0x80:
            number = reader.short_integer(what)
            return HEADER_FIELDS.get(number, f"0x{number:02x}")
        return reader.text_string(what)
    # An unknown Typed-value: Compact-value | Text-value, read by its first octet.
    first = reader.peek(what)
    if first & 0x80 or 0 < first <= _MAX_SHORT_LENGTH:
        return reader.integer_value(what)
    return reader.text_value(what)


def _version(reader: WspReader, what: str) -> str:
    # Version-value = Short-integer (major in bits 6-4, minor in 3-0, 15 = none) | Text-string
    if reader.peek(what) & 0x80:
        value = reader.short_integer(what)
        major, minor = (value >> 4) & 0x07, value & 0x0F
        return f"{major}" if minor == 0x0F else f"{major}.{minor}"
    return reader.text_string(what)


def _content_type(reader: WspReader, what: str) -> ContentType:
    # Content-type-value = Constrained-media | Content-general-form
    first = reader.peek(what)
    if first & 0x80:
        return ContentType(_media_name(reader.short_integer(what)))
    if first > _LENGTH_QUOTE:
        return ContentType(reader.text_string(what))
    # Content-general-form = Value-length Media-type; Media-type = (Well-known-media |
    # Extension-Media) *(Parameter); Well-known-media = Integer-value
    inner = reader.value(what)
    head = inner.peek(f"{what} media type")
    if head & 0x80 or head <= _MAX_SHORT_LENGTH:
        media = _media_name(inner.integer_value(f"{what} media type"))
    else:
        media = inner.text_string(f"{what} media type")
    params: dict[str, object] = {}
    while not inner.at_end():
        _parameter(inner, params)
    return ContentType(media, params)


@_public
def decode_content_type(reader: WspReader) -> ContentType:
    return _content_type(reader, "Content-type")


def is_multipart(content_type: str) -> bool:
    media = content_type.lower()
    return media.startswith("application/vnd.wap.multipart.") or media.startswith("multipart/")


# --------------------------------------------------------------------------------------------
# Headers (§8.4.2.6)

_TEXT_HEADERS = {
    "Content-Location", "Content-Base", "Location", "Host", "User-Agent", "Server", "Referer", "From",
    "Etag", "X-Wap-Content-URI", "X-Wap-Initiator-URI", "Profile", "Via", "Content-MD5", "Upgrade",
}  # fmt: skip
_INTEGER_HEADERS = {"Content-Length", "Age", "Max-Forwards", "Push-Flag", "Bearer-Indication"}
_DATE_HEADERS = {"Date", "Expires", "Last-Modified", "If-Modified-Since", "If-Unmodified-Since", "X-Wap-Tod"}


def _header_value(reader: WspReader, name: str) -> object:
    what = f"{name} header"
    first = reader.peek(what)
    if name == "Content-Type":
        return _content_type(reader, what)
    if name == "X-Wap-Application-Id":
        # Application-id-value = Uri-value | App-assigned-code (Integer-value)
        if first & 0x80 or first <= _MAX_SHORT_LENGTH:
            code = reader.integer_value(what)
            return PUSH_APPLICATIONS.get(code, f"x-wap-application-code:{code}")
        return reader.text_string(what)
    if name == "Content-ID":
        # Content-ID-value = Quoted-string (§8.4.2.67); many encoders write a Text-string.
        return (
            reader.quoted_string(what) if first > _LENGTH_QUOTE and first < 0x80 else reader.skip_value(what)
        )
    if name == "Content-Disposition" and first <= _LENGTH_QUOTE:
        # Content-disposition-value = Value-length Disposition *(Parameter)
        inner = reader.value(what)
        kind = inner.peek(what)
        disposition = _DISPOSITIONS.get(kind) if kind & 0x80 else None
        if disposition is not None:
            inner.pos += 1
        elif kind & 0x80:
            inner.pos += 1
            disposition = f"0x{kind:02x}"
        else:
            disposition = inner.text_string(what).lower()
        params: dict[str, object] = {}
        while not inner.at_end():
            _parameter(inner, params)
        return ContentDisposition(disposition, params)
    if name == "Encoding-Version":
        if first <= _LENGTH_QUOTE:
            return reader.skip_value(what)
        return _version(reader, what)
    if name in _TEXT_HEADERS and _LENGTH_QUOTE < first < 0x80:
        return reader.text_string(what)
    if name in _INTEGER_HEADERS and (first & 0x80 or first <= _MAX_SHORT_LENGTH):
        return reader.integer_value(what)
    if name in _DATE_HEADERS and first <= _MAX_SHORT_LENGTH:
        return reader.date_value(what)
    # Anything else by its first octet: a text, a short integer, or the raw octets of a
    # length-prefixed value.
    if _LENGTH_QUOTE < first < 0x80:
        return reader.text_string(what)
    if first & 0x80:
        return reader.short_integer(what)
    return reader.skip_value(what)


def _headers(reader: WspReader) -> dict[str, object]:
    headers: dict[str, object] = {}
    page = 1
    while not reader.at_end():
        start = reader.pos
        first = reader.peek(f"header at offset {start}")
        if first == _SHIFT_DELIMITER:
            reader.pos += 1
            page = reader.octet(f"code page at offset {reader.pos}")
            continue
        if 0x01 <= first <= 0x1F:  # Short-cut-shift-delimiter
            reader.pos += 1
            page = first
            continue
        if first & 0x80:
            number = first & 0x7F
            reader.pos += 1
            name = HEADER_FIELDS.get(number, f"0x{number:02x}") if page == 1 else f"page{page}-0x{number:02x}"
            value = _header_value(reader, name)
        elif first == 0x00:
            raise MmsError(f"header at offset {start}: 0x00 is neither a field name nor a token")
        else:
            # Application-header = Token-text Application-specific-value (a Text-string)
            name = reader.text_string(f"header name at offset {start}")
            value = _known_application_header(reader, name)
        headers.setdefault(name, value)
    return headers


def _known_application_header(reader: WspReader, name: str) -> object:
    # Encoders that stop at WSP 1.2 (python-messaging) write Content-ID as a textual header.
    if name.lower() == "content-id":
        return reader.quoted_string(f"{name} header")
    return reader.text_string(f"{name} header")


def _span(data: object, offset: int, end: int | None) -> WspReader:
    data = _as_bytes(data)
    if not 0 <= offset <= len(data):
        raise MmsError(f"offset {offset} is outside the {len(data)} octets given")
    return WspReader(data, offset, len(data) if end is None else max(offset, min(end, len(data))))


def decode_headers(data: bytes, offset: int = 0, end: int | None = None) -> dict[str, object]:
    """Headers from *offset* to *end*: well-known ones named as in Table 39, application ones by
    their token. A repeated header keeps its first value."""
    return _headers(_span(data, offset, end))


# --------------------------------------------------------------------------------------------
# Multipart (§8.5) and push (§8.2.4.1)


def _multipart(reader: WspReader) -> list[WspPart]:
    count_offset = reader.pos
    count = reader.uintvar("multipart entry count")
    parts = []
    for index in range(count):
        what = f"multipart entry {index + 1} of {count}"
        if reader.at_end():
            raise MmsError(
                f"truncated: {what} expected at offset {reader.pos}; the entry count at offset "
                f"{count_offset} says {count}"
            )
        headers_length = reader.uintvar(f"{what} HeadersLen")
        data_length = reader.uintvar(f"{what} DataLen")
        head = reader.sub(headers_length, f"{what} headers")
        content_type = _content_type(head, f"{what} content type")
        headers = _headers(head)
        data_offset = reader.pos
        data = reader.take(data_length, f"{what} data")
        parts.append(WspPart(content_type, headers, data, data_offset))
    return parts


def decode_multipart(data: bytes, offset: int = 0, end: int | None = None) -> list[WspPart]:
    """A multipart entity: nEntries (uintvar), then per entry HeadersLen, DataLen (uintvars),
    ContentType, Headers and Data. Octets after the last entry are ignored."""
    return _multipart(_span(data, offset, end))


def decode_push(data: bytes) -> PushPdu:
    """A connectionless Push/ConfirmedPush PDU: TID, PDU type, HeadersLen (uintvar), content type,
    headers, then the body to the end."""
    reader = WspReader(_as_bytes(data))
    transaction_id = reader.octet("push TID")
    pdu_type = reader.octet("push PDU type")
    if pdu_type not in _PUSH_TYPES:
        raise MmsError(
            f"push PDU type at offset 1: 0x{pdu_type:02X} is not Push (0x06) or ConfirmedPush (0x07)"
        )
    headers_length = reader.uintvar("push HeadersLen")
    head = reader.sub(headers_length, "push headers")
    content_type = _content_type(head, "push content type")
    headers = _headers(head)
    return PushPdu(
        transaction_id=transaction_id,
        pdu_type=_PUSH_TYPES[pdu_type],
        content_type=content_type,
        headers=headers,
        body=reader.data[reader.pos :],
        body_offset=reader.pos,
    )


# --------------------------------------------------------------------------------------------
# Encoding


def encode_uintvar(value: int) -> bytes:
    if not 0 <= value < 1 << 32:
        raise MmsError(f"uintvar {value} is outside 0..2^32-1")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def encode_short_integer(value: int) -> bytes:
    if not 0 <= value <= 0x7F:
        raise MmsError(f"Short-integer {value} is outside 0..127")
    return bytes([0x80 | value])


def encode_long_integer(value: int) -> bytes:
    # Multi-octet-integer: big-endian, 1 to 30 octets (§8.4.2.1); 0 takes one octet.
    if value < 0:
        raise MmsError(f"Long-integer {value} is negative")
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    if len(raw) > _MAX_SHORT_LENGTH:
        raise MmsError(f"Long-integer {value} needs more than 30 octets")
    return bytes([len(raw)]) + raw


def encode_integer_value(value: int) -> bytes:
    return encode_short_integer(value) if 0 <= value <= 0x7F else encode_long_integer(value)


def encode_value_length(length: int) -> bytes:
    if length <= _MAX_SHORT_LENGTH:
        return bytes([length])
    return bytes([_LENGTH_QUOTE]) + encode_uintvar(length)


def _text_octets(text: str | bytes, what: str) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if b"\x00" in raw:
        raise MmsError(f"{what} {text!r} contains NUL, which ends a Text-string")
    return raw


def encode_text_string(text: str | bytes) -> bytes:
    """UTF-8 (or the octets given) and End-of-string; a Quote first when the first octet is 128-255.
    A text starting with a control octet (1-31) would read as a length, so it is refused."""
    raw = _text_octets(text, "Text-string")
    if raw and raw[0] < 0x20:
        raise MmsError(f"Text-string {text!r} starts with control octet 0x{raw[0]:02X}")
    if raw and raw[0] >= _QUOTE:
        # §8.4.2.1: a Quote before a first octet of 128-255; before DEL (127) too, which a reader
        # would otherwise take for the Quote itself.
        raw = bytes([_QUOTE]) + raw
    return raw + b"\x00"


def encode_quoted_string(text: str | bytes) -> bytes:
    return bytes([_QUOTED_STRING]) + _text_octets(text, "Quoted-string") + b"\x00"


def encode_encoded_string_value(text: str, charset: str = "utf-8") -> bytes:
    """Printable ASCII as a plain Text-string; anything else as Value-length, Char-set, Text-string
    (the Value-length bounds the text, so 16-bit charsets with their NUL octets fit; they end with
    two NULs)."""
    if text.isascii() and text.isprintable():
        return encode_text_string(text)
    name = _CHARSET_ALIASES.get(charset.strip().lower(), charset.strip().lower())
    codec = _PYTHON_CODECS.get(name, name)
    try:
        raw = text.encode(codec)
    except (LookupError, UnicodeEncodeError) as error:
        raise MmsError(f"cannot write {text!r} in charset {charset}: {error}") from None
    wide = codec.startswith(("utf-16", "utf-32"))
    if not wide and b"\x00" in raw:
        raise MmsError(f"Encoded-string-value {text!r} contains NUL, which ends a Text-string")
    quote = bytes([_QUOTE]) if raw and raw[0] >= _QUOTE else b""
    body = encode_integer_value(mibenum(name)) + quote + raw + (b"\x00\x00" if wide else b"\x00")
    return encode_value_length(len(body)) + body


def _media_octets(media_type: str, constrained: bool) -> bytes:
    if not media_type:
        # Its Text-string would be a lone NUL, which reads back as a Value-length of 0.
        raise MmsError("a media type cannot be empty")
    number = _CONTENT_TYPE_NUMBERS.get(media_type.lower())
    if number is not None and number <= 0x7F:
        return encode_short_integer(number)
    if number is not None and not constrained:
        return encode_long_integer(number)
    return encode_text_string(media_type)


def _encode_parameter(name: str, value: object) -> bytes:
    key = name.lower()
    number = _PARAMETER_ENCODINGS.get(key)
    if number == 0x01:
        charset = value if isinstance(value, str) else charset_name(int(value))  # type: ignore[arg-type]
        return encode_short_integer(number) + encode_integer_value(mibenum(charset))
    if number == 0x09:
        return encode_short_integer(number) + _media_octets(str(value), constrained=True)
    if number is not None:
        return encode_short_integer(number) + encode_text_string(str(value))
    token = encode_text_string(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return token + encode_integer_value(value)
    text = str(value)
    return token + (encode_quoted_string(text) if text else b"\x00")


def encode_content_type(content_type: str | ContentType, params: Mapping[str, object] | None = None) -> bytes:
    """Constrained-media when there are no parameters, else Content-general-form."""
    if isinstance(content_type, ContentType):
        params = {**content_type.params, **(params or {})}
        content_type = content_type.media_type
    if not params:
        return _media_octets(content_type, constrained=True)
    body = _media_octets(content_type, constrained=False) + b"".join(
        _encode_parameter(name, value) for name, value in params.items() if value is not None
    )
    return encode_value_length(len(body)) + body


def encode_header(name: str, value: object) -> bytes:
    """One header: a well-known field (Table 39) with its value encoding, else an
    Application-header (Token-text, Text-string)."""
    number = _HEADER_NUMBERS.get(name.lower())
    if number is None:
        return encode_text_string(name) + encode_text_string(str(value))
    canonical = HEADER_FIELDS[number]
    field_octet = encode_short_integer(number)
    if canonical == "X-Wap-Application-Id":
        if isinstance(value, int):
            return field_octet + encode_integer_value(value)
        code = _PUSH_APPLICATION_CODES.get(str(value).lower())
        return field_octet + (
            encode_integer_value(code) if code is not None else encode_text_string(str(value))
        )
    if canonical == "Content-Type":
        return field_octet + encode_content_type(value if isinstance(value, ContentType) else str(value))
    if canonical == "Content-ID":
        return field_octet + encode_quoted_string(str(value))
    if isinstance(value, datetime):
        return field_octet + encode_long_integer(int(value.timestamp()))
    if isinstance(value, int) and not isinstance(value, bool):
        return field_octet + encode_integer_value(value)
    if isinstance(value, ContentDisposition):
        kinds = {name: octet for octet, name in _DISPOSITIONS.items()}
        octet = kinds.get(value.disposition.lower())
        body = (bytes([octet]) if octet is not None else encode_text_string(value.disposition)) + b"".join(
            _encode_parameter(key, item) for key, item in value.params.items()
        )
        return field_octet + encode_value_length(len(body)) + body
    return field_octet + encode_text_string(str(value))


def _encode_headers(headers: Mapping[str, object] | Iterable[tuple[str, object]] | None) -> bytes:
    if headers is None:
        return b""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return b"".join(encode_header(name, value) for name, value in items)


def encode_multipart(parts: Iterable[WspPart]) -> bytes:
    parts = list(parts)
    out = [encode_uintvar(len(parts))]
    for part in parts:
        head = encode_content_type(part.content_type) + _encode_headers(part.headers)
        out += [encode_uintvar(len(head)), encode_uintvar(len(part.data)), head, part.data]
    return b"".join(out)


def encode_push(
    transaction_id: int,
    content_type: str | ContentType = "application/vnd.wap.mms-message",
    headers: Mapping[str, object] | Iterable[tuple[str, object]] | None = None,
    body: bytes = b"",
    *,
    pdu_type: int = PUSH,
) -> bytes:
    """A connectionless push PDU. ``headers=None`` gives the one header an MMSC sends:
    X-Wap-Application-Id: x-wap-application:mms.ua (0xAF 0x84)."""
    if not 0 <= transaction_id <= 0xFF:
        raise MmsError(f"push TID {transaction_id} is outside 0..255")
    if pdu_type not in _PUSH_TYPES:
        raise MmsError(f"push PDU type 0x{pdu_type:02X} is not Push (0x06) or ConfirmedPush (0x07)")
    if headers is None:
        headers = [("X-Wap-Application-Id", "x-wap-application:mms.ua")]
    head = encode_content_type(content_type) + _encode_headers(headers)
    return bytes([transaction_id, pdu_type]) + encode_uintvar(len(head)) + head + bytes(body)
