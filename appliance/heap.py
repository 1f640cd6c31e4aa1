"""glibc's malloc tuned for a process of some 70 threads on a small board.

- **One arena, not eight per core.** Each thread that allocates gets an arena of its own while
  there are fewer than 8 × cores, and every arena keeps free memory of its own: with 16 modems (two
  threads each) and the panel's, about 0.5 MiB of RSS for nothing, and a second arena still 0.3 to
  0.6 MiB (docs/performance.md). Python allocates holding its one interpreter lock anyway; what
  allocates without it (SQLite, OpenSSL) waits for the arena's lock instead.
- **Free memory given back after a burst.** malloc keeps what Python (objects over 512 bytes),
  SQLite (its page cache) and OpenSSL free, for reuse, and returns it to the system only from the
  top of each heap. After a burst (a SIM storage full of messages read at once, a backlog of
  forwards) that is megabytes the appliance no longer uses but still holds: with 16 modems at line
  rate, 115 MiB at the end and 101 MiB after one ``malloc_trim(0)``. Idle, a trim gives back nothing
  and costs about a millisecond.

Both are glibc's (``mallopt``'s ``M_ARENA_MAX``, ``malloc_trim``); with another C library (musl)
nothing is tuned.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

MALLOC_ARENAS = 1
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas() -> None:
    """At most :data:`MALLOC_ARENAS` arenas; before threads start, so that none has one of its own."""
    mallopt = _glibc_function("mallopt")
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def heap_trimmer() -> Callable[[], None] | None:
    """A function that returns the C heap's free pages to the system; None without glibc."""
    malloc_trim = _glibc_function("malloc_trim")
    if malloc_trim is None:
        return None
    malloc_trim.argtypes = [ctypes.c_size_t]

    def trim() -> None:
        malloc_trim(0)

    return trim


def _glibc_function(name: str) -> Any:
    """The C library's function ``name`` (a ctypes function pointer), or None."""
    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):
        return None
