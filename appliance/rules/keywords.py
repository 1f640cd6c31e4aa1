"""Keywords on an access number: reservation rules and routing of a message to its keyword.

Pure: no database, no clock. The caller loads an access number's keywords, builds a
``KeywordRouter`` (an immutable snapshot, rebuilt whenever that number's keywords change) and asks it
``route(text)`` for each message; ``reserve`` vets a keyword before it is stored; ``is_opt_out`` is
asked before routing, since an opt-out is honoured whatever keyword a message also carries.

Matching compares ``normalise.words``: case-folded, NFKC, diacritics folded, punctuation and spaces
as word separators, emoji transparent (see ``appliance.rules.normalise``).

Modes
    exact   the message's words are exactly the keyword's words; payload "".
    base    the message's words begin with the keyword's words; the payload is the original text
            after the keyword, with the separators right after it and blanks at its end trimmed:
            "OGRODNIK, Jan!" → keyword OGRODNIK, payload "Jan!".
    phrase  the keyword's words occur consecutively anywhere in the message; payload is the whole
            message (blanks trimmed at its edges).

Precedence when several keywords match one message
    1. exact; 2. base, the keyword with the most words first ("OGRODNIK ROSE" before "OGRODNIK");
    3. phrase, the most words first, then the earliest occurrence; 4. typo tolerance (below).
    Two keywords with the same words and mode can only coexist if they bypassed ``reserve``; then
    the lowest id (the older reservation) wins. The result never depends on input order.

Typo tolerance (per keyword, for keywords of ``TYPO_MIN_LETTERS`` letters or more)
    One Damerau-Levenshtein edit (insert, delete, substitute, swap two adjacent characters) between
    the keyword's words (joined by spaces) and the same number of the message's words: the whole
    message for exact, its first words for base, any run of words for phrase. Tried only when nothing
    matched otherwise; accepted only when exactly one keyword is that close, else the decision is
    ``AMBIGUOUS`` and lists the candidates. A message that is a reserved word (STOP, POMOC …) is
    never read as a typo of a keyword.

Shared (ND) and dedicated (NDI) numbers
    Shared: a message matching no keyword is ``UNMATCHED`` (account None: the admin's unmatched inbox).
    Dedicated: every message belongs to the owner; a keyword only groups senders, so without one the
    decision is ``OWNER`` with the owner's account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from appliance.rules.normalise import strip_blank, text_after_words, words

__all__ = [
    "AccessNumberKind", "Keyword", "KeywordConflict", "KeywordMode", "KeywordRouter", "OPT_OUT_WORDS",
    "RESERVED_WORDS", "Reason", "RoutingDecision", "TYPO_MIN_LETTERS", "is_opt_out", "keywords_opted_out_by",
    "reserve",
]

TYPO_MIN_LETTERS = 5

# Words no account may reserve on a shared number: they belong to the number's users, not to one
# account. Polish platforms tell subscribers to answer STOP (by far the most common), NIE, WYPISZ or
# REZYGNUJĘ to leave, START/TAK to come back, POMOC/INFO for help; TAK/NIE are also everyone's answer
# to a confirmation question, so one account must not capture them. Which of them actually opt a
# sender out is per account: ``is_opt_out`` knows only STOP built in, the rest come as extra words.
RESERVED_WORDS: Mapping[str, str] = MappingProxyType({
    "STOP": "opt-out",
    "NIE": "opt-out",
    "WYPISZ": "opt-out",
    "REZYGNUJĘ": "opt-out",
    "REZYGNACJA": "opt-out",
    "START": "opt-in",
    "TAK": "opt-in",
    "HELP": "help",
    "POMOC": "help",
    "INFO": "help",
})
# Honoured on every number, before any keyword: such a keyword could never receive a message.
OPT_OUT_WORDS: tuple[str, ...] = ("STOP",)

_RESERVED_FORMS = {words(word): word for word in RESERVED_WORDS}
_RESERVED_STRINGS = frozenset(" ".join(form) for form in _RESERVED_FORMS)
_OPT_OUT_FORMS = tuple(words(word) for word in OPT_OUT_WORDS)


class AccessNumberKind(StrEnum):
    SHARED = "shared"  # ND: many accounts, each reserving keywords on it
    DEDICATED = "dedicated"  # NDI: one owner account receives every message


class KeywordMode(StrEnum):
    EXACT = "exact"
    BASE = "base"
    PHRASE = "phrase"


class Reason(StrEnum):
    """Why a decision came out as it did; the values are plain strings for storage and the API."""

    EXACT = "exact"
    BASE = "base"
    PHRASE = "phrase"
    TYPO = "typo"  # within one edit of exactly one typo-tolerant keyword
    AMBIGUOUS = "ambiguous"  # within one edit of several keywords: none chosen
    UNMATCHED = "unmatched"  # shared number, no keyword
    OWNER = "owner"  # dedicated number, no keyword: the owner's message all the same


@dataclass(frozen=True, slots=True)
class Keyword:
    """A keyword as configured; ``keyword`` is the text the account typed, shown as is."""

    id: int
    access_number: str
    account: int | None
    keyword: str
    mode: KeywordMode = KeywordMode.BASE
    typo_tolerant: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", KeywordMode(self.mode))

    @property
    def words(self) -> tuple[str, ...]:
        return words(self.keyword)


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    keyword: Keyword | None
    payload: str
    reason: Reason
    account: int | None = None  # the keyword's account; the owner's on a dedicated number
    candidates: tuple[Keyword, ...] = field(default=())  # the tied keywords of an AMBIGUOUS decision

    @property
    def unmatched(self) -> bool:
        """True when nobody owns the message: it goes to the admin's unmatched inbox."""
        return self.account is None and self.keyword is None


class KeywordConflict(ValueError):
    """A keyword refused by ``reserve``; the message says why, for the account's user."""

    def __init__(self, message: str, other: Keyword | None = None) -> None:
        super().__init__(message)
        self.other = other


def is_opt_out(text: str, extra_words: Iterable[str] = ()) -> bool:
    """Whether ``text`` asks to leave: it is, or begins with, STOP or one of ``extra_words``.

    ``extra_words`` are the account's configured opt-out words (say "WYPISZ", "NIE", "REZYGNUJĘ"),
    normalised like keywords; "stop proszę" and "Wypisz mnie!" opt out, "nie stop" does not.
    """
    message = words(text)
    if not message:
        return False
    forms = _OPT_OUT_FORMS + tuple(form for form in map(words, extra_words) if form)
    return any(message[:len(form)] == form for form in forms)


# --- reservation ---------------------------------------------------------------------------------

def _describe(keyword: Keyword) -> str:
    owner = f"account {keyword.account}" if keyword.account is not None else "the administrator"
    return f'"{keyword.keyword}" ({keyword.mode}, keyword #{keyword.id} of {owner})'


def _contains(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    size = len(inner)
    return any(outer[i:i + size] == inner for i in range(len(outer) - size + 1))


def keywords_opted_out_by(word: str, keywords: Iterable[Keyword]) -> list[Keyword]:
    """The keywords an account's opt-out ``word`` would take messages from: those beginning with it.

    Opt-out is honoured before routing, so "NIE" as an opt-out word leaves a keyword "NIE CHCĘ"
    nothing to receive from the senders it applies to.
    """
    form = words(word)
    return [keyword for keyword in keywords if form and keyword.words[:len(form)] == form]


def reserve(existing_keywords: Iterable[Keyword], new_keyword: Keyword, *, kind: AccessNumberKind,
            opt_out_words: Mapping[int, Iterable[str]] | None = None) -> None:
    """Refuse ``new_keyword`` with ``KeywordConflict`` if it cannot join its access number's keywords.

    ``existing_keywords`` are the number's keywords (others are ignored, as is one with the new
    keyword's id, so an edit is checked against the rest). ``opt_out_words`` are, by account, the
    opt-out words that apply to messages on the number (the owner's on a dedicated number, every
    account's on a shared one). Refused:

    - a keyword without letters or digits (empty, blanks, punctuation, emoji only);
    - the same words as an existing keyword on the number, whatever the modes and accounts;
    - on every number, a keyword beginning with a built-in opt-out word (STOP) or with one of
      ``opt_out_words``: opt-out comes first;
    - on a shared number, a keyword beginning with a ``RESERVED_WORDS`` word;
    - on a shared number, between different accounts, exact/base keywords where one begins with the
      other's words and the shorter is a base keyword: the longer would take messages the shorter's
      account receives today ("OGRODNIK ROSE" after "OGRODNIK"), or the reverse;
    - on any number, a phrase whose words occur inside another keyword's words or contain them:
      a message with "SUPER PROMO" also contains "PROMO", so who gets it would hinge on precedence
      rules the account cannot see.

    Within one account, nested exact/base keywords are allowed: the longest wins, by design.
    Typo-tolerant keywords one edit apart are allowed; a message between them is ``AMBIGUOUS``.
    """
    kind = AccessNumberKind(kind)
    form = new_keyword.words
    if not form:
        raise KeywordConflict(
            f'Keyword "{new_keyword.keyword}" has no letters or digits; emoji, punctuation and spaces '
            "are ignored in matching, so a keyword needs at least one word.")
    for opt_out in _OPT_OUT_FORMS:
        if form[:len(opt_out)] == opt_out:
            raise KeywordConflict(
                f'Keyword "{new_keyword.keyword}" begins with "{" ".join(opt_out).upper()}", which opts the '
                "sender out on every number before any keyword is looked at; choose another word.")
    for account, account_words in (opt_out_words or {}).items():
        for word in account_words:
            if keywords_opted_out_by(word, [new_keyword]):
                raise KeywordConflict(
                    f'Keyword "{new_keyword.keyword}" begins with "{word}", an opt-out word of account {account}, '
                    "which opts the sender out before any keyword is looked at; choose another word or take "
                    f'"{word}" off that account\'s opt-out words.')
    if kind is AccessNumberKind.SHARED:
        for reserved_form, word in _RESERVED_FORMS.items():
            if form[:len(reserved_form)] == reserved_form:
                raise KeywordConflict(
                    f'Keyword "{new_keyword.keyword}" begins with "{word}", a reserved word on shared numbers '
                    f"({RESERVED_WORDS[word]}); the reserved words are {', '.join(RESERVED_WORDS)}. "
                    "Choose another word.")
    shared = kind is AccessNumberKind.SHARED
    new_mode = new_keyword.mode
    for other in existing_keywords:
        if other.access_number != new_keyword.access_number or other.id == new_keyword.id:
            continue
        other_form = other.words
        if not other_form:
            continue
        if other_form == form:
            raise KeywordConflict(
                f'Keyword "{new_keyword.keyword}" is already taken on {new_keyword.access_number} by '
                f"{_describe(other)}; keywords are compared without case, diacritics and punctuation.",
                other)
        if KeywordMode.PHRASE in (new_mode, other.mode):
            if _contains(form, other_form) or _contains(other_form, form):
                inner, outer = (other, new_keyword) if _contains(form, other_form) else (new_keyword, other)
                raise KeywordConflict(
                    f'Keyword "{new_keyword.keyword}" ({new_mode}) overlaps {_describe(other)} on '
                    f'{new_keyword.access_number}: every message containing "{outer.keyword}" also '
                    f'contains "{inner.keyword}", so which keyword gets it would depend on precedence; '
                    "choose words that do not occur inside each other.", other)
            continue
        if not shared or other.account == new_keyword.account:
            continue
        if other.mode is KeywordMode.BASE and form[:len(other_form)] == other_form:
            raise KeywordConflict(
                f'Keyword "{new_keyword.keyword}" would take messages that begin with "{other.keyword}", '
                f"which {_describe(other)} on {new_keyword.access_number} receives with the rest as its "
                "payload; choose a keyword that does not begin with another account's keyword.", other)
        if new_mode is KeywordMode.BASE and other_form[:len(form)] == form:
            raise KeywordConflict(
                f'Keyword "{new_keyword.keyword}" would lose the messages that begin with '
                f'"{other.keyword}" to {_describe(other)} on {new_keyword.access_number} (the longer '
                "keyword wins); choose a keyword that is not the beginning of another account's keyword.",
                other)


# --- routing -------------------------------------------------------------------------------------

def _within_one_edit(a: str, b: str) -> bool:
    """Optimal-string-alignment distance of ``a`` and ``b`` is at most 1 (one insert, delete,
    substitution or adjacent transposition)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if la > lb:
        a, b, la, lb = b, a, lb, la
    if lb - la > 1:
        return False
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la < lb:
        return a[i:] == b[i + 1:]
    if a[i + 1:] == b[i + 1:]:
        return True
    return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]


def _deletions(text: str) -> set[str]:
    """``text`` and every string one character shorter: the symmetric-delete neighbourhood."""
    return {text} | {text[:i] + text[i + 1:] for i in range(len(text))}


class _TypoIndex:
    """Typo-tolerant keywords of one mode, found by shared one-deletion variants, then verified."""

    __slots__ = ("_by_variant", "_lengths")

    def __init__(self, keywords: list[tuple[tuple[str, ...], Keyword]]) -> None:
        self._by_variant: dict[str, list[tuple[str, Keyword]]] = {}
        self._lengths: dict[int, frozenset[int]] = {}  # word count → keyword string lengths
        lengths: dict[int, set[int]] = {}
        for form, keyword in keywords:
            joined = " ".join(form)
            lengths.setdefault(len(form), set()).add(len(joined))
            for variant in _deletions(joined):
                self._by_variant.setdefault(variant, []).append((joined, keyword))
        for count, sizes in lengths.items():
            self._lengths[count] = frozenset(n + d for n in sizes for d in (-1, 0, 1))

    @property
    def word_counts(self) -> Iterable[int]:
        return self._lengths.keys()

    def close(self, window: str, count: int) -> list[Keyword]:
        """Keywords of ``count`` words within one edit of ``window`` (the joined message words)."""
        if len(window) not in self._lengths.get(count, ()) or window in _RESERVED_STRINGS:
            return []
        found: dict[int, Keyword] = {}
        for variant in _deletions(window):
            for joined, keyword in self._by_variant.get(variant, ()):
                if keyword.id not in found and _within_one_edit(window, joined):
                    found[keyword.id] = keyword
        return list(found.values())


def _by_precedence(item: tuple[tuple[str, ...], Keyword]) -> tuple[int, int]:
    form, keyword = item
    return (-len(form), keyword.id)


class KeywordRouter:
    """Routes the messages of one access number to its keywords; a snapshot of those keywords."""

    __slots__ = ("access_number", "kind", "owner", "keywords", "_exact", "_base", "_phrase",
                 "_typo_exact", "_typo_base", "_typo_phrase")

    def __init__(self, keywords: Iterable[Keyword], *, kind: AccessNumberKind, owner: int | None = None,
                 access_number: str | None = None) -> None:
        """``owner``: the account of a dedicated number (required there, refused on a shared one).

        Keywords without words are skipped (``reserve`` refuses them); all keywords must belong to
        one access number, ``access_number`` if given.
        """
        self.kind = AccessNumberKind(kind)
        if self.kind is AccessNumberKind.DEDICATED and owner is None:
            raise ValueError("a dedicated access number needs its owner account")
        if self.kind is AccessNumberKind.SHARED and owner is not None:
            raise ValueError(f"a shared access number has no owner account (got {owner})")
        self.owner = owner
        self.keywords: tuple[Keyword, ...] = tuple(sorted(keywords, key=lambda k: k.id))
        numbers = {k.access_number for k in self.keywords} | ({access_number} if access_number else set())
        if len(numbers) > 1:
            raise ValueError(f"keywords of several access numbers in one router: {sorted(numbers)}")
        self.access_number = access_number or next(iter(numbers), None)

        exact: dict[str, Keyword] = {}
        base: dict[str, list[tuple[tuple[str, ...], Keyword]]] = {}
        phrase: dict[str, list[tuple[tuple[str, ...], Keyword]]] = {}
        typo: dict[KeywordMode, list[tuple[tuple[str, ...], Keyword]]] = {mode: [] for mode in KeywordMode}
        for keyword in self.keywords:  # ascending id: setdefault keeps the oldest of duplicates
            form = keyword.words
            if not form:
                continue
            if keyword.mode is KeywordMode.EXACT:
                exact.setdefault(" ".join(form), keyword)
            else:
                index = base if keyword.mode is KeywordMode.BASE else phrase
                index.setdefault(form[0], []).append((form, keyword))
            if keyword.typo_tolerant and sum(ch.isalpha() for word in form for ch in word) >= TYPO_MIN_LETTERS:
                typo[keyword.mode].append((form, keyword))
        for index in (base, phrase):
            for candidates in index.values():
                candidates.sort(key=_by_precedence)
        self._exact = exact
        self._base = {first: tuple(c) for first, c in base.items()}
        self._phrase = {first: tuple(c) for first, c in phrase.items()}
        self._typo_exact = _TypoIndex(typo[KeywordMode.EXACT]) if typo[KeywordMode.EXACT] else None
        self._typo_base = _TypoIndex(typo[KeywordMode.BASE]) if typo[KeywordMode.BASE] else None
        self._typo_phrase = _TypoIndex(typo[KeywordMode.PHRASE]) if typo[KeywordMode.PHRASE] else None

    def route(self, text: str) -> RoutingDecision:
        """The keyword ``text`` belongs to, its payload and why; never raises for any string."""
        message = words(text)
        if message:
            keyword = self._exact.get(" ".join(message))
            if keyword is not None:
                return self._decision(keyword, "", Reason.EXACT)
            for form, keyword in self._base.get(message[0], ()):
                if message[:len(form)] == form:
                    return self._decision(keyword, text_after_words(text, len(form)), Reason.BASE)
            best: tuple[int, int, Keyword] | None = None
            for start, word in enumerate(message):
                for form, keyword in self._phrase.get(word, ()):
                    if message[start:start + len(form)] == form:
                        if best is None or len(form) > best[0]:
                            best = (len(form), start, keyword)
                        break  # candidates are longest first: the rest at this start are shorter
            if best is not None:
                return self._decision(best[2], strip_blank(text), Reason.PHRASE)
            decision = self._route_typo(text, message)
            if decision is not None:
                return decision
        return self._decision(None, strip_blank(text), Reason.UNMATCHED)

    def _route_typo(self, text: str, message: tuple[str, ...]) -> RoutingDecision | None:
        found: dict[int, tuple[Keyword, int]] = {}  # keyword id → (keyword, words it spans)
        if self._typo_exact is not None:
            for keyword in self._typo_exact.close(" ".join(message), len(message)):
                found.setdefault(keyword.id, (keyword, len(message)))
        if self._typo_base is not None:
            for count in self._typo_base.word_counts:
                if count <= len(message):
                    for keyword in self._typo_base.close(" ".join(message[:count]), count):
                        found.setdefault(keyword.id, (keyword, count))
        if self._typo_phrase is not None:
            for count in self._typo_phrase.word_counts:
                for start in range(len(message) - count + 1):
                    window = " ".join(message[start:start + count])
                    for keyword in self._typo_phrase.close(window, count):
                        found.setdefault(keyword.id, (keyword, count))
        if not found:
            return None
        if len(found) > 1:
            candidates = tuple(keyword for _, (keyword, _count) in sorted(found.items()))
            return RoutingDecision(None, strip_blank(text), Reason.AMBIGUOUS, self.owner, candidates)
        keyword, count = next(iter(found.values()))
        if keyword.mode is KeywordMode.EXACT:
            payload = ""
        elif keyword.mode is KeywordMode.BASE:
            payload = text_after_words(text, count)
        else:
            payload = strip_blank(text)
        return self._decision(keyword, payload, Reason.TYPO)

    def _decision(self, keyword: Keyword | None, payload: str, reason: Reason) -> RoutingDecision:
        if self.kind is AccessNumberKind.DEDICATED:
            return RoutingDecision(keyword, payload, Reason.OWNER if keyword is None else reason, self.owner)
        return RoutingDecision(keyword, payload, reason, None if keyword is None else keyword.account)

    def __repr__(self) -> str:
        return f"<KeywordRouter {self.access_number} {self.kind} {len(self.keywords)} keywords>"

