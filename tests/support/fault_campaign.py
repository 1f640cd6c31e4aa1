"""The fault campaign: the real ``appliance run`` process receiving SMS and MMS while one kind of fault
is injected again and again, then every message counted where it must have arrived.

One run (:func:`run_campaign`) sets up, as an installer would, one account owning four emulated
modems' numbers (MMS fetched from the emulator's MMSC over the LAN), a JSON webhook to a real HTTP
receiver and an e-mail target on a real SMTP server (aiosmtpd), and an admin who signs in to the panel.
Traffic (SMS of one or more parts, GSM and UCS-2, and MMS with a picture and a text, every message
from its own sender) arrives while the fault is injected ``injections`` times; each time, while the
fault is on, the panel's log (the System page's download, warnings and errors) must name it. The
fault is then taken away and the appliance given time to catch up; afterwards it is stopped and
everything counted per message:

- stored: exactly one row in ``messages`` with the text sent (an MMS: its attachments, every part's
  bytes in the attachment store under their SHA-256);
- webhook: accepted (2xx) at least once; every request for it carries one ``X-Appliance-Message-Id``
  (repeats with that key are counted, not failed: the receiver drops them by the key);
- e-mail: received at least once, always with one ``Message-ID`` (repeats counted likewise).

Fault kinds (:data:`FAULT_KINDS`): ``sigkill`` (SIGKILL at a random moment, restarted on the same data
directory), ``unplug`` (a modem's tty goes away and comes back), ``hang`` (a modem answers nothing),
``garbage`` (random bytes on a modem's line), ``disk_full`` (the data directory on a small tmpfs, filled
to the last block), ``db_locked`` (another process holds SQLite's write lock past the appliance's busy
timeout), ``smtp_down`` and ``webhook_down`` (the server stops listening, then comes back on its port).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import json
import os
import random
import re
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

import requests
from PIL import Image

from appliance.attachments import AttachmentStore
from appliance.modem.emulator.emulator import Emulator
from tests.support.appliance_process import ApplianceProcess
from tests.support.http_receiver import HttpReceiver, RecordedRequest
from tests.support.ports import free_port
from tests.support.smtp_receiver import SmtpServer

FAULT_KINDS = ("sigkill", "unplug", "hang", "garbage", "disk_full", "db_locked", "smtp_down", "webhook_down")
PERSONALITIES = ("huawei", "simcom", "quectel", "huawei")
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@fault.test", "fault-campaign-password"
# SQLite waits this long for a lock (appliance/db/engine.py); the lock is held longer, so it shows.
SQLITE_BUSY_SECONDS = 30
TMPFS_BYTES = 48 * 1024 * 1024
PANEL_CHECK_EVERY_KILLS = 10
DATABASE_FILE = "appliance.db"  # the default SQLite database in the data directory
# The share of kills while the appliance is still starting; the others come once it runs.
KILLS_DURING_START_UP = 0.2
# The panel may show a fault a moment after it ends: a locked database holds the panel's own reads of
# it until the lock goes, and every page is a request the loaded box answers in its turn.
PANEL_GRACE_SECONDS = 5.0

# What the panel (a dashboard alert, or a warning or error in the System page's log) and the
# appliance's own log must say while each fault is on.
FAULT_SIGNS: dict[str, str] = {
    "sigkill": r"not stopped cleanly",
    "unplug": r"port closed|went away",
    "hang": r"no answer to",
    "garbage": r"non-ASCII bytes on the line",
    "disk_full": r"No space left|disk is full",
    "db_locked": r"database is locked",
    "smtp_down": r"SMTP server \S+ refused the connection",
    "webhook_down": r"connection refused",
}


@dataclass(frozen=True)
class Sent:
    """One message as the network delivered it: an SMS (``text``) or an MMS (``parts``)."""

    sender: str
    modem: int
    text: str
    parts: tuple[tuple[str, str, bytes], ...] = ()  # MMS: (content type, name, bytes)

    @property
    def is_mms(self) -> bool:
        return bool(self.parts)


@dataclass
class Outcome:
    kind: str
    messages: int
    mms: int
    injections: int
    panel_checks: int  # injections during which the panel was looked at (every one, but one kill in ten)
    panel_shown: int  # of those, how often the panel's log named the fault
    stored_once: int
    lost: int  # not stored, or stored but never forwarded to a target
    duplicated: int  # stored twice, or forwarded under two idempotency keys
    webhook_repeats: int  # requests repeated with the same X-Appliance-Message-Id
    email_repeats: int  # e-mails repeated with the same Message-ID
    mms_complete: int
    seconds: float
    problems: list[str] = field(default_factory=list)
    panel_lines: list[str] = field(default_factory=list)  # the first line the panel showed naming the fault
    log_lines: list[str] = field(default_factory=list)  # the first line of the appliance's log naming it

    @property
    def passed(self) -> bool:
        return not self.problems and self.panel_shown == self.panel_checks and bool(self.log_lines)


@dataclass(frozen=True)
class Plan:
    kind: str
    messages: int = 60
    mms_share: float = 0.1
    injections: int = 2
    fault_seconds: float = 12.0
    traffic_seconds: float = 20.0
    settle_seconds: float = 240.0
    seed: int = 1


# ---- the workload ------------------------------------------------------------------------------


def workload(count: int, mms_share: float, seed: int, modems: int = len(PERSONALITIES)) -> list[Sent]:
    """``count`` messages: a tenth (``mms_share``) MMS, of the SMS a fifth multipart and a third UCS-2."""
    rng = random.Random(seed)
    plain, polish = "Order nr 12 for Tuesday, thanks ", "zażółć gęślą jaźń 😀 ŻÓŁW "
    sent = []
    for n in range(count):
        sender, modem = f"+48601{n:06d}", n % modems + 1
        if rng.random() < mms_share:
            sent.append(Sent(sender, modem, f"Zdjęcie {n}", (("image/jpeg", f"zdjecie{n}.jpg", _picture(rng)),
                                                              ("text/plain", "tekst.txt", f"Zdjęcie {n}".encode()))))
            continue
        alphabet = polish if n % 3 == 0 else plain
        length = rng.randint(200, 400) if n % 5 == 0 else rng.randint(3, 60)
        text = "".join(rng.choice(alphabet) for _ in range(length)).strip() or "x"
        sent.append(Sent(sender, modem, f"{n} {text}"))
    return sent


def _picture(rng: random.Random) -> bytes:
    image = Image.new("RGB", (64, 48), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(40):
        image.putpixel((rng.randrange(64), rng.randrange(48)), tuple(rng.randrange(256) for _ in range(3)))
    output = io.BytesIO()
    image.save(output, "JPEG", quality=90)
    return output.getvalue()


def digits(number: str | None) -> str:
    return "".join(ch for ch in number or "" if ch.isdigit())


# ---- the appliance as a child process ----------------------------------------------------------


class Panel:
    """The admin's browser, as far as the campaign needs one: signed in, reading the System page's log."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def sign_in(self) -> None:
        form = self.http.get(f"{self.url}/login", timeout=40)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.text)
        assert token, "no CSRF token on the sign-in form"
        answer = self.http.post(f"{self.url}/login", timeout=40, allow_redirects=False, data={
            "csrf_token": token.group(1), "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert answer.status_code in (302, 303), f"sign-in answered {answer.status_code}"

    def problems_shown(self) -> list[str]:
        """The dashboard's alerts and the warnings and errors the System page offers for download;
        signs in again after a restart. Empty while the panel does not answer."""
        for _ in range(2):
            try:
                log = self.http.get(f"{self.url}/system/log.txt?level=WARNING", timeout=40, allow_redirects=False)
                dashboard = self.http.get(f"{self.url}/", timeout=40, allow_redirects=False)
            except requests.RequestException:
                return []
            if log.status_code == 200 and dashboard.status_code == 200:
                alerts = re.findall(r'<li class="alert tone-\w+">\s*<span>([^<]+)</span>', dashboard.text)
                return [f"dashboard: {html.unescape(alert)}" for alert in alerts] + log.text.splitlines()
            try:
                self.sign_in()
            except (requests.RequestException, AssertionError):
                return []
        return []


# ---- the campaign ------------------------------------------------------------------------------


def _configure(data_dir: Path, emulator: Emulator, webhook_url: str) -> None:
    """Before the first start, as an installer would through the panel (secrets sealed with the data
    directory's key, as the panel does)."""
    from appliance.db.engine import make_engine, make_session_factory
    from appliance.db.migrate import upgrade
    from appliance.db.models import AccessNumber, Account, ForwardTarget
    from appliance.db.sealed import Keyring, use_key
    from appliance.users import create_user

    database_url = f"sqlite:///{data_dir / DATABASE_FILE}"
    upgrade(database_url, data_dir=data_dir)
    engine = use_key(make_engine(database_url), Keyring.from_data_dir(data_dir))
    mmsc = emulator.mmsc.describe()
    with make_session_factory(engine).begin() as session:
        account = Account(name="Sklep")
        session.add(account)
        session.flush()
        for modem in emulator.modems():
            operator = next(iter(mmsc["operators"].values()))
            session.add(AccessNumber(number=modem["msisdn"], iccid=modem["iccid"], kind="dedicated",
                                     account_id=account.id, mms_enabled=True, mms_proxy=mmsc["proxy"],
                                     mmsc_url=mmsc["operators"].get(modem.get("mcc_mnc"), operator)))
        session.add(ForwardTarget(account_id=account.id, name="CRM", kind="url", address=webhook_url,
                                  secret=secrets.token_urlsafe(32), download_token=secrets.token_urlsafe(32),
                                  timeout_seconds=3.0))
        session.add(ForwardTarget(account_id=account.id, name="Biuro", kind="email", address="biuro@fault.test",
                                  secret=secrets.token_urlsafe(32), download_token=secrets.token_urlsafe(32),
                                  subject_template="{sender}"))
        create_user(session, ADMIN_EMAIL, ADMIN_PASSWORD, admin=True)
    engine.dispose()


@contextlib.contextmanager
def data_directory(workdir: Path, small: bool) -> Iterator[Path]:
    """The appliance's data directory; ``small``: on its own tmpfs, so it can be filled."""
    data = workdir / "data"
    data.mkdir()
    if not small:
        yield data
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(data)], check=True)
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def can_mount_tmpfs() -> bool:
    """Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN; CI runs so)."""
    if os.geteuid() != 0:
        return False
    probe = Path(f"/tmp/fault-campaign-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)],
                                 capture_output=True).returncode == 0
        if mounted:
            subprocess.run(["umount", str(probe)], check=False)
        return mounted
    finally:
        probe.rmdir()


class Traffic(threading.Thread):
    """Hands the workload to the emulated network, spread evenly over ``seconds``."""

    def __init__(self, emulator: Emulator, sent: list[Sent], seconds: float) -> None:
        super().__init__(name="fault-traffic", daemon=True)
        self.emulator, self.sent, self.seconds = emulator, sent, seconds
        self.errors: list[str] = []
        self.started = time.monotonic()

    def run(self) -> None:
        start = self.started
        for number, message in enumerate(self.sent):
            time.sleep(max(0.0, start + number * self.seconds / len(self.sent) - time.monotonic()))
            try:
                if message.is_mms:
                    self.emulator.deliver_mms(message.modem, message.sender, list(message.parts))
                else:
                    self.emulator.deliver_sms(message.modem, message.sender, message.text)
            except Exception as exc:  # noqa: BLE001 - a problem of the run: the network never took it
                self.errors.append(f"{message.sender}: {exc}")


class Campaign:
    """One run of one fault kind (see the module docstring)."""

    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.rng = random.Random(plan.seed)
        self.sent = workload(plan.messages, plan.mms_share, plan.seed)
        self.panel_shown = self.panel_checks = 0
        self.panel_lines: list[str] = []

    def run(self) -> Outcome:
        started = time.monotonic()
        plan = self.plan
        emulator = Emulator(self.workdir / "emulator", seed=plan.seed)
        for personality in PERSONALITIES:
            emulator.add_modem(personality)
        emulator.start_mmsc()
        self.emulator = emulator
        self.webhook_requests: list[RecordedRequest] = []
        self.webhooks = HttpReceiver().__enter__()
        self.webhook_port = self.webhooks.port
        self.smtp = SmtpServer()
        self.smtp.start()
        try:
            with data_directory(self.workdir, plan.kind == "disk_full") as data:
                self.database = data / DATABASE_FILE
                _configure(data, emulator, self.webhooks.url + "hook")
                port = free_port()
                settings = {
                    "APPLIANCE_HTTP_PORT": str(port),
                    "APPLIANCE_HTTPS_PORT": str(free_port()),
                    "APPLIANCE_MMS_BEARER": "lan",
                    "APPLIANCE_HEALTH_SECONDS": "5",
                    "APPLIANCE_FORWARD_FIRST_RETRY_SECONDS": "0.5",
                    "APPLIANCE_SMTP_HOST": "127.0.0.1",
                    "APPLIANCE_SMTP_PORT": str(self.smtp.receiver.port),
                    "APPLIANCE_SMTP_SENDER": "bramka@fault.test",
                    "APPLIANCE_UDEV_DISCOVERY": "false"}
                self.appliance = ApplianceProcess(data, self.workdir / "appliance.log",
                                                  [m["link"] for m in emulator.modems()], settings)
                self.panel = Panel(f"http://127.0.0.1:{port}")
                try:
                    self.appliance.start()
                    self._wait_for_panel()
                    traffic = Traffic(emulator, self.sent, plan.traffic_seconds)
                    traffic.start()
                    self._inject(traffic)
                    traffic.join()
                    self._settle()
                finally:
                    self.appliance.stop()
                outcome = self._count(data, started)
                outcome.problems += traffic.errors
        finally:
            emulator.stop()
            self._close_webhooks()
            self.smtp.stop()
        return outcome

    # ---- faults --------------------------------------------------------------------------------

    def _wait_for_panel(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException, AssertionError):
                self.panel.sign_in()
                return
            time.sleep(0.3)
        raise RuntimeError(f"the panel did not answer within {seconds} s; see {self.appliance.log_path}")

    def _inject(self, traffic: Traffic) -> None:
        plan = self.plan
        if plan.kind == "sigkill":
            self._sigkills(traffic)
            return
        # Each injection in its own slot of the traffic, so that messages arrive while every one lasts.
        slot = plan.traffic_seconds / plan.injections
        inject = getattr(self, f"_fault_{plan.kind}")
        for number in range(plan.injections):
            start = traffic.started + number * slot + self.rng.uniform(0.0, max(0.0, slot - plan.fault_seconds - 1))
            time.sleep(max(0.0, start - time.monotonic()))
            before = set(self.panel.problems_shown())
            self.panel_checks += 1
            with inject(number):
                shown = self._watch_panel(before, plan.fault_seconds)
            self.panel_shown += shown or self._watch_panel(before, PANEL_GRACE_SECONDS)

    def _watch_panel(self, before: set[str], seconds: float) -> bool:
        """Polls the panel for ``seconds`` (at least once) until a new warning, error or alert names the
        fault; whether one did."""
        sign = re.compile(FAULT_SIGNS[self.plan.kind], re.IGNORECASE)
        deadline = time.monotonic() + seconds
        while True:
            found = [line for line in self.panel.problems_shown() if line not in before and sign.search(line)]
            if found:
                self.panel_lines.append(found[0])
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def _sigkills(self, traffic: Traffic) -> None:
        """Kill at random moments until ``injections`` kills and the traffic is over; after each restart
        the panel must say the appliance was not stopped cleanly."""
        while self.appliance.kills < self.plan.injections or traffic.is_alive():
            if self.rng.random() < KILLS_DURING_START_UP:
                time.sleep(self.rng.uniform(0.1, 1.5))  # importing, migrating, opening the modems
            else:
                self.appliance.wait_until_running()
                time.sleep(self.rng.uniform(0.0, 2.5))  # mid-read, mid-commit, mid-fetch, mid-send
            self.appliance.kill()
            self.appliance.start()
            if self.appliance.kills % PANEL_CHECK_EVERY_KILLS == 1:
                # Waiting for the panel after every kill would move the kills to just after start-up.
                self._wait_for_panel()
                self.panel_checks += 1
                self.panel_shown += self._watch_panel(set(), PANEL_GRACE_SECONDS)

    def _modem(self) -> int:
        return self.rng.randrange(len(PERSONALITIES)) + 1

    @contextlib.contextmanager
    def _fault_unplug(self, number: int) -> Iterator[None]:
        modem = self.emulator.modem(self._modem())
        modem.apply_fault("unplug", {})
        try:
            yield
        finally:
            modem.apply_fault("replug", {})

    @contextlib.contextmanager
    def _fault_hang(self, number: int) -> Iterator[None]:
        modem = self.emulator.modem(self._modem())
        modem.apply_fault("hang", {"seconds": self.plan.fault_seconds})
        yield

    @contextlib.contextmanager
    def _fault_garbage(self, number: int) -> Iterator[None]:
        modem = self.emulator.modem(self._modem())
        stop = threading.Event()

        def noise() -> None:
            seed = number * 1000
            while not stop.wait(0.5):
                seed += 1
                modem.apply_fault("garbage", {"length": 200, "seed": seed})

        thread = threading.Thread(target=noise, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    @contextlib.contextmanager
    def _fault_disk_full(self, number: int) -> Iterator[None]:
        ballast = self.appliance.data_dir / "ballast"
        with ballast.open("wb", buffering=0) as handle:
            for size in (1 << 20, 4096, 1):  # then the last partial block, to the last byte
                with contextlib.suppress(OSError):
                    while handle.write(b"\0" * size):
                        pass
        try:
            yield
        finally:
            ballast.unlink()

    @contextlib.contextmanager
    def _fault_db_locked(self, number: int) -> Iterator[None]:
        """Another process takes SQLite's write lock and holds it past the busy timeout."""
        with subprocess.Popen(
                [sys.executable, "-c", "import sqlite3, sys, time\n"
                 "db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)\n"
                 "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(float(sys.argv[2]))\n"
                 "db.execute('ROLLBACK')", str(self.database), str(self.plan.fault_seconds)],
                stdout=subprocess.PIPE) as holder:
            assert holder.stdout is not None
            holder.stdout.readline()
            yield

    @contextlib.contextmanager
    def _fault_smtp_down(self, number: int) -> Iterator[None]:
        self.smtp.stop()
        try:
            yield
        finally:
            self.smtp.start()

    @contextlib.contextmanager
    def _fault_webhook_down(self, number: int) -> Iterator[None]:
        self._close_webhooks()
        try:
            yield
        finally:
            self.webhooks = HttpReceiver(port=self.webhook_port).__enter__()

    def _close_webhooks(self) -> None:
        if self.webhooks is not None:
            self.webhooks.close()
            self.webhook_requests += self.webhooks.requests
            self.webhooks = None

    # ---- settling and counting -----------------------------------------------------------------

    def _settle(self) -> None:
        """Until every message is stored and forwarded both ways and the modems are empty, or the bound."""
        deadline = time.monotonic() + self.plan.settle_seconds
        while time.monotonic() < deadline:
            if self.appliance.process is not None and self.appliance.process.poll() is not None:
                self.appliance.start()  # it ended on its own: a user's systemd would start it again
            if self._settled():
                return
            time.sleep(1.0)

    def _settled(self) -> bool:
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5)) as db:
                messages = db.execute("SELECT count(*) FROM messages").fetchone()[0]
                open_deliveries = db.execute("SELECT count(*) FROM deliveries WHERE status != 'delivered'"
                                             ).fetchone()[0]
                open_mms = db.execute("SELECT count(*) FROM mms_transfers WHERE status = 'pending'").fetchone()[0]
        except sqlite3.Error:
            return False
        modems_empty = all(self.emulator.stored(m["id"]) == [] and self.emulator.pending(m["id"]) == 0
                           for m in self.emulator.modems())
        return messages >= len(self.sent) and open_deliveries == 0 and open_mms == 0 and modems_empty

    def _count(self, data: Path, started: float) -> Outcome:
        self._close_webhooks()
        problems: list[str] = []
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT id, sender, text, kind FROM messages").fetchall()
            attachments = db.execute("SELECT message_id, sha256 FROM attachments").fetchall()
            pending = db.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall()
        by_sender: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
        for message_id, sender, text, _kind in rows:
            by_sender[digits(sender)].append((message_id, text))
        hashes: dict[int, set[str]] = defaultdict(set)
        for message_id, sha256 in attachments:
            hashes[message_id].add(sha256)
        store = AttachmentStore(data)

        hooks_by_sender, hook_repeats = self._webhooks_by_sender()
        mails_by_sender, mail_repeats = self._mails_by_sender()
        stored_once = lost = duplicated = mms_complete = 0
        for message in self.sent:
            key = digits(message.sender)
            stored = by_sender.get(key, [])
            if not stored:
                lost += 1
                problems.append(f"{message.sender}: not stored")
                continue
            if len(stored) > 1:
                duplicated += 1
                problems.append(f"{message.sender}: stored {len(stored)} times")
                continue
            message_id, text = stored[0]
            if not message.is_mms and text != message.text:
                problems.append(f"{message.sender}: stored text differs")
            stored_once += 1
            if message.is_mms:
                wanted = {hashlib.sha256(part).hexdigest() for _, _, part in message.parts}
                whole = wanted <= hashes[message_id] and all(
                    store.exists(sha) and hashlib.sha256(store.read(sha)).hexdigest() == sha for sha in wanted)
                mms_complete += whole
                if not whole:
                    problems.append(f"{message.sender}: MMS attachments incomplete")
            for target, found in (("webhook", hooks_by_sender), ("e-mail", mails_by_sender)):
                keys = found.get(key)
                if not keys:
                    lost += 1
                    problems.append(f"{message.sender}: no {target} accepted")
                elif len(keys) > 1:
                    duplicated += 1
                    problems.append(f"{message.sender}: {target} under {len(keys)} keys")
        if any(status != "delivered" for status, _ in pending):
            problems.append(f"deliveries not delivered: {dict(pending)}")
        extra = set(by_sender) - {digits(m.sender) for m in self.sent}
        if extra:
            problems.append(f"{len(extra)} stored messages from senders never used, e.g. {sorted(extra)[:3]}")
        injections = self.appliance.kills if self.plan.kind == "sigkill" else self.plan.injections
        return Outcome(kind=self.plan.kind, messages=len(self.sent), mms=sum(m.is_mms for m in self.sent),
                       injections=injections, panel_checks=self.panel_checks, panel_shown=self.panel_shown, stored_once=stored_once, lost=lost,
                       duplicated=duplicated, webhook_repeats=hook_repeats, email_repeats=mail_repeats,
                       mms_complete=mms_complete, seconds=time.monotonic() - started, problems=problems,
                       panel_lines=self.panel_lines[:1], log_lines=self._logged()[:1])

    def _logged(self) -> list[str]:
        """Lines of the appliance's own log (its standard error, what journald keeps) naming the fault."""
        sign = re.compile(FAULT_SIGNS[self.plan.kind], re.IGNORECASE)
        text = self.appliance.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if sign.search(line)]

    def _webhooks_by_sender(self) -> tuple[dict[str, set[str]], int]:
        """Idempotency keys of the accepted webhooks, by sender; and how many accepted repeats there were."""
        keys: dict[str, set[str]] = defaultdict(set)
        accepted: Counter[str] = Counter()
        for request in self.webhook_requests:
            try:
                sender = digits(json.loads(request.body)["message"]["sender"])
            except (ValueError, KeyError, TypeError):
                continue  # the appliance was killed while sending it: no receiver takes half a body
            key = request.headers["X-Appliance-Message-Id"]
            keys[sender].add(key)
            if request.status is not None and 200 <= request.status < 300:
                accepted[key] += 1
        return ({sender: found for sender, found in keys.items() if any(accepted[k] for k in found)},
                sum(count - 1 for count in accepted.values()))

    def _mails_by_sender(self) -> tuple[dict[str, set[str]], int]:
        """Message-IDs of the mails received, by sender (the target's subject is the sender); and how
        many were repeats of one already received."""
        ids: dict[str, set[str]] = defaultdict(set)
        seen: Counter[str] = Counter()
        for mail in self.smtp.receiver.received:
            parsed = message_from_bytes(mail.data)
            ids[digits(parsed["Subject"])].add(parsed["Message-ID"])
            seen[parsed["Message-ID"]] += 1
        return ids, sum(count - 1 for count in seen.values())


def run_campaign(plan: Plan, workdir: Path) -> Outcome:
    workdir.mkdir(parents=True, exist_ok=True)
    return Campaign(plan, workdir).run()


def print_table(outcomes: list[Outcome], out: Callable[[str], None] = print) -> None:
    out("fault         runs messages  MMS injected panel  stored once  lost  dup  webhook rep  e-mail rep"
        "  MMS whole  seconds")
    for o in outcomes:
        out(f"{o.kind:13s} {1:4d} {o.messages:8d} {o.mms:4d} {o.injections:8d} {o.panel_shown:2d}/{o.panel_checks:<2d}"
            f" {o.stored_once:12d} {o.lost:5d} {o.duplicated:4d} {o.webhook_repeats:12d} {o.email_repeats:11d}"
            f" {o.mms_complete:10d} {o.seconds:8.0f}")
