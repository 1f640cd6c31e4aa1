"""No message lost, none stored twice, while the appliance is SIGKILLed again and again.

1,000 messages (a fifth multipart, a third UCS-2) go to 4 emulated modems while ``appliance run``
runs as a real process and is killed with SIGKILL at random moments, at least 20 times, and started
again. Afterwards every message is stored exactly once and every modem's storage is empty.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import Message
from appliance.modem.emulator.emulator import Emulator
from tests.support.appliance_process import ApplianceProcess

MESSAGES = 1000
KILLS = 20


def expected_messages(seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    plain = "Order nr 12 for Tuesday, thanks "
    polish = "zażółć gęślą jaźń 😀 ŻÓŁW "
    result = []
    for n in range(MESSAGES):
        alphabet = polish if n % 3 == 0 else plain
        length = rng.randint(200, 450) if n % 5 == 0 else rng.randint(3, 60)
        text = "".join(rng.choice(alphabet) for _ in range(length)).strip() or "x"
        result.append((f"+48600{n:06d}", text))
    return result


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
        tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]) -> None:
    emulator = Emulator(tmp_path / "emulator", seed=3)
    for personality in ("huawei", "simcom", "quectel", "huawei"):
        emulator.add_modem(personality)
    links = [str(m["link"]) for m in emulator.modems()]
    appliance = ApplianceProcess(tmp_path / "data", tmp_path / "appliance.log", links,
                                 {"APPLIANCE_DATABASE_URL": database_url})
    expected = expected_messages()
    rng = random.Random(11)

    def traffic() -> None:
        for n, (sender, text) in enumerate(expected):
            emulator.deliver_sms(n % 4 + 1, sender, text)
            time.sleep(rng.uniform(0.0, 0.03))

    sender_thread = threading.Thread(target=traffic)
    try:
        appliance.start()
        sender_thread.start()
        while appliance.kills < KILLS or sender_thread.is_alive():
            time.sleep(rng.uniform(0.4, 2.5))  # up to start-up, mid-read, mid-commit, mid-delete
            appliance.kill()
            appliance.start()
        sender_thread.join()

        def settled() -> bool:
            with session_factory() as session:
                count = len(session.scalars(select(Message.id)).all())
            return count >= MESSAGES and all(emulator.stored(m) == [] and emulator.pending(m) == 0
                                             for m in range(1, 5))

        deadline = time.monotonic() + 120
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        appliance.stop()
        emulator.stop()

    with session_factory() as session:
        stored = [(m.sender, m.text, m.status) for m in session.scalars(select(Message))]
    assert appliance.kills >= KILLS
    duplicates = [key for key, count in Counter((s, t) for s, t, _ in stored).items() if count > 1]
    assert duplicates == [], f"stored twice: {duplicates[:5]}"
    assert {status for _, _, status in stored} == {"unmatched"}
    missing = set(expected) - {(s, t) for s, t, _ in stored}
    assert missing == set(), f"{len(missing)} lost, e.g. {sorted(missing)[:3]}"
    assert len(stored) == MESSAGES
    for modem_id in range(1, 5):
        assert emulator.stored(modem_id) == [], f"modem {modem_id} storage not empty"
