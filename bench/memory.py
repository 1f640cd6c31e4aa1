"""Where the appliance's memory goes: resident size after each group of imports, then after building
and starting the appliance (no modems, SQLite in a temporary directory).

Each step imports what ``appliance run`` would import next, so a library shared by several steps is
charged to the first. VmHWM (the peak) is reset before each step (``/proc/self/clear_refs``), so a
step's peak shows memory it took and gave back.

    PYTHONPATH=. .venv/bin/python bench/memory.py
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STEPS = (
    ("SQLAlchemy", ("sqlalchemy", "sqlalchemy.orm")),
    ("APScheduler", ("apscheduler.schedulers.background",)),
    ("Flask, Werkzeug, Jinja2, Babel, WTForms, Flask-Login", ("flask", "flask_babel", "flask_wtf", "flask_login")),
    ("urllib3, certifi (webhooks, MMS fetches)", ("urllib3", "certifi")),
    ("pyserial, pyudev", ("serial", "pyudev")),
    # AES-GCM of the sealed secrets; _mode_gcm (with its GHASH module) is otherwise imported at the first seal.
    ("pycryptodome (sealed secrets)", ("Crypto.Cipher.AES", "Crypto.Cipher._mode_gcm")),
    ("appliance.users (argon2)", ("appliance.users",)),
    ("the rest of appliance.runtime", ("appliance.runtime", "appliance.cli")),
)


def status_kib() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def report(step: str, before: int) -> int:
    rss, peak = status_kib()
    print(f"{step:58s} {(rss - before) / 1024:+7.1f} {rss / 1024:8.1f} {peak / 1024:8.1f}")
    reset_peak()
    return rss


def main() -> None:
    print(f"{'step':58s} {'MiB':>7s} {'RSS':>8s} {'peak':>8s}")
    rss = report("python", 0)
    for step, modules in STEPS:
        for module in modules:
            importlib.import_module(module)
        rss = report(step, rss)
    from appliance.config import load_settings
    from appliance.db.models import User
    from appliance.runtime import Appliance
    from appliance.users import set_password

    with tempfile.TemporaryDirectory() as data:
        os.environ.update({"APPLIANCE_DATA_DIR": data, "APPLIANCE_HTTP_PORT": "0", "APPLIANCE_HTTPS_PORT": "0", "APPLIANCE_MODEMS": "[]",
                           "APPLIANCE_UDEV_DISCOVERY": "false"})
        appliance = Appliance(load_settings(None))
        rss = report("Appliance(): web app, workers (migrations in a child)", rss)
        appliance.start()
        time.sleep(2)
        rss = report("started, idle for 2 s", rss)
        set_password(User(), "a password of someone")
        report("a password hashed (as at every sign-in)", rss)
        appliance.stop()


if __name__ == "__main__":
    main()
