"""The operator's packet network behind the emulated modems, made of Linux network namespaces.

A real USB modem shows the host a network interface (``wwan0``, ``usb0``) next to its AT ports; a
data call on the SIM's MMS APN (``AT^NDISDUP``, ``AT+QNETDEVCTL``, ``AT+CGACT``) gives that interface
carrier and an address, and the operator's MMS proxy becomes reachable through it, and only through
it. The emulator plays this with one namespace per emulator (the operators' networks, holding every
emulated operator's published MMS proxy address on its loopback, sim.OPERATORS) and one veth pair
per modem: the host end, in the appliance's
namespace, is the modem's interface; the peer end, inside the operator's namespace, is the gateway.
The peer is down until the data call is made, so the host end has no carrier, as a real modem's
interface has none before its call.

Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2; :func:`available` says why not.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import os
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from appliance.modem.emulator.sim import OPERATORS

log = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
# The port every emulated operator's MMS proxy listens on (all of them publish 8080).
PROXY_PORT = 8080

T = TypeVar("T")


class OperatorNetworkUnavailable(Exception):
    """This machine cannot build namespaces here (not root, no iproute2)."""


@dataclass(frozen=True)
class DataLink:
    """What the network hands a modem for a data call: its address and the gateway beyond its link."""

    address: str
    gateway: str
    netmask: str = "255.255.255.255"
    dns: tuple[str, ...] = ()


def available() -> str | None:
    """None when namespaces can be built here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "the operator network needs root (network namespaces and veth pairs)"
    if shutil.which("ip") is None:
        return "the operator network needs iproute2's ip command"
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise OperatorNetworkUnavailable(f"ip {' '.join(args)}: {result.stderr.strip()}")


class OperatorNetwork:
    """One operator namespace per emulator; interfaces named with a random tag so emulators coexist."""

    def __init__(self) -> None:
        reason = available()
        if reason is not None:
            raise OperatorNetworkUnavailable(reason)
        self.tag = secrets.token_hex(2)
        self.namespace = f"emuop-{self.tag}"
        # Each emulator picks one /16 of 10.64.0.0/10 for its modems' links: two at once rarely meet.
        self._second_octet = 64 + int(self.tag, 16) % 64
        self._lock = threading.Lock()
        self._links: dict[int, str] = {}
        _ip("netns", "add", self.namespace)
        try:
            self._in_namespace("link", "set", "lo", "up")
            for address in self.proxy_addresses():
                self._in_namespace("addr", "add", f"{address}/32", "dev", "lo")
        except OperatorNetworkUnavailable:
            self.close()
            raise

    @staticmethod
    def proxy_addresses() -> list[str]:
        return sorted({operator.mms_proxy.rsplit(":", 1)[0] for operator in OPERATORS})

    def _in_namespace(self, *args: str) -> None:
        _ip("-n", self.namespace, *args)

    # ---- modems ---------------------------------------------------------------------------

    def interface(self, modem_id: int) -> str:
        """The host-side name of the modem's network interface (at most 15 characters)."""
        return f"emu{self.tag}m{modem_id}"

    def _peer(self, modem_id: int) -> str:
        return f"op{self.tag}m{modem_id}"

    def link_for(self, modem_id: int) -> DataLink:
        base = ipaddress.ip_address(f"10.{self._second_octet}.0.0") + modem_id * 4  # a /30 per modem
        return DataLink(address=str(base + 2), gateway=str(base + 1), dns=(str(base + 1),))

    def add_modem(self, modem_id: int) -> str:
        """Create the modem's interface (no carrier yet); idempotent."""
        with self._lock:
            if modem_id in self._links:
                return self._links[modem_id]
            host, peer = self.interface(modem_id), self._peer(modem_id)
            _ip("link", "add", host, "type", "veth", "peer", "name", peer, "netns", self.namespace)
            link = self.link_for(modem_id)
            self._in_namespace("addr", "add", f"{link.gateway}/30", "dev", peer)
            self._links[modem_id] = host
            return host

    def connect(self, modem_id: int) -> DataLink:
        """The data call: the link comes up on the operator's side."""
        self.add_modem(modem_id)
        self._in_namespace("link", "set", self._peer(modem_id), "up")
        return self.link_for(modem_id)

    def disconnect(self, modem_id: int) -> None:
        if modem_id in self._links:
            self._in_namespace("link", "set", self._peer(modem_id), "down")

    def close(self) -> None:
        """Remove the namespace (its veth peers, and so the host ends, go with it)."""
        with self._lock:
            for host in self._links.values():
                subprocess.run(["ip", "link", "del", host], capture_output=True, check=False)
            self._links.clear()
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True, check=False)

    # ---- sockets inside the operator's network -----------------------------------------------

    def listen(self, port: int = PROXY_PORT, address: str = "0.0.0.0") -> socket.socket:  # noqa: S104
        """A listening TCP socket inside the namespace (a socket stays in the namespace it was made in);
        on every address there by default, i.e. on every operator's proxy address."""

        def make() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(64)
            return sock

        return self._run_inside(make)

    def _run_inside(self, work: Callable[[], T]) -> T:
        """Run ``work`` in a thread that has entered the namespace: setns moves only the calling thread."""
        outcome: dict[str, object] = {}

        def enter_and_work() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            try:
                with open(f"/run/netns/{self.namespace}", "rb") as handle:
                    if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns into the operator namespace failed")
                outcome["value"] = work()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
                outcome["error"] = exc

        thread = threading.Thread(target=enter_and_work, name="operator-netns", daemon=True)
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["value"]  # type: ignore[return-value]
