"""Realism: Debian's gammu talks to the emulated modems as to real ones.

CI installs gammu; a missing gammu fails these tests rather than skipping them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

IDENTIFY = {1: "E3372", 2: "SIMCOM_SIM800", 3: "EC25"}
MANUFACTURER = {1: "Huawei", 2: "SIMCOM_Ltd", 3: "Quectel"}
LONG_TEXT = " ".join(f"word{n:03d}" for n in range(30))  # 239 GSM characters: two parts
POLISH_TEXT = "Zażółć gęślą jaźń — Łódź, Kraków"


def post_sms(emulator, modem_id: int, sender: str, text: str) -> int:
    """POST /modems/{id}/sms; returns the number of parts."""
    request = urllib.request.Request(
        f"{emulator.control_url}/modems/{modem_id}/sms",
        data=json.dumps({"from": sender, "text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["parts"]


def gammu() -> str:
    path = shutil.which("gammu")
    if path is None:
        pytest.fail("gammu is not installed (apt-get install gammu); the realism tests need it")
    return path


def gammurc(tmp_path: Path, emulator, modem_id: int) -> Path:
    rc = tmp_path / f"gammurc{modem_id}"
    rc.write_text(
        "[gammu]\n"
        f"device = {emulator.port(modem_id)}\n"
        "connection = at\n"
        f"logfile = {tmp_path / f'gammu{modem_id}.log'}\n"
        "logformat = textall\n"
    )
    return rc


def run_on_every_modem(tmp_path: Path, emulator, *args: str) -> dict[int, str]:
    """Run `gammu -c rc <args>` on modems 1..3 at once; their outputs by modem id."""
    environment = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    processes = {
        modem_id: subprocess.Popen(
            [gammu(), "-c", str(gammurc(tmp_path, emulator, modem_id)), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        for modem_id in IDENTIFY
    }
    outputs = {}
    for modem_id, process in processes.items():
        try:
            out, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        text = out.decode("utf-8", "replace")
        log = tmp_path / f"gammu{modem_id}.log"
        assert process.returncode == 0, (
            f"gammu {args} on modem {modem_id} failed:\n{text}\n{log.read_text()[-3000:]}"
        )
        outputs[modem_id] = text
    return outputs


def test_gammu_identify_shows_the_emulated_identity(emulator, tmp_path) -> None:
    outputs = run_on_every_modem(tmp_path, emulator, "--identify")
    for info in emulator.modems():
        out = outputs[info["id"]]
        assert f"IMEI                 : {info['imei']}" in out, out
        assert f"SIM IMSI             : {info['imsi']}" in out, out
        assert f"Manufacturer         : {MANUFACTURER[info['id']]}" in out, out
        assert IDENTIFY[info["id"]] in out, out


def test_gammu_getallsms_prints_what_the_control_api_delivered(emulator, tmp_path, wait_for) -> None:
    for modem_id in IDENTIFY:
        assert post_sms(emulator, modem_id, "+48601234567", "Hello from the emulator") == 1
        assert post_sms(emulator, modem_id, "+48601234567", LONG_TEXT) == 2
        assert post_sms(emulator, modem_id, "Orange", POLISH_TEXT) == 1
    for modem_id in IDENTIFY:
        wait_for(lambda m=modem_id: len(emulator.stored(m)) == 4, what=f"modem {modem_id} to store 4 parts")

    outputs = run_on_every_modem(tmp_path, emulator, "getallsms")
    for out in outputs.values():
        assert "Hello from the emulator" in out, out
        assert "part 1 of 2" in out and "part 2 of 2" in out, out
        assert LONG_TEXT[:120] in out and LONG_TEXT[-60:] in out, out
        assert POLISH_TEXT in out, out
        assert "Unicode" in out, "the Polish text travels as UCS-2"
        assert "4 SMS parts in 4 SMS sequences" in out, out


def test_gammu_sendsms_reaches_the_network_through_cmgs(emulator, tmp_path) -> None:
    text = "Dzień dobry! " * 12  # 156 characters of UCS-2: a concatenated set of three
    outputs = run_on_every_modem(
        tmp_path,
        emulator,
        "sendsms",
        "TEXT",
        "+48600100200",
        "-unicode",
        "-autolen",
        str(len(text)),
        "-text",
        text,
    )
    for modem_id, out in outputs.items():
        assert "OK, message reference=" in out, out
        sent = emulator.sent(modem_id)
        assert {sms["to"] for sms in sent} == {"+48600100200"}
        assert "".join(sms["text"] for sms in sent) == text
