"""The disk stage: the SD card image made from a built root file system (this machine's architecture;
an arm64 build makes the same layout with the Pi's firmware on the boot partition)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.image.disk_image import SECTOR, extract, partition_table, probe

REPOSITORY = Path(__file__).parents[2]
# The first test of a run builds the root file system (conftest.py): minutes, not the usual 300 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_the_card_has_an_mbr_with_a_fat_boot_and_an_ext4_root_partition_aligned_to_4_mib(host_disk: Path) -> None:
    table = partition_table(host_disk)
    assert table["label"] == "dos"  # the Pi's boot ROM reads an MBR
    boot, root = table["partitions"]  # type: ignore[misc]
    assert (boot["type"], root["type"]) == ("c", "83")
    assert boot["start"] * SECTOR == 4 << 20 and boot["size"] * SECTOR == 256 << 20
    assert root["start"] == boot["start"] + boot["size"]
    assert (root["start"] + root["size"]) * SECTOR == host_disk.stat().st_size  # the root is last: it can grow


def test_the_boot_partition_carries_the_firmware_files_under_the_label_fstab_names(host_disk: Path, tmp_path: Path) -> None:
    boot = extract(host_disk, partition_table(host_disk)["partitions"][0], tmp_path / "boot.img")  # type: ignore[index]
    assert {"TYPE": "vfat", "VERSION": "FAT32", "LABEL": "RASPIFIRM"}.items() <= probe(boot).items()
    listing = subprocess.run(["mdir", "-b", "-i", str(boot), "::"], capture_output=True, text=True, check=True)
    assert listing.stdout.split() == ["::/config.txt"]


def test_the_root_partition_is_the_built_file_system_with_an_empty_mount_point_for_boot(
        host_disk: Path, tmp_path: Path) -> None:
    root = extract(host_disk, partition_table(host_disk)["partitions"][1], tmp_path / "root.img")  # type: ignore[index]
    assert {"TYPE": "ext4", "LABEL": "RASPIROOT"}.items() <= probe(root).items()
    assert subprocess.run(["e2fsck", "-fn", str(root)], capture_output=True, text=True).returncode == 0

    def debugfs(request: str) -> str:
        return subprocess.run(["debugfs", "-R", request, str(root)], capture_output=True, text=True,
                              check=True).stdout

    commit = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert debugfs("cat /etc/appliance_commit").startswith(commit)
    names = [line.split("/")[5] for line in debugfs("ls -p /boot/firmware").splitlines() if line.startswith("/")]
    assert names == [".", ".."]
    assert "ExecStart=/opt/appliance/bin/appliance run" in debugfs("cat /etc/systemd/system/appliance.service")
