"""The running appliance: database, reception pipeline, modem pool, periodic jobs and the web server."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Server as WsgiServer
from sqlalchemy import Engine, select

from appliance.attachments import AttachmentStore
from appliance.campaigns.group_send import GroupSender
from appliance.config import Settings
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.migrate import upgrade_in_child_process
from appliance.db.models import AccessNumber, ForwardTarget
from appliance.db.sealed import Keyring, LockedSecret, use_key
from appliance.delivery.channels import forwarding_channels
from appliance.delivery.outbox import OutboxWorker
from appliance.heap import heap_trimmer, limit_malloc_arenas
from appliance.https import (
    CERTIFICATE_FILE,
    KEY_FILE,
    CertificateUnavailable,
    ensure_certificate,
    served_fingerprint,
    server_context,
)
from appliance.mms.bearer import LanBearer, ModemBearer
from appliance.mms.fetch import HttpTransport, MmsFetcher
from appliance.modem.discovery import DeviceIssue, SerialCandidate, UdevDiscovery
from appliance.modem.outbound import OutboundQueue
from appliance.modem.pool import ModemPool
from appliance.modem.probe import PortChoiceCache, PortProber
from appliance.modem.registry import ModemRegistry
from appliance.panel_settings import stored_values
from appliance.recent_log import RecentLog
from appliance.reception.ingest import IngestWriter
from appliance.reception.store import MessageStore
from appliance.retention import purge_expired
from appliance.service import HealthCheck, http_server_answers, ingest_writer_answers
from appliance.setup_code import SETUP_CODE_FILE, ensure_code, void_code
from appliance.users import any_user_exists
from appliance.web import create_app
from appliance.web_server import make_server

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


# In the data directory while the appliance runs (Appliance._note_running).
RUNNING_MARKER = "running"


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
            upgrade_in_child_process(settings.effective_database_url, settings.data_dir)
        self.engine: Engine = use_key(make_engine(settings.effective_database_url),
                                      Keyring.from_data_dir(settings.data_dir))
        self.sessions = make_session_factory(self.engine)
        self._report_locked_secrets()
        self._first_run_code()
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
        # Hourly, so a message goes within the hour it passes its account's retention.
        self.scheduler.add_job(purge_expired, "interval", args=(self.sessions, self.attachments), hours=1,
                               id="retention-purge", max_instances=1, coalesce=True)
        trim_heap = heap_trimmer()
        if trim_heap is not None:
            self.scheduler.add_job(trim_heap, "interval", seconds=60, id="trim-heap", max_instances=1, coalesce=True)
        self.usb_modems = UsbModems(settings.data_dir, self.pool) if settings.udev_discovery else None
        self._http: WsgiServer | None = None
        self._https: WsgiServer | None = None
        self._tls: BuiltinSSLAdapter | None = None
        if serve_http:
            self.app = create_app(settings, self.sessions, wake_sim=self.pool.wake_sim,
                                  device_issues=self.usb_modems.issues if self.usb_modems else None,
                                  forwarding_channels=self.channels, wake_outbox=self.outbox.wake,
                                  log_entries=self.recent_log.entries, at_logs=self.pool.at_logs)
            self.app.extensions["appliance.attachments"] = self.attachments
            self._http = make_server((settings.http_host, settings.http_port), self.app, settings.http_threads)
            self._http.prepare()  # binds now: a port in use fails the start, not a thread later
            self._serve_https()
            self.scheduler.add_job(self._shrink_web_workers, "interval", seconds=60, id="web-workers",
                                   max_instances=1, coalesce=True)
        self._stopped = threading.Event()

    def _shrink_web_workers(self) -> None:
        for server in (self._http, self._https):
            if server is not None:
                server.requests.shrink_idle()

    def _first_run_code(self) -> None:
        """Until an admin exists, the panel's setup asks for a code only the box shows: here, in its log."""
        with self.sessions() as session:
            claimed = any_user_exists(session)
        if claimed:
            void_code(self.settings.data_dir)  # e.g. the admin was made with `appliance user create`
            return
        code = ensure_code(self.settings.data_dir)
        log.warning("no administrator yet: the panel's first-run setup asks for the setup code %s "
                    "(also in %s)", code, self.settings.data_dir / SETUP_CODE_FILE)

    def _serve_https(self) -> None:
        """The same app over HTTPS on its own port. A certificate that cannot be loaded (an upload cut
        short by a power cut) or a port in use leaves HTTPS off with a clear log line: reception and
        the panel on HTTP, where it can be fixed, matter more than a second way in."""
        data_dir = self.settings.data_dir
        try:
            ensure_certificate(data_dir)
            fingerprint = served_fingerprint(data_dir)
            self._tls = BuiltinSSLAdapter(str(data_dir / CERTIFICATE_FILE), str(data_dir / KEY_FILE))
            self._tls.context = server_context(data_dir)
        except CertificateUnavailable as exc:
            log.error("HTTPS is off: %s", exc)
            return
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            log.error("HTTPS is off: the certificate in %s cannot be used (%s); upload one in Settings → HTTPS "
                      "or delete %s and %s to have a new one made", data_dir, exc, CERTIFICATE_FILE, KEY_FILE)
            return
        https = make_server((self.settings.http_host, self.settings.https_port), self.app, self.settings.http_threads)
        https.ssl_adapter = self._tls
        try:
            https.prepare()
        except OSError as exc:
            log.error("HTTPS is off: cannot listen on %s port %d (%s); set https_port to a free port",
                      self.settings.http_host, self.settings.https_port, exc)
            return
        self._https = https
        self.app.extensions["appliance.https_port"] = self.https_port
        self.app.extensions["appliance.reload_certificate"] = self.reload_certificate
        log.info("HTTPS certificate SHA-256 fingerprint: %s", fingerprint)

    def reload_certificate(self) -> None:
        """Serve the data directory's certificate from the next TLS connection on, without a restart."""
        if self._tls is None:
            raise RuntimeError("this appliance serves no HTTPS")
        self._tls.context = server_context(self.settings.data_dir)

    def _report_locked_secrets(self) -> None:
        """Say at start, once, which stored secrets the key file cannot open: the box runs on, and each
        feature needing one fails with the same reason (appliance.db.sealed)."""
        with self.sessions() as session:
            locked = [(f"forward target {t.id} ({t.name})", value) for t in session.scalars(select(ForwardTarget))
                      for value in (t.secret, t.download_token)]
            locked += [(f"access number {n.number}", n.mms_apn_password) for n in session.scalars(select(AccessNumber))]
            locked += [(f"panel setting {key}", value) for key, value in stored_values(session).items()]
        locked = [(what, value) for what, value in locked if isinstance(value, LockedSecret)]
        if locked:
            log.error("%d stored secrets cannot be opened, e.g. %s: %s", len(locked), locked[0][0], locked[0][1].reason)

    def start(self) -> None:
        self._note_running()
        interrupted = self.outbound.recover_interrupted()
        if interrupted:
            log.warning("%d outbound SMS were being sent when the appliance stopped; queued again", interrupted)
        if self.mms.recover_interrupted():
            log.info("MMS transfers waiting for a retry or left half-fetched are tried again now")
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
        if self._https is not None:
            threading.Thread(target=self._https.serve, name="https", daemon=True).start()
            log.info("panel on https://%s:%d", self.settings.http_host, self.https_port)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._http is not None:
            self._http.stop()
        if self._https is not None:
            self._https.stop()
        self.scheduler.shutdown(wait=False)
        if self.usb_modems is not None:
            self.usb_modems.stop()
        self.pool.stop()
        self.ingest.stop()
        self.mms.stop()
        self.outbox.stop()
        self.engine.dispose()
        self._running_marker.unlink(missing_ok=True)
        logging.getLogger().removeHandler(self.recent_log)

    @property
    def _running_marker(self) -> Path:
        return self.settings.data_dir / RUNNING_MARKER

    def _note_running(self) -> None:
        """Leave a mark that is taken away only by a clean stop: finding it at start means the last
        run was killed or lost power. Nothing is lost then (messages are deleted from the SIMs only
        once stored, forwards stay in the outbox until answered), but the owner should hear of it: a
        box that restarts often has a problem (power, watchdog, memory)."""
        if self._running_marker.exists():
            log.warning("the appliance was not stopped cleanly last time (killed, crashed or power lost); "
                        "messages left on the SIMs and forwards not yet answered are taken up again")
        try:
            self._running_marker.touch()
        except OSError as exc:  # a full or read-only data directory must not keep the appliance down
            log.warning("cannot mark the appliance as running in %s: %s", self.settings.data_dir, exc)

    def wait(self) -> None:
        self._stopped.wait()

    @property
    def http_port(self) -> int:
        """The port the panel listens on (the one picked when ``http_port`` is 0)."""
        if self._http is None:
            raise RuntimeError("this appliance serves no HTTP")
        return int(self._http.bind_addr[1])

    @property
    def https_port(self) -> int:
        """The port of the panel's HTTPS server (the one picked when ``https_port`` is 0)."""
        if self._https is None:
            raise RuntimeError("this appliance serves no HTTPS")
        return int(self._https.bind_addr[1])

    def health_checks(self, timeout: float) -> list[HealthCheck]:
        """What the service watchdog asks before each ping (appliance/service.py)."""
        checks = [ingest_writer_answers(self.ingest, timeout)]
        if self._http is not None:
            checks.append(http_server_answers(self.settings.http_host, self.http_port, timeout))
        return checks
