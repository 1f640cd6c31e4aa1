"""The disk image booted by a real kernel in qemu, on a bigger disk than the image, like a card:
the root found by its label, the first boot growing it to the disk, the panel answering through the
network. This machine's architecture, in software emulation (TCG): the KVM of these machines runs
nested and cannot start a guest; a boot to the panel takes about a minute and a half."""

from __future__ import annotations

import platform
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.image.disk_image import SECTOR, extract, partition_table
from tests.support.ports import free_port

# The first test of a run builds the root file system (conftest.py): minutes, not the usual 300 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
QEMU = f"qemu-system-{platform.machine()}"
CARD_GROWTH = 512 << 20


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object) -> None:
        return None


def panel_status(port: int) -> int | None:
    try:
        with urllib.request.build_opener(NoRedirect).open(f"http://127.0.0.1:{port}/login", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def block_count_and_size(filesystem: Path) -> tuple[int, int]:
    header = subprocess.run(["dumpe2fs", "-h", str(filesystem)], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(":", 1) for line in header.splitlines() if ":" in line)
    return int(fields["Block count"]), int(fields["Block size"])


@pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} (Debian's qemu-system-x86) is needed")
def test_a_card_boots_grows_its_root_and_serves_the_panel(host_rootfs: Path, host_disk: Path, tmp_path: Path) -> None:
    card = tmp_path / "card.img"
    subprocess.run(["cp", "--sparse=always", str(host_disk), str(card)], check=True)
    with open(card, "r+b") as handle:
        handle.truncate(card.stat().st_size + CARD_GROWTH)
    [kernel] = sorted(host_rootfs.glob("boot/vmlinuz-*"))[-1:]
    [initrd] = sorted(host_rootfs.glob("boot/initrd.img-*"))[-1:]
    port, console, monitor = free_port(), tmp_path / "console.log", tmp_path / "monitor.sock"
    qemu = subprocess.Popen([
        QEMU, "-accel", "tcg", "-m", "1024", "-smp", "2",
        "-nodefaults", "-display", "none", "-no-reboot",
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", "root=LABEL=RASPIROOT console=ttyS0 panic=-1",
        "-drive", f"file={card},format=raw,if=virtio",
        "-netdev", f"user,id=lan,hostfwd=tcp:127.0.0.1:{port}-:8080", "-device", "virtio-net-pci,netdev=lan",
        "-serial", f"file:{console}", "-monitor", f"unix:{monitor},server,nowait"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        status = None
        while status is None and time.monotonic() < deadline and qemu.poll() is None:
            time.sleep(2)
            status = panel_status(port)
        assert status in (200, 302), console.read_text(errors="replace")[-5000:]
        with socket.socket(socket.AF_UNIX) as control:  # the power button: systemd shuts down cleanly
            control.connect(str(monitor))
            control.sendall(b"system_powerdown\n")
            qemu.wait(timeout=180)
    finally:
        if qemu.poll() is None:
            qemu.kill()
        qemu.wait()
        if qemu.stderr:
            qemu.stderr.close()

    root_partition = partition_table(card)["partitions"][1]  # type: ignore[index]
    assert (root_partition["start"] + root_partition["size"]) * SECTOR == card.stat().st_size
    root = extract(card, root_partition, tmp_path / "root.img")
    blocks, block_size = block_count_and_size(root)
    assert blocks * block_size > root_partition["size"] * SECTOR - (4 << 20)
    done = subprocess.run(["debugfs", "-R", "stat /etc/appliance/first-boot-done", str(root)], capture_output=True,
                          text=True)
    assert "Inode:" in done.stdout, done.stderr
