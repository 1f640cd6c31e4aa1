"""A full shelf: 32 emulated modems in one process, answering, and idle without hogging a core."""

from __future__ import annotations

import json
import time

from appliance.modem.emulator.emulator import run_emulator

IDLE_CPU_LIMIT = 0.02  # share of one core an idle shelf may take (measured: about 0.005)


def test_32_modems_run_in_one_process_and_cost_next_to_nothing_when_idle(tmp_path, at_port) -> None:
    emulator = run_emulator(32, 0, tmp_path)  # periodic URCs on, as `appliance emulate` runs them
    try:
        listed = json.loads((tmp_path / "modems.json").read_text())
        assert [modem["id"] for modem in listed] == list(range(1, 33))
        assert len({modem["port"] for modem in listed}) == 32
        assert len({modem["iccid"] for modem in listed}) == 32
        for modem_id in (1, 16, 32):
            assert at_port(emulator.port(modem_id)).ok("ATE0;+CGMI")
        time.sleep(0.3)
        cpu, wall = time.process_time(), time.monotonic()
        time.sleep(2.0)
        share = (time.process_time() - cpu) / (time.monotonic() - wall)
        assert share < IDLE_CPU_LIMIT, f"32 idle modems took {share:.1%} of a core"
    finally:
        emulator.stop()
