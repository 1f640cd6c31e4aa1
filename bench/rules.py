"""Rules throughput.

Routing: 1,000 keywords on one shared access number (base, exact and phrase, a third typo tolerant,
Polish words with diacritics, 50 accounts, every keyword accepted by ``reserve``), routed over
100,000 messages shaped like real traffic: keyword plus payload, typed without Polish letters or in
another case, decorated with punctuation and emoji, phrases inside sentences, typos, chatter that
matches nothing. Reports decisions/s from an untimed loop and p50/p99 per decision from a second
loop timing each call. Single-threaded: run it with ``taskset -c 0`` for one core.

Statistics: 1,000,000 messages over 90 days on 4 access numbers, 1,000 keywords, 200,000 senders,
opt-in/opt-out events, poll votes and contest entries, in a migrated SQLite file (WAL, as the
appliance runs it) and in a durable throwaway PostgreSQL (or ``--postgres-url``). The rows go in
with bulk inserts, past the code that keeps the statistics summary, so the summary is then rebuilt
from them (``appliance.db.statistics_summary.rebuild``, timed too). Each call of
``appliance.statistics`` (every query it makes) over 7, 30 and 90 days is then timed 7 times after a
warm-up: median (p50) and slowest against 200 ms.

    taskset -c 0 .venv/bin/python bench/rules.py [--keywords 1000] [--messages 100000] [--seed 1]
                                                 [--stat-messages 1000000] [--no-postgres]
                                                 [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import fmean, median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.db.engine import make_engine, make_session_factory  # noqa: E402
from appliance.db.migrate import upgrade  # noqa: E402
from appliance.db.models import Base  # noqa: E402
from appliance.db.statistics_summary import rebuild  # noqa: E402
from appliance.rules import (  # noqa: E402
    AccessNumberKind,
    Keyword,
    KeywordConflict,
    KeywordMode,
    KeywordRouter,
    reserve,
)
from appliance.statistics import access_number_statistics, keyword_statistics  # noqa: E402

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
        "mean_us": fmean(latencies) / 1000,
        "reasons": reasons,
    }


STAT_DAYS = 90
STAT_LAST_DAY = date(2026, 11, 30)
STAT_TARGET_MS = 200.0
STAT_NUMBERS = 4
STAT_SENDERS = 200_000
CHUNK = 10_000


def statistics_rows(message_count: int, keyword_count: int, seed: int = 7) -> dict[str, list[dict]]:
    """Rows for every table the statistics read, ids given so events can point at their messages.

    Messages arrive in time order (ids grow with ``received_at``) at a steady rate over 90 days; 90 %
    are routed to one of the keywords (spread over 4 access numbers), the rest are unmatched. Every
    fifth keyword opts senders in (about 12 % of messages become an opt-in), 2 % are opt-outs; ten
    polls and ten contests take votes and entries from their keywords.
    """
    rng = random.Random(seed)
    accounts = [{"id": n, "name": f"account {n}"} for n in range(1, 51)]
    numbers = [{"id": n, "number": f"+4850060070{n}", "iccid": f"89480610001234567{n:02d}", "kind": "shared",
                "account_id": None} for n in range(1, STAT_NUMBERS + 1)]
    polls = [{"id": n, "account_id": 1, "question": f"Ankieta {n}?",
              "options": [{"code": c, "label": f"opcja {c}"} for c in "ABCD"]} for n in range(1, 11)]
    contests = [{"id": n, "account_id": 1, "name": f"Konkurs {n}", "answer": "42"} for n in range(1, 11)]
    keywords = []
    for n in range(1, keyword_count + 1):
        actions: list[dict[str, object]] = []
        if n % 5 == 0:
            actions.append({"type": "join_group", "group": 1})
        if n <= 10:
            actions.append({"type": "poll_vote", "poll": n})
        elif n <= 20:
            actions.append({"type": "contest_entry", "contest": n - 10})
        keywords.append({"id": n, "access_number_id": (n - 1) % STAT_NUMBERS + 1, "account_id": (n - 1) % 50 + 1,
                         "keyword": f"KW{n}", "mode": "base", "actions": actions})
    senders = [f"+48{600000000 + n}" for n in range(STAT_SENDERS)]
    contacts = [{"id": n + 1, "account_id": 1, "msisdn": msisdn} for n, msisdn in enumerate(senders)]

    start = datetime.combine(STAT_LAST_DAY - timedelta(days=STAT_DAYS - 1), datetime.min.time(), UTC)
    step = STAT_DAYS * 86400 / message_count
    messages, events, votes, entries = [], [], [], []
    voted: set[tuple[int, int]] = set()
    for i in range(message_count):
        at = start + timedelta(seconds=i * step + rng.random() * step)
        sender = rng.randrange(STAT_SENDERS)
        message_id = i + 1
        if rng.random() < 0.9:
            keyword = rng.randint(1, keyword_count)
            number = (keyword - 1) % STAT_NUMBERS + 1
            keyword_text = f"KW{keyword}"
            status = "routed"
        else:
            keyword, keyword_text, status = None, None, "unmatched"
            number = rng.randint(1, STAT_NUMBERS)
        messages.append({"id": message_id, "received_at": at, "iccid": numbers[number - 1]["iccid"],
                         "sender": senders[sender], "text": f"{keyword_text or 'hej'} Jan Kowalski",
                         "status": status, "keyword_id": keyword, "keyword": keyword_text})
        later = at + timedelta(milliseconds=300)
        if keyword is not None and (keyword % 5 == 0 or rng.random() < 0.1):
            events.append({"contact_id": sender + 1, "kind": "opt_in", "group_id": None, "keyword": keyword_text,
                           "message_id": message_id, "at": later})
        elif rng.random() < 0.02:
            events.append({"contact_id": sender + 1, "kind": "opt_out", "group_id": None, "keyword": "STOP",
                           "message_id": message_id, "at": later})
        if keyword is not None and keyword <= 10 and (keyword, sender) not in voted:
            voted.add((keyword, sender))
            votes.append({"poll_id": keyword, "msisdn": senders[sender], "option_code": rng.choice("ABCD"),
                          "message_id": message_id, "voted_at": later})
        elif keyword is not None and 10 < keyword <= 20:
            answer = rng.choice(("42", "42", "41", "7"))
            entries.append({"contest_id": keyword - 10, "msisdn": senders[sender], "answer": answer,
                            "correct": answer == "42", "message_id": message_id, "entered_at": later})
    return {"accounts": accounts, "access_numbers": numbers, "keywords": keywords, "polls": polls,
            "contests": contests, "contacts": contacts, "messages": messages, "contact_events": events,
            "poll_votes": votes, "contest_entries": entries}


def fill(database_url: str, rows: dict[str, list[dict]]) -> tuple[float, float]:
    """Migrate, insert every table with Core executemany in chunks, rebuild the statistics summary;
    returns the seconds the inserts took and the seconds the rebuild took."""
    upgrade(database_url)
    engine = make_engine(database_url)
    started = time.perf_counter()
    try:
        with engine.begin() as connection:
            for name in rows:  # parents before children
                table = Base.metadata.tables[name]
                for offset in range(0, len(rows[name]), CHUNK):
                    connection.execute(table.insert(), rows[name][offset:offset + CHUNK])
        filled = time.perf_counter()
        with engine.begin() as connection:
            rebuild(connection)
        rebuilt = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # Planner statistics (and on PostgreSQL the visibility map index-only scans need), as
            # autovacuum leaves them after a load; on SQLite as a periodic ANALYZE would.
            connection.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
    finally:
        engine.dispose()
    return filled - started, rebuilt - filled


def time_statistics(database_url: str, rows: dict[str, list[dict]], repeat: int = 7) -> list[tuple[str, int, float, float]]:
    """(case, messages in its range, median ms, slowest ms) per statistics call."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    per_number = Counter(m["iccid"] for m in rows["messages"])
    per_keyword = Counter(m["keyword_id"] for m in rows["messages"] if m["keyword_id"] is not None)
    busiest_number = max(rows["access_numbers"], key=lambda n: per_number[n["iccid"]])
    busiest_keyword = max(per_keyword, key=lambda k: per_keyword[k])
    last = STAT_LAST_DAY
    first90 = last - timedelta(days=STAT_DAYS - 1)
    first30 = last - timedelta(days=29)
    first7 = last - timedelta(days=6)

    def in_range(select_message: Callable[[dict], bool], first: date) -> int:
        since = datetime.combine(first, datetime.min.time(), UTC) - timedelta(hours=2)
        return sum(1 for m in rows["messages"] if select_message(m) and m["received_at"] >= since)

    cases: list[tuple[str, Callable[..., object], int, date, int]] = []
    for days, first in ((7, first7), (30, first30), (90, first90)):
        cases += [
            (f"keyword with a poll, {days} days", keyword_statistics, 1, first,
             in_range(lambda m: m["keyword_id"] == 1, first)),
            (f"keyword with a contest, {days} days", keyword_statistics, 11, first,
             in_range(lambda m: m["keyword_id"] == 11, first)),
            (f"busiest keyword, {days} days", keyword_statistics, busiest_keyword, first,
             in_range(lambda m: m["keyword_id"] == busiest_keyword, first)),
            (f"access number, {days} days", access_number_statistics, busiest_number["id"], first,
             in_range(lambda m: m["iccid"] == busiest_number["iccid"], first)),
        ]
    results = []
    try:
        for name, call, ident, first, covered in cases:
            with sessions() as session:
                call(session, ident, first, last)  # warm the cache, as a panel that is in use has it
                samples = []
                for _ in range(repeat):
                    began = time.perf_counter()
                    call(session, ident, first, last)
                    samples.append((time.perf_counter() - began) * 1000)
                    session.expire_all()
            results.append((name, covered, median(samples), max(samples)))
        with sessions() as session:  # the summary counts what the messages say (tests check it in depth)
            for call, ident in ((access_number_statistics, busiest_number["id"]), (keyword_statistics, 1)):
                if call(session, ident, first7, last) != call(session, ident, first7, last, from_messages=True):
                    raise SystemExit(f"statistics: {call.__name__}({ident}) from the summary differs from the messages")
    finally:
        engine.dispose()
    return results


def statistics(message_count: int = 1_000_000, keyword_count: int = 1000, postgres: bool = True,
               postgres_url: str | None = None) -> None:
    """Fill SQLite and PostgreSQL with ``message_count`` messages, then time the statistics calls."""
    began = time.perf_counter()
    rows = statistics_rows(message_count, keyword_count)
    # A million row dicts would make each full garbage collection a 100 ms pause inside some timed
    # call; the appliance holds no such heap. Kept out of the collector's sight.
    gc.freeze()
    print(f"statistics: generated {len(rows['messages']):,} messages, {len(rows['contact_events']):,} "
          f"opt-in/out events, {len(rows['poll_votes']):,} poll votes, {len(rows['contest_entries']):,} "
          f"contest entries in {time.perf_counter() - began:.1f} s")
    backends: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="appliance-bench-stats-") as directory:
        backends.append(("sqlite", f"sqlite:///{directory}/appliance.db"))
        cluster = None
        if postgres and not postgres_url:
            from tests.support.postgres import ThrowawayCluster

            cluster = ThrowawayCluster(durable=True)
            postgres_url = cluster.start()
        if postgres and postgres_url:
            backends.append(("postgresql", postgres_url))
        try:
            for backend, url in backends:
                filled, rebuilt = fill(url, rows)
                print(f"statistics: {backend}: filled in {filled:.1f} s, summary rebuilt in {rebuilt:.1f} s")
                for name, covered, middle, slowest in time_statistics(url, rows):
                    verdict = "ok" if slowest < STAT_TARGET_MS else "OVER TARGET"
                    print(f"statistics: {backend}: {name:<34} {covered:>8,} msgs  p50 {middle:7.1f} ms  "
                          f"max {slowest:7.1f} ms  = {slowest / STAT_TARGET_MS:.2f} of 200 ms  {verdict}")
        finally:
            if cluster is not None:
                cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keywords", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stat-messages", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true", help="statistics on SQLite only")
    parser.add_argument("--postgres-url", help="a server to fill instead of a throwaway cluster")
    args = parser.parse_args()

    result = routing(args.keywords, args.messages, args.seed)
    modes = ", ".join(f"{count} {mode}" for mode, count in sorted(result["modes"].items()))
    print(f"routing: {result['keywords']} keywords ({modes}; {result['typo_tolerant']} typo tolerant), "
          f"reserved one by one in {result['reserve_s']:.1f} s, router built in {result['build_ms']:.1f} ms")
    print(f"routing: {result['messages']} messages: {result['decisions_per_s']:,.0f} decisions/s, "
          f"p50 {result['p50_us']:.1f} µs  p99 {result['p99_us']:.1f} µs  mean {result['mean_us']:.1f} µs per decision")
    print("routing: decisions by reason: "
          + ", ".join(f"{reason} {count}" for reason, count in result["reasons"].most_common()))
    statistics(args.stat_messages, args.keywords, postgres=not args.no_postgres, postgres_url=args.postgres_url)


if __name__ == "__main__":
    main()
