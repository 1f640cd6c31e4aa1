"""The panel's web servers (HTTP and HTTPS): cheroot, with a worker pool that grows on demand.

cheroot answers each request on a worker thread from a pool of fixed size, and a page's live-updates
stream holds its worker while the page is open, so the pool must be large enough for every open tab
at once (``http_threads``). Yet on most minutes nobody looks at the panel, and each idle worker
still costs its thread's memory: two servers of 32 were 64 threads, about 1.5 MiB of a box whose
whole budget is 80 MB (docs/performance.md). So a server starts with :data:`MIN_WORKERS` workers,
adds one whenever a request arrives and none is free (up to ``http_threads``), and gives back
those idle beyond :data:`SPARE_WORKERS` when :meth:`GrowingThreadPool.shrink_idle` runs (each
minute, from the scheduler): a worker that is gone frees its stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cheroot.server import HTTPConnection
from cheroot.workers.threadpool import ThreadPool
from cheroot.wsgi import Server as WsgiServer

MIN_WORKERS = 4
# Kept beyond the busy ones at a shrink, so the next page load finds workers waiting.
SPARE_WORKERS = 2


class GrowingThreadPool(ThreadPool):
    """cheroot's pool, which otherwise never grows past its minimum by itself."""

    def put(self, obj: HTTPConnection) -> None:
        # Otherwise the connection would wait in the queue for a free worker: behind live-updates
        # streams holding every worker, for minutes. grow() stops at the maximum by itself; it waits
        # (100 ms) for the new worker to be ready, delaying the server's next accept that long.
        if self.idle <= self.qsize:
            self.grow(1)
        super().put(obj)

    def shrink_idle(self) -> None:
        """Let go of the workers idle beyond the spare ones (never below the minimum)."""
        surplus = self.idle - SPARE_WORKERS
        if surplus > 0:
            self.shrink(surplus)


def make_server(address: tuple[str, int], app: Callable[..., Any], max_workers: int) -> WsgiServer:
    """A WSGI server on ``address`` with between :data:`MIN_WORKERS` and ``max_workers`` workers."""
    server = WsgiServer(address, app)  # its own pool, never started, is replaced here
    server.requests = GrowingThreadPool(server, min=min(MIN_WORKERS, max_workers), max=max_workers)
    return server
