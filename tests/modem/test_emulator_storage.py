"""SIM storage limits: the network holds what does not fit and delivers it when space frees."""

from __future__ import annotations

from appliance.codecs.sms_pdu import decode_sms_deliver

CAPACITY = {"huawei": 30, "simcom": 20, "quectel": 50}
MEMORY_FULL_URC = {"huawei": '^SMMEMFULL: "SM"', "quectel": '+QIND: "smsfull","SM"', "simcom": None}


def test_a_full_sim_makes_the_network_hold_messages_until_one_is_deleted(modem, wait_for) -> None:
    at, first, emulator = modem.at, modem.first_index, modem.emulator
    capacity = CAPACITY[modem.personality]
    at.ok("ATE0;+CMEE=1;+CMGF=0;+CNMI=2,1,0,2,0")
    for n in range(capacity + 2):
        emulator.deliver_sms(modem.id, "+48601234567", f"message {n}")
    for n in range(capacity):
        assert at.expect_urc("+CMTI:") == f'+CMTI: "SM",{first + n}'
    wait_for(lambda: emulator.pending(modem.id) == 2, what="two messages held by the network")
    assert at.ok("AT+CPMS?") == [
        f'+CPMS: "SM",{capacity},{capacity},"SM",{capacity},{capacity},"SM",{capacity},{capacity}'
    ]
    if MEMORY_FULL_URC[modem.personality]:
        assert at.expect_urc(MEMORY_FULL_URC[modem.personality][:6]) == MEMORY_FULL_URC[modem.personality]

    at.ok(f"AT+CMGD={first + 3}")
    assert at.expect_urc("+CMTI:") == f'+CMTI: "SM",{first + 3}', "the freed slot is used at once"
    header, pdu = at.ok(f"AT+CMGR={first + 3}")
    assert decode_sms_deliver(bytes.fromhex(pdu)).text == f"message {capacity}", "oldest held first"
    assert emulator.pending(modem.id) == 1

    at.ok(f"AT+CMGD={first},4")
    assert at.expect_urc("+CMTI:") == f'+CMTI: "SM",{first}'
    header, pdu = at.ok(f"AT+CMGR={first}")
    assert decode_sms_deliver(bytes.fromhex(pdu)).text == f"message {capacity + 1}"
    assert emulator.pending(modem.id) == 0


def test_the_storage_full_fault_shrinks_capacity_to_what_is_stored(modem, wait_for) -> None:
    at, first, emulator = modem.at, modem.first_index, modem.emulator
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0")
    emulator.deliver_sms(modem.id, "+48601234567", "one")
    emulator.deliver_sms(modem.id, "+48601234567", "two")
    at.expect_urc("+CMTI:")
    at.expect_urc("+CMTI:")
    emulator.fault(modem.id, "storage_full")
    assert at.ok("AT+CPMS?")[0].startswith('+CPMS: "SM",2,2,')
    emulator.deliver_sms(modem.id, "+48601234567", "three")
    wait_for(lambda: emulator.pending(modem.id) == 1, what="the network to hold 'three'")
    at.ok(f"AT+CMGD={first + 1}")
    assert at.expect_urc("+CMTI:") == f'+CMTI: "SM",{first + 1}'
    assert emulator.pending(modem.id) == 0
    texts = [decode_sms_deliver(bytes.fromhex(m["pdu"])).text for m in emulator.stored(modem.id)]
    assert texts == ["one", "three"]
    emulator.fault(modem.id, "clear")
    assert at.ok("AT+CPMS?")[0] == (
        f'+CPMS: "SM",2,{CAPACITY[modem.personality]},"SM",2,{CAPACITY[modem.personality]},'
        f'"SM",2,{CAPACITY[modem.personality]}'
    )


def test_messages_go_to_the_receive_storage_chosen_with_cpms(modem) -> None:
    at, first = modem.at, modem.first_index
    at.ok('ATE0;+CMGF=0;+CNMI=2,1,0,2,0;+CPMS="ME","ME","ME"')
    modem.emulator.deliver_sms(modem.id, "+48601234567", "into the modem's memory")
    assert at.expect_urc("+CMTI:") == f'+CMTI: "ME",{first}'
    assert len(modem.emulator.stored(modem.id, "ME")) == 1
    assert modem.emulator.stored(modem.id, "SM") == []


def test_direct_delivery_does_not_need_free_storage(modem) -> None:
    at = modem.at
    at.ok("ATE0;+CMGF=0;+CNMI=2,2,0,0,0")
    modem.emulator.fault(modem.id, "storage_full")  # capacity 0
    modem.emulator.deliver_sms(modem.id, "+48601234567", "no slot needed")
    assert at.expect_urc("+CMT: ,")
    assert modem.emulator.pending(modem.id) == 0


def test_a_raw_pdu_without_smsc_field_is_stored_with_an_empty_one(emulator, at_port) -> None:
    at = at_port(emulator.port(2))
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0")
    tpdu = "040B918406214365F70000621152311451000BC8329BFD06DDDF723619"
    emulator.deliver_pdu(2, tpdu, smsc=False)
    assert at.expect_urc("+CMTI:") == '+CMTI: "SM",1'
    header, pdu = at.ok("AT+CMGR=1")
    assert pdu == "00" + tpdu
    assert header == f"+CMGR: 0,,{len(tpdu) // 2}"
    assert decode_sms_deliver(bytes.fromhex(pdu)).text == "Hello world"
