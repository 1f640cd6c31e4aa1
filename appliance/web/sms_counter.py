"""The character and SMS counter under the panel's text boxes.

The browser counts the way the encoder splits (:func:`appliance.codecs.sms_pdu.measure_text`): the
page gets the GSM 7-bit characters (one septet or two) and the part sizes from the codec itself,
and the server renders the same line for the text it shows first, so the two cannot drift apart
(a browser test compares them on the codec's edge texts).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint
from flask_babel import gettext as _

from appliance.codecs import gsm7
from appliance.codecs.sms_pdu import MAX_PARTS, measure_text

bp = Blueprint("sms_counter", __name__)

def counter_format() -> str:
    """The counter's line, with placeholders: the browser fills them in the same words."""
    return _("%(units)s of %(capacity)s characters · %(parts)s SMS · %(alphabet)s")


def alphabet_label(alphabet: str) -> str:
    return _("GSM 7-bit") if alphabet == "gsm7" else _("Unicode (UCS-2)")


@cache
def _gsm_characters() -> tuple[str, str]:
    """The characters of one septet and those of two (an escape to the extension table), as the codec has them."""
    candidates = sorted(set(gsm7.DEFAULT_ALPHABET) | set(gsm7.DEFAULT_EXTENSION.values()))
    lengths = {char: len(gsm7.char_septets(char) or ()) for char in candidates}
    return ("".join(c for c in candidates if lengths[c] == 1), "".join(c for c in candidates if lengths[c] == 2))


@bp.app_template_global()
def sms_counter_config() -> dict[str, Any]:
    """What the browser's counter needs: characters, part sizes (alone, in a set) and its words."""
    single, double = _gsm_characters()
    return {
        "single": single,
        "double": double,
        "gsm7": [measure_text("x").per_part, measure_text("x" * 1000).per_part],
        "ucs2": [measure_text("ą").per_part, measure_text("ą" * 1000).per_part],
        "max_parts": MAX_PARTS,
        "format": counter_format(),
        "alphabets": {"gsm7": alphabet_label("gsm7"), "ucs2": alphabet_label("ucs2")},
    }


@bp.app_template_global()
def sms_size(text: str) -> dict[str, Any]:
    """The counter's line for ``text`` and whether it is longer than one text may be."""
    size = measure_text(text)
    capacity = size.per_part * size.parts
    line = counter_format() % {"units": size.units, "capacity": capacity, "parts": size.parts,
                               "alphabet": alphabet_label(size.alphabet)}
    return {"line": line,
            "parts": size.parts, "too_long": size.parts > MAX_PARTS}



def as_typed(text: str | None) -> str:
    """A text box's text as the person typed it: browsers send each line break as CR LF (HTML's form
    encoding), which would count, and go out, as two characters; phones use LF alone."""
    return (text or "").replace("\r\n", "\n")
