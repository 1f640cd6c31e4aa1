#!/usr/bin/env python3
"""Builds the appliance's SD card image from Debian's own packages and tools (run as root).

    .venv/bin/python image/build.py rootfs --wheel build/wheel/appliance-*.whl --out build/rootfs [--cache DIR]
    .venv/bin/python image/build.py disk --rootfs build/rootfs --out build/sms-appliance.img

(``make image`` does both.)

In the spirit of CustomPiOS, the image is ``config`` plus an ordered list of modules (``modules/*``),
each a ``config`` (keys prefixed with the module's name), an optional ``start_chroot_script`` and
``end_chroot_script`` run inside the image, and a ``filesystem/root`` tree copied into it. Stages:

1. system: debootstrap, then every module's ``<MODULE>_PACKAGES`` in one apt run. This is the slow,
   downloading part and depends on nothing of ours, so it is cached as a tarball named by its inputs.
2. modules: trees and start scripts in order, end scripts in reverse; the wheel is installed here.
   The build commit goes to /etc/appliance_commit and the installed package versions to
   /usr/share/appliance/image-packages.txt, checked against a lock file when one is given.
3. disk: an MBR image with a FAT boot partition (firmware, kernel, config.txt) and an ext4 root,
   made with mkfs.vfat/mtools and ``mkfs.ext4 -d``: no loop device is needed.

Only the Python standard library and pip: this runs on the build machine, not in the image.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

IMAGE_DIR = Path(__file__).resolve().parent
REPOSITORY = IMAGE_DIR.parent
BUILD_DIR_IN_IMAGE = "tmp/image-build"  # the wheel and udev rules, visible to the chroot scripts
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BuildError(Exception):
    """A step that cannot go on, with what to do about it."""


def read_config(path: Path, prefix: str = "") -> dict[str, str]:
    """``KEY=value`` lines, ``#`` comments; with ``prefix``, every key must carry it (module configs)."""
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            raise BuildError(f"{path}:{number}: expected KEY=value, not {line!r}")
        if prefix and not key.startswith(prefix):
            raise BuildError(f"{path}:{number}: {key} must start with {prefix} (the module's name)")
        values[key] = value
    return values


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """image/config and the configs of the modules it lists, each key overridable from the environment."""
    env = os.environ if environ is None else environ
    settings = read_config(IMAGE_DIR / "config")
    settings.update({k: env[k] for k in settings if k in env})
    for module in settings["IMAGE_MODULES"].split():
        config = IMAGE_DIR / "modules" / module / "config"
        if not config.exists():
            raise BuildError(f"IMAGE_MODULES names {module!r}, but there is no {config}")
        module_settings = read_config(config, prefix=module.upper() + "_")
        settings.update({k: env.get(k, v) for k, v in module_settings.items()})
    return settings


def module_packages(settings: Mapping[str, str]) -> list[str]:
    return sorted({package for module in settings["IMAGE_MODULES"].split()
                   for package in settings.get(f"{module.upper()}_PACKAGES", "").split()})


def host_mirror(suite: str, sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this build machine's apt uses for ``suite`` (deb822 or one-line sources)."""
    files = sorted((sources_dir / "sources.list.d").glob("*.sources")) + [sources_dir / "sources.list"]
    for path in files:
        if not path.exists():
            continue
        text = path.read_text()
        for stanza in re.split(r"\n\s*\n", text) if path.suffix == ".sources" else []:
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.+)$", stanza, re.MULTILINE))
            if suite in fields.get("Suites", "").split() and "deb" in fields.get("Types", "").split():
                return fields["URIs"].split()[0]
        for match in re.finditer(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{re.escape(suite)}\s", text, re.MULTILINE):
            return match.group(1)
    raise BuildError(f"no Debian mirror for {suite} in {sources_dir}; set IMAGE_MIRROR")


def run(command: list[str], **kwargs: object) -> None:
    print("+", " ".join(command), flush=True)
    result = subprocess.run(command, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise BuildError(f"`{' '.join(command)}` failed with exit code {result.returncode}")


@contextlib.contextmanager
def chroot_ready(root: Path) -> Iterator[None]:
    """/proc, /sys and /dev from the host, the host's DNS, and no daemon started by a package's
    postinst (policy-rc.d): what apt and pip need inside the image, all undone afterwards."""
    mounted: list[Path] = []
    policy = root / "usr/sbin/policy-rc.d"
    resolv = root / "etc/resolv.conf"
    saved_resolv = root / "etc/resolv.conf.image-build"
    try:
        for source, options in (("/proc", ["--bind"]), ("/sys", ["--rbind", "--make-rslave"]),
                                ("/dev", ["--bind"]), ("/dev/pts", ["--bind"])):
            target = root / source.lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            run(["mount", *options, source, str(target)])
            mounted.append(target)
        policy.write_text("#!/bin/sh\n# image build: no daemon starts inside the chroot\nexit 101\n")
        policy.chmod(0o755)
        if resolv.is_symlink() or resolv.exists():
            resolv.rename(saved_resolv)
        shutil.copyfile("/etc/resolv.conf", resolv)
        yield
    finally:
        if saved_resolv.is_symlink() or saved_resolv.exists():
            resolv.unlink(missing_ok=True)
            saved_resolv.rename(resolv)
        policy.unlink(missing_ok=True)
        for target in reversed(mounted):
            subprocess.run(["umount", "-R", "--lazy", str(target)], check=False)


def chroot_run(root: Path, script: str, env: Mapping[str, str], name: str) -> None:
    """A bash script inside the image with ``env`` and nothing of the build machine's environment."""
    path = root / BUILD_DIR_IN_IMAGE / f"{name}.sh"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script)
    clean_env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8",
                 "DEBIAN_FRONTEND": "noninteractive", **env}
    run(["chroot", str(root), "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in clean_env.items()),
         "/bin/bash", "-euo", "pipefail", f"/{BUILD_DIR_IN_IMAGE}/{name}.sh"])


def remove_rootfs(root: Path) -> None:
    """Deletes a previous build, but never through a mount left by an interrupted one: that would
    delete the build machine's /dev or /sys."""
    if not root.exists():
        return
    inside = str(root.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        left = [line.split()[1] for line in mounts if line.split()[1].startswith(inside)]
    if left:
        raise BuildError(f"{root} still has mounts from an earlier build: {', '.join(left)} (umount -R them)")
    shutil.rmtree(root)


def system_stage(root: Path, settings: Mapping[str, str], cache: Path | None) -> None:
    """debootstrap and every module's packages into ``root``, or the same from the cache."""
    mirror = settings["IMAGE_MIRROR"] or host_mirror(settings["IMAGE_SUITE"])
    packages = module_packages(settings)
    inputs = "\n".join([settings["IMAGE_SUITE"], settings["IMAGE_ARCH"], mirror,
                        settings["IMAGE_COMPONENTS"], *packages])
    tarball = cache / f"system-{hashlib.sha256(inputs.encode()).hexdigest()[:16]}.tar" if cache else None
    remove_rootfs(root)
    root.mkdir(parents=True)
    if tarball is not None and tarball.exists():
        run(["tar", "--xattrs", "--numeric-owner", "-xpf", str(tarball), "-C", str(root)])
        return
    run(["debootstrap", "--variant=minbase", f"--arch={settings['IMAGE_ARCH']}",
         f"--components={settings['IMAGE_COMPONENTS']}", settings["IMAGE_SUITE"], str(root), mirror])
    components = settings["IMAGE_COMPONENTS"].replace(",", " ")
    (root / "etc/apt/sources.list").write_text(
        f"deb {mirror} {settings['IMAGE_SUITE']} {components}\n"
        f"deb {mirror} {settings['IMAGE_SUITE']}-updates {components}\n")
    with chroot_ready(root):
        chroot_run(root, "apt-get update -q\n"
                         "apt-get install -y -q --no-install-recommends $PACKAGES\n"
                         "apt-get clean\n", {"PACKAGES": " ".join(packages)}, "system")
    shutil.rmtree(root / BUILD_DIR_IN_IMAGE)
    if tarball is not None:
        tarball.parent.mkdir(parents=True, exist_ok=True)
        scratch = tarball.with_suffix(".partial")
        run(["tar", "--xattrs", "--numeric-owner", "-cpf", str(scratch), "-C", str(root), "."])
        scratch.rename(tarball)


def build_commit() -> str:
    """The commit the image is built from, ``-dirty`` when the work tree has changes."""
    try:
        commit = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPOSITORY), "status", "--porcelain"], capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"cannot read the build commit from git ({exc}); set IMAGE_COMMIT") from exc
    return commit + ("-dirty" if dirty else "")


def copy_tree(source: Path, root: Path) -> None:
    """A module's tree into the image: files owned by root, modes as in the repository (git keeps
    only the executable bit, so scripts set anything stricter themselves)."""
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        target = root / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            target.chmod(0o755 if os.access(path, os.X_OK) else 0o644)
            os.chown(target, 0, 0)


def modules_stage(root: Path, settings: Mapping[str, str], wheel: Path, commit: str) -> None:
    modules = settings["IMAGE_MODULES"].split()
    staging = root / BUILD_DIR_IN_IMAGE
    staging.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(wheel, staging / wheel.name)
    shutil.copyfile(IMAGE_DIR / "constraints.txt", staging / "constraints.txt")
    python_wheels(settings, staging / "wheels")
    shutil.copytree(REPOSITORY / "udev", staging / "udev")
    shutil.copytree(REPOSITORY / "docs", staging / "docs", ignore=shutil.ignore_patterns("screenshots"))
    inside = f"/{BUILD_DIR_IN_IMAGE}"
    env = {**settings, "APP_WHEEL": f"{inside}/{wheel.name}", "APP_CONSTRAINTS": f"{inside}/constraints.txt",
           "APP_WHEELS": f"{inside}/wheels", "APP_UDEV_RULES": f"{inside}/udev", "APP_DOCS": f"{inside}/docs"}
    with chroot_ready(root):
        for module in modules:
            directory = IMAGE_DIR / "modules" / module
            copy_tree(directory / "filesystem" / "root", root)
            if (directory / "start_chroot_script").exists():
                chroot_run(root, (directory / "start_chroot_script").read_text(), env, f"{module}-start")
        (root / "etc/appliance_commit").write_text(commit + "\n")
        record = subprocess.run(["chroot", str(root), "dpkg-query", "-W", "-f", "${binary:Package}=${Version}\\n"],
                                capture_output=True, text=True, check=True).stdout
        listing = root / "usr/share/appliance/image-packages.txt"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text("".join(sorted(record.splitlines(keepends=True))))
        for module in reversed(modules):
            end_script = IMAGE_DIR / "modules" / module / "end_chroot_script"
            if end_script.exists():
                chroot_run(root, end_script.read_text(), env, f"{module}-end")
    shutil.rmtree(staging)


# Debian's architecture names → the machine names in Python wheels' platform tags.
WHEEL_MACHINES = {"arm64": "aarch64", "amd64": "x86_64", "armhf": "armv7l"}
# glibc baselines whose wheels run on bookworm's glibc 2.36 (pip matches platform tags exactly).
MANYLINUX = ("manylinux2014", "manylinux_2_28", "manylinux_2_34", "manylinux_2_36")


def python_wheels(settings: Mapping[str, str], dest: Path) -> None:
    """Every pinned dependency as a wheel for the image's CPython and architecture, fetched here with
    the build machine's pip (its index, proxy and certificates): the image installs them offline,
    and an emulated arm64 chroot never talks to PyPI."""
    machine = WHEEL_MACHINES[settings["IMAGE_ARCH"]]
    requirements = [line for line in (IMAGE_DIR / "constraints.txt").read_text().splitlines()
                    if line and not line.startswith("#")]
    platforms = [option for tag in MANYLINUX for option in ("--platform", f"{tag}_{machine}")]
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--implementation", "cp", "--python-version", settings["APP_PYTHON"], *platforms,
         "--dest", str(dest), *requirements])


def lock_differences(installed: str, locked: str) -> list[str]:
    """``package=version`` lines that differ between two package lists, as ``-`` locked / ``+`` installed."""
    have, want = set(installed.split()), set(locked.split())
    return [f"- {line}" for line in sorted(want - have)] + [f"+ {line}" for line in sorted(have - want)]


def check_lock(root: Path, lock: Path, update: bool) -> None:
    installed = (root / "usr/share/appliance/image-packages.txt").read_text()
    if update:
        lock.write_text(installed)
        return
    differences = lock_differences(installed, lock.read_text())
    if differences:
        raise BuildError(f"the image's packages differ from {lock} (build from Debian's snapshot archive at "
                         f"IMAGE_SNAPSHOT, or pass --update-lock to take the new versions):\n"
                         + "\n".join(differences))


def directory_mib(path: Path) -> int:
    output = subprocess.run(["du", "-s", "--block-size=1M", "-x", str(path)], capture_output=True, text=True,
                            check=True).stdout
    return int(output.split()[0])


def disk_stage(root: Path, image: Path, settings: Mapping[str, str]) -> None:
    """``image``: MBR, FAT boot partition with rootfs/boot/firmware, ext4 root with the rest."""
    boot_files = root / "boot/firmware"
    boot_mib = int(settings["IMAGE_BOOT_MIB"])
    root_mib = directory_mib(root) - directory_mib(boot_files) + int(settings["IMAGE_ROOT_SPARE_MIB"])
    root_mib += root_mib // 10  # ext4's own metadata and reserved blocks
    offset_mib = 4  # first partition aligned to 4 MiB, as SD cards' erase blocks like it
    image.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=image.parent, prefix=".disk-") as scratch_name:
        scratch = Path(scratch_name)
        boot = scratch / "boot.img"
        with open(boot, "wb") as handle:
            handle.truncate(boot_mib << 20)
        run(["mkfs.vfat", "-F", "32", "-n", settings["IMAGE_BOOT_LABEL"], "-i", "5a4d5301", str(boot)])
        entries = sorted(boot_files.iterdir())
        if entries:
            run(["mcopy", "-s", "-p", "-m", "-i", str(boot), *map(str, entries), "::"])
        empty = scratch / "empty"
        empty.mkdir()
        rootfs = scratch / "root.img"
        # The boot files live on the FAT partition; the root keeps an empty mount point for them.
        # SOURCE_DATE_EPOCH, when set, stamps the file system's own times (reproducible builds).
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        run(["mount", "--bind", str(empty), str(boot_files)])
        try:
            run(["mkfs.ext4", "-q", "-F", "-L", settings["IMAGE_ROOT_LABEL"], "-d", str(root), str(rootfs),
                 f"{root_mib}M"], env={**os.environ, "E2FSPROGS_FAKE_TIME": epoch} if epoch else None)
        finally:
            subprocess.run(["umount", str(boot_files)], check=False)
        with open(image, "wb") as handle:
            handle.truncate((offset_mib + boot_mib + root_mib) << 20)
        mib = 2048  # 512-byte sectors
        table = ("label: dos\nlabel-id: 0x5a4d5301\nunit: sectors\n"
                 f"start={offset_mib * mib}, size={boot_mib * mib}, type=c\n"
                 f"start={(offset_mib + boot_mib) * mib}, size={root_mib * mib}, type=83\n")
        run(["sfdisk", "--no-reread", "--no-tell-kernel", str(image)], input=table.encode(),
            stdout=subprocess.DEVNULL)
        for part, start_mib in ((boot, offset_mib), (rootfs, offset_mib + boot_mib)):
            run(["dd", f"if={part}", f"of={image}", "bs=1M", f"seek={start_mib}", "conv=notrunc,sparse",
                 "status=none"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    stages = parser.add_subparsers(dest="stage", required=True)
    rootfs = stages.add_parser("rootfs", help="system and modules into a directory")
    rootfs.add_argument("--wheel", type=Path, required=True, help="the appliance's wheel (pip wheel --no-deps .)")
    rootfs.add_argument("--out", type=Path, required=True)
    rootfs.add_argument("--cache", type=Path, help="keeps the system stage between builds")
    rootfs.add_argument("--lock", type=Path, help="package=version list the image must match")
    rootfs.add_argument("--update-lock", action="store_true", help="write the installed versions to --lock")
    disk = stages.add_parser("disk", help="the SD card image from a built rootfs")
    disk.add_argument("--rootfs", type=Path, required=True)
    disk.add_argument("--out", type=Path, required=True)
    options = parser.parse_args(argv)
    try:
        if os.geteuid() != 0:
            raise BuildError("the image is built as root (debootstrap, chroot, mounts)")
        if os.environ.get("IMAGE_BUILD_NAMESPACE") != "private":
            # Every mount of the build lives in a mount namespace of its own: a build killed halfway
            # leaves nothing mounted on the build machine, where a later rm -r of the build directory
            # would go through the bind mounts into its /dev.
            os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, __file__,
                                   *(sys.argv[1:] if argv is None else argv)],
                       {**os.environ, "IMAGE_BUILD_NAMESPACE": "private"})
        settings = load_settings()
        if options.stage == "rootfs":
            commit = os.environ.get("IMAGE_COMMIT") or build_commit()
            system_stage(options.out, settings, options.cache)
            modules_stage(options.out, settings, options.wheel.resolve(), commit)
            if options.lock:
                check_lock(options.out, options.lock, options.update_lock)
        else:
            disk_stage(options.rootfs, options.out, settings)
    except BuildError as exc:
        print(f"image build: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
