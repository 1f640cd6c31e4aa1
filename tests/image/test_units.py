"""The systemd units of the image (image/modules/app): what systemd itself says of them, and the
promises docs/operations.md makes about the service (user, watchdog, sandbox, capabilities)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.https import CERTIFICATE_FILE
from appliance.setup_code import SETUP_CODE_FILE

APP_TREE = Path(__file__).parents[2] / "image" / "modules" / "app" / "filesystem" / "root"
UNITS = APP_TREE / "etc" / "systemd" / "system"
UDEV_RULES = Path(__file__).parents[2] / "udev" / "77-appliance-modems.rules"
HOST_UNITS = Path("/usr/lib/systemd/system")

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None or not HOST_UNITS.is_dir(),
                                reason="systemd-analyze needs Debian's systemd package")


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, a key given several times keeping every value in order."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if re.match(r"^[A-Za-z]+=", line):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


@pytest.fixture
def test_root(tmp_path: Path) -> Path:
    """A file system root with the image's units and first-boot script, systemd's own units (targets
    the ours are ordered against), and an executable where ExecStart= expects the appliance."""
    root = tmp_path / "root"
    shutil.copytree(APP_TREE, root)
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    appliance = root / "opt/appliance/bin/appliance"
    appliance.parent.mkdir(parents=True)
    appliance.write_text("#!/bin/sh\n")
    appliance.chmod(0o755)
    return root


def test_systemd_analyze_verify_passes_on_every_unit_without_a_warning(test_root: Path) -> None:
    result = subprocess.run(["systemd-analyze", "verify", f"--root={test_root}",
                             "/etc/systemd/system/appliance.service",
                             "/etc/systemd/system/appliance-first-boot.service",
                             "/etc/systemd/system/appliance-console-note.path",
                             "/etc/systemd/system/appliance-console-note.service"],
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_systemd_rates_the_sandbox_as_ok(test_root: Path) -> None:
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", f"--root={test_root}",
                             "/etc/systemd/system/appliance.service"], capture_output=True, text=True)
    exposure = re.search(r"Overall exposure level for appliance.service: ([0-9.]+) (\w+)", result.stdout)
    assert exposure is not None, result.stdout + result.stderr
    assert float(exposure.group(1)) <= 3.0 and exposure.group(2) == "OK"


def test_the_service_tells_systemd_when_it_is_ready_and_is_restarted_when_it_stops_feeding_the_watchdog() -> None:
    service = unit_settings(UNITS / "appliance.service")
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["ExecStart"] == ["/opt/appliance/bin/appliance run"]
    assert service["WatchdogSec"] == ["60"] and service["Restart"] == ["on-failure"]


def test_the_service_runs_as_its_own_user_in_the_group_udev_gives_the_modems() -> None:
    service = unit_settings(UNITS / "appliance.service")
    assert service["User"] == ["appliance"] and service["Group"] == ["appliance"]
    granted = set(re.findall(r'GROUP="(\w+)"', UDEV_RULES.read_text()))
    granted |= set(re.findall(r"/bin/chgrp (\w+) /sys%p/authorized", UDEV_RULES.read_text()))
    assert granted == {"dialout"} and service["SupplementaryGroups"] == ["dialout"]


def test_the_service_writes_only_its_data_directory_and_keeps_only_the_capability_for_mms_routes() -> None:
    service = unit_settings(UNITS / "appliance.service")
    assert service["ProtectSystem"] == ["strict"] and service["ReadWritePaths"] == ["/var/lib/appliance"]
    assert "APPLIANCE_DATA_DIR=/var/lib/appliance" in service["Environment"][1].split()
    for hardening in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert service[hardening] == ["yes"], hardening
    assert service["CapabilityBoundingSet"] == ["CAP_NET_ADMIN"] == service["AmbientCapabilities"]
    # The USB reset writes /sys/bus/usb/devices/*/authorized, made writable for dialout by udev:
    # /sys must not be read-only for the service.
    assert "ProtectKernelTunables" not in service
    assert service["DeviceAllow"] == ["char-ttyUSB rw", "char-ttyACM rw"]


def test_the_service_runs_python_without_docstrings_asserts_and_column_positions() -> None:
    """The memory budget counts on these (docs/performance.md, Memory); the bytecode made for them
    goes to the service's cache directory, /opt being read-only to it."""
    service = unit_settings(UNITS / "appliance.service")
    environment = {name for line in service["Environment"] for name in line.split()}
    assert {"PYTHONOPTIMIZE=2", "PYTHONNODEBUGRANGES=1", "PYTHONPYCACHEPREFIX=/var/cache/appliance/bytecode"} <= environment
    assert service["CacheDirectory"] == ["appliance"]


def test_the_first_boot_runs_once_before_the_service() -> None:
    first_boot = unit_settings(UNITS / "appliance-first-boot.service")
    service = unit_settings(UNITS / "appliance.service")
    assert first_boot["Type"] == ["oneshot"]
    assert first_boot["ConditionPathExists"] == ["!/etc/appliance/first-boot-done"]
    assert "appliance.service" in first_boot["Before"][0].split()
    assert "appliance-first-boot.service" in service["After"][0].split()
    assert (APP_TREE / "usr/lib/appliance/first-boot").stat().st_mode & 0o111


def test_the_setup_code_and_certificate_the_service_writes_reach_the_console_and_boot_partition() -> None:
    watch = unit_settings(UNITS / "appliance-console-note.path")
    note = unit_settings(UNITS / "appliance-console-note.service")
    data_dir = "/var/lib/appliance"
    assert watch["PathChanged"] == [f"{data_dir}/{SETUP_CODE_FILE}", f"{data_dir}/{CERTIFICATE_FILE}"]
    assert watch["Unit"] == ["appliance-console-note.service"] and watch["WantedBy"] == ["paths.target"]
    assert note["Type"] == ["oneshot"] and note["StandardOutput"] == ["journal+console"]
    script = APP_TREE / "usr/lib/appliance/console-note"
    assert script.stat().st_mode & 0o111 and note["ExecStart"] == [str("/" / script.relative_to(APP_TREE))]
    assert f"{data_dir}/{SETUP_CODE_FILE}" in script.read_text().replace("$data_dir", data_dir)
    enabled = (APP_TREE.parents[1] / "start_chroot_script").read_text()
    assert "appliance-console-note.path" in enabled
