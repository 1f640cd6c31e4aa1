"""Packet data of an emulated modem: PDP contexts, the data call, and the vendor commands that make it.

What the appliance needs for MMS is one short data call on the SIM's MMS APN, through the modem's
network interface. The commands, per personality:

- every modem (TS 27.007 §10.1): ``+CGDCONT`` defines a context, ``+CGAUTH`` its user and password,
  ``+CGACT`` activates it, ``+CGPADDR`` reads the address it got;
- Huawei (NDIS/NCM sticks such as the E3372 in "stick" mode): ``^NDISDUP=<cid>,<connect>,<apn>,
  <user>,<password>,<auth>`` dials on the network interface, ``^NDISSTATQRY?`` says whether it is up
  (``^NDISSTAT: <stat>,,,"IPV4"`` also arrives as a URC), ``^DHCP?`` gives address, netmask, gateway
  and DNS as 8 hex digits each, the address's bytes in reverse order (``0a5b3c0a`` is 10.60.91.10);
- Quectel (EC2x): ``+QICSGP=<cid>,<type>,<apn>,<user>,<password>,<auth>`` sets the context,
  ``+QNETDEVCTL=<op>,<cid>,<urc_en>`` (op 1 connect, 0 disconnect) dials on the network interface,
  ``+QNETDEVCTL?`` answers ``<op>,<cid>,<urc_en>,<state>``.

A modem without a network interface (the SIM800) still activates a context with ``+CGACT``, as the
real one does for its own TCP/IP stack, but no traffic reaches the host.

The network answers an APN other than the SIM operator's MMS APN with ``+CME ERROR: 533`` (missing
or unknown APN, TS 27.007 §9.2.2) and credentials other than the operator's (Orange wants mms/mms,
the others none) with 149 (PDP authentication failure). A call drops when the modem powers off
(unplug, reset).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.modem.emulator.at_syntax import CmeError, Command, SyntaxFault, int_arg, split_args
from appliance.modem.emulator.operator_network import DataLink, OperatorNetwork, OperatorNetworkUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from appliance.modem.emulator.at_interpreter import AtInterpreter
    from appliance.modem.emulator.sim import Operator

UNKNOWN_APN = 533
AUTHENTICATION_FAILED = 149
UNSPECIFIED_GPRS_ERROR = 148
NO_NETWORK_SERVICE = 30


@dataclass
class Context:
    apn: str = ""
    pdp_type: str = "IP"
    user: str = ""
    password: str = ""


@dataclass
class PacketData:
    """Survives an unplug like the rest of the device; the active call does not (``power_off``)."""

    modem_id: int
    network: OperatorNetwork | None = None  # set when the modem shows the host a network interface
    contexts: dict[int, Context] = field(default_factory=dict)
    active_cid: int | None = None
    link: DataLink | None = None

    @property
    def interface(self) -> str | None:
        return self.network.interface(self.modem_id) if self.network is not None else None

    def context(self, cid: int) -> Context:
        return self.contexts.setdefault(cid, Context())

    def connect(self, cid: int, operator: Operator) -> DataLink:
        context = self.context(cid)
        if context.apn.lower() != operator.mms_apn.lower():
            raise CmeError(UNKNOWN_APN)
        if (context.user, context.password) != (operator.mms_user, operator.mms_password):
            raise CmeError(AUTHENTICATION_FAILED)
        if self.network is None:
            # Activated in the modem (its own IP stack), nothing reaches a host interface.
            link = DataLink(address=f"100.64.{self.modem_id // 256}.{self.modem_id % 256}", gateway="100.64.255.254")
        else:
            try:
                link = self.network.connect(self.modem_id)
            except OperatorNetworkUnavailable:
                raise CmeError(UNSPECIFIED_GPRS_ERROR) from None
        self.active_cid, self.link = cid, link
        return link

    def disconnect(self) -> None:
        if self.network is not None and self.link is not None:
            self.network.disconnect(self.modem_id)
        self.active_cid, self.link = None, None

    power_off = disconnect


def handlers(interpreter: AtInterpreter) -> dict[str, Callable[[Command], list[str] | None]]:
    """The packet-data commands of ``interpreter``'s personality."""
    commands = _PacketCommands(interpreter)
    table: dict[str, Callable[[Command], list[str] | None]] = {
        "+CGDCONT": commands.cgdcont,
        "+CGAUTH": commands.cgauth,
        "+CGACT": commands.cgact,
        "+CGPADDR": commands.cgpaddr,
    }
    if interpreter.person.name == "huawei":
        table.update({"^NDISDUP": commands.ndisdup, "^NDISSTATQRY": commands.ndisstatqry, "^DHCP": commands.dhcp})
    elif interpreter.person.name == "quectel":
        table.update({"+QICSGP": commands.qicsgp, "+QNETDEVCTL": commands.qnetdevctl})
    return table


def huawei_hex(address: str) -> str:
    """An IPv4 address as ^DHCP writes it: its four bytes reversed, as 8 hex digits."""
    return ipaddress.IPv4Address(address).packed[::-1].hex()


class _PacketCommands:
    def __init__(self, interpreter: AtInterpreter) -> None:
        self.at = interpreter

    @property
    def data(self) -> PacketData:
        return self.at.device.packet

    def _ready_to_dial(self) -> Operator:
        """The SIM's operator, once the modem may dial (SIM ready, registered)."""
        sim = self.at.require_sim_cme()
        if self.at.registration_stat() not in (1, 5):
            raise CmeError(NO_NETWORK_SERVICE)
        return sim.identity.operator

    @staticmethod
    def _cid(value: str) -> int:
        return int_arg(value or "1", 1, 16)

    # ---- TS 27.007 ----------------------------------------------------------------------------

    def cgdcont(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return ['+CGDCONT: (1-16),"IP",,,(0-2),(0-4)']
        if command.form == "read":
            return [f'+CGDCONT: {cid},"{c.pdp_type}","{c.apn}","0.0.0.0",0,0'
                    for cid, c in sorted(self.data.contexts.items())]
        args = split_args(command.args)
        cid = self._cid(args[0] if args else "")
        if len(args) == 1:
            self.data.contexts.pop(cid, None)
            return None
        context = self.data.context(cid)
        context.pdp_type = (args[1] or "IP").upper()
        context.apn = args[2] if len(args) > 2 else ""
        return None

    def cgauth(self, command: Command) -> list[str] | None:
        if command.form in ("test", "read"):
            return None
        args = split_args(command.args)
        context = self.data.context(self._cid(args[0] if args else ""))
        auth = int_arg(args[1], 0, 3) if len(args) > 1 and args[1] else 0
        context.user = args[2] if auth and len(args) > 2 else ""
        context.password = args[3] if auth and len(args) > 3 else ""
        return None

    def cgact(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return ["+CGACT: (0,1)"]
        if command.form == "read":
            return [f"+CGACT: {cid},{1 if cid == self.data.active_cid else 0}" for cid in sorted(self.data.contexts)]
        args = split_args(command.args)
        state = int_arg(args[0] if args else "0", 0, 1)
        cid = self._cid(args[1] if len(args) > 1 else "")
        if state == 1:
            self.data.connect(cid, self._ready_to_dial())
        elif self.data.active_cid == cid:
            self.data.disconnect()
        return None

    def cgpaddr(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return ["+CGPADDR: (" + ",".join(str(cid) for cid in sorted(self.data.contexts)) + ")"]
        wanted = [self._cid(arg) for arg in split_args(command.args)] or sorted(self.data.contexts)
        lines = []
        for cid in wanted:
            link = self.data.link if cid == self.data.active_cid else None
            lines.append(f'+CGPADDR: {cid},"{link.address if link else "0.0.0.0"}"')
        return lines

    # ---- Huawei -------------------------------------------------------------------------------

    def ndisdup(self, command: Command) -> list[str] | None:
        if command.form != "set":
            return None
        args = split_args(command.args)
        if len(args) < 2:
            raise SyntaxFault("^NDISDUP needs <cid>,<connect>")
        cid, connect = self._cid(args[0]), int_arg(args[1], 0, 1)
        if connect == 0:
            if self.data.active_cid == cid:
                self.data.disconnect()
                self.at.queue_urc('^NDISSTAT: 0,,,"IPV4"')
            return None
        context = self.data.context(cid)
        if len(args) > 2:
            context.apn = args[2]
        context.user = args[3] if len(args) > 3 else ""
        context.password = args[4] if len(args) > 4 else ""
        self.data.connect(cid, self._ready_to_dial())
        self.at.queue_urc('^NDISSTAT: 1,,,"IPV4"')
        return None

    def ndisstatqry(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return None
        return [f'^NDISSTATQRY: {1 if self.data.link else 0},,,"IPV4"']

    def dhcp(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return None
        link = self.data.link
        if link is None or self.data.network is None:
            raise CmeError(UNSPECIFIED_GPRS_ERROR)
        dns = [*link.dns, *link.dns][:2] or [link.gateway, link.gateway]
        fields = [huawei_hex(link.address), huawei_hex("255.255.255.252"), huawei_hex(link.gateway),
                  huawei_hex(link.gateway), huawei_hex(dns[0]), huawei_hex(dns[1])]
        return ["^DHCP: " + ",".join(fields) + ",150000000,50000000"]

    # ---- Quectel ------------------------------------------------------------------------------

    def qicsgp(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return ['+QICSGP: (1-16),(1-3),"APN","USERNAME","PASSWORD",(0-3)']
        args = split_args(command.args)
        cid = self._cid(args[0] if args else "")
        context = self.data.context(cid)
        if len(args) == 1:
            return [f'+QICSGP: 1,"{context.apn}","{context.user}","{context.password}",0']
        context.apn = args[2] if len(args) > 2 else ""
        context.user = args[3] if len(args) > 3 else ""
        context.password = args[4] if len(args) > 4 else ""
        return None

    def qnetdevctl(self, command: Command) -> list[str] | None:
        if command.form == "test":
            return ["+QNETDEVCTL: (0-3),(1-16),(0,1)"]
        if command.form == "read":
            up = self.data.link is not None
            return [f"+QNETDEVCTL: {1 if up else 0},{self.data.active_cid or 1},0,{1 if up else 0}"]
        args = split_args(command.args)
        op = int_arg(args[0] if args else "0", 0, 3)
        cid = self._cid(args[1] if len(args) > 1 else "")
        if op == 0:
            if self.data.active_cid == cid:
                self.data.disconnect()
            return None
        self.data.connect(cid, self._ready_to_dial())
        return None
