"""The SIM side of an emulated modem: identity (ICCID, IMSI, MSISDN), PIN lock, message storage.

A SimCard is a movable object: the move_sim fault takes it, with its storage and PIN state, out of
one modem and puts it into another."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# 3GPP TS 27.005 §3.1 <stat> in PDU mode, and its text-mode spelling
STAT_REC_UNREAD = 0
STAT_REC_READ = 1
STAT_STO_UNSENT = 2
STAT_STO_SENT = 3
STAT_ALL = 4
STAT_TEXT = {0: "REC UNREAD", 1: "REC READ", 2: "STO UNSENT", 3: "STO SENT", 4: "ALL"}
STAT_FROM_TEXT = {v: k for k, v in STAT_TEXT.items()}

DEFAULT_PIN = "1234"
DEFAULT_PUK = "12345678"


@dataclass(frozen=True)
class Operator:
    mcc_mnc: str
    name: str  # AT+COPS long alphanumeric name
    short_name: str
    smsc: str  # the SMS centre number the SIM carries (AT+CSCA?)
    iccid_issuer: str  # digits after "8948" in the ICCID
    # MMS over its packet network, as the operator publishes it (docs/mms.md, operator presets): the
    # APN a data call is accepted on, its user and password, and the WAP/HTTP proxy behind it.
    mms_apn: str
    mms_user: str
    mms_password: str
    mms_proxy: str


OPERATORS: tuple[Operator, ...] = (
    Operator("26003", "Orange PL", "Orange", "+48501200777", "03", "mms", "mms", "mms", "192.168.6.104:8080"),
    Operator("26006", "Play", "Play", "+48790998250", "06", "mms", "", "", "10.10.25.5:8080"),
    Operator("26001", "Plus", "Plus", "+48601000310", "01", "mms", "", "", "212.2.96.16:8080"),
    Operator("26002", "T-Mobile.pl", "T-Mobile", "+48602951111", "02", "mms", "", "", "213.158.194.226:8080"),
)


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to `digits` (IMEI: 3GPP TS 23.003 Annex B; ICCID: ITU-T E.118)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: the rightmost digit of the payload, then every second one
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) > 1 and luhn_digit(number[:-1]) == number[-1]


@dataclass(frozen=True)
class SimIdentity:
    iccid: str
    imsi: str
    msisdn: str
    operator: Operator


def make_identity(rng: random.Random, operator: Operator) -> SimIdentity:
    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    payload = "8948" + operator.iccid_issuer + digits(12)  # 18 digits, then the Luhn digit: 19
    iccid = payload + luhn_digit(payload)
    imsi = operator.mcc_mnc + digits(10)
    msisdn = "+485" + digits(8)
    return SimIdentity(iccid=iccid, imsi=imsi, msisdn=msisdn, operator=operator)


def make_imei(rng: random.Random, tac: str) -> str:
    body = tac + "".join(rng.choice("0123456789") for _ in range(14 - len(tac)))
    return body + luhn_digit(body)


@dataclass
class StoredMessage:
    pdu: bytes  # with its SMSC address field first, as AT+CMGR/+CMGL show it in PDU mode
    stat: int

    @property
    def tpdu_length(self) -> int:
        """The <length> of +CMGL/+CMGR: octets of the TPDU, the SMSC field not counted."""
        return len(self.pdu) - 1 - self.pdu[0]


class MessageStorage:
    """One preferred message storage ("SM" on the SIM, "ME" in the modem) with numbered slots."""

    def __init__(self, name: str, capacity: int, first_index: int) -> None:
        self.name = name
        self.nominal_capacity = capacity
        self.capacity = capacity
        self.first_index = first_index
        self._slots: dict[int, StoredMessage] = {}

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def full(self) -> bool:
        return len(self._slots) >= self.capacity

    def valid_index(self, index: int) -> bool:
        return self.first_index <= index < self.first_index + self.nominal_capacity

    def store(self, pdu: bytes, stat: int = STAT_REC_UNREAD) -> int | None:
        """Store in the lowest free slot; None when the storage is full."""
        if self.full:
            return None
        for index in range(self.first_index, self.first_index + self.nominal_capacity):
            if index not in self._slots:
                self._slots[index] = StoredMessage(pdu, stat)
                return index
        return None

    def renumber(self, first_index: int) -> None:
        """The SIM went into a modem that counts its records from `first_index` (0 on Huawei and
        Quectel, 1 on SIMCom): record n keeps its place and gets that modem's number for it."""
        shift = first_index - self.first_index
        self._slots = {index + shift: message for index, message in self._slots.items()}
        self.first_index = first_index

    def get(self, index: int) -> StoredMessage | None:
        return self._slots.get(index)

    def messages(self, stat: int = STAT_ALL) -> list[tuple[int, StoredMessage]]:
        return [
            (index, message)
            for index, message in sorted(self._slots.items())
            if stat == STAT_ALL or message.stat == stat
        ]

    def delete(self, index: int) -> bool:
        return self._slots.pop(index, None) is not None

    def delete_by_flag(self, flag: int) -> int:
        """AT+CMGD=<index>,<delflag> with delflag 1..4 (TS 27.005 §3.5.4); returns the count removed."""
        doomed_stats = {
            1: {STAT_REC_READ},
            2: {STAT_REC_READ, STAT_STO_SENT},
            3: {STAT_REC_READ, STAT_STO_SENT, STAT_STO_UNSENT},
            4: {STAT_REC_UNREAD, STAT_REC_READ, STAT_STO_SENT, STAT_STO_UNSENT},
        }[flag]
        doomed = [index for index, message in self._slots.items() if message.stat in doomed_stats]
        for index in doomed:
            del self._slots[index]
        return len(doomed)


@dataclass
class PinLock:
    enabled: bool = False
    locked: bool = False
    puk_required: bool = False
    pin: str = DEFAULT_PIN
    puk: str = DEFAULT_PUK
    pin_attempts: int = 3
    puk_attempts: int = 10


class PinError(Exception):
    def __init__(self, cme: int) -> None:
        super().__init__(cme)
        self.cme = cme


@dataclass
class SimCard:
    identity: SimIdentity
    storage: MessageStorage
    inserted: bool = True
    lock: PinLock = field(default_factory=PinLock)
    smsc_override: str | None = None  # written by AT+CSCA=<number>

    @property
    def cpin_state(self) -> str:
        """+CPIN: <code> (TS 27.007 §8.3); meaningless when the SIM is not inserted."""
        if self.lock.puk_required:
            return "SIM PUK"
        if self.lock.locked:
            return "SIM PIN"
        return "READY"

    @property
    def ready(self) -> bool:
        return self.inserted and self.cpin_state == "READY"

    def require_pin(self, attempts: int = 3, pin: str = DEFAULT_PIN) -> None:
        self.lock = PinLock(enabled=True, locked=True, pin=pin, pin_attempts=attempts)

    def power_on(self) -> None:
        """A SIM with its PIN enabled asks for it again after every power cycle."""
        if self.lock.enabled:
            self.lock.locked = True

    def enter(self, code: str, new_pin: str | None = None) -> None:
        """AT+CPIN=<pin> or AT+CPIN=<puk>,<newpin>; raises PinError with a +CME ERROR code."""
        lock = self.lock
        if lock.puk_required:
            if new_pin is None:
                raise PinError(12)  # SIM PUK required
            if code != lock.puk:
                lock.puk_attempts = max(0, lock.puk_attempts - 1)
                raise PinError(16 if lock.puk_attempts else 13)  # incorrect password / SIM failure
            lock.pin = new_pin
            lock.puk_required = False
            lock.locked = False
            lock.pin_attempts = 3
            lock.puk_attempts = 10
            return
        if not lock.locked:
            raise PinError(3)  # operation not allowed: nothing to unlock
        if code != lock.pin:
            lock.pin_attempts = max(0, lock.pin_attempts - 1)
            if lock.pin_attempts == 0:
                lock.puk_required = True
            raise PinError(16)
        lock.locked = False
        lock.pin_attempts = 3
