"""The panel's HTTPS certificate: made on the box at first start, or the owner's own, uploaded.

A box on a shop's LAN has no public name a certificate authority would sign, so the first start makes
a self-signed certificate for ``sms-appliance.local``, the box's host name and the addresses it has
then. A browser warns about it once; the owner checks the SHA-256 fingerprint the box shows on its
console and in its log against the one the browser shows, and accepts it. A shop with its own
certificate authority (or a real name) uploads a certificate and key in Settings instead.

Both live in the data directory: the key mode 0600, the certificate (with any intermediate
certificates after it) beside it. This module needs cryptography, which the daemon never loads
(appliance.https): the daemon runs it as a child, ``python -m appliance.certificate COMMAND LEVEL
DATA_DIR``, logging at LEVEL to stderr, with one of these commands:

- ``make``: a self-signed certificate, at the first start;
- ``describe``: prints the certificate in use as :class:`CertificateInfo` JSON, or ``null`` when there
  is none (or none that can be read);
- ``install CERTIFICATE_LENGTH``: stdin holds the uploaded certificate (that many bytes) and then its
  key; checks and installs them and prints the certificate's JSON, or prints why the box cannot serve
  them and exits with ``REFUSED_EXIT_STATUS``, changing nothing.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.atomic_files import replace_file
from appliance.https import (
    CERTIFICATE_FILE,
    KEY_FILE,
    REFUSED_EXIT_STATUS,
    CertificateError,
    CertificateInfo,
    fingerprint,
)

log = logging.getLogger("appliance.certificate")  # so named in the log when run as __main__ too

MDNS_NAME = "sms-appliance.local"
# Nobody renews a self-signed certificate on a box in a back room; the owner accepted this one.
GENERATED_VALIDITY = timedelta(days=3650)
AddressType = ipaddress.IPv4Address | ipaddress.IPv6Address


def describe(certificate: x509.Certificate) -> CertificateInfo:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple([*san.get_values_for_type(x509.DNSName),
                       *(str(address) for address in san.get_values_for_type(x509.IPAddress))])
    except x509.ExtensionNotFound:
        names = ()
    return CertificateInfo(fingerprint=fingerprint(certificate.public_bytes(serialization.Encoding.DER)),
                           subject=certificate.subject.rfc4514_string(),
                           issuer=certificate.issuer.rfc4514_string(), names=names,
                           not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc,
                           self_signed=certificate.issuer == certificate.subject)


def box_names() -> tuple[list[str], list[AddressType]]:
    """The names and addresses a browser on the LAN may use for this box, as far as it knows now."""
    host = socket.gethostname()
    names = [MDNS_NAME, host, f"{host}.local", "localhost"] if "." not in host else [MDNS_NAME, host, "localhost"]
    addresses: list[AddressType] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    # The address a packet to the Internet would leave from: no packet is sent by connecting UDP.
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                addresses.append(ipaddress.ip_address(udp.getsockname()[0].split("%")[0]))
        except OSError:
            pass  # no route of that family (yet)
    try:
        for *_, sockaddr in socket.getaddrinfo(host, None):
            addresses.append(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))
    except (OSError, ValueError):
        pass
    return list(dict.fromkeys(names)), list(dict.fromkeys(addresses))


def generate(names: list[str], addresses: list[AddressType], now: datetime | None = None) -> tuple[bytes, bytes]:
    """A self-signed certificate and its key (PEM): ECDSA P-256, quick to make and to use on a Pi."""
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SMS appliance")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # a clock a little behind still accepts it
        .not_valid_after(now + GENERATED_VALIDITY)
        .add_extension(x509.SubjectAlternativeName([*(x509.DNSName(name) for name in names),
                                                    *(x509.IPAddress(address) for address in addresses)]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def check_pair(certificate_pem: bytes, key_pem: bytes, now: datetime | None = None) -> CertificateInfo:
    """What the box would serve from these PEM files, or :class:`CertificateError` saying why it cannot."""
    now = now or datetime.now(UTC)
    try:
        chain = x509.load_pem_x509_certificates(certificate_pem)
    except ValueError:
        raise CertificateError("the certificate file holds no PEM certificate "
                               "(it should start with -----BEGIN CERTIFICATE-----)") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise CertificateError("the private key is protected by a passphrase; upload it without one") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError("the key file holds no PEM private key "
                               "(it should start with -----BEGIN PRIVATE KEY-----)") from None
    leaf = chain[0]
    public_format = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*public_format) != leaf.public_key().public_bytes(*public_format):
        raise CertificateError("the private key does not belong to the certificate (the first one in the file)")
    if leaf.not_valid_after_utc <= now:
        raise CertificateError(f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if leaf.not_valid_before_utc > now:
        raise CertificateError(f"the certificate is valid only from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    return describe(leaf)


def make_self_signed(data_dir: Path) -> CertificateInfo:
    """A new self-signed certificate for the names and addresses the box has now, put in place."""
    names, addresses = box_names()
    return install(data_dir, *generate(names, addresses))


def install(data_dir: Path, certificate_pem: bytes, key_pem: bytes) -> CertificateInfo:
    """Check the pair and put it in place of the one in use (served from the next connection on when
    the server's context is reloaded, see appliance.https.server_context)."""
    info = check_pair(certificate_pem, key_pem)
    data_dir.mkdir(parents=True, exist_ok=True)
    # Each file written aside and renamed: a reader never sees half a file. The key goes first, so a
    # crash between the two leaves a pair that does not match, which the start reports (never the
    # old certificate served with a new key's name on it).
    replace_file(data_dir / KEY_FILE, key_pem, 0o600)
    replace_file(data_dir / CERTIFICATE_FILE, certificate_pem, 0o644)
    return info


def current(data_dir: Path) -> CertificateInfo | None:
    """The certificate in the data directory, None before the first start made one."""
    try:
        return describe(x509.load_pem_x509_certificates((data_dir / CERTIFICATE_FILE).read_bytes())[0])
    except (FileNotFoundError, ValueError):
        return None


def run_command(command: str, data_dir: Path, arguments: list[str]) -> int:
    """One of the commands in the module's docstring; the exit status, the answer on stdout."""
    try:
        if command == "make":
            made = make_self_signed(data_dir)
            log.info("made a self-signed HTTPS certificate for %s", ", ".join(made.names))
        elif command == "describe":
            info = current(data_dir)
            print(info.to_json() if info else "null")
        elif command == "install":
            uploaded = sys.stdin.buffer.read()
            certificate_length = int(arguments[0])
            print(install(data_dir, uploaded[:certificate_length], uploaded[certificate_length:]).to_json())
        else:
            log.error("no such command: %s (make, describe or install)", command)
            return 2
    except CertificateError as exc:
        print(exc)
        return REFUSED_EXIT_STATUS
    except OSError as exc:
        log.error("the HTTPS certificate cannot be %s: %s", "read" if command == "describe" else "written", exc)
        return 1
    return 0


if __name__ == "__main__":
    from appliance.cli import LOG_FORMAT

    logging.basicConfig(level=sys.argv[2], format=LOG_FORMAT)
    sys.exit(run_command(sys.argv[1], Path(sys.argv[3]), sys.argv[4:]))
