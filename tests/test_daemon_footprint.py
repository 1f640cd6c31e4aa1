"""What a running ``appliance run`` holds in memory (issue 9: under 80 MB with 16 modems).

Libraries the daemon must not load however it is used: not at start, and not later when it forwards
a message or fetches an MMS. Each is checked in a real daemon process, from its own ``sys.modules``
written as it exits.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from appliance.modem.emulator.emulator import run_emulator
from tests.support.http_receiver import HttpReceiver

# `appliance run` as the unit starts it, its sys.modules written to a file when it exits.
RUN_RECORDING_MODULES = """
import atexit, runpy, sys
config, modules_file = sys.argv[1:]
atexit.register(lambda: open(modules_file, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = ["appliance", "run", "--config", config]
runpy.run_module("appliance.cli", run_name="__main__")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_the_daemon_never_loads_requests(tmp_path: Path) -> None:
    """requests costs ~4.6 MiB resident, 2.6 of it charset_normalizer guessing encodings; webhooks and
    MMS fetches go out on urllib3 alone."""
    emulator = run_emulator(modems=1, control_port=0, state_dir=tmp_path / "emulator", mmsc_port=0)
    [modem] = emulator.modems()
    mmsc = emulator.mmsc.describe()
    port = _free_port()
    config = tmp_path / "appliance.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nhttp_port = {port}\nhttps_port = 0\n'
                      f'modems = ["{emulator.port(modem["id"])}"]\nudev_discovery = false\nmms_bearer = "lan"\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith("APPLIANCE_")}
    token = subprocess.run([sys.executable, "-m", "appliance.cli", "token", "create", "footprint", "--admin",
                            "--config", str(config)], env=env, capture_output=True, text=True, check=True).stdout.strip()
    modules_file = tmp_path / "modules.txt"
    log = tmp_path / "daemon.log"
    with log.open("w") as log_file:
        daemon = subprocess.Popen([sys.executable, "-c", RUN_RECORDING_MODULES, str(config), str(modules_file)],
                                  env=env, stdout=log_file, stderr=subprocess.STDOUT)

    def api(method: str, path: str, body: dict[str, object] | None = None) -> object:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as refused:
            raise AssertionError(f"{method} {path}: {refused.code} {refused.read().decode()}") from refused

    def modem_ready() -> bool:
        try:
            modems = api("GET", "/modems")["items"]  # type: ignore[index]
        except OSError:
            return daemon.poll() is not None  # ended: said below
        return any(m["state"] == "ready" for m in modems)

    try:
        with HttpReceiver() as webhooks:
            _wait_until(modem_ready, "the daemon's modem ready")
            assert daemon.poll() is None, log.read_text()
            account = api("POST", "/accounts", {"name": "Kwiaciarnia"})
            api("POST", "/access-numbers", {
                "number": modem["msisdn"], "iccid": modem["iccid"], "kind": "dedicated",
                "account": account["id"], "mms_enabled": True,  # type: ignore[index]
                "mmsc_url": mmsc["url"], "mms_proxy": mmsc["proxy"], "mms_apn": "mms"})
            api("POST", "/forward-targets", {"account": account["id"], "kind": "url",  # type: ignore[index]
                                             "url": webhooks.url + "hooks/sms", "secret": "footprint-webhook-secret"})
            emulator.deliver_sms(1, "+48600100200", "Poproszę bukiet róż")
            emulator.deliver_mms(1, "+48600100200", [("image/jpeg", "bukiet.jpg", b"\xff\xd8 bukiet \xff\xd9")])
            _wait_until(lambda: len(webhooks.requests) >= 2, "the webhooks of the text and of the fetched MMS")
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        emulator.stop()

    assert daemon.returncode == 0, log.read_text()
    loaded = modules_file.read_text().split()
    assert "urllib3.poolmanager" in loaded and "appliance.mms.fetch" in loaded, "not the daemon that forwarded"
    assert [name for name in loaded if name.split(".")[0] in ("requests", "charset_normalizer")] == []
