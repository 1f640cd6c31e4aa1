"""HTTPS as the running appliance serves it: the certificate files in the data directory, the
fingerprint the owner checks, and the server's TLS context, with the standard library only.

Making, checking and describing a certificate needs cryptography (:mod:`appliance.certificate`), whose
Rust extension with its own OpenSSL takes about 7 MiB resident, and a Python process never gives an
imported module's memory back. So the daemon never imports it: each piece of certificate work runs in
a short-lived child, ``python -m appliance.certificate`` (as the schema upgrade does,
appliance.db.migrate): making the first self-signed certificate at start (:func:`ensure_certificate`),
and for Settings → HTTPS, describing the certificate in use (:func:`describe_certificate`, kept per
fingerprint, so the page starts a child only when the certificate changed) and checking and installing
an uploaded one (:func:`install_certificate`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import ssl
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

CERTIFICATE_FILE = "https-certificate.pem"
KEY_FILE = "https-key.pem"
# How long certificate work may take in the child (0.1 s on a desktop machine, a Pi slower): one
# still busy after this has hung, and a panel page is waiting for it.
CHILD_TIMEOUT = 30.0
# The child's exit status for an upload it refuses (CertificateError); its reason is on its stdout.
REFUSED_EXIT_STATUS = 3


class CertificateUnavailable(RuntimeError):
    """The child doing certificate work failed (an error, a crash, no answer in time): nothing is known
    about the certificate. The child's own error is in the log before this."""


class CertificateError(ValueError):
    """An uploaded certificate or key the box cannot serve; the message says why, for the form."""


@dataclass(frozen=True)
class CertificateInfo:
    """What the panel and the console show about the certificate in use."""

    fingerprint: str  # SHA-256 of the DER certificate, "AB:CD:…", as browsers show it
    subject: str
    issuer: str
    names: tuple[str, ...]  # the subject alternative names: DNS names and addresses
    not_before: datetime
    not_after: datetime
    self_signed: bool

    def to_json(self) -> str:
        """How the child hands it to the daemon."""
        return json.dumps({**asdict(self), "not_before": self.not_before.isoformat(),
                           "not_after": self.not_after.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> CertificateInfo:
        fields = json.loads(text)
        return cls(**{**fields, "names": tuple(fields["names"]),
                      "not_before": datetime.fromisoformat(fields["not_before"]),
                      "not_after": datetime.fromisoformat(fields["not_after"])})


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate, "AB:CD:…", as browsers show it."""
    return hashlib.sha256(der).digest().hex(":").upper()


def served_fingerprint(data_dir: Path) -> str | None:
    """The fingerprint of the certificate served (the first one in the file, intermediates follow it);
    None before the first start made one, ValueError for a file holding no PEM certificate."""
    path = data_dir / CERTIFICATE_FILE
    try:
        pem = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    start = pem.find(ssl.PEM_HEADER)
    end = pem.find(ssl.PEM_FOOTER, start)
    if start < 0 or end < 0:
        raise ValueError(f"{path} holds no PEM certificate")
    return fingerprint(ssl.PEM_cert_to_DER_cert(pem[start:end + len(ssl.PEM_FOOTER)]))


def ensure_certificate(data_dir: Path) -> None:
    """Have the data directory's certificate and key made when either is missing (the first start)."""
    if (data_dir / CERTIFICATE_FILE).exists() and (data_dir / KEY_FILE).exists():
        return
    _certificate_child(f"no certificate could be made in {data_dir}", "make", data_dir)


# The description of the certificate in use, per data directory, while its fingerprint stays the same.
_described: dict[Path, CertificateInfo] = {}


def describe_certificate(data_dir: Path) -> CertificateInfo | None:
    """The certificate in use, None before the first start made one; :class:`CertificateUnavailable`
    when it cannot be read (a file holding no certificate, or a child that failed). A certificate
    already described is not described again: an upload or a new one changes the fingerprint."""
    try:
        served = served_fingerprint(data_dir)
    except (OSError, ValueError) as exc:
        raise CertificateUnavailable(f"the certificate cannot be read: {exc}") from None
    if served is None:
        return None
    known = _described.get(data_dir)
    if known is not None and known.fingerprint == served:
        return known
    answer = _certificate_child(f"the certificate in {data_dir} could not be read", "describe", data_dir)
    if answer == "null":  # a PEM certificate, but not one cryptography can read, or gone meanwhile
        raise CertificateUnavailable(f"{data_dir / CERTIFICATE_FILE} holds no certificate that can be read")
    info = CertificateInfo.from_json(answer)
    _described[data_dir] = info
    return info


def install_certificate(data_dir: Path, certificate_pem: bytes, key_pem: bytes) -> CertificateInfo:
    """Check an uploaded pair and put it in place of the one in use (served once the server's context
    is reloaded, :func:`server_context`). :class:`CertificateError` says why the box cannot serve it,
    and nothing changed; :class:`CertificateUnavailable` when the child failed."""
    # Both files through stdin, one after the other, the certificate's length on the command line:
    # any bytes pass unchanged, and the key is never in ``ps``.
    answer = _certificate_child("the uploaded certificate could not be checked", "install", data_dir,
                                str(len(certificate_pem)), stdin=certificate_pem + key_pem)
    info = CertificateInfo.from_json(answer)
    _described[data_dir] = info  # the page shown next describes it without another child
    return info


def _certificate_child(failure: str, command: str, data_dir: Path, *arguments: str, stdin: bytes = b"") -> str:
    """What ``python -m appliance.certificate COMMAND LEVEL DATA_DIR …`` printed; *failure* says what
    went wrong when it fails. The child logs at this process's level to the same stderr, so its own
    error is in the log before the exception raised here."""
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    try:
        result = subprocess.run([sys.executable, "-m", "appliance.certificate", command, level, str(data_dir),
                                 *arguments], input=stdin, stdout=subprocess.PIPE, timeout=CHILD_TIMEOUT,
                                check=False)
    except subprocess.TimeoutExpired:
        raise CertificateUnavailable(f"{failure}: `python -m appliance.certificate {command}` did not finish "
                                     f"within {CHILD_TIMEOUT:g} s and was stopped") from None
    except OSError as exc:  # no interpreter to start, or no process left to start it with
        raise CertificateUnavailable(f"{failure}: `python -m appliance.certificate` cannot be started ({exc})") from None
    answer = result.stdout.decode("utf-8", "replace").strip()
    if result.returncode == REFUSED_EXIT_STATUS:
        raise CertificateError(answer)
    if result.returncode != 0:
        raise CertificateUnavailable(f"{failure} (exit status {result.returncode}); see the error above")
    return answer


def server_context(data_dir: Path) -> ssl.SSLContext:
    """A TLS server context with the data directory's certificate and key (TLS 1.2 or newer). A bare
    server context: the defaults already refuse compression and SSLv2/3 and prefer the server's cipher
    order, and it loads no CA store, since the server asks no client for a certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(data_dir / CERTIFICATE_FILE, data_dir / KEY_FILE)
    return context
