"""The image's root file system, built once per test run for this machine's architecture with the
same image/build.py that `make image` runs (modules base, network and app, and pc for a kernel qemu
boots; raspi is arm64 only), and the disk image made of it.

The system stage (debootstrap and Debian's packages, about 3 minutes from the mirror) is cached in
APPLIANCE_TEST_IMAGE_CACHE (default /var/cache/appliance-image) and reused while its inputs stay the
same; the modules stage with the appliance's wheel runs every time (about a minute).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).parents[2]
CACHE = Path(os.environ.get("APPLIANCE_TEST_IMAGE_CACHE", "/var/cache/appliance-image"))
BUILD_TOOLS = ("debootstrap", "chroot", "mkfs.ext4", "mkfs.vfat", "mcopy", "sfdisk", "dpkg")


def image_build_problem() -> str | None:
    if os.geteuid() != 0:
        return "the image is built as root (debootstrap, chroot, mounts)"
    missing = [tool for tool in BUILD_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} missing (.ci/run installs debootstrap, dosfstools, mtools, fdisk)"
    return None


def host_architecture() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(directory),
                    str(REPOSITORY)], check=True, capture_output=True)
    [built] = directory.glob("appliance-*.whl")
    return built


@pytest.fixture(scope="session")
def host_rootfs(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[Path]:
    problem = image_build_problem()
    if problem:
        pytest.skip(problem)
    rootfs = tmp_path_factory.mktemp("image") / "rootfs"
    architecture = host_architecture()
    env = {**os.environ, "IMAGE_ARCH": architecture, "IMAGE_MODULES": "base network app pc",
           "PC_PACKAGES": f"linux-image-{architecture}"}
    result = subprocess.run(["nice", "-n", "19", sys.executable, str(REPOSITORY / "image" / "build.py"), "rootfs",
                             "--wheel", str(wheel), "--out", str(rootfs), "--cache", str(CACHE)],
                            env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    yield rootfs
    shutil.rmtree(rootfs)


@pytest.fixture(scope="session")
def host_disk(host_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
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
