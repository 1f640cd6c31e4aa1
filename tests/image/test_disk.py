"""The disk stage: the SD card image made from a built root file system (this machine's architecture;
an arm64 build makes the same layout with the Pi's firmware on the boot partition)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).parents[2]
SECTOR = 512
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def disk(host_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    image = tmp_path_factory.mktemp("disk") / "sms-appliance.img"
    # What raspi-firmware's hook leaves in /boot/firmware on an arm64 build.
    config_txt = host_rootfs / "boot/firmware/config.txt"
    config_txt.write_text("arm_64bit=1\n")
    try:
        result = subprocess.run([sys.executable, str(REPOSITORY / "image" / "build.py"), "disk", "--rootfs",
                                 str(host_rootfs), "--out", str(image)], capture_output=True, text=True, timeout=600)
    finally:
        config_txt.unlink()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield image
    image.unlink()


def partition_table(image: Path) -> dict[str, object]:
    result = subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["partitiontable"]


def extract(image: Path, partition: dict[str, int], target: Path) -> Path:
    subprocess.run(["dd", f"if={image}", f"of={target}", f"bs={SECTOR}", f"skip={partition['start']}",
                    f"count={partition['size']}", "conv=sparse", "status=none"], check=True)
    return target


def probe(filesystem: Path) -> dict[str, str]:
    output = subprocess.run(["blkid", "--probe", "--output", "export", str(filesystem)], capture_output=True,
                            text=True, check=True).stdout
    return dict(line.split("=", 1) for line in output.splitlines())


def test_the_card_has_an_mbr_with_a_fat_boot_and_an_ext4_root_partition_aligned_to_4_mib(disk: Path) -> None:
    table = partition_table(disk)
    assert table["label"] == "dos"  # the Pi's boot ROM reads an MBR
    boot, root = table["partitions"]  # type: ignore[misc]
    assert (boot["type"], root["type"]) == ("c", "83")
    assert boot["start"] * SECTOR == 4 << 20 and boot["size"] * SECTOR == 256 << 20
    assert root["start"] == boot["start"] + boot["size"]
    assert (root["start"] + root["size"]) * SECTOR == disk.stat().st_size  # the root is last: it can grow


def test_the_boot_partition_carries_the_firmware_files_under_the_label_fstab_names(disk: Path, tmp_path: Path) -> None:
    boot = extract(disk, partition_table(disk)["partitions"][0], tmp_path / "boot.img")  # type: ignore[index]
    assert {"TYPE": "vfat", "VERSION": "FAT32", "LABEL": "RASPIFIRM"}.items() <= probe(boot).items()
    listing = subprocess.run(["mdir", "-b", "-i", str(boot), "::"], capture_output=True, text=True, check=True)
    assert listing.stdout.split() == ["::/config.txt"]


def test_the_root_partition_is_the_built_file_system_with_an_empty_mount_point_for_boot(
        disk: Path, tmp_path: Path) -> None:
    root = extract(disk, partition_table(disk)["partitions"][1], tmp_path / "root.img")  # type: ignore[index]
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
