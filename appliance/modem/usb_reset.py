"""Resetting the USB device behind a tty, the watchdog's last resort for a modem that stopped answering.

De-authorising and re-authorising the device in sysfs (``authorized`` 0 then 1) makes the kernel
drop and re-enumerate it, as an unplug and replug would, without touching the rest of the hub. It
needs write access to sysfs (root, or the image's udev rule granting the service user that file).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


class UsbResetUnavailable(Exception):
    """The port is not a USB device, or sysfs refuses us; the message says which."""


def usb_device_dir(devnode: str, sysfs_root: Path = Path("/sys")) -> Path:
    """``/sys/bus/usb/devices/1-1.3`` for ``/dev/ttyUSB2`` (symlinks such as /dev/gsm/* resolved)."""
    name = Path(os.path.realpath(devnode)).name
    tty = sysfs_root / "class" / "tty" / name / "device"
    if not tty.exists():
        raise UsbResetUnavailable(f"{devnode} is not a USB serial device (no {tty})")
    # device → the USB interface (1-1.3:1.2) or a usb-serial port below it; the first ancestor that
    # has an ``authorized`` file and an idVendor is the USB device itself.
    for candidate in [tty.resolve(), *tty.resolve().parents]:
        if (candidate / "authorized").exists() and (candidate / "idVendor").exists():
            return candidate
        if candidate == sysfs_root:
            break
    raise UsbResetUnavailable(f"{devnode}: no USB device above {tty.resolve()}")


def reset_usb_device(devnode: str, sysfs_root: Path = Path("/sys"), settle: float = 1.0) -> Path:
    device = usb_device_dir(devnode, sysfs_root)
    authorized = device / "authorized"
    try:
        authorized.write_text("0")
        time.sleep(settle)
        authorized.write_text("1")
    except OSError as exc:
        raise UsbResetUnavailable(f"cannot reset {device.name} through {authorized}: {exc.strerror}") from exc
    log.warning("USB device %s (%s) reset", device.name, devnode)
    return device
