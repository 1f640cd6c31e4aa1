"""GSM 7-bit default alphabet and national language tables (3GPP TS 23.038 §6.2 and annex A).

A GSM 7-bit text is a sequence of septets. Each septet is looked up in a *locking shift* table (the
default alphabet unless a national locking shift table was announced in the UDH); the septet ESC
(0x1B) makes the next septet be looked up in the *single shift* table (the default extension table
unless a national single shift table was announced).

Septets travel packed: septet *i* occupies bits 7i .. 7i+6 of the octet stream, least significant
bit first (TS 23.038 §6.1.2.1.1). When a User Data Header precedes the text, the text starts at the
next septet boundary after the header; the bits in between are *fill bits* (TS 23.040 §9.2.3.24).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

ESC = 0x1B

# TS 23.038 §6.2.1: the default alphabet; index = septet value. 0x1B is the escape to the
# extension table and never stands for a character itself (shown as '\x1b' here as a placeholder).
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# TS 23.038 §6.2.1.1: the default extension table, reached with ESC.
DEFAULT_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# National language identifiers (TS 23.038 §6.2.1.2.4), as carried in UDH IEs 0x24/0x25.
TURKISH = 1
SPANISH = 2
PORTUGUESE = 3

# Annex A.3.1: Turkish locking shift table.
_TURKISH_LOCKING = (
    "@£$¥€éùıòÇ\nĞğ\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bŞşßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "İABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "çabcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# Annex A.3.3: Portuguese locking shift table.
_PORTUGUESE_LOCKING = (
    "@£$¥êéúíóç\nÔô\rÁá"
    "Δ_ªÇÀ∞^\\€Ó|\x1bÂâÊÉ"
    " !\"#º%&'()*+,-./"
    "0123456789:;<=>?"
    "ÍABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÃÕÚÜ§"
    "~abcdefghijklmno"
    "pqrstuvwxyzãõ`üà"
)

# Annex A.2.1: Turkish single shift table.
_TURKISH_SINGLE = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
    0x40: "|", 0x47: "Ğ", 0x49: "İ", 0x53: "Ş", 0x63: "ç", 0x65: "€", 0x67: "ğ", 0x69: "ı",
    0x73: "ş",
}  # fmt: skip

# Annex A.2.2: Spanish single shift table (Spanish has no locking shift table).
_SPANISH_SINGLE = {
    0x09: "ç", 0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
    0x3E: "]", 0x40: "|", 0x41: "Á", 0x49: "Í", 0x4F: "Ó", 0x55: "Ú", 0x61: "á", 0x65: "€",
    0x69: "í", 0x6F: "ó", 0x75: "ú",
}  # fmt: skip

# Annex A.2.3: Portuguese single shift table.
_PORTUGUESE_SINGLE = {
    0x05: "ê", 0x09: "ç", 0x0A: "\f", 0x0B: "Ô", 0x0C: "ô", 0x0E: "Á", 0x0F: "á", 0x12: "Φ",
    0x13: "Γ", 0x14: "^", 0x15: "Ω", 0x16: "Π", 0x17: "Ψ", 0x18: "Σ", 0x19: "Θ", 0x1F: "Ê",
    0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x41: "À",
    0x49: "Í", 0x4F: "Ó", 0x55: "Ú", 0x5B: "Ã", 0x5C: "Õ", 0x61: "Â", 0x65: "€", 0x69: "í",
    0x6F: "ó", 0x75: "ú", 0x7B: "ã", 0x7C: "õ", 0x7F: "â",
}  # fmt: skip

LOCKING_SHIFT_TABLES: dict[int, str] = {
    0: DEFAULT_ALPHABET,
    TURKISH: _TURKISH_LOCKING,
    PORTUGUESE: _PORTUGUESE_LOCKING,
}
SINGLE_SHIFT_TABLES: dict[int, dict[int, str]] = {
    0: DEFAULT_EXTENSION,
    TURKISH: _TURKISH_SINGLE,
    SPANISH: _SPANISH_SINGLE,
    PORTUGUESE: _PORTUGUESE_SINGLE,
}


class UnencodableText(ValueError):
    """The text holds a character that the chosen GSM 7-bit tables cannot represent."""

    def __init__(self, char: str, position: int) -> None:
        super().__init__(
            f"character {char!r} (U+{ord(char):04X}) at position {position} is not in the GSM 7-bit tables"
        )
        self.char = char
        self.position = position


def _reverse(locking: int, single: int) -> dict[str, tuple[int, ...]]:
    table: dict[str, tuple[int, ...]] = {}
    # Single shift first so that a character present in both tables gets the one-septet form.
    for septet, char in SINGLE_SHIFT_TABLES.get(single, DEFAULT_EXTENSION).items():
        table.setdefault(char, (ESC, septet))
    for septet, char in enumerate(LOCKING_SHIFT_TABLES.get(locking, DEFAULT_ALPHABET)):
        if septet != ESC:
            table[char] = (septet,)
    return table


_REVERSE_CACHE: dict[tuple[int, int], dict[str, tuple[int, ...]]] = {}


def _reverse_table(locking: int, single: int) -> dict[str, tuple[int, ...]]:
    key = (locking, single)
    if key not in _REVERSE_CACHE:
        _REVERSE_CACHE[key] = _reverse(locking, single)
    return _REVERSE_CACHE[key]


def char_septets(char: str, *, locking: int = 0, single: int = 0) -> tuple[int, ...] | None:
    """The septets (one, or ESC and one) that stand for *char*, or None when it has none."""
    return _reverse_table(locking, single).get(char)


def is_encodable(text: str, *, locking: int = 0, single: int = 0) -> bool:
    table = _reverse_table(locking, single)
    return all(char in table for char in text)


def encode(text: str, *, locking: int = 0, single: int = 0) -> list[int]:
    """Text to septets; raises UnencodableText naming the first character without a septet."""
    table = _reverse_table(locking, single)
    septets: list[int] = []
    for position, char in enumerate(text):
        code = table.get(char)
        if code is None:
            raise UnencodableText(char, position)
        septets.extend(code)
    return septets


def septet_length(text: str, *, locking: int = 0, single: int = 0) -> int:
    """Number of septets *text* takes (extension characters count twice)."""
    return len(encode(text, locking=locking, single=single))


def decode(septets: Iterable[int], *, locking: int = 0, single: int = 0) -> str:
    """Septets to text, with the given national language tables (0 = default). An unknown language
    falls back to the default tables, as TS 23.038 annex C describes for a receiver without it."""
    locking_table = LOCKING_SHIFT_TABLES.get(locking, DEFAULT_ALPHABET)
    single_table = SINGLE_SHIFT_TABLES.get(single, DEFAULT_EXTENSION)
    out: list[str] = []
    escaped = False
    for septet in septets:
        septet &= 0x7F
        if escaped:
            escaped = False
            if septet == ESC:
                # TS 23.038 §6.2.1.1: ESC ESC is reserved for a further extension table; until one
                # is defined the receiver shows a space.
                out.append(" ")
            elif septet in single_table:
                out.append(single_table[septet])
            else:
                # TS 23.038 §6.2.1.1: a code missing from the extension table is shown as the
                # character of the (locking shift) main table.
                out.append(locking_table[septet])
        elif septet == ESC:
            escaped = True
        else:
            out.append(locking_table[septet])
    # A lone ESC at the very end has nothing to extend; it stands for no character.
    return "".join(out)


def pack(septets: Sequence[int], *, fill_bits: int = 0) -> bytes:
    """Pack septets LSB first, after *fill_bits* zero bits (TS 23.038 §6.1.2.1.1)."""
    total_bits = fill_bits + 7 * len(septets)
    value = 0
    for index, septet in enumerate(septets):
        value |= (septet & 0x7F) << (fill_bits + 7 * index)
    return value.to_bytes((total_bits + 7) // 8, "little")


def unpack(data: bytes, count: int, *, fill_bits: int = 0) -> list[int]:
    """Unpack *count* septets that start *fill_bits* bits into *data*.

    The caller guarantees that data holds at least fill_bits + 7 * count bits."""
    value = int.from_bytes(data, "little") >> fill_bits
    return [(value >> (7 * index)) & 0x7F for index in range(count)]


def header_septets(udh_octets: int) -> int:
    """Septets taken by a UDH of *udh_octets* octets (length octet included) plus its fill bits:
    TS 23.040 §9.2.3.24, the text starts on the first septet boundary after the header."""
    return (udh_octets * 8 + 6) // 7


def fill_bits(udh_octets: int) -> int:
    """Fill bits between a UDH of *udh_octets* octets (length octet included) and the text."""
    return header_septets(udh_octets) * 7 - udh_octets * 8
