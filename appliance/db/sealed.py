"""Secrets at rest: the passwords and webhook secrets the box must hand on, sealed with a key kept
outside the database.

A webhook secret, the SMTP password or an APN password cannot be hashed: the appliance has to sign
with it or send it. So it is encrypted (AES-256-GCM) with a key that lives in a file in the data
directory (``secrets.key``, mode 0600), never in the database: a copy of the database alone (a stolen
backup of it, a ``pg_dump``, a shared PostgreSQL server's disk) holds only ciphertext.

AES-GCM comes from pycryptodome, not cryptography, because the daemon loads it at every start and
pycryptodome's few small C modules take about 1 MiB resident where cryptography's Rust extension with
its own OpenSSL takes 7 (bench/memory.py).

A sealed value is text: ``sealed:1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``, a 12-byte nonce
and a 16-byte tag. The key id (the first 8 hex digits of the key's SHA-256) says which key a value
needs, so a box whose key file was lost or replaced can say so in words instead of failing to
decrypt. The column name is bound into the tag (associated data): a sealed value moved into another
column does not open.

Columns use :class:`SealedText`; the engine carries the key (:func:`use_key`), so the rest of the
code reads and writes plain strings. A value the key cannot open is read as a :class:`LockedSecret`:
the row still loads (messages keep arriving and being routed), and only the feature that needs the
secret fails, with :func:`reveal`'s message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from Crypto.Cipher import AES
from sqlalchemy import Engine, String, TypeDecorator

from appliance.atomic_files import create_file_once

if TYPE_CHECKING:
    from Crypto.Cipher._mode_gcm import GcmMode

log = logging.getLogger(__name__)

KEY_FILE = "secrets.key"
PREFIX = "sealed:1:"
NONCE_BYTES = 12
TAG_BYTES = 16
# A sealed 100-character secret is 190 characters; the columns leave room for 200-character ones.
SEALED_LENGTH = 400


class SecretUnavailable(Exception):
    """A stored secret that cannot be used now; the message says which one, why, and what to do."""


class KeyFileError(Exception):
    """The key file cannot be used (unreadable, damaged, or open to others and not ours to fix)."""


@dataclass(frozen=True)
class SealingKey:
    key: bytes
    path: Path

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.key).hexdigest()[:8]

    def seal(self, plain: str, column: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext, tag = self._cipher(nonce, column).encrypt_and_digest(plain.encode())
        return f"{PREFIX}{self.key_id}:{base64.urlsafe_b64encode(nonce + ciphertext + tag).decode()}"

    def open(self, sealed: str, column: str) -> str:
        """The plain value, or :class:`SecretUnavailable` saying why it does not open with this key."""
        key_id, payload = _parts(sealed)
        if key_id != self.key_id:
            raise SecretUnavailable(
                f"{column} was sealed with key {key_id}, but {self.path} holds key {self.key_id}: put back the "
                f"key file this database was used with (it is in every full backup), or enter the secret again")
        try:
            raw = base64.urlsafe_b64decode(payload)
            if len(raw) < NONCE_BYTES + TAG_BYTES:
                raise ValueError("shorter than a nonce and a tag")
            cipher = self._cipher(raw[:NONCE_BYTES], column)
            return cipher.decrypt_and_verify(raw[NONCE_BYTES:-TAG_BYTES], raw[-TAG_BYTES:]).decode()
        except (binascii.Error, ValueError):  # a wrong tag is a ValueError too ("MAC check failed")
            raise SecretUnavailable(f"{column} is damaged: it does not decrypt with key {self.key_id}; "
                                    "enter the secret again") from None

    def _cipher(self, nonce: bytes, column: str) -> GcmMode:
        """AES-256-GCM with the column name as associated data; one object seals or opens one value."""
        cipher = AES.new(self.key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
        cipher.update(column.encode())
        return cipher


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def sealed_key_id(sealed: str) -> str:
    return _parts(sealed)[0]


def _parts(sealed: str) -> tuple[str, str]:
    key_id, _, payload = sealed.removeprefix(PREFIX).partition(":")
    return key_id, payload


# --- the key file -------------------------------------------------------------------------------

def load_key(data_dir: Path) -> SealingKey:
    """The key in ``data_dir/secrets.key``, made on first start. A file others may read is set back to
    0600 with a warning; one this user cannot fix, or a damaged one, raises :class:`KeyFileError`."""
    path = data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        if create_file_once(path, base64.urlsafe_b64encode(secrets.token_bytes(32)) + b"\n"):
            log.info("made a new key for stored secrets: %s", path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            os.chmod(path, 0o600)
        except OSError as exc:
            raise KeyFileError(f"{path} may be read by other users (mode {mode:04o}) and cannot be made private "
                               f"({exc.strerror}): run `chmod 600 {path}` as its owner") from None
        log.warning("%s could be read by other users (mode %04o): set back to 0600. Whoever read it can decrypt "
                    "the stored passwords and webhook secrets: consider changing them", path, mode)
    try:
        key = base64.urlsafe_b64decode(path.read_text().strip())
    except (OSError, binascii.Error, ValueError) as exc:
        raise KeyFileError(f"{path} cannot be read as a key: {exc}") from None
    if len(key) != 32:
        raise KeyFileError(f"{path} does not hold a 256-bit key ({len(key)} bytes): put back the right file")
    return SealingKey(key, path)


# --- the engine carries the key -----------------------------------------------------------------

@dataclass(frozen=True)
class Keyring:
    """What an engine seals and opens with: a key, or the reason there is none."""

    key: SealingKey | None
    problem: str = ""

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> Keyring:
        """The data directory's key; without one (a damaged or foreign key file) the box still runs and the
        secrets it cannot open say why."""
        try:
            return cls(load_key(data_dir))
        except KeyFileError as exc:
            log.error("stored passwords and webhook secrets cannot be used: %s", exc)
            return cls(None, str(exc))

    def seal(self, plain: str, column: str) -> str:
        if self.key is None:
            raise SecretUnavailable(f"{column} cannot be stored: {self.problem}")
        return self.key.seal(plain, column)

    def open(self, sealed: str, column: str) -> str:
        if self.key is None:
            raise SecretUnavailable(f"{column} cannot be read: {self.problem}")
        return self.key.open(sealed, column)


NO_KEY = Keyring(None, "no key file was given to this database connection (appliance.db.sealed.use_key)")


def use_key(engine: Engine, keyring: Keyring) -> Engine:
    """Have ``engine`` seal and open :class:`SealedText` columns with ``keyring``. The key rides on the
    engine's dialect, which is the one thing of the engine a column type sees; each engine has its own."""
    engine.dialect.appliance_keyring = keyring  # type: ignore[attr-defined]
    return engine


def keyring_of(dialect: object) -> Keyring:
    return getattr(dialect, "appliance_keyring", NO_KEY)


class LockedSecret:
    """A stored secret that the key at hand cannot open. Truthy (a secret is set), never usable as text:
    :func:`reveal` raises with the reason, and writing the row back keeps the stored value."""

    def __init__(self, stored: str, reason: str) -> None:
        self.stored = stored
        self.reason = reason

    def __repr__(self) -> str:
        return "<locked secret>"


def reveal(value: str | LockedSecret) -> str:
    """``value`` as text, or :class:`SecretUnavailable` for a secret the key cannot open."""
    if isinstance(value, LockedSecret):
        raise SecretUnavailable(value.reason)
    return value


class SealedText(TypeDecorator[str]):
    """A text column stored sealed; reads give the plain text (or a :class:`LockedSecret`)."""

    impl = String(SEALED_LENGTH)
    cache_ok = True

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column  # "table.column": bound into each value, and named in error messages

    def process_bind_param(self, value: str | LockedSecret | None, dialect: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, LockedSecret):
            return value.stored
        return keyring_of(dialect).seal(value, self.column)

    def process_result_value(self, value: str | None, dialect: object) -> str | LockedSecret | None:
        if value is None or not is_sealed(value):
            return value  # None, or a value written before sealing (the migration seals them all)
        try:
            return keyring_of(dialect).open(value, self.column)
        except SecretUnavailable as exc:
            return LockedSecret(value, str(exc))
