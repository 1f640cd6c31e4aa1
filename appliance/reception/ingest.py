"""One writer thread in front of the ``MessageStore``: group commit for every modem session.

Sessions hand over what they read and wait for the commit before deleting from the SIM. Whatever
several sessions handed over while the previous commit ran goes into the next transaction together,
so an SD card's fsync cost is paid once per batch, not once per PDU.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from appliance.reception.store import MessageStore, ReceivedPdu, StoreResult

log = logging.getLogger(__name__)

MessagesStored = Callable[[list[int]], None]


class StoreFailed(Exception):
    """The database did not take the PDUs (disk full, locked, gone): they must stay where they are."""


class IngestWriter:
    def __init__(self, store: MessageStore, on_stored: MessagesStored | None = None,
                 max_batch: int = 500) -> None:
        self._store = store
        self._on_stored = on_stored
        self._max_batch = max_batch
        self._queue: queue.Queue[tuple[Sequence[ReceivedPdu], Future[list[StoreResult]]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def submit(self, pdus: Sequence[ReceivedPdu]) -> Future[list[StoreResult]]:
        future: Future[list[StoreResult]] = Future()
        self._queue.put((list(pdus), future))
        return future

    def store(self, pdus: Sequence[ReceivedPdu], timeout: float = 60.0) -> list[StoreResult]:
        """Hand over and wait until the PDUs are durable (or raise :class:`StoreFailed`: then nothing
        may be deleted)."""
        try:
            return self.submit(pdus).result(timeout=timeout)
        except TimeoutError:
            raise StoreFailed(f"the database did not store them within {timeout:.0f} s") from None
        except Exception as exc:  # noqa: BLE001 - whatever the database said, the PDUs were not stored
            raise StoreFailed(str(getattr(exc, "orig", None) or exc)) from exc

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            jobs = [first]
            count = len(first[0])
            while count < self._max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                jobs.append(job)
                count += len(job[0])
            self._commit(jobs)

    def _commit(self, jobs: list[tuple[Sequence[ReceivedPdu], Future[list[StoreResult]]]]) -> None:
        batch = [pdu for pdus, _ in jobs for pdu in pdus]
        try:
            results = self._store.store(batch)
        except Exception as exc:  # noqa: BLE001 - every waiting session must hear of it and keep its PDUs
            log.exception("storing %d PDUs failed; they stay on the SIMs and are read again", len(batch))
            for _, future in jobs:
                future.set_exception(exc)
            return
        offset = 0
        for pdus, future in jobs:
            future.set_result(results[offset:offset + len(pdus)])
            offset += len(pdus)
        stored = [mid for result in results for mid in result.message_ids]
        if stored and self._on_stored is not None:
            try:
                self._on_stored(stored)
            except Exception:  # noqa: BLE001 - a listener's failure must not stop reception
                log.exception("listener for stored messages failed")
