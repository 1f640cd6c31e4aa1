"""Each modem port's AT log for support: the real dialogue, bounded, secrets masked, kept past an unplug."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from appliance.modem.at_log import BLOCK, MAX_LINE, AtLog, mask_secrets
from appliance.modem.session import ModemState
from tests.support.modem_pool import PoolRig, wait_for


@pytest.mark.parametrize(("line", "masked"), [
    ('AT+CPIN="1234"', 'AT+CPIN="****"'),
    ("AT+CPIN=1234", "AT+CPIN=****"),
    ('at+cpin="12345678","4321"', 'at+cpin="****","****"'),
    ('AT+CGAUTH=3,1,"mms","s3cret"', 'AT+CGAUTH=3,1,"mms","****"'),
    ('AT^NDISDUP=3,1,"mms.plus","mms","pa,ss",1', 'AT^NDISDUP=3,1,"mms.plus","mms","****",1'),
    ('AT+QICSGP=3,1,"mms","user","pass",1', 'AT+QICSGP=3,1,"mms","user","****",1'),
    ('AT+QICSGP=3,1,"mms","","",0', 'AT+QICSGP=3,1,"mms","","",0'),  # no password: nothing to hide
    ("AT+CPIN?", "AT+CPIN?"),
    ("+CPIN: SIM PIN", "+CPIN: SIM PIN"),
    ('AT+CGDCONT=3,"IP","mms"', 'AT+CGDCONT=3,"IP","mms"'),
    ("AT+CMGS=25", "AT+CMGS=25"),
])
def test_pins_and_apn_passwords_are_masked_and_nothing_else(line: str, masked: str) -> None:
    assert mask_secrets(line) == masked


def test_the_log_keeps_only_the_newest_lines_each_cut_to_a_bounded_length() -> None:
    log = AtLog(capacity=3)
    for n in range(5):
        log.sent(f"AT+CMGR={n}\r")
    log.received("x" * 10_000)
    assert [e.text for e in log.entries()] == ["AT+CMGR=3", "AT+CMGR=4", log.entries()[-1].text]
    assert len(log.entries()[-1].text) < MAX_LINE + 50 and log.entries()[-1].text.endswith("(9000 more characters)")


def test_a_long_dialogue_keeps_exactly_its_newest_lines_in_order() -> None:
    capacity = 3 * BLOCK + 7  # not a whole number of compressed blocks
    log = AtLog(capacity=capacity)
    for n in range(10 * BLOCK + 3):
        log.sent(f"AT+CMGR={n}\r")
        log.received(f"+CMGR: 0,,{n} ✓")
    entries = log.entries()
    assert len(entries) == capacity
    assert entries[-1].text == f"+CMGR: 0,,{10 * BLOCK + 2} ✓"
    assert [e.text for e in entries[-4:-2]] == [f"AT+CMGR={10 * BLOCK + 1}", f"+CMGR: 0,,{10 * BLOCK + 1} ✓"]
    numbers = [int(e.text.rsplit(",", 1)[-1].rstrip(" ✓").split("=")[-1]) for e in entries]
    assert numbers == sorted(numbers)


def test_the_newest_lines_alone_read_back_as_the_tail_of_the_whole_log() -> None:
    capacity = 3 * BLOCK + 7
    log = AtLog(capacity=capacity)
    assert log.entries(10) == [] and log.count() == 0
    for n in range(5 * BLOCK + 11):
        log.sent(f"AT+CMGR={n}\r")
        whole = log.entries()
        assert log.count() == len(whole)
        for newest in (0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 3, capacity, capacity + 1):
            assert log.entries(newest) == (whole[-newest:] if newest else [])


def test_a_pdu_typed_at_the_prompt_shows_where_it_ends() -> None:
    log = AtLog()
    log.sent("0011000B914806001002F00000AA01C8\x1a")
    assert log.entries()[0].as_text().endswith(">> 0011000B914806001002F00000AA01C8<Ctrl-Z>")


def test_each_line_reads_back_as_recorded_with_its_time_and_direction() -> None:
    log = AtLog()
    before = time.time()
    log.sent("AT+CMGL=4\r")
    log.received("+CMGL: 0,0,,24 \ufffd\ufffd")  # non-ASCII bytes from the line, shown replaced
    log.event("cannot open /dev/tty\udcff: gone")  # a device name that is not valid UTF-8
    entries = log.entries()
    assert [(e.direction, e.text) for e in entries] == [
        ("sent", "AT+CMGL=4"), ("received", "+CMGL: 0,0,,24 \ufffd\ufffd"),
        ("event", "cannot open /dev/tty\udcff: gone")]
    assert before <= entries[0].at <= entries[-1].at <= time.time()


@pytest.fixture
def rig(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[PoolRig]:
    rig = PoolRig(tmp_path, session_factory)
    yield rig
    rig.stop()


def test_a_session_logs_its_dialogue_with_the_modem_and_an_incoming_message(rig: PoolRig) -> None:
    modem = rig.emulator.add_modem("huawei")
    port = str(modem.info()["link"])
    rig.start_pool()
    rig.emulator.deliver_sms(1, "+48600100200", "Dzień dobry")
    wait_for(lambda: any(e.text.startswith("+CMTI:") for e in rig.log(port).log.entries()), "the +CMTI in the log")
    wait_for(lambda: any(e.text.startswith("AT+CMGD=") for e in rig.log(port).log.entries()), "the deletion")
    port_log = rig.log(port)
    assert port_log.active and port_log.iccid == modem.info()["iccid"]
    entries = port_log.log.entries()  # read once: the session goes on logging its health checks
    dialogue = [(e.direction, e.text) for e in entries]
    assert dialogue[0] == ("event", f"{port} opened")
    assert ("sent", "ATE0") in dialogue and ("received", "OK") in dialogue
    assert any(direction == "received" and str(modem.info()["iccid"]) in line for direction, line in dialogue)
    notified = next(n for n, (_, line) in enumerate(dialogue) if line.startswith("+CMTI:"))
    listing = dialogue.index(("sent", "AT+CMGL=4"), notified)
    assert dialogue[listing + 1][1].startswith("+CMGL:")
    times = [e.at for e in entries]
    assert times == sorted(times) and time.time() - times[0] < 60


def test_the_pin_a_session_sends_never_reaches_the_log(rig: PoolRig) -> None:
    modem = rig.emulator.add_modem("quectel")
    rig.emulator.fault(1, "pin_required", attempts=3, pin="4321")
    rig.start_pool(sim_pins={str(modem.info()["iccid"]): "4321"})
    texts = [e.text for e in rig.log(str(modem.info()["link"])).log.entries()]
    assert 'AT+CPIN="****"' in texts
    assert not any("4321" in text for text in texts)


def test_the_log_of_an_unplugged_modem_is_kept_and_continues_when_it_is_back(rig: PoolRig) -> None:
    modem = rig.emulator.add_modem("simcom")
    port = str(modem.info()["link"])
    pool = rig.start_pool()
    before = len(rig.log(port).log.entries())
    rig.emulator.fault(1, "unplug")
    wait_for(lambda: not rig.log(port).active, "the session on the unplugged port to end")
    ended = rig.log(port)
    ended_entries = ended.log.entries()
    assert ended.iccid == modem.info()["iccid"] and len(ended_entries) >= before
    rig.emulator.fault(1, "replug")
    wait_for(lambda: rig.log(port).active and any(s.state is ModemState.READY for s in pool.statuses()),
             "the modem back and ready")
    again = rig.log(port).log.entries()
    assert again[:len(ended_entries)] == ended_entries  # one log, continued
    assert sum(1 for e in again if e.text == f"{port} opened") == 2
