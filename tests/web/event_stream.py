"""Reading ``text/event-stream`` answers of Flask's test client, one server-sent event at a time.

The test client hands the response's chunks over as the app yields them, so a test can store a row
between two reads and see what the stream makes of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient


@dataclass
class Event:
    name: str
    data: Any
    id: str | None


@dataclass
class EventStream:
    response: Any
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    _buffer: str = ""
    _chunks: Iterator[bytes] | None = None

    @classmethod
    def open(cls, client: FlaskClient, url: str, **kwargs: Any) -> EventStream:
        response = client.get(url, buffered=False, **kwargs)
        assert response.status_code == 200, response.status
        assert response.mimetype == "text/event-stream"
        return cls(response)

    def next(self) -> Event | None:
        """The next event (comments and ``retry:`` are noted on the way); None when the stream ended."""
        while True:
            while "\n\n" not in self._buffer:
                if not self._read_chunk():
                    return None
            found = self._parse_block()
            if found is not None:
                return found

    def _read_chunk(self) -> bool:
        if self._chunks is None:
            self._chunks = iter(self.response.response)
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self._buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        return True

    def _parse_block(self) -> Event | None:
        block, self._buffer = self._buffer.split("\n\n", 1)
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if "retry" in fields:
            self.retry = int(fields["retry"])
        if "data" in fields:
            return Event(fields.get("event", "message"), json.loads(fields["data"]), fields.get("id"))
        return None

    def until(self, name: str, matches: Callable[[Any], bool] = lambda data: True) -> Event:
        """Read on to the first event ``name`` whose data ``matches``; fails if the stream ends first."""
        seen = []
        while (found := self.next()) is not None:
            if found.name == name and matches(found.data):
                return found
            seen.append(found.name)
        raise AssertionError(f"the stream ended without a {name!r} event; it sent {seen}")

    def quiet_until_heartbeat(self) -> None:
        """Read on to the next heartbeat comment, failing on any event but the dashboard's: the stream
        has looked at the database at least once since the caller's last change, and found nothing."""
        comments = len(self.comments)
        while len(self.comments) == comments:
            assert self._read_chunk(), "the stream ended before a heartbeat"
            while "\n\n" in self._buffer and len(self.comments) == comments:
                found = self._parse_block()
                assert found is None or found.name in ("modem", "summary"), f"unexpected {found}"

    def rest(self) -> list[Event]:
        """Every event until the stream ends."""
        events = []
        while (found := self.next()) is not None:
            events.append(found)
        return events

    def close(self) -> None:
        self.response.close()
