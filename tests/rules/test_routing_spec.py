"""Routing specification: which keyword a text reaches on an access number, with what payload.

Keywords are written ``mode[~]:TEXT[@account]``: ``~`` makes the keyword typo tolerant, the account
defaults to 1 (7, the owner, on a dedicated number); ids follow the list order. A row's expected
keyword is that keyword's TEXT, or None.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from appliance.rules import (
    AccessNumberKind,
    Keyword,
    KeywordConflict,
    KeywordRouter,
    Reason,
    is_opt_out,
    keywords_opted_out_by,
    reserve,
)

ND, NDI = AccessNumberKind.SHARED, AccessNumberKind.DEDICATED
NUMBER = "+48500600700"
OWNER = 7


def keyword_list(specs: list[str], kind: AccessNumberKind, number: str = NUMBER) -> list[Keyword]:
    built = []
    for ident, spec in enumerate(specs, start=1):
        mode, _, rest = spec.partition(":")
        text, _, account = rest.rpartition("@") if "@" in rest else (rest, "", "")
        default = OWNER if kind is NDI else 1
        built.append(Keyword(ident, number, int(account) if account else default, text, mode.rstrip("~"),
                             mode.endswith("~")))
    return built


class Row(NamedTuple):
    kind: AccessNumberKind
    keywords: list[str]
    message: str
    expected: str | None
    payload: str
    why: str
    reason: Reason | None = None  # checked when given


SHOP = ["base:OGRODNIK", "base:OGRODNIK ROSE", "exact:ZAŻÓŁĆ@2", "phrase:SUPER PROMO@3"]
PIZZAS = ["base~:PIZZA@1", "base~:PIZZE@2"]

ROUTING = [
    # Polish diacritics, in the message and in the keyword
    Row(ND, ["exact:ZAŻÓŁĆ"], "zazolc", "ZAŻÓŁĆ", "", "the sender's phone has no Polish letters", Reason.EXACT),
    Row(ND, ["exact:zazolc"], "ZAŻÓŁĆ", "zazolc", "", "the keyword was typed without diacritics"),
    Row(ND, ["exact:ZAŻÓŁĆ"], "zażółć", "ZAŻÓŁĆ", "", "lower-case Polish letters fold the same way"),
    Row(ND, ["base:ŁÓDŹ"], "lodz Piotrkowska 1", "ŁÓDŹ", "Piotrkowska 1", "Ł does not decompose, it is folded by name"),
    Row(ND, ["base:lodz"], "ŁÓDŹ Piotrkowska", "lodz", "Piotrkowska", "capital Ł and Ź in the message"),
    Row(ND, ["base:GĘŚLĄ"], "gesla jaźń", "GĘŚLĄ", "jaźń", "the payload keeps its diacritics"),
    Row(ND, ["base:SZCZĘŚCIE"], "Szczęście, wygrana!", "SZCZĘŚCIE", "wygrana!", "ę and ś inside a longer word"),
    Row(ND, ["exact:ŻABA"], "Z\u0307ABA", "ŻABA", "", "a decomposed Ż (Z + combining dot) folds like a composed one"),
    Row(ND, ["exact:ŻABA"], "ZABA", "ŻABA", "", "dot above dropped"),
    Row(ND, ["base:ŁOSOŚ"], "losos 2kg", "ŁOSOŚ", "2kg", "Ł and Ś folded, digits in the payload"),
    Row(ND, ["base:ŻÓŁW"], "zolw", "ŻÓŁW", "", "a base keyword alone has an empty payload"),
    Row(ND, ["base:CAFE"], "Café crème", "CAFE", "crème", "other Latin diacritics fold too"),
    Row(ND, ["exact:STRASSE"], "Straße", "STRASSE", "", "ß case-folds to ss"),
    Row(ND, ["exact:PROMO"], "ＰＲＯＭＯ", "PROMO", "", "full-width letters, NFKC"),
    Row(ND, ["exact:ŹDŹBŁO"], "zdzblo", "ŹDŹBŁO", "", "every Polish letter in one word"),
    # case
    Row(ND, ["base:Ogrodnik"], "OGRODNIK jan", "Ogrodnik", "jan", "the keyword's case does not matter"),
    Row(ND, ["base:OGRODNIK"], "oGrOdNiK Jan", "OGRODNIK", "Jan", "the message's case does not matter"),
    # punctuation at the edges and inside
    Row(ND, ["base:OGRODNIK"], "OGRODNIK, Jan!", "OGRODNIK", "Jan!", "the comma separates, the payload keeps its '!'"),
    Row(ND, ["exact:JESTEM"], "...jestem?!", "JESTEM", "", "punctuation at both edges is ignored"),
    Row(ND, ["base:OGRODNIK"], "  ...OGRODNIK...Jan  ", "OGRODNIK", "Jan", "dots as separators, edges trimmed"),
    Row(ND, ["base:OGRODNIK"], "OGRODNIK:Jan Kowalski", "OGRODNIK", "Jan Kowalski", "a colon right after the keyword"),
    Row(ND, ["base:OGRODNIK"], "OGRODNIK-Jan", "OGRODNIK", "Jan", "a hyphen separates words"),
    Row(ND, ["exact:E-MAIL"], "email", None, "email", "the hyphen splits the keyword too: 'e mail' is two words"),
    Row(ND, ["exact:E-MAIL"], "e mail", "E-MAIL", "", "the same two words with a space"),
    Row(ND, ["exact:E-MAIL"], "E.MAIL", "E-MAIL", "", "any punctuation between the same words"),
    Row(ND, ["base:OGRODNIK"], "OGRODNIKJAN", None, "OGRODNIKJAN", "a base keyword must be a whole word"),
    Row(ND, ["base:OGRODNIK"], "#OGRODNIK #jan", "OGRODNIK", "#jan", "leading '#' ignored; the payload keeps its own"),
    Row(ND, ["exact:KOD 123"], "kod-123.", "KOD 123", "", "digits are words; trailing dot ignored"),
    Row(ND, ["base:OGRODNIK"], "„OGRODNIK” Jan", "OGRODNIK", "Jan", "Polish quotation marks are punctuation"),
    Row(ND, ["base:OGRODNIK"], "OGRODNIK - Jan Kowalski", "OGRODNIK", "Jan Kowalski", "a dash between keyword and payload"),
    Row(ND, ["base:OGRODNIK"], 'OGRODNIK "Jan"', "OGRODNIK", '"Jan"', "an opening quote belongs to the payload"),
    Row(ND, ["base:OGRODNIK"], "(OGRODNIK) (Jan)", "OGRODNIK", "(Jan)", "brackets: ignored before the payload, kept in it"),
    # repeated spaces, tabs, line breaks
    Row(ND, ["exact:SUPER PROMO"], "super     promo", "SUPER PROMO", "", "repeated spaces collapse"),
    Row(ND, ["base:OGRODNIK ROSE"], "OGRODNIK \t\n ROSE  czerwona ", "OGRODNIK ROSE", "czerwona", "tabs and line breaks are spaces"),
    Row(ND, ["base:OGRODNIK"], "OGRODNIK   Jan   Kowalski  ", "OGRODNIK", "Jan   Kowalski", "the payload is the original text, spaces inside kept"),
    Row(ND, ["base:OGRODNIK"], "\n\nOGRODNIK\nJan\n", "OGRODNIK", "Jan", "leading and trailing line breaks"),
    # NBSP and zero-width characters
    Row(ND, ["base:OGRODNIK"], "OGRODNIK\u00a0Jan", "OGRODNIK", "Jan", "NBSP is a space"),
    Row(ND, ["exact:OGRODNIK"], "OGRO\u200bDNIK", "OGRODNIK", "", "a zero-width space pasted inside a word is removed"),
    Row(ND, ["exact:OGRODNIK"], "\ufeffOGRODNIK\u200d", "OGRODNIK", "", "BOM and zero-width joiner at the edges"),
    Row(ND, ["base:OGRODNIK"], "OGRODNIK\u202fJan\u200b", "OGRODNIK", "Jan", "narrow NBSP separates; trailing zero-width trimmed"),
    Row(ND, ["exact:SUPER PROMO"], "SUPER\u00a0\u00a0PROMO", "SUPER PROMO", "", "NBSP between the words of a keyword"),
    Row(ND, ["exact:OGRODNIK"], "OGRO\u00adDNIK", "OGRODNIK", "", "a soft hyphen is invisible"),
    # emoji: kept, never part of a match
    Row(ND, ["exact:PIZZA"], "PIZZA 🍕", "PIZZA", "", "an emoji does not break an exact match"),
    Row(ND, ["exact:PIZZA"], "🍕PIZZA🍕", "PIZZA", "", "emoji glued at both edges"),
    Row(ND, ["base:PIZZA"], "PIZZA🍕 duża", "PIZZA", "🍕 duża", "an emoji after a base keyword is payload"),
    Row(ND, ["base:PIZZA"], "🍕 pizza margherita", "PIZZA", "margherita", "a leading emoji does not hide the keyword"),
    Row(ND, ["exact:PIZZA"], "🍕", None, "🍕", "emoji only: nothing to match"),
    Row(ND, ["phrase:SUPER PROMO"], "super 🔥 promo!", "SUPER PROMO", "super 🔥 promo!", "an emoji between the words of a phrase"),
    Row(ND, ["exact:ROSE"], "👍🏽ROSE", "ROSE", "", "emoji with a skin-tone modifier"),
    Row(ND, ["exact:1"], "1\ufe0f\u20e3", None, "1\ufe0f\u20e3", "the keycap 1️⃣ is an emoji, not the digit 1"),
    Row(ND, ["exact:1"], "1", "1", "", "the digit itself is a word"),
    Row(ND, ["base:OGRODNIK"], "OGRODNIK 👨\u200d👩\u200d👧 rodzina", "OGRODNIK", "👨\u200d👩\u200d👧 rodzina", "a ZWJ emoji sequence stays whole in the payload"),
    # typo tolerance
    Row(ND, ["base~:OGRODNIK"], "OGRODNK Jan", "OGRODNIK", "Jan", "one deletion", Reason.TYPO),
    Row(ND, ["base~:OGRODNIK"], "OGRODNIKK Jan", "OGRODNIK", "Jan", "one insertion", Reason.TYPO),
    Row(ND, ["base~:OGRODNIK"], "OGRODMIK Jan", "OGRODNIK", "Jan", "one substitution", Reason.TYPO),
    Row(ND, ["base~:OGRODNIK"], "OGRDONIK Jan", "OGRODNIK", "Jan", "one transposition", Reason.TYPO),
    Row(ND, ["base~:OGRODNIK"], "OGRDNK Jan", None, "OGRDNK Jan", "two edits are too many", Reason.UNMATCHED),
    Row(ND, ["base~:OGRODNIK"], "OGORDNK Jan", None, "OGORDNK Jan", "a transposition plus a deletion is two edits"),
    Row(ND, ["base:OGRODNIK"], "OGRODNK Jan", None, "OGRODNK Jan", "typo tolerance is per keyword, off here"),
    Row(ND, ["base~:ROSE"], "ROSA", None, "ROSA", "a four-letter keyword never typo-matches"),
    Row(ND, ["exact~:AB123"], "AB124", None, "AB124", "five characters but two letters: digits are not letters"),
    Row(ND, ["exact~:PIZZA"], "PIZA", "PIZZA", "", "five letters is enough", Reason.TYPO),
    Row(ND, PIZZAS, "PIZZO", None, "PIZZO", "one edit from two keywords: ambiguous", Reason.AMBIGUOUS),
    Row(ND, PIZZAS, "PIZZE grande", "PIZZE", "grande", "an exact spelling is not ambiguous", Reason.BASE),
    Row(ND, ["exact~:ZAŻÓŁĆ"], "ZAZÓŁ", "ZAŻÓŁĆ", "", "typo after folding diacritics", Reason.TYPO),
    Row(ND, ["base~:KONKURS@1", "base:KONKURSY@2"], "KONKURSY 5", "KONKURSY", "5", "a direct match beats a typo match", Reason.BASE),
    Row(ND, ["phrase~:SUPER PROMO"], "kup supr promo dziś", "SUPER PROMO", "kup supr promo dziś", "a typo inside a phrase", Reason.TYPO),
    Row(ND, ["exact~:PIZZERIA"], "pizzeria roma", None, "pizzeria roma", "an exact typo compares the whole message"),
    Row(ND, ["base~:OGRODNIK ROSE"], "OGRODNIK ROZE 3", "OGRODNIK ROSE", "3", "one edit in a two-word keyword", Reason.TYPO),
    Row(ND, ["base~:POMOCY"], "POMOC", None, "POMOC", "a reserved word is never read as a typo of a keyword"),
    Row(ND, ["base~:OGRODNIK@1", "phrase~:KONKURS@2"], "OGRODNK i KONKRS", None, "OGRODNK i KONKRS", "typos of two keywords in different modes: ambiguous", Reason.AMBIGUOUS),
    # precedence: exact > base (longest first) > phrase (longest, then earliest)
    Row(ND, ["exact:OGRODNIK ROSE", "base:OGRODNIK"], "ogrodnik rose", "OGRODNIK ROSE", "", "exact beats base"),
    Row(ND, ["exact:OGRODNIK ROSE", "base:OGRODNIK"], "ogrodnik rose czerwona", "OGRODNIK", "rose czerwona", "exact needs the whole message"),
    Row(ND, SHOP, "OGRODNIK ROSE 12", "OGRODNIK ROSE", "12", "the longest base keyword wins"),
    Row(ND, SHOP, "OGRODNIK ROSES 12", "OGRODNIK", "ROSES 12", "ROSES is not the word ROSE"),
    Row(ND, SHOP, "OGRODNIK", "OGRODNIK", "", "the shorter keyword alone"),
    Row(ND, SHOP, "Kup teraz: SUPER PROMO!", "SUPER PROMO", "Kup teraz: SUPER PROMO!", "a phrase anywhere; the payload is the whole message"),
    Row(ND, SHOP, "OGRODNIK super promo", "OGRODNIK", "super promo", "base beats phrase"),
    Row(ND, ["base:KONKURS", "phrase:WYGRAJ NAGRODĘ@2"], "KONKURS wygraj nagrodę", "KONKURS", "wygraj nagrodę", "base beats phrase across accounts"),
    Row(ND, ["exact:SUPER PROMO DZIŚ@1", "phrase:PROMO@2"], "super promo dziś", "SUPER PROMO DZIŚ", "", "exact beats phrase (a set reserve() refuses, routed all the same)"),
    Row(ND, ["phrase:PROMO", "phrase:SUPER PROMO@2"], "mega super promo", "SUPER PROMO", "mega super promo", "the longest phrase wins (reserve() refuses this set)"),
    Row(ND, ["phrase:RABAT@1", "phrase:PREZENT@2"], "prezent i rabat", "PREZENT", "prezent i rabat", "equal phrases: the earliest occurrence wins"),
    Row(ND, ["phrase:SUPER PROMO"], "SUPER PROMO", "SUPER PROMO", "SUPER PROMO", "a phrase alone"),
    Row(ND, ["phrase:PROMO"], "promocja", None, "promocja", "a phrase is whole words"),
    Row(ND, ["phrase:SUPER PROMO"], "promo super", None, "promo super", "a phrase's words in its order"),
    Row(ND, ["base:PIZZA@1", "base:Pizza@2"], "pizza x", "PIZZA", "x", "same words (bypassing reserve): the lowest id wins"),
    Row(ND, ["base:Pizza@2", "base:PIZZA@1"], "pizza x", "Pizza", "x", "... the lowest id, whatever the accounts"),
    Row(ND, ["exact:PIZZA"], "pizza prosze", None, "pizza prosze", "exact does not take a longer message"),
    Row(ND, ["base:OGRODNIK"], "Jan OGRODNIK", None, "Jan OGRODNIK", "base needs the keyword first"),
    # shared vs dedicated, unmatched
    Row(ND, SHOP, "dzień dobry", None, "dzień dobry", "shared number, no keyword: unmatched inbox", Reason.UNMATCHED),
    Row(NDI, SHOP, "dzień dobry", None, "dzień dobry", "dedicated number: the owner's all the same", Reason.OWNER),
    Row(NDI, [], "cokolwiek ", None, "cokolwiek", "a dedicated number needs no keyword", Reason.OWNER),
    Row(NDI, ["base:OGRODNIK"], "ogrodnik Jan", "OGRODNIK", "Jan", "a prefix on a dedicated number groups senders", Reason.BASE),
    Row(NDI, ["exact:POMOC"], "pomoc", "POMOC", "", "reserved words are only reserved on shared numbers"),
    Row(NDI, PIZZAS, "PIZZO", None, "PIZZO", "ambiguous on a dedicated number: still the owner's", Reason.AMBIGUOUS),
    Row(ND, SHOP, "", None, "", "an empty message", Reason.UNMATCHED),
    Row(ND, SHOP, "  \u200b ", None, "", "only blanks"),
    Row(ND, SHOP, "!!!", None, "!!!", "only punctuation: the payload keeps it"),
    Row(ND, SHOP, "STOP", None, "STOP", "the router does not know STOP: opt-out is asked first"),
    Row(ND, SHOP, "OGRODNIKI", None, "OGRODNIKI", "a longer word is not the keyword"),
    Row(ND, SHOP, "zazolc jaźń", None, "zazolc jaźń", "an exact keyword with more words after it"),
]


@pytest.mark.parametrize("row", ROUTING, ids=[f"{n:03d}-{row.why}" for n, row in enumerate(ROUTING)])
def test_routing(row: Row) -> None:
    keywords = keyword_list(row.keywords, row.kind)
    router = KeywordRouter(keywords, kind=row.kind, owner=OWNER if row.kind is NDI else None)
    decision = router.route(row.message)
    assert (decision.keyword.keyword if decision.keyword else None) == row.expected, row.why
    assert decision.payload == row.payload, row.why
    if row.reason is not None:
        assert decision.reason == row.reason, row.why
    if row.kind is NDI:
        assert decision.account == OWNER
        assert not decision.unmatched
    else:
        assert decision.account == (decision.keyword.account if decision.keyword else None)
        assert decision.unmatched == (decision.keyword is None)


def test_the_specification_is_big_enough() -> None:
    assert len(ROUTING) >= 80
    assert len({(row.kind, tuple(row.keywords), row.message) for row in ROUTING}) == len(ROUTING)


def test_ambiguous_decisions_name_the_candidates() -> None:
    router = KeywordRouter(keyword_list(PIZZAS, ND), kind=ND)
    decision = router.route("PIZZO")
    assert [k.keyword for k in decision.candidates] == ["PIZZA", "PIZZE"]


class Reservation(NamedTuple):
    kind: AccessNumberKind
    existing: list[str]
    new: str
    refused_with: str | None  # a fragment of the conflict message, or None when accepted
    why: str


RESERVATIONS = [
    Reservation(ND, ["base:PIZZA@1"], "base:Pizza@2", "already taken", "same keyword, another account"),
    Reservation(ND, ["base:PIZZA@1"], "exact:PIZZA!@1", "already taken", "same words in another mode, same account"),
    Reservation(ND, ["base:ZAŻÓŁĆ@1"], "base:zazolc@2", "without case, diacritics", "equal after normalisation"),
    Reservation(NDI, ["base:PIZZA@7"], "base: pizza @7", "already taken", "duplicates are refused on a dedicated number too"),
    Reservation(ND, [], "base:STOP@1", 'begins with "STOP"', "STOP is the opt-out word"),
    Reservation(NDI, [], "exact:Stop@7", "opts the sender out", "STOP is refused on dedicated numbers too"),
    Reservation(ND, [], "base:STOP PIZZA@1", 'begins with "STOP"', "a keyword beginning with STOP would be an opt-out"),
    Reservation(ND, [], "base:POMOC@1", "a reserved word on shared numbers (help", "Polish HELP"),
    Reservation(ND, [], "base:Rezygnuję@1", "a reserved word on shared numbers (opt-out", "Polish opt-out, with its ę"),
    Reservation(ND, [], "phrase:NIE WIEM@1", 'begins with "NIE"', "NIE is everyone's answer"),
    Reservation(ND, [], "exact:start@1", "a reserved word on shared numbers (opt-in", "START"),
    Reservation(NDI, [], "exact:POMOC@7", None, "the owner of a dedicated number may use POMOC"),
    Reservation(ND, [], "base:STOPKA@1", None, "STOPKA is not the word STOP"),
    Reservation(ND, [], "base:@1", "no letters or digits", "empty"),
    Reservation(ND, [], "base: \u00a0 @1", "no letters or digits", "blanks"),
    Reservation(ND, [], "base:🍕🎉@1", "no letters or digits", "emoji only"),
    Reservation(ND, [], "exact:!!!@1", "no letters or digits", "punctuation only"),
    Reservation(ND, ["base:OGRODNIK@1"], "base:OGRODNIK ROSE@2", "would take messages that begin with", "a longer base keyword shadows another account's"),
    Reservation(ND, ["base:OGRODNIK ROSE@2"], "base:OGRODNIK@1", "would lose the messages", "a shorter base keyword is shadowed"),
    Reservation(ND, ["base:OGRODNIK@1"], "exact:OGRODNIK ROSE@2", "would take messages", "an exact keyword inside another account's base payload"),
    Reservation(ND, ["exact:OGRODNIK ROSE@2"], "base:OGRODNIK@1", "would lose the messages", "... and the reverse"),
    Reservation(ND, ["base:OGRODNIK@1"], "base:OGRODNIK ROSE@1", None, "nested keywords of one account: the longest wins"),
    Reservation(ND, ["exact:OGRODNIK@1"], "exact:OGRODNIK ROSE@2", None, "exact keywords never share a message"),
    Reservation(ND, ["base:KONKURS@1"], "base:KONKURSY@2", None, "a keyword is whole words"),
    Reservation(NDI, ["base:OGRODNIK@7"], "base:OGRODNIK ROSE@7", None, "nesting on a dedicated number"),
    Reservation(ND, ["phrase:PROMO@1"], "phrase:SUPER PROMO@2", "overlaps", "a phrase inside another phrase"),
    Reservation(ND, ["base:SUPER PROMO@1"], "phrase:PROMO@1", "also contains", "a phrase inside a keyword, same account"),
    Reservation(ND, ["phrase:SUPER PROMO@1"], "base:SUPER@2", "overlaps", "a base keyword inside a phrase"),
    Reservation(ND, ["phrase:SUPER PROMO@1"], "phrase:PROMO SUPER@2", None, "the same words in another order"),
    Reservation(ND, ["base~:PIZZA@1"], "base~:PIZZE@2", None, "one edit apart: allowed, ambiguous messages go unmatched"),
]


@pytest.mark.parametrize("row", RESERVATIONS, ids=[f"{n:02d}-{row.why}" for n, row in enumerate(RESERVATIONS)])
def test_reservation(row: Reservation) -> None:
    existing = keyword_list(row.existing, row.kind)
    new = keyword_list(row.existing + [row.new], row.kind)[-1]
    if row.refused_with is None:
        reserve(existing, new, kind=row.kind)
        return
    with pytest.raises(KeywordConflict) as refused:
        reserve(existing, new, kind=row.kind)
    assert row.refused_with in str(refused.value), row.why


def test_a_conflict_names_the_other_keyword_its_account_and_the_number() -> None:
    existing = keyword_list(["base:OGRODNIK@3"], ND)
    with pytest.raises(KeywordConflict) as refused:
        reserve(existing, Keyword(9, NUMBER, 4, "Ogrodnik!", "exact"), kind=ND)
    assert str(refused.value) == (
        'Keyword "Ogrodnik!" is already taken on +48500600700 by "OGRODNIK" (base, keyword #1 of account 3); '
        "keywords are compared without case, diacritics and punctuation.")
    assert refused.value.other == existing[0]


def test_editing_a_keyword_is_checked_against_the_others_only() -> None:
    existing = keyword_list(["base:PIZZA@1", "base:KEBAB@1"], ND)
    reserve(existing, Keyword(1, NUMBER, 1, "Pizza", "exact"), kind=ND)
    with pytest.raises(KeywordConflict):
        reserve(existing, Keyword(1, NUMBER, 1, "kebab", "exact"), kind=ND)


def test_keywords_of_other_numbers_do_not_conflict() -> None:
    elsewhere = keyword_list(["base:PIZZA@2"], ND, number="+48500600701")
    reserve(elsewhere, Keyword(5, NUMBER, 1, "PIZZA", "base"), kind=ND)


def test_a_keyword_may_not_begin_with_an_opt_out_word_of_an_account_heard_on_its_number() -> None:
    with pytest.raises(KeywordConflict) as refused:
        reserve([], Keyword(1, NUMBER, 1, "Nie chcę reklam", "base"), kind=NDI, opt_out_words={7: ["WYPISZ", "NIE"]})
    assert str(refused.value) == (
        'Keyword "Nie chcę reklam" begins with "NIE", an opt-out word of account 7, which opts the sender out '
        'before any keyword is looked at; choose another word or take "NIE" off that account\'s opt-out words.')
    reserve([], Keyword(1, NUMBER, 1, "NIEBO", "base"), kind=NDI, opt_out_words={7: ["NIE"]})  # another word


def test_an_opt_out_word_takes_the_messages_of_the_keywords_that_begin_with_it() -> None:
    keywords = keyword_list(["base:KONIEC PROMOCJI", "exact:koniec", "phrase:PROMO KONIEC", "base:KONIECZNIE"], ND)
    assert [k.keyword for k in keywords_opted_out_by("Koniec!", keywords)] == ["KONIEC PROMOCJI", "koniec"]
    assert keywords_opted_out_by("🛑", keywords) == []


OPT_OUTS = [
    ("STOP", (), True, "the word itself"),
    ("stop", (), True, "any case"),
    ("Stop!", (), True, "punctuation ignored"),
    ("STOP proszę", (), True, "a base match: words after STOP"),
    (" 🛑 stop", (), True, "an emoji before it"),
    ("S\u200bTOP", (), True, "a zero-width character inside"),
    ("STOPKA", (), False, "a longer word"),
    ("nie stop", (), False, "STOP not first"),
    ("S T O P", (), False, "spelt out"),
    ("", (), False, "empty"),
    ("WYPISZ mnie", ("WYPISZ",), True, "an account's extra opt-out word"),
    ("wypisz", (), False, "WYPISZ is not built in"),
    ("Rezygnuję", ("REZYGNUJĘ",), True, "extra words are normalised too"),
    ("nie wysyłaj więcej", ("NIE WYSYŁAJ",), True, "a two-word opt-out"),
    ("nie", ("NIE WYSYŁAJ",), False, "only part of a two-word opt-out"),
    ("STOP", ("🛑", ""), True, "empty extra words are ignored"),
]


@pytest.mark.parametrize(("text", "extra", "expected", "why"), OPT_OUTS, ids=[row[3] for row in OPT_OUTS])
def test_opt_out(text: str, extra: tuple[str, ...], expected: bool, why: str) -> None:
    assert is_opt_out(text, extra) is expected, why


def test_a_router_holds_one_access_number_and_a_dedicated_number_its_owner() -> None:
    with pytest.raises(ValueError, match="several access numbers"):
        KeywordRouter(keyword_list(["base:A"], ND) + keyword_list(["base:B"], ND, number="+48500600701"), kind=ND)
    with pytest.raises(ValueError, match="owner"):
        KeywordRouter([], kind=NDI)
    with pytest.raises(ValueError, match="no owner"):
        KeywordRouter([], kind=ND, owner=3)
