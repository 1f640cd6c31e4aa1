"""USB modems as udev sees them: which ttys belong to one modem, and sticks that cannot work yet.

A USB modem exposes several ttys (modem, PCUI/AT, diagnostics, GPS …), each with its own udev event.
``UdevDiscovery`` groups them by their USB device and reports the group once it has settled (no new
tty for ``settle_seconds``), so the prober sees all of a modem's ports at once, as ModemManager's
port probing does. A USB device of a modem vendor that has no tty at all is a stick in the wrong
mode; it is reported as a ``DeviceIssue`` saying what it is and what to do, never silently ignored:

- still in mass-storage ("CD-ROM", "ZeroCD") mode: usb_modeswitch has not switched it;
- HiLink/router firmware: a network interface (cdc_ether, rndis, cdc_ncm) and no AT port at all;
- ModemManager running while our ports lack the ``ID_MM_DEVICE_IGNORE`` tag of our udev rules.

pyudev stays inside this module; callers get plain dataclasses. Callbacks run on the discovery
thread (those for devices present at ``start()`` on the caller's, before it returns) and must return
quickly: hand probing over to a worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import pyudev

log = logging.getLogger(__name__)

# Vendors whose USB devices we treat as modems even without a tty (to explain why there is none).
MODEM_VENDORS: dict[str, str] = {
    "12d1": "Huawei",
    "19d2": "ZTE",
    "1e0e": "SIMCom",
    "2c7c": "Quectel",
    "1199": "Sierra Wireless",
    "1546": "u-blox",
    "1bc7": "Telit",
}

# Serial-number strings shared by every unit of a model: useless to tell two sticks apart (the udev
# rules give such modems no /dev/gsm/usb-<serial> name; a test keeps the two lists equal).
PLACEHOLDER_SERIALS = frozenset({"0123456789ABCDEF"})

# vendor:product of sticks in their initial mass-storage mode, with the usb_modeswitch arguments
# usb-modeswitch-data switches them with (-J: Huawei "new mode" message, -K: standard SCSI eject,
# -M: a vendor message). A test checks them against Debian's data.
MASS_STORAGE_MODE: dict[str, tuple[str, str]] = {
    "12d1:1f01": ("Huawei E3372/E3131/E353 (HiLink or stick firmware)", "-J"),
    "12d1:14fe": ("Huawei E3131/E352/E173s", "-J"),
    "12d1:1505": ("Huawei E372/EC156/E3372s", "-J"),
    "12d1:155b": ("Huawei E171", "-J"),
    "12d1:1446": ("Huawei E1552/E1800/E173", "-J"),
    "12d1:1c0b": ("Huawei E173s", "-J"),
    "19d2:2000": ("ZTE MF-series (MF190, MF626, MF636, MF667 …)", "-K"),
    "19d2:0166": ("ZTE MF820", "-M 55534243123456782400000080000685000000240000000000000000000000"),
    "19d2:1225": ("ZTE MF668/MF70", "-K"),
    "19d2:0154": ("ZTE MF190", "-K"),
    "19d2:1224": ("ZTE MF190/MF192", "-K"),
}

# vendor:product of sticks running router ("HiLink", "web UI") firmware: no AT port at all.
HILINK_MODE: dict[str, str] = {
    "12d1:14db": "Huawei E353/E3131 HiLink",
    "12d1:14dc": "Huawei E3372h/E3372s HiLink",
    "19d2:1405": "ZTE MF823/MF831 (router firmware)",
}
# Drivers of a router stick's network interface (a QMI/MBIM network port is a modem's, not a router's).
_ROUTER_NETWORK_DRIVERS = frozenset({"cdc_ether", "rndis_host", "cdc_ncm", "huawei_cdc_ncm"})

# ModemManager's port-type hints (its vendor rules set these; so may an admin's own rules).
_MM_PORT_HINTS = {
    "ID_MM_PORT_TYPE_AT_PRIMARY": "at-primary",
    "ID_MM_PORT_TYPE_AT_SECONDARY": "at-secondary",
    "ID_MM_PORT_TYPE_AT_PPP": "at-ppp",
    "ID_MM_PORT_TYPE_QCDM": "qcdm",
    "ID_MM_PORT_TYPE_GPS": "gps",
    "ID_MM_PORT_TYPE_AUDIO": "audio",
    "ID_MM_PORT_IGNORE": "ignore",
}


@dataclass(frozen=True)
class SerialPort:
    """One tty of a USB modem."""

    devnode: str  # /dev/ttyUSB2
    sys_path: str
    interface_number: int | None  # bInterfaceNumber (hex in sysfs: "0a" is 10)
    interface_class: str | None = None  # "ff/02/02": class/subclass/protocol of the USB interface
    driver: str | None = None  # option, qcserial, cdc_acm, sierra, …
    links: tuple[str, ...] = ()  # /dev/gsm/…, /dev/serial/by-id/…
    port_hints: frozenset[str] = frozenset()  # from ID_MM_PORT_TYPE_* / ID_MM_PORT_IGNORE
    mm_ignored: bool = False  # ID_MM_DEVICE_IGNORE on the tty or its USB device

    @property
    def label(self) -> str:
        interface = f"if{self.interface_number:02x}" if self.interface_number is not None else "if?"
        return f"{self.devnode} ({interface})"


@dataclass(frozen=True)
class SerialCandidate:
    """One USB modem and all its ttys; ``usb_path`` (sysfs path of the USB device) identifies it."""

    usb_path: str
    usb_port: str  # kernel name of the USB device, the physical port: "1-1.3"
    vendor_id: str
    product_id: str
    serial: str | None
    manufacturer: str | None
    product: str | None
    ports: tuple[SerialPort, ...]

    @property
    def usb_id(self) -> str:
        """``vendor:product:serial``: the key the port choice is remembered under."""
        return f"{self.vendor_id}:{self.product_id}:{self.serial or ''}"

    @property
    def label(self) -> str:
        return f"{self.vendor_id}:{self.product_id} on {self.usb_port}"


class IssueKind(Enum):
    MASS_STORAGE = "mass_storage"
    HILINK = "hilink"
    NO_SERIAL_PORT = "no_serial_port"
    MODEMMANAGER_UNTAGGED = "modemmanager_untagged"
    PORT_HELD = "port_held"
    NO_AT_PORT = "no_at_port"


@dataclass(frozen=True)
class DeviceIssue:
    """Why a plugged USB device is not (yet) a working modem, and what to do about it."""

    kind: IssueKind
    usb_path: str
    usb_port: str
    vendor_id: str
    product_id: str
    what: str  # "12d1:1f01 on 1-1.4 is a Huawei E3372 … still in mass-storage mode"
    remedy: str  # what the installer does next

    def __str__(self) -> str:
        return f"{self.what}. {self.remedy}"


# ---- ModemManager --------------------------------------------------------------------------------

def find_processes(name: str, proc_root: Path = Path("/proc")) -> list[int]:
    """Pids whose command name (``/proc/PID/comm``) is ``name``."""
    pids = []
    for entry in _proc_entries(proc_root):
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() == name:
                pids.append(int(entry.name))
    return pids


def port_holders(devnode: str, proc_root: Path = Path("/proc")) -> list[tuple[int, str]]:
    """(pid, command name) of every process with ``devnode`` open (symlinks such as /dev/gsm/* resolved)."""
    target = os.path.realpath(devnode)
    holders = []
    for entry in _proc_entries(proc_root):
        if int(entry.name) == os.getpid():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:  # gone, or not ours to look at
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.path.realpath(os.readlink(fd)) == target:
                    with contextlib.suppress(OSError):
                        holders.append((int(entry.name), (entry / "comm").read_text().strip()))
                    break
    return holders


def _proc_entries(proc_root: Path) -> Iterable[Path]:
    try:
        return [entry for entry in proc_root.iterdir() if entry.name.isdigit()]
    except OSError:
        return []


def modemmanager_pids(proc_root: Path = Path("/proc")) -> list[int]:
    return find_processes("ModemManager", proc_root)


def modemmanager_issue(candidate: SerialCandidate, mm_pids: list[int]) -> DeviceIssue | None:
    """ModemManager runs and would probe (and keep open) ports our rules did not tag for it to ignore."""
    untagged = [port.devnode for port in candidate.ports if not port.mm_ignored]
    if not mm_pids or not untagged:
        return None
    return DeviceIssue(
        IssueKind.MODEMMANAGER_UNTAGGED, candidate.usb_path, candidate.usb_port, candidate.vendor_id,
        candidate.product_id,
        what=(f"ModemManager is running (pid {', '.join(map(str, mm_pids))}) and may open "
              f"{', '.join(untagged)} of {candidate.label}: these ports lack ID_MM_DEVICE_IGNORE"),
        remedy=("Install the appliance's udev rules (`appliance install-udev`) and replug the modem, "
                "or stop ModemManager (`systemctl disable --now ModemManager`)"),
    )


def port_held_issue(candidate: SerialCandidate, devnode: str, holders: list[tuple[int, str]]) -> DeviceIssue:
    names = ", ".join(f"{name} (pid {pid})" for pid, name in holders)
    if any(name == "ModemManager" for _, name in holders):
        remedy = ("Install the appliance's udev rules (`appliance install-udev`) and replug the modem, "
                  "or stop ModemManager (`systemctl disable --now ModemManager`)")
    else:
        remedy = "Stop that program; two programs on one modem port garble each other's commands"
    return DeviceIssue(IssueKind.PORT_HELD, candidate.usb_path, candidate.usb_port, candidate.vendor_id,
                       candidate.product_id, what=f"{devnode} of {candidate.label} is held open by {names}",
                       remedy=remedy)


# ---- what udev shows -----------------------------------------------------------------------------

def _attribute(device: pyudev.Device, name: str) -> str | None:
    try:
        return device.attributes.asstring(name).strip()
    except (KeyError, UnicodeDecodeError, OSError):
        return None


def _usb_device(device: pyudev.Device) -> pyudev.Device | None:
    if device.subsystem == "usb" and device.device_type == "usb_device":
        return device
    return device.find_parent("usb", "usb_device")


def _interface_number(value: str | None) -> int | None:
    try:
        return int(value, 16) if value else None
    except ValueError:
        return None


def _serial_port(tty: pyudev.Device, usb: pyudev.Device) -> SerialPort:
    interface = tty.find_parent("usb", "usb_interface")
    properties = tty.properties
    number = properties.get("ID_USB_INTERFACE_NUM")
    if number is None and interface is not None:
        number = _attribute(interface, "bInterfaceNumber")
    interface_class = None
    if interface is not None:
        parts = [_attribute(interface, name) for name in
                 ("bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol")]
        if all(parts):
            interface_class = "/".join(part.lower() for part in parts if part)
    driver = properties.get("ID_USB_DRIVER") or (interface.driver if interface is not None else None)
    hints = frozenset(hint for key, hint in _MM_PORT_HINTS.items() if properties.get(key) == "1")
    ignored = properties.get("ID_MM_DEVICE_IGNORE") == "1" or usb.properties.get("ID_MM_DEVICE_IGNORE") == "1"
    return SerialPort(
        devnode=tty.device_node, sys_path=tty.sys_path, interface_number=_interface_number(number),
        interface_class=interface_class, driver=driver,
        # udev's database names the links; DEVLINKS carries them where there is none (umockdev).
        links=tuple(sorted(set(tty.device_links) or set(properties.get("DEVLINKS", "").split()))),
        port_hints=hints, mm_ignored=ignored,
    )


@dataclass
class _UsbDevice:
    """What has been seen of one USB device so far."""

    sys_path: str
    port: str
    vendor_id: str
    product_id: str
    serial: str | None
    manufacturer: str | None
    product: str | None
    ttys: dict[str, SerialPort] = field(default_factory=dict)  # by tty sys_path
    network_drivers: set[str] = field(default_factory=set)
    interface_classes: set[str] = field(default_factory=set)
    reported: SerialCandidate | None = None
    issue: DeviceIssue | None = None
    due: float | None = None  # when to classify (settled), None when nothing is pending

    @property
    def vendor_product(self) -> str:
        return f"{self.vendor_id}:{self.product_id}"

    @property
    def label(self) -> str:
        return f"{self.vendor_product} on {self.port}"

    def candidate(self) -> SerialCandidate:
        ports = sorted(self.ttys.values(), key=lambda port: (port.interface_number is None,
                                                             port.interface_number or 0, port.devnode))
        return SerialCandidate(self.sys_path, self.port, self.vendor_id, self.product_id, self.serial,
                               self.manufacturer, self.product, tuple(ports))


def _describe_usb(usb: pyudev.Device) -> _UsbDevice:
    return _UsbDevice(
        sys_path=usb.sys_path, port=usb.sys_name,
        vendor_id=(_attribute(usb, "idVendor") or "????").lower(),
        product_id=(_attribute(usb, "idProduct") or "????").lower(),
        serial=_attribute(usb, "serial"), manufacturer=_attribute(usb, "manufacturer"),
        product=_attribute(usb, "product"),
    )


def classify_without_tty(device: _UsbDevice) -> DeviceIssue | None:
    """The issue of a USB device that has no tty, or None when it is no modem of ours to explain."""
    key = device.vendor_product
    vendor = MODEM_VENDORS.get(device.vendor_id)
    if key in MASS_STORAGE_MODE:
        model, switch = MASS_STORAGE_MODE[key]
        return DeviceIssue(
            IssueKind.MASS_STORAGE, device.sys_path, device.port, device.vendor_id, device.product_id,
            what=f"{device.label} is a {model} still in mass-storage (CD-ROM) mode",
            remedy=(f"Install usb-modeswitch and usb-modeswitch-data and replug, or switch it by hand: "
                    f"`usb_modeswitch -v {device.vendor_id} -p {device.product_id} {switch}`. "
                    "If it comes back as a network interface instead, it runs HiLink firmware"),
        )
    if key in HILINK_MODE or (vendor and device.network_drivers):
        model = HILINK_MODE.get(key, f"{vendor} modem")
        drivers = ", ".join(sorted(device.network_drivers)) or "cdc_ether"
        return DeviceIssue(
            IssueKind.HILINK, device.sys_path, device.port, device.vendor_id, device.product_id,
            what=(f"{device.label} is a {model} in HiLink/router mode: a network interface ({drivers}) "
                  "and no AT port, so it cannot receive SMS for the appliance"),
            remedy=("Use a stick with \"stick\" (modem, non-HiLink) firmware, or flash it (E3372h: 22.x stick "
                    "firmware, E3372s: 21.x); see docs/hardware.md"),
        )
    if vendor is None:
        return None
    if device.interface_classes and device.interface_classes <= {"08"}:
        return DeviceIssue(
            IssueKind.MASS_STORAGE, device.sys_path, device.port, device.vendor_id, device.product_id,
            what=f"{device.label} ({vendor}) shows only mass storage: probably a modem not switched yet",
            remedy=(f"Replug with usb-modeswitch installed, or try `usb_modeswitch -v {device.vendor_id} "
                    f"-p {device.product_id} {'-J' if device.vendor_id == '12d1' else '-K'}`"),
        )
    return DeviceIssue(
        IssueKind.NO_SERIAL_PORT, device.sys_path, device.port, device.vendor_id, device.product_id,
        what=f"{device.label} ({vendor}) has no serial port",
        remedy=("Check `dmesg` for the option/qcserial driver; a model the kernel does not know yet "
                f"needs `echo {device.vendor_id} {device.product_id} > "
                "/sys/bus/usb-serial/drivers/option1/new_id`"),
    )


# ---- the monitor ---------------------------------------------------------------------------------

CandidateListener = Callable[[SerialCandidate], None]
RemovalListener = Callable[[str], None]
IssueListener = Callable[[DeviceIssue], None]


class UdevDiscovery:
    """USB modems from udev: enumerated at ``start()``, then followed through hotplug events.

    ``on_added(candidate)`` gets a modem with all its ttys once no new tty came for ``settle_seconds``
    (at start-up at once). It is called again for the same ``usb_path`` if its set of ttys changes
    later. ``on_removed(usb_path)`` when any tty of a reported modem disappears (an unplug removes all,
    the first removal is enough to stop the session). ``on_issue(issue)`` for a device that is no
    usable modem (mass storage, HiLink, no serial port) and for ModemManager trouble.
    """

    def __init__(self, *, settle_seconds: float = 1.0, proc_root: Path = Path("/proc")) -> None:
        self._settle = settle_seconds
        self._proc_root = proc_root
        self._context = pyudev.Context()
        self._devices: dict[str, _UsbDevice] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = threading.Event()
        self._on_added: CandidateListener = lambda candidate: None
        self._on_removed: RemovalListener = lambda usb_path: None
        self._on_issue: IssueListener = lambda issue: None

    def start(self, on_added: CandidateListener, on_removed: RemovalListener,
              on_issue: IssueListener | None = None) -> None:
        self._on_added, self._on_removed = on_added, on_removed
        self._on_issue = on_issue or (lambda issue: None)
        monitor = pyudev.Monitor.from_netlink(self._context)
        for subsystem in ("tty", "usb", "net"):
            monitor.filter_by(subsystem)
        monitor.start()  # before enumerating: a device plugged in between shows up in both, never in neither
        for subsystem in ("usb", "tty", "net"):
            for device in self._context.list_devices(subsystem=subsystem):
                self._seen(device, "add")
        self._classify_due(force=True)
        self._thread = threading.Thread(target=self._run, args=(monitor,), name="udev-discovery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def candidates(self) -> list[SerialCandidate]:
        with self._lock:
            return [device.reported for device in self._devices.values() if device.reported is not None]

    def issues(self) -> list[DeviceIssue]:
        """Every current issue, for the panel."""
        with self._lock:
            return [device.issue for device in self._devices.values() if device.issue is not None]

    # ---- the thread ----

    def _run(self, monitor: pyudev.Monitor) -> None:
        while not self._stopping.is_set():
            with self._lock:
                deadlines = [device.due for device in self._devices.values() if device.due is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            try:
                readable, _, _ = select.select([monitor.fileno(), self._wake_r], [], [], timeout)
            except (OSError, ValueError):
                return
            if monitor.fileno() in readable:
                while (device := monitor.poll(timeout=0)) is not None:
                    try:
                        self._seen(device, device.action or "add")
                    except Exception:  # noqa: BLE001 - one odd device must not end discovery
                        log.exception("udev event for %s not understood", device.sys_path)
            try:
                self._classify_due()
            except Exception:  # noqa: BLE001
                log.exception("classifying USB devices failed")

    def _seen(self, device: pyudev.Device, action: str) -> None:
        if action == "remove":
            self._removed(device)
            return
        if action not in ("add", "change", "bind", "move"):
            return
        usb = _usb_device(device)
        if usb is None:
            return
        with self._lock:
            known = self._devices.get(usb.sys_path)
            if known is None:
                known = self._devices[usb.sys_path] = _describe_usb(usb)
            if device.subsystem == "tty" and device.device_node:
                known.ttys[device.sys_path] = _serial_port(device, usb)
            elif device.subsystem == "net":
                interface = device.find_parent("usb", "usb_interface")
                driver = device.properties.get("ID_NET_DRIVER") or (interface.driver if interface is not None else None)
                if driver in _ROUTER_NETWORK_DRIVERS:
                    known.network_drivers.add(driver)
            elif device.subsystem == "usb" and device.device_type == "usb_interface":
                interface_class = _attribute(device, "bInterfaceClass")
                if interface_class:
                    known.interface_classes.add(interface_class.lower())
            known.due = time.monotonic() + self._settle

    def _removed(self, device: pyudev.Device) -> None:
        gone_usb: str | None = None
        with self._lock:
            if device.sys_path in self._devices:  # the USB device itself
                gone_usb = device.sys_path
                known = self._devices.pop(device.sys_path)
            else:
                known = next((usb for usb in self._devices.values() if device.sys_path in usb.ttys), None)
                if known is None:
                    return
                del known.ttys[device.sys_path]
                if known.reported is None:
                    return
                gone_usb = known.sys_path
                known.due = time.monotonic() + self._settle  # report what is left, if anything stays
            reported, known.reported, known.issue = known.reported, None, None
        if reported is not None and gone_usb is not None:
            log.info("modem %s removed", reported.label)
            self._on_removed(gone_usb)

    def _classify_due(self, force: bool = False) -> None:
        now = time.monotonic()
        added: list[SerialCandidate] = []
        issues: list[DeviceIssue] = []
        with self._lock:
            for device in self._devices.values():
                if device.due is None or (not force and device.due > now):
                    continue
                device.due = None
                if device.ttys:
                    candidate = device.candidate()
                    device.issue = None
                    if candidate != device.reported:
                        device.reported = candidate
                        added.append(candidate)
                else:
                    issue = classify_without_tty(device)
                    if issue is not None and issue != device.issue:
                        issues.append(issue)
                    device.issue = issue
        if added:
            mm_pids = modemmanager_pids(self._proc_root)
            for candidate in added:
                issue = modemmanager_issue(candidate, mm_pids)
                if issue is not None:
                    with self._lock:
                        if candidate.usb_path in self._devices:
                            self._devices[candidate.usb_path].issue = issue
                    issues.append(issue)
        for candidate in added:
            log.info("modem %s with %s", candidate.label, ", ".join(port.label for port in candidate.ports))
            self._on_added(candidate)
        for issue in issues:
            log.warning("%s", issue)
            self._on_issue(issue)
