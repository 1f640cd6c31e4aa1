"""A pseudo-terminal pair standing for a modem's USB serial port.

The client opens the slave (/dev/pts/N); the emulator reads and writes the master. The emulator also
keeps a slave descriptor open: without it, the master reads EIO whenever no client has the port open
(between a client's close and its reopen), and the slave's path would disappear with the last close.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import termios
import time
import tty
from pathlib import Path

log = logging.getLogger(__name__)

WRITE_STALL_SECONDS = 2.0  # how long a write may wait for a client that does not read


class PtyLink:
    def __init__(self, symlink: Path | None = None, *, avoid_paths: frozenset[str] = frozenset()) -> None:
        spare: list[tuple[int, int]] = []
        try:
            # A replugged modem must show up under a new name, as a re-enumerated USB device may;
            # the kernel would hand back the number just freed, so hold a few until it does not.
            for _ in range(16):
                master, slave = os.openpty()
                if os.ttyname(slave) not in avoid_paths:
                    break
                spare.append((master, slave))
        finally:
            for fds in spare:
                for fd in fds:
                    os.close(fd)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master = master
        self._slave = slave
        self.path = os.ttyname(slave)
        self.symlink = symlink
        self.closed = False
        if symlink is not None:
            with contextlib.suppress(FileNotFoundError):
                symlink.unlink()
            symlink.symlink_to(self.path)

    def fileno(self) -> int:
        return self.master

    def read(self) -> bytes:
        """What the client wrote, b"" when nothing is waiting."""
        try:
            return os.read(self.master, 4096)
        except BlockingIOError:
            return b""
        except OSError as error:
            if error.errno == errno.EIO:
                return b""
            raise

    def write(self, data: bytes) -> None:
        """Write all of `data`. A client that stopped reading (or a port nobody has open) fills the
        pty buffer; after WRITE_STALL_SECONDS its unread input is discarded, as a USB serial port
        nobody reads drops what the modem sends."""
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_STALL_SECONDS
        flushed = False
        while view:
            try:
                written = os.write(self.master, view)
                view = view[written:]
                continue
            except BlockingIOError:
                pass
            except OSError as error:
                if error.errno == errno.EIO:
                    return
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if flushed:
                    log.warning("dropping %d bytes to %s: the client does not read", len(view), self.path)
                    return
                termios.tcflush(self._slave, termios.TCIFLUSH)
                flushed = True
                deadline = time.monotonic() + WRITE_STALL_SECONDS
                continue
            select.select([], [self.master], [], min(remaining, 0.1))

    def close(self) -> None:
        """Unplug: the client's descriptor sees a hangup (reads return EOF, writes EIO)."""
        if self.closed:
            return
        self.closed = True
        if self.symlink is not None:
            with contextlib.suppress(FileNotFoundError):
                if self.symlink.is_symlink() and os.readlink(self.symlink) == self.path:
                    self.symlink.unlink()
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
