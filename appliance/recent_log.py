"""The newest application log records, in memory, for the System page.

A shop owner's box has no shell session open when something goes wrong; the page (and its text
download) shows what the appliance logged lately, so a support person can read it over the phone or
by e-mail. The running appliance installs one :class:`RecentLog` on the root logger; it holds at most
``capacity`` records, each formatted when logged (a record's arguments may change afterwards).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

CAPACITY = 2000
# A message with a long traceback is kept whole; one of megabytes (a dumped payload) is not.
MAX_MESSAGE = 20_000


@dataclass(frozen=True)
class LogEntry:
    created: float  # time.time() of the record
    level: int
    level_name: str
    logger: str
    message: str  # with the traceback, when the record had one

    def as_text(self) -> str:
        when = datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return f"{when} {self.level_name} {self.logger}: {self.message}"


class RecentLog(logging.Handler):
    def __init__(self, capacity: int = CAPACITY) -> None:
        super().__init__()
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self._entries_lock = threading.Lock()
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + self._formatter.formatException(record.exc_info)
            if record.stack_info:
                message += "\n" + self._formatter.formatStack(record.stack_info)
        except Exception:  # noqa: BLE001 - a bad format string must not break logging
            self.handleError(record)
            return
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE]}… ({len(message) - MAX_MESSAGE} more characters)"
        entry = LogEntry(record.created, record.levelno, record.levelname, record.name, message)
        with self._entries_lock:
            self._entries.append(entry)

    def entries(self) -> list[LogEntry]:
        """Oldest first."""
        with self._entries_lock:
            return list(self._entries)
