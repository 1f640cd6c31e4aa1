"""A real HTTP(S) server on 127.0.0.1 that records every request and answers by a plan.

For webhook, outbox, crash and benchmark tests::

    with HttpReceiver() as receiver:                  # HttpReceiver(tls=True): HTTPS, CA at .ca_path
        receiver.plan(statuses=[500, 500, 200])       # fail twice, then succeed
        post(receiver.url + "hook", ...)
        receiver.wait_for(3)
        receiver.requests[-1].headers["X-Appliance-Attempt"]

Plans (:meth:`HttpReceiver.plan`, replacing the previous one): a fixed ``status``; a sequence of
``statuses`` whose last one repeats; a ``failure_ratio`` of ``failure_status`` answers drawn from a
seeded RNG; a ``delay`` before answering (a slow receiver); a ``location`` header (a redirect); a
``body``, or ``body_size`` filler bytes streamed (a receiver answering far too much).

:func:`refusing_port` gives a port on which connections are refused. Leaving the ``with`` stops the
server, ends every handler thread (a delay is cut short) and removes the certificate files.
``HttpReceiver(port=...)`` listens on a given port: a receiver that went down comes back where its
clients look for it.
"""

from __future__ import annotations

import http
import random
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from requests.structures import CaseInsensitiveDict

HOST = "127.0.0.1"


@dataclass
class RecordedRequest:
    """One request as it arrived, and how it was answered (``status`` None until answered;
    ``bytes_sent`` counts the body bytes the client took before it went away)."""

    method: str
    path: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    received_at: float  # time.time() when the body was read
    status: int | None = None
    bytes_sent: int = 0


@dataclass
class Plan:
    status: int = 200
    statuses: Sequence[int] = ()
    failure_ratio: float = 0.0
    failure_status: int = 500
    seed: int = 0
    delay: float = 0.0
    location: str | None = None
    body: bytes | None = None
    body_size: int | None = None
    content_type: str = "text/plain; charset=utf-8"
    rng: random.Random = field(init=False)
    answered: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def next_status(self) -> int:
        """The status for the next request (called under the receiver's lock)."""
        index, self.answered = self.answered, self.answered + 1
        if self.statuses:
            return self.statuses[min(index, len(self.statuses) - 1)]
        if self.failure_ratio and self.rng.random() < self.failure_ratio:
            return self.failure_status
        return self.status


class HttpReceiver:
    def __init__(self, *, tls: bool = False, port: int = 0) -> None:
        self.requests: list[RecordedRequest] = []
        self.tls_failures: list[str] = []  # handshakes a client broke off (it did not trust us)
        self.errors: list[BaseException] = []  # anything else that went wrong in a handler
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._plan = Plan()
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self.ca_path: str | None = None
        context = self._tls_context() if tls else None
        self._server = _Server((HOST, port), _Handler, receiver=self, ssl_context=context)
        self.port: int = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://{HOST}:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"http-receiver-{self.port}", daemon=True)

    def _tls_context(self) -> ssl.SSLContext:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert(HOST, "localhost")
        self._tempdir = tempfile.TemporaryDirectory(prefix="http-receiver-")
        self.ca_path = str(Path(self._tempdir.name) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._stopping.set()  # cuts delays short
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()  # joins the handler threads (block_on_close)
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    # --- the plan and what arrived -------------------------------------------------------------

    def plan(self, *, status: int = 200, statuses: Sequence[int] = (), failure_ratio: float = 0.0,
             failure_status: int = 500, seed: int = 0, delay: float = 0.0, location: str | None = None,
             body: bytes | None = None, body_size: int | None = None,
             content_type: str = "text/plain; charset=utf-8") -> None:
        """How to answer from now on (see the module docstring). The body defaults to the status
        line's text, e.g. ``500 Internal Server Error``."""
        with self._lock:
            self._plan = Plan(status=status, statuses=tuple(statuses), failure_ratio=failure_ratio,
                              failure_status=failure_status, seed=seed, delay=delay, location=location,
                              body=body, body_size=body_size, content_type=content_type)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests have arrived and been answered; all of them."""
        with self._arrived:
            if not self._arrived.wait_for(
                    lambda: len(self.requests) >= count and all(r.status for r in self.requests[:count]),
                    timeout):
                raise TimeoutError(f"{len(self.requests)} of {count} requests arrived within {timeout} s")
            return list(self.requests)

    def _record(self, request: RecordedRequest) -> Plan:
        with self._lock:
            self.requests.append(request)
            return self._plan

    def _answered(self) -> None:
        with self._arrived:
            self._arrived.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    request_queue_size = 128  # socketserver's 5 drops connections a real web server would accept

    def __init__(self, address, handler, *, receiver: HttpReceiver, ssl_context: ssl.SSLContext | None):
        self.receiver = receiver
        self.ssl_context = ssl_context
        super().__init__(address, handler)

    def finish_request(self, request, client_address) -> None:
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs in the handler thread, so a client that stalls or refuses our
        # certificate holds up no one else.
        request.settimeout(_Handler.timeout)
        try:
            secure = self.ssl_context.wrap_socket(request, server_side=True)
        except OSError as exc:  # ssl.SSLError included
            self.receiver.tls_failures.append(str(exc))
            return
        try:
            self.RequestHandlerClass(secure, client_address, self)
        finally:
            secure.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (socket.getfqdn): a DNS query we do not need.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address) -> None:
        self.receiver.errors.append(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # seconds a client may stall before the handler gives up on it
    server: _Server

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def _handle(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        recorded = RecordedRequest(method=self.command, path=self.path,
                                   headers=CaseInsensitiveDict(self.headers.items()), body=body,
                                   received_at=time.time())
        plan = receiver._record(recorded)
        with receiver._lock:
            status = plan.next_status()
        try:
            if plan.delay and receiver._stopping.wait(plan.delay):
                return
            self._answer(plan, status, recorded)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            pass  # the client went away (timed out, or read as much as it wanted)
        finally:
            recorded.status = status
            receiver._answered()

    def _answer(self, plan: Plan, status: int, recorded: RecordedRequest) -> None:
        if plan.body_size is not None:
            size = plan.body_size
        else:
            body = plan.body if plan.body is not None else _status_text(status).encode()
            size = len(body)
        self.send_response(status)
        self.send_header("Content-Type", plan.content_type)
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        if plan.location is not None:
            self.send_header("Location", plan.location)
        self.end_headers()
        self.close_connection = True
        if plan.body_size is None:
            self.wfile.write(body)
            recorded.bytes_sent = size
            return
        chunk = b"x" * 65536
        while recorded.bytes_sent < size and not self.server.receiver._stopping.is_set():
            piece = chunk[:size - recorded.bytes_sent]
            self.wfile.write(piece)
            recorded.bytes_sent += len(piece)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the recorded requests are the log


def _status_text(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 where every connection is refused: bound, so nothing else takes it, but
    never listening."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        yield sock.getsockname()[1]
