"""Vendor personalities of the emulated modems: what differs between a Huawei, a SIMCom and a Quectel.

A personality is a declaration; the AT interpreter asks it (identity strings, boot banner, storage
sizes, where the ICCID and the PIN counters are read, how an unknown command is refused) and keeps
everything that 3GPP TS 27.005/27.007 define in common.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PinCounters:
    pin: int
    puk: int
    pin2: int = 3
    puk2: int = 10


@dataclass(frozen=True)
class Personality:
    name: str
    manufacturer: str  # AT+CGMI
    model: str  # AT+CGMM
    revision: str  # AT+CGMR
    ati_lines: tuple[str, ...]  # ATI, with {imei} substituted
    imei_tac: str  # first 8 digits of the IMEI (type allocation code)
    boot_banner: tuple[str, ...]  # URCs after power-on / replug, before any command
    sim_ready_urcs: tuple[str, ...]  # URCs once the SIM is unlocked (after AT+CPIN=<pin>)
    sm_capacity: int  # SIM storage slots this personality's SIM offers
    me_capacity: int  # modem (ME) storage slots
    first_index: int  # storage indexes start at 0 (Huawei, Quectel) or 1 (SIMCom)
    unsupported_reply: str = "ERROR"  # final result for a command the firmware does not know
    iccid_commands: frozenset[str] = frozenset()  # "+CCID", "^ICCID", "+QCCID", "+ICCID"
    default_cnmi: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)
    periodic_urcs: tuple[str, ...] = ()  # templates sent "now and then"; {rssi} substituted
    cmgr_empty_error: int | None = None  # +CMS ERROR for AT+CMGR on an empty slot, None: bare OK
    extra_commands: frozenset[str] = field(default_factory=frozenset)  # vendor commands answered OK
    pin_counter_command: str = "+SPIC"  # where the remaining PIN/PUK attempts are read
    sim_removed_urcs: tuple[str, ...] = ()
    pin_required_urcs: tuple[str, ...] = ()
    memory_full_urc: str | None = None  # sent once when a message arrives to a full storage; {mem}
    network_act: int = 7  # <AcT> of +COPS: 7 E-UTRAN, 0 GSM
    charsets: tuple[str, ...] = ("IRA", "GSM", "UCS2")  # AT+CSCS=? (gammu picks HEX when offered)
    # Where AT+CNMI <ds>=2 keeps an SMS-STATUS-REPORT and names it in +CDSI: "SM" (with the received
    # SMS) or "SR" (a storage of its own, which AT+CPMS offers as <mem1> only)
    report_memory: str = "SM"
    sr_capacity: int = 0  # slots of the "SR" storage, when report_memory is "SR"
    reset_cfun: frozenset[int] = frozenset()  # vendor AT+CFUN=<fun> values that reset (Huawei: 16)
    # The modem shows the host a network interface for its data calls (NCM, QMI); the SIM800 has none.
    network_interface: bool = True

    def format_iccid(self, command: str, iccid: str) -> str:
        """The information line answering an ICCID query; `command` is e.g. "+CCID" or "^ICCID"."""
        if command == "+CCID" and self.name == "simcom":
            # SIM800 answers AT+CCID with the bare ICCID, no prefix
            return iccid
        return f"{command}: {iccid}"

    def pin_counters_line(self, command: str, state: str, counters: PinCounters) -> list[str]:
        if command == "^CPIN":
            # ^CPIN: <code>,[<times>],<puk_times>,<pin_times>,<puk2_times>,<pin2_times>
            times = {"SIM PUK": str(counters.puk), "SIM PIN": str(counters.pin)}.get(state, "")
            return [f"^CPIN: {state},{times},{counters.puk},{counters.pin},{counters.puk2},{counters.pin2}"]
        if command == "+QPINC":
            return [
                f'+QPINC: "SC",{counters.pin},{counters.puk}',
                f'+QPINC: "P2",{counters.pin2},{counters.puk2}',
            ]
        return [f"+SPIC: {counters.pin},{counters.puk},{counters.pin2},{counters.puk2}"]


HUAWEI_E3372 = Personality(
    name="huawei",
    manufacturer="huawei",
    model="E3372",
    revision="22.315.01.00.00",
    ati_lines=(
        "Manufacturer: huawei",
        "Model: E3372",
        "Revision: 22.315.01.00.00",
        "IMEI: {imei}",
        "+GCAP: +CGSM,+DS,+ES",
    ),
    imei_tac="86615302",
    boot_banner=("^BOOT:21093541,0,0,0,75", "^SIMST: 1", "^SRVST: 2", "^MODE: 5,4"),
    sim_ready_urcs=("^SIMST: 1",),
    sm_capacity=30,
    me_capacity=100,
    first_index=0,
    unsupported_reply="COMMAND NOT SUPPORT",
    iccid_commands=frozenset({"^ICCID"}),
    default_cnmi=(0, 0, 0, 0, 0),
    periodic_urcs=("^RSSI: {rssi}", "^BOOT:21093541,0,0,0,75", "^MODE: 5,4", "^SRVST: 2"),
    cmgr_empty_error=321,
    extra_commands=frozenset({"^CURC", "^SYSCFG", "^SYSCFGEX", "^DDSETEX", "^U2DIAG", "^PORTSEL"}),
    pin_counter_command="^CPIN",
    sim_removed_urcs=("^SIMST: 255",),
    memory_full_urc='^SMMEMFULL: "{mem}"',
    # Huawei's manuals name "SR" for +CDSI but say it is not supported; the E3372 keeps reports on
    # the SIM with the received SMS. AT+CFUN=16 is the reset ModemManager's Huawei plugin sends.
    report_memory="SM",
    reset_cfun=frozenset({16}),
)

SIMCOM_SIM800 = Personality(
    name="simcom",
    manufacturer="SIMCOM_Ltd",
    model="SIMCOM_SIM800",
    revision="Revision:1418B04SIM800C24",
    ati_lines=("SIM800 R14.18",),
    imei_tac="86813303",
    boot_banner=("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"),
    sim_ready_urcs=("+CPIN: READY", "Call Ready", "SMS Ready"),
    sm_capacity=20,
    me_capacity=50,
    first_index=1,
    iccid_commands=frozenset({"+CCID"}),
    extra_commands=frozenset({"+CSCLK", "+CIURC", "+CLTS", "+CSGS"}),
    pin_counter_command="+SPIC",
    charsets=("IRA", "GSM", "UCS2", "HEX", "PCCP", "PCDN", "8859-1"),
    sim_removed_urcs=("+CPIN: NOT READY",),
    pin_required_urcs=("+CPIN: SIM PIN",),
    network_act=0,
    network_interface=False,
    # The SIM800 manual lists <ds> 0-1 only and no "SR" storage; the emulated one also takes <ds>=2
    # (the appliance asks for it first) and then keeps reports in "SM", as Telit modules do.
    report_memory="SM",
)

QUECTEL_EC25 = Personality(
    name="quectel",
    manufacturer="Quectel",
    model="EC25",
    revision="EC25EFAR06A06M4G",
    ati_lines=("Quectel", "EC25", "Revision: EC25EFAR06A06M4G"),
    imei_tac="86787703",
    boot_banner=("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
    sim_ready_urcs=("+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"),
    sm_capacity=50,
    me_capacity=255,
    first_index=0,
    iccid_commands=frozenset({"+QCCID", "+CCID"}),
    extra_commands=frozenset({"+QURCCFG", "+QCFG", "+QINDCFG", "+QSCLK"}),
    pin_counter_command="+QPINC",
    charsets=("GSM", "IRA", "UCS2"),
    sim_removed_urcs=("+CPIN: NOT READY", "+QUSIM: 0"),
    pin_required_urcs=("+CPIN: SIM PIN",),
    memory_full_urc='+QIND: "smsfull","{mem}"',
    # Qualcomm-based firmwares (ZTE sticks: '+CDSI: "SR",50') keep reports in a storage of their own
    report_memory="SR",
    sr_capacity=50,
)

PERSONALITIES: dict[str, Personality] = {p.name: p for p in (HUAWEI_E3372, SIMCOM_SIM800, QUECTEL_EC25)}


def personality(name: str) -> Personality:
    try:
        return PERSONALITIES[name]
    except KeyError:
        known = ", ".join(PERSONALITIES)
        raise ValueError(f"unknown modem personality {name!r} (known: {known})") from None


def periodic_urc(person: Personality, rssi: int, rng: random.Random) -> str | None:
    if not person.periodic_urcs:
        return None
    return rng.choice(person.periodic_urcs).format(rssi=rssi)
