"""Giving the C heap's free memory back to the system after a burst of messages.

glibc's malloc keeps what Python (objects over 512 bytes), SQLite (its page cache) and OpenSSL free,
for reuse, and returns it to the system only from the top of each heap. After a burst (a SIM
storage full of messages read at once, a backlog of forwards) that is megabytes the appliance no
longer uses but still holds: with 16 modems at line rate, 115 MiB at the end and 101 MiB after one
``malloc_trim(0)`` (docs/performance.md). Idle, it gives back nothing and costs about a millisecond.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def heap_trimmer() -> Callable[[], None] | None:
    """A function that returns the C heap's free pages to the system; None where the C library has
    no ``malloc_trim`` (it is glibc's: musl, for one, has none)."""
    try:
        malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int

    def trim() -> None:
        malloc_trim(0)

    return trim
