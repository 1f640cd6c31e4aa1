"""The modem pool at line rate: 1, 4, 16 and 32 emulated modems, each receiving about one SMS a second.

The emulator (``appliance emulate``) and the appliance (``appliance run``, SQLite) run as separate
processes, so the CPU and memory printed are the appliance's alone. Messages go in through the
emulator's control API; latency is from that request to the moment the appliance stored the
message (its ``received_at``, taken when the storing transaction starts, so the commit's own 1-3 ms
are not in it); backlog is what was sent but not stored yet, sampled every 0.25 s.

    .venv/bin/python bench/pool.py [--modems 1 4 16 32] [--seconds 20] [--rate 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latencies import latency_summary  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def memory_kib(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def post(url: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def run(modems: int, seconds: float, rate: float) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-pool-{modems}-"))
    control = free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "emulate", "--modems", str(modems), "--control-port", str(control),
         "--state-dir", str(workdir / "emulator")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    listing = workdir / "emulator" / "modems.json"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not listing.exists() or len(json.loads(listing.read_text())) < modems):
        time.sleep(0.1)
    links = [m["link"] for m in json.loads(listing.read_text())]
    database = workdir / "data" / "appliance.db"
    env = {**os.environ, "APPLIANCE_DATA_DIR": str(workdir / "data"), "APPLIANCE_MODEMS": json.dumps(links),
           "APPLIANCE_HTTP_PORT": "0", "APPLIANCE_HTTPS_PORT": "0", "APPLIANCE_LOG_LEVEL": "WARNING"}
    appliance = subprocess.Popen([sys.executable, "-m", "appliance.cli", "run"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with sqlite3.connect(database) as db:
                    ready = db.execute("SELECT count(*) FROM modems WHERE state = 'ready'").fetchone()[0]
                if ready == modems:
                    break
            except sqlite3.Error:
                pass
            time.sleep(0.2)
        sent: dict[int, float] = {}
        backlog_samples: list[int] = []
        stop_sampling = threading.Event()

        def stored_count() -> int:
            with sqlite3.connect(database) as db:
                return db.execute("SELECT count(*) FROM messages").fetchone()[0]

        def sample() -> None:
            while not stop_sampling.wait(0.25):
                backlog_samples.append(len(sent) - stored_count())

        sampler = threading.Thread(target=sample)
        sampler.start()
        cpu_before = cpu_seconds(appliance.pid)
        started = time.monotonic()
        rng = random.Random(modems)
        n = 0
        total_rate = rate * modems
        next_send = started
        while time.monotonic() - started < seconds:
            next_send += rng.expovariate(total_rate)
            pause = next_send - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent[n] = time.time()
            text = "line rate probe " + "x" * rng.randint(1, 100)
            post(f"http://127.0.0.1:{control}/modems/{n % modems + 1}/sms", {"from": f"+48600{n:06d}", "text": text})
            n += 1
        send_phase = time.monotonic() - started
        cpu_used = cpu_seconds(appliance.pid) - cpu_before
        backlog_at_end = len(sent) - stored_count()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stored_count() < len(sent):
            time.sleep(0.1)
        stop_sampling.set()
        sampler.join()
        memory = memory_kib(appliance.pid)
        with sqlite3.connect(database) as db:
            rows = db.execute("SELECT sender, received_at FROM messages").fetchall()
        latencies = []
        for sender, received_at in rows:
            moment = datetime.fromisoformat(received_at)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            latencies.append((moment.timestamp() - sent[int(sender[-6:])]) * 1000)
        return {"modems": modems, "sent": len(sent), "stored": len(rows), "rate": len(sent) / send_phase,
                **latency_summary(latencies),
                "backlog_max": max(backlog_samples, default=0), "backlog_end": backlog_at_end,
                "cpu_percent": 100 * cpu_used / send_phase, "rss_mib": memory.get("VmRSS", 0) / 1024,
                "peak_rss_mib": memory.get("VmHWM", 0) / 1024}
    finally:
        for process in (appliance, emulator):
            process.send_signal(signal.SIGTERM)
        for process in (appliance, emulator):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modems", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=1.0, help="SMS per second per modem")
    args = parser.parse_args()
    print("modems  sent  stored  msg/s   p50 ms   p99 ms   max ms  backlog max/end  CPU %  RSS MiB (peak)")
    for count in args.modems:
        r = run(count, args.seconds, args.rate)
        print(f"{r['modems']:6d} {r['sent']:5d} {r['stored']:7d} {r['rate']:6.1f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f}"
              f" {r['max_ms']:8.1f}  {r['backlog_max']:7d}/{r['backlog_end']:<7d} {r['cpu_percent']:6.1f}"
              f"  {r['rss_mib']:6.1f} ({r['peak_rss_mib']:.1f})", flush=True)


if __name__ == "__main__":
    main()
