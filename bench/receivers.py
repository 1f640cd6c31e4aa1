"""Three SMS receivers on the same emulated modems, each run as its own child processes.

- :class:`ApplianceReceiver`: ``appliance run`` on SQLite, every message forwarded as a JSON webhook
  to a local HTTP receiver; the webhook arriving is the handler running.
- :class:`GammuSmsd`: Debian's ``gammu-smsd``, one daemon per modem as its manual's "Multiple modems"
  section says, files backend, ``RunOnReceive`` the recording handler.
- :class:`Smstools`: smstools3's ``smsd``, one daemon for all modems (it forks one process per
  modem), ``eventhandler`` the recording handler.

Each receiver tells what its handler saw (:class:`Handled`: sender, text, time) and what its processes
cost (:func:`session_usage`). The recording handler of the two peers is a bash script of builtins
only: one fork and exec per message, as cheap as a handler can be, so its cost does not blur theirs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from appliance.modem.emulator.emulator import Emulator
from tests.support.http_receiver import HttpReceiver
from tests.support.ports import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Daemons run as a Debian service would: a UTF-8 locale (gammu-smsd writes inbox files in it).
PEER_ENVIRONMENT = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

RECORDING_HANDLER = r"""#!/bin/bash
# One record per run: the time, then the arguments, NUL-separated, closed by END (a record without
# it is still being written). Builtins only: the receiver pays one fork and exec for it.
printf '%s\0' "$EPOCHREALTIME" "$@" END > "RECORDS/${EPOCHREALTIME/./}.$$"
"""


@dataclass(frozen=True)
class Handled:
    """One run of a receiver's handler for one message, as the handler could read it."""

    sender: str  # digits only: "+48500000001" and "48500000001" are one sender
    text: str | None  # None: not readable as text (a part file missing, bad UCS-2)
    at: float  # time.time() when the handler ran


@dataclass(frozen=True)
class Usage:
    """CPU and memory of a receiver's processes, read from /proc."""

    cpu_seconds: float  # user + system of every live process, with the children each has waited for
    own_cpu_seconds: float  # user + system of the long-lived processes alone (no handlers)
    peak_rss_kib: int  # VmHWM summed over the long-lived processes (not the per-message handlers)
    pss_kib: int  # their proportional set size now: shared pages divided among the processes sharing them
    processes: int


class Receiver(Protocol):
    name: str

    def start(self, emulator: Emulator, workdir: Path) -> None: ...

    def handled(self) -> list[Handled]: ...

    def usage(self) -> Usage: ...

    def stop(self) -> None: ...


def digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


# ---- processes ---------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def session_usage(sessions: list[int], long_lived: tuple[str, ...]) -> Usage:
    """CPU of every process in the given sessions (each receiver is started as a session leader);
    peak RSS and present PSS of those whose command name starts with one of ``long_lived``.

    A process's cutime/cstime hold the children it has reaped: the handlers gammu-smsd and smsd fork
    and wait for per message are in them, and a live child is counted on its own, so nothing is
    counted twice. Summing VmHWM over forked processes counts pages they share once per process (an
    upper bound for smsd's per-modem processes and gammu-smsd's shared libraries); PSS does not."""
    cpu_ticks, own_ticks, rss, pss, count = 0, 0, 0, 0, 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            fields = _stat_fields(pid)
            if int(fields[3]) not in sessions:
                continue
            cpu_ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            if name.startswith(long_lived):
                own_ticks += int(fields[11]) + int(fields[12])
                rss += _kib(Path(f"/proc/{pid}/status"), "VmHWM:")
                pss += _kib(Path(f"/proc/{pid}/smaps_rollup"), "Pss:")
            count += 1
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # it ended while we looked
    return Usage(cpu_ticks / CLOCK_TICKS, own_ticks / CLOCK_TICKS, rss, pss, count)


def _kib(path: Path, key: str) -> int:
    """A "Key:   123 kB" line of a /proc file."""
    for line in path.read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def start_session(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A child leading its own session (and process group), so it and all it forks can be stopped
    and measured together."""
    with log.open("ab") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_session(process: subprocess.Popen[bytes], seconds: float = 10.0) -> None:
    """SIGTERM to the whole group, SIGKILL to what is left after ``seconds``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # forked children outliving their leader, too
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=seconds)


# ---- the recording handler ---------------------------------------------------------------------


def write_handler(directory: Path) -> Path:
    """The recording handler, writing into ``directory``/records."""
    records = directory / "records"
    records.mkdir(parents=True)
    handler = directory / "record-handler"
    handler.write_text(RECORDING_HANDLER.replace("RECORDS", str(records)))
    handler.chmod(0o755)
    return handler


def read_records(directory: Path) -> list[tuple[float, list[str]]]:
    """Finished records: (time, arguments)."""
    records = []
    for path in (directory / "records").iterdir():
        fields = path.read_bytes().split(b"\0")
        if len(fields) < 3 or fields[-2] != b"END":
            continue
        records.append((float(fields[0]), [field.decode("utf-8", "replace") for field in fields[1:-2]]))
    return records


# ---- this appliance ----------------------------------------------------------------------------


class ApplianceReceiver:
    """``appliance run`` with its defaults (SQLite under the data directory, 30 s storage poll), one
    account owning every modem's number, one URL forward target: the bench's HTTP receiver.

    ``python``: the interpreter that runs it, with the appliance's dependencies installed; by default
    the bench's own. The SD image runs Debian's ``python3`` (docs/performance.md, Memory).
    ``panel``: an admin (:data:`PANEL_EMAIL`, :data:`PANEL_PASSWORD`) made as the installer would, on
    the command line, and the panel on a known port (:attr:`panel_url`) instead of none."""

    name = "appliance"
    PANEL_EMAIL = "bench@example.com"
    PANEL_PASSWORD = "bench panel password"

    def __init__(self, python: str = sys.executable, panel: bool = False) -> None:
        self._python = python
        self._panel_port = free_port() if panel else None
        self._webhooks = HttpReceiver()
        self._process: subprocess.Popen[bytes] | None = None
        self._database: Path | None = None

    def start(self, emulator: Emulator, workdir: Path) -> None:
        self._webhooks.__enter__()
        data = workdir / "data"
        self._database = data / "appliance.db"
        _configure_forwarding(f"sqlite:///{self._database}", emulator, self._webhooks.url + "hook")
        env = {**os.environ, "APPLIANCE_DATA_DIR": str(data), "APPLIANCE_HTTP_PORT": str(self._panel_port or 0),
               "APPLIANCE_HTTPS_PORT": "0", "APPLIANCE_MODEMS": json.dumps([m["link"] for m in emulator.modems()]),
               "APPLIANCE_LOG_LEVEL": "WARNING"}
        if self._panel_port is not None:
            subprocess.run([self._python, "-m", "appliance.cli", "user", "create", self.PANEL_EMAIL, "--admin",
                            "--password-stdin"], input=f"{self.PANEL_PASSWORD}\n".encode(), env=env, check=True,
                           capture_output=True)
        self._process = start_session([self._python, "-m", "appliance.cli", "run"], workdir / "appliance.log", env)

    def handled(self) -> list[Handled]:
        handled = []
        for request in list(self._webhooks.requests):
            message = json.loads(request.body)["message"]
            handled.append(Handled(digits(message["sender"]), message["text"], request.received_at))
        return handled

    def stored_count(self) -> int:
        """Messages in the appliance's database (stored, forwarded or not)."""
        assert self._database is not None
        with contextlib.closing(sqlite3.connect(f"file:{self._database}?mode=ro", uri=True)) as db:
            return db.execute("SELECT count(*) FROM messages").fetchone()[0]

    def stored_at(self) -> dict[str, float]:
        """When each message was stored, by sender digits (``received_at``: the storing transaction's
        start, so the commit's own milliseconds are not in it)."""
        assert self._database is not None
        with contextlib.closing(sqlite3.connect(f"file:{self._database}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT sender, received_at FROM messages").fetchall()
        return {digits(sender): _utc(datetime.fromisoformat(moment)).timestamp() for sender, moment in rows}

    def handled_count(self) -> int:
        """Webhooks so far, without reading them: cheap enough to sample often."""
        return len(self._webhooks.requests)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def panel_url(self) -> str:
        assert self._panel_port is not None, "started without the panel"
        return f"http://127.0.0.1:{self._panel_port}"

    def usage(self) -> Usage:
        return session_usage([self.pid], ("python",))

    def stop(self) -> None:
        if self._process is not None:
            stop_session(self._process)
        self._webhooks.close()


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _configure_forwarding(database_url: str, emulator: Emulator, url: str) -> None:
    """Before the first start, as an installer would through the panel: an account, each modem's
    number bound to its ICCID, and a webhook target (so messages already on the SIMs go out too)."""
    from appliance.db.engine import make_engine, make_session_factory
    from appliance.db.migrate import upgrade
    from appliance.db.models import AccessNumber, Account, ForwardTarget
    from appliance.db.sealed import Keyring, use_key

    data_dir = Path(database_url.removeprefix("sqlite:///")).parent
    data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(database_url, data_dir=data_dir)
    # The webhook secret is sealed with the data directory's key, as the panel would store it.
    engine = use_key(make_engine(database_url), Keyring.from_data_dir(data_dir))
    with make_session_factory(engine).begin() as session:
        account = Account(name="Bench")
        session.add(account)
        session.flush()
        for modem in emulator.modems():
            session.add(AccessNumber(number=modem["msisdn"], iccid=modem["iccid"], kind="dedicated",
                                     account_id=account.id))
        session.add(ForwardTarget(account_id=account.id, name="bench receiver", kind="url", address=url,
                                  secret=secrets.token_urlsafe(32), download_token=secrets.token_urlsafe(32)))
    engine.dispose()


# ---- gammu-smsd --------------------------------------------------------------------------------


class GammuSmsd:
    """gammu-smsd as gammu-smsdrc(5) shows it: ``[gammu]`` device and ``connection = at``, ``[smsd]``
    ``service = files`` with its four paths, ``RunOnReceive``; every other option at its default
    (ReceiveFrequency 15 s, InboxFormat standard, MultipartTimeout 600 s)."""

    name = "gammu-smsd"

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[bytes]] = []
        self._workdir: Path | None = None

    def start(self, emulator: Emulator, workdir: Path) -> None:
        binary = shutil.which("gammu-smsd", path=PEER_ENVIRONMENT["PATH"])
        if binary is None:
            raise SystemExit("gammu-smsd is not installed: apt-get install gammu-smsd")
        self._workdir = workdir
        handler = write_handler(workdir)
        for modem in emulator.modems():
            base = workdir / f"modem{modem['id']}"
            for folder in ("inbox", "outbox", "sent", "error"):
                (base / folder).mkdir(parents=True)
            config = base / "smsdrc"
            config.write_text(
                f"[gammu]\ndevice = {modem['link']}\nconnection = at\n\n"
                f"[smsd]\nservice = files\nlogfile = {base / 'smsd.log'}\n"
                f"inboxpath = {base / 'inbox'}/\noutboxpath = {base / 'outbox'}/\n"
                f"sentsmspath = {base / 'sent'}/\nerrorsmspath = {base / 'error'}/\n"
                # The handler learns the inbox from its first argument; gammu appends the file names.
                f"runonreceive = {handler} {base / 'inbox'}\n")
            self._processes.append(start_session([binary, "-c", str(config)], base / "stdout.log", PEER_ENVIRONMENT))

    def handled(self) -> list[Handled]:
        """A message's text is its part files joined in the order gammu names them (the files
        backend keeps one file per part)."""
        assert self._workdir is not None
        handled = []
        for moment, arguments in read_records(self._workdir):
            inbox, files = Path(arguments[0]), arguments[1:]
            try:
                text = "".join((inbox / name).read_text("utf-8") for name in files)
            except (OSError, UnicodeDecodeError):
                text = None
            # IN<date>_<time>_<serial>_<sender>_<sequence>.txt
            sender = files[0].split("_")[3] if files else ""
            handled.append(Handled(digits(sender), text, moment))
        return handled

    def usage(self) -> Usage:
        return session_usage([process.pid for process in self._processes], ("gammu-smsd",))

    def stop(self) -> None:
        for process in self._processes:
            stop_session(process)


# ---- smstools3 ---------------------------------------------------------------------------------


class Smstools:
    """smsd with its shipped ``smsd.conf.easy`` (devices, logfile, loglevel; per modem ``device``
    and ``incoming = yes``), the spool directories, ``eventhandler``, and the two settings its manual
    asks for on this hardware: ``incoming_utf8 = yes`` (a UTF-8 system) and ``memory_start = 0`` for
    modems whose storage counts from 0 (Huawei, Quectel), since the default 1 misses slot 0.
    delaytime stays 10 s, decode_unicode_text no (UCS-2 bodies are kept as UCS-2, read here as the
    file format page says: 16-bit big endian)."""

    name = "smstools"

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    def start(self, emulator: Emulator, workdir: Path) -> None:
        binary = shutil.which("smsd", path=PEER_ENVIRONMENT["PATH"])
        if binary is None:
            raise SystemExit("smsd is not installed: apt-get install smstools")
        self._workdir = workdir
        handler = write_handler(workdir)
        spools = ("incoming", "outgoing", "checked", "failed", "sent")
        for folder in spools:
            (workdir / folder).mkdir()
        modems = emulator.modems()
        names = ",".join(f"GSM{modem['id']}" for modem in modems)
        lines = [f"devices = {names}", f"logfile = {workdir / 'smsd.log'}",
                 "loglevel = 7", f"infofile = {workdir / 'smsd.running'}", f"pidfile = {workdir / 'smsd.pid'}",
                 *(f"{folder} = {workdir / folder}" for folder in spools),
                 f"eventhandler = {handler}", "incoming_utf8 = yes"]
        for modem in modems:
            first = emulator.modem(modem["id"]).device.personality.first_index
            lines += ["", f"[GSM{modem['id']}]", f"device = {modem['link']}", "incoming = yes",
                      f"memory_start = {first}"]
        config = workdir / "smsd.conf"
        config.write_text("\n".join(lines) + "\n")
        # -t: stay in the foreground (no daemon fork), so the session is the one we started
        self._process = start_session([binary, f"-c{config}", "-t"], workdir / "stdout.log", PEER_ENVIRONMENT)

    def handled(self) -> list[Handled]:
        assert self._workdir is not None
        handled = []
        for moment, arguments in read_records(self._workdir):
            if arguments[:1] != ["RECEIVED"]:
                continue
            sender, text = _read_smstools_file(Path(arguments[1]))
            handled.append(Handled(sender, text, moment))
        return handled

    def usage(self) -> Usage:
        assert self._process is not None
        return session_usage([self._process.pid], ("smsd",))

    def stop(self) -> None:
        if self._process is not None:
            stop_session(self._process)


def _read_smstools_file(path: Path) -> tuple[str, str | None]:
    """(sender digits, text) of a received message file: headers, an empty line, the body."""
    head, _, body = path.read_bytes().partition(b"\n\n")
    headers = dict(line.split(b": ", 1) for line in head.splitlines() if b": " in line)
    alphabet = headers.get(b"Alphabet", b"").decode("ascii", "replace")
    try:
        text = body.decode("utf-16-be" if alphabet.startswith("UCS") else "utf-8")
    except UnicodeDecodeError:
        text = None
    return digits(headers.get(b"From", b"").decode("ascii", "replace")), text


RECEIVERS: dict[str, type[ApplianceReceiver] | type[GammuSmsd] | type[Smstools]] = {
    "appliance": ApplianceReceiver, "gammu-smsd": GammuSmsd, "smstools": Smstools}
