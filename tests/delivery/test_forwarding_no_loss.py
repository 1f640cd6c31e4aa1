"""No forward lost while the appliance is SIGKILLed during a burst and its webhook receiver fails 30 %.

500 messages go to 4 emulated modems whose SIMs are one account's dedicated numbers; the account
forwards everything to a real local HTTP server that answers 500 to 30 % of requests (seeded). The
``appliance run`` process is killed with SIGKILL at random moments and started again. Afterwards
every message reached the receiver with a 2xx at least once, and deduplicating by
``X-Appliance-Message-Id`` leaves exactly one request per message.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import AccessNumber, Account, Delivery, ForwardTarget, Message
from appliance.modem.emulator.emulator import Emulator
from tests.support.appliance_process import ApplianceProcess
from tests.support.http_receiver import HttpReceiver

MESSAGES = 500
KILLS = 8


@pytest.mark.slow
def test_sigkill_during_a_burst_with_a_flaky_receiver_delivers_every_message_once_by_key(
        tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]) -> None:
    emulator = Emulator(tmp_path / "emulator", seed=5)
    for personality in ("huawei", "quectel", "simcom", "huawei"):
        emulator.add_modem(personality)
    receiver = HttpReceiver().__enter__()  # closed in the finally below
    receiver.plan(failure_ratio=0.3, seed=7)
    with session_factory.begin() as session:
        account = Account(name="Sklep")
        session.add(account)
        session.flush()
        for modem in emulator.modems():
            session.add(AccessNumber(number=str(modem["msisdn"]), iccid=str(modem["iccid"]), kind="dedicated",
                                     account_id=account.id))
        session.add(ForwardTarget(account_id=account.id, name="CRM", kind="url", address=receiver.url + "hook",
                                  secret=secrets.token_urlsafe(32), download_token=secrets.token_urlsafe(32),
                                  timeout_seconds=2.0))
    # A 30 % failing receiver makes a long tail of retries; shorter pauses keep the test short.
    appliance = ApplianceProcess(tmp_path / "data", tmp_path / "appliance.log",
                                 [str(m["link"]) for m in emulator.modems()],
                                 {"APPLIANCE_DATABASE_URL": database_url,
                                  "APPLIANCE_FORWARD_FIRST_RETRY_SECONDS": "0.5"})
    rng = random.Random(13)

    def traffic() -> None:
        for n in range(MESSAGES):
            emulator.deliver_sms(n % 4 + 1, f"+48600{n:06d}", f"Zamówienie {n}: 3 róże")
            time.sleep(rng.uniform(0.0, 0.03))

    sender_thread = threading.Thread(target=traffic)
    try:
        appliance.start()
        sender_thread.start()
        while appliance.kills < KILLS or sender_thread.is_alive():
            time.sleep(rng.uniform(0.5, 2.5))
            appliance.kill()
            appliance.start()
        sender_thread.join()

        def settled() -> bool:
            with session_factory() as session:
                messages = len(session.scalars(select(Message.id)).all())
                statuses = set(session.scalars(select(Delivery.status)))
            return messages >= MESSAGES and statuses == {"delivered"}

        deadline = time.monotonic() + 240
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        appliance.stop()
        emulator.stop()
        receiver.close()

    with session_factory() as session:
        messages = {m.id: m.text for m in session.scalars(select(Message))}
        deliveries = list(session.scalars(select(Delivery)))
    assert appliance.kills >= KILLS
    assert len(messages) == MESSAGES
    assert len(deliveries) == MESSAGES and {d.status for d in deliveries} == {"delivered"}

    by_key: dict[str, set[int]] = defaultdict(set)
    accepted: set[str] = set()
    for request in receiver.requests:
        key = request.headers["X-Appliance-Message-Id"]
        try:
            body = json.loads(request.body)
        except ValueError:
            continue  # the appliance was killed in the middle of sending it: no receiver takes half a body
        by_key[key].add(body["message"]["id"])
        if request.status is not None and 200 <= request.status < 300:
            accepted.add(key)
    assert all(len(ids) == 1 for ids in by_key.values()), "one idempotency key, one message"
    delivered_ids = {next(iter(by_key[key])) for key in accepted}
    assert delivered_ids == set(messages), f"{len(set(messages) - delivered_ids)} messages never accepted"
    assert len(accepted) == MESSAGES  # deduplicated by key: exactly one per message
    failures = sum(1 for r in receiver.requests if r.status == 500)
    assert failures > 0.2 * MESSAGES  # the receiver really did fail about 30 % of the time
