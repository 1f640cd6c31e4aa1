"""The running appliance: database, reception pipeline, modem pool, periodic jobs and the web server."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from werkzeug.serving import BaseWSGIServer, make_server

from appliance.config import Settings
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.migrate import upgrade
from appliance.modem.outbound import OutboundQueue
from appliance.modem.pool import ModemPool
from appliance.modem.registry import ModemRegistry
from appliance.reception.ingest import IngestWriter
from appliance.reception.store import MessageStore
from appliance.web import create_app

log = logging.getLogger(__name__)
# One line per panel poll drowns what matters in the journal.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


class Appliance:
    def __init__(self, settings: Settings, serve_http: bool = True) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.effective_database_url)
        self.engine: Engine = make_engine(settings.effective_database_url)
        self.sessions = make_session_factory(self.engine)
        self.store = MessageStore(self.sessions, timedelta(seconds=settings.partial_timeout_seconds))
        self.ingest = IngestWriter(self.store)
        self.registry = ModemRegistry(self.sessions)
        self.outbound = OutboundQueue(self.sessions)
        self.pool = ModemPool(settings.modems, self.ingest, self.registry.record,
                              at_timeout=settings.at_timeout_seconds,
                              poll_seconds=settings.storage_poll_seconds, sim_pins=settings.sim_pins,
                              outbound=self.outbound, send_interval=settings.send_interval_seconds)
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.scheduler.add_job(self.store.release_stale_sets, "interval", seconds=60, id="release-partial-sets",
                               max_instances=1, coalesce=True)
        self.scheduler.add_job(self.pool.check_health, "interval", seconds=settings.health_seconds,
                               id="modem-health", max_instances=1, coalesce=True)
        self._http: BaseWSGIServer | None = None
        if serve_http:
            app = create_app(settings, self.sessions, wake_sim=self.pool.wake_sim)
            self._http = make_server(settings.http_host, settings.http_port, app, threaded=True)
        self._stopped = threading.Event()

    def start(self) -> None:
        interrupted = self.outbound.recover_interrupted()
        if interrupted:
            log.warning("%d outbound SMS were being sent when the appliance stopped; queued again", interrupted)
        self.ingest.start()
        self.pool.start()
        self.scheduler.start()
        if self._http is not None:
            threading.Thread(target=self._http.serve_forever, name="http", daemon=True).start()
            log.info("panel on http://%s:%d", self.settings.http_host, self._http.server_port)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._http is not None:
            self._http.shutdown()
        self.scheduler.shutdown(wait=False)
        self.pool.stop()
        self.ingest.stop()
        self.engine.dispose()

    def wait(self) -> None:
        self._stopped.wait()
