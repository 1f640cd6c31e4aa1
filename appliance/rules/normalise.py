"""Text normalisation for keyword matching: the same folding for a registered keyword and a message.

What a message becomes, character by character (each original character folds on its own, so a
matched keyword can be mapped back to the original text to cut the payload):

1. Unicode NFKC, then case-fold, then NFKC again (``str.casefold`` can leave compatibility forms):
   full-width ``ＯＧＲＯＤＮＩＫ``, ligatures ``ﬁ``, ``²`` and ``ß`` → ``ss`` all fold.
2. Diacritics dropped: NFD, then every combining mark (Mn, Mc) removed, so ą ć ę ń ó ś ź ż → a c e n o s
   z z, and é, ü, č … too. Letters whose stroke is part of the letter do not decompose and are mapped
   explicitly: ł → l (Polish), đ → d, ø → o, ħ → h, ŧ → t, ı → i, æ → ae, œ → oe, þ → th, ð → d.
3. Every character then falls in one of four classes:

   - *word*: letters and digits (``str.isalnum`` after folding);
   - *symbol*: emoji and other symbols (Unicode S*, enclosing marks, private-use, lone surrogates and
     unassigned code points, which are mostly emoji newer than this Python's Unicode tables). A digit followed by the
     keycap mark U+20E3 (``1️⃣``) is one emoji, a symbol;
   - *separator*: punctuation (P*), spaces including NBSP, narrow NBSP and the other Z* spaces, line
     breaks and control characters;
   - *ignorable*, removed: format characters (Cf) — zero-width space, zero-width (non-)joiner, word
     joiner, BOM, soft hyphen, direction marks — and variation selectors. A zero-width character
     pasted inside a word ("OGRO\\u200bDNIK") therefore does not split it.

``normalise`` returns the words and symbol runs joined by single spaces: separators at the edges
vanish and inside collapse to one space, so ``"  OGRODNIK,   Jan! 🌹"`` → ``"ogrodnik jan 🌹"``.

Emoji are kept in the normalised text but are transparent to matching: ``words`` returns only the
word tokens, and keyword matching compares those. ``"TAK 👍"`` is the word ``tak``; an emoji can
neither make nor break a keyword match, and a keyword cannot consist of emoji.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "is_blank", "normalise", "strip_blank", "text_after_words", "word_spans", "words"]

# Letters with a stroke or a ligature: NFD leaves them whole, so they are folded by name.
_LETTER_FOLDS = {
    "ł": "l", "đ": "d", "ø": "o", "ħ": "h", "ŧ": "t", "ı": "i",
    "æ": "ae", "œ": "oe", "þ": "th", "ð": "d",
}

_KEYCAP = "\u20e3"
_WORD_RE = re.compile(r"[^\W_]+")
# With a keycap present, a digit right before U+20E3 belongs to the emoji, not to a word.
_WORD_KEYCAP_RE = re.compile(r"(?:[^\W_](?!\u20e3))+")
_TOKEN_RE = re.compile(r"(?:[^\W_]\u20e3|[^\w\s])+|(?:[^\W_](?!\u20e3))+")


def _fold_step(char: str) -> str:
    """One pass of folding for one character: a string of word/symbol characters, " " or ""."""
    if char == " ":
        return " "
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", char).casefold())
    out = []
    for ch in unicodedata.normalize("NFD", text):
        ch = _LETTER_FOLDS.get(ch, ch)
        if len(ch) > 1 or ch.isalnum():
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        if category in ("Mn", "Mc", "Cf"):
            continue  # combining marks, zero-width characters, variation selectors
        if ch.isspace() or category[0] in "PZ" or category == "Cc":
            out.append(" ")
        else:
            out.append(ch)  # S*, Me, Co, Cn, Cs: emoji and other symbols
    return "".join(out)


class _FoldTable(dict):
    """``str.translate`` table computed lazily: code point → folded string (a fixed point)."""

    # Real traffic uses a few thousand distinct characters; a sender cycling through all of Unicode
    # must not grow the table to a million entries on a Raspberry Pi, so beyond this it stops caching.
    LIMIT = 30_000

    def __missing__(self, code: int) -> str:
        folded = _fold_step(chr(code))
        for _ in range(8):  # refold what folding produced until nothing changes
            again = "".join(_fold_step(ch) for ch in folded)
            if again == folded:
                break
            folded = again
        if len(self) < self.LIMIT:
            self[code] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Every character folded: words and symbols, separators as spaces (not collapsed)."""
    return text.translate(_FOLD)


def normalise(text: str) -> str:
    """The comparable form of ``text``: folded, words and symbol runs joined by single spaces.

    Idempotent; ``normalise("ZAŻÓŁĆ  gęślą!") == "zazolc gesla"``.
    """
    return " ".join(_TOKEN_RE.findall(fold(text)))


def words(text: str) -> tuple[str, ...]:
    """The normalised word tokens of ``text``, what keyword matching compares (emoji left out)."""
    folded = fold(text)
    if _KEYCAP in folded:
        return tuple(_WORD_KEYCAP_RE.findall(folded))
    return tuple(_WORD_RE.findall(folded))


def word_spans(text: str) -> list[tuple[int, int]]:
    """For each word of ``words(text)``, the (start, end) of the original characters it came from."""
    origin: list[int] = []
    pieces: list[str] = []
    for index, char in enumerate(text):
        folded = _FOLD[ord(char)]
        pieces.append(folded)
        origin.extend([index] * len(folded))
    folded_text = "".join(pieces)
    pattern = _WORD_KEYCAP_RE if _KEYCAP in folded_text else _WORD_RE
    return [(origin[m.start()], origin[m.end() - 1] + 1) for m in pattern.finditer(folded_text)]


def is_blank(char: str) -> bool:
    """Whitespace or an invisible format character: what is trimmed from a payload's edges."""
    return char.isspace() or unicodedata.category(char) == "Cf"


def strip_blank(text: str) -> str:
    """``text`` without whitespace, NBSP or zero-width characters at either edge."""
    start, end = 0, len(text)
    while start < end and is_blank(text[start]):
        start += 1
    while end > start and is_blank(text[end - 1]):
        end -= 1
    return text[start:end]


def text_after_words(text: str, count: int) -> str:
    """The original text after its first ``count`` words: what a base keyword leaves as payload.

    Trimmed at its start: blanks, and the punctuation that closes or follows the keyword (commas,
    colons, dots, dashes, closing brackets and quotes); kept: what opens the payload (opening
    brackets and quotes, ``# @ & * % " ' ¿ ¡``), emoji and everything after the first kept character.
    Trimmed at its end: blanks only. ``text_after_words("OGRODNIK, Jan!", 1) == "Jan!"``,
    ``text_after_words("(OGRODNIK) (Jan)", 1) == "(Jan)"``.
    """
    if count <= 0:
        return _trim_payload_start(text)
    spans = word_spans(text)
    if len(spans) < count:
        return ""
    return _trim_payload_start(text[spans[count - 1][1]:])


_PAYLOAD_OPENERS = frozenset("#@&*%\"'¿¡")


def _trim_payload_start(text: str) -> str:
    for start, char in enumerate(text):
        if _opens_payload(char):
            return strip_blank(text[start:])
    return ""


def _opens_payload(char: str) -> bool:
    """A word or symbol, or punctuation that begins something: an opening bracket or quote, ``#`` …"""
    if char in _PAYLOAD_OPENERS or _FOLD[ord(char)].strip():
        return True
    return unicodedata.category(char) in ("Ps", "Pi")
