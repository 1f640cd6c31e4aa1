"""Which tty of a USB modem speaks AT and delivers URCs: probe them all at once, remember the answer.

As in ModemManager's port probing, every candidate tty is opened and sent ``AT`` with a short
timeout, all in parallel; a port that answers ``OK`` is AT-capable (``AT+CGMI`` then names the
manufacturer). Among the answering ports the one the vendor declares as its primary AT port (Huawei's
PCUI, Quectel's and SIMCom's if02 …) wins, as ModemManager's vendor plugins declare them; ports
declared as QCDM/diagnostics, GPS or audio are not sent AT at all. The choice is remembered per
``vendor:product:serial`` (the interface number, which is the same on every unit of a model) in a
small JSON file, so the next plug-in needs one ``AT`` on that port instead of a full probe.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import serial

from appliance.modem.discovery import (
    DeviceIssue,
    IssueKind,
    SerialCandidate,
    SerialPort,
    port_held_issue,
    port_holders,
)

log = logging.getLogger(__name__)

AT_ROLES = ("at-primary", "at-secondary", "at-ppp")
NOT_AT_ROLES = frozenset({"qcdm", "gps", "audio", "ignore"})
# Lower is better. An undeclared port beats the PPP ("modem") port: URCs may not be routed there.
_RANK = {"at-primary": 0, "at-secondary": 1, None: 2, "at-ppp": 3}

_FINAL = re.compile(r"^(OK|ERROR|NO CARRIER|COMMAND NOT SUPPORT|\+CM[ES] ERROR:.*)$")


@dataclass(frozen=True)
class PortLayout:
    """A vendor's declaration of what each USB interface of its modems is (ModemManager's port-type
    rules, ``77-mm-<vendor>-port-types.rules``, say the same)."""

    name: str
    vendor_id: str
    roles: dict[int, str]
    product_ids: frozenset[str] | None = None  # None: every product of the vendor
    drivers: frozenset[str] | None = None  # only when the interface is bound to one of these

    def applies(self, candidate: SerialCandidate, port: SerialPort) -> bool:
        return (candidate.vendor_id == self.vendor_id
                and (self.product_ids is None or candidate.product_id in self.product_ids)
                and (self.drivers is None or port.driver in self.drivers))


_QUECTEL = {0: "qcdm", 1: "gps", 2: "at-primary", 3: "at-secondary"}
VENDOR_LAYOUTS: tuple[PortLayout, ...] = (
    # EC25/EG25, EC21, EG91, EG95, BG96, EG06/EP06, RM500: the same four ports.
    PortLayout("Quectel", "2c7c", _QUECTEL),
    PortLayout("SIMCom SIM7100/SIM7500/SIM7600", "1e0e",
               {0: "qcdm", 1: "gps", 2: "at-primary", 3: "at-secondary", 4: "audio"}, frozenset({"9001"})),
    PortLayout("SIMCom SIM7070/SIM7080/SIM7090", "1e0e", {0: "qcdm", 1: "gps", 2: "at-primary", 3: "at-ppp"},
               frozenset({"9205", "9206"})),
    PortLayout("SIMCom A7600 (RNDIS)", "1e0e", {2: "ignore", 4: "at-primary", 5: "at-ppp"}, frozenset({"9011"})),
    PortLayout("Sierra Wireless MC73xx/MC74xx/EM74xx", "1199", {0: "qcdm", 2: "gps", 3: "at-primary"},
               drivers=frozenset({"qcserial"})),
    PortLayout("Telit LE910C1", "1bc7", {0: "qcdm", 3: "gps", 4: "at-primary", 5: "at-secondary", 6: "ignore"},
               frozenset({"1201"})),
    PortLayout("Telit LE910C1-EUX", "1bc7", {0: "qcdm", 1: "at-primary", 2: "at-secondary"},
               frozenset({"1031", "1033"})),
    PortLayout("u-blox LISA-U2/SARA-U2/LARA-R2/TOBY-R2", "1546",
               {0: "at-primary", 2: "at-secondary", 4: "at-secondary", 6: "ignore", 8: "ignore", 10: "ignore",
                12: "ignore"}, frozenset({"1102", "1107", "110a"})),
    PortLayout("ZTE MF626/MF636/MF110", "19d2", {1: "at-secondary", 3: "at-primary"}, frozenset({"0031", "0063"})),
    PortLayout("ZTE MF190", "19d2", {1: "at-secondary", 2: "at-primary"}, frozenset({"0117"})),
    PortLayout("ZTE MF190 (variant)", "19d2", {1: "at-secondary", 4: "at-primary"}, frozenset({"0124"})),
    # Huawei sticks whose interfaces all say ff/ff/ff (E1550, E173 …): modem if00, PCUI if02.
    PortLayout("Huawei (old layout)", "12d1", {0: "at-ppp", 2: "at-primary"}),
)

# Huawei marks its interfaces by protocol (class ff): 01/10 modem, 02/12 PCUI, 03/13 diagnostics,
# 05/14 GPS (the kernel's option driver and ModemManager's huawei rules read them the same way).
_HUAWEI_PROTOCOLS = {"01": "at-ppp", "10": "at-ppp", "02": "at-primary", "12": "at-primary",
                     "03": "qcdm", "13": "qcdm", "05": "gps", "14": "gps"}


def port_role(candidate: SerialCandidate, port: SerialPort) -> str | None:
    """What the port is for: udev's ModemManager hints first, then the vendor's declaration."""
    for role in (*AT_ROLES, "qcdm", "gps", "audio", "ignore"):
        if role in port.port_hints:
            return role
    if candidate.vendor_id == "12d1" and port.interface_class:
        klass, _, protocol = port.interface_class.split("/")
        if klass == "ff" and protocol in _HUAWEI_PROTOCOLS:
            return _HUAWEI_PROTOCOLS[protocol]
    if port.interface_number is None:
        return None
    for layout in VENDOR_LAYOUTS:
        if layout.applies(candidate, port):
            return layout.roles.get(port.interface_number)
    return None


# ---- talking to one port ------------------------------------------------------------------------

PortOpener = Callable[[str], serial.Serial]


def open_serial(devnode: str) -> serial.Serial:
    return serial.Serial(devnode, 115200, timeout=0.05, write_timeout=1.0)


@dataclass(frozen=True)
class PortProbe:
    """What one port did when probed: ``answered`` AT, stayed ``silent``, ``error`` (could not be
    opened) or ``skipped`` (declared QCDM/GPS/audio, never sent AT)."""

    devnode: str
    interface_number: int | None
    role: str | None
    status: str
    seconds: float = 0.0
    manufacturer: str | None = None
    detail: str | None = None
    held_by: tuple[tuple[int, str], ...] = ()

    @property
    def answered(self) -> bool:
        return self.status == "answered"

    @property
    def label(self) -> str:
        interface = f"if{self.interface_number:02x}" if self.interface_number is not None else "if?"
        text = f"{self.devnode} ({interface}{', ' + self.role if self.role else ''}): {self.status}"
        if self.detail:
            text += f" ({self.detail})"
        if self.held_by:
            text += " held by " + ", ".join(f"{name} (pid {pid})" for pid, name in self.held_by)
        return text


def _exchange(link: serial.Serial, command: str, deadline: float, resend_seconds: float | None) -> list[str] | None:
    """Send ``command``, return the answer's lines up to and including the final result code, or None
    when none came before ``deadline``. A booting modem drops commands, so AT is repeated every
    ``resend_seconds``; a port that chatters (NMEA, boot noise) cannot keep us past the deadline."""
    link.reset_input_buffer()
    link.write(command.encode() + b"\r")
    sent = time.monotonic()
    buffer = b""
    lines: list[str] = []
    while time.monotonic() < deadline:
        chunk = link.read(4096)  # returns after the port's read timeout with what came
        if chunk:
            buffer += chunk
            *complete, buffer = re.split(rb"\r\n|\r|\n", buffer)
            for raw in complete:
                line = raw.decode("ascii", errors="replace").strip("\x00 ")
                if not line or line == command:
                    continue
                lines.append(line)
                if _FINAL.match(line):
                    return lines
        elif resend_seconds is not None and time.monotonic() - sent > resend_seconds:
            link.write(command.encode() + b"\r")
            sent = time.monotonic()
    return None


def probe_port(port: SerialPort, role: str | None, *, timeout: float, open_port: PortOpener = open_serial,
               ask_manufacturer: bool = True) -> PortProbe:
    started = time.monotonic()
    try:
        link = open_port(port.devnode)
    except (serial.SerialException, OSError) as exc:
        return PortProbe(port.devnode, port.interface_number, role, "error", time.monotonic() - started,
                         detail=str(exc))
    try:
        answer = _exchange(link, "AT", started + timeout, resend_seconds=min(0.5, timeout / 3))
        if answer is None or answer[-1] != "OK":
            detail = None if answer is None else f"answered {answer[-1]!r}"
            return PortProbe(port.devnode, port.interface_number, role, "silent", time.monotonic() - started,
                             detail=detail)
        manufacturer = None
        if ask_manufacturer:
            lines = _exchange(link, "AT+CGMI", time.monotonic() + min(1.0, timeout), resend_seconds=None)
            if lines and lines[-1] == "OK" and len(lines) > 1:
                manufacturer = lines[0].removeprefix("+CGMI:").strip().strip('"') or None
        return PortProbe(port.devnode, port.interface_number, role, "answered", time.monotonic() - started,
                         manufacturer=manufacturer)
    except (serial.SerialException, OSError) as exc:
        return PortProbe(port.devnode, port.interface_number, role, "error", time.monotonic() - started,
                         detail=str(exc))
    finally:
        with contextlib.suppress(Exception):
            link.close()


# ---- remembering ---------------------------------------------------------------------------------

class PortChoiceCache:
    """``{usb_id: {"interface": 2, "port": "/dev/ttyUSB2", "manufacturer": …, "chosen_at": …}}`` in a
    JSON file under the data directory (``modem-ports.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._choices: dict[str, dict] = self._load()

    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
            choices = data.get("choices", {})
            return {key: value for key, value in choices.items() if isinstance(value, dict)}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("port choice cache %s unreadable (%s); probing afresh", self.path, exc)
            return {}

    def choice(self, usb_id: str) -> tuple[int, str | None] | None:
        """(interface number, manufacturer) remembered for ``usb_id``."""
        with self._lock:
            entry = self._choices.get(usb_id, {})
        interface, manufacturer = entry.get("interface"), entry.get("manufacturer")
        if not isinstance(interface, int):
            return None
        return interface, manufacturer if isinstance(manufacturer, str) else None

    def remember(self, usb_id: str, port: SerialPort, manufacturer: str | None) -> None:
        with self._lock:
            self._choices[usb_id] = {"interface": port.interface_number, "port": port.devnode,
                                     "manufacturer": manufacturer,
                                     "chosen_at": datetime.now(UTC).isoformat(timespec="seconds")}
            self._save()

    def forget(self, usb_id: str) -> None:
        with self._lock:
            if self._choices.pop(usb_id, None) is not None:
                self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({"version": 1, "choices": self._choices}, indent=2, sort_keys=True))
        os.replace(temporary, self.path)


# ---- probing a modem -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeResult:
    candidate: SerialCandidate
    at_port: SerialPort | None
    probes: tuple[PortProbe, ...]
    from_cache: bool = False
    issues: tuple[DeviceIssue, ...] = field(default=())

    @property
    def manufacturer(self) -> str | None:
        return next((probe.manufacturer for probe in self.probes
                     if self.at_port is not None and probe.devnode == self.at_port.devnode), None)

    def silent_ports(self) -> list[str]:
        return [probe.devnode for probe in self.probes if probe.status in ("silent", "error")]

    def summary(self) -> str:
        chosen = f"AT on {self.at_port.label}" if self.at_port else "no AT port"
        how = " (remembered, verified)" if self.from_cache else ""
        return f"{self.candidate.label}: {chosen}{how}; " + "; ".join(probe.label for probe in self.probes)


class PortProber:
    """Finds a modem's AT port. ``probe()`` blocks for at most about ``timeout`` (+1 s for AT+CGMI)."""

    def __init__(self, cache: PortChoiceCache | None = None, *, timeout: float = 2.0,
                 open_port: PortOpener = open_serial, proc_root: Path = Path("/proc")) -> None:
        self.cache = cache
        self.timeout = timeout
        self._open_port = open_port
        self._proc_root = proc_root

    def probe(self, candidate: SerialCandidate) -> ProbeResult:
        remembered = self._remembered(candidate)
        if remembered is not None:
            return remembered
        probes = self._probe_all(candidate)
        answering = [(probe, port) for probe, port in zip(probes, candidate.ports, strict=True) if probe.answered]
        answering.sort(key=lambda pair: (_RANK.get(pair[0].role, 2), pair[1].interface_number or 0,
                                         pair[1].devnode))
        at_port = answering[0][1] if answering else None
        if at_port is not None and self.cache is not None:
            self.cache.remember(candidate.usb_id, at_port, answering[0][0].manufacturer)
        result = ProbeResult(candidate, at_port, tuple(probes), issues=self._issues(candidate, at_port, probes))
        log.info("%s", result.summary())
        return result

    def _remembered(self, candidate: SerialCandidate) -> ProbeResult | None:
        if self.cache is None:
            return None
        choice = self.cache.choice(candidate.usb_id)
        if choice is None:
            return None
        interface, manufacturer = choice
        port = next((port for port in candidate.ports if port.interface_number == interface), None)
        if port is None:
            return None
        probe = probe_port(port, port_role(candidate, port), timeout=self.timeout, open_port=self._open_port,
                           ask_manufacturer=False)
        if not probe.answered:
            log.info("%s: remembered AT port %s did not answer (%s); probing all ports",
                     candidate.label, port.devnode, probe.status)
            self.cache.forget(candidate.usb_id)
            return None
        return ProbeResult(candidate, port, (replace(probe, manufacturer=manufacturer),), from_cache=True)

    def _probe_all(self, candidate: SerialCandidate) -> list[PortProbe]:
        roles = [port_role(candidate, port) for port in candidate.ports]
        eligible = [index for index, role in enumerate(roles) if role not in NOT_AT_ROLES]
        probes: list[PortProbe] = [
            PortProbe(port.devnode, port.interface_number, role, "skipped", detail=f"{role} port")
            for port, role in zip(candidate.ports, roles, strict=True)
        ]
        if eligible:
            with ThreadPoolExecutor(max_workers=len(eligible), thread_name_prefix="port-probe") as pool:
                futures = {index: pool.submit(probe_port, candidate.ports[index], roles[index],
                                              timeout=self.timeout, open_port=self._open_port)
                           for index in eligible}
                for index, future in futures.items():
                    probes[index] = future.result()
        for index, probe in enumerate(probes):
            if probe.status in ("silent", "error"):
                holders = tuple(port_holders(probe.devnode, self._proc_root))
                if holders:
                    probes[index] = replace(probe, held_by=holders)
        return probes

    def _issues(self, candidate: SerialCandidate, at_port: SerialPort | None,
                probes: list[PortProbe]) -> tuple[DeviceIssue, ...]:
        issues = [port_held_issue(candidate, probe.devnode, list(probe.held_by))
                  for probe in probes if probe.held_by]
        if at_port is None and not issues:
            tried = "; ".join(probe.label for probe in probes)
            issues.append(DeviceIssue(
                IssueKind.NO_AT_PORT, candidate.usb_path, candidate.usb_port, candidate.vendor_id,
                candidate.product_id, what=f"no port of {candidate.label} answered AT within {self.timeout:g} s: {tried}",
                remedy=("Replug the modem; if it stays silent it may be booting into another mode "
                        "(see docs/hardware.md) or need its AT port enabled by the vendor's tool"),
            ))
        return tuple(issues)
