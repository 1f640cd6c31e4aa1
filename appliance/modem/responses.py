"""Pure parsers for AT responses, tolerant of the styles real modems answer in.

Leading spaces, quoted or bare values, vendor prefixes and boot noise between lines all occur in the
wild; each parser picks out what it needs and ignores the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class StoredPdu:
    """One entry of ``+CMGL``/``+CMGR`` in PDU mode. ``pdu`` is None when the line was not hex."""

    index: int | None
    stat: int | None
    pdu: bytes | None
    raw_line: str


_CMGL = re.compile(r"^\+CMGL:\s*(\d+)\s*,\s*(\d+)\s*,")
_CMGR = re.compile(r"^\+CMGR:\s*(\d+)\s*,")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def parse_cmgl(lines: list[str]) -> list[StoredPdu]:
    """``+CMGL: <index>,<stat>,[<alpha>],<length>`` each followed by the PDU line (TS 27.005 §3.4.2)."""
    entries: list[StoredPdu] = []
    header: re.Match[str] | None = None
    for line in lines:
        line = line.strip()
        match = _CMGL.match(line)
        if match:
            if header is not None:  # a header without its PDU line: keep what we know
                entries.append(StoredPdu(int(header.group(1)), int(header.group(2)), None, header.string))
            header = match
            continue
        if header is not None:
            entries.append(StoredPdu(int(header.group(1)), int(header.group(2)), hex_or_none(line), line))
            header = None
    if header is not None:
        entries.append(StoredPdu(int(header.group(1)), int(header.group(2)), None, header.string))
    return entries


def parse_cmgr(index: int, lines: list[str]) -> StoredPdu | None:
    """``+CMGR: <stat>,[<alpha>],<length>`` then the PDU; an empty slot answers just ``OK``."""
    for position, line in enumerate(lines):
        match = _CMGR.match(line.strip())
        if match and position + 1 < len(lines):
            pdu_line = lines[position + 1].strip()
            return StoredPdu(index, int(match.group(1)), hex_or_none(pdu_line), pdu_line)
    return None


def hex_or_none(line: str) -> bytes | None:
    if len(line) % 2 == 0 and _HEX.match(line):
        return bytes.fromhex(line)
    return None


def first_line_with(prefix: str, lines: list[str]) -> str | None:
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(prefix):
            return stripped[len(prefix):].strip()
    return None


# TS 27.007 §7.2 <stat> of +CREG/+CGREG/+CEREG.
REGISTRATION = {0: "not_registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}


def parse_registration(lines: list[str]) -> str | None:
    """``+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]`` (a read answer always has <n> first)."""
    for line in lines:
        match = re.match(r"^\+C[GE]?REG:\s*\d+\s*,\s*(\d+)", line.strip())
        if match:
            return REGISTRATION.get(int(match.group(1)), "unknown")
    return None


def parse_cmgs(lines: list[str]) -> int | None:
    """``+CMGS: <mr>[,<scts>]``: the message reference a status report will carry."""
    value = first_line_with("+CMGS:", lines)
    if value is None:
        return None
    match = re.match(r"\d+", value)
    return int(match.group()) if match else None


def parse_csq(lines: list[str]) -> int | None:
    """``+CSQ: <rssi>,<ber>`` → dBm (TS 27.007 §8.5: 0 is -113 dBm, 2 dB steps, 99 unknown)."""
    value = first_line_with("+CSQ:", lines)
    if value is None:
        return None
    try:
        rssi = int(value.split(",")[0])
    except ValueError:
        return None
    if rssi == 99 or not 0 <= rssi <= 31:
        return None
    return -113 + 2 * rssi


def parse_cops(lines: list[str]) -> str | None:
    """``+COPS: <mode>[,<format>,<oper>[,<AcT>]]``; the operator is the quoted third field."""
    value = first_line_with("+COPS:", lines)
    if value is None:
        return None
    match = re.search(r'"([^"]*)"', value)
    return match.group(1) if match and match.group(1) else None


def parse_cnum(lines: list[str]) -> str | None:
    """``+CNUM: [<alpha>],<number>,<type>``: the SIM's own number, when the SIM knows it."""
    value = first_line_with("+CNUM:", lines)
    if value is None:
        return None
    fields = re.findall(r'"([^"]*)"', value)
    numbers = [f for f in fields if re.fullmatch(r"\+?\d{3,}", f)]
    return numbers[0] if numbers else None


def parse_cpms(lines: list[str]) -> tuple[int, int] | None:
    """Used and total of the first storage, from ``+CPMS: "SM",3,30,...`` or ``+CPMS: 3,30,...``."""
    value = first_line_with("+CPMS:", lines)
    if value is None:
        return None
    numbers = re.findall(r"\d+", re.sub(r'"[^"]*"', "", value))
    if len(numbers) < 2:
        return None
    return int(numbers[0]), int(numbers[1])


def parse_cpin(lines: list[str]) -> str | None:
    """``+CPIN: READY`` / ``SIM PIN`` / ``SIM PUK`` …"""
    return first_line_with("+CPIN:", lines)


def parse_pin_attempts(lines: list[str]) -> int | None:
    """Remaining PIN attempts from Huawei ``^CPIN:``, Quectel ``+QPINC:`` or SIMCom ``+SPIC:``."""
    for line in lines:
        stripped = line.strip()
        huawei = re.match(r"^\^CPIN:\s*[^,]*,\s*\d*\s*,\s*\d+\s*,\s*(\d+)", stripped)
        quectel = re.match(r'^\+QPINC:\s*"SC"\s*,\s*(\d+)', stripped)
        simcom = re.match(r"^\+SPIC:\s*(\d+)", stripped)
        match = huawei or quectel or simcom
        if match:
            return int(match.group(1))
    return None


def parse_iccid(lines: list[str]) -> str | None:
    """ICCID from ``+CCID:``, ``^ICCID:``, ``+QCCID:``, ``+ICCID:``, a bare line, or ``+CRSM`` EF_ICCID.

    ICCIDs start with 89 (ITU-T E.118 telecom industry prefix). Some Huawei firmwares answer
    ``^ICCID`` with the nibble-swapped EF_ICCID content (``98…``), as ``+CRSM`` always does.
    """
    for line in lines:
        stripped = line.strip().strip('"')
        crsm = re.match(r'^\+CRSM:\s*144\s*,\s*0\s*,\s*"?([0-9A-Fa-f]+)"?', stripped)
        if crsm:
            return _normalise_iccid(_swap_nibbles(crsm.group(1)))
        match = re.match(r"^(?:[+^]\w*CCID:)?\s*\"?([0-9A-Fa-f]{18,22})\"?$", stripped)
        if match:
            digits = match.group(1)
            if digits.startswith("98"):
                digits = _swap_nibbles(digits)
            return _normalise_iccid(digits)
    return None


def _swap_nibbles(digits: str) -> str:
    return "".join(digits[i + 1] + digits[i] for i in range(0, len(digits) - 1, 2))


def _normalise_iccid(digits: str) -> str | None:
    digits = digits.upper().rstrip("F")
    return digits if digits.isdigit() and digits.startswith("89") else None


def parse_plain(lines: list[str]) -> str | None:
    """Answers like ``AT+CGMI`` give: the first non-empty line, with an optional ``+CGMI:`` echo prefix."""
    for line in lines:
        stripped = line.strip()
        if stripped:
            return re.sub(r"^\+\w+:\s*", "", stripped).strip('"') or None
    return None
