"""Drawing a contest's winners: pure, so that a stored draw can be replayed and audited.

A draw is a function of the contest's entries, the number of winners, the method and the seed:
anyone holding those can run :func:`draw_winners` again and get the same winners in the same order.

Methods
    random          ``random.Random(seed)`` picks entries from the eligible entries sorted by
                    (entered_at, id); a number that sent several entries has that many chances, but
                    wins once: once picked, all its entries leave the pool.
    first_correct   the first ``n`` distinct numbers by (entered_at, id) among the eligible entries;
                    the seed is stored but plays no part.

Eligible: the correct entries when the contest has an answer (``correct_only``), else every entry.
Fewer eligible numbers than ``n`` gives fewer winners, never an error.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Protocol

__all__ = ["DrawMethod", "DrawableEntry", "draw_winners"]


class DrawMethod(StrEnum):
    RANDOM = "random"
    FIRST_CORRECT = "first_correct"


class DrawableEntry(Protocol):
    """What a draw reads of an entry; ``ContestEntry`` rows qualify."""

    @property
    def id(self) -> int: ...
    @property
    def msisdn(self) -> str: ...
    @property
    def correct(self) -> bool: ...
    @property
    def entered_at(self) -> datetime: ...


def draw_winners(entries: Iterable[DrawableEntry], n: int, seed: str, method: str = DrawMethod.RANDOM, *,
                 correct_only: bool = True) -> list[str]:
    """The winning numbers, in the order drawn; at most ``n``, each number at most once."""
    method = DrawMethod(method)
    if n < 0:
        raise ValueError(f"the number of winners must not be negative, not {n}")
    # Sorted, so the outcome depends on the entries, not on the order a database returned them in.
    pool = sorted((e for e in entries if e.correct or not correct_only), key=lambda e: (e.entered_at, e.id))
    winners: list[str] = []
    if method is DrawMethod.FIRST_CORRECT:
        for entry in pool:
            if len(winners) == n:
                break
            if entry.msisdn not in winners:
                winners.append(entry.msisdn)
        return winners
    # random.Random seeded with a str hashes it with SHA-512 (seed version 2), and randrange draws
    # with getrandbits: both stable across Python versions and platforms since 3.2.
    rng = random.Random(seed)
    numbers = [e.msisdn for e in pool]
    while numbers and len(winners) < n:
        winner = numbers[rng.randrange(len(numbers))]
        winners.append(winner)
        numbers = [number for number in numbers if number != winner]
    return winners
