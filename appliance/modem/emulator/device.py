"""What survives an unplug: the modem's hardware identity, its SIM and storages, the radio conditions.

The AT settings (echo, CMGF, CNMI …) live in the interpreter and start afresh at every power-on.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from appliance.modem.emulator.network import SmscQueue
from appliance.modem.emulator.personalities import Personality
from appliance.modem.emulator.sim import (
    OPERATORS,
    MessageStorage,
    SimCard,
    make_identity,
    make_imei,
)

NORMAL_RSSI = 21  # +CSQ <rssi>: -71 dBm, a comfortable indoor signal
WEAK_RSSI = 4


@dataclass
class ModemDevice:
    id: int
    personality: Personality
    imei: str
    sim: SimCard
    me_storage: MessageStorage
    smsc: SmscQueue = field(default_factory=SmscQueue)
    normal_rssi: int = NORMAL_RSSI
    weak_rssi: int | None = None  # set by the weak_signal fault
    registration_denied: bool = False
    _mr: int = 0
    _mr_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def rssi(self) -> int:
        return self.normal_rssi if self.weak_rssi is None else self.weak_rssi

    def storages(self) -> dict[str, MessageStorage]:
        return {"SM": self.sim.storage, "ME": self.me_storage}

    def next_message_reference(self) -> int:
        """TP-MR the modem assigns to the next SMS-SUBMIT (TS 23.040 §9.2.3.6), 0..255."""
        with self._mr_lock:
            self._mr = (self._mr + 1) % 256
            return self._mr

    def restore_capacities(self) -> None:
        for storage in self.storages().values():
            storage.capacity = storage.nominal_capacity


def build_device(modem_id: int, person: Personality, *, seed: int = 0) -> ModemDevice:
    """A modem with a stable identity: the same id, personality and seed give the same IMEI and SIM."""
    rng = random.Random(f"{seed}:{modem_id}:{person.name}")
    operator = OPERATORS[(modem_id - 1) % len(OPERATORS)]
    identity = make_identity(rng, operator)
    sim = SimCard(identity=identity, storage=MessageStorage("SM", person.sm_capacity, person.first_index))
    return ModemDevice(
        id=modem_id,
        personality=person,
        imei=make_imei(rng, person.imei_tac),
        sim=sim,
        me_storage=MessageStorage("ME", person.me_capacity, person.first_index),
        normal_rssi=rng.randint(17, 27),
    )
