"""What the ``appliance run`` process keeps in its memory (issue 9: under 80 MB with 16 modems).

cryptography (its Rust extension brings its own OpenSSL, about 7 MiB resident) is needed only to make
the first HTTPS certificate, which a child process does, and by the panel's HTTPS page; a daemon
serving HTTPS and signing webhooks with a sealed secret, at its first start and at the next, never
maps it. A real daemon is started as systemd starts it, and its memory map read from /proc.
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from appliance.db.engine import make_engine
from appliance.delivery.webhook import verify_signature
from appliance.https import CERTIFICATE_FILE, served_fingerprint
from appliance.web.tokens import create_token
from tests.support.http_receiver import HttpReceiver
from tests.support.notify_socket import NotifySocket

WEBHOOK_SECRET = "whsec-Kwiaciarnia-footprint-5e8d1a"


class Daemon:
    """``python -m appliance.cli run`` on free ports, its log in a file, until :meth:`stop`."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        manager = NotifySocket()
        env = {**os.environ, "NOTIFY_SOCKET": manager.address, "APPLIANCE_DATA_DIR": str(data_dir),
               "APPLIANCE_HTTP_PORT": "0", "APPLIANCE_HTTPS_PORT": "0", "APPLIANCE_UDEV_DISCOVERY": "false",
               "APPLIANCE_MODEMS": "[]"}
        with log_path.open("w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "run"], env=env,
                                            stdout=subprocess.DEVNULL, stderr=log)
        try:
            manager.wait_for("READY", timeout=90)
        finally:
            manager.close()
        self.log = log_path.read_text()
        self.http_port = int(re.search(r"panel on http://[^:]+:(\d+)", self.log).group(1))  # type: ignore[union-attr]
        self.https_port = int(re.search(r"panel on https://[^:]+:(\d+)", self.log).group(1))  # type: ignore[union-attr]

    def mapped_files(self) -> str:
        """The files mapped into the daemon's memory: every shared library and extension module it loaded."""
        return Path(f"/proc/{self.process.pid}/maps").read_text()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0, self.log_path.read_text()


@contextmanager
def daemon(data_dir: Path, log_path: Path) -> Iterator[Daemon]:
    running = Daemon(data_dir, log_path)
    try:
        yield running
        running.stop()
    finally:
        running.process.kill()
        running.process.wait()


def api(url: str, token: str, body: dict[str, Any] | None = None, *, trusting: Path | None = None) -> Any:
    """A JSON call to the REST API; over HTTPS trusting the box's own certificate, as a client that
    pinned it would."""
    request = urllib.request.Request(url, method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=trusting) if trusting else None
    with urllib.request.urlopen(request, timeout=30, context=context) as answer:
        return json.loads(answer.read())


def test_the_daemon_never_loads_cryptography(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    certificate = data_dir / CERTIFICATE_FILE
    with HttpReceiver() as webhooks:
        with daemon(data_dir, tmp_path / "first-start.log") as first:
            # The first start had its certificate made (in a child) and serves it.
            assert "made a self-signed HTTPS certificate" in first.log
            fingerprint = served_fingerprint(data_dir)
            assert fingerprint is not None and f"HTTPS certificate SHA-256 fingerprint: {fingerprint}" in first.log
            engine = make_engine(f"sqlite:///{data_dir / 'appliance.db'}")
            with Session(engine) as session:
                token = create_token(session, "footprint test", admin=True)
                session.commit()
            engine.dispose()
            https = f"https://127.0.0.1:{first.https_port}/api/v1"
            account = api(f"http://127.0.0.1:{first.http_port}/api/v1/accounts", token, {"name": "Kwiaciarnia"})
            target = api(f"{https}/forward-targets", token, trusting=certificate, body={
                "account": account["id"], "kind": "url", "url": webhooks.url + "hooks/sms", "secret": WEBHOOK_SECRET})
            assert api(f"{https}/forward-targets/{target['id']}/test", token, {}, trusting=certificate)["ok"]
            first_maps = first.mapped_files()
        issued = certificate.read_bytes()

        with daemon(data_dir, tmp_path / "second-start.log") as second:
            assert "made a self-signed HTTPS certificate" not in second.log
            assert f"HTTPS certificate SHA-256 fingerprint: {fingerprint}" in second.log
            https = f"https://127.0.0.1:{second.https_port}/api/v1"
            assert api(f"{https}/forward-targets/{target['id']}/test", token, {}, trusting=certificate)["ok"]
            second_maps = second.mapped_files()
        assert certificate.read_bytes() == issued

        # Each webhook was signed with the secret the daemon sealed, then opened (after the restart too).
        assert len(webhooks.requests) == 2
        for request in webhooks.requests:
            assert verify_signature(WEBHOOK_SECRET, request.headers["X-Appliance-Timestamp"], request.body,
                                    request.headers["X-Appliance-Signature"])
    for maps in (first_maps, second_maps):
        assert not [line for line in maps.splitlines() if "/cryptography/" in line]
        assert "/Crypto/Cipher/_raw_aes" in maps  # pycryptodome sealed and opened the secret: the map shows modules
