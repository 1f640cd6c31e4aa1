"""The firmware of an emulated modem: an AT command interpreter (3GPP TS 27.007 / 27.005, V.250).

Bytes in, bytes out. `AtInterpreter.feed()` takes what the client wrote and returns what the modem
answers (echo included); `deliver()` is the network handing over an SMS-DELIVER or an
SMS-STATUS-REPORT; `take_urcs()`
returns unsolicited result codes produced meanwhile. The interpreter never writes to a port itself:
the owner decides when a URC may go out (never inside a response, never while the client types a
PDU after "> ").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from appliance.codecs import gsm7
from appliance.codecs.sms_pdu import (
    MTI_STATUS_REPORT,
    PduError,
    SmsDeliver,
    SmsStatusReport,
    decode_mt_pdu,
    decode_sms_submit,
)
from appliance.modem.emulator import packet_data
from appliance.modem.emulator.at_syntax import (
    AtError,
    CmeError,
    CmsError,
    Command,
    FinalResult,
    SyntaxFault,
    Unsupported,
    int_arg,
    parse_command_line,
    split_args,
)
from appliance.modem.emulator.device import ModemDevice
from appliance.modem.emulator.network import Acceptance, SubmittedSms, submitted_from_pdu
from appliance.modem.emulator.personalities import PinCounters
from appliance.modem.emulator.sim import (
    STAT_ALL,
    STAT_FROM_TEXT,
    STAT_REC_READ,
    STAT_REC_UNREAD,
    STAT_STO_UNSENT,
    STAT_TEXT,
    MessageStorage,
    PinError,
    SimCard,
    StoredMessage,
)

CTRL_Z = 0x1A
ESC = 0x1B
MAX_LINE = 2048  # V.250 requires at least 40; real modems take a few hundred to a few thousand
MAX_PROMPT_INPUT = 2 * 176 + 16  # a full PDU in hex (SMSC field + 164-octet TPDU) and some slack

# 3GPP TS 27.007 §9.2 (+CME ERROR) and TS 27.005 §3.2.5 (+CMS ERROR) verbose texts
CME_TEXT = {
    0: "phone failure",
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    16: "incorrect password",
    20: "memory full",
    21: "invalid index",
    30: "no network service",
    50: "incorrect parameters",
    100: "unknown",
}
CMS_TEXT = {
    300: "ME failure",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    313: "SIM failure",
    316: "SIM PUK required",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    500: "unknown error",
}
# V.250 §5.7.1: numeric result codes for ATV0
NUMERIC_RESULT = {"OK": "0", "CONNECT": "1", "RING": "2", "NO CARRIER": "3", "ERROR": "4"}


def _scts(moment: datetime) -> str:
    """Text-mode "yy/MM/dd,hh:mm:ss±zz" with the zone in quarters of an hour (TS 27.005 §3.3.1)."""
    offset = moment.utcoffset()
    quarters = round(offset.total_seconds() / 900) if offset else 0
    sign = "-" if quarters < 0 else "+"
    return moment.strftime("%y/%m/%d,%H:%M:%S") + f"{sign}{abs(quarters):02d}"


def to_te(text: str, charset: str) -> str:
    """A string as the TE sees it under AT+CSCS (TS 27.007 §5.5), one str char per wire octet."""
    if charset == "UCS2":
        return text.encode("utf-16-be").hex().upper()
    if charset in ("GSM", "HEX"):
        septets: list[int] = []
        for char in text:
            septets += gsm7.char_septets(char) or (0x3F,)  # "?" for what GSM 7-bit lacks
        if charset == "HEX":
            return bytes(septets).hex().upper()
        return "".join(chr(septet) for septet in septets)
    if charset == "IRA":
        return text.encode("ascii", "replace").decode("ascii")
    if charset == "PCCP437" or charset == "PCCP":
        return text.encode("cp437", "replace").decode("latin-1")
    return text.encode("latin-1", "replace").decode("latin-1")


def from_te(wire: str, charset: str) -> str:
    """The inverse of to_te for what the client types (text-mode AT+CMGS). Raises ValueError."""
    if charset == "UCS2":
        return bytes.fromhex(wire).decode("utf-16-be")
    if charset == "HEX":
        return gsm7.decode(bytes.fromhex(wire))
    if charset == "GSM":
        return gsm7.decode(ord(char) & 0x7F for char in wire)
    if charset in ("PCCP437", "PCCP"):
        return wire.encode("latin-1").decode("cp437")
    return wire


@dataclass
class AtSettings:
    """Everything ATZ / AT&F resets."""

    echo: bool = True
    verbose: bool = True  # ATV1
    quiet: bool = False  # ATQ1 suppresses result codes
    cmee: int = 0
    cmgf: int = 0
    cnmi: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)
    csms: int = 0
    cscs: str = "GSM"
    creg: int = 0
    cgreg: int = 0
    cereg: int = 0
    cops_format: int = 0
    cpms: tuple[str, str, str] = ("SM", "SM", "SM")
    csdh: int = 0
    csmp: tuple[int, int, int, int] = (17, 167, 0, 0)
    s_registers: dict[int, int] = field(default_factory=lambda: {0: 0, 3: 13, 4: 10, 5: 8, 7: 60})


@dataclass
class _Prompt:
    """After AT+CMGS / AT+CMGW: collecting a PDU (or a text) up to Ctrl-Z."""

    command: str  # "+CMGS" or "+CMGW"
    length: int | None  # declared TPDU length in PDU mode
    destination: str | None = None  # text mode
    stat: int = STAT_STO_UNSENT
    buffer: bytearray = field(default_factory=bytearray)


Handler = Callable[[Command], "list[str] | _Prompt | None"]


class AtInterpreter:
    def __init__(self, device: ModemDevice) -> None:
        self.device = device
        self.person = device.personality
        self.settings = self._defaults()
        self.cfun = 1
        self.cops_deregistered = False
        self._line = bytearray()
        self._last_line = ""
        self._prompt: _Prompt | None = None
        self._urcs: list[bytes] = []
        self.reset_requested = False  # AT+CFUN=1,1: the owner resets (re-enumerates) the modem
        self._reported_rssi = device.rssi
        self._handlers: dict[str, Handler] = self._handler_table()
        stat = self.registration_stat()
        self._reported: dict[str, int] = {name: stat for name in ("+CREG", "+CGREG", "+CEREG")}

    # ---- the wire -------------------------------------------------------------------------

    @property
    def in_prompt(self) -> bool:
        return self._prompt is not None

    @property
    def typing(self) -> bool:
        """A command line has begun but not ended: a URC now would land inside the client's echo."""
        return bool(self._line)

    def boot_banner(self) -> bytes:
        return b"".join(self._urc_bytes(line) for line in self.person.boot_banner)

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            if self._prompt is not None:
                out += self._feed_prompt(byte)
                continue
            if self.settings.echo:
                out.append(byte)
            if byte == self.settings.s_registers[3]:
                line = self._line.decode("latin-1")
                self._line.clear()
                out += self._execute_line(line)
            elif byte == self.settings.s_registers[5]:
                if self._line:
                    self._line.pop()
            elif byte == 0x0A or (not self._line and byte in (0x00, 0x20)):
                continue
            elif len(self._line) < MAX_LINE:
                self._line.append(byte)
        return bytes(out)

    def queue_urc(self, line: str) -> None:
        self._urcs.append(self._urc_bytes(line))

    def take_urcs(self) -> bytes:
        urcs, self._urcs = self._urcs, []
        return b"".join(urcs)

    def _urc_bytes(self, text: str) -> bytes:
        if self.settings.verbose:
            return f"\r\n{text}\r\n".encode("latin-1", "replace")
        return f"{text}\r\n".encode("latin-1", "replace")

    def _info_bytes(self, lines: list[str]) -> bytes:
        if not lines:
            return b""
        text = "\r\n".join(lines)
        if self.settings.verbose:
            return f"\r\n{text}\r\n".encode("latin-1", "replace")
        return f"{text}\r\n".encode("latin-1", "replace")

    def _final_bytes(self, result: str) -> bytes:
        if self.settings.quiet:
            return b""
        if self.settings.verbose:
            return f"\r\n{result}\r\n".encode("latin-1")
        if result in NUMERIC_RESULT:
            return f"{NUMERIC_RESULT[result]}\r".encode("latin-1")
        if result.startswith("+"):  # +CME ERROR / +CMS ERROR stay textual under ATV0
            return f"{result}\r\n".encode("latin-1")
        return b"4\r"

    def _error_text(self, error: AtError) -> str:
        if isinstance(error, CmeError):
            if self.settings.cmee == 0:
                return "ERROR"
            if self.settings.cmee == 2:
                return f"+CME ERROR: {CME_TEXT.get(error.code, 'unknown')}"
            return f"+CME ERROR: {error.code}"
        if isinstance(error, CmsError):
            # TS 27.005 §3.2.5: +CMS ERROR is a final result whatever AT+CMEE says; only =2 words it
            if self.settings.cmee == 2:
                return f"+CMS ERROR: {CMS_TEXT.get(error.code, 'unknown error')}"
            return f"+CMS ERROR: {error.code}"
        if isinstance(error, Unsupported):
            return self.person.unsupported_reply
        return "ERROR"

    def _execute_line(self, line: str) -> bytes:
        stripped = line.strip(" \x00")
        upper = stripped.upper()
        if upper == "A/":
            stripped = upper = self._last_line
        at = upper.find("AT")
        if at < 0:
            return b""  # V.250 §5.2.1: characters before "AT" are ignored, and so is a line without it
        body = stripped[at + 2 :]
        self._last_line = stripped[at:]
        out = bytearray()
        try:
            commands = parse_command_line(body)
        except AtError as error:
            return self._final_bytes(self._error_text(error))
        for command in commands:
            try:
                result = self._dispatch(command)
            except AtError as error:
                return bytes(out + self._final_bytes(self._error_text(error)))
            except FinalResult as final:
                return bytes(out + self._final_bytes(final.text))
            if isinstance(result, _Prompt):
                self._prompt = result
                return bytes(out + b"\r\n> ")
            if result:
                out += self._info_bytes(result)
        return bytes(out + self._final_bytes("OK"))

    def _dispatch(self, command: Command) -> list[str] | _Prompt | None:
        handler = self._handlers.get(command.name)
        if handler is None:
            if command.name in self.person.extra_commands:
                return None
            raise Unsupported(command.name)
        return handler(command)

    # ---- the PDU prompt ---------------------------------------------------------------------

    def _feed_prompt(self, byte: int) -> bytes:
        prompt = self._prompt
        assert prompt is not None
        if byte == ESC:
            self._prompt = None
            return self._final_bytes("OK")
        if byte == CTRL_Z:
            self._prompt = None
            try:
                lines = self._finish_prompt(prompt)
            except AtError as error:
                return self._final_bytes(self._error_text(error))
            return self._info_bytes(lines) + self._final_bytes("OK")
        echo = bytes([byte]) if self.settings.echo else b""
        if byte in (0x0D, 0x0A):
            if prompt.length is None and byte == 0x0D:  # text mode: a new line of the message
                prompt.buffer += b"\n"
                return echo + b"\r\n> "
            return echo
        if len(prompt.buffer) < MAX_PROMPT_INPUT:
            prompt.buffer.append(byte)
        return echo

    def _finish_prompt(self, prompt: _Prompt) -> list[str]:
        if prompt.length is None:
            return self._finish_text_prompt(prompt)
        text = prompt.buffer.decode("latin-1").strip()
        try:
            pdu = bytes.fromhex(text)
        except ValueError:
            raise CmsError(304) from None
        if not pdu or len(pdu) - 1 - pdu[0] != prompt.length:
            raise CmsError(304)  # the TPDU is not as long as AT+CMGS=<length> announced
        if prompt.command == "+CMGW":
            storage = self._storage(1)
            index = storage.store(pdu, prompt.stat)
            if index is None:
                raise CmsError(322)
            return [f"+CMGW: {index}"]
        try:
            submitted = submitted_from_pdu(pdu)
        except PduError:
            raise CmsError(304) from None
        return [f"+CMGS: {self._submit(submitted)}"]

    def _finish_text_prompt(self, prompt: _Prompt) -> list[str]:
        try:
            text = from_te(prompt.buffer.decode("latin-1"), self.settings.cscs)
        except ValueError:
            raise CmsError(305) from None
        if prompt.command == "+CMGW":
            raise CmsError(303)
        destination = (
            from_te(prompt.destination or "", self.settings.cscs)
            if self.settings.cscs == "UCS2"
            else prompt.destination
        )
        # AT+CSMP <fo> is the first octet of the SMS-SUBMIT text mode builds: bit 5 is TP-SRR
        report_requested = bool(self.settings.csmp[0] & 0x20)
        sms = SubmittedSms(to=destination, text=text, pdu=None, report_requested=report_requested)
        return [f"+CMGS: {self._submit(sms)}"]

    def _submit(self, sms: SubmittedSms) -> int:
        """Hand an SMS-SUBMIT to the SMSC; returns the TP-MR the modem gave it (+CMGS: <mr>)."""
        self._require_network()
        refusal = self.device.take_send_error()
        if refusal is not None:
            raise CmsError(refusal)
        sim = self.device.sim
        assert sim is not None  # registered, so a SIM is there
        sms.message_reference = self.device.next_message_reference()
        self.device.smsc.record_submit(sms, smsc=sim.smsc_override or sim.identity.operator.smsc)
        return sms.message_reference

    # ---- the network side -------------------------------------------------------------------

    def registration_stat(self) -> int:
        """<stat> of +CREG (TS 27.007 §7.2): 0 not searching, 1 home, 3 denied."""
        if self.cfun != 1 or not self.device.sim_ready or self.cops_deregistered:
            return 0
        if self.device.registration_denied:
            return 3
        return 1

    def deliver(self, pdu: bytes) -> Acceptance:
        """The network offers one SMS-DELIVER (SMSC field first); TS 27.005 §3.4.1 routes it."""
        if self.registration_stat() != 1:
            return Acceptance.UNREACHABLE
        if len(pdu) > pdu[0] + 1 and pdu[pdu[0] + 1] & 0x03 == MTI_STATUS_REPORT:
            return self._deliver_report(pdu)
        mode, mt = self.settings.cnmi[0], self.settings.cnmi[1]
        message_class = self._message_class(pdu)
        direct = mode != 0 and ((mt == 2 and message_class != 2) or (mt == 3 and message_class == 3))
        if direct:
            tpdu_length = len(pdu) - 1 - pdu[0]
            if self.settings.cmgf == 0:
                self.queue_urc(f"+CMT: ,{tpdu_length}\r\n{pdu.hex().upper()}")
            else:
                header, text = self._text_view(StoredMessage(pdu, STAT_REC_UNREAD))
                self.queue_urc(f"+CMT: {header}\r\n{text}")
            return Acceptance.ACCEPTED
        memory = self.settings.cpms[2]
        index = self.device.storages()[memory].store(pdu)
        if index is None:
            return Acceptance.MEMORY_FULL
        if mode != 0 and mt in (1, 2, 3) and not self.device.take_cmti_drop():
            self.queue_urc(f'+CMTI: "{memory}",{index}')
        return Acceptance.ACCEPTED

    def _deliver_report(self, pdu: bytes) -> Acceptance:
        """TS 27.005 §3.4.1 <ds>: 1 shows an SMS-STATUS-REPORT in +CDS (not stored), 2 stores it
        where the personality keeps reports and says where in +CDSI. With <ds>=0 (or <mode>=0,
        which would buffer the URC: this emulator does not) the report is stored unannounced, as an
        SMS is under <mt>=0: nothing the network delivered is lost."""
        mode, ds = self.settings.cnmi[0], self.settings.cnmi[3]
        if ds == 1 and mode != 0:
            try:
                text_fields = self._report_fields(pdu) if self.settings.cmgf == 1 else None
            except PduError:  # a malformed report injected as a raw PDU: shown as PDU mode would
                text_fields = None
            if text_fields is None:
                self.queue_urc(f"+CDS: {len(pdu) - 1 - pdu[0]}\r\n{pdu.hex().upper()}")
            else:
                self.queue_urc(f"+CDS: {text_fields}")
            return Acceptance.ACCEPTED
        memory = self.person.report_memory
        index = self.device.storages()[memory].store(pdu)
        if index is None:
            return Acceptance.MEMORY_FULL
        if ds == 2 and mode != 0:
            self.queue_urc(f'+CDSI: "{memory}",{index}')
        return Acceptance.ACCEPTED

    def _report_fields(self, pdu: bytes) -> str:
        """Text mode's <fo>,<mr>,<ra>,<tora>,<scts>,<dt>,<st> of a status report (+CDS, +CMGR, +CMGL)."""
        report = decode_mt_pdu(pdu)
        assert isinstance(report, SmsStatusReport)
        first_octet = pdu[pdu[0] + 1]
        recipient = to_te(report.recipient, self.settings.cscs)
        return (
            f'{first_octet},{report.message_reference},"{recipient}",{report.recipient_toa},'
            f'"{_scts(report.timestamp)}","{_scts(report.discharge_time)}",{report.status}'
        )

    @staticmethod
    def _message_class(pdu: bytes) -> int | None:
        try:
            message = decode_mt_pdu(pdu, with_smsc=True)
        except PduError:
            return None
        return message.message_class if isinstance(message, SmsDeliver) else None

    def poll(self) -> None:
        """Queue the URCs a change of registration or signal calls for (+CREG: …, ^RSSI: …)."""
        stat = self.registration_stat()
        for name, enabled in (
            ("+CREG", self.settings.creg),
            ("+CGREG", self.settings.cgreg),
            ("+CEREG", self.settings.cereg),
        ):
            if self._reported.get(name) != stat:
                self._reported[name] = stat
                if enabled:
                    self.queue_urc(self._registration_line(name, enabled, stat, solicited=False))
        if self.device.rssi != self._reported_rssi:
            self._reported_rssi = self.device.rssi
            if any(t.startswith("^RSSI") for t in self.person.periodic_urcs):
                self.queue_urc(f"^RSSI: {self.device.rssi}")

    def _registration_line(self, name: str, n: int, stat: int, *, solicited: bool) -> str:
        prefix = f"{name}: {n}," if solicited else f"{name}: "
        line = f"{prefix}{stat}"
        if n >= 2 and stat in (1, 5):
            act = self.person.network_act
            line += f',"1A2B","{self.device.id:04X}C0DE",{act}'
        return line

    # ---- helpers ------------------------------------------------------------------------------

    def _defaults(self) -> AtSettings:
        return AtSettings(cnmi=self.person.default_cnmi)

    def _inserted_sim(self) -> SimCard:
        """The SIM, locked or not; +CME ERROR: 10 when the slot is empty or the SIM unseen."""
        sim = self.device.sim
        if sim is None or not sim.inserted:
            raise CmeError(10)
        return sim

    def require_sim_cme(self) -> SimCard:
        sim = self._inserted_sim()
        if sim.cpin_state == "SIM PUK":
            raise CmeError(12)
        if sim.cpin_state == "SIM PIN":
            raise CmeError(11)
        return sim

    def _require_sim_cms(self) -> SimCard:
        sim = self.device.sim
        if sim is None or not sim.inserted:
            raise CmsError(310)
        if sim.cpin_state == "SIM PUK":
            raise CmsError(316)
        if sim.cpin_state == "SIM PIN":
            raise CmsError(311)
        return sim

    def _require_network(self) -> None:
        if self.registration_stat() != 1:
            raise CmsError(331)

    def _storage(self, which: int) -> MessageStorage:
        """mem1 (read, list, delete), mem2 (write, send) or mem3 (receive) of AT+CPMS."""
        return self.device.storages()[self.settings.cpms[which]]

    def _text_view(self, message: StoredMessage) -> tuple[str, str | None]:
        """Header fields (after "+CMGL: <index>," or "+CMGR: ") and body of a text-mode message;
        addresses and text are in the AT+CSCS character set (TS 27.005 §3.1). A status report is
        one line (<stat>,<fo>,<mr>,<ra>,<tora>,<scts>,<dt>,<st>), no body."""
        stat = f'"{STAT_TEXT[message.stat]}"'
        charset = self.settings.cscs
        try:
            if message.stat >= STAT_STO_UNSENT:
                submit = decode_sms_submit(message.pdu)
                body = submit.text if submit.text is not None else submit.data.hex().upper()
                return f'{stat},"{to_te(submit.recipient, charset)}",', to_te(body, charset)
            decoded = decode_mt_pdu(message.pdu)
        except PduError:
            return f'{stat},"",,', message.pdu.hex().upper()
        if not isinstance(decoded, SmsDeliver):  # a status report kept in storage
            return f"{stat},{self._report_fields(message.pdu)}", None
        body = decoded.text if decoded.text is not None else decoded.data.hex().upper()
        sender = to_te(decoded.sender, charset)
        return f'{stat},"{sender}",,"{_scts(decoded.timestamp)}"', to_te(body, charset)

    # ---- command table -----------------------------------------------------------------------

    def _handler_table(self) -> dict[str, Handler]:
        table: dict[str, Handler] = {
            "E": self._echo,
            "V": self._verbose,
            "Q": self._quiet,
            "Z": self._reset,
            "&F": self._reset,
            "I": self._identify,
            "D": self._dial,
            "H": lambda c: None,
            "A": self._dial,
            "X": lambda c: None,
            "L": lambda c: None,
            "M": lambda c: None,
            "&C": lambda c: None,
            "&D": lambda c: None,
            "&K": lambda c: None,
            "&W": lambda c: None,
            "&V": lambda c: None,
            "+CMEE": self._cmee,
            "+CGMI": self._info(lambda: self.person.manufacturer),
            "+GMI": self._info(lambda: self.person.manufacturer),
            "+CGMM": self._info(lambda: self.person.model),
            "+GMM": self._info(lambda: self.person.model),
            "+CGMR": self._info(lambda: self.person.revision),
            "+GMR": self._info(lambda: self.person.revision),
            "+CGSN": self._info(lambda: self.device.imei),
            "+GSN": self._info(lambda: self.device.imei),
            "+GCAP": self._info(lambda: "+GCAP: +CGSM"),
            "+CIMI": self._cimi,
            "+CPIN": self._cpin,
            "+CLCK": self._clck,
            "+CRSM": self._crsm,
            "+CSQ": self._csq,
            "+CREG": self._creg,
            "+CGREG": self._creg,
            "+CEREG": self._creg,
            "+COPS": self._cops,
            "+CNUM": self._cnum,
            "+CFUN": self._cfun,
            "+CMGF": self._cmgf,
            "+CSCS": self._cscs,
            "+CSCA": self._csca,
            "+CSMS": self._csms,
            "+CSMP": self._csmp,
            "+CSDH": self._csdh,
            "+CPMS": self._cpms,
            "+CNMI": self._cnmi,
            "+CNMA": lambda c: None,
            "+CSCB": lambda c: None,
            "+CMMS": lambda c: None,
            "+CGSMS": lambda c: None,
            "+CMGL": self._cmgl,
            "+CMGR": self._cmgr,
            "+CMGD": self._cmgd,
            "+CMGS": self._cmgs,
            "+CMGW": self._cmgw,
            "+CMSS": self._cmss,
            "+CLAC": self._clac,
            "+CLIP": lambda c: ["+CLIP: 0,1"] if c.form == "read" else None,
            "+CRC": lambda c: None,
            "+CSSN": lambda c: None,
            "+CUSD": lambda c: None,
        }
        for name in self.person.iccid_commands:
            table[name] = self._iccid
        table[self.person.pin_counter_command] = self._pin_counters
        table.update(packet_data.handlers(self))
        return table

    # ---- V.250 basics ---------------------------------------------------------------------------

    @staticmethod
    def _flag(command: Command) -> bool:
        return int_arg(command.args or "0", 0, 1) == 1

    def _echo(self, command: Command) -> None:
        self.settings.echo = self._flag(command)

    def _verbose(self, command: Command) -> None:
        self.settings.verbose = self._flag(command)

    def _quiet(self, command: Command) -> None:
        self.settings.quiet = self._flag(command)

    def _reset(self, command: Command) -> None:
        self.settings = self._defaults()

    def _identify(self, command: Command) -> list[str]:
        return [line.format(imei=self.device.imei) for line in self.person.ati_lines]

    def _dial(self, command: Command) -> None:
        raise FinalResult("NO CARRIER")

    @staticmethod
    def _info(value: Callable[[], str]) -> Handler:
        def handler(command: Command) -> list[str] | None:
            if command.form == "test":
                return None
            return [value()]

        return handler

    def _cmee(self, command: Command) -> list[str] | None:
        if command.form == "read":
            return [f"+CMEE: {self.settings.cmee}"]
        if command.form == "test":
            return ["+CMEE: (0-2)"]
        self.settings.cmee = int_arg(command.args or "0", 0, 2)
        return None

    def _clac(self, command: Command) -> list[str]:
        names = sorted(set(self._handlers) | set(self.person.extra_commands))
        return [f"AT{name}" for name in names]

    # ---- SIM and identity -----------------------------------------------------------------------

    def _cimi(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return None
        return [self.require_sim_cme().identity.imsi]

    def _iccid(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return None
        return [self.person.format_iccid(command.name, self._inserted_sim().identity.iccid)]

    def _crsm(self, command: Command) -> list[str]:
        """AT+CRSM=176,12258,0,0,10 reads EF_ICCID (2FE2), BCD with swapped nibbles (TS 51.011)."""
        sim = self._inserted_sim()
        args = split_args(command.args)
        if len(args) >= 2 and args[0] == "176" and args[1] == "12258":
            iccid = sim.identity.iccid
            padded = iccid + "F" * (20 - len(iccid))
            swapped = "".join(padded[i + 1] + padded[i] for i in range(0, 20, 2))
            return [f'+CRSM: 144,0,"{swapped}"']
        return ["+CRSM: 106,130"]

    def _cpin(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return None
        sim = self._inserted_sim()
        if command.form in ("read", "exec"):
            return [f"+CPIN: {sim.cpin_state}"]
        args = split_args(command.args)
        if not args or not args[0]:
            raise SyntaxFault("AT+CPIN needs a PIN")
        try:
            sim.enter(args[0], args[1] if len(args) > 1 else None)
        except PinError as error:
            raise CmeError(error.cme) from None
        for line in self.person.sim_ready_urcs:
            self.queue_urc(line)
        return None

    def _clck(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return ['+CLCK: ("SC","AO","OI","OX","AI","IR","AB","AG","AC")']
        args = split_args(command.args)
        if len(args) < 2 or args[0].upper() != "SC":
            raise CmeError(4)
        lock = self.require_sim_cme().lock
        mode = int_arg(args[1], 0, 2)
        if mode == 2:
            return [f"+CLCK: {int(lock.enabled)}"]
        if len(args) < 3 or args[2] != lock.pin:
            raise CmeError(16)
        lock.enabled = mode == 1
        return None

    def _pin_counters(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return None
        sim = self._inserted_sim()
        counters = PinCounters(pin=sim.lock.pin_attempts, puk=sim.lock.puk_attempts)
        return self.person.pin_counters_line(command.name, sim.cpin_state, counters)

    def _cnum(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return None
        return [f'+CNUM: "","{self.require_sim_cme().identity.msisdn}",145']

    # ---- radio ------------------------------------------------------------------------------------

    def _csq(self, command: Command) -> list[str]:
        if command.form == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        rssi = self.device.rssi if self.cfun == 1 else 99
        return [f"+CSQ: {rssi},99"]

    def _creg(self, command: Command) -> list[str] | None:
        attribute = command.name[1:].lower()
        if command.form == "test":
            return [f"{command.name}: (0-2)"]
        if command.form == "read":
            n = getattr(self.settings, attribute)
            return [self._registration_line(command.name, n, self.registration_stat(), solicited=True)]
        if command.form == "set":
            setattr(self.settings, attribute, int_arg(command.args or "0", 0, 2))
            return None
        raise SyntaxFault(command.name)

    def _cops(self, command: Command) -> list[str] | None:
        operator = self.device.operator
        act = self.person.network_act
        if command.form == "test":
            return [
                f'+COPS: (2,"{operator.name}","{operator.short_name}","{operator.mcc_mnc}",{act}),,(0-4),(0-2)'
            ]
        if command.form == "read":
            if self.registration_stat() != 1:
                return ["+COPS: 0"]
            fmt = self.settings.cops_format
            name = (operator.name, operator.short_name, operator.mcc_mnc)[fmt]
            if fmt != 2:
                name = to_te(name, self.settings.cscs)
            return [f'+COPS: 0,{fmt},"{name}",{act}']
        args = split_args(command.args)
        mode = int_arg(args[0], 0, 4) if args and args[0] else 0
        if mode == 3:
            self.settings.cops_format = int_arg(args[1], 0, 2) if len(args) > 1 and args[1] else 0
        elif mode == 2:
            self.cops_deregistered = True
        else:
            if mode == 1 and len(args) > 2 and args[2] not in (operator.mcc_mnc, operator.name):
                raise CmeError(30)
            self.cops_deregistered = False
        return None

    def _cfun(self, command: Command) -> list[str] | None:
        if command.form == "test":
            funs = ",".join(str(fun) for fun in sorted({0, 1, 4} | self.person.reset_cfun))
            return [f"+CFUN: ({funs}),(0,1)"]
        if command.form == "read":
            return [f"+CFUN: {self.cfun}"]
        args = split_args(command.args)
        if args and args[0].isdigit() and int(args[0]) in self.person.reset_cfun:
            self.reset_requested = True  # a vendor reset (Huawei AT+CFUN=16)
            return None
        fun = int_arg(args[0] if args else "1", 0, 4)
        if fun not in (0, 1, 4):
            raise CmeError(4)
        self.cfun = fun
        if len(args) > 1 and int_arg(args[1], 0, 1) == 1:
            self.reset_requested = True
        return None

    # ---- SMS settings ---------------------------------------------------------------------------

    def _cmgf(self, command: Command) -> list[str] | None:
        if command.form == "read":
            return [f"+CMGF: {self.settings.cmgf}"]
        if command.form == "test":
            return ["+CMGF: (0,1)"]
        self.settings.cmgf = int_arg(command.args or "0", 0, 1)
        return None

    def _cscs(self, command: Command) -> list[str] | None:
        if command.form == "read":
            return [f'+CSCS: "{self.settings.cscs}"']
        if command.form == "test":
            return ["+CSCS: (" + ",".join(f'"{name}"' for name in self.person.charsets) + ")"]
        args = split_args(command.args)
        charset = args[0].upper() if args else ""
        if charset not in self.person.charsets:
            raise CmeError(4)
        self.settings.cscs = charset
        return None

    def _csca(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return None
        sim = self._require_sim_cms()
        if command.form == "read":
            smsc = sim.smsc_override or sim.identity.operator.smsc
            return [f'+CSCA: "{smsc}",{145 if smsc.startswith("+") else 129}']
        args = split_args(command.args)
        if not args or not args[0]:
            raise CmsError(304 if self.settings.cmgf == 0 else 305)
        sim.smsc_override = args[0]
        return None

    def _csms(self, command: Command) -> list[str] | None:
        if command.form == "read":
            return [f"+CSMS: {self.settings.csms},1,1,1"]
        if command.form == "test":
            return ["+CSMS: (0,1)"]
        self.settings.csms = int_arg(command.args or "0", 0, 1)
        return ["+CSMS: 1,1,1"]

    def _csmp(self, command: Command) -> list[str] | None:
        if command.form == "read":
            return ["+CSMP: " + ",".join(str(v) for v in self.settings.csmp)]
        if command.form == "set":
            values = [int(v) if v.isdigit() else 0 for v in split_args(command.args)][:4]
            self.settings.csmp = tuple((values + list(self.settings.csmp))[:4])  # type: ignore[assignment]
        return None

    def _csdh(self, command: Command) -> list[str] | None:
        if command.form == "read":
            return [f"+CSDH: {self.settings.csdh}"]
        if command.form == "test":
            return ["+CSDH: (0,1)"]
        self.settings.csdh = int_arg(command.args or "0", 0, 1)
        return None

    def _cpms(self, command: Command) -> list[str]:
        names = list(self.device.storages())
        if command.form == "test":
            # TS 27.005 §3.2.2: "SR" (status reports) can be read and deleted, not written to
            readable = "(" + ",".join(f'"{name}"' for name in names) + ")"
            writable = "(" + ",".join(f'"{name}"' for name in names if name != "SR") + ")"
            return [f"+CPMS: {readable},{writable},{writable}"]
        self._require_sim_cms()
        storages = self.device.storages()
        if command.form == "read":
            fields = [
                f'"{name}",{len(storages[name])},{storages[name].capacity}' for name in self.settings.cpms
            ]
            return ["+CPMS: " + ",".join(fields)]
        if command.form != "set":
            raise SyntaxFault("AT+CPMS")
        chosen = [arg.upper() for arg in split_args(command.args)]
        if not chosen or len(chosen) > 3 or any(name not in storages for name in chosen):
            raise CmsError(302)
        if "SR" in chosen[1:]:
            raise CmsError(302)
        self.settings.cpms = tuple(chosen + list(self.settings.cpms[len(chosen) :]))  # type: ignore[assignment]
        counts = [f"{len(storages[name])},{storages[name].capacity}" for name in self.settings.cpms]
        return ["+CPMS: " + ",".join(counts)]

    def _cnmi(self, command: Command) -> list[str] | None:
        if command.form == "read":
            return ["+CNMI: " + ",".join(str(v) for v in self.settings.cnmi)]
        if command.form == "test":
            return ["+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)"]
        args = split_args(command.args)
        if len(args) > 5:
            raise CmsError(302)
        limits = (3, 3, 3, 2, 1)
        values = list(self.settings.cnmi)
        for position, arg in enumerate(args):
            if arg:
                values[position] = int_arg(arg, 0, limits[position])
        self.settings.cnmi = tuple(values)  # type: ignore[assignment]
        return None

    # ---- SMS storage ---------------------------------------------------------------------------

    def _stat_argument(self, value: str) -> int:
        if self.settings.cmgf == 0:
            try:
                stat = int(value)
            except ValueError:
                raise CmsError(304) from None
            if stat not in STAT_TEXT:
                raise CmsError(304)
            return stat
        stat_value = STAT_FROM_TEXT.get(value.upper())
        if stat_value is None:
            raise CmsError(305)
        return stat_value

    def _message_lines(self, head: str, index: int | None, message: StoredMessage) -> list[str]:
        if self.settings.cmgf == 0:
            prefix = f"{head}: {index}," if index is not None else f"{head}: "
            return [f"{prefix}{message.stat},,{message.tpdu_length}", message.pdu.hex().upper()]
        header, body = self._text_view(message)
        prefix = f"{head}: {index}," if index is not None else f"{head}: "
        return [f"{prefix}{header}"] + ([] if body is None else [body])

    def _cmgl(self, command: Command) -> list[str] | None:
        if command.form == "test":
            if self.settings.cmgf == 0:
                return ["+CMGL: (0-4)"]
            return ["+CMGL: (" + ",".join(f'"{text}"' for text in STAT_TEXT.values()) + ")"]
        self._require_sim_cms()
        args = split_args(command.args)
        stat = self._stat_argument(args[0]) if args else STAT_REC_UNREAD
        lines: list[str] = []
        for index, message in self._storage(0).messages(stat):
            lines += self._message_lines("+CMGL", index, message)
            if message.stat == STAT_REC_UNREAD:
                message.stat = STAT_REC_READ
        return lines

    def _index_argument(self, args: list[str], storage: MessageStorage) -> int:
        if not args or not args[0]:
            raise CmsError(321)
        try:
            index = int(args[0])
        except ValueError:
            raise CmsError(321) from None
        if not storage.valid_index(index):
            raise CmsError(321)
        return index

    def _cmgr(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return None
        self._require_sim_cms()
        storage = self._storage(0)
        index = self._index_argument(split_args(command.args), storage)
        message = storage.get(index)
        if message is None:
            if self.person.cmgr_empty_error is not None:
                raise CmsError(self.person.cmgr_empty_error)
            return None
        lines = self._message_lines("+CMGR", None, message)
        if message.stat == STAT_REC_UNREAD:
            message.stat = STAT_REC_READ
        return lines

    def _cmgd(self, command: Command) -> list[str] | None:
        storage = self._storage(0)
        if command.form == "test":
            used = ",".join(str(index) for index, _ in storage.messages())
            return [f"+CMGD: ({used}),(0-4)"]
        self._require_sim_cms()
        args = split_args(command.args)
        flag = int_arg(args[1], 0, 4) if len(args) > 1 and args[1] else 0
        if flag:
            storage.delete_by_flag(flag)
            return None
        index = self._index_argument(args, storage)
        storage.delete(index)  # deleting an empty slot is OK on every modem we know
        return None

    def _cmgs(self, command: Command) -> _Prompt | list[str] | None:
        if command.form == "test":
            return None
        self._require_sim_cms()
        args = split_args(command.args)
        if self.settings.cmgf == 1:
            if not args or not args[0]:
                raise CmsError(305)
            return _Prompt("+CMGS", None, destination=args[0])
        if not args:
            raise CmsError(304)
        try:
            length = int(args[0])
        except ValueError:
            raise CmsError(304) from None
        if not 7 <= length <= 164:
            raise CmsError(304)
        return _Prompt("+CMGS", length)

    def _cmgw(self, command: Command) -> _Prompt | list[str] | None:
        if command.form == "test":
            return None
        self._require_sim_cms()
        args = split_args(command.args)
        if self.settings.cmgf == 1:
            raise CmsError(303)
        if not args:
            raise CmsError(304)
        length = int_arg(args[0], 1, 175)
        stat = int_arg(args[1], 0, 3) if len(args) > 1 and args[1] else STAT_STO_UNSENT
        if self._storage(1).full:
            raise CmsError(322)
        return _Prompt("+CMGW", length, stat=stat)

    def _cmss(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return None
        self._require_sim_cms()
        storage = self._storage(1)
        index = self._index_argument(split_args(command.args), storage)
        message = storage.get(index)
        if message is None:
            raise CmsError(321)
        try:
            submitted = submitted_from_pdu(message.pdu)
        except PduError:
            raise CmsError(304) from None
        reference = self._submit(submitted)
        message.stat = 3
        return [f"+CMSS: {reference}"]


__all__ = [
    "STAT_ALL",
    "AtInterpreter",
    "AtSettings",
    "Command",
    "parse_command_line",
    "split_args",
]
