"""A real process under another name, for what the appliance finds by name in /proc (ModemManager)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def process_named(name: str, *, holding: str | None = None) -> Iterator[int]:
    """A process whose /proc/PID/comm is ``name`` (prctl PR_SET_NAME), with the file ``holding`` open,
    until the block ends. Yields its pid."""
    code = ("import ctypes, os, sys\n"
            f"ctypes.CDLL(None).prctl(15, {name.encode()!r}, 0, 0, 0)\n"
            f"fd = os.open({holding!r}, os.O_RDWR | os.O_NOCTTY) if {holding!r} else None\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    try:
        assert process.stdout.readline() == "ready\n", f"{name} stand-in did not start"
        yield process.pid
    finally:
        process.stdin.close()
        process.wait(5)
        process.stdout.close()
