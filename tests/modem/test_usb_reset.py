"""The watchdog's USB reset: find the USB device above a tty in sysfs and re-authorise it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.modem.usb_reset import UsbResetUnavailable, reset_usb_device, usb_device_dir


def fake_sysfs(root: Path) -> Path:
    """The layout the kernel gives a Huawei stick's third interface on hub port 1-1.3."""
    device = root / "devices/platform/soc/3f980000.usb/usb1/1-1/1-1.3"
    port = device / "1-1.3:1.2/ttyUSB2/tty/ttyUSB2"
    port.mkdir(parents=True)
    (device / "authorized").write_text("1\n")
    (device / "idVendor").write_text("12d1\n")
    (root / "class/tty").mkdir(parents=True)
    os.symlink(port, root / "class/tty/ttyUSB2")
    os.symlink(device / "1-1.3:1.2/ttyUSB2", port / "device")
    return device


def test_the_usb_device_above_a_tty_is_found_through_a_stable_link(tmp_path: Path) -> None:
    device = fake_sysfs(tmp_path / "sys")
    link = tmp_path / "gsm-huawei-if02"
    os.symlink("/dev/ttyUSB2", link)
    assert usb_device_dir(str(link), tmp_path / "sys") == device.resolve()


def test_a_reset_de_authorises_then_re_authorises_the_device(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    device = fake_sysfs(tmp_path / "sys")
    writes: list[str] = []
    original = Path.write_text

    def record(path: Path, data: str, *args: object, **kwargs: object) -> int:
        if path.name == "authorized":
            writes.append(data)
        return original(path, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", record)
    reset_usb_device("/dev/ttyUSB2", tmp_path / "sys", settle=0)
    assert writes == ["0", "1"] and (device / "authorized").read_text() == "1"


def test_a_pty_cannot_be_reset_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "sys/class/tty").mkdir(parents=True)
    with pytest.raises(UsbResetUnavailable, match="not a USB serial device"):
        reset_usb_device("/dev/pts/7", tmp_path / "sys")


def test_a_read_only_sysfs_is_a_clear_error(tmp_path: Path) -> None:
    device = fake_sysfs(tmp_path / "sys")
    (device / "authorized").unlink()
    (device / "authorized").mkdir()  # writing to it fails as a permission problem would
    with pytest.raises(UsbResetUnavailable, match="cannot reset 1-1.3"):
        reset_usb_device("/dev/ttyUSB2", tmp_path / "sys", settle=0)
