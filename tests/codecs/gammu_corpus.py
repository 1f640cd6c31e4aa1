"""Reference corpus of SMS-DELIVER PDUs built by Gammu's encoder, for the differential test.

Run with the system interpreter, which has Debian's python3-gammu:

    /usr/bin/python3 tests/codecs/gammu_corpus.py COUNT SEED

Writes JSON lines to stdout, one per PDU, until at least COUNT PDUs are written. Each record holds
the PDU and what Gammu was asked to put in it: the whole message text (the same in every part of a
concatenated set), sender, SMSC, SCTS and the concatenation data Gammu chose.

This file must not import the appliance: it stands for an independent implementation.
"""

from __future__ import annotations

import datetime
import json
import random
import sys

import gammu

# Characters of the GSM 7-bit default alphabet (TS 23.038 §6.2.1) and of its extension table.
GSM_DEFAULT = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "€[]{}^~|\\"
PLAIN = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,!?"

# Characters outside the GSM tables: a text with any of them goes out as UCS-2.
POLISH = "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ"
TURKISH = "çğıİöşüÇĞÖŞÜ"
SPANISH = "áéíóúñÁÉÍÓÚÑ¿¡ü"
PORTUGUESE = "ãõâêôáéíóúçàÃÕÂÊÔÁ"
CJK = "你好世界日本語中文漢字한국어ひらがなカタカナ"
# Emoji as whole units: astral code points (surrogate pairs in UTF-16), a skin tone modifier,
# variation selectors, ZWJ family sequences and a flag.
EMOJI = [
    "😀", "🎉", "👍", "👍🏽", "❤️", "🇵🇱", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🤷‍♀️", "🙂", "𝄞", "😂",
]  # fmt: skip

GSM_POOLS = {
    "plain": list(PLAIN),
    "gsm": list(GSM_DEFAULT),
    "extension": list(GSM_EXTENSION + PLAIN),
}
UNICODE_POOLS = {
    "polish": list(POLISH + PLAIN),
    "turkish": list(TURKISH + PLAIN),
    "spanish": list(SPANISH + PLAIN),
    "portuguese": list(PORTUGUESE + PLAIN),
    "cjk": list(CJK),
    "emoji": EMOJI + list(PLAIN),
}

ALPHANUMERIC_SENDERS = ["ALLEGRO", "InfoSMS", "Bank", "PKO BP", "Orange", "Netflix2FA", "mBank", "A"]


def random_text(rng: random.Random) -> tuple[str, bool]:
    """A text and whether it fits the GSM 7-bit tables."""
    length = rng.choice([rng.randint(1, 20), rng.randint(1, 200), rng.randint(1, 600)])
    pools = dict(GSM_POOLS)
    gsm_only = rng.random() < 0.5
    if not gsm_only:
        pools.update(UNICODE_POOLS)
    names = rng.sample(sorted(pools), k=rng.randint(1, min(3, len(pools))))
    units = [unit for name in names for unit in pools[name]]
    text = ""
    while len(text) < length:
        text += rng.choice(units)
    text = text[:length]
    is_gsm = all(char in GSM_DEFAULT or char in GSM_EXTENSION for char in text)
    return text, is_gsm


def random_sender(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        return "+48" + "".join(rng.choice("0123456789") for _ in range(9))
    if kind < 0.7:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 15)))
    if kind < 0.85:
        return rng.choice(ALPHANUMERIC_SENDERS)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "
    while True:
        sender = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 11)))
        # Gammu reads a sender made only of digits and p/P (the dial pause) as a phone number and
        # turns the letters into digits: not an alphanumeric sender, skip it.
        if sender.strip("0123456789pP"):
            return sender


def random_time(rng: random.Random) -> datetime.datetime:
    start = datetime.datetime(2000, 1, 1)
    return start + datetime.timedelta(seconds=rng.randrange(100 * 365 * 86400))


def main() -> None:
    count, seed = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    written = 0
    message = 0
    out = sys.stdout
    while written < count:
        text, is_gsm = random_text(rng)
        layout = rng.choice(["ConcatenatedTextLong", "ConcatenatedAutoTextLong", "ConcatenatedTextLong16bit"])
        # The non-"Auto" layouts obey Unicode literally (and map non-GSM characters to look-alikes
        # when it is False), so they get UCS-2 whenever the text needs it; GSM texts go out either
        # way.
        unicode = not is_gsm or rng.random() < 0.3
        message_class = rng.choice([-1, -1, 0, 1, 2, 3])
        parts = gammu.EncodeSMS(
            {"Class": message_class, "Unicode": unicode, "Entries": [{"ID": layout, "Buffer": text}]}
        )
        sender = random_sender(rng)
        smsc = rng.choice(["", "+48601000310", "+4479" + str(rng.randrange(10**8)).zfill(8)])
        when = random_time(rng)
        for part in parts:
            part = dict(part)
            part["Type"] = "Deliver"
            part["Number"] = sender
            part["SMSC"] = {"Location": 0, "Number": smsc}
            part["DateTime"] = when
            pdu = gammu.EncodePDU(part, "Deliver")
            udh = part["UDH"]
            concat = None
            if udh["Type"] in ("ConcatenatedMessages", "ConcatenatedMessages16bit"):
                bits = 16 if udh["Type"].endswith("16bit") else 8
                concat = {
                    "reference": udh["ID16bit"] if bits == 16 else udh["ID8bit"],
                    "reference_bits": bits,
                    "sequence": udh["PartNumber"],
                    "total": udh["AllParts"],
                }
            record = {
                "message": message,
                "pdu": pdu.hex(),
                "text": text,
                "part_text": part["Text"],
                "alphabet": "ucs2" if part["Coding"].startswith("Unicode") else "gsm7",
                "layout": layout,
                "class": None if message_class < 0 else message_class,
                "sender": sender,
                "smsc": smsc or None,
                "timestamp": when.isoformat(),
                "concat": concat,
            }
            out.write(json.dumps(record) + "\n")
            written += 1
        message += 1


if __name__ == "__main__":
    main()
