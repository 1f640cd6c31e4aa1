"""The fault campaign (docs/reliability.md): each fault kind injected into the real ``appliance run``
process while SMS and MMS arrive and go out as webhooks and e-mails, then every message counted.

By default: 100 SIGKILLs during a 1,000-message burst (a tenth MMS), and each other fault kind
(modem unplugged, hung, garbage on the line; disk full; database locked; SMTP and webhook servers
down) injected ``--injections`` times during ``--messages`` messages. How each fault is injected and
what is counted: tests/support/fault_campaign.py. Prints a table; exits 1 when anything was lost or
duplicated, or the panel did not show a fault. ``disk_full`` mounts a tmpfs: it needs root.

    PYTHONPATH=. .venv/bin/python bench/faults.py [--kinds sigkill hang ...] [--kills 100]
        [--burst 1000] [--messages 300] [--injections 4] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.fault_campaign import FAULT_KINDS, Plan, can_mount_tmpfs, print_table, run_campaign  # noqa: E402


def plan_for(kind: str, args: argparse.Namespace) -> Plan:
    if kind == "sigkill":
        # A start takes 2-3 s, then a kill comes within 2.5 s: the burst is spread so that they all fall
        # inside it.
        return Plan(kind, messages=args.burst, injections=args.kills, traffic_seconds=args.kills * 3.0,
                    settle_seconds=600, seed=args.seed)
    # A database lock shows only once it outlasts SQLite's 30 s busy timeout.
    fault_seconds = 40.0 if kind == "db_locked" else args.fault_seconds
    return Plan(kind, messages=args.messages, injections=args.injections, fault_seconds=fault_seconds,
                traffic_seconds=args.injections * (fault_seconds + 10), settle_seconds=600, seed=args.seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", nargs="+", choices=FAULT_KINDS, default=list(FAULT_KINDS))
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--burst", type=int, default=1000, help="messages during the SIGKILLs")
    parser.add_argument("--messages", type=int, default=300, help="messages during each other fault kind")
    parser.add_argument("--injections", type=int, default=4, help="times each other fault is injected")
    parser.add_argument("--fault-seconds", type=float, default=10.0, help="how long each fault lasts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the outcomes here too")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, _frame: (_ for _ in ()).throw(KeyboardInterrupt(signum)))
    kinds = list(args.kinds)
    if "disk_full" in kinds and not can_mount_tmpfs():
        print("disk_full left out: mounting a tmpfs needs root", file=sys.stderr)
        kinds.remove("disk_full")
    workdir = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    outcomes = []
    for kind in kinds:
        outcome = run_campaign(plan_for(kind, args), workdir / kind)
        outcomes.append(outcome)
        print_table([outcome])
        for line in outcome.panel_lines:
            print(f"  panel: {line}")
        for line in outcome.log_lines:
            print(f"  log:   {line}")
        for problem in outcome.problems[:10]:
            print(f"  PROBLEM: {problem}")
        sys.stdout.flush()
    print()
    print_table(outcomes)
    print(f"logs and data in {workdir}")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2, ensure_ascii=False) + "\n")
    sys.exit(0 if all(o.passed for o in outcomes) else 1)


if __name__ == "__main__":
    main()
