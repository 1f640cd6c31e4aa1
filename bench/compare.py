"""This appliance against Debian's gammu-smsd and smstools3's smsd, on the same modems and traffic.

Each system gets a fresh set of emulated modems (the same personalities, identities and storage
sizes: one Huawei E3372, one SIMCom SIM800 and one Quectel EC25 by default) and the same workload:
``--messages`` SMS, a fifth of them multipart and a third UCS-2 with Polish letters and emoji, the
first ``--stored`` already on the SIMs before the receiver starts, the rest arriving in bursts of
``--burst`` every ``--interval`` seconds once the receiver has had ``--warmup`` seconds to start.
The network delivers a burst as fast as the modems' storage takes it and holds the rest, as an SMSC
does. How each receiver is set up, and why, is in bench/receivers.py and docs/performance.md.

Per system: messages whose handler saw exactly the text sent (multipart joined), garbled (a
handler ran but never with the whole text), stuck (no handler run by the end of the run, but still on
a modem or held by the network), lost (no handler run and gone), duplicated (the whole text handled
more than once); time to drain (last burst sent to last message handled); latency from the
network delivering a message's last part to the modem to its handler running, p50/p99 (messages
already stored at start are left out); CPU seconds of the receiver's processes and the children they
reaped (the peers' per-message handlers), and without those, over the whole run; peak RSS summed
over its long-lived processes, and their PSS at the end. Then ratios ours/theirs.

    PYTHONPATH=. .venv/bin/python bench/compare.py [--systems appliance gammu-smsd smstools]
        [--messages 1000] [--stored 30] [--modems 3] [--burst 100] [--interval 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.modem.emulator.emulator import run_emulator  # noqa: E402
from bench.latencies import latency_summary  # noqa: E402
from bench.receivers import RECEIVERS, Handled, Receiver, digits  # noqa: E402
from bench.traffic import DeliveryClock, Sms, build_workload, bursts, send, senders_left, wait_until  # noqa: E402

OURS = "appliance"


@dataclass
class Outcome:
    system: str
    messages: int
    correct: int
    garbled: int
    stuck: int  # not handled, still on a modem or at the network when the run ended
    lost: int  # not handled, and gone from modems and network: deleted unread
    duplicated: int
    drain_seconds: float | None  # last burst sent to last message handled; None: not within the bound
    stored_read_seconds: float | None  # receiver start to the last message stored before it
    p50_ms: float
    p99_ms: float
    max_ms: float
    per_modem: dict[str, dict[str, float]]  # latency by modem personality
    cpu_seconds: float
    own_cpu_seconds: float
    peak_rss_mib: float
    pss_mib: float
    processes: int


def first_runs(handled: list[Handled]) -> dict[str, list[Handled]]:
    """Handler runs by sender, earliest first."""
    runs: dict[str, list[Handled]] = defaultdict(list)
    for run in sorted(handled, key=lambda h: h.at):
        runs[run.sender].append(run)
    return runs


def judge(system: str, workload: list[Sms], handled: list[Handled], left: set[str], clock: DeliveryClock,
          started: float, last_burst: float, personalities: list[str]) -> dict[str, object]:
    """Correct, garbled, stuck, lost, duplicated, latencies and drain time from what the handler saw
    (and, for what it did not see, from what is still ``left`` on the modems and at the network)."""
    runs = first_runs(handled)
    correct = garbled = stuck = lost = duplicated = 0
    delays_ms: list[float] = []
    by_personality: dict[str, list[float]] = defaultdict(list)
    for sms in workload:
        got = runs.get(digits(sms.sender), [])
        if not got:
            stuck += sms.sender in left
            lost += sms.sender not in left
            continue
        whole = [run for run in got if run.text == sms.text]
        correct += bool(whole)
        garbled += not whole
        duplicated += max(0, len(whole) - 1)
        delivered = clock.delivered_at(sms)
        if not sms.stored and delivered is not None:
            delays_ms.append((got[0].at - delivered) * 1000)
            by_personality[personalities[(sms.modem - 1) % len(personalities)]].append(delays_ms[-1])
    last = max((runs[digits(s.sender)][0].at for s in workload if runs.get(digits(s.sender))), default=None)
    stored = [runs[digits(s.sender)][0].at for s in workload if s.stored and runs.get(digits(s.sender))]
    all_stored = len(stored) == sum(s.stored for s in workload)
    return {"system": system, "messages": len(workload), "correct": correct, "garbled": garbled,
            "stuck": stuck, "lost": lost, "duplicated": duplicated,
            "drain_seconds": last - last_burst if stuck + lost == 0 and last is not None else None,
            "stored_read_seconds": max(stored) - started if stored and all_stored else None,
            **{key: value for key, value in latency_summary(delays_ms).items() if key != "mean_ms"},
            "per_modem": {name: latency_summary(delays) for name, delays in sorted(by_personality.items())}}


def everything_handled(receiver: Receiver, workload: list[Sms]) -> bool:
    senders = {run.sender for run in receiver.handled()}
    return all(digits(sms.sender) in senders for sms in workload)


def run_system(system: str, workload: list[Sms], args: argparse.Namespace) -> Outcome:
    """One receiver on fresh emulated modems, bounded in time; its processes are gone on return."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-compare-{system}-"))
    emulator = run_emulator(modems=args.modems, control_port=0, state_dir=workdir / "emulator",
                            personalities=args.personalities)
    receiver: Receiver = RECEIVERS[system]()
    try:
        clock = DeliveryClock(emulator)
        send(emulator, [sms for sms in workload if sms.stored])
        if not wait_until(lambda: all(emulator.pending(m["id"]) == 0 for m in emulator.modems()), 10):
            raise SystemExit("the messages meant to be stored before start do not fit the SIM storage: "
                             "lower --stored")
        started = time.time()
        (workdir / system).mkdir()
        receiver.start(emulator, workdir / system)
        time.sleep(args.warmup)
        first_burst = time.time()
        for number, burst in enumerate(bursts(workload, args.burst)):
            time.sleep(max(0.0, first_burst + number * args.interval - time.time()))
            send(emulator, burst)
        last_burst = time.time()
        wait_until(lambda: everything_handled(receiver, workload), args.drain_timeout, step=1.0)
        time.sleep(args.settle)  # a late duplicate
        usage = receiver.usage()
        handled = receiver.handled()
        receiver.stop()  # before looking at the storage: a receiver must not read it meanwhile
        verdict = judge(system, workload, handled, senders_left(emulator), clock, started, last_burst,
                        args.personalities)
    finally:
        receiver.stop()
        emulator.stop()
    print(f"  {system}: logs and spool in {workdir}", file=sys.stderr)
    return Outcome(**verdict, cpu_seconds=usage.cpu_seconds, own_cpu_seconds=usage.own_cpu_seconds,
                   peak_rss_mib=usage.peak_rss_kib / 1024,
                   pss_mib=usage.pss_kib / 1024, processes=usage.processes)


def seconds_text(value: float | None, bound: float) -> str:
    return f"{value:8.1f}" if value is not None else f"  >{bound:5.0f}"


def print_table(outcomes: list[Outcome], bound: float) -> None:
    print("system       correct  garbled stuck* lost  dup  drain s  stored s   p50 ms    p99 ms    max ms"
          "   CPU s (own)  RSS MiB  PSS MiB  procs")
    for o in outcomes:
        print(f"{o.system:12s} {o.correct:4d}/{o.messages:<4d} {o.garbled:5d} {o.stuck:5d} {o.lost:5d}"
              f" {o.duplicated:4d}"
              f" {seconds_text(o.drain_seconds, bound)} {seconds_text(o.stored_read_seconds, bound)}"
              f" {o.p50_ms:8.1f} {o.p99_ms:9.1f} {o.max_ms:9.1f} {o.cpu_seconds:7.1f} ({o.own_cpu_seconds:4.1f}) {o.peak_rss_mib:7.1f}"
              f" {o.pss_mib:8.1f} {o.processes:5d}")
        print(" " * 13 + "p50/p99 ms by modem: " + ", ".join(
            f"{name} {summary['p50_ms']:.0f}/{summary['p99_ms']:.0f}" for name, summary in o.per_modem.items()))
    print(f"*stuck: not handled {bound:.0f} s after the last burst, still on a modem or at the network")


def print_ratios(outcomes: list[Outcome]) -> None:
    """ours/theirs: below 1 is better for us (latency, CPU, memory, drain time)."""
    ours = next((o for o in outcomes if o.system == OURS), None)
    if ours is None:
        return
    for theirs in (o for o in outcomes if o.system != OURS):
        drain = (f"{ours.drain_seconds / theirs.drain_seconds:.2f}"
                 if ours.drain_seconds and theirs.drain_seconds else "n/a")
        print(f"ours/{theirs.system}: latency p50 {ours.p50_ms / theirs.p50_ms:.4f}"
              f" (1/{theirs.p50_ms / ours.p50_ms:.0f}), p99 {ours.p99_ms / theirs.p99_ms:.4f}"
              f" (1/{theirs.p99_ms / ours.p99_ms:.0f}), CPU {ours.cpu_seconds / theirs.cpu_seconds:.2f}"
              f" (own {ours.own_cpu_seconds / max(theirs.own_cpu_seconds, 0.01):.2f}),"
              f" RSS {ours.peak_rss_mib / theirs.peak_rss_mib:.2f}, drain {drain},"
              f" correct {ours.correct} vs {theirs.correct}")


def stop_on_sigterm() -> None:
    """A SIGTERM unwinds like Ctrl-C, so every receiver and emulator is stopped on the way out."""
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="+", choices=list(RECEIVERS), default=list(RECEIVERS))
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--stored", type=int, default=30, help="messages already on the SIMs at start")
    parser.add_argument("--modems", type=int, default=3)
    parser.add_argument("--personalities", nargs="+", default=["huawei", "simcom", "quectel"])
    parser.add_argument("--burst", type=int, default=100, help="messages per burst")
    parser.add_argument("--interval", type=float, default=20.0, help="seconds between bursts")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds from start to the first burst")
    parser.add_argument("--drain-timeout", type=float, default=600.0,
                        help="seconds after the last burst to wait for every message")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait for late duplicates")
    parser.add_argument("--json", type=Path, help="write the outcomes here too")
    args = parser.parse_args()
    stop_on_sigterm()
    workload = build_workload(args.messages, args.modems, args.stored)
    print(f"{args.messages} messages ({sum(s.parts > 1 for s in workload)} multipart,"
          f" {sum(not s.text.isascii() for s in workload)} UCS-2, {sum(s.parts for s in workload)} parts),"
          f" {args.stored} stored before start, bursts of {args.burst} every {args.interval:g} s,"
          f" {args.modems} modems ({', '.join(args.personalities)}); load average {os.getloadavg()[0]:.2f}",
          flush=True)
    outcomes = []
    for system in args.systems:
        outcomes.append(run_system(system, workload, args))
        print_table(outcomes[-1:], args.drain_timeout)
    print()
    print_table(outcomes, args.drain_timeout)
    print_ratios(outcomes)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")


if __name__ == "__main__":
    main()
