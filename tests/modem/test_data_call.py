"""The data call's answers as modems write them, and finding a modem's network interface in sysfs."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.modem.data_call import DataCallError, DataLink, parse_cgpaddr, parse_huawei_dhcp
from appliance.modem.emulator.packet_data import huawei_hex
from appliance.modem.host_routes import network_interface_of


def test_huawei_dhcp_addresses_are_hex_with_their_bytes_reversed() -> None:
    answer = ["^DHCP: 0a5b3c0a,f8ffffff,095b3c0a,095b3c0a,0b7c7cd3,0a7c7cd3,43200000,43200000"]
    assert parse_huawei_dhcp(answer) == DataLink("10.60.91.10", "10.60.91.9")
    assert huawei_hex("10.60.91.10") == "0a5b3c0a"


def test_a_huawei_call_without_an_address_is_refused() -> None:
    with pytest.raises(DataCallError):
        parse_huawei_dhcp(["^DHCP: 00000000,00000000,00000000,00000000,00000000,00000000,0,0"])
    with pytest.raises(DataCallError):
        parse_huawei_dhcp(["COMMAND NOT SUPPORT"])


@pytest.mark.parametrize("line", ['+CGPADDR: 3,"10.1.2.3"', "+CGPADDR: 3,10.1.2.3", '+CGPADDR:3,"10.1.2.3"'])
def test_cgpaddr_is_read_quoted_or_not(line: str) -> None:
    assert parse_cgpaddr(['+CGPADDR: 1,"100.64.0.1"', line], 3) == "10.1.2.3"


@pytest.mark.parametrize("lines", [['+CGPADDR: 3,"0.0.0.0"'], ['+CGPADDR: 1,"10.1.2.3"'], ['+CGPADDR: 3,"fe80::1"']])
def test_a_context_without_an_ipv4_address_is_an_error(lines: list[str]) -> None:
    with pytest.raises(DataCallError):
        parse_cgpaddr(lines, 3)


def usb_modem(sysfs: Path, tty: str, net: str | None) -> None:
    """A sysfs tree as the kernel lays out a USB modem: device 1-1.2, interfaces :1.0 (net) and :1.2 (tty)."""
    device = sysfs / "devices/platform/usb1/1-1/1-1.2"
    (device / "1-1.2:1.2" / tty).mkdir(parents=True)
    (device / "idVendor").write_text("12d1\n")
    if net is not None:
        (device / "1-1.2:1.0/net" / net).mkdir(parents=True)
    (sysfs / "class/tty" / tty).mkdir(parents=True)
    (sysfs / "class/tty" / tty / "device").symlink_to(device / "1-1.2:1.2" / tty)


def test_the_network_interface_of_a_modem_is_found_next_to_its_at_port(tmp_path: Path) -> None:
    usb_modem(tmp_path, "ttyUSB2", "wwan0")
    assert network_interface_of("/dev/ttyUSB2", sysfs=tmp_path) == "wwan0"


def test_a_modem_without_a_network_interface_or_a_tty_outside_usb_has_none(tmp_path: Path) -> None:
    usb_modem(tmp_path, "ttyUSB0", None)
    assert network_interface_of("/dev/ttyUSB0", sysfs=tmp_path) is None
    assert network_interface_of("/dev/pts/7", sysfs=tmp_path) is None
