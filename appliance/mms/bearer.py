"""How an MMS fetch reaches the operator's MMSC: over the SIM's own data call, or over the LAN.

``ModemBearer`` is what a Raspberry Pi with USB modems needs: for each fetch, a data call on the
access number's MMS APN through the modem holding its SIM (data_call.py), host routes to the MMS
proxy through that modem's network interface only (host_routes.py), and both undone afterwards. The
fetch binds to the call's address. ``LanBearer`` uses the box's own network, for an MMSC reachable
from the LAN and for an emulator running without root (no network namespaces).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol
from urllib.parse import urlsplit

from appliance.modem.data_call import Apn, DataCallError
from appliance.modem.host_routes import RouteError, network_interface_of, routed_through
from appliance.modem.session import ModemSession


class BearerError(Exception):
    """No way to the MMSC now (no modem holds the SIM, the call failed); worth trying again later."""


class MmsBearer(Protocol):
    def open(self, iccid: str, apn: Apn, url: str, proxy: str | None) -> contextlib.AbstractContextManager[str | None]:
        """Make ``url`` (through ``proxy``) reachable; the context gives the source address to bind to."""
        ...


class LanBearer:
    def open(self, iccid: str, apn: Apn, url: str, proxy: str | None) -> contextlib.AbstractContextManager[str | None]:
        return contextlib.nullcontext()


class ModemBearer:
    """A data call through the modem holding the SIM, routes to the proxy (or MMSC host) only."""

    def __init__(self, session_for_sim: Callable[[str], ModemSession | None],
                 interfaces: Mapping[str, str] | None = None) -> None:
        self._session_for_sim = session_for_sim
        # Port → interface for modems sysfs cannot tell about (emulated ones, odd USB layouts).
        self._interfaces = dict(interfaces or {})

    @contextlib.contextmanager
    def open(self, iccid: str, apn: Apn, url: str, proxy: str | None) -> Iterator[str | None]:
        session = self._session_for_sim(iccid)
        if session is None:
            raise BearerError(f"no modem holds SIM {iccid} now")
        interface = self._interfaces.get(session.port) or network_interface_of(session.port)
        if interface is None:
            raise BearerError(f"the modem on {session.port} shows no network interface for a data call; MMS needs "
                              "a modem with one (NCM, QMI, ECM), or modem_interfaces in the settings")
        host = (proxy.rsplit(":", 1)[0] if proxy else urlsplit(url).hostname) or ""
        try:
            with session.data_call(apn) as link, routed_through(interface, link, [host]) as source:
                yield source
        except (DataCallError, RouteError) as exc:
            raise BearerError(str(exc)) from exc
