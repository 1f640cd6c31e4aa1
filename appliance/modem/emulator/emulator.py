"""N emulated modems on ptys, the network behind them, and the control methods tests and demos use.

Each modem runs one thread that owns its pty and its interpreter: it reads the client's bytes,
answers, delivers what the network queued, and writes URCs only between responses. Control calls
from other threads (faults) are handed to that thread, so a pty is never closed under its reader.
The thread sleeps until input, a control call or its next deadline (a timer, a status report, the
end of a hang, a periodic URC), so an idle shelf of modems costs next to no CPU.

Faults (`Emulator.fault(id, kind, **params)`, `POST /modems/{id}/fault`), beyond DESIGN §4.2:
- `sim_back`, `pin_required` {attempts, pin}, `weak_signal` {rssi, seconds}, `registration_denied`
  {seconds}, `clear` (every fault and setting back to normal).
- `report_delay` {seconds}: how long the SMSC takes to send a requested status report (0.5 s).
- `report_status` {status, count=1 | null}: the next `count` reports (null: all) carry TP-ST `status`
  (e.g. 70 = 0x46, validity period expired) instead of 0 (delivered).
- `send_error` {code=500, count=1 | null}: AT+CMGS/AT+CMSS answer +CMS ERROR: <code> that many times.
- `network_busy` {seconds | null, code=42}: sends fail with +CMS ERROR: 42 (congestion) meanwhile.
- `drop_cmti` {count | null}: that many received SMS (null: all) are stored without a +CMTI.
- `usb_reset` {seconds=0.5}: what the appliance's USB reset does: the modem drops off the bus and
  comes back on a new tty with its boot banner (a hang ends). AT+CFUN=1,1 (Huawei also AT+CFUN=16)
  does the same after its OK.
- `move_sim` {to, swap=false}: the SIM (identity, SM storage, PIN state, what the network holds for
  it) goes into modem `to`, which comes back as after a replug; its own SIM is taken out, or put into
  this modem with `swap`. A modem without a SIM answers +CME ERROR: 10 and lists no ICCID.
- `mmsc_status`, `mmsc_timeout`, `mmsc_truncate`, `mms_expired`, `mms_redeliver`: the fake MMSC's
  faults for this modem's messages (mmsc.py); `clear` resets them too.

MMS (mmsc.py): `start_mmsc()` (run_emulator does it when given `mmsc_port`) runs the fake MMSC and
MMS proxy on one port and writes `state_dir/mmsc.json` beside modems.json:
`{"url": "http://127.0.0.1:<port>/mms", "proxy": "127.0.0.1:<port>", "operators": {mcc_mnc: url}}`.
`deliver_mms()` / `POST /modems/{id}/mms` and `deliver_mms_raw()` / `POST /modems/{id}/mms-raw`
store an m-retrieve-conf and send its WAP push notification; `mms_log()` /
`GET /modems/{id}/mms-log` lists notifications, fetches and the client's notifyresp/acknowledge.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import random
import select
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.modem.emulator.at_interpreter import AtInterpreter
from appliance.modem.emulator.device import WEAK_RSSI, ModemDevice, build_device
from appliance.modem.emulator.network import (
    DEFAULT_REPORT_DELAY,
    Acceptance,
    PduError,
    SubscriberTraffic,
    sms_deliver_pdus,
)
from appliance.modem.emulator.operator_network import OperatorNetwork
from appliance.modem.emulator.personalities import PERSONALITIES, periodic_urc, personality
from appliance.modem.emulator.pty_link import PtyLink
from appliance.modem.emulator.sim import SimCard

log = logging.getLogger(__name__)

# Longest sleep of a modem's thread: input, control calls and queued SMS wake it at once, deadlines
# are computed; this only bounds how late it notices state changed behind its back (a test poking
# the device directly).
IDLE_SECONDS = 1.0
TYPING_GRACE_SECONDS = 1.0  # a URC waits this long for a half-typed command line to end
RESET_SECONDS = 0.5  # off the bus after a reset, before the modem re-enumerates
RESET_GOODBYE_SECONDS = 0.1  # from the OK of AT+CFUN=1,1 to dropping off the bus
FAULT_KINDS = (
    "unplug",
    "replug",
    "garbage",
    "hang",
    "storage_full",
    "no_sim",
    "sim_back",
    "pin_required",
    "weak_signal",
    "registration_denied",
    "clear",
    "report_delay",
    "report_status",
    "send_error",
    "network_busy",
    "drop_cmti",
    "usb_reset",
    "move_sim",
)
DEFAULT_PERSONALITY_CYCLE = ("huawei", "simcom", "quectel")


class EmulatorError(Exception):
    """A control request the emulator cannot carry out; the message says why."""


class UnknownModem(EmulatorError, LookupError):
    pass


class BadRequest(EmulatorError, ValueError):
    pass


class EmulatedModem:
    def __init__(
        self,
        device: ModemDevice,
        state_dir: Path,
        *,
        urc_interval: float | None = None,
        on_port_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.device = device
        self.id = device.id
        self._symlink = state_dir / f"ttyEMU{device.id}"
        self._urc_interval = urc_interval
        self._on_port_change = on_port_change
        self._rng = random.Random(f"urc:{device.id}")
        self._link: PtyLink | None = None
        self._interpreter = AtInterpreter(device)
        self._deferred = bytearray()
        self._hang_until = 0.0
        self._typing_since: float | None = None
        self._next_periodic = self._schedule_periodic()
        self._held_reported = 0
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._calls: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        self._wake_fds_closed = False
        os.set_blocking(self._wake_w, False)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"emulated-modem-{device.id}", daemon=True)
        self.port: str | None = None  # the last path the modem had, kept while unplugged

    # ---- lifecycle (any thread) ------------------------------------------------------------

    def start(self) -> None:
        self._plug()
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self._wake()
            self._thread.join(timeout=5)
        if self._link is not None:
            self._link.close()
            self._link = None
        self._wake_fds_closed = True  # before closing: a later _wake() must not hit a reused number
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def plugged(self) -> bool:
        return self._link is not None

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run `fn` in the modem's thread (where the pty and interpreter live) and return its result."""
        if threading.current_thread() is self._thread or not self._thread.is_alive():
            return fn()
        future: Future[Any] = Future()
        self._calls.put((fn, future))
        self._wake()
        return future.result(timeout=timeout)

    def wake(self) -> None:
        """The network queued something: deliver it now rather than at the next tick."""
        self._wake()

    def info(self) -> dict[str, Any]:
        device = self.device
        identity = device.sim.identity if device.sim is not None else None
        return {
            "id": device.id,
            "port": self.port,
            "imei": device.imei,
            "iccid": identity.iccid if identity else None,
            "imsi": identity.imsi if identity else None,
            "msisdn": identity.msisdn if identity else None,
            "operator": identity.operator.name if identity else None,
            "sim": device.sim_present,
            "signal": device.rssi,
            "personality": device.personality.name,
            "plugged": self.plugged,
            "link": str(self._symlink),
            "interface": device.packet.interface,
        }

    # ---- faults (run in the modem's thread) --------------------------------------------------

    def apply_fault(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"_fault_{kind}", None)
        if kind not in FAULT_KINDS or handler is None:
            raise BadRequest(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        return self.call(lambda: handler(**params))

    def _fault_unplug(self) -> dict[str, Any]:
        if self._link is not None:
            self._link.close()
            self._link = None
            self._on_port_change()
        return {"plugged": False}

    def _fault_replug(self) -> dict[str, Any]:
        old = self.port
        self._fault_unplug()
        self._replug_now(old)
        return {"plugged": True, "port": self.port}

    def _replug_now(self, old_port: str | None) -> None:
        """Power on on a new tty path (a re-enumerated USB device); a hidden SIM is found again."""
        if self.device.sim is not None:
            self.device.sim.inserted = True
        self._plug(avoid=frozenset({old_port}) if old_port else frozenset())
        self._on_port_change()

    def _fault_usb_reset(self, seconds: float = RESET_SECONDS) -> dict[str, Any]:
        seconds = _non_negative(seconds, "seconds")
        self._reenumerate(seconds)
        return {"plugged": False, "back_in": seconds}

    def _reenumerate(self, seconds: float) -> None:
        """Reset: off the bus now, back on a new tty `seconds` later (unless a replug came first)."""
        old = self.port
        self._fault_unplug()

        def back() -> None:
            if self._link is None:
                self._replug_now(old)

        self._after(seconds, back)

    def _fault_garbage(self, length: int = 64, seed: int | None = None, hex: str | None = None) -> dict[str, Any]:
        """Random line noise, or exactly the bytes given in ``hex`` (to replay noise seen on a real line)."""
        noise = bytearray(bytes.fromhex(hex)) if hex is not None else self._random_noise(int(length), seed)
        if self._link is not None:
            self._link.write(bytes(noise))
        return {"bytes": len(noise)}

    @staticmethod
    def _random_noise(length: int, seed: int | None) -> bytearray:
        rng = random.Random(seed)
        fragments = [
            b"\x00\x00",
            b"\xff\xfe",
            b"\xc3",
            b"\xe2\x82",
            b"\r\n+CMT",
            b'+CMTI: "S',
            b"^RSS",
            b"\r",
        ]
        noise = bytearray()
        while len(noise) < length:
            if rng.random() < 0.3:
                noise += rng.choice(fragments)
            else:
                noise.append(rng.randrange(256))
        del noise[length:]
        return noise

    def _fault_hang(self, seconds: float = 5.0) -> dict[str, Any]:
        self._hang_until = time.monotonic() + float(seconds)
        return {"seconds": float(seconds)}

    def _fault_storage_full(self) -> dict[str, Any]:
        for storage in self.device.storages().values():
            storage.capacity = len(storage)
        return {name: storage.capacity for name, storage in self.device.storages().items()}

    def _fault_no_sim(self) -> dict[str, Any]:
        if self.device.sim is not None:
            self.device.sim.inserted = False
        for line in self.device.personality.sim_removed_urcs:
            self._interpreter.queue_urc(line)
        return {"sim": False}

    def _fault_sim_back(self) -> dict[str, Any]:
        sim = self.device.sim
        if sim is None:
            raise BadRequest(f"modem {self.id} has no SIM card to bring back; move one in with move_sim")
        if not sim.inserted:
            sim.inserted = True
            sim.power_on()
            self._announce_sim()
        return {"sim": True}

    def _fault_pin_required(self, attempts: int = 3, pin: str = "1234") -> dict[str, Any]:
        if self.device.sim is None:
            raise BadRequest(f"modem {self.id} has no SIM card")
        self.device.sim.require_pin(attempts=int(attempts), pin=str(pin))
        self._announce_sim()
        return {"pin": "required", "attempts": int(attempts)}

    def _fault_weak_signal(self, rssi: int = WEAK_RSSI, seconds: float | None = None) -> dict[str, Any]:
        if not 0 <= int(rssi) <= 31:
            raise BadRequest(f"rssi {rssi} outside 0..31")
        self.device.weak_rssi = int(rssi)
        if seconds is not None:
            self._after(float(seconds), lambda: setattr(self.device, "weak_rssi", None))
        return {"signal": self.device.rssi}

    def _fault_registration_denied(self, seconds: float | None = None) -> dict[str, Any]:
        self.device.registration_denied = True
        if seconds is not None:
            self._after(float(seconds), lambda: setattr(self.device, "registration_denied", False))
        return {"registration": "denied"}

    def _fault_clear(self) -> dict[str, Any]:
        device = self.device
        device.clear_faults()
        device.smsc.report_delay = DEFAULT_REPORT_DELAY
        self._hang_until = 0.0
        if device.sim is not None:
            device.sim.lock.enabled = device.sim.lock.locked = device.sim.lock.puk_required = False
            if not device.sim.inserted:
                self._fault_sim_back()
        return {"cleared": True}

    def _fault_report_delay(self, seconds: float) -> dict[str, Any]:
        self.device.smsc.report_delay = _non_negative(seconds, "seconds")
        return {"report_delay": self.device.smsc.report_delay}

    def _fault_report_status(self, status: int, count: int | None = 1) -> dict[str, Any]:
        if not isinstance(status, int) or not 0 <= status <= 255:
            raise BadRequest(f"status {status!r} is not a TP-ST value 0..255 (TS 23.040 §9.2.3.15)")
        self.device.smsc.fail_reports(status, None if count is None else int(_count(count, "count")))
        return {"status": status, "count": count}

    def _fault_send_error(self, code: int = 500, count: int | None = 1) -> dict[str, Any]:
        if not isinstance(code, int) or not 0 <= code <= 511:
            raise BadRequest(f"code {code!r} is not a +CMS ERROR code 0..511 (TS 27.005 §3.2.5)")
        self.device.send_error_code = code
        self.device.send_errors_left = _count(count, "count")
        return {"code": code, "count": count}

    def _fault_network_busy(self, seconds: float | None = None, code: int = 42) -> dict[str, Any]:
        if not isinstance(code, int) or not 0 <= code <= 511:
            raise BadRequest(f"code {code!r} is not a +CMS ERROR code 0..511 (TS 27.005 §3.2.5)")
        self.device.busy_code = code
        if seconds is None:
            self.device.busy_until = math.inf
        else:
            self.device.busy_until = time.monotonic() + _non_negative(seconds, "seconds")
        return {"code": code, "seconds": seconds}

    def _fault_drop_cmti(self, count: int | None = None) -> dict[str, Any]:
        self.device.cmti_drops_left = _count(count, "count")
        return {"count": count}

    def _fault_move_sim(self, to: int, swap: bool = False) -> dict[str, Any]:
        raise BadRequest("move_sim involves two modems: use Emulator.fault()")  # handled there

    def _announce_sim(self) -> None:
        person = self.device.personality
        lines = person.sim_ready_urcs if self.device.sim_ready else person.pin_required_urcs
        for line in lines:
            self._interpreter.queue_urc(line)

    def _after(self, seconds: float, fn: Callable[[], None]) -> None:
        self._timers.append((time.monotonic() + seconds, fn))

    # ---- the modem's thread -------------------------------------------------------------------

    def _wake(self) -> None:
        if self._wake_fds_closed:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def _plug(self, avoid: frozenset[str] = frozenset()) -> None:
        self._link = PtyLink(self._symlink, avoid_paths=avoid)
        self.port = self._link.path
        self._power_on()

    def _power_on(self) -> None:
        """Power-on (plug, replug, reset): fresh settings, the SIM asks for its PIN again."""
        if self.device.sim is not None:
            self.device.sim.power_on()
        self.device.packet.power_off()  # a data call does not survive a power cycle
        self._interpreter = AtInterpreter(self.device)
        self._deferred.clear()
        self._hang_until = 0.0
        self._typing_since = None
        if self._link is not None:
            self._link.write(self._interpreter.boot_banner())

    def _schedule_periodic(self) -> float:
        if not self._urc_interval:
            return float("inf")
        return time.monotonic() + self._urc_interval * self._rng.uniform(0.5, 1.5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            link = self._link
            watched = [self._wake_r] + ([link.master] if link is not None else [])
            try:
                readable, _, _ = select.select(watched, [], [], self._sleep_seconds())
            except (OSError, ValueError):
                readable = []
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
            try:
                self._run_calls()
                if link is not None and link is self._link and link.master in readable:
                    self._handle_input(link.read())
                self._tick()
            except Exception:  # a bug in one modem must not silence it for the rest of the run
                log.exception("emulated modem %d", self.id)

    def _sleep_seconds(self) -> float:
        """Until the next thing the thread must do unprompted."""
        now = time.monotonic()
        deadlines = [now + IDLE_SECONDS, self._next_periodic]
        deadlines += [due for due, _ in self._timers]
        if self._hang_until > now:
            deadlines.append(self._hang_until)
        if self._deferred and self._typing_since is not None:
            deadlines.append(self._typing_since + TYPING_GRACE_SECONDS)
        report_due = self.device.smsc.next_report_due()
        if report_due is not None:
            deadlines.append(report_due)
        return max(0.0, min(deadlines) - now)

    def _run_calls(self) -> None:
        while True:
            try:
                fn, future = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                result = fn()
                self._flush_urcs()  # the URCs a fault causes are on the line when fault() returns
                future.set_result(result)
            except BaseException as error:  # handed back to the caller's thread
                future.set_exception(error)

    def _handle_input(self, data: bytes) -> None:
        if not data or self._link is None:
            return
        if time.monotonic() < self._hang_until:
            return  # a hung modem swallows what it is sent
        interpreter = self._interpreter
        answer = interpreter.feed(data)
        if interpreter.typing:
            if self._typing_since is None:
                self._typing_since = time.monotonic()
        else:
            self._typing_since = None
            if not interpreter.in_prompt:
                # URCs a command caused (AT+CPIN=… → "+CPIN: READY") follow its final result at once
                self._deferred += interpreter.take_urcs()
                answer += bytes(self._deferred)
                self._deferred.clear()
        if answer:
            self._link.write(answer)

    def _tick(self) -> None:
        now = time.monotonic()
        for due, fn in [timer for timer in self._timers if timer[0] <= now]:
            self._timers.remove((due, fn))
            fn()
        self.device.smsc.release_due_reports(now)  # the network sends them, plugged in or not
        if self._link is None or now < self._hang_until:
            return
        interpreter = self._interpreter
        if interpreter.reset_requested:
            # The OK is on its way; the modem goes deaf, then drops off the bus a moment later, so
            # the client reads the OK before its port hangs up.
            interpreter.reset_requested = False
            self._hang_until = now + RESET_GOODBYE_SECONDS
            self._after(RESET_GOODBYE_SECONDS, lambda: self._reenumerate(RESET_SECONDS))
            return
        interpreter.poll()
        if not interpreter.in_prompt:
            self.device.smsc.attempt_delivery(self._offer)
            smsc = self.device.smsc
            memory_full_urc = self.device.personality.memory_full_urc
            if smsc.held_count != self._held_reported:
                self._held_reported = smsc.held_count
                if memory_full_urc:
                    interpreter.queue_urc(memory_full_urc.format(mem=interpreter.settings.cpms[2]))
        if now >= self._next_periodic:
            self._next_periodic = self._schedule_periodic()
            line = periodic_urc(self.device.personality, self.device.rssi, self._rng)
            if line:
                interpreter.queue_urc(line)
        self._flush_urcs()

    def _flush_urcs(self) -> None:
        """Write pending URCs unless the client is typing a command line or a PDU."""
        now = time.monotonic()
        if self._link is None or now < self._hang_until:
            return
        interpreter = self._interpreter
        self._deferred += interpreter.take_urcs()
        typing = self._typing_since is not None and now - self._typing_since < TYPING_GRACE_SECONDS
        if self._deferred and not interpreter.in_prompt and not typing:
            data, self._deferred = bytes(self._deferred), bytearray()
            self._link.write(data)

    def _offer(self, pdu: bytes) -> Acceptance:
        if self._link is None or time.monotonic() < self._hang_until:
            return Acceptance.UNREACHABLE
        return self._interpreter.deliver(pdu)

    # ---- SIM moves (run in the modem's thread) -----------------------------------------------

    def take_sim(self) -> tuple[SimCard, SubscriberTraffic]:
        """The SIM leaves the slot, with what the network holds for its subscriber."""
        card = self.device.sim
        if card is None:
            raise BadRequest(f"modem {self.id} has no SIM card to move")
        traffic = self.device.smsc.take_subscriber_traffic()
        self.device.sim = None
        for line in self.device.personality.sim_removed_urcs:
            self._interpreter.queue_urc(line)
        self._on_port_change()
        return card, traffic

    def insert_sim(
        self, card: SimCard, traffic: SubscriberTraffic
    ) -> tuple[SimCard, SubscriberTraffic] | None:
        """Unplug, swap the card in, replug on a new tty: USB sticks take no SIM while powered.
        Returns the card that was in the slot, with its subscriber's traffic."""
        device = self.device
        displaced = None
        if device.sim is not None:
            displaced = (device.sim, device.smsc.take_subscriber_traffic())
        old = self.port
        self._fault_unplug()
        card.storage.renumber(device.personality.first_index)
        device.sim = card
        device.smsc.add_subscriber_traffic(traffic)
        self._replug_now(old)
        return displaced

    # ---- inspection (run in the modem's thread) ----------------------------------------------

    def storage_snapshot(self, memory: str = "SM") -> list[dict[str, Any]]:
        def snapshot() -> list[dict[str, Any]]:
            storage = self.device.storages()[memory]
            return [
                {"index": index, "stat": message.stat, "pdu": message.pdu.hex().upper()}
                for index, message in storage.messages()
            ]

        return self.call(snapshot)


class Emulator:
    """Emulated modems, their network, and the control methods of DESIGN §4.2."""

    def __init__(self, state_dir: Path, *, seed: int = 0, urc_interval: float | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.urc_interval = urc_interval
        self.mmsc_port: int | None = None  # the fake MMSC's port once start_mmsc() ran
        self._mmsc: Any = None
        self._modems: dict[int, EmulatedModem] = {}
        self._lock = threading.Lock()
        self._control: Any = None
        self.operator_network: OperatorNetwork | None = None

    # ---- building --------------------------------------------------------------------------

    def add_modem(self, personality_name: str | None = None) -> EmulatedModem:
        """Plug in one more modem (ids count from 1); personalities cycle huawei, simcom, quectel."""
        with self._lock:
            modem_id = len(self._modems) + 1
            cycle = DEFAULT_PERSONALITY_CYCLE
            person = personality(personality_name or cycle[(modem_id - 1) % len(cycle)])
            device = build_device(modem_id, person, seed=self.seed)
            self._give_interface(device)
            modem = EmulatedModem(
                device, self.state_dir, urc_interval=self.urc_interval, on_port_change=self.write_modems_json
            )
            self._modems[modem_id] = modem
        modem.start()
        self.write_modems_json()
        return modem

    def start_operator_network(self) -> OperatorNetwork:
        """Give the modems network interfaces behind which the operator's MMS proxy is reachable
        (operator_network.py; needs root). The fake MMSC, started before or after, listens there too."""
        if self.operator_network is None:
            self.operator_network = OperatorNetwork()
            with self._lock:
                modems = list(self._modems.values())
            for modem in modems:
                self._give_interface(modem.device)
            if self._mmsc is not None:
                self._mmsc.listen_in_operator_network(self.operator_network)
            self.write_modems_json()
        return self.operator_network

    def _give_interface(self, device: ModemDevice) -> None:
        if self.operator_network is not None and device.personality.network_interface:
            self.operator_network.add_modem(device.id)
            device.packet.network = self.operator_network

    def start_control_api(self, port: int = 0, host: str = "127.0.0.1") -> int:
        from appliance.modem.emulator.control_api import ControlApi
        from appliance.modem.emulator.mmsc import add_mms_routes

        self._control = ControlApi(self, host=host, port=port)
        add_mms_routes(self._control)
        self._control.start()
        return self._control.port

    def start_mmsc(self, port: int = 0, host: str = "127.0.0.1") -> int:
        """Run the fake MMSC and MMS proxy (port 0: a free one); writes state_dir/mmsc.json."""
        from appliance.modem.emulator.mmsc import FakeMmsc, write_mmsc_json

        if self._mmsc is not None:
            raise EmulatorError(f"the fake MMSC already runs on port {self._mmsc.port}")
        self._mmsc = FakeMmsc(self, host=host, port=port)
        self._mmsc.start()
        if self.operator_network is not None:
            self._mmsc.listen_in_operator_network(self.operator_network)
        self.mmsc_port = self._mmsc.port
        write_mmsc_json(self)
        return self._mmsc.port

    @property
    def mmsc(self) -> Any:
        """The running FakeMmsc, or None."""
        return self._mmsc

    @property
    def mmsc_url(self) -> str | None:
        """The MMSC URL reached directly (http://127.0.0.1:<port>/mms); the proxy is 127.0.0.1:<port>."""
        return self._mmsc.url if self._mmsc is not None else None

    @property
    def control_port(self) -> int | None:
        return self._control.port if self._control is not None else None

    @property
    def control_url(self) -> str | None:
        return self._control.url if self._control is not None else None

    @property
    def control_api(self) -> Any:
        """The running ControlApi (add_route() extends it, e.g. with the MMS endpoints)."""
        return self._control

    def stop(self) -> None:
        if self._control is not None:
            self._control.stop()
            self._control = None
        if self._mmsc is not None:
            self._mmsc.stop()
            self._mmsc = None
        with self._lock:
            modems = list(self._modems.values())
        for modem in modems:
            modem.stop()
        if self.operator_network is not None:
            self.operator_network.close()
            self.operator_network = None

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- looking ----------------------------------------------------------------------------

    def modem(self, modem_id: int) -> EmulatedModem:
        with self._lock:
            modem = self._modems.get(int(modem_id))
        if modem is None:
            raise UnknownModem(f"no emulated modem {modem_id} (ids 1..{len(self._modems)})")
        return modem

    def modems(self) -> list[dict[str, Any]]:
        with self._lock:
            modems = list(self._modems.values())
        return [modem.info() for modem in modems]

    def port(self, modem_id: int) -> str:
        port = self.modem(modem_id).port
        assert port is not None
        return port

    def write_modems_json(self) -> None:
        path = self.state_dir / "modems.json"
        with self._lock:
            listing = [modem.info() for modem in self._modems.values()]
            temporary = path.with_suffix(".json.tmp")
            temporary.write_text(json.dumps(listing, indent=2) + "\n")
            temporary.replace(path)

    def stored(self, modem_id: int, memory: str = "SM") -> list[dict[str, Any]]:
        """Messages in a modem's storage: [{index, stat, pdu}]."""
        return self.modem(modem_id).storage_snapshot(memory)

    def pending(self, modem_id: int) -> int:
        """Messages the network holds for the modem (not yet accepted)."""
        return len(self.modem(modem_id).device.smsc)

    # ---- the network ---------------------------------------------------------------------

    def deliver_sms(
        self, modem_id: int, sender: str, text: str, smsc_time: datetime | str | None = None
    ) -> int:
        """Queue an SMS from `sender` (a concatenated set when long); returns the number of parts."""
        modem = self.modem(modem_id)
        if not isinstance(sender, str) or not sender:
            raise BadRequest('"from" must be a non-empty string')
        if not isinstance(text, str):
            raise BadRequest('"text" must be a string')
        timestamp = _parse_time(smsc_time)
        device = modem.device
        if device.sim is None:
            raise BadRequest(f"modem {modem_id} has no SIM card: no number to send to")
        try:
            pdus = sms_deliver_pdus(
                sender,
                text,
                timestamp,
                smsc=device.sim.identity.operator.smsc,
                reference=device.smsc.next_concat_reference(),
            )
        except PduError as error:
            raise BadRequest(f"cannot encode this SMS: {error}") from None
        device.smsc.enqueue(pdus)
        modem.wake()
        return len(pdus)

    def deliver_pdu(self, modem_id: int, pdu_hex: str, smsc: bool = True) -> int:
        """Queue one raw SMS-DELIVER; `smsc` says whether it starts with the SMSC address field."""
        modem = self.modem(modem_id)
        try:
            pdu = bytes.fromhex(pdu_hex)
        except (TypeError, ValueError):
            raise BadRequest("pdu must be a hexadecimal string") from None
        if not smsc:
            pdu = b"\x00" + pdu  # an empty SMSC address field, as +CMGL shows it
        if len(pdu) < 2 or pdu[0] >= len(pdu) - 1:
            raise BadRequest("pdu is too short for its SMSC field and a TPDU")
        if modem.device.sim is None:
            raise BadRequest(f"modem {modem_id} has no SIM card: no number to send to")
        modem.device.smsc.enqueue([pdu])
        modem.wake()
        return 1

    def sent(self, modem_id: int) -> list[dict[str, str | int | None]]:
        """What the modem submitted, with the TP-MR it answered and the report's TP-ST (or None)."""
        return [sms.as_json() for sms in self.modem(modem_id).device.smsc.submitted_list()]

    def fault(self, modem_id: int, kind: str, **params: Any) -> dict[str, Any]:
        from appliance.modem.emulator.mmsc import MMSC_FAULT_KINDS

        modem = self.modem(modem_id)
        if kind not in FAULT_KINDS and kind not in MMSC_FAULT_KINDS:
            known = ", ".join(FAULT_KINDS + MMSC_FAULT_KINDS)
            raise BadRequest(f"unknown fault kind {kind!r}; known: {known}")
        try:
            if kind == "move_sim":
                return self._move_sim(modem, **params)
            if kind in MMSC_FAULT_KINDS:
                return self._running_mmsc().fault(modem.id, kind, **params)
            result = modem.apply_fault(kind, params)
            if kind == "clear" and self._mmsc is not None:
                self._mmsc.clear_faults(modem.id)
            return result
        except TypeError as error:
            raise BadRequest(f"bad parameters for fault {kind!r}: {error}") from None

    # ---- MMS (the fake MMSC, mmsc.py) ----------------------------------------------------------

    def _running_mmsc(self) -> Any:
        if self._mmsc is None:
            raise BadRequest(
                "the emulator runs no fake MMSC: start it with --mmsc-port (Emulator.start_mmsc())"
            )
        return self._mmsc

    def deliver_mms(
        self,
        modem_id: int,
        sender: str,
        parts: list[tuple[Any, ...]],
        subject: str | None = None,
        multipart: str = "related",
    ) -> dict[str, Any]:
        """An MMS from `sender` of `parts` [(content_type, name, data[, charset])] (text/* parts are
        UTF-8 unless a charset is given; "related" adds a SMIL presentation when none is given,
        "mixed" does not): the MMSC stores its m-retrieve-conf and the modem gets the WAP push.
        Returns {"transaction_id", "content_location", "parts", "smil_added", "size", "sms", …}."""
        self.modem(modem_id)
        return self._running_mmsc().deliver_mms(int(modem_id), sender, parts, subject, multipart)

    def deliver_mms_raw(
        self, modem_id: int, retrieve_conf: bytes, sender: str, subject: str | None = None
    ) -> dict[str, Any]:
        """Like deliver_mms with the m-retrieve-conf bytes given (garbage and truncated ones served as is)."""
        self.modem(modem_id)
        return self._running_mmsc().deliver_raw(int(modem_id), retrieve_conf, sender, subject)

    def mms_log(self, modem_id: int) -> list[dict[str, Any]]:
        """The MMSC's log for a modem's messages: [{transaction_id, type, status, at, modem, …}]."""
        self.modem(modem_id)
        return self._running_mmsc().log_entries(int(modem_id))

    def _move_sim(self, source: EmulatedModem, to: int, swap: bool = False) -> dict[str, Any]:
        if not isinstance(to, int) or isinstance(to, bool):
            raise BadRequest('"to" must be a modem id')
        try:
            target = self.modem(to)
        except UnknownModem as error:
            raise BadRequest(str(error)) from None
        if target is source:
            raise BadRequest("the SIM is already in that modem")
        card, traffic = source.call(source.take_sim)
        displaced = target.call(lambda: target.insert_sim(card, traffic))
        result: dict[str, Any] = {"to": target.id, "iccid": card.identity.iccid, "port": target.port}
        if displaced is not None:
            if swap:
                source.call(lambda: source.insert_sim(*displaced))
                result["swapped"] = displaced[0].identity.iccid
            else:
                # out of every modem: what the network holds for it waits on, out of our sight
                result["removed"] = displaced[0].identity.iccid
        self.write_modems_json()
        return result


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise BadRequest(f"{name} {value!r} is not a number of seconds >= 0")
    return float(value)


def _count(value: Any, name: str) -> float:
    """A fault's repeat count: a number >= 0, or None for "until cleared" (math.inf)."""
    if value is None:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{name} {value!r} is not a count >= 0 or null")
    return float(value)


def _parse_time(value: datetime | str | None) -> datetime:
    if value is None:
        return datetime.now().astimezone()
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise BadRequest(f"smsc_time {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment


def run_emulator(
    modems: int,
    control_port: int,
    state_dir: Path,
    mmsc_port: int | None = None,
    personalities: list[str] | None = None,
    *,
    seed: int = 0,
    urc_interval: float | None = 30.0,
) -> Emulator:
    """Start `modems` emulated modems and the control API; `state_dir/modems.json` lists them.

    With `mmsc_port` (0: a free port) the fake MMSC and MMS proxy run too, listed in `state_dir/mmsc.json`.

    Personalities cycle huawei, simcom, quectel unless given (one name per modem, or fewer to cycle)."""
    if modems < 1:
        raise ValueError("at least one modem")
    names = personalities or list(DEFAULT_PERSONALITY_CYCLE)
    for name in names:
        if name not in PERSONALITIES:
            personality(name)  # raises with the list of known names
    emulator = Emulator(Path(state_dir), seed=seed, urc_interval=urc_interval)
    try:
        for index in range(modems):
            emulator.add_modem(names[index % len(names)])
        if mmsc_port is not None:
            emulator.start_mmsc(mmsc_port)
        emulator.start_control_api(control_port)
    except BaseException:
        emulator.stop()
        raise
    return emulator
