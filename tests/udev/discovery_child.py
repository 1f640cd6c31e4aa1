"""Discovery and probing as the pool wires them, in a process of their own, reporting JSON lines.

Run under umockdev-wrapper (see testbed.py) so pyudev sees the testbed: every callback of
``UdevDiscovery`` becomes one line on stdout; each added modem is probed on a worker thread, as the
pool does, and its ``ProbeResult`` becomes a "probed" line. A line "quit" on stdin ends it.

    python -m tests.udev.discovery_child --cache FILE [--settle S] [--timeout T]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from appliance.modem.discovery import DeviceIssue, SerialCandidate, UdevDiscovery
from appliance.modem.probe import PortChoiceCache, PortProber


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--settle", type=float, default=0.3)
    parser.add_argument("--timeout", type=float, default=1.5)
    options = parser.parse_args()

    lock = threading.Lock()

    def emit(event: str, **fields: object) -> None:
        with lock:
            print(json.dumps({"event": event, **fields}, default=str), flush=True)

    prober = PortProber(PortChoiceCache(options.cache), timeout=options.timeout)
    workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="probe")

    def probe(candidate: SerialCandidate) -> None:
        result = prober.probe(candidate)
        emit("probed", usb_path=candidate.usb_path, usb_id=candidate.usb_id,
             at_port=result.at_port.devnode if result.at_port else None, from_cache=result.from_cache,
             manufacturer=result.manufacturer,
             probes=[{"devnode": p.devnode, "status": p.status, "role": p.role, "interface": p.interface_number,
                      "detail": p.detail}
                     for p in result.probes],
             issues=[issue.kind.value for issue in result.issues])

    def added(candidate: SerialCandidate) -> None:
        emit("added", candidate=asdict(candidate))
        workers.submit(probe, candidate)

    def issue(found: DeviceIssue) -> None:
        emit("issue", kind=found.kind.value, usb_path=found.usb_path, what=found.what, remedy=found.remedy)

    discovery = UdevDiscovery(settle_seconds=options.settle)
    discovery.start(on_added=added, on_removed=lambda usb_path: emit("removed", usb_path=usb_path),
                    on_issue=issue)
    emit("ready")
    for line in sys.stdin:
        if line.strip() == "quit":
            break
    discovery.stop()
    workers.shutdown(wait=True)
    emit("stopped")


if __name__ == "__main__":
    main()
