"""A short data call on a SIM's APN, made with AT commands on the modem's own network interface.

MMS needs one: the operator's MMS proxy is reachable only over the SIM's MMS APN. The call is made
on the AT port the session already reads SMS from (commands are serialised by the channel, so reading
goes on between them) and the traffic flows through the modem's network interface (NCM, QMI, ECM),
never through the serial port, so SMS reading does not pause while it is up.

Dialects, by the modem's manufacturer:

- Huawei: ``AT^NDISDUP=<cid>,1,<apn>,<user>,<password>,<auth>``; up once ``AT^NDISSTATQRY?`` says 1;
  ``AT^DHCP?`` gives address and gateway (each 8 hex digits, the address's bytes reversed).
- Quectel: ``AT+QICSGP=<cid>,1,<apn>,<user>,<password>,<auth>`` then ``AT+QNETDEVCTL=1,<cid>,0``;
  up once ``AT+QNETDEVCTL?`` reports state 1; ``AT+CGPADDR=<cid>`` gives the address (no gateway:
  the interface is point to point).
- Anyone else (TS 27.007): ``AT+CGDCONT``, ``AT+CGAUTH``, ``AT+CGACT=1,<cid>``, ``AT+CGPADDR``.

A context id of its own (3) keeps the MMS APN away from the SIM's default internet context.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

MMS_CONTEXT_ID = 3
Command = Callable[[str], list[str]]  # an AT command → its information lines (raises on ERROR)


class DataCallError(Exception):
    """The data call could not be made (refused APN, no network, no address)."""


@dataclass(frozen=True)
class Apn:
    name: str
    user: str = ""
    password: str = ""

    @property
    def auth(self) -> int:
        """0 none, 1 PAP (what operators' MMS APNs with credentials take; CHAP-only ones are rare)."""
        return 1 if self.user or self.password else 0


@dataclass(frozen=True)
class DataLink:
    """The address the network gave the call, and the gateway when the modem names one."""

    address: str
    gateway: str | None = None


def _quoted(value: str) -> str:
    if '"' in value or "\r" in value or "\n" in value:
        raise DataCallError(f"an APN setting cannot contain quotes or line breaks: {value!r}")
    return f'"{value}"'


class DataCall:
    """Connect and disconnect in one dialect; ``command`` sends an AT command and returns its lines."""

    def __init__(self, command: Command, manufacturer: str | None, *, settle_seconds: float = 20.0) -> None:
        self._at = command
        self._dialect = _dialect(manufacturer)
        self._settle = settle_seconds

    def connect(self, apn: Apn, cid: int = MMS_CONTEXT_ID) -> DataLink:
        name, user, password = _quoted(apn.name), _quoted(apn.user), _quoted(apn.password)
        if self._dialect == "huawei":
            self._at(f"AT+CGDCONT={cid},\"IP\",{name}")
            self._at(f"AT^NDISDUP={cid},1,{name},{user},{password},{apn.auth}")
            self._wait(lambda: _huawei_connected(self._at("AT^NDISSTATQRY?")))
            return parse_huawei_dhcp(self._at("AT^DHCP?"))
        if self._dialect == "quectel":
            self._at(f"AT+QICSGP={cid},1,{name},{user},{password},{apn.auth}")
            self._at(f"AT+QNETDEVCTL=1,{cid},0")
            self._wait(lambda: _quectel_connected(self._at("AT+QNETDEVCTL?")))
        else:
            self._at(f"AT+CGDCONT={cid},\"IP\",{name}")
            if apn.auth:
                self._at(f"AT+CGAUTH={cid},{apn.auth},{user},{password}")
            self._at(f"AT+CGACT=1,{cid}")
        return DataLink(parse_cgpaddr(self._at(f"AT+CGPADDR={cid}"), cid))

    def disconnect(self, cid: int = MMS_CONTEXT_ID) -> None:
        if self._dialect == "huawei":
            self._at(f"AT^NDISDUP={cid},0")
        elif self._dialect == "quectel":
            self._at(f"AT+QNETDEVCTL=0,{cid},0")
        else:
            self._at(f"AT+CGACT=0,{cid}")

    def _wait(self, connected: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self._settle
        while not connected():
            if time.monotonic() > deadline:
                raise DataCallError(f"the data call did not come up within {self._settle:g} s")
            time.sleep(0.2)


def _dialect(manufacturer: str | None) -> str:
    name = (manufacturer or "").lower()
    for dialect in ("huawei", "quectel"):
        if dialect in name:
            return dialect
    return "3gpp"


def _huawei_connected(lines: list[str]) -> bool:
    # ^NDISSTATQRY: <stat>,<err>,<wx_state>,"IPV4"[,<stat>,...,"IPV6"]
    match = re.search(r"\^NDISSTATQRY:\s*(\d)", " ".join(lines))
    return bool(match and match.group(1) == "1")


def _quectel_connected(lines: list[str]) -> bool:
    # +QNETDEVCTL: <op>,<cid>,<urc_en>,<state>
    match = re.search(r"\+QNETDEVCTL:\s*\d+,\d+,\d+,(\d+)", " ".join(lines))
    return bool(match and match.group(1) == "1")


def _address_from_huawei_hex(value: str) -> str:
    return str(ipaddress.IPv4Address(bytes.fromhex(value)[::-1]))


def parse_huawei_dhcp(lines: list[str]) -> DataLink:
    """``^DHCP: <ip>,<netmask>,<gateway>,<dhcp server>,<dns1>,<dns2>,<rx>,<tx>`` (hex, bytes reversed)."""
    match = re.search(r"\^DHCP:\s*([0-9A-Fa-f]{8}),([0-9A-Fa-f]{8}),([0-9A-Fa-f]{8})", " ".join(lines))
    if match is None:
        raise DataCallError(f"no address in the modem's ^DHCP answer {lines!r}")
    address, gateway = _address_from_huawei_hex(match.group(1)), _address_from_huawei_hex(match.group(3))
    if address == "0.0.0.0":
        raise DataCallError("the modem reports the data call without an address")
    return DataLink(address, gateway)


def parse_cgpaddr(lines: list[str], cid: int) -> str:
    """``+CGPADDR: <cid>,<address>`` (quoted or not, as firmwares differ)."""
    for line in lines:
        match = re.match(r'\+CGPADDR:\s*(\d+),"?([0-9.]+)"?', line.strip())
        if match and int(match.group(1)) == cid:
            address = match.group(2)
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                break
            if address != "0.0.0.0":
                return address
            break
    raise DataCallError(f"the data call got no IPv4 address (+CGPADDR said {lines!r})")
