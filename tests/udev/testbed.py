"""A umockdev testbed for hotplug tests: USB modems plugged and unplugged while our code watches.

umockdev's preload library makes libudev (so pyudev) see a fake /sys and /dev, and delivers the
uevents its testbed synthesises. The testbed itself is driven through umockdev's GObject API, which
only Debian's python3 can import (python3-gi), not the project's virtualenv. So this file is two
things:

- run as a script under Debian's python3 (started by ``UmockdevTestbed``), it is the *driver*: it
  owns the ``UMockdev.Testbed``, reads JSON commands on stdin (plug, unplug) and answers on stdout;
- imported by the tests (venv python, no gi), ``UmockdevTestbed`` starts the driver and gives
  ``child_env()`` for the program under test, which runs under ``umockdev-wrapper`` in the same
  testbed.

A recorded tty is a pty in the testbed that nobody answers on (umockdev backs terminal devices with
one): a port that stays silent, as a modem's diagnostics port does. A bridge points such a node at
an AT emulator's pty instead, so the code under test opens ``/dev/ttyUSB2`` of the recorded modem
with its own serial code and talks AT to the emulator. umockdev's preload hands every ioctl on such
a node to the testbed; the driver runs them on the real pty (umockdev alone refuses TIOCINQ, which
pyserial's ``in_waiting`` needs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

DEVICES = Path(__file__).parent / "devices"
DEBIAN_PYTHON = "/usr/bin/python3"
INSTALL_HINT = ("umockdev is needed for the hotplug and udev rules tests: "
                "apt-get install umockdev gir1.2-umockdev-1.0 python3-gi")


def umockdev_problem() -> str | None:
    """None when umockdev and its Python binding are usable, else what is missing (with the fix)."""
    for tool in ("umockdev-wrapper", "umockdev-run", "udevadm"):
        if shutil.which(tool) is None:
            return f"{tool} not found. {INSTALL_HINT}"
    if not Path(DEBIAN_PYTHON).exists():
        return f"{DEBIAN_PYTHON} not found. {INSTALL_HINT}"
    check = subprocess.run([DEBIAN_PYTHON, "-c", "import gi; gi.require_version('UMockdev', '1.0'); "
                            "from gi.repository import UMockdev"], capture_output=True, text=True)
    if check.returncode != 0:
        return f"the UMockdev GObject binding does not load ({check.stderr.strip()[-200:]}). {INSTALL_HINT}"
    return None


def device_records(text: str) -> list[tuple[str, str]]:
    """(sysfs path, record text) of each device in a umockdev description, in file order."""
    records = []
    for block in text.strip().split("\n\n"):
        block = block.strip()
        if block:
            first = block.splitlines()[0]
            if not first.startswith("P: "):
                raise ValueError(f"a device record starts with 'P: ', not {first!r}")
            records.append(("/sys" + first[3:].strip(), block + "\n"))
    return records


def renumber_ttys(text: str, offset: int) -> str:
    """The same devices with ttyUSB<n>/ttyACM<n> as <n + offset>, as a replug gives when the old
    numbers are still taken (umockdev cannot reuse a tty node name within one testbed either)."""
    if not offset:
        return text
    records = []
    for _, record in device_records(text):
        record = re.sub(r"tty(USB|ACM)(\d+)", lambda m: f"tty{m[1]}{int(m[2]) + offset}", record)
        if "E: SUBSYSTEM=tty\n" in record:
            record = re.sub(r"^E: MINOR=(\d+)$", lambda m: f"E: MINOR={int(m[1]) + offset}", record, flags=re.M)
            record = re.sub(r"^A: dev=(\d+):(\d+)$", lambda m: f"A: dev={m[1]}:{int(m[2]) + offset}", record,
                            flags=re.M)
        records.append(record)
    return "\n".join(records)


def without_our_rules(text: str) -> str:
    """A recording as it looks where 77-appliance-modems.rules is not installed."""
    text = re.sub(r"^E: (ID_MM_DEVICE_IGNORE|APPLIANCE_MODEM_VENDOR)=.*\n", "", text, flags=re.M)
    text = re.sub(r"^S: gsm/.*\n", "", text, flags=re.M)
    return re.sub(r" /dev/gsm/\S+", "", text)


class UmockdevTestbed:
    """The driver process and its testbed; ``close()`` ends both (and every bridge)."""

    def __init__(self) -> None:
        self._driver = subprocess.Popen(
            ["umockdev-wrapper", DEBIAN_PYTHON, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        hello = self._reply()
        self.root = hello["root"]

    def _reply(self) -> dict:
        assert self._driver.stdout is not None
        line = self._driver.stdout.readline()
        if not line:
            raise RuntimeError(f"umockdev testbed driver ended (exit {self._driver.wait(5)})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"umockdev testbed driver: {reply['error']}")
        return reply

    def _call(self, **command: object) -> dict:
        assert self._driver.stdin is not None
        self._driver.stdin.write(json.dumps(command) + "\n")
        self._driver.stdin.flush()
        return self._reply()

    def plug(self, name: str, *, tty_offset: int = 0, bridges: dict[str, str] | None = None,
             without_our_rules: bool = False) -> list[str]:
        """Add the devices of ``devices/<name>.umockdev`` not present yet (the shared hub and host
        controller are), parents first, each with its "add" uevent. ``bridges`` (devnode: emulator
        pty) are made as each tty appears, before anyone can open it. ``without_our_rules``: the
        device as a system without 77-appliance-modems.rules shows it. Returns the sysfs paths."""
        return self._call(op="plug", file=str(DEVICES / f"{name}.umockdev"), tty_offset=tty_offset,
                          bridges=bridges or {}, without_our_rules=without_our_rules)["added"]

    def unplug(self, name: str) -> list[str]:
        """Remove what ``plug(name)`` added, children first, each after its "remove" uevent."""
        return self._call(op="unplug", file=str(DEVICES / f"{name}.umockdev"))["removed"]

    def child_env(self) -> dict[str, str]:
        return {**os.environ, "UMOCKDEV_DIR": self.root}

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run with umockdev's preload library, so it sees this testbed."""
        return ["umockdev-wrapper", *argv]

    def close(self) -> None:
        if self._driver.poll() is None:
            try:
                self._call(op="quit")
            except (RuntimeError, OSError, ValueError):
                pass
            try:
                self._driver.wait(5)
            except subprocess.TimeoutExpired:
                self._driver.kill()
                self._driver.wait()
        for stream in (self._driver.stdin, self._driver.stdout):
            if stream is not None:
                stream.close()


# ---- the driver (Debian's python3, under umockdev-wrapper) ---------------------------------------

def _driver() -> None:  # pragma: no cover - runs in the driver process
    import contextlib

    try:
        import gi

        gi.require_version("UMockdev", "1.0")
        from gi.repository import GLib, UMockdev
    except (ImportError, ValueError) as exc:
        print(json.dumps({"error": f"{exc}. {INSTALL_HINT}"}), flush=True)
        return

    class RealIoctls(UMockdev.IoctlBase):
        """Runs a tty's ioctls on the real pty. umockdev's default handler refuses the ones it does
        not emulate, TIOCINQ among them, which pyserial's ``in_waiting`` needs."""

        def do_handle_ioctl(self, client: UMockdev.IoctlClient) -> bool:
            result, error = client.execute()
            client.complete(result, error)
            return True

    testbed = UMockdev.Testbed.new()
    root = testbed.get_root_dir()
    print(json.dumps({"root": root}), flush=True)
    plugged: dict[str, list[str]] = {}
    links: dict[str, list[str]] = {}
    ttys: dict[str, tuple[str, UMockdev.IoctlBase]] = {}  # sysfs path: devnode, its ioctl handler

    def bridge(devnode: str, target: str) -> None:
        # The node umockdev made is a symlink to its pty; point it at the emulator's instead.
        if testbed.get_dev_fd(devnode) < 0:
            raise ValueError(f"{devnode} is no tty of the testbed")
        node = os.path.join(root, devnode.lstrip("/"))
        os.unlink(node)
        os.symlink(target, node)

    def plug(command: dict) -> dict:
        text = renumber_ttys(Path(command["file"]).read_text(), command["tty_offset"])
        records = device_records(without_our_rules(text) if command["without_our_rules"] else text)
        added = []
        for sys_path, record in reversed(records):  # a record lists children first
            if os.path.exists(os.path.join(root, sys_path.lstrip("/"))):
                continue
            devnode = re.search(r"^N: (.+)$", record, flags=re.M)
            if devnode and "E: SUBSYSTEM=tty\n" in record:
                name = f"/dev/{devnode[1]}"
                handler = RealIoctls()
                testbed.attach_ioctl(name, handler)  # before the device (and its "add" uevent) exists
                ttys[sys_path] = (name, handler)
                testbed.add_from_string(record)
                # Microseconds after its uevent; discovery waits for ports to settle before opening any.
                if name in command["bridges"]:
                    bridge(name, command["bridges"][name])
            else:
                testbed.add_from_string(record)  # emits the "add" uevent
            added.append(sys_path)
            links[sys_path] = re.findall(r"^S: (.+)$", record, flags=re.M)
        plugged[command["file"]] = added
        return {"added": added}

    def unplug(command: dict) -> dict:
        # The modem is the deepest USB device of the description; its hub and host stay.
        added = plugged.pop(command["file"], [])
        usb_devices = [path for path, record in device_records(Path(command["file"]).read_text())
                       if "E: DEVTYPE=usb_device\n" in record]
        modem = max(usb_devices, key=len)
        removed = []
        for sys_path in reversed(added):
            if sys_path != modem and not sys_path.startswith(modem + "/"):
                continue
            testbed.uevent(sys_path, "remove")  # needs the device still there
            if sys_path in ttys:
                testbed.detach_ioctl(ttys.pop(sys_path)[0])
            testbed.remove_device(sys_path)
            for link in links.pop(sys_path, []):  # as udev drops a removed device's links
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(root, "dev", link))
            removed.append(sys_path)
        return {"removed": removed}

    # The ioctl handlers run in GLib's main loop, so commands arrive through it too.
    loop = GLib.MainLoop()
    pending = b""

    def on_command(fd: int, _condition: object) -> bool:
        nonlocal pending
        data = os.read(fd, 65536)
        if not data:
            loop.quit()
            return False
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            command = json.loads(line)
            try:
                if command["op"] == "quit":
                    reply: dict = {}
                    loop.quit()
                elif command["op"] == "plug":
                    reply = plug(command)
                elif command["op"] == "unplug":
                    reply = unplug(command)
                else:
                    raise ValueError(f"unknown op {command['op']!r}")
            except Exception as exc:  # noqa: BLE001 - reported to the test, which fails with it
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(reply), flush=True)
        return True

    GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP,
                      on_command)
    try:
        loop.run()
    finally:
        for name, _ in ttys.values():
            testbed.detach_ioctl(name)
        # A testbed with ioctl handlers attached is not finalised at exit; its directory would stay.
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    _driver()
