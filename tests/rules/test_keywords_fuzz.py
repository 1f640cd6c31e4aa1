"""Properties of normalisation and routing over arbitrary text (Hypothesis)."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from appliance.rules import (
    AccessNumberKind,
    Keyword,
    KeywordConflict,
    KeywordMode,
    KeywordRouter,
    Reason,
    is_opt_out,
    normalise,
    reserve,
    words,
)
from appliance.rules.keywords import _within_one_edit

NUMBER = "+48500600700"
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=80)
POLISH = "aąbcćdeęfghijklłmnńoóprsśtuwyzźżAĄBCĆDEĘFGHIJKLŁMNŃOÓPRSŚTUWYZŹŻ0123"
DECORATION = st.sampled_from(["", " ", "!", ", ", "  ", "\u00a0", "\u200b", " 🍕", "...", "-"])
WORD = st.text(alphabet=POLISH, min_size=1, max_size=9)


@st.composite
def keyword_texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(WORD, min_size=1, max_size=3))
    text = draw(DECORATION).lstrip("-")
    for part in parts:
        text += part + draw(st.sampled_from([" ", "  ", "\u00a0", " - "]))
    return text + draw(DECORATION)


@st.composite
def keyword_sets(draw: st.DrawFn) -> tuple[AccessNumberKind, list[Keyword]]:
    """Keywords of one number, each accepted by ``reserve`` against those before it."""
    kind = draw(st.sampled_from(list(AccessNumberKind)))
    accepted: list[Keyword] = []
    for ident in range(1, draw(st.integers(1, 12)) + 1):
        account = 7 if kind is AccessNumberKind.DEDICATED else draw(st.integers(1, 3))
        candidate = Keyword(ident, NUMBER, account, draw(st.one_of(keyword_texts(), ANY_TEXT)),
                            draw(st.sampled_from(list(KeywordMode))), draw(st.booleans()))
        try:
            reserve(accepted, candidate, kind=kind)
        except KeywordConflict:
            continue
        accepted.append(candidate)
    return kind, accepted


def router_for(kind: AccessNumberKind, keywords: list[Keyword]) -> KeywordRouter:
    return KeywordRouter(keywords, kind=kind, owner=7 if kind is AccessNumberKind.DEDICATED else None)


@given(ANY_TEXT)
@settings(max_examples=500)
def test_normalise_is_idempotent_and_keeps_the_words(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert words(once) == words(text)
    assert once == once.strip() and "  " not in once


@given(keyword_sets(), ANY_TEXT)
@settings(max_examples=300)
def test_routing_never_raises_and_is_consistent(keywords: tuple[AccessNumberKind, list[Keyword]], text: str) -> None:
    kind, accepted = keywords
    decision = router_for(kind, accepted).route(text)
    assert decision.keyword is None or decision.keyword in accepted
    assert (decision.reason is Reason.AMBIGUOUS) == bool(decision.candidates)
    if kind is AccessNumberKind.DEDICATED:
        assert decision.account == 7
    assert decision.payload in text or not decision.payload
    is_opt_out(text, [k.keyword for k in accepted])


@given(keyword_sets())
@settings(max_examples=300)
def test_every_accepted_keyword_routes_its_own_text(keywords: tuple[AccessNumberKind, list[Keyword]]) -> None:
    kind, accepted = keywords
    router = router_for(kind, accepted)
    for keyword in accepted:
        decision = router.route(keyword.keyword)
        assert decision.keyword == keyword, (keyword, decision)
        assert decision.reason is Reason(keyword.mode)


@given(keyword_sets(), st.data())
@settings(max_examples=200)
def test_a_building_order_never_changes_a_decision(keywords: tuple[AccessNumberKind, list[Keyword]],
                                                   data: st.DataObject) -> None:
    kind, accepted = keywords
    shuffled = data.draw(st.permutations(accepted))
    text = data.draw(st.one_of(st.sampled_from([k.keyword for k in accepted] or [""]), keyword_texts()))
    assert router_for(kind, accepted).route(text) == router_for(kind, shuffled).route(text)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzłóż", min_size=5, max_size=10), st.data())
def test_one_deletion_of_a_typo_tolerant_keyword_still_reaches_it(word: str, data: st.DataObject) -> None:
    keyword = Keyword(1, NUMBER, 1, word, data.draw(st.sampled_from(list(KeywordMode))), True)
    try:
        reserve([], keyword, kind=AccessNumberKind.SHARED)
    except KeywordConflict:
        assume(False)
    folded = words(word)[0]
    position = data.draw(st.integers(0, len(folded) - 1))
    typo = folded[:position] + folded[position + 1:]
    assume(typo not in {"stop", "nie", "tak", "start", "help", "pomoc", "info", "wypisz"})
    decision = KeywordRouter([keyword], kind=AccessNumberKind.SHARED).route(typo.upper())
    assert decision.keyword == keyword
    assert decision.reason in (Reason.TYPO, Reason(keyword.mode))


def _osa_distance(a: str, b: str) -> int:
    """Reference optimal-string-alignment distance (dynamic programming)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@given(st.text(alphabet="abc ", max_size=7), st.text(alphabet="abc ", max_size=7))
@settings(max_examples=1000)
def test_within_one_edit_agrees_with_the_textbook_distance(a: str, b: str) -> None:
    assert _within_one_edit(a, b) == (_osa_distance(a, b) <= 1)
