"""The AT dialogue of the emulated modems, as a client on the pty sees it (each personality)."""

from __future__ import annotations

from appliance.codecs.sms_pdu import decode_sms_deliver, encode_sms_submit

IDENTITY = {
    # manufacturer, model, ICCID command, prefix of its answer
    "huawei": ("huawei", "E3372", "AT^ICCID?", "^ICCID: "),
    "simcom": ("SIMCOM_Ltd", "SIMCOM_SIM800", "AT+CCID", ""),
    "quectel": ("Quectel", "EC25", "AT+QCCID", "+QCCID: "),
}


def modem_info(modem) -> dict:
    return next(info for info in modem.emulator.modems() if info["id"] == modem.id)


def test_a_modem_identifies_itself_as_its_vendor_does(modem) -> None:
    info = modem_info(modem)
    manufacturer, model, iccid_command, iccid_prefix = IDENTITY[modem.personality]
    at = modem.at
    assert at.ok("AT+CGMI") == [manufacturer]
    assert at.ok("AT+GMI") == [manufacturer]
    assert at.ok("AT+CGMM") == [model]
    assert at.ok("AT+CGSN") == [info["imei"]]
    assert at.ok("AT+GSN") == [info["imei"]]
    assert at.ok("AT+CIMI") == [info["imsi"]]
    assert at.ok(iccid_command) == [iccid_prefix + info["iccid"]]
    assert at.ok("AT+CNUM") == [f'+CNUM: "","{info["msisdn"]}",145']
    assert at.ok("AT+CGMR")[0]
    assert at.ok("ATI")


def test_the_iccid_is_also_readable_from_ef_iccid_with_swapped_nibbles(modem) -> None:
    iccid = modem_info(modem)["iccid"]
    (line,) = modem.at.ok("AT+CRSM=176,12258,0,0,10")
    raw = line.split('"')[1]
    unswapped = "".join(raw[i + 1] + raw[i] for i in range(0, len(raw), 2)).rstrip("F")
    assert unswapped == iccid


def test_echo_is_on_after_power_on_and_ate0_turns_it_off(modem) -> None:
    at = modem.at
    at.write(b"AT\r")
    assert at.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"
    at.write(b"ATE0\r")
    assert at.read_until(b"OK\r\n") == b"ATE0\r\r\nOK\r\n"
    at.write(b"AT\r")
    assert at.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    at.write(b"ATZ\r")
    at.read_until(b"OK\r\n")
    at.write(b"AT\r")
    assert at.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n", "ATZ restores the power-on echo"


def test_backspace_edits_the_line_and_text_before_at_is_ignored(modem) -> None:
    at = modem.at
    at.ok("ATE0")
    at.write(b"AT+CGMX\x08I\r")
    assert at.collect()[-1] == "OK"
    at.write(b"\x00\x00junk AT\r")
    assert at.collect() == ["OK"]
    at.write(b"A/\r")
    assert at.collect() == ["OK"], "A/ repeats the last command line"


def test_several_commands_on_one_line_are_answered_in_order(modem) -> None:
    at = modem.at
    assert at.ok("AT+CMGF=0;+CNMI=2,1,0,2,0") == []
    assert at.ok("AT+CMGF?;+CNMI?") == ["+CMGF: 0", "+CNMI: 2,1,0,2,0"]
    assert at.ok("ATE0V1+CMEE=1") == []
    assert at.ok("AT+CMEE?") == ["+CMEE: 1"]
    # the line stops at the first failing command
    assert at.command("AT+CMGF=1;+NOSUCH;+CMGF=0")[-1] in ("ERROR", "COMMAND NOT SUPPORT")
    assert at.ok("AT+CMGF?") == ["+CMGF: 1"]


def test_an_unknown_command_is_refused_as_the_vendor_does(modem) -> None:
    refusal = "COMMAND NOT SUPPORT" if modem.personality == "huawei" else "ERROR"
    assert modem.at.command("AT+FOOBAR") == [refusal]
    assert modem.at.command("AT+SYNCML=?") == [refusal]
    others = {"huawei": "AT+QCCID", "simcom": "AT^ICCID?", "quectel": "AT^ICCID?"}
    assert modem.at.command(others[modem.personality]) == [refusal]


def test_cme_errors_follow_the_cmee_verbosity(modem) -> None:
    at = modem.at
    at.ok("AT+CMEE=0")
    assert at.command('AT+CPIN="0000"') == ["ERROR"]  # nothing to unlock: operation not allowed
    at.ok("AT+CMEE=1")
    assert at.command('AT+CPIN="0000"') == ["+CME ERROR: 3"]
    at.ok("AT+CMEE=2")
    assert at.command('AT+CPIN="0000"') == ["+CME ERROR: operation not allowed"]


def test_cms_errors_are_numeric_unless_cmee_asks_for_words(modem) -> None:
    at = modem.at
    at.ok("AT+CMEE=0")
    assert at.command("AT+CMGR=999") == ["+CMS ERROR: 321"]
    at.ok("AT+CMEE=1")
    assert at.command("AT+CMGR=999") == ["+CMS ERROR: 321"]
    at.ok("AT+CMEE=2")
    assert at.command("AT+CMGR=999") == ["+CMS ERROR: invalid memory index"]


CAPACITY = {"huawei": (30, 100), "simcom": (20, 50), "quectel": (50, 255)}


def test_storage_limits_follow_the_personality(modem) -> None:
    sm, me = CAPACITY[modem.personality]
    at = modem.at
    if modem.personality == "quectel":  # status reports have a storage of their own, read-only
        assert at.ok("AT+CPMS=?") == ['+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")']
    else:
        assert at.ok("AT+CPMS=?") == ['+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")']
    assert at.ok("AT+CPMS?") == [f'+CPMS: "SM",0,{sm},"SM",0,{sm},"SM",0,{sm}']
    assert at.ok('AT+CPMS="ME","ME","ME"') == [f"+CPMS: 0,{me},0,{me},0,{me}"]
    assert at.ok('AT+CPMS="SM","SM","SM"') == [f"+CPMS: 0,{sm},0,{sm},0,{sm}"]
    assert at.command('AT+CPMS="XX"') == ["+CMS ERROR: 302"]


def test_a_delivered_sms_is_stored_announced_listed_read_and_deleted(modem) -> None:
    at, first = modem.at, modem.first_index
    at.ok("ATE0;+CMEE=1;+CMGF=0;+CNMI=2,1,0,2,0")
    modem.emulator.deliver_sms(modem.id, "+48601234567", "Hello from the SMSC")
    assert at.expect_urc("+CMTI:") == f'+CMTI: "SM",{first}'

    header, pdu = at.ok("AT+CMGL=4")
    assert header.startswith(f"+CMGL: {first},0,,")
    assert int(header.rsplit(",", 1)[1]) == len(bytes.fromhex(pdu)) - 1 - bytes.fromhex(pdu)[0]
    message = decode_sms_deliver(bytes.fromhex(pdu))
    assert (message.sender, message.text) == ("+48601234567", "Hello from the SMSC")

    assert at.ok("AT+CMGL=0") == [], "listing marked it read"
    assert len(at.ok("AT+CMGL=1")) == 2
    assert at.ok(f"AT+CMGR={first}")[0].startswith("+CMGR: 1,,")
    assert at.ok("AT+CPMS?")[0].startswith('+CPMS: "SM",1,')

    assert at.ok(f"AT+CMGD={first}") == []
    assert at.ok("AT+CMGL=4") == []
    empty = at.command(f"AT+CMGR={first}")
    assert empty == (["+CMS ERROR: 321"] if modem.personality == "huawei" else ["OK"])


def test_cmgd_delete_flags_choose_by_status(modem) -> None:
    at, first = modem.at, modem.first_index
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0")
    for n in range(3):
        modem.emulator.deliver_sms(modem.id, "+48601234567", f"message {n}")
    for n in range(3):
        assert at.expect_urc("+CMTI:") == f'+CMTI: "SM",{first + n}'
    at.ok(f"AT+CMGR={first}")  # one read, two unread
    at.ok(f"AT+CMGD={first},1")  # delete all read
    assert len(at.ok("AT+CMGL=4")) == 4
    at.ok(f"AT+CMGD={first},4")  # delete all
    assert at.ok("AT+CMGL=4") == []


def test_cnmi_mode_2_2_delivers_directly_without_storing(modem) -> None:
    at = modem.at
    at.ok("ATE0;+CMGF=0;+CNMI=2,2,0,0,0")
    modem.emulator.deliver_sms(modem.id, "+48601234567", "straight to you")
    urc = at.expect_urc("+CMT:")
    (pdu,) = at.read_lines_after(urc, 1)
    assert int(urc.split(",")[1]) == len(bytes.fromhex(pdu)) - 1 - bytes.fromhex(pdu)[0]
    assert decode_sms_deliver(bytes.fromhex(pdu)).text == "straight to you"
    assert at.ok("AT+CPMS?")[0].startswith('+CPMS: "SM",0,')


def test_a_long_and_polish_text_arrives_as_a_concatenated_ucs2_set(modem) -> None:
    at, first = modem.at, modem.first_index
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0")
    text = "Zażółć gęślą jaźń. " * 6
    assert modem.emulator.deliver_sms(modem.id, "+48601234567", text) == 2
    at.expect_urc("+CMTI:")
    at.expect_urc("+CMTI:")
    lines = at.ok("AT+CMGL=4")
    parts = [decode_sms_deliver(bytes.fromhex(pdu)) for pdu in lines[1::2]]
    assert [p.concat.sequence for p in parts] == [1, 2]
    assert parts[0].concat.reference == parts[1].concat.reference
    assert parts[0].alphabet == "ucs2"
    assert "".join(p.text for p in parts) == text
    assert lines[0].startswith(f"+CMGL: {first},0,,")


def test_cmgs_sends_the_pdu_typed_at_the_prompt(modem) -> None:
    at = modem.at
    at.ok("ATE0;+CMGF=0")
    pdu = encode_sms_submit("+48609876543", "Dziękuję, odbiór potwierdzony")[0]
    answer = at.send_pdu(pdu)
    assert answer[-1] == "OK" and answer[0].startswith("+CMGS: ")
    assert modem.emulator.sent(modem.id) == [
        {
            "to": "+48609876543",
            "text": "Dziękuję, odbiór potwierdzony",
            "pdu": pdu.hex().upper(),
            "message_reference": int(answer[0].split(": ")[1]),
            "report": None,
        }
    ]
    second = at.send_pdu(encode_sms_submit("+48609876543", "again")[0])
    assert int(second[0].split(": ")[1]) == int(answer[0].split(": ")[1]) + 1, "TP-MR counts up"


def test_cmgs_with_echo_on_echoes_the_pdu_and_still_answers(modem) -> None:
    pdu = encode_sms_submit("+48609876543", "echo")[0]
    assert modem.at.send_pdu(pdu)[-1] == "OK"
    assert len(modem.emulator.sent(modem.id)) == 1


def test_esc_at_the_prompt_cancels_the_send(modem) -> None:
    at = modem.at
    at.ok("ATE0;+CMGF=0")
    pdu = encode_sms_submit("+48609876543", "never mind")[0]
    assert at.send_pdu(pdu, terminator=b"\x1b") == ["OK"]
    assert modem.emulator.sent(modem.id) == []


def test_a_pdu_that_does_not_decode_is_refused_with_cms_304(modem) -> None:
    at = modem.at
    at.ok("ATE0;+CMGF=0")
    not_a_submit = bytes.fromhex("00") + bytes(12)  # TP-MTI 0: an SMS-DELIVER, not a SUBMIT
    assert at.send_pdu(not_a_submit) == ["+CMS ERROR: 304"]
    good = encode_sms_submit("+48609876543", "short")[0]
    at.write(f"AT+CMGS={len(good) - 1 - good[0] + 3}\r".encode())  # length does not match
    at.wait_prompt()
    at.write(good.hex().encode() + b"\x1a")
    assert at.collect() == ["+CMS ERROR: 304"]
    at.write(b"AT+CMGS=20\r")
    at.wait_prompt()
    at.write(b"00ZZ\x1a")
    assert at.collect() == ["+CMS ERROR: 304"]
    assert modem.emulator.sent(modem.id) == []
    assert at.ok("AT") == [], "the modem is back in command mode"


def test_urcs_wait_while_the_client_types_a_pdu(modem) -> None:
    at = modem.at
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0")
    pdu = encode_sms_submit("+48609876543", "no interruptions")[0]
    at.write(f"AT+CMGS={len(pdu) - 1 - pdu[0]}\r".encode())
    at.wait_prompt()
    modem.emulator.deliver_sms(modem.id, "+48601234567", "arrives meanwhile")
    assert at.read_raw(0.4) == b"", "nothing may interrupt the prompt"
    at.write(pdu.hex().encode() + b"\x1a")
    answer = at.collect()
    assert answer[0].startswith("+CMGS: ") and answer[-1] == "OK"
    assert at.expect_urc("+CMTI:").startswith('+CMTI: "SM",')


def test_text_mode_lists_and_sends_plausibly(modem) -> None:
    at = modem.at
    at.ok('ATE0;+CMGF=1;+CSCS="GSM";+CNMI=2,1,0,0,0')
    modem.emulator.deliver_sms(modem.id, "+48601234567", "Plain text")
    at.expect_urc("+CMTI:")
    header, body = at.ok('AT+CMGL="ALL"')
    assert '"REC UNREAD","+48601234567",,"' in header
    assert body == "Plain text"
    at.write(b'AT+CMGS="+48609876543"\r')
    at.wait_prompt()
    at.write(b"Hi there\x1a")
    answer = at.collect()
    assert answer[-1] == "OK"
    assert modem.emulator.sent(modem.id) == [
        {
            "to": "+48609876543",
            "text": "Hi there",
            "pdu": None,
            "message_reference": int(answer[0].split(": ")[1]),
            "report": None,
        }
    ]
    at.ok('AT+CSCS="UCS2"')
    modem.emulator.deliver_sms(modem.id, "+48601234567", "Łódź")
    at.expect_urc("+CMTI:")
    _header, body = at.ok('AT+CMGL="REC UNREAD"')
    assert bytes.fromhex(body).decode("utf-16-be") == "Łódź"


def test_network_status_commands(modem) -> None:
    info = modem_info(modem)
    at = modem.at
    at.ok("ATE0")
    assert at.ok("AT+CSQ") == [f"+CSQ: {info['signal']},99"]
    assert at.ok("AT+CREG?") == ["+CREG: 0,1"]
    at.ok("AT+CREG=2")
    assert at.ok("AT+CREG?")[0].startswith('+CREG: 2,1,"')
    assert at.ok("AT+CGREG?") == ["+CGREG: 0,1"]
    assert at.ok("AT+CEREG?") == ["+CEREG: 0,1"]
    (cops,) = at.ok("AT+COPS?")
    assert cops.startswith(f'+COPS: 0,0,"{info["operator"]}",')
    at.ok("AT+COPS=3,2")
    assert at.ok("AT+COPS?")[0].startswith(f'+COPS: 0,2,"{modem_info(modem)["imsi"][:5]}",')
    assert at.ok("AT+CFUN?") == ["+CFUN: 1"]
    assert at.ok("AT+CPIN?") == ["+CPIN: READY"]
    assert at.ok("AT+CSCA?")[0].startswith('+CSCA: "+48')
    assert at.ok("AT+CSMS=0") == ["+CSMS: 1,1,1"]


def test_radio_off_deregisters_and_holds_messages(modem, wait_for) -> None:
    at = modem.at
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0;+CREG=1")
    at.ok("AT+CFUN=4")
    assert at.expect_urc("+CREG:") == "+CREG: 0"
    modem.emulator.deliver_sms(modem.id, "+48601234567", "wait for the radio")
    wait_for(lambda: modem.emulator.pending(modem.id) == 1, what="the network to hold the SMS")
    at.ok("AT+CFUN=1")
    assert at.expect_urc("+CREG:") == "+CREG: 1"
    assert at.expect_urc("+CMTI:")
    assert modem.emulator.pending(modem.id) == 0
