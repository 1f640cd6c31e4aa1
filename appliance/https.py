"""HTTPS as the running appliance serves it: the certificate files in the data directory, the
fingerprint the owner checks, and the server's TLS context, with the standard library only.

Making, checking and describing a certificate needs cryptography (:mod:`appliance.certificate`), whose
Rust extension with its own OpenSSL takes about 7 MiB resident, and a Python process never gives an
imported module's memory back. The daemon needs it only once, when the first start makes the
self-signed certificate, so that is done in a child process (:func:`ensure_certificate`, as the schema
upgrade is, appliance.db.migrate); the panel's HTTPS page and the upload import it when they run.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import subprocess
import sys
from pathlib import Path

CERTIFICATE_FILE = "https-certificate.pem"
KEY_FILE = "https-key.pem"


class CertificateUnavailable(RuntimeError):
    """No certificate could be made; the child process's own error is in the log before this."""


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
    """Have the data directory's certificate and key made when either is missing (the first start),
    in a fresh interpreter that logs at this process's level to the same stderr."""
    if (data_dir / CERTIFICATE_FILE).exists() and (data_dir / KEY_FILE).exists():
        return
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    result = subprocess.run([sys.executable, "-m", "appliance.certificate", level, str(data_dir)], check=False)
    if result.returncode != 0:
        raise CertificateUnavailable(f"no certificate could be made in {data_dir} (exit status "
                                     f"{result.returncode}); see the error above")


def server_context(data_dir: Path) -> ssl.SSLContext:
    """A TLS server context with the data directory's certificate and key (TLS 1.2 or newer). A bare
    server context: the defaults already refuse compression and SSLv2/3 and prefer the server's cipher
    order, and it loads no CA store, since the server asks no client for a certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(data_dir / CERTIFICATE_FILE, data_dir / KEY_FILE)
    return context
