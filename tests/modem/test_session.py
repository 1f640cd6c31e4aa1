"""A modem session against emulated modems: everything delivered ends up stored once, storage empty."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.codecs.sms_pdu import encode_sms_deliver
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.migrate import upgrade
from appliance.db.models import Message
from appliance.modem.emulator.emulator import Emulator
from appliance.modem.session import ModemSession, ModemState, ModemStatus
from appliance.reception.ingest import IngestWriter
from appliance.reception.store import MessageStore


def wait_for(condition: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Rig:
    """An emulator, the reception pipeline on a real database, and sessions started on demand."""

    def __init__(self, tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
        self.emulator = Emulator(tmp_path / "emulator", urc_interval=0.5)
        self.sessions = session_factory
        self.writer = IngestWriter(MessageStore(session_factory, partial_timeout=timedelta(hours=24)))
        self.writer.start()
        self.statuses: list[ModemStatus] = []
        self.modem_sessions: list[ModemSession] = []

    def session(self, modem_id: int, **options: object) -> ModemSession:
        link = str(self.emulator.modem(modem_id).info()["link"])
        session = ModemSession(link, self.writer, self.statuses.append,
                               **{"at_timeout": 2.0, "poll_seconds": 30.0, **options})  # type: ignore[arg-type]
        self.modem_sessions.append(session)
        session.start()
        wait_for(lambda: session.status.state is ModemState.READY, what=f"modem {modem_id} ready")
        return session

    def texts(self) -> list[str | None]:
        with self.sessions() as session:
            return list(session.scalars(select(Message.text).order_by(Message.id)))

    def messages(self) -> list[Message]:
        with self.sessions() as session:
            return list(session.scalars(select(Message).order_by(Message.id)))

    def stop(self) -> None:
        for session in self.modem_sessions:
            session.stop()
        self.writer.stop()
        self.emulator.stop()


@pytest.fixture
def rig(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[Rig]:
    rig = Rig(tmp_path, session_factory)
    yield rig
    rig.stop()


@pytest.mark.parametrize("personality", ["huawei", "simcom", "quectel"])
def test_a_session_identifies_the_modem_and_its_sim(rig: Rig, personality: str) -> None:
    modem = rig.emulator.add_modem(personality)
    session = rig.session(1)
    info = modem.info()
    assert (session.status.iccid, session.status.imsi, session.status.imei) == (info["iccid"], info["imsi"],
                                                                               info["imei"])
    assert session.status.msisdn == info["msisdn"] and session.status.operator == info["operator"]
    assert session.status.signal_dbm is not None


def test_messages_waiting_before_start_and_arriving_later_are_stored_once_and_deleted(rig: Rig) -> None:
    rig.emulator.add_modem("simcom")
    rig.emulator.deliver_sms(1, "+48600100200", "czekała na SIM-ie")
    wait_for(lambda: rig.emulator.stored(1), what="the SMS in SIM storage")
    rig.session(1)
    wait_for(lambda: len(rig.texts()) == 1, what="the waiting SMS")
    rig.emulator.deliver_sms(1, "+48600100300", "długa " * 60)
    rig.emulator.deliver_sms(1, "+48600100400", "emoji 😀")
    wait_for(lambda: len(rig.texts()) == 3, what="the new messages")
    assert sorted(rig.texts()) == sorted(["czekała na SIM-ie", "długa " * 60, "emoji 😀"])
    wait_for(lambda: rig.emulator.stored(1) == [], what="empty storage")


def test_a_full_storage_is_drained_and_the_network_then_delivers_what_it_held(rig: Rig) -> None:
    rig.emulator.add_modem("simcom")
    for n in range(40):
        rig.emulator.deliver_sms(1, "+48600100200", f"wiadomość {n}")
    wait_for(lambda: rig.emulator.pending(1) > 0, what="the SIM storage to fill up")
    rig.session(1)
    wait_for(lambda: len(rig.texts()) == 40, timeout=30, what="all 40 messages")
    assert sorted(rig.texts()) == sorted(f"wiadomość {n}" for n in range(40))
    assert rig.emulator.pending(1) == 0


def test_storage_full_fault_is_survived_once_the_modem_has_room_again(rig: Rig) -> None:
    rig.emulator.add_modem("quectel")
    rig.session(1, poll_seconds=1.0)
    rig.emulator.fault(1, "storage_full")
    rig.emulator.deliver_sms(1, "+48600100200", "trzymana w sieci")
    time.sleep(1.5)
    assert rig.texts() == [] and rig.emulator.pending(1) == 1
    rig.emulator.fault(1, "clear")
    wait_for(lambda: rig.texts() == ["trzymana w sieci"], what="the held message")


def test_garbage_on_the_line_is_survived(rig: Rig) -> None:
    rig.emulator.add_modem("huawei")
    rig.session(1)
    rig.emulator.fault(1, "garbage")
    rig.emulator.deliver_sms(1, "+48600100200", "po szumie")
    wait_for(lambda: rig.texts() == ["po szumie"], what="the message after line noise")


def test_line_noise_that_spells_a_cmt_header_is_not_stored_as_a_message(rig: Rig) -> None:
    # Seen in a fault campaign: random bytes formed "+CMT:" and the next noisy line became an inbox row.
    rig.emulator.add_modem("huawei")
    rig.session(1)
    rig.emulator.fault(1, "garbage", hex=b"\r\n+CMT:\xff\xfe\x15\r\n+CMTb~\x99\xdf\r\n".hex())
    rig.emulator.deliver_sms(1, "+48600100200", "po szumie")
    wait_for(lambda: rig.texts() == ["po szumie"], what="the message after line noise")
    time.sleep(0.3)
    assert rig.texts() == ["po szumie"]


def test_a_modem_that_stops_answering_is_reconnected_and_nothing_is_lost(rig: Rig) -> None:
    rig.emulator.add_modem("quectel")
    session = rig.session(1, poll_seconds=1.0)
    rig.emulator.fault(1, "hang", seconds=4)
    rig.emulator.deliver_sms(1, "+48600100200", "w trakcie zawieszenia")
    wait_for(lambda: rig.texts() == ["w trakcie zawieszenia"], timeout=30, what="the message after the hang")
    assert session.status.state is ModemState.READY


def test_unplug_and_replug_on_a_new_tty_keeps_reading(rig: Rig) -> None:
    rig.emulator.add_modem("huawei")
    session = rig.session(1)
    old_port = rig.emulator.port(1)
    rig.emulator.fault(1, "unplug")
    wait_for(lambda: session.status.state is not ModemState.READY, what="the session noticing the unplug")
    rig.emulator.deliver_sms(1, "+48600100200", "podczas odłączenia")
    rig.emulator.fault(1, "replug")
    assert rig.emulator.port(1) != old_port
    wait_for(lambda: rig.texts() == ["podczas odłączenia"], timeout=30, what="the message after replug")


def test_bad_pdus_are_kept_raw_and_the_session_goes_on(rig: Rig) -> None:
    rig.emulator.add_modem("simcom")
    rig.session(1)
    good = encode_sms_deliver("+48600100200", "dobra", _now())[0].hex()
    truncated = good[:-6]
    # UDHI set, UDH length 0x20 runs past the user data.
    bad_udh = "0791480601001300440B914806001002F0000062115241035040" + "0A" + "20050003AB0201" + "00" * 3
    # DCS 0xE5: reserved-ish message waiting group with UCS-2 (TS 23.038 §4: 1110 = UCS-2 MWI).
    odd_dcs = "0791480601001300040B914806001002F000E56211524103504006" + "00480069002100"[:12]
    for pdu in (truncated, bad_udh, odd_dcs, good):
        rig.emulator.deliver_pdu(1, pdu)
    wait_for(lambda: len(rig.messages()) == 4, what="four stored messages")
    statuses = [m.status for m in rig.messages()]
    assert statuses.count("undecodable") >= 2 and rig.messages()[-1].text == "dobra"
    wait_for(lambda: rig.emulator.stored(1) == [], what="empty storage")


def _now():  # noqa: ANN202 - a local helper
    from datetime import datetime

    return datetime.now().astimezone()


@pytest.mark.parametrize("personality", ["huawei", "simcom", "quectel"])
def test_a_sim_pin_from_the_settings_unlocks_the_sim(rig: Rig, personality: str) -> None:
    modem = rig.emulator.add_modem(personality)
    rig.emulator.fault(1, "pin_required", attempts=3, pin="4321")
    session = rig.session(1, sim_pins={modem.info()["iccid"]: "4321"})
    assert session.status.iccid == modem.info()["iccid"]


def _locked_session(rig: Rig, **options: object) -> ModemSession:
    link = str(rig.emulator.modem(1).info()["link"])
    session = ModemSession(link, rig.writer, rig.statuses.append, at_timeout=2.0, **options)  # type: ignore[arg-type]
    rig.modem_sessions.append(session)
    session.start()
    wait_for(lambda: session.status.state is ModemState.SIM_LOCKED, what="the SIM_LOCKED state")
    return session


def test_a_refused_pin_is_sent_once_and_never_again(rig: Rig) -> None:
    modem = rig.emulator.add_modem("quectel")
    rig.emulator.fault(1, "pin_required", attempts=3, pin="4321")
    session = _locked_session(rig, sim_pins={modem.info()["iccid"]: "0000"})
    time.sleep(4)  # several reconnect rounds
    assert modem.device.sim.lock.pin_attempts == 2
    assert "refused" in (session.status.detail or "")


def test_the_last_pin_attempt_is_left_to_the_owner(rig: Rig) -> None:
    modem = rig.emulator.add_modem("huawei")
    rig.emulator.fault(1, "pin_required", attempts=1, pin="4321")
    session = _locked_session(rig, sim_pins={modem.info()["iccid"]: "4321"})
    assert modem.device.sim.lock.pin_attempts == 1
    assert "only 1 PIN attempt left" in (session.status.detail or "")


def test_a_sim_without_a_configured_pin_says_what_to_do(rig: Rig) -> None:
    rig.emulator.add_modem("simcom")
    rig.emulator.fault(1, "pin_required")
    session = _locked_session(rig)
    assert "add it to sim_pins" in (session.status.detail or "")


def test_a_modem_without_a_sim_is_shown_as_such_and_recovers_when_it_comes_back(rig: Rig) -> None:
    rig.emulator.add_modem("simcom")
    rig.emulator.fault(1, "no_sim")
    link = str(rig.emulator.modem(1).info()["link"])
    session = ModemSession(link, rig.writer, rig.statuses.append, at_timeout=2.0)
    rig.modem_sessions.append(session)
    session.start()
    wait_for(lambda: session.status.state is ModemState.NO_SIM, what="the NO_SIM state")
    rig.emulator.fault(1, "sim_back")
    wait_for(lambda: session.status.state is ModemState.READY, timeout=20, what="READY after the SIM is back")


def test_health_checks_follow_signal_and_registration(rig: Rig) -> None:
    rig.emulator.add_modem("quectel")
    session = rig.session(1)
    assert session.status.registration == "home"
    rig.emulator.fault(1, "registration_denied", seconds=30)
    rig.emulator.fault(1, "weak_signal", rssi=3, seconds=30)
    session.request_health_check()
    wait_for(lambda: session.status.registration == "denied", what="registration denied to show")
    assert session.status.signal_dbm == -113 + 2 * 3


def test_a_modem_that_keeps_hanging_gets_its_usb_device_reset(rig: Rig) -> None:
    rig.emulator.add_modem("huawei")
    resets: list[str] = []

    def usb_reset(port: str) -> None:
        resets.append(port)
        rig.emulator.fault(1, "usb_reset")  # what de-authorising the device does to the modem

    session = rig.session(1, poll_seconds=0.5, reset_device=usb_reset, timeouts_before_reset=2)
    rig.emulator.fault(1, "hang", seconds=600)
    wait_for(lambda: resets, timeout=30, what="the USB reset")
    rig.emulator.deliver_sms(1, "+48600100200", "po resecie")
    wait_for(lambda: rig.texts() == ["po resecie"], timeout=30, what="the message after the reset")
    assert session.status.state is ModemState.READY


def test_a_modem_that_drops_cmti_is_still_read_by_the_storage_poll(rig: Rig) -> None:
    rig.emulator.add_modem("simcom")
    rig.session(1, poll_seconds=1.0)
    rig.emulator.fault(1, "drop_cmti")
    rig.emulator.deliver_sms(1, "+48600100200", "bez powiadomienia")
    wait_for(lambda: rig.texts() == ["bez powiadomienia"], timeout=10, what="the unannounced message")


def test_one_tty_named_twice_gets_one_session(rig: Rig, tmp_path: Path) -> None:
    from appliance.modem.pool import ModemPool

    rig.emulator.add_modem("simcom")
    alias = tmp_path / "gsm-alias"
    alias.symlink_to(rig.emulator.port(1))
    pool = ModemPool([str(rig.emulator.modem(1).info()["link"]), str(alias)], rig.writer, rig.statuses.append,
                     at_timeout=2.0, poll_seconds=30.0, sim_pins={})
    pool.start()
    try:
        wait_for(lambda: [s.state for s in pool.statuses()] == [ModemState.READY], what="one ready session")
    finally:
        pool.stop()


def test_a_database_that_takes_no_messages_leaves_them_on_the_sim_and_the_session_reading(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A full disk (or any database error) at commit once ended every modem's session for good."""
    url = f"sqlite:///{tmp_path / 'appliance.db'}"
    upgrade(url)
    engine = make_engine(url)
    refusing = threading.Event()
    refusing.set()

    @event.listens_for(engine, "checkout")
    def write_protect(dbapi_connection, _record, _proxy) -> None:  # noqa: ANN001 - SQLAlchemy's signature
        dbapi_connection.execute(f"PRAGMA query_only = {'ON' if refusing.is_set() else 'OFF'}")

    rig = Rig(tmp_path, make_session_factory(engine))
    try:
        rig.emulator.add_modem("simcom")
        session = rig.session(1, poll_seconds=0.5)
        rig.emulator.deliver_sms(1, "+48600100200", "czeka na miejsce w bazie")
        wait_for(lambda: "received messages not stored" in caplog.text, what="the failure logged")
        assert "readonly database" in caplog.text
        assert len(rig.emulator.stored(1)) == 1 and session.alive

        refusing.clear()
        wait_for(lambda: rig.texts() == ["czeka na miejsce w bazie"], what="the message stored")
        wait_for(lambda: rig.emulator.stored(1) == [], what="empty storage")
        assert session.status.state is ModemState.READY
    finally:
        rig.stop()
        engine.dispose()
