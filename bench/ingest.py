"""Reception throughput and latency.

1. decode+persist: PDUs (a fifth of the messages multipart, a third UCS-2) handed to the ingest
   writer by 4 threads in +CMGL-sized batches, as 4 modem sessions do; messages/s and PDUs/s on
   SQLite (synchronous=FULL, WAL) and on PostgreSQL. Run it with ``taskset -c 0`` for one core.
2. +CMTI→committed latency: 4 emulated modems on ptys, real modem sessions, messages sent through
   the emulator; latency from the emulator queuing the PDU (it sends +CMTI at once) to the commit
   that made the message durable, p50/p99.

    taskset -c 0 .venv/bin/python bench/ingest.py [--messages 5000] [--latency-messages 400]
                                                  [--batches 1 10 25 50] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.codecs.sms_pdu import encode_sms_deliver  # noqa: E402
from appliance.db.engine import make_engine, make_session_factory  # noqa: E402
from appliance.db.migrate import upgrade  # noqa: E402
from appliance.reception.ingest import IngestWriter  # noqa: E402
from appliance.reception.store import MessageStore, ReceivedPdu  # noqa: E402
from bench.latencies import latency_summary  # noqa: E402

ICCIDS = [f"894806100012345678{n:02d}" for n in range(4)]


def workload(count: int, seed: int = 1) -> tuple[list[list[ReceivedPdu]], int]:
    """Per-modem PDU lists; returns (lists, number of messages)."""
    rng = random.Random(seed)
    per_modem: list[list[ReceivedPdu]] = [[] for _ in ICCIDS]
    when = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for n in range(count):
        modem = n % len(ICCIDS)
        ucs2 = n % 3 == 0
        multipart = n % 5 == 0
        alphabet = "zażółć gęślą jaźń 😀 " if ucs2 else "Hello world order nr "
        length = rng.randint(200, 400) if multipart else rng.randint(5, 60)
        text = "".join(rng.choice(alphabet) for _ in range(length))
        sender = f"+48600{n:06d}"
        for pdu in encode_sms_deliver(sender, text, when + timedelta(seconds=n), concat_reference=n % 256):
            per_modem[modem].append(ReceivedPdu(ICCIDS[modem], pdu, "SM", len(per_modem[modem]) % 50))
    return per_modem, count


def throughput(database_url: str, count: int, batch: int = 10) -> dict[str, float]:
    upgrade(database_url)
    engine = make_engine(database_url)
    store = MessageStore(make_session_factory(engine), partial_timeout=timedelta(hours=24))
    writer = IngestWriter(store)
    writer.start()
    per_modem, messages = workload(count)
    pdus = sum(len(items) for items in per_modem)

    def session(items: list[ReceivedPdu]) -> None:
        for start in range(0, len(items), batch):
            writer.store(items[start:start + batch])

    threads = [threading.Thread(target=session, args=(items,)) for items in per_modem]
    started = time.perf_counter()
    cpu_started = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    writer.stop()
    engine.dispose()
    return {"messages": messages, "pdus": pdus, "seconds": elapsed, "cpu_seconds": cpu,
            "messages_per_s": messages / elapsed, "pdus_per_s": pdus / elapsed}



def latency(count: int) -> dict[str, float]:
    from appliance.modem.emulator.emulator import run_emulator
    from appliance.modem.pool import ModemPool
    from appliance.modem.registry import ModemRegistry

    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    store = MessageStore(sessions, partial_timeout=timedelta(hours=24))
    committed: dict[int, float] = {}
    from appliance.db.models import Message

    def on_stored(ids: list[int]) -> None:
        now = time.perf_counter()
        with sessions() as session:
            for message in session.query(Message).filter(Message.id.in_(ids)):
                committed[int(message.sender[-6:])] = now

    writer = IngestWriter(store, on_stored=on_stored)
    writer.start()
    emulator = run_emulator(modems=4, control_port=0, state_dir=workdir / "emu")
    ports = [modem["port"] for modem in emulator.modems()]
    pool = ModemPool(ports, writer, ModemRegistry(sessions).record, at_timeout=5, poll_seconds=30, sim_pins={})
    pool.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(s.state.value == "ready" for s in pool.statuses()):
        time.sleep(0.1)
    sent: dict[int, float] = {}
    rng = random.Random(2)
    for n in range(count):
        modem_id = emulator.modems()[n % 4]["id"]
        sent[n] = time.perf_counter()
        emulator.deliver_sms(modem_id, f"+48600{n:06d}", "latency probe " + "x" * rng.randint(1, 40))
        time.sleep(rng.uniform(0.0, 0.02))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(committed) < count:
        time.sleep(0.05)
    pool.stop()
    emulator.stop()
    writer.stop()
    engine.dispose()
    delays = [(committed[n] - sent[n]) * 1000 for n in sent if n in committed]
    return {"sent": count, "committed": len(delays), **latency_summary(delays)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--latency-messages", type=int, default=400)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 10, 25, 50],
                        help="PDUs each emulated session hands over per +CMGL")
    parser.add_argument("--postgres-url", default=os.environ.get("APPLIANCE_BENCH_POSTGRES_URL"))
    args = parser.parse_args()

    # A session hands over what one +CMGL listed: a few PDUs under light load, up to the whole SIM
    # storage (20-50 slots) at line rate. The writer merges what 4 sessions hand over meanwhile.
    for batch in args.batches:
        with tempfile.TemporaryDirectory() as workdir:
            result = throughput(f"sqlite:///{workdir}/bench.db", args.messages, batch)
        print(f"sqlite     batch {batch:3d}: {result['messages_per_s']:7.0f} msg/s {result['pdus_per_s']:7.0f} PDU/s"
              f"  ({result['messages']} messages, {result['pdus']} PDUs in {result['seconds']:.2f} s,"
              f" CPU {result['cpu_seconds']:.2f} s; target >= 2000 msg/s: ratio {result['messages_per_s'] / 2000:.2f})")
    postgres_url = args.postgres_url
    cluster = None
    if not postgres_url:
        from tests.support.postgres import ThrowawayCluster

        cluster = ThrowawayCluster(durable=True)
        postgres_url = cluster.start()
    try:
        from tests.support.databases import PostgresDatabases

        databases = PostgresDatabases(postgres_url)
        for batch in args.batches:
            result = throughput(databases.create(), args.messages, batch)
            print(f"postgresql batch {batch:3d}: {result['messages_per_s']:7.0f} msg/s {result['pdus_per_s']:7.0f} PDU/s"
                  f"  ({result['seconds']:.2f} s, CPU {result['cpu_seconds']:.2f} s)")
        databases.dispose()
    finally:
        if cluster is not None:
            cluster.stop()
    if args.latency_messages:
        lat = latency(args.latency_messages)
        print(f"+CMTI->committed, 4 emulated modems: p50 {lat['p50_ms']:.1f} ms  p99 {lat['p99_ms']:.1f} ms"
              f"  max {lat['max_ms']:.1f} ms  ({lat['committed']}/{lat['sent']} committed;"
              f" target p99 < 50 ms, ratio {lat['p99_ms'] / 50:.2f})")


if __name__ == "__main__":
    main()
