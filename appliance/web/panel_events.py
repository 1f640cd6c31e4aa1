"""Live updates of the panel: ``GET /panel/events``, a stream of server-sent events.

Events, each scoped to the signed-in principal (other pages rely on these names and fields):

- ``message`` ``{"id", "html"}``: a message matching the inbox filters given in the query string
  (the names of :class:`~appliance.web.inbox_filter.InboxFilter`), ``html`` its inbox row. A message
  may come twice (after a reconnect, or when an MMS that was being downloaded has arrived): the page
  replaces the row with the same id.
- ``modem`` ``{"html"}``: the dashboard's modem panel, whenever it would look different.
- ``summary`` ``{"alerts_html", "traffic_html"}``: the dashboard's alerts and today's traffic, likewise.
- ``poll`` ``{"poll_id", "votes", "voters"}``: a poll the principal sees got a vote, or a vote moved
  to another option.

The stream reads the database about once a second rather than listening to the reception side:
that may run in another process, or on another box sharing a PostgreSQL store. It holds no
connection between reads (:func:`~appliance.web.end_db_session`).

Every event carries an ``id:``, a message id up to which everything has been sent. EventSource
sends it back as ``Last-Event-ID`` when it reconnects; a page passes the one it was rendered with
as ``?last_event_id=`` (:func:`live_events_url`). Messages are found by id, and ids are handed out
when a transaction inserts, not when it commits: with several modems storing at once on PostgreSQL
a lower id may become visible after a higher one. So each read looks again at the ids of the last
``LOOKBACK_SECONDS`` (skipping those already sent), and the ``id:`` stays that far behind.
Votes follow the messages that cast them (a moved vote takes the new message's id).

A stream ends after a few minutes, and EventSource reconnects (``retry:``): no request lives for
ever, and a stream whose browser went away without closing is noticed at the next heartbeat comment.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, get_template_attribute, request, stream_with_context, url_for
from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import selectinload

from appliance.db.models import Message, Modem, Poll, PollVote
from appliance.web import db_session, end_db_session
from appliance.web.access import Principal, current_principal
from appliance.web.inbox_filter import InboxFilter, visible_messages
from appliance.web.panel import bp, message_views
from appliance.web.panel_dashboard import PARTS_TEMPLATE, issue_views, modem_panel_html, summary_html

RETRY_MS = 1000
# At most this many rows a read: a tab that slept for long catches up over a few reads.
MESSAGE_BATCH = 100
LOOKBACK_SECONDS = 10.0
# Dead forwards and the day's change reach the summary even when nothing else happens.
SUMMARY_REFRESH_SECONDS = 15.0
# A page names at most this many MMS it shows as being downloaded (the newest ones).
DOWNLOADING_NAMED = 50


@dataclass(frozen=True)
class StreamTiming:
    poll_seconds: float = 1.0
    stream_seconds: float = 240.0
    heartbeat_seconds: float = 5.0

    @classmethod
    def from_config(cls, config: Any) -> StreamTiming:
        """``LIVE_POLL_SECONDS``, ``LIVE_STREAM_SECONDS``, ``LIVE_HEARTBEAT_SECONDS`` override the defaults."""
        default = cls()
        return cls(config.get("LIVE_POLL_SECONDS", default.poll_seconds),
                   config.get("LIVE_STREAM_SECONDS", default.stream_seconds),
                   config.get("LIVE_HEARTBEAT_SECONDS", default.heartbeat_seconds))


@bp.app_template_global()
def live_events_url(**filters: str) -> str:
    """The stream a page connects to, starting after the newest message stored now: the page shows
    everything up to it already. It also names the MMS being downloaded now, whose rows the page
    shows unfinished: one that arrives before the stream's first look is sent all the same."""
    session = db_session()
    newest = session.scalar(select(func.max(Message.id))) or 0
    downloading = session.scalars(select(Message.id).where(Message.status == "fetching")
                                  .order_by(Message.id.desc()).limit(DOWNLOADING_NAMED))
    return url_for("panel.events", last_event_id=newest, downloading=",".join(map(str, downloading)) or None,
                   **filters)


@bp.get("/panel/events")
def events() -> Response:
    principal = current_principal()
    resume_after = _event_id(request.headers.get("Last-Event-ID"))  # a reconnect: EventSource's own
    if resume_after is None:
        resume_after = _event_id(request.args.get("last_event_id"))
    stream = LiveStream(principal, InboxFilter.from_args(request.args, principal), resume_after,
                        StreamTiming.from_config(current_app.config),
                        _message_ids(request.args.get("downloading")))
    end_db_session()  # the sign-in check's session: the stream opens its own for each read
    response = Response(stream_with_context(stream.run()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a buffering proxy in front would hold events back
    return response


def _event_id(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def _message_ids(text: str | None) -> set[int] | None:
    """The ``downloading=`` ids a page was rendered with; None when it names none (or garbage)."""
    ids = {_event_id(part) for part in (text or "").split(",")[:DOWNLOADING_NAMED]}
    ids.discard(None)
    return {message_id for message_id in ids if message_id is not None} or None


class LiveStream:
    """One browser tab's stream: what it has been sent, and what to look at next."""

    def __init__(self, principal: Principal, inbox_filter: InboxFilter, resume_after: int | None,
                 timing: StreamTiming, downloading: set[int] | None = None) -> None:
        self.principal = principal
        self.inbox_filter = inbox_filter
        self.resume_after = resume_after
        self.timing = timing
        # (when, id): every message up to id had been looked at by then.
        self._scanned: deque[tuple[float, int]] = deque()
        self._sent: set[int] = set()
        self._downloading = downloading
        self._newest: int | None = None
        self._modem_key: object = None
        self._modem_html: str | None = None
        self._summary: dict[str, str] | None = None
        self._summary_due = 0.0
        self._polls: dict[int, object] = {}

    def run(self) -> Iterator[str]:
        yield f"retry: {RETRY_MS}\n\n"
        started = last_write = time.monotonic()
        while True:
            try:
                chunk = "".join(self.read(time.monotonic()))
            finally:
                end_db_session()
            now = time.monotonic()
            if chunk:
                yield chunk
                last_write = now
            elif now - last_write >= self.timing.heartbeat_seconds:
                yield ": heartbeat\n\n"
                last_write = now
            if now - started >= self.timing.stream_seconds:
                return
            time.sleep(self.timing.poll_seconds)

    def read(self, now: float) -> Iterator[str]:
        """One look at the database: the events it shows, as text to send."""
        session = db_session()
        newest = session.scalar(select(func.max(Message.id))) or 0
        if not self._scanned:
            start = newest if self.resume_after is None else min(self.resume_after, newest)
            self._scanned.append((now, start))
        while len(self._scanned) > 1 and self._scanned[1][0] <= now - LOOKBACK_SECONDS:
            self._scanned.popleft()
        floor = self._scanned[0][1]
        self._sent = {message_id for message_id in self._sent if message_id > floor}

        new_ids = [message_id for message_id in session.scalars(
            select(Message.id).where(Message.id > floor, Message.id <= newest,
                                     *visible_messages(self.principal, self.inbox_filter))
            .order_by(Message.id).limit(MESSAGE_BATCH + len(self._sent)))
            if message_id not in self._sent][:MESSAGE_BATCH]
        scanned = new_ids[-1] if len(new_ids) == MESSAGE_BATCH else newest
        self._scanned.append((now, scanned))
        downloaded = self._downloaded()
        event_id = self._scanned[0][1]

        yield from self._message_events(new_ids, downloaded, event_id)
        yield from self._poll_events(floor, downloaded, event_id)
        modems_changed = yield from self._modem_event(event_id)
        if modems_changed or newest != self._newest or now >= self._summary_due:
            self._summary_due = now + SUMMARY_REFRESH_SECONDS
            yield from self._summary_event(event_id)
        self._newest = newest

    def _downloaded(self) -> list[int]:
        """MMS that were being downloaded at the last look and are not any more: their rows change,
        and only now may they belong to an account (routing needs the content)."""
        downloading = set(db_session().scalars(select(Message.id).where(Message.status == "fetching")))
        done = sorted(self._downloading - downloading) if self._downloading is not None else []
        self._downloading = downloading
        return done

    def _message_events(self, new_ids: list[int], downloaded: list[int], event_id: int) -> Iterator[str]:
        wanted = set(new_ids)
        if downloaded:
            wanted.update(db_session().scalars(select(Message.id).where(
                Message.id.in_(downloaded), *visible_messages(self.principal, self.inbox_filter))))
        if not wanted:
            return
        rows = list(db_session().scalars(select(Message).where(Message.id.in_(wanted)).order_by(Message.id)
                                         .options(selectinload(Message.attachments))))
        message_row = get_template_attribute(PARTS_TEMPLATE, "message_row")
        for view in message_views(rows):
            self._sent.add(view["id"])
            yield event("message", {"id": view["id"], "html": str(message_row(view))}, event_id)

    def _poll_events(self, floor: int, downloaded: list[int], event_id: int) -> Iterator[str]:
        session = db_session()
        changed = list(session.scalars(
            select(PollVote.poll_id).distinct().where(or_(PollVote.message_id > floor,
                                                          PollVote.message_id.in_(downloaded)))))
        if not changed:
            return
        visible = list(session.scalars(select(Poll.id).where(Poll.id.in_(changed),
                                                             self.principal.visible(Poll.account_id))))
        tallies: dict[int, list[tuple[str, int]]] = {poll_id: [] for poll_id in visible}
        for poll_id, code, votes in session.execute(
                select(PollVote.poll_id, PollVote.option_code, func.count(PollVote.id))
                .where(PollVote.poll_id.in_(visible)).group_by(PollVote.poll_id, PollVote.option_code)):
            tallies[poll_id].append((code, votes))
        voters = dict(session.execute(
            select(PollVote.poll_id, func.count(distinct(PollVote.msisdn)))
            .where(PollVote.poll_id.in_(visible)).group_by(PollVote.poll_id)).all())
        for poll_id in sorted(visible):
            tally = sorted(tallies[poll_id])
            if self._polls.get(poll_id) == tally:
                continue
            self._polls[poll_id] = tally
            yield event("poll", {"poll_id": poll_id, "votes": sum(votes for _code, votes in tally),
                                 "voters": voters.get(poll_id, 0)}, event_id)

    def _modem_event(self, event_id: int) -> Generator[str, None, bool]:
        """The modem panel when anything it shows may have changed and it does look different."""
        key = (tuple(db_session().execute(select(func.count(Modem.id), func.max(Modem.updated_at))).one()),
               repr(issue_views(self.principal)), self._newest_visible())
        if key == self._modem_key:
            return False
        self._modem_key = key
        html = modem_panel_html(self.principal)
        if html == self._modem_html:
            return False
        self._modem_html = html
        yield event("modem", {"html": html}, event_id)
        return True

    def _newest_visible(self) -> int | None:
        """The last message the principal sees: the modem cards show when each SIM's came."""
        return db_session().scalar(select(func.max(Message.id)).where(*visible_messages(self.principal)))

    def _summary_event(self, event_id: int) -> Iterator[str]:
        summary = summary_html(self.principal)
        if summary != self._summary:
            self._summary = summary
            yield event("summary", summary, event_id)


def event(name: str, data: dict[str, Any], event_id: int) -> str:
    """One server-sent event; JSON keeps the data on one line (a newline would end the field)."""
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
