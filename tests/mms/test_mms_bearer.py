"""MMS fetched over the SIM's own data call, as on a Raspberry Pi: the emulator's operator network
(network namespaces, a veth "modem interface" per modem) makes the operator's MMS proxy reachable only
through the modem's data call on the MMS APN."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.mms.test_mms_reception import MmsRig
from tests.modem.test_session import wait_for

PICTURE = [("image/jpeg", "a.jpg", b"\xff\xd8\xff\xe0 not much of a picture \xff\xd9"),
           ("text/plain", "t.txt", "Zamówienie na jutro".encode(), "utf-8")]


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def make_rig(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator:
    rigs: list[MmsRig] = []

    def make(**options: object) -> MmsRig:
        rig = MmsRig(tmp_path / f"rig{len(rigs)}", session_factory, bearer="modem", **options)  # type: ignore[arg-type]
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.stop()


@pytest.mark.parametrize("personality", ["huawei", "quectel"])
def test_an_mms_is_fetched_over_the_sims_data_call_and_nothing_stays_up_after(make_rig, personality: str) -> None:
    rig = make_rig(personality=personality)
    network = rig.emulator.operator_network
    call_address = network.link_for(1).address
    interface = network.interface(1)

    rig.emulator.deliver_mms(1, "+48600100200", PICTURE, subject="Zamówienie")
    message = rig.settled("unmatched")
    assert message.text == "Zamówienie na jutro"

    log = rig.emulator.mms_log(1)
    fetches = [e for e in log if e["type"] == "fetch"]
    assert [(e["status"], e["client"]) for e in fetches] == [("200", call_address)]
    wait_for(lambda: any(e["type"] == "m-notifyresp-ind" for e in rig.emulator.mms_log(1)), what="the NotifyResp")
    notify = next(e for e in rig.emulator.mms_log(1) if e["type"] == "m-notifyresp-ind")
    assert (notify["status"], notify["client"]) == ("retrieved", call_address)

    # Hung up, routes and rule gone, interface down: only the fetch used the SIM's data.
    wait_for(lambda: rig.modem.device.packet.link is None, what="the data call hung up")
    assert call_address not in ip("rule", "show")
    assert call_address not in ip("addr", "show", "dev", interface)
    assert "state DOWN" in ip("link", "show", "dev", interface)


def test_the_operators_proxy_is_out_of_reach_without_the_data_call(make_rig) -> None:
    from appliance.mms.bearer import LanBearer

    rig = make_rig(timeout=1.0)
    rig.fetcher._bearer = LanBearer()  # what a box without the data call would try: the LAN
    rig.emulator.deliver_mms(1, "+48600100200", PICTURE)
    # Whatever the LAN does with 192.168.6.104:8080 (nothing there, or some other host answering),
    # the operator's MMSC never hears of the fetch.
    wait_for(lambda: rig.mms() and rig.mms()[0].error, what="a failed attempt")
    assert rig.mms()[0].status in ("fetching", "failed")
    assert [e for e in rig.emulator.mms_log(1) if e["type"] == "fetch"] == []


def test_sms_keep_arriving_while_the_data_call_is_up(make_rig) -> None:
    rig = make_rig(timeout=4.0)
    rig.emulator.fault(1, "mmsc_timeout", seconds=10, count=1)  # the first fetch hangs inside the call
    rig.emulator.deliver_mms(1, "+48600100200", PICTURE)
    wait_for(lambda: any(e["type"] == "fetch" for e in rig.emulator.mms_log(1)), what="the fetch to start")
    assert rig.modem.device.packet.link is not None

    rig.emulator.deliver_sms(1, "+48600999888", "SMS w trakcie pobierania MMS")
    wait_for(lambda: "SMS w trakcie pobierania MMS" in rig.texts(), timeout=3, what="the SMS during the call")
    assert rig.modem.device.packet.link is not None, "the SMS was read while the data call was up"

    rig.settled("unmatched")  # the retry, after the hung fetch timed out, fetches it


def test_a_refused_apn_keeps_the_mms_waiting_with_the_operators_answer(make_rig) -> None:
    rig = make_rig(mms_apn="internet")
    rig.emulator.deliver_mms(1, "+48600100200", PICTURE)
    wait_for(lambda: rig.mms() and "no data connection" in (rig.mms()[0].error or ""), what="the refusal")
    message = rig.mms()[0]
    assert message.status == "fetching"
    assert "'internet'" in message.error and "533" in message.error


def test_a_modem_without_a_network_interface_says_so(make_rig) -> None:
    rig = make_rig(personality="simcom")
    rig.emulator.deliver_mms(1, "+48600100200", PICTURE)
    wait_for(lambda: rig.mms() and "no network interface" in (rig.mms()[0].error or ""), what="the reason")
    assert rig.mms()[0].status == "fetching"
