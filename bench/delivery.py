"""Forwarding throughput and latency, to a real local HTTP server.

1. deliveries/s: N messages of one account already stored with their outbox rows; one outbox worker
   (then two) sends them as JSON webhooks to a local receiver answering 200; deliveries per second
   on SQLite (synchronous=FULL, WAL) and on PostgreSQL.
2. +CMTI→webhook received: 4 emulated modems on ptys, real modem sessions, the real store and outbox,
   messages sent through the emulator at Poisson-distributed moments, ``--rates`` messages/s;
   latency from the emulator queuing the PDU (it sends +CMTI at once) to the receiver having read the
   webhook's body, p50/p99 (target p99 < 100 ms). Everything, the receiver included, shares the CPU
   it is given.

    taskset -c 0 .venv/bin/python bench/delivery.py [--messages 2000] [--latency-messages 300]
                                                    [--rates 10 100] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.db.engine import make_engine, make_session_factory  # noqa: E402
from appliance.db.migrate import upgrade  # noqa: E402
from appliance.db.models import AccessNumber, Account, Delivery, ForwardTarget, Message  # noqa: E402
from appliance.delivery.channels import WebhookChannel  # noqa: E402
from appliance.delivery.outbox import OutboxWorker, enqueue_for_messages  # noqa: E402
from bench.latencies import latency_summary  # noqa: E402
from tests.support.http_receiver import HttpReceiver  # noqa: E402


def _account_with_target(sessions, url: str) -> int:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        account = Account(name="Bench")
        session.add(account)
        session.flush()
        session.add(ForwardTarget(account_id=account.id, name="receiver", kind="url", address=url,
                                  secret=secrets.token_urlsafe(32), download_token=secrets.token_urlsafe(32)))
        return account.id


def throughput(database_url: str, count: int, workers: int, workdir: Path) -> dict[str, float]:
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with HttpReceiver() as receiver:
        account = _account_with_target(sessions, receiver.url + "hook")
        with sessions.begin() as session:
            rows = [Message(iccid="8948000000000000001", sender=f"+48600{n:06d}", text=f"Zamówienie {n}",
                            status="routed", account_id=account, received_at=datetime.now(UTC))
                    for n in range(count)]
            session.add_all(rows)
            session.flush()
            enqueue_for_messages(session, [m.id for m in rows])
        outboxes = [OutboxWorker(sessions, {"url": WebhookChannel(workdir / "ca")}, "http://appliance.bench/",
                                 batch=100) for _ in range(workers)]

        def drain(worker: OutboxWorker) -> None:
            while worker.run_due():
                pass

        threads = [threading.Thread(target=drain, args=(w,)) for w in outboxes]
        started, cpu = time.perf_counter(), time.process_time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        delivered = len(receiver.requests)
    with sessions() as session:
        pending = session.query(Delivery).filter(Delivery.status != "delivered").count()
    engine.dispose()
    return {"delivered": delivered, "not_delivered": pending, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "per_s": delivered / seconds}


def latency(count: int, rate: float) -> dict[str, float]:
    from appliance.modem.emulator.emulator import run_emulator
    from appliance.modem.pool import ModemPool
    from appliance.modem.registry import ModemRegistry
    from appliance.reception.ingest import IngestWriter
    from appliance.reception.store import MessageStore

    workdir = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    emulator = run_emulator(modems=4, control_port=0, state_dir=workdir / "emu")
    with HttpReceiver() as receiver:
        account = _account_with_target(sessions, receiver.url + "hook")
        with sessions.begin() as session:
            for modem in emulator.modems():
                session.add(AccessNumber(number=str(modem["msisdn"]), iccid=str(modem["iccid"]), kind="dedicated",
                                         account_id=account))
        outbox = OutboxWorker(sessions, {"url": WebhookChannel(workdir / "ca")}, "http://appliance.bench/")
        writer = IngestWriter(MessageStore(sessions, partial_timeout=timedelta(hours=24)),
                              on_stored=lambda _ids: outbox.wake())
        writer.start()
        outbox.start()
        pool = ModemPool([m["port"] for m in emulator.modems()], writer, ModemRegistry(sessions).record,
                         at_timeout=5, poll_seconds=30, sim_pins={})
        pool.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(s.state.value == "ready" for s in pool.statuses()):
            time.sleep(0.1)
        # perf_counter and the receiver's time.time() differ by a constant; measured once here.
        offset = time.time() - time.perf_counter()
        sent: dict[str, float] = {}
        rng = random.Random(2)
        for n in range(count):
            sender = f"+48600{n:06d}"
            sent[sender] = time.perf_counter() + offset
            emulator.deliver_sms(n % 4 + 1, sender, "latency probe " + "x" * rng.randint(1, 40))
            time.sleep(rng.expovariate(rate))  # Poisson arrivals at ``rate`` messages/s
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(receiver.requests) < count:
            time.sleep(0.05)
        received = {json.loads(r.body)["message"]["sender"]: r.received_at for r in list(receiver.requests)}
        pool.stop()
        writer.stop()
        outbox.stop()
    emulator.stop()
    engine.dispose()
    delays = [(received[s] - sent[s]) * 1000 for s in sent if s in received]
    return {"sent": count, "received": len(delays), **latency_summary(delays)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency-messages", type=int, default=300)
    # A GSM modem takes an SMS every few seconds at best: 4 modems flat out are under 4 messages/s.
    # 10/s is the design load; 100/s a burst the 4 emulated modems can produce and real ones cannot.
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 100.0])
    parser.add_argument("--postgres-url", default=os.environ.get("APPLIANCE_BENCH_POSTGRES_URL"))
    args = parser.parse_args()

    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as workdir:
            result = throughput(f"sqlite:///{workdir}/bench.db", args.messages, workers, Path(workdir))
        print(f"sqlite     {workers} worker(s): {result['per_s']:6.0f} webhooks/s ({result['delivered']} in "
              f"{result['seconds']:.2f} s, CPU {result['cpu_seconds']:.2f} s, {result['not_delivered']} left)")
    postgres_url = args.postgres_url
    cluster = None
    if not postgres_url:
        from tests.support.postgres import ThrowawayCluster

        cluster = ThrowawayCluster(durable=True)
        postgres_url = cluster.start()
    try:
        from tests.support.databases import PostgresDatabases

        databases = PostgresDatabases(postgres_url)
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as workdir:
                result = throughput(databases.create(), args.messages, workers, Path(workdir))
            print(f"postgresql {workers} worker(s): {result['per_s']:6.0f} webhooks/s ({result['delivered']} in "
                  f"{result['seconds']:.2f} s, CPU {result['cpu_seconds']:.2f} s, {result['not_delivered']} left)")
        databases.dispose()
    finally:
        if cluster is not None:
            cluster.stop()
    for rate in args.rates if args.latency_messages else []:
        lat = latency(args.latency_messages, rate)
        print(f"+CMTI->webhook received, 4 emulated modems, {rate:g} msg/s: p50 {lat['p50_ms']:.1f} ms"
              f"  p99 {lat['p99_ms']:.1f} ms  max {lat['max_ms']:.1f} ms  ({lat['received']}/{lat['sent']} received;"
              f" target p99 < 100 ms, ratio {lat['p99_ms'] / 100:.2f})")


if __name__ == "__main__":
    main()
