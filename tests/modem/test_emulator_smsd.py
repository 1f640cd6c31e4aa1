"""Realism: smstools' smsd receives from and sends through an emulated modem.

CI installs smstools; a missing smsd fails this test rather than skipping it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

SMSD = "/usr/sbin/smsd"
LONG_TEXT = " ".join(f"word{n:03d}" for n in range(30))  # two parts, joined again by smsd
POLISH_TEXT = "Zażółć gęślą jaźń — Łódź"


def smsd() -> str:
    path = shutil.which("smsd") or (SMSD if os.access(SMSD, os.X_OK) else None)
    if path is None:
        pytest.fail("smsd is not installed (apt-get install smstools); the realism tests need it")
    return path


def smsd_config(base: Path, device: str, memory_start: int) -> Path:
    """Everything smsd writes stays under `base`. `memory_start` is the first storage index: 1 for
    SIMCom, 0 for Huawei and Quectel (smsd's default 1 would miss slot 0 on its first pass)."""
    for name in ("incoming", "outgoing", "checked", "failed", "sent"):
        (base / name).mkdir()
    config = base / "smsd.conf"
    config.write_text(
        "devices = GSM1\n"
        f"logfile = {base / 'smsd.log'}\n"
        "loglevel = 7\n"
        f"infofile = {base / 'smsd.running'}\n"
        f"pidfile = {base / 'smsd.pid'}\n"
        f"outgoing = {base / 'outgoing'}\n"
        f"checked = {base / 'checked'}\n"
        f"incoming = {base / 'incoming'}\n"
        f"failed = {base / 'failed'}\n"
        f"sent = {base / 'sent'}\n"
        "delaytime = 1\n"
        "decode_unicode_text = yes\n"
        "incoming_utf8 = yes\n"
        # no user/group: smsd keeps the invoking user (Debian's init script adds -u smsd -g dialout,
        # which could not open a root-owned pty and spool)
        "\n[GSM1]\n"
        f"device = {device}\n"
        "incoming = yes\n"
        "baudrate = 115200\n"
        f"memory_start = {memory_start}\n"
    )
    return config


def stop(process: subprocess.Popen) -> None:
    """smsd forks a modem handler: end the whole process group it leads."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("personality", ["simcom", "huawei"])
def test_smsd_receives_delivered_sms_and_sends_an_outgoing_file(
    personality, emulator_factory, tmp_path
) -> None:
    emulator = emulator_factory([personality])
    first_index = emulator.modem(1).device.personality.first_index
    base = tmp_path / "smsd"
    base.mkdir()
    config = smsd_config(base, emulator.port(1), first_index)
    emulator.deliver_sms(1, "+48601234567", "Hello smsd")
    emulator.deliver_sms(1, "+48601234567", LONG_TEXT)
    emulator.deliver_sms(1, "Orange", POLISH_TEXT)
    (base / "outgoing" / "reply").write_text("To: 48600100200\nAlphabet: UTF-8\n\nOdpowiedź z smsd")

    process = subprocess.Popen(
        [smsd(), f"-c{config}", "-t"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    texts: list[str] = []
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            texts = [path.read_text("utf-8") for path in (base / "incoming").glob("GSM1.*")]
            if len(texts) >= 3 and emulator.sent(1):
                break
            assert process.poll() is None, f"smsd exited: {(base / 'smsd.log').read_text()[-3000:]}"
            time.sleep(0.2)
    finally:
        stop(process)
    log = (base / "smsd.log").read_text("utf-8", "replace")
    assert len(texts) == 3, f"smsd wrote {len(texts)} incoming files\n{log[-4000:]}"
    bodies = sorted(text.split("\n\n", 1)[1] for text in texts)
    assert bodies == sorted(["Hello smsd", LONG_TEXT, POLISH_TEXT]), bodies
    assert any("From: 48601234567" in text for text in texts)
    info = emulator.modems()[0]
    assert all(f"IMSI: {info['imsi']}" in text for text in texts)
    sent = [(sms["to"], sms["text"]) for sms in emulator.sent(1)]
    assert sent == [("+48600100200", "Odpowiedź z smsd")], log[-3000:]
    assert len(emulator.stored(1)) == 0, "smsd deletes what it has read"
