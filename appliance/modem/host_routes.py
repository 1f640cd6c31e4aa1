"""Routes through a modem's network interface for the hosts of one data call, and nothing else.

The box keeps its own default route (the LAN). Only traffic from the data call's address takes the
modem: the address goes on the interface, a routing table of its own holds host routes to the MMS
proxy (or MMSC), and a policy rule sends packets *from* that address to that table. The MMS client
binds its sockets to the address, so only it uses the SIM's data, and two modems on the same
operator (same proxy address) never fight over one route. Everything is removed when the call ends.

Done with iproute2's ``ip``, as root (the appliance's systemd unit grants CAP_NET_ADMIN).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from appliance.modem.data_call import DataLink

log = logging.getLogger(__name__)

# Routing tables 20000 + ifindex and rule priority 20000: clear of the kernel's (253-255) and of
# what NetworkManager and dhcpcd use.
TABLE_BASE = 20000
RULE_PRIORITY = 20000


class RouteError(Exception):
    """The host could not be set up to route through the modem (no interface, no permission)."""


def _ip(*args: str) -> None:
    try:
        result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RouteError(f"ip {' '.join(args)}: {exc}") from exc
    if result.returncode != 0:
        raise RouteError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")


def _ip_quietly(*args: str) -> None:
    with contextlib.suppress(RouteError):
        _ip(*args)


def host_addresses(host: str) -> list[str]:
    """The IPv4 addresses of ``host`` (an address as it is, a name through the box's resolver)."""
    try:
        return [str(ipaddress.IPv4Address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        raise RouteError(f"cannot resolve {host}: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


def interface_index(interface: str) -> int:
    try:
        return int(Path(f"/sys/class/net/{interface}/ifindex").read_text())
    except (OSError, ValueError) as exc:
        raise RouteError(f"no network interface {interface}") from exc


@contextlib.contextmanager
def routed_through(interface: str, link: DataLink, hosts: list[str]) -> Iterator[str]:
    """Route ``hosts`` from ``link.address`` through ``interface``; yields the address to bind to."""
    table = str(TABLE_BASE + interface_index(interface))
    addresses = sorted({address for host in hosts for address in host_addresses(host)})
    via = ["via", link.gateway, "dev", interface, "onlink"] if link.gateway else ["dev", interface]
    try:
        _ip("link", "set", "dev", interface, "up")
        _ip("addr", "replace", f"{link.address}/32", "dev", interface)
        for address in addresses:
            _ip("route", "replace", f"{address}/32", *via, "src", link.address, "table", table)
        _ip_quietly("rule", "del", "from", f"{link.address}/32", "table", table)
        _ip("rule", "add", "from", f"{link.address}/32", "table", table, "priority", str(RULE_PRIORITY))
        log.info("%s: %s routed through %s from %s", interface, ", ".join(addresses), link.gateway or "the link",
                 link.address)
        yield link.address
    finally:
        _ip_quietly("rule", "del", "from", f"{link.address}/32", "table", table)
        _ip_quietly("route", "flush", "table", table)
        _ip_quietly("addr", "del", f"{link.address}/32", "dev", interface)
        _ip_quietly("link", "set", "dev", interface, "down")


def network_interface_of(port: str, sysfs: Path = Path("/sys")) -> str | None:
    """The network interface of the USB modem an AT port belongs to, from sysfs; None when it has none.

    A tty's ``device`` link leads to its USB interface; the modem is the first ancestor with an
    ``idVendor``; its network interface is a ``net/<name>`` under any of its interfaces.
    """
    name = Path(port).resolve().name
    try:
        node = (sysfs / "class" / "tty" / name / "device").resolve(strict=True)
    except OSError:
        return None
    while node != node.parent and not (node / "idVendor").exists():
        node = node.parent
    if node == node.parent:
        return None
    interfaces = sorted(path.name for path in node.glob("*/net/*"))
    return interfaces[0] if interfaces else None
