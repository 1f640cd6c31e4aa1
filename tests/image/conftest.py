"""The image's root file system, built once per test run for this machine's architecture with the
same image/build.py that `make image` runs (modules base, network and app; raspi is arm64 only).

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
    env = {**os.environ, "IMAGE_ARCH": host_architecture(), "IMAGE_MODULES": "base network app"}
    result = subprocess.run(["nice", "-n", "19", sys.executable, str(REPOSITORY / "image" / "build.py"), "rootfs",
                             "--wheel", str(wheel), "--out", str(rootfs), "--cache", str(CACHE)],
                            env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    yield rootfs
    shutil.rmtree(rootfs)
