"""The appliance's real USB wiring (udev discovery → probing → modem pool → sessions) in a process of
its own under umockdev, reporting the pool's sessions as JSON lines whenever they change.

    python -m tests.udev.pool_child --data-dir DIR

Prints {"event": "ready"} once started, then {"event": "sessions", "sessions": [{port, state, iccid}]}
on every change; a line "quit" on stdin ends it.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from appliance.config import Settings
from appliance.runtime import Appliance


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    options = parser.parse_args()
    appliance = Appliance(Settings(data_dir=options.data_dir, at_timeout_seconds=2.0), serve_http=False)
    appliance.start()
    print(json.dumps({"event": "ready"}), flush=True)
    stopping = threading.Event()

    def report() -> None:
        last = None
        while not stopping.is_set():
            sessions = sorted(({"port": s.port, "state": s.state.value, "iccid": s.iccid}
                               for s in appliance.pool.statuses()), key=lambda s: s["port"])
            if sessions != last:
                print(json.dumps({"event": "sessions", "sessions": sessions}), flush=True)
                last = sessions
            time.sleep(0.1)

    reporter = threading.Thread(target=report)
    reporter.start()
    for line in sys.stdin:
        if line.strip() == "quit":
            break
    stopping.set()
    reporter.join()
    appliance.stop()


if __name__ == "__main__":
    main()
