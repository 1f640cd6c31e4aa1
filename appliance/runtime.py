"""The running appliance: database, reception pipeline, modem pool, periodic jobs and the web server."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from cheroot.wsgi import Server as WsgiServer
from sqlalchemy import Engine

from appliance.attachments import AttachmentStore
from appliance.campaigns.group_send import GroupSender
from appliance.config import Settings
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.migrate import upgrade_in_child_process
from appliance.delivery.channels import forwarding_channels
from appliance.delivery.outbox import OutboxWorker
from appliance.heap import heap_trimmer, limit_malloc_arenas
from appliance.mms.bearer import LanBearer, ModemBearer
from appliance.mms.fetch import HttpTransport, MmsFetcher
from appliance.modem.discovery import DeviceIssue, SerialCandidate, UdevDiscovery
from appliance.modem.outbound import OutboundQueue
from appliance.modem.pool import ModemPool
from appliance.modem.probe import PortChoiceCache, PortProber
from appliance.modem.registry import ModemRegistry
from appliance.recent_log import RecentLog
from appliance.reception.ingest import IngestWriter
from appliance.reception.store import MessageStore
from appliance.service import HealthCheck, http_server_answers, ingest_writer_answers
from appliance.web import create_app

log = logging.getLogger(__name__)
# A line for every run of every periodic job (every 5 s) would wear the SD card and hide what matters.
logging.getLogger("apscheduler").setLevel(logging.WARNING)


class UsbModems:
    """udev discovery feeding the pool: each USB modem's ttys are probed off the discovery thread and
    the AT port attached; an unplug detaches it. Devices that are no usable modem are kept as issues
    for the panel (mass storage, HiLink, ModemManager holding a port)."""

    def __init__(self, data_dir: Path, pool: ModemPool) -> None:
        self._pool = pool
        self._prober = PortProber(PortChoiceCache(data_dir / "modem-ports.json"), timeout=2.0)
        self._discovery: UdevDiscovery | None = None
        self._ports: dict[str, str] = {}  # usb_path → the AT port in use
        self._probe_issues: dict[str, list[DeviceIssue]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        try:
            self._discovery = UdevDiscovery(settle_seconds=1.0)
            self._discovery.start(on_added=self._plugged, on_removed=self._unplugged)
        except Exception as exc:  # noqa: BLE001 - no udev (a container): configured ports still work
            log.warning("udev discovery unavailable (%s); only the ports in the modems setting are used", exc)
            self._discovery = None

    def stop(self) -> None:
        if self._discovery is not None:
            self._discovery.stop()

    def issues(self) -> list[DeviceIssue]:
        found = list(self._discovery.issues()) if self._discovery is not None else []
        with self._lock:
            return found + [issue for issues in self._probe_issues.values() for issue in issues]

    def _plugged(self, candidate: SerialCandidate) -> None:
        with self._lock:
            if candidate.usb_path in self._ports:
                return  # its session owns the AT port; probing would open it under the session
        threading.Thread(target=self._probe, args=(candidate,), name=f"probe {candidate.usb_path}",
                         daemon=True).start()

    def _probe(self, candidate: SerialCandidate) -> None:
        result = self._prober.probe(candidate)
        with self._lock:
            self._probe_issues[candidate.usb_path] = list(result.issues)
            if result.at_port is not None:
                self._ports[candidate.usb_path] = result.at_port.devnode
        if result.at_port is not None:
            self._pool.attach(result.at_port.devnode)

    def _unplugged(self, usb_path: str) -> None:
        with self._lock:
            port = self._ports.pop(usb_path, None)
            self._probe_issues.pop(usb_path, None)
        if port is not None:
            self._pool.detach(port)


class Appliance:
    def __init__(self, settings: Settings, serve_http: bool = True, upgrade_schema: bool = True) -> None:
        """``upgrade_schema=False``: the caller has brought the schema up to date (``appliance run``
        does, before importing this module)."""
        limit_malloc_arenas()  # before the first thread (the panel's pool starts below)
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.recent_log = RecentLog()
        logging.getLogger().addHandler(self.recent_log)
        if upgrade_schema:
            upgrade_in_child_process(settings.effective_database_url)
        self.engine: Engine = make_engine(settings.effective_database_url)
        self.sessions = make_session_factory(self.engine)
        self.store = MessageStore(self.sessions, timedelta(seconds=settings.partial_timeout_seconds))
        self.attachments = AttachmentStore(settings.data_dir)
        # Any stored message may be an MMS notification or have forwards due: wake both at once.
        self.ingest = IngestWriter(self.store, on_stored=lambda _ids: (self.mms.wake(), self.outbox.wake()))
        self.registry = ModemRegistry(self.sessions)
        self.outbound = OutboundQueue(self.sessions)
        self.pool = ModemPool(settings.modems, self.ingest, self.registry.record,
                              at_timeout=settings.at_timeout_seconds,
                              poll_seconds=settings.storage_poll_seconds, sim_pins=settings.sim_pins,
                              outbound=self.outbound, send_interval=settings.send_interval_seconds)
        bearer = (ModemBearer(self.pool.session_for_sim, settings.modem_interfaces)
                  if settings.mms_bearer == "modem" else LanBearer())
        self.mms = MmsFetcher(self.sessions, self.attachments, HttpTransport(), bearer,
                              on_retrieved=lambda: self.outbox.wake())
        self.channels = forwarding_channels(settings, self.sessions, self.attachments, self.pool.wake_sim)
        self.outbox = OutboxWorker(self.sessions, self.channels, settings.effective_public_url,
                                   first_retry=timedelta(seconds=settings.forward_first_retry_seconds))
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.scheduler.add_job(self.store.release_stale_sets, "interval", seconds=60, id="release-partial-sets",
                               max_instances=1, coalesce=True)
        self.group_sender = GroupSender(self.sessions, wake_sim=self.pool.wake_sim)
        self.scheduler.add_job(self.group_sender.run_due, "interval", seconds=5, id="group-sends", max_instances=1,
                               coalesce=True)
        self.scheduler.add_job(self.pool.check_health, "interval", seconds=settings.health_seconds,
                               id="modem-health", max_instances=1, coalesce=True)
        trim_heap = heap_trimmer()
        if trim_heap is not None:
            self.scheduler.add_job(trim_heap, "interval", seconds=60, id="trim-heap", max_instances=1, coalesce=True)
        self.usb_modems = UsbModems(settings.data_dir, self.pool) if settings.udev_discovery else None
        self._http: WsgiServer | None = None
        if serve_http:
            app = create_app(settings, self.sessions, wake_sim=self.pool.wake_sim,
                             device_issues=self.usb_modems.issues if self.usb_modems else None,
                             forwarding_channels=self.channels, wake_outbox=self.outbox.wake,
                             log_entries=self.recent_log.entries, at_logs=self.pool.at_logs)
            app.extensions["appliance.attachments"] = self.attachments
            # cheroot: a fixed pool of worker threads, one per request being answered; a live-updates
            # stream holds its worker while the page is open (docs/operations.md sizes the pool).
            self._http = WsgiServer((settings.http_host, settings.http_port), app, numthreads=settings.http_threads)
            self._http.prepare()  # binds now: a port in use fails the start, not a thread later
        self._stopped = threading.Event()

    def start(self) -> None:
        interrupted = self.outbound.recover_interrupted()
        if interrupted:
            log.warning("%d outbound SMS were being sent when the appliance stopped; queued again", interrupted)
        self.ingest.start()
        self.mms.start()
        self.outbox.start()
        self.pool.start()
        if self.usb_modems is not None:
            self.usb_modems.start()
        self.scheduler.start()
        if self._http is not None:
            threading.Thread(target=self._http.serve, name="http", daemon=True).start()
            log.info("panel on http://%s:%d", self.settings.http_host, self.http_port)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._http is not None:
            self._http.stop()
        self.scheduler.shutdown(wait=False)
        if self.usb_modems is not None:
            self.usb_modems.stop()
        self.pool.stop()
        self.ingest.stop()
        self.mms.stop()
        self.outbox.stop()
        self.engine.dispose()
        logging.getLogger().removeHandler(self.recent_log)

    def wait(self) -> None:
        self._stopped.wait()

    @property
    def http_port(self) -> int:
        """The port the panel listens on (the one picked when ``http_port`` is 0)."""
        if self._http is None:
            raise RuntimeError("this appliance serves no HTTP")
        return int(self._http.bind_addr[1])

    def health_checks(self, timeout: float) -> list[HealthCheck]:
        """What the service watchdog asks before each ping (appliance/service.py)."""
        checks = [ingest_writer_answers(self.ingest, timeout)]
        if self._http is not None:
            checks.append(http_server_answers(self.settings.http_host, self.http_port, timeout))
        return checks
