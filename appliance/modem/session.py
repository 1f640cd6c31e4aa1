"""One modem on one serial port: bring it up, read its SIM storage, persist, then delete.

The order in ``drain_storage`` is the appliance's central promise: a PDU leaves the SIM only after the
database said it is durable. At start-up (and on every wake-up) the whole storage is listed, so what
arrived while the appliance was down, or whose ``+CMTI`` got lost, is read too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from typing import NoReturn

from appliance.modem import responses
from appliance.modem.at import AtChannel, AtError, AtTimeout, ChannelClosed, wait_for_sync
from appliance.modem.at_log import AtLog
from appliance.modem.data_call import Apn, DataCall, DataCallError, DataLink
from appliance.modem.outbound import PERMANENT_CMS_ERRORS, ClaimedSms, OutboundQueue
from appliance.modem.usb_reset import UsbResetUnavailable, reset_usb_device
from appliance.reception.ingest import IngestWriter, StoreFailed
from appliance.reception.store import ReceivedPdu

log = logging.getLogger(__name__)


class ModemState(Enum):
    CONNECTING = "connecting"
    SIM_LOCKED = "sim_locked"
    NO_SIM = "no_sim"
    READY = "ready"
    DISCONNECTED = "disconnected"
    FAILED = "failed"


@dataclass(frozen=True)
class ModemStatus:
    port: str
    state: ModemState
    detail: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    imei: str | None = None
    msisdn: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    revision: str | None = None
    operator: str | None = None
    signal_dbm: int | None = None
    storage_used: int | None = None
    storage_total: int | None = None
    registration: str | None = None  # home, roaming, searching, denied, not_registered, unknown


StatusListener = Callable[[ModemStatus], None]


class SimUnavailable(Exception):
    """The modem answers but its SIM cannot be used (absent, locked); ``state`` says which."""

    def __init__(self, state: ModemState, detail: str) -> None:
        self.state = state
        self.detail = detail
        super().__init__(detail)

# Tried in this order; vendors answer only their own (ModemManager does the same probing).
_ICCID_COMMANDS = ("AT+CCID", "AT^ICCID?", "AT+QCCID", "AT+ICCID", "AT+CRSM=176,12258,0,0,10")
_SEND_CHECK_SECONDS = 5.0
# Reconnect attempts are cheap on a local serial line, and a modem back from a fault should be read
# within seconds: backoff doubles from 1 s but stays below this.
_MAX_BACKOFF_SECONDS = 8.0
# Lines a modem sends when it (re)booted or its SIM changed: whatever we knew about the SIM is stale.
_SIM_CHANGE_URCS = ("RDY", "^BOOT", "^SIMST", "+CPIN:", "+QUSIM", "^SYSSTART", "Call Ready", "SMS Ready",
                    "+QIND: SMS DONE", "+CFUN:")
# A full storage (Huawei ^SMMEMFULL, Quectel +QIND: "smsfull", 27.005 +CIEV): read it empty at once.
_STORAGE_FULL_URCS = ("^SMMEMFULL", '+QIND: "smsfull"', "+CIEV:")
# Status reports come as +CDS (ds=1): stored at once, whatever storage the modem would have put them in.
_CNMI_CHOICES = ("AT+CNMI=2,1,0,1,0", "AT+CNMI=2,1,0,2,0", "AT+CNMI=2,1,0,0,0", "AT+CNMI=1,1,0,0,0")


class ModemSession:
    """Owns the port's thread. Reconnects with backoff until ``stop()``; never deletes unpersisted PDUs."""

    def __init__(self, port: str, ingest: IngestWriter, on_status: StatusListener,
                 at_timeout: float = 5.0, poll_seconds: float = 30.0,
                 sim_pins: dict[str, str] | None = None,
                 refused_pins: set[tuple[str | None, str]] | None = None,
                 outbound: OutboundQueue | None = None, send_interval: float = 1.0,
                 reset_device: Callable[[str], object] | None = reset_usb_device,
                 timeouts_before_reset: int = 3, at_log: AtLog | None = None) -> None:
        self.port = port
        # One log across reconnects (and, given by the pool, across sessions on this port): the
        # dialogue before a modem dropped off is what explains it.
        self.at_log = at_log if at_log is not None else AtLog()
        self._ingest = ingest
        self._on_status = on_status
        self._at_timeout = at_timeout
        self._poll_seconds = poll_seconds
        self._sim_pins = sim_pins or {}
        # Shared by the pool: a PIN a SIM refused is never sent to it again, whatever port it is on.
        self._refused_pins = refused_pins if refused_pins is not None else set()
        self._outbound = outbound
        # Operators throttle a SIM that sends faster; a steady pace keeps its texts flowing.
        self._send_interval = send_interval
        self._last_send = 0.0
        self._reset_device = reset_device
        self._iccid_command: str | None = None
        self._timeouts_before_reset = timeouts_before_reset
        self._health_due = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._channel: AtChannel | None = None
        self._thread = threading.Thread(target=self._run, name=f"modem {port}", daemon=True)
        self.status = ModemStatus(port=port, state=ModemState.CONNECTING)
        self.consecutive_timeouts = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._channel is not None:
            self._channel.close()
        self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _set_status(self, **changes: object) -> None:
        self.status = replace(self.status, **changes)  # type: ignore[arg-type]
        try:
            self._on_status(self.status)
        except Exception:  # noqa: BLE001 - a listener must not take the modem down
            log.exception("%s: status listener failed", self.port)

    # --- lifecycle ---------------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                self._connect()
                backoff = 1.0
                self.consecutive_timeouts = 0
                self._serve()
            except (ChannelClosed, AtTimeout, AtError, OSError, SimUnavailable) as exc:
                if self._stopping.is_set():
                    break
                if isinstance(exc, SimUnavailable):
                    state = exc.state
                else:
                    state = ModemState.DISCONNECTED if isinstance(exc, ChannelClosed) else ModemState.FAILED
                log.warning("%s: %s; trying again in %.0f s", self.port, exc, backoff)
                self._set_status(state=state, detail=str(exc))
                if isinstance(exc, AtTimeout):
                    self._watchdog()
            finally:
                if self._channel is not None:
                    self._channel.close()
                    self._channel = None
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
        self._set_status(state=ModemState.DISCONNECTED, detail="stopped")

    def _watchdog(self) -> None:
        """A modem that keeps not answering gets its USB device reset (a reopen did not help)."""
        self.consecutive_timeouts += 1
        if self.consecutive_timeouts < self._timeouts_before_reset or self._reset_device is None:
            return
        self.consecutive_timeouts = 0
        try:
            self._reset_device(self.port)
        except UsbResetUnavailable as exc:
            self._set_status(state=ModemState.FAILED,
                             detail=f"modem stopped answering AT commands; USB reset not possible: {exc}")
            return
        self._set_status(state=ModemState.FAILED, detail="modem stopped answering AT commands; USB device reset")

    def _connect(self) -> None:
        self._set_status(state=ModemState.CONNECTING, detail=None)
        channel = AtChannel(self.port, on_urc=self._on_urc, on_closed=self._on_channel_closed,
                            at_log=self.at_log)
        channel.open()
        self._channel = channel
        # Whatever the port still holds for a previous owner arrives now, as notifications nobody
        # waits for, instead of as the answer to our first command.
        time.sleep(0.2)
        wait_for_sync(channel, timeout=min(self._at_timeout, 2.0))
        self._at("ATE0")
        self._optional("AT+CMEE=1")
        self._unlock_sim()
        identity = self._identify()
        # Essential for reception: PDU mode, storage, new-message indications. Anything else optional.
        self._at("AT+CMGF=0")
        self._optional('AT+CPMS="SM","SM","SM"')
        for choice in _CNMI_CHOICES:
            if self._optional(choice) is not None:
                break
        self._set_status(state=ModemState.READY, detail=None, **identity)
        self.check_health()
        log.info("%s: ready, SIM %s (%s, %s)", self.port, identity.get("iccid"), identity.get("operator"),
                 identity.get("model"))

    def _unlock_sim(self) -> None:
        try:
            state = responses.parse_cpin(self._at("AT+CPIN?")) or "READY"
        except AtError as exc:
            if exc.code == 10:  # TS 27.007 §9.2.1: SIM not inserted
                raise SimUnavailable(ModemState.NO_SIM, "no SIM card in the modem") from exc
            raise
        if state == "READY":
            return
        iccid = self._read_iccid()
        if state != "SIM PIN":
            self._locked(f"SIM {iccid or '?'} asks for {state}: unlock it in a phone, then replug")
        pin = self._sim_pins.get(iccid or "")
        if pin is None:
            self._locked(f"SIM {iccid or '?'} asks for its PIN: add it to sim_pins in the settings")
        if (iccid, pin) in self._refused_pins:
            self._locked(f"SIM {iccid}: the PIN in the settings was refused; not tried again")
        attempts = responses.parse_pin_attempts(
            (self._optional("AT^CPIN?") or []) + (self._optional('AT+QPINC="SC"') or [])
            + (self._optional("AT+SPIC") or []))
        if attempts is not None and attempts <= 1:
            # The last attempt is the owner's: a wrong one would lock the SIM behind its PUK.
            self._locked(f"SIM {iccid}: only {attempts} PIN attempt left; enter the PIN by hand")
        try:
            self._at(f'AT+CPIN="{pin}"', timeout=max(self._at_timeout, 10.0))
        except AtError as exc:
            self._refused_pins.add((iccid, pin))
            self._locked(f"SIM {iccid}: PIN refused ({exc.final}); not tried again")
        deadline = time.monotonic() + 20
        while responses.parse_cpin(self._optional("AT+CPIN?") or []) != "READY":
            if time.monotonic() > deadline:
                self._locked(f"SIM {iccid}: PIN accepted but the SIM did not become ready")
            time.sleep(0.5)
        log.info("%s: SIM %s unlocked with its PIN from the settings", self.port, iccid)

    @staticmethod
    def _locked(detail: str) -> NoReturn:
        raise SimUnavailable(ModemState.SIM_LOCKED, detail)

    def _read_iccid(self) -> str | None:
        commands = ([self._iccid_command] if self._iccid_command else []) + list(_ICCID_COMMANDS)
        for command in commands:
            iccid = responses.parse_iccid(self._optional(command) or [])
            if iccid:
                self._iccid_command = command
                return iccid
        return None

    def _verify_sim(self) -> str:
        """The SIM in the modem now. Messages are attributed to it, so a swapped SIM (which may come
        without any URC) must be noticed before its storage is read: re-identify from scratch."""
        iccid = self._read_iccid()
        if iccid is None or iccid != self.status.iccid:
            raise ChannelClosed(f"the SIM changed ({self.status.iccid} → {iccid}); identifying it again")
        return iccid

    def _identify(self) -> dict[str, object]:
        identity: dict[str, object] = {
            "manufacturer": responses.parse_plain(self._optional("AT+CGMI") or []),
            "model": responses.parse_plain(self._optional("AT+CGMM") or []),
            "revision": responses.parse_plain(self._optional("AT+CGMR") or []),
            "imei": responses.parse_plain(self._optional("AT+CGSN") or []),
            "imsi": responses.parse_plain(self._optional("AT+CIMI") or []),
        }
        iccid = self._read_iccid()
        if not iccid:
            raise AtError("ICCID", "the SIM's ICCID could not be read; messages cannot be attributed")
        identity["iccid"] = iccid
        identity["msisdn"] = responses.parse_cnum(self._optional("AT+CNUM") or [])
        self._optional("AT+COPS=3,0")
        identity["operator"] = responses.parse_cops(self._optional("AT+COPS?") or [])
        identity["signal_dbm"] = responses.parse_csq(self._optional("AT+CSQ") or [])
        return identity

    def wake(self) -> None:
        """Look at storage and the outbound queue now (a +CMTI, or a text queued for this SIM)."""
        self._wake.set()

    def _serve(self) -> None:
        next_poll = 0.0
        next_send_check = 0.0
        while not self._stopping.is_set():
            channel = self._channel
            if channel is None or channel.closed.is_set():
                raise ChannelClosed(f"{self.port} went away")
            woken = self._wake.is_set()
            self._wake.clear()
            if woken or time.monotonic() >= next_poll:
                try:
                    self.drain_storage()
                except StoreFailed as exc:
                    # The modem is fine: it keeps the messages until the database takes them again.
                    log.error("%s: received messages not stored (%s); they stay on the SIM and are read "
                              "again in %.0f s", self.port, exc, self._poll_seconds)
                next_poll = time.monotonic() + self._poll_seconds
            if woken or time.monotonic() >= next_send_check:
                self._send_pending()
                next_send_check = time.monotonic() + _SEND_CHECK_SECONDS
            if self._health_due.is_set():
                self._health_due.clear()
                self.check_health()
            self._wake.wait(timeout=max(0.0, min(next_poll - time.monotonic(), 1.0)))

    def request_health_check(self) -> None:
        """Called by the pool's scheduler; the check runs in this session's thread, between reads."""
        self._health_due.set()
        self._wake.set()

    def check_health(self) -> None:
        """Signal, registration, operator, SIM and storage, as the panel shows them."""
        try:
            cpin = responses.parse_cpin(self._at("AT+CPIN?"))
        except AtError as exc:
            if exc.code == 10:
                raise SimUnavailable(ModemState.NO_SIM, "the SIM was taken out") from exc
            raise
        if cpin is not None and cpin != "READY":
            raise SimUnavailable(ModemState.SIM_LOCKED, f"SIM now asks for {cpin}")
        self._verify_sim()
        registration = responses.parse_registration(self._optional("AT+CREG?") or [])
        if registration not in ("home", "roaming"):
            # LTE-only attachments show in +CEREG while +CREG (circuit switched) says searching.
            registration = responses.parse_registration(self._optional("AT+CEREG?") or []) or registration
        usage = responses.parse_cpms(self._optional("AT+CPMS?") or [])
        self._set_status(signal_dbm=responses.parse_csq(self._optional("AT+CSQ") or []),
                         operator=responses.parse_cops(self._optional("AT+COPS?") or []) or self.status.operator,
                         registration=registration,
                         storage_used=usage[0] if usage else self.status.storage_used,
                         storage_total=usage[1] if usage else self.status.storage_total)

    # --- data calls ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def data_call(self, apn: Apn) -> Iterator[DataLink]:
        """A data call for the caller's thread (the MMS fetcher), hung up when the block ends.

        Its AT commands queue with this session's on the channel's lock, so SMS reading goes on
        between them and during the call (the data flows over the modem's network interface).
        """
        if self.status.state is not ModemState.READY:
            raise DataCallError(f"{self.port} is {self.status.state.value}, not ready for a data call")
        call = DataCall(self._at, self.status.manufacturer)
        try:
            link = call.connect(apn)
        except (AtError, AtTimeout, ChannelClosed, DataCallError) as exc:
            self._hang_up(call)
            raise DataCallError(f"{self.port}: data call on APN {apn.name!r} failed: {exc}") from exc
        try:
            yield link
        finally:
            self._hang_up(call)

    def _hang_up(self, call: DataCall) -> None:
        try:
            call.disconnect()
        except (AtError, AtTimeout, ChannelClosed) as exc:
            log.warning("%s: hanging up the data call: %s", self.port, exc)

    # --- sending ------------------------------------------------------------------------------------

    def _send_pending(self) -> None:
        if self._outbound is None or self.status.iccid is None:
            return
        while not self._stopping.is_set():
            claimed = self._outbound.claim_next(self.status.iccid)
            if claimed is None:
                return
            self._send(claimed)

    def _send(self, claimed: ClaimedSms) -> None:
        assert self._outbound is not None and self._channel is not None
        for part in claimed.parts:
            pause = self._last_send + self._send_interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                answer = self._channel.send_pdu(part.tpdu_length, part.pdu.hex().upper())
            except AtError as exc:
                self._outbound.send_failed(claimed.id, f"part {part.sequence}: {exc.final}",
                                           permanent=exc.code in PERMANENT_CMS_ERRORS)
                return
            except (AtTimeout, ChannelClosed) as exc:
                # Whether the modem sent it is unknown: the part goes again (at least once).
                self._outbound.send_failed(claimed.id, f"part {part.sequence}: {exc}", permanent=False)
                raise
            finally:
                self._last_send = time.monotonic()
            reference = responses.parse_cmgs(answer)
            self._outbound.part_sent(part.id, reference)
        self._outbound.all_sent(claimed.id)
        log.info("%s: SMS %d to %s sent (%d parts)", self.port, claimed.id, claimed.recipient, len(claimed.parts))

    # --- reading ------------------------------------------------------------------------------------

    def drain_storage(self) -> int:
        """List the storage, persist every PDU, delete those the database holds. Returns PDUs read."""
        iccid = self._verify_sim()
        entries = responses.parse_cmgl(self._at("AT+CMGL=4"))
        if entries:
            batch = [ReceivedPdu(iccid=iccid, pdu=entry.pdu if entry.pdu is not None else entry.raw_line.encode(),
                                 storage="SM", index=entry.index) for entry in entries]
            self._ingest.store(batch)
            for entry in entries:
                if entry.index is not None:
                    self._delete_if_unchanged(entry)
        usage = responses.parse_cpms(self._optional("AT+CPMS?") or [])
        if usage and (usage[0], usage[1]) != (self.status.storage_used, self.status.storage_total):
            self._set_status(storage_used=usage[0], storage_total=usage[1])
        return len(entries)

    def _delete_if_unchanged(self, entry: responses.StoredPdu) -> None:
        """Delete a slot only if it still holds the PDU we stored.

        A late answer from before a reconnect (or a crashed predecessor on the same port) can make a
        listing stale; by now the slot may hold a new message we have not stored. Reading it back
        costs one command per message and rules that loss out.
        """
        current = responses.parse_cmgr(entry.index, self._at(f"AT+CMGR={entry.index}"))
        if current is None or current.raw_line != entry.raw_line:
            log.warning("%s: slot %s changed since it was listed; left for the next read", self.port, entry.index)
            self._wake.set()
            return
        self._at(f"AT+CMGD={entry.index}")

    def _on_urc(self, lines: list[str]) -> None:
        head = lines[0]
        if head.startswith(("+CMTI:", "+CDSI:", *_STORAGE_FULL_URCS)):
            self._wake.set()
        elif head.startswith(("+CMT:", "+CDS:")) and len(lines) > 1:
            self._store_direct(lines[1])
        elif head.startswith(_SIM_CHANGE_URCS):
            self.request_health_check()  # it checks the SIM is still the one we read for
        elif head.startswith(("+CREG:", "+CEREG:", "+CGREG:", "^RSSI:", "^HRSSI:")):
            self.request_health_check()
        elif "\ufffd" in head:
            self._wake.set()  # line noise may have eaten a +CMTI: look at the storage now
        else:
            log.debug("%s: URC %r", self.port, lines)

    def _store_direct(self, pdu_line: str) -> None:
        """``+CMT``/``+CDS`` routed straight to us: the modem keeps no copy, so store it at once."""
        iccid = self.status.iccid or "unknown"
        pdu = responses.hex_or_none(pdu_line.strip()) or pdu_line.encode()
        future = self._ingest.submit([ReceivedPdu(iccid=iccid, pdu=pdu)])
        future.add_done_callback(
            lambda f: f.exception() and log.error("%s: direct PDU not stored: %s", self.port, f.exception()))

    def _on_channel_closed(self, exc: Exception) -> None:
        log.warning("%s: port closed: %s", self.port, exc)
        self._wake.set()

    # --- AT helpers ---------------------------------------------------------------------------------

    def _at(self, command: str, timeout: float | None = None) -> list[str]:
        if self._channel is None:
            raise ChannelClosed(f"{self.port} is not open")
        return self._channel.command(command, timeout=timeout or self._at_timeout)

    def _optional(self, command: str) -> list[str] | None:
        """A command a modem may refuse (``ERROR``, ``COMMAND NOT SUPPORT``) without failing the session."""
        try:
            return self._at(command)
        except AtError as exc:
            log.debug("%s: optional %s refused: %s", self.port, command, exc.final)
            return None
