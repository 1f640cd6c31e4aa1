"""An emulator and a modem pool in front of the real reception pipeline, as the appliance runs them.

For tests that need live modem sessions without the whole appliance (AT logs, the System page)::

    rig = PoolRig(tmp_path, session_factory)
    modem = rig.emulator.add_modem("huawei")
    pool = rig.start_pool(sim_pins={...})     # waits until every modem is ready
    rig.log(str(modem.info()["link"]))         # that port's AT log
    rig.stop()
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from appliance.modem.at_log import PortAtLog
from appliance.modem.emulator.emulator import Emulator
from appliance.modem.pool import ModemPool
from appliance.modem.session import ModemState, ModemStatus
from appliance.reception.ingest import IngestWriter
from appliance.reception.store import MessageStore


def wait_for(condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class PoolRig:
    """An emulator and a modem pool in front of the real reception pipeline, as the appliance runs them."""

    def __init__(self, tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
        self.emulator = Emulator(tmp_path / "emulator", urc_interval=0.5)
        self.writer = IngestWriter(MessageStore(session_factory, partial_timeout=timedelta(hours=24)))
        self.writer.start()
        self.statuses: list[ModemStatus] = []
        self.pool: ModemPool | None = None

    def start_pool(self, sim_pins: dict[str, str] | None = None) -> ModemPool:
        links = [str(m["link"]) for m in self.emulator.modems()]
        self.pool = ModemPool(links, self.writer, self.statuses.append, at_timeout=2.0, poll_seconds=30.0,
                              sim_pins=sim_pins or {}, rescan_seconds=0.2)
        self.pool.start()
        wait_for(lambda: [s.state for s in self.pool.statuses()] == [ModemState.READY] * len(links),
                 "every modem ready")
        return self.pool

    def log(self, port: str) -> PortAtLog:
        assert self.pool is not None
        return next(s for s in self.pool.at_logs() if s.port == port)

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.stop()
        self.writer.stop()
        self.emulator.stop()

