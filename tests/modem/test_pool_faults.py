"""Sixteen emulated modems of mixed vendors under one appliance; every fault heals by itself.

Each fault kind hits its own modem while all sixteen receive traffic. The appliance (pool, sessions,
health job, ingest) runs as in production, in this process; only intervals are shortened. A fault
counts as healed when its modem is read again, within 10 s of the fault's cause going away; at the
end every message sent is stored exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.config import Settings
from appliance.db.models import Message
from appliance.modem.emulator.emulator import Emulator
from appliance.modem.session import ModemState, ModemStatus
from appliance.runtime import Appliance

RECOVERY_SECONDS = 10.0
PERSONALITIES = ("huawei", "simcom", "quectel")


class Shelf:
    def __init__(self, tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]) -> None:
        self.emulator = Emulator(tmp_path / "emulator", seed=9, urc_interval=5.0)
        for n in range(16):
            self.emulator.add_modem(PERSONALITIES[n % 3])
        self.links = {m["id"]: str(m["link"]) for m in self.emulator.modems()}
        self.iccids = {m["id"]: str(m["iccid"]) for m in self.emulator.modems()}
        self.sessions = session_factory
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        settings = Settings(data_dir=tmp_path / "data", database_url=database_url,
                            modems=list(self.links.values()), health_seconds=2, storage_poll_seconds=30,
                            at_timeout_seconds=2.0, sim_pins={self.iccids[8]: "4321"})
        self.appliance = Appliance(settings, serve_http=False)

    def status(self, modem_id: int) -> ModemStatus | None:
        link = self.links[modem_id]
        return next((s for s in self.appliance.pool.statuses() if s.port == link), None)

    def ready(self, modem_id: int) -> bool:
        status = self.status(modem_id)
        return status is not None and status.state is ModemState.READY

    def send(self, modem_id: int, count: int = 1) -> None:
        for _ in range(count):
            with self._lock:
                n = len(self.sent)
                message = (f"+48700{n:06d}", f"modem {modem_id} message {n}")
                self.sent.append(message)
            self.emulator.deliver_sms(modem_id, *message)

    def stored(self) -> list[tuple[str | None, str | None]]:
        with self.sessions() as session:
            return [(sender, text) for sender, text in session.execute(select(Message.sender, Message.text))]

    def stop(self) -> None:
        self.appliance.stop()
        self.emulator.stop()


def within(seconds: float, condition: Callable[[], object], what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {seconds} s")


@pytest.mark.slow
def test_sixteen_mixed_modems_heal_from_every_fault_without_losing_a_message(
        tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]) -> None:
    shelf = Shelf(tmp_path, database_url, session_factory)
    healed: dict[str, float] = {}
    try:
        shelf.appliance.start()
        within(30, lambda: all(shelf.ready(m) for m in range(1, 17)), "all 16 modems ready")
        for modem_id in range(1, 17):
            shelf.send(modem_id, 2)

        # 1 unplug, replugged 3 s later on a new tty; 2 replug at once.
        shelf.emulator.fault(1, "unplug")
        shelf.emulator.fault(2, "replug")
        # 3 stops answering for 5 s; 4 sends line noise.
        shelf.emulator.fault(3, "hang", seconds=5)
        shelf.emulator.fault(4, "garbage", length=300)
        # 5 fills its storage without announcing messages; the network holds what does not fit.
        shelf.emulator.fault(5, "drop_cmti")
        # 6 loses its SIM for 3 s; 8 restarts asking for the PIN the settings hold.
        shelf.emulator.fault(6, "no_sim")
        shelf.emulator.fault(8, "pin_required", attempts=3, pin="4321")
        # 9 weak signal, 10 registration denied, both for 3 s.
        shelf.emulator.fault(9, "weak_signal", rssi=2, seconds=3)
        shelf.emulator.fault(10, "registration_denied", seconds=3)
        fault_time = time.monotonic()
        for modem_id in (1, 3, 4, 6, 8, 11):
            shelf.send(modem_id, 2)  # arrive while faulty
        capacity = len(shelf.emulator.stored(5)) + 40
        shelf.send(5, capacity)

        time.sleep(3)
        shelf.emulator.fault(1, "replug")
        shelf.emulator.fault(6, "sim_back")
        cause_gone = time.monotonic()
        healed["unplug"] = within(RECOVERY_SECONDS, lambda: shelf.ready(1), "modem 1 after replug")
        healed["replug"] = within(RECOVERY_SECONDS, lambda: shelf.ready(2), "modem 2 after replug")
        healed["no_sim"] = within(RECOVERY_SECONDS, lambda: shelf.ready(6), "modem 6 after its SIM came back")
        healed["pin_required"] = within(RECOVERY_SECONDS, lambda: shelf.ready(8), "modem 8 unlocked")
        healed["weak_signal"] = within(
            RECOVERY_SECONDS, lambda: (shelf.status(9) or ModemStatus("", ModemState.FAILED)).signal_dbm not in
            (None, -113 + 2 * 2), "modem 9 signal back")
        healed["registration_denied"] = within(
            RECOVERY_SECONDS, lambda: (shelf.status(10) or ModemStatus("", ModemState.FAILED)).registration == "home",
            "modem 10 registered again")
        hang_over = fault_time + 5
        healed["hang"] = within(RECOVERY_SECONDS - max(0.0, time.monotonic() - hang_over),
                                lambda: shelf.ready(3), "modem 3 after the hang")
        healed["garbage"] = within(RECOVERY_SECONDS, lambda: shelf.ready(4), "modem 4 after line noise")
        healed["storage_full"] = within(RECOVERY_SECONDS, lambda: shelf.emulator.pending(5) == 0
                                        and shelf.emulator.stored(5) == [], "modem 5 storage drained")
        assert time.monotonic() - cause_gone < 4 * RECOVERY_SECONDS

        for modem_id in range(1, 17):
            shelf.send(modem_id, 1)
        within(30, lambda: len(shelf.stored()) >= len(shelf.sent), "every message stored")
    finally:
        shelf.stop()

    stored = shelf.stored()
    assert [key for key, count in Counter(stored).items() if count > 1] == []
    assert sorted(stored) == sorted(shelf.sent)
    assert all(seconds <= RECOVERY_SECONDS for seconds in healed.values()), healed


def test_a_sim_moved_to_another_modem_keeps_its_access_number_and_history(
        tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]) -> None:
    from appliance.db.models import AccessNumber, Modem
    from appliance.representation import msisdns_by_iccid

    emulator = Emulator(tmp_path / "emulator", seed=4)
    emulator.add_modem("huawei")
    emulator.add_modem("quectel")
    links = {m["id"]: str(m["link"]) for m in emulator.modems()}
    sim_a = str(emulator.modems()[0]["iccid"])
    with session_factory.begin() as session:
        session.add(AccessNumber(number="+48500100100", iccid=sim_a, kind="dedicated"))
    appliance = Appliance(Settings(data_dir=tmp_path / "data", database_url=database_url,
                                   modems=list(links.values()), health_seconds=2, at_timeout_seconds=2.0),
                          serve_http=False)

    def messages() -> list[Message]:
        with session_factory() as session:
            return list(session.scalars(select(Message).order_by(Message.id)))

    try:
        appliance.start()
        emulator.deliver_sms(1, "+48600100200", "przed przełożeniem karty")
        within(15, lambda: len(messages()) == 1, "the first message")
        emulator.fault(1, "move_sim", to=2, swap=True)
        emulator.deliver_sms(2, "+48600100200", "po przełożeniu karty")
        within(15, lambda: len(messages()) == 2, "the message through the other modem")
        within(15, lambda: any(s.iccid == sim_a and s.port == links[2] and s.state is ModemState.READY
                               for s in appliance.pool.statuses()), "SIM A known on modem 2's port")
    finally:
        appliance.stop()
        emulator.stop()

    assert [(m.iccid, m.text) for m in messages()] == [(sim_a, "przed przełożeniem karty"),
                                                       (sim_a, "po przełożeniu karty")]
    with session_factory() as session:
        assert msisdns_by_iccid(session, [sim_a]) == {sim_a: "+48500100100"}
        assert session.scalar(select(Modem.port).where(Modem.iccid == sim_a)) == links[2]
