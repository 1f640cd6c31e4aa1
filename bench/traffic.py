"""The SMS traffic the comparison and scale benches send, and when the emulated network delivered it.

A workload is a list of messages, each from its own sender (so every receiver's output can be matched
back to what was sent, whatever it keeps of the message) and addressed to one emulated modem. Texts
are what a business's customers send: short GSM texts, UCS-2 texts with Polish letters and emoji,
and long ones of 2-4 parts in either alphabet.

Latency starts when the network hands the (last) part to the modem: the modem stores it and sends
``+CMTI`` then. A message sent while the SIM storage is full waits at the SMS centre; that wait is the
receiver's doing (it has not emptied the storage) but it is not in the latency, it is in the time to
drain.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from appliance.codecs.sms_pdu import PduError, decode_sms_deliver, encode_sms_deliver
from appliance.modem.emulator.emulator import Emulator
from appliance.modem.emulator.network import Acceptance, SmscQueue

ASCII_WORDS = ("order", "delivery", "tomorrow", "please", "confirm", "table", "booking", "thanks", "INFO",
               "STOP", "code", "at", "for", "two", "the", "is", "ready?", "OK!", "yes", "no,", "call", "me",
               "after", "5pm.", "price", "list", "@home", "ticket", "nr", "12345", "(urgent)", "-", "see", "you")
POLISH_WORDS = ("Dzień", "dobry", "zamówienie", "dziękuję", "proszę", "żółty", "źródło", "gęś", "Łódź",
                "świeży", "mąka", "więcej", "Kraków", "Gdańsk", "Wrocław", "Poznań", "jutro", "rezerwacja",
                "stolik", "dla", "dwóch", "osób", "będę", "o", "18:00", "Zażółć", "gęślą", "jaźń", "ćma")
POLISH_LETTER_WORDS = tuple(word for word in POLISH_WORDS if not word.isascii())
EMOJI = ("😀", "🎉", "👍", "❤️", "🚀", "📦", "✅", "🙏")
# Characters per part (TS 23.038/23.040): 160 GSM or 70 UCS-2 units alone, 153 or 67 with a UDH.
SINGLE_LIMIT = {"gsm": 160, "ucs2": 70}
PART_LIMIT = {"gsm": 153, "ucs2": 67}


@dataclass(frozen=True)
class Sms:
    sender: str  # unique per message: it names the message in every receiver's output
    text: str
    modem: int  # emulated modem id, from 1
    parts: int
    stored: bool  # already in SIM storage when the receiver starts


def _units(text: str, alphabet: str) -> int:
    """Length as the alphabet counts it: UCS-2 counts UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-be")) // 2 if alphabet == "ucs2" else len(text)


def _text(rng: random.Random, alphabet: str, units: int) -> str:
    """Words of the alphabet up to ``units`` long; a UCS-2 text opens with a Polish word and an emoji."""
    if alphabet == "ucs2":
        words, vocabulary = [rng.choice(POLISH_LETTER_WORDS), rng.choice(EMOJI)], POLISH_WORDS + EMOJI
    else:
        words, vocabulary = [rng.choice(ASCII_WORDS)], ASCII_WORDS
    while True:
        word = rng.choice(vocabulary)
        if _units(" ".join([*words, word]), alphabet) > units:
            return " ".join(words)
        words.append(word)


def _length(rng: random.Random, alphabet: str, multipart: bool) -> int:
    if multipart:
        # past the single limit by more than the longest word, so the text always needs two parts
        return rng.randint(SINGLE_LIMIT[alphabet] + 20, PART_LIMIT[alphabet] * 4)
    return rng.randint(8, SINGLE_LIMIT[alphabet])


def _sms(rng: random.Random, number: int, modem: int, *, multipart: bool, ucs2: bool,
         stored: bool = False) -> Sms:
    alphabet = "ucs2" if ucs2 else "gsm"
    text = _text(rng, alphabet, _length(rng, alphabet, multipart))
    sender = f"+48{500000000 + number}"
    parts = len(encode_sms_deliver(sender, text, datetime.now(UTC), concat_reference=1))
    return Sms(sender, text, modem, parts, stored)


def build_workload(count: int, modems: int, stored: int, *, multipart_share: float = 0.2,
                   ucs2_share: float = 1 / 3, seed: int = 9) -> list[Sms]:
    """``count`` messages, exactly the given shares multipart and UCS-2; the first ``stored`` of them
    already on the SIMs at start (spread evenly over the modems, so they fit the smallest storage),
    the others to random modems."""
    rng = random.Random(seed)
    indexes = list(range(count))
    multipart = set(rng.sample(indexes, round(count * multipart_share)))
    ucs2 = set(rng.sample(indexes, round(count * ucs2_share)))
    return [_sms(rng, n, n % modems + 1 if n < stored else rng.randrange(modems) + 1,
                 multipart=n in multipart, ucs2=n in ucs2, stored=n < stored) for n in indexes]


def endless_traffic(modem: int, *, multipart_share: float = 0.2, ucs2_share: float = 1 / 3,
                    seed: int = 9) -> Iterator[Sms]:
    """Messages for one modem, as many as asked for, in the same mix on average; senders unique per
    modem (up to a million messages each)."""
    rng = random.Random(f"{seed}:{modem}")
    for number in itertools.count(modem * 1_000_000):
        yield _sms(rng, number, modem, multipart=rng.random() < multipart_share, ucs2=rng.random() < ucs2_share)


def bursts(workload: list[Sms], size: int) -> list[list[Sms]]:
    """The live messages in arrival bursts of ``size``."""
    live = [sms for sms in workload if not sms.stored]
    return [live[start:start + size] for start in range(0, len(live), size)]


def send(emulator: Emulator, messages: list[Sms]) -> None:
    """Hand messages to the emulated network at once (it delivers them as storage allows)."""
    for sms in messages:
        emulator.deliver_sms(sms.modem, sms.sender, sms.text)


class DeliveryClock:
    """When the network delivered each part, by sender: the start of every latency the benches report.

    Each modem's SMS centre queue offers its PDUs through one callback; wrapping it sees a PDU accepted
    (stored with its ``+CMTI`` queued, or shown in ``+CMT``) in the modem's own thread, as it happens."""

    def __init__(self, emulator: Emulator) -> None:
        self._lock = threading.Lock()
        self._parts: dict[str, list[float]] = {}
        for info in emulator.modems():
            self._watch(emulator.modem(info["id"]).device.smsc)

    def _watch(self, queue: SmscQueue) -> None:
        offer_in_order = queue.attempt_delivery

        def attempt_delivery(deliver: Callable[[bytes], Acceptance]) -> int:
            def timed(pdu: bytes) -> Acceptance:
                outcome = deliver(pdu)
                if outcome is Acceptance.ACCEPTED:
                    self._record(pdu, time.time())
                return outcome

            return offer_in_order(timed)

        queue.attempt_delivery = attempt_delivery  # type: ignore[method-assign]

    def _record(self, pdu: bytes, moment: float) -> None:
        try:
            sender = decode_sms_deliver(pdu, with_smsc=True).sender
        except PduError:
            return  # a status report, not one of ours
        with self._lock:
            self._parts.setdefault(sender, []).append(moment)

    def delivered_at(self, sms: Sms) -> float | None:
        """When the last part of ``sms`` reached the modem; None while a part is still on its way."""
        with self._lock:
            moments = self._parts.get(sms.sender, [])
            return max(moments) if len(moments) >= sms.parts else None

    def delivered(self) -> int:
        """Parts delivered so far."""
        with self._lock:
            return sum(len(moments) for moments in self._parts.values())


def senders_left(emulator: Emulator) -> set[str]:
    """Senders of the messages still on the modems (SIM or modem storage) or held by the network: not
    lost, whatever a receiver did not handle yet."""
    pdus = []
    for info in emulator.modems():
        for memory in ("SM", "ME"):
            pdus += [bytes.fromhex(entry["pdu"]) for entry in emulator.stored(info["id"], memory)]
        pdus += emulator.modem(info["id"]).device.smsc.pending()
    senders = set()
    for pdu in pdus:
        try:
            senders.add(decode_sms_deliver(pdu, with_smsc=True).sender)
        except PduError:
            continue  # a status report
    return senders


def wait_until(predicate: Callable[[], bool], seconds: float, step: float = 0.1) -> bool:
    """Poll ``predicate`` for at most ``seconds``; whether it came true."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True

