"""Settings changed in the panel: stored in the database, laid over the settings file's values.

The file (:mod:`appliance.config`) is what the installer wrote; an administrator who changes the
SMTP server in the panel should not need a shell or a restart. So the panel writes the same keys
(``smtp_host`` …) into :class:`~appliance.db.models.PanelSetting`, and whoever needs them reads
:func:`effective_settings` at the moment of use: the e-mail channel on every send.

The SMTP password must be handed to the server, so it cannot be hashed: it is stored sealed with the
key file of the data directory (:mod:`appliance.db.sealed`), so that a copy of the database alone
does not give it away. Read back, it is the plain text again, or a
:class:`~appliance.db.sealed.LockedSecret` when the key at hand cannot open it (the e-mail channel
then says why).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.config import Settings
from appliance.db.models import PanelSetting
from appliance.db.sealed import LockedSecret, SecretUnavailable, is_sealed, keyring_of
from appliance.delivery.email import SECURITY_MODES, EmailError, SmtpSettings

SMTP_KEYS = ("smtp_host", "smtp_port", "smtp_security", "smtp_user", "smtp_password", "smtp_sender")
HTTPS_KEYS = ("https_redirect", "https_hsts")
PANEL_KEYS = frozenset(SMTP_KEYS + HTTPS_KEYS)
SEALED_KEYS = frozenset({"smtp_password"})


class SettingError(ValueError):
    """A value the panel cannot store; ``key`` names the field, the message says why in words."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class SmtpChange:
    """What the SMTP form sends. ``password`` None keeps the stored one; "" removes it."""

    host: str
    port: int
    security: str
    user: str
    sender: str
    password: str | None = None


def stored_values(session: Session) -> dict[str, object]:
    """The panel's values by key (only keys the panel may set; a row left by a newer version is ignored),
    sealed ones opened."""
    return {row.key: _opened(session, row.key, row.value)
            for row in session.scalars(select(PanelSetting)) if row.key in PANEL_KEYS}


def _column(key: str) -> str:
    """The name a sealed setting is bound to and reported by, as a sealed column's is."""
    return f"panel_settings.{key}"


def _opened(session: Session, key: str, value: object) -> object:
    if not is_sealed(value):
        return value
    try:
        return keyring_of(session.get_bind().dialect).open(str(value), _column(key))
    except SecretUnavailable as exc:
        return LockedSecret(str(value), str(exc))


def effective_settings(settings: Settings, session: Session) -> Settings:
    """``settings`` (file and environment) with the panel's values in place of the same keys."""
    return dataclasses.replace(settings, **stored_values(session))  # type: ignore[arg-type]


def smtp_settings_reader(settings: Settings, sessions: sessionmaker[Session]) -> Callable[[], SmtpSettings]:
    """A function giving the SMTP settings in force now: one small query per e-mail sent."""

    def current() -> SmtpSettings:
        with sessions() as session:
            return SmtpSettings.from_settings(effective_settings(settings, session))

    return current


def save_smtp(session: Session, change: SmtpChange) -> None:
    """Check every field and store them all (flushed, not committed); nothing is stored when one is wrong."""
    values = check_smtp(change)
    _store(session, values)


def check_smtp(change: SmtpChange) -> dict[str, object]:
    """The values to store, or :class:`SettingError` for the first field that cannot work."""
    # Here, not at the top: smtplib and the email package's header modules (about 0.7 MiB) are loaded
    # only when they are used (docs/performance.md, "Memory").
    from appliance.delivery.email_sending import sender_address

    host = change.host.strip()
    if any(ch.isspace() for ch in host) or len(host) > 253:
        raise SettingError("smtp_host", "a server name or IP address, without spaces")
    if not 1 <= change.port <= 65535:
        raise SettingError("smtp_port", "a port between 1 and 65535")
    if change.security not in SECURITY_MODES:
        raise SettingError("smtp_security", "none, starttls or ssl")
    sender = change.sender.strip()
    if sender or host:
        try:
            sender_address(sender)
        except EmailError as exc:
            raise SettingError("smtp_sender", exc.reason) from None
    user = change.user.strip()
    # smtplib sends AUTH in ASCII only (appliance.delivery.email_sending); say so now rather than at the
    # first send.
    if not user.isascii():
        raise SettingError("smtp_user", "the user name must be ASCII")
    if change.password is not None and not change.password.isascii():
        raise SettingError("smtp_password", "the password must be ASCII")
    values: dict[str, object] = {"smtp_host": host, "smtp_port": change.port, "smtp_security": change.security,
                                 "smtp_user": user, "smtp_sender": sender}
    if change.password is not None:
        values["smtp_password"] = change.password
    return values


def save_https(session: Session, settings: Settings, redirect: bool, hsts: bool) -> dict[str, list[bool]]:
    """Store the HTTPS switches (flushed, not committed); what changed, as {key: [old, new]}."""
    in_force = effective_settings(settings, session)
    values = {"https_redirect": redirect, "https_hsts": hsts}
    changed = {key: [getattr(in_force, key), value] for key, value in values.items() if getattr(in_force, key) != value}
    _store(session, values)
    return changed


def _store(session: Session, values: Mapping[str, object]) -> None:
    stored = {row.key: row for row in session.scalars(select(PanelSetting).where(PanelSetting.key.in_(values)))}
    keyring = keyring_of(session.get_bind().dialect)
    for key, value in values.items():
        assert key in PANEL_KEYS, key
        row = stored.get(key)
        if row is not None and _opened(session, key, row.value) == value:
            continue
        if key in SEALED_KEYS and value:
            try:
                value = keyring.seal(str(value), _column(key))
            except SecretUnavailable as exc:
                raise SettingError(key, str(exc)) from None
        if row is None:
            session.add(PanelSetting(key=key, value=value))
        else:
            row.value = value
    session.flush()
