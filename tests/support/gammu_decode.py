"""Decode SMS-SUBMIT PDUs with Gammu and join a concatenated set: an independent reading of what we sent.

Run with the system interpreter, which has Debian's python3-gammu:

    /usr/bin/python3 tests/support/gammu_decode.py < pdus.json   # a JSON list of hex PDUs (SMSC first)

Prints JSON: {"parts": [{"number", "udh_type", "text"}], "text": <the joined text>}.
This file must not import the appliance: it stands for an independent implementation.
"""

import json
import sys

import gammu

pdus = json.load(sys.stdin)
messages = [gammu.DecodePDU(bytes.fromhex(pdu), SMSC=True) for pdu in pdus]
linked = gammu.LinkSMS([[m] for m in messages])
joined = gammu.DecodeSMS(linked[0]) if len(linked) == 1 else None
text = "".join(e["Buffer"] for e in joined["Entries"]) if joined else None
print(json.dumps({
    "parts": [{"number": m["Number"], "udh_type": m["UDH"]["Type"], "text": m["Text"]} for m in messages],
    "sets": len(linked),
    "text": text,
}))
