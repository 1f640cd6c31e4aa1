"""The real ``appliance run`` as a child process, for tests that kill it with SIGKILL at random moments
and start it again on the same data directory: what survives must be exactly what a power cut leaves."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from appliance.runtime import RUNNING_MARKER


class ApplianceProcess:
    """``python -m appliance.cli run`` on one data directory, started again after every kill.

    The modems' storage is read every 3 s and an unanswered AT command given up after 3 s, so that
    kills fall mid-read and mid-delete often; the panel listens on ports the system picks unless
    ``settings`` names them. ``settings`` (``APPLIANCE_*`` variables) override these defaults."""

    def __init__(self, data_dir: Path, log_path: Path, modems: list[str], settings: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ,
                    "APPLIANCE_MODEMS": json.dumps(modems),
                    "APPLIANCE_HTTP_PORT": "0",
                    "APPLIANCE_HTTPS_PORT": "0",
                    "APPLIANCE_STORAGE_POLL_SECONDS": "3",
                    "APPLIANCE_AT_TIMEOUT_SECONDS": "3",
                    "APPLIANCE_LOG_LEVEL": "INFO",
                    **settings,
                    "APPLIANCE_DATA_DIR": str(data_dir)}
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.started_at = 0.0

    def start(self) -> None:
        self.started_at = time.time()
        self.process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "run"], env=self.env,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def wait_until_running(self, seconds: float = 60) -> None:
        """Until this start has got as far as starting its parts (it marks the data directory so)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.alive():
            with contextlib.suppress(FileNotFoundError):
                if (self.data_dir / RUNNING_MARKER).stat().st_mtime >= self.started_at:
                    return
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, counted only when the process was still running."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.kills += 1
        self.process.wait()

    def stop(self) -> None:
        """The clean way out (SIGTERM); SIGKILL only when that has not ended it within 30 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None
