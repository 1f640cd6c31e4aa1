"""The image's root file system as built for this machine's architecture: what is inside it, and how
it behaves when systemd boots it (in a systemd-nspawn container: the same systemd, units and sandbox
as on the Pi, without its kernel and hardware)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).parents[2]
# The first test of a run builds the root file system (conftest.py): minutes, not the usual 300 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def chroot(rootfs: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(rootfs), *command], capture_output=True, text=True, timeout=120)


def test_the_appliance_command_runs_inside_the_image(host_rootfs: Path) -> None:
    result = chroot(host_rootfs, "appliance", "--version")  # /usr/local/bin: as the service's user
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("appliance, version ")
    assert chroot(host_rootfs, "/opt/appliance/bin/appliance", "--version").stdout == result.stdout


def test_the_units_pass_systemd_analyze_verify_inside_the_image(host_rootfs: Path) -> None:
    result = subprocess.run(["systemd-analyze", "verify", f"--root={host_rootfs}",
                             "/etc/systemd/system/appliance.service",
                             "/etc/systemd/system/appliance-first-boot.service"], capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    wanted = host_rootfs / "etc/systemd/system/multi-user.target.wants"
    assert {"appliance.service", "appliance-first-boot.service", "avahi-daemon.service"} <= {
        path.name for path in wanted.iterdir()}


def test_the_udev_rules_and_usb_modeswitch_are_where_udev_looks(host_rootfs: Path) -> None:
    rules = (REPOSITORY / "udev" / "77-appliance-modems.rules").read_bytes()
    assert (host_rootfs / "etc/udev/rules.d/77-appliance-modems.rules").read_bytes() == rules
    assert (host_rootfs / "usr/share/appliance/udev/77-appliance-modems.rules").read_bytes() == rules
    assert (host_rootfs / "usr/sbin/usb_modeswitch").exists()
    assert (host_rootfs / "lib/udev/rules.d/40-usb_modeswitch.rules").exists()


def test_the_image_says_which_commit_and_which_package_versions_it_was_built_from(host_rootfs: Path) -> None:
    commit = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert (host_rootfs / "etc/appliance_commit").read_text().startswith(commit)
    packages = (host_rootfs / "usr/share/appliance/image-packages.txt").read_text().split()
    assert any(line.startswith("avahi-daemon") and "=" in line for line in packages)


def test_what_each_card_must_make_for_itself_is_not_in_the_image(host_rootfs: Path) -> None:
    assert (host_rootfs / "etc/machine-id").read_text() == ""
    assert not list((host_rootfs / "etc/ssh").glob("ssh_host_*"))
    assert not (host_rootfs / "var/lib/appliance/secret_key").exists()
    assert not (host_rootfs / "etc/systemd/system/multi-user.target.wants/ssh.service").exists()
    shadow = {line.split(":")[0]: line.split(":")[1] for line in (host_rootfs / "etc/shadow").read_text().splitlines()}
    assert shadow["root"].startswith("!")


def test_the_sd_card_is_spared_noatime_and_a_bounded_persistent_journal(host_rootfs: Path) -> None:
    root_line = next(line.split() for line in (host_rootfs / "etc/fstab").read_text().splitlines()
                     if line.split()[1:2] == ["/"])
    assert root_line[0] == "LABEL=RASPIROOT" and "noatime" in root_line[3].split(",")
    journal = (host_rootfs / "etc/systemd/journald.conf.d/appliance.conf").read_text()
    assert "Storage=persistent" in journal and "SystemMaxUse=64M" in journal
    assert (host_rootfs / "var/log/journal").is_dir()
    assert (host_rootfs / "etc/hostname").read_text().strip() == "sms-appliance"


class BootedImage:
    """The image booted by systemd in a container with a network of its own. The tree stays as built:
    the container writes to a tmpfs laid over it (--volatile=overlay). Commands run inside through
    nsenter."""

    def __init__(self, root: Path, *binds: tuple[Path, str]) -> None:
        self._process = subprocess.Popen(
            ["systemd-nspawn", "--directory", str(root), "--volatile=overlay", "--boot", "--register=no",
             "--keep-unit", "--private-network", "--console=passive", f"--machine=sms-test-{os.getpid()}",
             *(f"--bind-ro={source}:{target}" for source, target in binds)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.init_pid = self._wait_for_init()

    def _wait_for_init(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            children = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
            if self._process.poll() is not None:
                raise AssertionError(f"systemd-nspawn exited: {self._process.stderr.read() if self._process.stderr else ''}")
            pids = children.read_text().split() if children.exists() else []
            if pids:
                return int(pids[0])
            time.sleep(0.1)
        raise AssertionError("the container's systemd did not start")

    def run(self, *command: str, namespaces: str = "-a", stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", "-t", str(self.init_pid), namespaces, *command], input=stdin,
                              capture_output=True, text=True, timeout=60)

    def service(self, *properties: str) -> dict[str, str]:
        output = self.run("systemctl", "show", "appliance.service", *(f"--property={p}" for p in properties)).stdout
        return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)

    def wait_for_service(self, condition: str, timeout: float, **expected: str) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        state: dict[str, str] = {}
        while time.monotonic() < deadline:
            state = self.service("ActiveState", "SubState", "MainPID", "NRestarts", "StatusText", "Result")
            if all(state.get(key) == value for key, value in expected.items()):
                return state
            time.sleep(0.5)
        journal = self.run("journalctl", "--no-pager", "-n", "60", "-u", "appliance.service").stdout
        raise AssertionError(f"appliance.service not {condition} within {timeout} s: {state}\n{journal}")

    def http_status(self, path: str) -> int:
        """The panel's answer, asked from inside the container's network (the host has none of it)."""
        fetch = ("import urllib.request, urllib.error\n"
                 "class Keep(urllib.request.HTTPRedirectHandler):\n"
                 "    def redirect_request(self, *args): return None\n"
                 "try: print(urllib.request.build_opener(Keep).open("
                 f"'http://127.0.0.1:8080{path}', timeout=10).status)\n"
                 "except urllib.error.HTTPError as error: print(error.code)\n")
        result = self.run(sys.executable, "-c", fetch, namespaces="-n")
        assert result.returncode == 0, result.stderr
        return int(result.stdout)

    def wait_for_file(self, path: str, present: bool, timeout: float = 60) -> str:
        """``path``'s content once it exists (or "" once it is gone, with ``present`` False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.run("cat", path)
            if (result.returncode == 0) == present:
                return result.stdout
            time.sleep(0.5)
        journal = self.run("journalctl", "--no-pager", "-n", "30", "-u", "appliance-console-note.service").stdout
        raise AssertionError(f"{path} {'never appeared' if present else 'is still there'} within {timeout} s\n{journal}")

    def stop(self) -> None:
        self._process.send_signal(signal.SIGTERM)  # the container's systemd shuts down
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()


@pytest.fixture(scope="module")
def booted(host_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BootedImage]:
    if shutil.which("systemd-nspawn") is None or shutil.which("nsenter") is None:
        pytest.skip("systemd-nspawn (Debian's systemd-container) is needed to boot the image")
    # The mechanism of the real unit, on a shorter clock: 4 s of watchdog silence instead of 60, and 5 s
    # for a process that ignores the watchdog's SIGABRT (a stopped one) before it is killed.
    drop_in = tmp_path_factory.mktemp("booted") / "test-clock.conf"
    drop_in.write_text("[Service]\nWatchdogSec=4\nTimeoutStopSec=5\nRestartSec=1\n")
    image = BootedImage(host_rootfs, (drop_in, "/etc/systemd/system/appliance.service.d/test-clock.conf"))
    try:
        image.wait_for_service("running", timeout=180, ActiveState="active", SubState="running")
        yield image
    finally:
        image.stop()


def test_the_first_boot_makes_the_cards_own_secrets_leaves_a_note_and_keeps_ssh_off(booted: BootedImage) -> None:
    assert booted.run("test", "-e", "/etc/appliance/first-boot-done").returncode == 0
    assert booted.run("stat", "-c", "%U %a %s", "/var/lib/appliance/secret_key").stdout.split() == [
        "appliance", "600", "65"]  # 64 hex digits and a newline
    assert "ssh_host_ed25519_key" in booted.run("ls", "/etc/ssh").stdout.split()
    assert "http://sms-appliance.local:8080/" in booted.run("cat", "/boot/firmware/appliance-setup.txt").stdout
    assert booted.run("systemctl", "is-enabled", "ssh.service").stdout.strip() == "disabled"
    assert booted.run("systemctl", "is-active", "avahi-daemon.service").stdout.strip() == "active"


def test_booted_by_systemd_the_appliance_is_ready_sandboxed_and_answers(booted: BootedImage) -> None:
    state = booted.service("StatusText", "WatchdogUSec", "User")
    assert state == {"StatusText": "running", "WatchdogUSec": "4s", "User": "appliance"}
    main_pid = booted.service("MainPID")["MainPID"]
    status = dict(line.split(":\t", 1) for line in
                  booted.run("cat", f"/proc/{main_pid}/status").stdout.splitlines() if ":\t" in line)
    groups = booted.run("getent", "group", "dialout").stdout.strip().split(":")[2]
    assert groups in status["Groups"].split()
    assert int(status["CapBnd"], 16) == 1 << 12  # CAP_NET_ADMIN alone
    assert status["NoNewPrivs"].strip() == "1"
    assert booted.http_status("/login") in (200, 302)


def test_the_setup_code_and_fingerprint_reach_the_boot_partition_and_the_login_prompt(booted: BootedImage) -> None:
    code = booted.wait_for_file("/var/lib/appliance/setup-code", present=True).strip()
    assert booted.run("stat", "-c", "%U %a", "/var/lib/appliance/setup-code").stdout.split() == ["appliance", "600"]
    assert code in booted.wait_for_file("/boot/firmware/appliance-setup-code.txt", present=True)
    prompt = booted.wait_for_file("/etc/issue.d/appliance-console-note.issue", present=True)
    fingerprint = booted.run("/opt/appliance/bin/python", "-c", (
        "from pathlib import Path; from appliance.certificate import current;"
        "print(current(Path('/var/lib/appliance')).fingerprint)")).stdout.strip()
    assert len(fingerprint) == 95 and fingerprint in prompt and code in prompt
    console = booted.run("journalctl", "--no-pager", "-u", "appliance-console-note.service").stdout
    assert code in console and fingerprint in console


def test_an_administrators_appliance_command_writes_as_the_service_user(booted: BootedImage) -> None:
    created = booted.run("appliance", "user", "create", "owner@example.com", "--admin", "--password-stdin",
                         stdin="a long enough password\n")
    assert created.returncode == 0, created.stderr
    # The console is the box in hand: no code needed, and the code is void now, the card's copy gone.
    booted.wait_for_file("/boot/firmware/appliance-setup-code.txt", present=False)
    assert "setup code" not in booted.wait_for_file("/etc/issue.d/appliance-console-note.issue", present=True)
    owners = booted.run("find", "/var/lib/appliance", "-mindepth", "1", "-printf", "%u\n").stdout.split()
    assert owners and set(owners) == {"appliance"}


def test_systemd_restarts_a_killed_appliance(booted: BootedImage) -> None:
    before = booted.wait_for_service("running", timeout=60, ActiveState="active", SubState="running")
    booted.run("systemctl", "kill", "--kill-whom=main", "--signal=SIGKILL", "appliance.service")
    after = booted.wait_for_service("restarted", timeout=90, ActiveState="active", SubState="running",
                                    NRestarts=str(int(before["NRestarts"]) + 1))
    assert after["MainPID"] != before["MainPID"]
    assert booted.http_status("/login") in (200, 302)


def test_systemds_watchdog_restarts_a_hung_appliance(booted: BootedImage) -> None:
    before = booted.wait_for_service("running", timeout=60, ActiveState="active", SubState="running")
    # A process that no longer runs at all: no thread left to feed the watchdog.
    booted.run("systemctl", "kill", "--kill-whom=main", "--signal=SIGSTOP", "appliance.service")
    after = booted.wait_for_service("restarted", timeout=90, ActiveState="active", SubState="running",
                                    NRestarts=str(int(before["NRestarts"]) + 1))
    assert after["MainPID"] != before["MainPID"]
    journal = booted.run("journalctl", "--no-pager", "-u", "appliance.service", "-o", "json").stdout
    messages = [json.loads(line).get("MESSAGE", "") for line in journal.splitlines()]
    assert any("Watchdog timeout" in str(message) for message in messages)
