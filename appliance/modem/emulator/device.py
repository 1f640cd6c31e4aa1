"""What survives an unplug: the modem's hardware identity, its SIM and storages, the radio conditions.

The AT settings (echo, CMGF, CNMI …) live in the interpreter and start afresh at every power-on. The
SIM is a card in a slot: `sim` is None once the move_sim fault took it to another modem.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from appliance.modem.emulator.network import SmscQueue
from appliance.modem.emulator.packet_data import PacketData
from appliance.modem.emulator.personalities import Personality
from appliance.modem.emulator.sim import (
    OPERATORS,
    MessageStorage,
    Operator,
    SimCard,
    make_identity,
    make_imei,
)

NORMAL_RSSI = 21  # +CSQ <rssi>: -71 dBm, a comfortable indoor signal
WEAK_RSSI = 4
SEND_ERROR_CODE = 500  # +CMS ERROR: unknown error, what most modems say when the SMSC refuses
BUSY_CODE = 42  # TS 24.011 RP-cause 42 "congestion", passed through as +CMS ERROR: 42


@dataclass
class ModemDevice:
    id: int
    personality: Personality
    imei: str
    sim: SimCard | None
    me_storage: MessageStorage
    network: Operator  # the network the radio finds, whatever SIM is (or is not) inside
    packet: PacketData  # PDP contexts and the data call (packet_data.py)
    sr_storage: MessageStorage | None = None  # status reports, on personalities that keep them apart
    smsc: SmscQueue = field(default_factory=SmscQueue)
    normal_rssi: int = NORMAL_RSSI
    weak_rssi: int | None = None  # set by the weak_signal fault
    registration_denied: bool = False
    cmti_drops_left: float = 0  # drop_cmti fault: stored messages not announced (math.inf: all)
    send_errors_left: float = 0  # send_error fault: AT+CMGS/AT+CMSS refused this many more times
    send_error_code: int = SEND_ERROR_CODE
    busy_until: float = 0.0  # network_busy fault: time.monotonic() until which sends are refused
    busy_code: int = BUSY_CODE
    _mr: int = 0
    _mr_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _empty_sm: MessageStorage | None = field(default=None, repr=False)

    @property
    def rssi(self) -> int:
        return self.normal_rssi if self.weak_rssi is None else self.weak_rssi

    @property
    def sim_present(self) -> bool:
        """A SIM is in the slot and the modem sees it (the no_sim fault hides one that is there)."""
        return self.sim is not None and self.sim.inserted

    @property
    def sim_ready(self) -> bool:
        return self.sim is not None and self.sim.ready

    @property
    def operator(self) -> Operator:
        """The SIM's home network (what +COPS and +CSCA show), or the one the radio finds."""
        return self.sim.identity.operator if self.sim is not None else self.network

    def storages(self) -> dict[str, MessageStorage]:
        if self.sim is not None:
            sm = self.sim.storage
        else:
            if self._empty_sm is None:
                self._empty_sm = MessageStorage("SM", 0, self.personality.first_index)
            sm = self._empty_sm
        storages = {"SM": sm, "ME": self.me_storage}
        if self.sr_storage is not None:
            storages["SR"] = self.sr_storage
        return storages

    def next_message_reference(self) -> int:
        """TP-MR the modem assigns to the next SMS-SUBMIT (TS 23.040 §9.2.3.6), 0..255."""
        with self._mr_lock:
            self._mr = (self._mr + 1) % 256
            return self._mr

    def take_send_error(self) -> int | None:
        """The +CMS ERROR code the next submit gets from the send_error/network_busy faults, if any."""
        if time.monotonic() < self.busy_until:
            return self.busy_code
        if self.send_errors_left > 0:
            self.send_errors_left -= 1
            return self.send_error_code
        return None

    def take_cmti_drop(self) -> bool:
        """Whether the drop_cmti fault swallows the +CMTI of the message just stored."""
        if self.cmti_drops_left > 0:
            self.cmti_drops_left -= 1
            return True
        return False

    def restore_capacities(self) -> None:
        for storage in self.storages().values():
            storage.capacity = storage.nominal_capacity

    def clear_faults(self) -> None:
        self.restore_capacities()
        self.weak_rssi = None
        self.registration_denied = False
        self.cmti_drops_left = 0
        self.send_errors_left = 0
        self.busy_until = 0.0
        self.smsc.fail_reports(0, 0)


def build_device(modem_id: int, person: Personality, *, seed: int = 0) -> ModemDevice:
    """A modem with a stable identity: the same id, personality and seed give the same IMEI and SIM."""
    rng = random.Random(f"{seed}:{modem_id}:{person.name}")
    operator = OPERATORS[(modem_id - 1) % len(OPERATORS)]
    identity = make_identity(rng, operator)
    sim = SimCard(identity=identity, storage=MessageStorage("SM", person.sm_capacity, person.first_index))
    sr_storage = None
    if person.report_memory == "SR":
        sr_storage = MessageStorage("SR", person.sr_capacity, person.first_index)
    return ModemDevice(
        id=modem_id,
        personality=person,
        imei=make_imei(rng, person.imei_tac),
        sim=sim,
        me_storage=MessageStorage("ME", person.me_capacity, person.first_index),
        network=operator,
        packet=PacketData(modem_id),
        sr_storage=sr_storage,
        normal_rssi=rng.randint(17, 27),
    )
