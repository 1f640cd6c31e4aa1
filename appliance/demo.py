"""``appliance demo``: the emulator, the appliance and made-up customer traffic in one process.

What a newcomer sees after ``make run``: four modems of different vendors coming up in the panel,
and messages arriving every few seconds, in Polish and English, some long (multipart), some with
emoji, now and then an MMS with a picture (fetched from the emulator's MMSC) and a PDU that does not
decode, as on a real line. The first SIM is a shared number where two businesses reserved keywords
(OGRODNIK, KONKURS; PIZZA, ANKIETA); the others are the pizzeria's dedicated numbers with MMS enabled.
So the panel has campaigns to show from the first minute: a growing contact group, autoreplies, a
poll filling up and a contest with entries.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import random
import threading

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.config import Settings
from appliance.db.models import AccessNumber, Account, Contest, Group, Keyword, Poll
from appliance.modem.emulator import operator_network
from appliance.modem.emulator.emulator import run_emulator
from appliance.modem.emulator.sim import OPERATORS
from appliance.runtime import Appliance

log = logging.getLogger(__name__)

SENDERS = ["+48601234567", "+48502345678", "+48693456789", "+48798765432", "+447700900123", "ALLEGRO"]
TEXTS = [
    "OGRODNIK Jan Kowalski, proszę o wycenę trawnika 200 m²",
    "PIZZA 2x margherita na 19:00, ul. Długa 5",
    "Dzień dobry, czy sklep jest otwarty w sobotę?",
    "KONKURS B 🎉",
    "KONKURS A",
    "STOP",
    "ANKIETA 3",
    "ANKIETA margherita",
    "Hello, is the shop open on Sunday? 😀",
    "Zamawiam: 3 kg jabłek, 2 l mleka, chleb żytni, masło, 10 jaj, ser żółty 0,5 kg, pomidory, ogórki, "
    "sałata, koperek, ziemniaki młode 5 kg, truskawki 2 opakowania — dostawa jutro rano, płatność kartą. "
    "Proszę o potwierdzenie SMS-em, dziękuję!",
    "Price list please: {item} [size] ~ |colour| € ^",
    "Zażółć gęślą jaźń — ŻÓŁĆ GĘŚLĄ JAŹŃ",
]
# An SMS-DELIVER whose user data length promises more than it carries: kept raw, shown as undecodable.
TRUNCATED_PDU = "07914806010013F0040B914806001002F0000062115241035040A0C8329BFD06"


MMS_SUBJECTS = ["Zdjęcie z ogrodu 🌻", "Konkurs fotograficzny", "Reklamacja — zdjęcie paczki", "Photo"]


def _picture(rng: random.Random) -> bytes:
    """A small JPEG of coloured shapes, different every time."""
    image = Image.new("RGB", (480, 360), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(480), rng.randrange(360)
        r = rng.randrange(10, 90)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


class Demo:
    def __init__(self, settings: Settings, modems: int = 4, interval: float = 3.0) -> None:
        state_dir = settings.data_dir / "emulator"
        self.emulator = run_emulator(modems=modems, control_port=0, state_dir=state_dir, mmsc_port=0)
        # As root the MMS go the way they go on a Pi: over each SIM's data call (operator_network.py).
        # Without root there are no network namespaces, and the fetcher reaches the fake MMSC over the LAN.
        self.over_data_calls = operator_network.available() is None
        interfaces: dict[str, str] = {}
        if self.over_data_calls:
            self.emulator.start_operator_network()
            interfaces = {str(state_dir / f"ttyEMU{m['id']}"): m["interface"] for m in self.emulator.modems()
                          if m["interface"]}
        else:
            log.info("demo: %s; MMS are fetched over the LAN", operator_network.available())
        ports = [str(state_dir / f"ttyEMU{m['id']}") for m in self.emulator.modems()]
        self.appliance = Appliance(dataclasses.replace(
            settings, modems=[*settings.modems, *ports], mms_bearer="modem" if self.over_data_calls else "lan",
            modem_interfaces={**settings.modem_interfaces, **interfaces}))
        self._bind_access_numbers()
        self._interval = interval
        self._stopping = threading.Event()
        self._traffic = threading.Thread(target=self._generate, name="demo-traffic", daemon=True)

    def _bind_access_numbers(self) -> None:
        """The first SIM shared, the others dedicated to the pizzeria, each with its operator's published
        MMS settings (docs/mms.md); on a first run, the two businesses' campaigns too."""
        mmsc = self.emulator.mmsc.describe()
        operators = {operator.name: operator for operator in OPERATORS}
        with self.appliance.sessions.begin() as session:
            if session.scalar(select(AccessNumber.id).limit(1)) is not None:
                return  # a later run of the same demo data directory: keep what the user changed
            garden, pizzeria = Account(name="Ogrody Zielony Zakątek"), Account(name="Pizzeria Da Marco")
            session.add_all([garden, pizzeria])
            session.flush()
            numbers = []
            for index, modem in enumerate(self.emulator.modems()):
                operator = operators[modem["operator"]]
                shared = index == 0
                number = AccessNumber(number=modem["msisdn"], iccid=modem["iccid"],
                                      kind="shared" if shared else "dedicated",
                                      account_id=None if shared else pizzeria.id,
                                      mms_enabled=not shared, mmsc_url=mmsc["operators"][operator.mcc_mnc])
                if self.over_data_calls:
                    number.mms_proxy, number.mms_apn = operator.mms_proxy, operator.mms_apn
                    number.mms_apn_user, number.mms_apn_password = operator.mms_user, operator.mms_password
                else:
                    number.mms_proxy = mmsc["proxy"]
                session.add(number)
                numbers.append(number)
            session.flush()
            _seed_campaigns(session, numbers[0], garden, pizzeria)

    def start(self) -> None:
        self.appliance.start()
        self._traffic.start()
        log.info("demo: emulator control API on %s", self.emulator.control_url)

    def stop(self) -> None:
        self._stopping.set()
        self._traffic.join(timeout=5)
        self.appliance.stop()
        self.emulator.stop()

    def _generate(self) -> None:
        rng = random.Random()
        ids = [m["id"] for m in self.emulator.modems()]
        # Over data calls, only modems with a network interface can fetch (the SIM800 has none).
        mms_ids = [m["id"] for m in self.emulator.modems() if m["interface"] or not self.over_data_calls]
        sent = 0
        while not self._stopping.wait(rng.uniform(0.3, 1.7) * self._interval):
            modem_id = rng.choice(ids)
            try:
                if sent % 25 == 24:
                    self.emulator.deliver_pdu(modem_id, TRUNCATED_PDU)
                elif sent % 7 == 3 and mms_ids:
                    self.emulator.deliver_mms(rng.choice(mms_ids), rng.choice(SENDERS[:-1]), [
                        ("image/jpeg", "zdjecie.jpg", _picture(rng)),
                        ("text/plain", "tekst.txt", rng.choice(TEXTS).encode(), "utf-8")],
                        subject=rng.choice(MMS_SUBJECTS))
                else:
                    self.emulator.deliver_sms(modem_id, rng.choice(SENDERS), rng.choice(TEXTS))
                sent += 1
            except Exception:  # noqa: BLE001 - a demo generator must not end the demo
                log.exception("demo traffic failed")


def _seed_campaigns(session: Session, shared: AccessNumber, garden: Account, pizzeria: Account) -> None:
    """Keywords on the shared number with the actions a shop would set up, matching the demo's texts."""
    clients = Group(account_id=garden.id, name="Klienci ogrodu")
    poll = Poll(account_id=pizzeria.id, question="Jaka pizza w przyszłym tygodniu?", policy="keep_last",
                options=[{"code": "1", "label": "hawajska"}, {"code": "2", "label": "capricciosa"},
                         {"code": "3", "label": "margherita"}],
                confirmation="Dziękujemy za głos na {option}!")
    contest = Contest(account_id=garden.id, name="Wiosenny konkurs", answer="B", entries_per_number=1)
    session.add_all([clients, poll, contest])
    session.flush()
    session.add_all([
        Keyword(access_number_id=shared.id, account_id=garden.id, keyword="OGRODNIK", mode="base", actions=[
            {"type": "join_group", "group": clients.id},
            {"type": "autoreply", "text": "Dziękujemy! Ogrodnik oddzwoni w ciągu dnia. STOP - wypis."}]),
        Keyword(access_number_id=shared.id, account_id=garden.id, keyword="KONKURS", mode="base",
                actions=[{"type": "contest_entry", "contest": contest.id}]),
        Keyword(access_number_id=shared.id, account_id=pizzeria.id, keyword="PIZZA", mode="base", typo_tolerant=True,
                actions=[{"type": "autoreply", "text": "Zamówienie przyjęte, potwierdzimy telefonicznie."}]),
        Keyword(access_number_id=shared.id, account_id=pizzeria.id, keyword="ANKIETA", mode="base",
                actions=[{"type": "poll_vote", "poll": poll.id}]),
    ])
