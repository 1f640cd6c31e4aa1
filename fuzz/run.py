"""``make fuzz``: the three decoder campaigns one after another, then the reception replay.

Each campaign is its own process (libFuzzer owns the process it runs in); its libFuzzer chatter goes
to ``.state/fuzz/<family>/libfuzzer.log``, its summary to the terminal. Exits non-zero when any
campaign found a crash or the replay a failure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from fuzz.harness import STATE
from fuzz.vectors import VECTORS

CAMPAIGNS = [("sms", 1_000_000), ("wap_push", 300_000), ("mms", 200_000)]


def main() -> None:
    shutil.rmtree(VECTORS, ignore_errors=True)  # record the test vectors of the tests as they are now
    failed = []
    for family, cases in CAMPAIGNS:
        (STATE / family).mkdir(parents=True, exist_ok=True)
        (STATE / family / "summary.json").unlink(missing_ok=True)
        with open(STATE / family / "libfuzzer.log", "w") as log:
            command = [sys.executable, "-m", f"fuzz.{family}", "--cases", str(cases)]
            result = subprocess.run(command, stderr=log)
        if result.returncode:
            failed.append(family)
    if subprocess.run([sys.executable, "-m", "fuzz.reception"]).returncode:
        failed.append("reception")
    print("\nfamily      cases      seconds   cases/s   distinct crashes")
    for family, _ in CAMPAIGNS:
        path = STATE / family / "summary.json"
        if path.exists():
            summary = json.loads(path.read_text())
            print(f"{family:<10} {summary['cases']:>9,} {summary['seconds']:>9,.0f} "
                  f"{summary['cases_per_second']:>9,} {summary['distinct_crashes']:>9}")
        else:
            print(f"{family:<10} ended without a summary: see {STATE / family / 'libfuzzer.log'}")
    if failed:
        print(f"crashes or failures in: {', '.join(failed)} (inputs under {STATE}/<family>/crashes/)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
