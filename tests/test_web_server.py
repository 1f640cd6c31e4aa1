"""The panel's web server starts small, grows while requests wait for a worker, and shrinks when idle."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator

import pytest
from cheroot.workers.threadpool import WorkerThread
from cheroot.wsgi import Server as WsgiServer

from appliance.web_server import MIN_WORKERS, SPARE_WORKERS, make_server
from tests.support.modem_pool import wait_for


class HoldingApp:
    """``/hold`` answers like a live-updates stream: its worker is busy until :meth:`release_all`."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.holding = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/hold":
            with self._lock:
                self.holding += 1
            yield b"holding\n"
            self.release.wait(30)
        yield b"done\n"


def workers(server: WsgiServer) -> int:
    """This server's live worker threads (other servers' in the same test process are not counted)."""
    return sum(1 for thread in threading.enumerate()
               if isinstance(thread, WorkerThread) and thread.server is server and thread.is_alive())


@pytest.fixture
def served() -> Iterator[tuple[HoldingApp, Callable[[int], WsgiServer]]]:
    """An app and a function that starts a server of it with at most N workers."""
    app = HoldingApp()
    servers = []

    def start(max_workers: int) -> WsgiServer:
        server = make_server(("127.0.0.1", 0), app, max_workers)
        server.prepare()
        threading.Thread(target=server.serve, daemon=True).start()
        servers.append(server)
        return server

    yield app, start
    app.release.set()
    for server in servers:
        server.stop()


def hold(server: WsgiServer) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", server.bind_addr[1], timeout=30)
    connection.request("GET", "/hold")
    response = connection.getresponse()
    assert response.readline() == b"holding\n"
    return connection


def get(server: WsgiServer, timeout: float = 5.0) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", server.bind_addr[1], timeout=timeout)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().read()
    finally:
        connection.close()


def test_a_server_starts_with_few_workers(served):
    _, start = served
    server = start(32)
    wait_for(lambda: workers(server) == MIN_WORKERS, "the first workers", timeout=10)


def test_requests_are_answered_while_more_streams_are_open_than_the_server_started_with(served):
    app, start = served
    server = start(16)
    streams = [hold(server) for _ in range(MIN_WORKERS + 3)]
    assert app.holding == MIN_WORKERS + 3
    assert get(server) == b"done\n"
    assert workers(server) >= MIN_WORKERS + 4
    for stream in streams:
        stream.close()


def test_the_pool_never_grows_beyond_its_maximum(served):
    app, start = served
    server = start(MIN_WORKERS + 2)
    streams = [hold(server) for _ in range(MIN_WORKERS + 2)]
    with pytest.raises(TimeoutError):
        get(server, timeout=1.0)  # waits in the queue: every worker is holding a stream
    assert workers(server) == MIN_WORKERS + 2
    app.release.set()
    assert get(server) == b"done\n"
    for stream in streams:
        stream.close()


def test_idle_workers_beyond_the_spare_ones_go_at_a_shrink_but_never_below_the_minimum(served):
    app, start = served
    server = start(32)
    streams = [hold(server) for _ in range(MIN_WORKERS + 6)]
    grown = workers(server)
    assert grown >= MIN_WORKERS + 6

    app.release.set()
    for stream in streams:
        stream.close()
    # Closing a stream hands its connection to a worker to read the end of it, and the pool may grow
    # for that too: wait for every worker, however many, to be idle.
    wait_for(lambda: server.requests.idle == workers(server), "every worker idle", timeout=10)
    kept = max(MIN_WORKERS, SPARE_WORKERS)

    def shrunk() -> bool:
        # Shrinking again, as the scheduler does each minute: a connection handed over while the
        # workers were going sees their stop requests queued as work and may add one back.
        server.requests.shrink_idle()
        return workers(server) == kept

    wait_for(shrunk, "the pool shrunk", timeout=10)
    server.requests.shrink_idle()
    assert workers(server) == kept  # never below the minimum
    assert get(server) == b"done\n"

