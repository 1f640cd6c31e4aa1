"""Settings: typed defaults in one place, then the TOML file, then APPLIANCE_* environment variables.

The installer edits one TOML file (the image puts it on the boot partition); a developer or a test
overrides single keys through the environment without writing a file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """A settings file or environment variable that cannot be used, with the key it concerns."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite file in data_dir
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # HTTPS, served beside HTTP by the same process with the data directory's certificate
    # (appliance/certificate.py); 0 picks a free port (tests).
    https_port: int = 8443
    # Plain-HTTP panel pages redirect to HTTPS; the Strict-Transport-Security header is sent over
    # HTTPS. Both off until the admin turns them on (Settings → HTTPS, which stores them in the database).
    https_redirect: bool = False
    https_hsts: bool = False
    # Worker threads of the panel's HTTP server: each request being answered holds one, and so does
    # each open live-updates stream (docs/operations.md).
    http_threads: int = 32
    # How receivers of forwards reach this box (attachment download links); empty: from http_host/port.
    public_url: str = ""
    # Serial ports or globs, in addition to udev discovery (the emulator's ptys are found this way).
    modems: list[str] = field(default_factory=list)
    # USB modems found by udev: their ttys are probed and the AT port gets a session.
    udev_discovery: bool = True
    # SIM PINs by ICCID; a SIM whose PIN is not here is never unlocked by guessing.
    sim_pins: dict[str, str] = field(default_factory=dict)
    # How MMS are fetched: "modem" (a data call on the SIM's MMS APN through the modem's network
    # interface, the only way to an operator's MMSC) or "lan" (the box's own network).
    mms_bearer: str = "modem"
    # Port → network interface, for modems whose interface sysfs does not show (emulated ones).
    modem_interfaces: dict[str, str] = field(default_factory=dict)
    secret_key: str = ""
    # An incomplete multipart set is released as a partial message after this long.
    partial_timeout_seconds: int = 24 * 3600
    # Fallback scan of modem storage for modems that drop +CMTI.
    storage_poll_seconds: int = 30
    at_timeout_seconds: float = 5.0
    # Signal, registration, SIM and storage of every modem are read this often.
    health_seconds: int = 30
    # Pause between two SMS-SUBMITs on one SIM; operators throttle or block SIMs that send faster.
    send_interval_seconds: float = 1.0
    # First pause before a failed forward is tried again; it doubles up to an hour.
    forward_first_retry_seconds: float = 5.0
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_security: str = "none"  # none | starttls | ssl
    smtp_sender: str = ""
    log_level: str = "INFO"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/") + "/"
        host = socket.gethostname() + ".local" if self.http_host in ("0.0.0.0", "::") else self.http_host
        return f"http://{host}:{self.http_port}/"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'appliance.db'}"


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_DEFAULTS = Settings()


def _coerce(key: str, value: object, source: str) -> object:
    """Convert a TOML value or an environment string to the type of the field's default."""
    default = getattr(_DEFAULTS, key)
    try:
        if isinstance(default, bool):  # before int: a bool is an int
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(text)
            return text in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(value)  # type: ignore[arg-type]
        if isinstance(default, float):
            return float(value)  # type: ignore[arg-type]
        if isinstance(default, Path):
            return Path(str(value))
        if isinstance(default, list):
            if isinstance(value, list):
                return [str(v) for v in value]
            text = str(value).strip()
            if text.startswith("["):
                return [str(v) for v in json.loads(text)]
            return [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(default, dict):
            if isinstance(value, dict):
                return {str(k): str(v) for k, v in value.items()}
            return {str(k): str(v) for k, v in json.loads(str(value)).items()}
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {key} = {value!r} is not a valid {type(default).__name__}") from exc


def load_settings(config_file: str | os.PathLike[str] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Read the settings the way every subcommand does: file (``--config`` or APPLIANCE_CONFIG), then env."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    path = config_file or env.get("APPLIANCE_CONFIG")
    if path:
        try:
            with open(path, "rb") as handle:
                table = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
        for key, value in table.items():
            if key not in _FIELDS:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, value, str(path))
    for key in _FIELDS:
        env_key = f"APPLIANCE_{key.upper()}"
        if env_key in env:
            values[key] = _coerce(key, env[env_key], env_key)
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.mms_bearer not in ("modem", "lan"):
        raise ConfigError(f"mms_bearer must be modem or lan, not {settings.mms_bearer!r}")
    if settings.http_threads < 1:
        raise ConfigError(f"http_threads must be at least 1, not {settings.http_threads}")
    if settings.smtp_security not in ("none", "starttls", "ssl"):
        raise ConfigError(f"smtp_security must be none, starttls or ssl, not {settings.smtp_security!r}")
    return settings
