"""The Raspberry Pi image that `make image` built (arm64), read without mounting it: the partition
table the Pi's boot ROM reads, the firmware, kernel and device trees on the boot partition, and the
configuration that makes the firmware find the root by its label; then booted on qemu's emulated
Raspberry Pi 3 with the kernel, initrd and device tree from that boot partition (qemu starts the
kernel itself: the Pi's GPU firmware is not emulated, so config.txt is read only by a real Pi).

Building it emulates arm64 (qemu-user-static) for far longer than a test run may take, so this runs
only on an image named by APPLIANCE_TEST_RASPI_IMAGE (e.g. build/sms-appliance-arm64.img).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.image.disk_image import SECTOR, extract, partition_table, probe

IMAGE = os.environ.get("APPLIANCE_TEST_RASPI_IMAGE", "")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200),
              pytest.mark.skipif(not IMAGE, reason="set APPLIANCE_TEST_RASPI_IMAGE to an image `make image` built")]
# Pi 3 B, 3 B+, 3 A+, 4 B, 400, Zero 2 W.
DEVICE_TREES = {"bcm2837-rpi-3-b.dtb", "bcm2837-rpi-3-b-plus.dtb", "bcm2837-rpi-3-a-plus.dtb",
                "bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb", "bcm2837-rpi-zero-2-w.dtb"}


def debugfs(filesystem: Path, request: str) -> str:
    return subprocess.run(["debugfs", "-R", request, str(filesystem)], capture_output=True, text=True,
                          check=True).stdout


def boot_files(boot: Path) -> dict[str, str]:
    listing = subprocess.run(["mdir", "-b", "-i", str(boot), "::"], capture_output=True, text=True, check=True)
    names = [line.removeprefix("::/") for line in listing.stdout.split()]
    return {name: subprocess.run(["mtype", "-i", str(boot), f"::{name}"], capture_output=True, text=True,
                                 errors="replace").stdout if name.endswith(".txt") else "" for name in names}


def test_the_boot_partition_has_the_firmware_kernel_and_device_trees_of_every_supported_pi(tmp_path: Path) -> None:
    image = Path(IMAGE)
    table = partition_table(image)
    assert table["label"] == "dos"
    boot_partition, root_partition = table["partitions"]  # type: ignore[misc]
    assert (boot_partition["type"], boot_partition["start"] * SECTOR) == ("c", 4 << 20)
    boot = extract(image, boot_partition, tmp_path / "boot.img")
    assert probe(boot)["LABEL"] == "RASPIFIRM"
    files = boot_files(boot)
    assert {"bootcode.bin", "start.elf", "fixup.dat", "start4.elf", "fixup4.dat"} <= set(files)
    assert DEVICE_TREES <= set(files)
    kernel = next(name for name in files if name.startswith("vmlinuz-"))
    initrd = next(name for name in files if name.startswith("initrd.img-"))
    config = files["config.txt"]
    assert "arm_64bit=1" in config and f"kernel={kernel}" in config and f"initramfs {initrd}" in config
    cmdline = files["cmdline.txt"].split()
    assert "root=LABEL=RASPIROOT" in cmdline and "console=tty0" in cmdline


def test_the_root_partition_holds_the_appliance_for_arm64(tmp_path: Path) -> None:
    image = Path(IMAGE)
    root = extract(image, partition_table(image)["partitions"][1], tmp_path / "root.img")  # type: ignore[index]
    assert probe(root)["LABEL"] == "RASPIROOT"
    assert "ExecStart=/opt/appliance/bin/appliance run" in debugfs(root, "cat /etc/systemd/system/appliance.service")
    packages = debugfs(root, "cat /usr/share/appliance/image-packages.txt").split()
    assert any(line.startswith("raspi-firmware=") for line in packages)
    assert any(line.startswith("linux-image-arm64=") for line in packages)
    psycopg = [line for line in debugfs(root, "ls -p /opt/appliance/lib/python3.11/site-packages").splitlines()
               if "psycopg_binary" in line]
    assert psycopg, "the venv's compiled dependencies are missing"
    assert debugfs(root, "cat /etc/appliance_commit").strip()


@pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="qemu-system-aarch64 (qemu-system-arm)")
def test_on_an_emulated_pi_3_the_card_boots_grows_and_the_appliance_becomes_ready(tmp_path: Path) -> None:
    card = tmp_path / "card.img"
    subprocess.run(["cp", "--sparse=always", IMAGE, str(card)], check=True)
    with open(card, "r+b") as handle:
        handle.truncate(4 << 30)  # qemu's SD card wants a power of two: a 4 GB card
    boot = extract(card, partition_table(card)["partitions"][0], tmp_path / "boot.img")  # type: ignore[index]
    files = boot_files(boot)
    for name in (next(n for n in files if n.startswith("vmlinuz-")), next(n for n in files if n.startswith("initrd.img-")),
                 "bcm2837-rpi-3-b.dtb"):
        subprocess.run(["mcopy", "-i", str(boot), f"::{name}", str(tmp_path / name.split("-")[0])], check=True)
    console = tmp_path / "console.log"
    console.touch()
    # The serial port is the emulated Pi's only screen: it is the console systemd reports each started
    # unit on (not the HDMI tty0), and no login prompt takes it over.
    cmdline = " ".join(word for word in files["cmdline.txt"].split() if word != "console=tty0")
    cmdline += " systemd.mask=serial-getty@ttyS1.service"
    qemu = subprocess.Popen(
        ["qemu-system-aarch64", "-M", "raspi3b", "-m", "1G", "-smp", "4", "-display", "none",
         "-kernel", str(tmp_path / "vmlinuz"), "-initrd", str(tmp_path / "initrd.img"), "-dtb", str(tmp_path / "bcm2837"),
         "-append", cmdline, "-drive", f"file={card},if=sd,format=raw",
         "-serial", "null", "-serial", f"file:{console}"],  # the mini UART, ttyS1, as on a real Pi 3
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = re.compile(r"Started .*appliance\.service")
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not ready.search(plain(console)):
            time.sleep(5)
        log = plain(console)
        assert ready.search(log), log[-5000:]
        assert "EXT4-fs (mmcblk0p2): resized filesystem" in log
    finally:
        qemu.kill()
        qemu.wait()
    root = extract(card, partition_table(card)["partitions"][1], tmp_path / "root.img")  # type: ignore[index]
    # The power was cut: replay the ext4 journal (as the next boot would) before reading files.
    subprocess.run(["e2fsck", "-fy", str(root)], capture_output=True)
    assert "Inode:" in debugfs(root, "stat /etc/appliance/first-boot-done")
    appliance_uid = next(line.split(":")[2] for line in debugfs(root, "cat /etc/passwd").splitlines()
                         if line.startswith("appliance:"))
    database = debugfs(root, "ls -p /var/lib/appliance").splitlines()
    assert any(line.split("/")[3:6:2] == [appliance_uid, "appliance.db"] for line in database), database


def plain(console: Path) -> str:
    """The serial console's text without its colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", console.read_text(errors="replace"))
