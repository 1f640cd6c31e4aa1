"""The appliance at line rate on 1, 8, 16 and 32 emulated modems.

Line rate: the bench keeps every modem's SMS centre from running dry (a message goes to the network
for a modem whenever nothing is waiting there for it), so the network delivers as fast as the
appliance empties the SIM storage: the storage stays full and the appliance's reading speed is
the limit. Personalities cycle Huawei, SIMCom, Quectel. ``appliance run`` (SQLite) runs as its own
process with a URL forward target; the emulator and the webhook receiver run in the bench.

``--rate N`` feeds N messages a second instead, spread over the modems in turn: traffic as real modems
see it (each takes an SMS every few seconds at most), for the memory of the appliance in normal use.

Per modem count, over ``--seconds`` of line rate after a warm-up (one message per modem, waited
for): messages stored per second (in the database) and forwarded per second (webhook received); backlog, sent but not yet handled, sampled
every 0.25 s; latency from the network delivering a message's last part to the modem to the message
being stored (the appliance's ``received_at``) and to its webhook arriving, p50/p99; CPU of the appliance process as
a share of one core. Then feeding stops and the appliance gets ``--drain-timeout`` seconds to
forward what it stored: its RSS then and its peak (VmHWM); lost (sent, never stored), unforwarded
(stored, no webhook by then) and duplicated webhooks are counted. RSS is also read once after the
warm-up, every modem connected and nothing queued ("idle"), and with ``--panel`` once more at the
end, a minute after an admin signed in and opened every page of the panel's menu (bench/panel_visit.py).

    PYTHONPATH=. .venv/bin/python bench/scale.py [--modems 1 8 16 32] [--seconds 30] [--rate 5] [--python PATH] [--panel]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.modem.emulator.emulator import Emulator, run_emulator  # noqa: E402
from bench.compare import stop_on_sigterm  # noqa: E402
from bench.latencies import latency_summary  # noqa: E402
from bench.panel_visit import visit_panel  # noqa: E402
from bench.pool import cpu_seconds, memory_kib  # noqa: E402
from bench.receivers import ApplianceReceiver, Handled, digits  # noqa: E402
from bench.traffic import DeliveryClock, Sms, endless_traffic, send, wait_until  # noqa: E402

# After the panel visit, RSS is read once the appliance's once-a-minute heap trim has run: before it,
# the pages' freed memory is still held by malloc (about 5 MiB more).
PANEL_SETTLE_SECONDS = 65.0


class LineRateFeeder:
    """Sends a modem its next message whenever the network holds nothing for it, until stopped; or,
    with a ``rate``, that many messages a second, to one modem after the other."""

    def __init__(self, emulator: Emulator, rate: float | None = None) -> None:
        self._emulator = emulator
        self._rate = rate
        self._streams = {m["id"]: endless_traffic(m["id"]) for m in emulator.modems()}
        self.sent: list[Sms] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="line-rate feeder", daemon=True)

    def send_one_each(self) -> None:
        for stream in self._streams.values():
            sms = next(stream)
            self.sent.append(sms)
            send(self._emulator, [sms])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        if self._rate:
            self._run_at_rate(self._rate)
            return
        while not self._stopping.wait(0.01):
            for modem, stream in self._streams.items():
                if self._emulator.pending(modem) == 0:
                    sms = next(stream)
                    self.sent.append(sms)
                    send(self._emulator, [sms])

    def _run_at_rate(self, rate: float) -> None:
        due = time.monotonic()
        while True:
            for stream in self._streams.values():
                due += 1 / rate
                if self._stopping.wait(max(0.0, due - time.monotonic())):
                    return
                sms = next(stream)
                self.sent.append(sms)
                send(self._emulator, [sms])


def run(modems: int, seconds: float, drain_timeout: float, rate: float | None = None,
        python: str = sys.executable, panel: bool = False) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-scale-{modems}-"))
    emulator = run_emulator(modems=modems, control_port=0, state_dir=workdir / "emulator")
    appliance = ApplianceReceiver(python, panel)
    try:
        clock = DeliveryClock(emulator)
        feeder = LineRateFeeder(emulator, rate)
        appliance.start(emulator, workdir / "appliance")
        feeder.send_one_each()
        if not wait_until(lambda: appliance.handled_count() >= modems, 120, step=0.2):
            raise SystemExit(f"the appliance did not forward a first message from each of {modems} modems "
                             f"within 120 s; see {workdir}/appliance/appliance.log")
        idle = memory_kib(appliance.pid)
        backlog: list[int] = []
        cpu_before, handled_before = cpu_seconds(appliance.pid), appliance.handled_count()
        stored_before = appliance.stored_count()
        started = time.monotonic()
        feeder.start()
        while time.monotonic() - started < seconds:
            time.sleep(0.25)
            backlog.append(len(feeder.sent) - appliance.handled_count())
        feeder.stop()
        elapsed = time.monotonic() - started
        cpu_used, handled_during = cpu_seconds(appliance.pid) - cpu_before, appliance.handled_count() - handled_before
        stored_during = appliance.stored_count() - stored_before
        wait_until(lambda: appliance.handled_count() >= len(feeder.sent), drain_timeout, step=0.5)
        time.sleep(1.0)  # a late duplicate
        memory = memory_kib(appliance.pid)
        if panel:
            visit_panel(appliance.panel_url, appliance.PANEL_EMAIL, appliance.PANEL_PASSWORD)
            time.sleep(PANEL_SETTLE_SECONDS)
            after_panel = memory_kib(appliance.pid)
        handled = appliance.handled()
        stored_at = appliance.stored_at()
    finally:
        appliance.stop()
        emulator.stop()
    first: dict[str, Handled] = {}
    for webhook in sorted(handled, key=lambda h: h.at):
        first.setdefault(webhook.sender, webhook)
    delivered = {digits(s.sender): moment for s in feeder.sent if (moment := clock.delivered_at(s)) is not None}
    to_webhook = [(first[sender].at - moment) * 1000 for sender, moment in delivered.items() if sender in first]
    to_store = [(stored_at[sender] - moment) * 1000 for sender, moment in delivered.items() if sender in stored_at]
    copies = Counter(webhook.sender for webhook in handled)
    return {"modems": modems, "sent": len(feeder.sent), "stored_per_s": stored_during / elapsed,
            "per_s": handled_during / elapsed,
            "backlog_max": max(backlog, default=0), "backlog_mean": sum(backlog) / max(1, len(backlog)),
            **latency_summary(to_webhook), "stored_p50_ms": latency_summary(to_store)["p50_ms"],
            "stored_p99_ms": latency_summary(to_store)["p99_ms"], "cpu_percent": 100 * cpu_used / elapsed,
            "idle_rss_mib": idle.get("VmRSS", 0) / 1024, "rss_mib": memory.get("VmRSS", 0) / 1024, "peak_rss_mib": memory.get("VmHWM", 0) / 1024,
            "panel_rss_mib": after_panel["VmRSS"] / 1024 if panel else float("nan"),
            "lost": sum(digits(s.sender) not in stored_at for s in feeder.sent),
            "unforwarded": sum(digits(s.sender) in stored_at and digits(s.sender) not in first for s in feeder.sent),
            "duplicated": sum(count - 1 for count in copies.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modems", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of line rate per modem count")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=None, help="messages a second over all modems (default: line rate)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter that runs the appliance, with its dependencies (default: this one)")
    parser.add_argument("--panel", action="store_true",
                        help="at the end, sign in and open every panel page, and read RSS once more")
    args = parser.parse_args()
    stop_on_sigterm()
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("modems   sent stored/s forwarded/s backlog max/mean  stored p50/p99 ms  webhook p50/p99/max ms"
          "  CPU %  RSS MiB idle/end (peak)  after panel  lost  unforwarded  dup")
    for count in args.modems:
        r = run(count, args.seconds, args.drain_timeout, args.rate, args.python, args.panel)
        print(f"{r['modems']:6d} {r['sent']:6d} {r['stored_per_s']:8.1f} {r['per_s']:11.1f} {r['backlog_max']:8d}/{r['backlog_mean']:<7.1f}"
              f" {r['stored_p50_ms']:8.1f}/{r['stored_p99_ms']:<8.1f} {r['p50_ms']:7.0f}/{r['p99_ms']:.0f}/{r['max_ms']:<6.0f}"
              f" {r['cpu_percent']:6.1f}"
              f" {r['idle_rss_mib']:7.1f}/{r['rss_mib']:<6.1f} ({r['peak_rss_mib']:5.1f}) {r['panel_rss_mib']:11.1f}"
              f" {r['lost']:5d} {r['unforwarded']:12d}"
              f" {r['duplicated']:4d}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
