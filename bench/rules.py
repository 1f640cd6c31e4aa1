"""Rules throughput.

Routing: 1,000 keywords on one shared access number (base, exact and phrase, a third typo tolerant,
Polish words with diacritics, 50 accounts, every keyword accepted by ``reserve``), routed over
100,000 messages shaped like real traffic: keyword plus payload, typed without Polish letters or in
another case, decorated with punctuation and emoji, phrases inside sentences, typos, chatter that
matches nothing. Reports decisions/s from an untimed loop and p50/p99 per decision from a second
loop timing each call. Single-threaded: run it with ``taskset -c 0`` for one core.

    taskset -c 0 .venv/bin/python bench/rules.py [--keywords 1000] [--messages 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.rules import (  # noqa: E402
    AccessNumberKind,
    Keyword,
    KeywordConflict,
    KeywordMode,
    KeywordRouter,
    reserve,
)

NUMBER = "+48500600700"
SYLLABLES = ("ża", "ró", "gę", "ść", "ło", "ma", "ki", "no", "dź", "wi", "ka", "ra", "sz", "pa", "łą",
             "mi", "to", "zo", "bę", "ń", "cz", "ko", "la", "so", "ne", "dy", "ta", "ję", "wó", "ry")
REAL_WORDS = ("OGRODNIK", "PIZZA", "KONKURS", "ZAŻÓŁĆ", "ŁÓDŹ", "KWIATY", "RABAT", "PROMOCJA", "ŚWIĘTA",
              "ZNIŻKA", "KAWA", "PIEKARNIA", "APTEKA", "FRYZJER", "KSIĄŻKA", "BILET", "KINO", "TEATR",
              "MECZ", "GŁOS", "ANKIETA", "NAGRODA", "LOSOWANIE", "SKLEP", "ZDROWIE", "ŻABKA", "WÓZ")
NAMES = ("Jan Kowalski", "Anna Nowak", "Małgorzata Wiśniewska", "Piotr Wójcik", "Łukasz Kamiński",
         "Zofia Lewandowska", "Grzegorz Zieliński", "Agnieszka Szymańska", "Jędrzej Woźniak")
CHATTER = ("Dzień dobry, czy sklep jest dziś otwarty?", "ok dzięki", "Kiedy będzie następna dostawa?",
           "Proszę o kontakt", "nie rozumiem", "👍", "Gdzie mogę odebrać zamówienie?",
           "Czy to prawda że wygrałem?", "Pozdrawiam serdecznie 😀", "ile to kosztuje", "?",
           "Zadzwońcie do mnie po 17", "Jaki jest regulamin konkursu?")
DECORATIONS = ("", "", "", "!", ".", " 😀", "!!", " 🌹", "?", " :)")
STRIP = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")


def routing_keywords(count: int, seed: int = 1) -> list[Keyword]:
    """``count`` keywords of one shared number, each accepted by ``reserve`` against the earlier ones."""
    rng = random.Random(seed)
    vocabulary = list(REAL_WORDS)
    seen = {w.lower() for w in vocabulary}
    while len(vocabulary) < 3 * count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).upper()
        if len(word) >= 3 and word.lower() not in seen:
            seen.add(word.lower())
            vocabulary.append(word)
    modes = [KeywordMode.BASE] * 11 + [KeywordMode.EXACT] * 5 + [KeywordMode.PHRASE] * 4
    accepted: list[Keyword] = []
    ident = 0
    while len(accepted) < count:
        ident += 1
        mode = rng.choice(modes)
        size = rng.choice((1, 1, 1, 2)) if mode is not KeywordMode.PHRASE else rng.choice((1, 2, 2, 3))
        text = " ".join(rng.choice(vocabulary) for _ in range(size))
        candidate = Keyword(ident, NUMBER, rng.randint(1, 50), text, mode, rng.random() < 0.33)
        try:
            reserve(accepted, candidate, kind=AccessNumberKind.SHARED)
        except KeywordConflict:
            continue
        accepted.append(candidate)
    return accepted


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word) - 1)
    kind = rng.choice(("delete", "insert", "swap", "replace"))
    if kind == "delete":
        return word[:i] + word[i + 1:]
    if kind == "insert":
        return word[:i] + rng.choice("aeiouk") + word[i:]
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + rng.choice("aeiouk") + word[i + 1:]


def routing_messages(keywords: list[Keyword], count: int, seed: int = 2) -> list[str]:
    """Messages as senders type them to those keywords, and some that match none."""
    rng = random.Random(seed)
    by_mode = {mode: [k for k in keywords if k.mode is mode] for mode in KeywordMode}
    tolerant = [k for k in keywords if k.typo_tolerant and len(k.keyword.replace(" ", "")) >= 5]
    messages = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.45:
            keyword = rng.choice(by_mode[KeywordMode.BASE]).keyword
            payload = rng.choice((rng.choice(NAMES), str(rng.randint(1, 999)), rng.choice(NAMES) + " 🌹",
                                  "Warszawa, ul. Złota 44", ""))
            text = f"{keyword}{rng.choice((' ', ', ', ' - ', ':'))}{payload}"
        elif roll < 0.55:
            text = rng.choice(by_mode[KeywordMode.EXACT]).keyword + rng.choice(DECORATIONS)
        elif roll < 0.65:
            phrase = rng.choice(by_mode[KeywordMode.PHRASE]).keyword
            text = f"{rng.choice(('Chcę', 'Biorę udział:', 'Hej,'))} {phrase} {rng.choice(('dziękuję', 'teraz', '😀'))}"
        elif roll < 0.75 and tolerant:
            words = rng.choice(tolerant).keyword.split()
            position = rng.randrange(len(words))
            if len(words[position]) >= 3:
                words[position] = _typo(words[position], rng)
            text = " ".join(words) + rng.choice(("", " " + rng.choice(NAMES)))
        elif roll < 0.95:
            text = rng.choice(CHATTER)
        else:
            text = rng.choice(("STOP", "", "🎉🎉", "  \u200b", "Stop!", "POMOC"))
        if rng.random() < 0.3:
            text = text.translate(STRIP)  # a phone without Polish letters
        if rng.random() < 0.4:
            text = text.lower() if rng.random() < 0.7 else text.title()
        messages.append(text)
    return messages


def routing(keyword_count: int, message_count: int, seed: int) -> dict[str, float]:
    started = time.perf_counter()
    keywords = routing_keywords(keyword_count, seed)
    reserved = time.perf_counter()
    router = KeywordRouter(keywords, kind=AccessNumberKind.SHARED)
    built = time.perf_counter()
    messages = routing_messages(keywords, message_count, seed + 1)

    route = router.route
    start = time.perf_counter()
    reasons = Counter(route(text).reason for text in messages)
    elapsed = time.perf_counter() - start

    clock = time.perf_counter_ns
    latencies = []
    for text in messages:
        before = clock()
        route(text)
        latencies.append(clock() - before)
    latencies.sort()
    return {
        "keywords": len(keywords),
        "modes": Counter(k.mode.value for k in keywords),
        "typo_tolerant": sum(k.typo_tolerant for k in keywords),
        "reserve_s": reserved - started,
        "build_ms": (built - reserved) * 1000,
        "messages": len(messages),
        "decisions_per_s": len(messages) / elapsed,
        "p50_us": latencies[len(latencies) // 2] / 1000,
        "p99_us": latencies[int(len(latencies) * 0.99)] / 1000,
        "mean_us": statistics.fmean(latencies) / 1000,
        "reasons": reasons,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keywords", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    result = routing(args.keywords, args.messages, args.seed)
    modes = ", ".join(f"{count} {mode}" for mode, count in sorted(result["modes"].items()))
    print(f"routing: {result['keywords']} keywords ({modes}; {result['typo_tolerant']} typo tolerant), "
          f"reserved one by one in {result['reserve_s']:.1f} s, router built in {result['build_ms']:.1f} ms")
    print(f"routing: {result['messages']} messages: {result['decisions_per_s']:,.0f} decisions/s, "
          f"p50 {result['p50_us']:.1f} µs  p99 {result['p99_us']:.1f} µs  mean {result['mean_us']:.1f} µs per decision")
    print("routing: decisions by reason: "
          + ", ".join(f"{reason} {count}" for reason, count in result["reasons"].most_common()))


if __name__ == "__main__":
    main()
