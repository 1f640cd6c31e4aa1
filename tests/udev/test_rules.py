"""udev/77-appliance-modems.rules: strictly well-formed, and what udev itself makes of it for the
recorded modems (tests/udev/devices/): ModemManager told to ignore them, the service user's group,
the stable /dev/gsm/ names. No real udev daemon is involved: ``udevadm test`` runs the rule engine
(with its usb_id builtin) on a umockdev testbed, inside a private mount namespace whose
/etc/udev/rules.d holds only our file and whose /dev and /run are scratch (udevadm test of systemd
252 really creates the links and database entries it computes).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.modem.discovery import MASS_STORAGE_MODE, MODEM_VENDORS, PLACEHOLDER_SERIALS
from tests.udev.testbed import DEVICES, device_records, umockdev_problem

RULES = Path(__file__).parents[2] / "udev" / "77-appliance-modems.rules"
FIXTURES = sorted(path.stem for path in DEVICES.glob("*.umockdev"))

# Properties the kernel itself puts in a device's uevent; everything else in a recording came from
# udev rules, which is what udevadm test has to compute afresh.
KERNEL_PROPERTIES = {"DEVNAME", "DEVTYPE", "DRIVER", "PRODUCT", "TYPE", "INTERFACE", "MODALIAS", "BUSNUM",
                     "DEVNUM", "MAJOR", "MINOR", "SUBSYSTEM", "IFINDEX"}


# ---- a strict reader of our rule syntax ----------------------------------------------------------

MATCH_KEYS = {"ACTION", "DEVPATH", "KERNEL", "NAME", "SYMLINK", "SUBSYSTEM", "DRIVER", "ATTR", "SYSCTL",
              "KERNELS", "SUBSYSTEMS", "DRIVERS", "ATTRS", "TAGS", "ENV", "CONST", "TAG", "TEST", "PROGRAM",
              "RESULT"}
ASSIGN_KEYS = {"NAME", "SYMLINK", "OWNER", "GROUP", "MODE", "SECLABEL", "ATTR", "SYSCTL", "ENV", "TAG", "RUN",
               "LABEL", "GOTO", "IMPORT", "OPTIONS"}
NEEDS_ATTRIBUTE = {"ATTR", "ATTRS", "ENV", "SYSCTL", "IMPORT", "CONST", "SECLABEL"}
MAY_HAVE_ATTRIBUTE = NEEDS_ATTRIBUTE | {"TEST", "RUN"}
ASSIGN_ONLY = {"OWNER", "GROUP", "MODE", "SECLABEL", "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS"}
# PROGRAM is a match that udev also accepts (and people write) with "=".
MATCH_ONLY = {"ACTION", "DEVPATH", "KERNEL", "SUBSYSTEM", "DRIVER", "KERNELS", "SUBSYSTEMS", "DRIVERS", "ATTRS",
              "TAGS", "CONST", "TEST", "RESULT"}
SINGLE_ASSIGN = {"LABEL", "GOTO"}  # "=" only

_PAIR = re.compile(r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[^{}"]+)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*'
                   r'"(?P<value>(?:[^"\\]|\\.)*)"\s*(?P<sep>,?)')


@dataclass(frozen=True)
class Pair:
    key: str
    attr: str | None
    op: str
    value: str


@dataclass(frozen=True)
class Rule:
    line: int
    pairs: tuple[Pair, ...]

    def values(self, key: str, attr: str | None = None, op: str | None = None) -> list[str]:
        return [pair.value for pair in self.pairs
                if pair.key == key and pair.attr == attr and (op is None or pair.op == op)]


class RuleSyntaxError(ValueError):
    pass


def parse_rules(text: str) -> list[Rule]:
    """Rules of a udev rules file, or RuleSyntaxError naming the line. Stricter than udev 252, which
    silently accepts a missing comma between two pairs."""
    rules: list[Rule] = []
    logical, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not logical:
            start = number
        stripped = raw.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if raw.endswith("\\"):
            logical += raw[:-1]
            continue
        logical += raw
        rules.append(_parse_rule(start, logical))
        logical = ""
    if logical:
        raise RuleSyntaxError(f"line {start}: file ends in a line continuation")
    labels = {rule.values("LABEL")[0] for rule in rules if rule.values("LABEL")}
    for rule in rules:
        for target in rule.values("GOTO"):
            if target not in labels:
                raise RuleSyntaxError(f"line {rule.line}: GOTO={target!r} has no LABEL")
    return rules


def _parse_rule(number: int, text: str) -> Rule:
    pairs, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None:
            raise RuleSyntaxError(f"line {number}: cannot read {text[position:]!r} as KEY{{attr}}OP\"value\"")
        if match["sep"] != "," and match.end() != len(text):
            raise RuleSyntaxError(f"line {number}: pairs must be separated by commas")
        if match["sep"] == "," and match.end() == len(text):
            raise RuleSyntaxError(f"line {number}: trailing comma")
        pair = Pair(match["key"], match["attr"], match["op"], match["value"])
        _check_pair(number, pair)
        pairs.append(pair)
        position = match.end()
    return Rule(number, tuple(pairs))


def _check_pair(number: int, pair: Pair) -> None:
    where = f"line {number}: {pair.key}"
    if pair.key not in MATCH_KEYS | ASSIGN_KEYS:
        raise RuleSyntaxError(f"{where} is no udev key")
    if pair.attr is None and pair.key in NEEDS_ATTRIBUTE:
        raise RuleSyntaxError(f"{where} needs {{attribute}}")
    if pair.attr is not None and pair.key not in MAY_HAVE_ATTRIBUTE:
        raise RuleSyntaxError(f"{where} takes no {{attribute}}")
    matching = pair.op in ("==", "!=")
    if matching and pair.key in ASSIGN_ONLY:
        raise RuleSyntaxError(f"{where} cannot be matched with {pair.op}")
    if not matching and pair.key in MATCH_ONLY:
        raise RuleSyntaxError(f"{where} cannot be assigned with {pair.op}")
    if pair.key in SINGLE_ASSIGN and pair.op != "=":
        raise RuleSyntaxError(f"{where} takes only =")


class TestTheSyntaxReader:
    """The reader must refuse what udev would misread, or it proves nothing about our file."""

    @pytest.mark.parametrize("line, complaint", [
        ('SUBSYSTEM=="tty" ENV{FOO}="1"', "commas"),
        ('SUBSYSTEM=="tty", ENVV{FOO}="1"', "no udev key"),
        ('SUBSYSTEM=="tty", ENV{FOO}=="1', "cannot read"),
        ('SUBSYSTEM="tty"', "cannot be assigned"),
        ('GROUP=="dialout"', "cannot be matched"),
        ('ENV="x"', "needs {attribute}"),
        ('SUBSYSTEM{x}=="tty"', "takes no {attribute}"),
        ('SUBSYSTEM=="tty",', "trailing comma"),
        ('GOTO+="end"', "takes only ="),
        ('GOTO="nowhere"', "has no LABEL"),
    ])
    def test_a_malformed_rule_is_refused_with_its_line(self, line: str, complaint: str) -> None:
        with pytest.raises(RuleSyntaxError, match=complaint):
            parse_rules(f"# comment\n\n{line}\n")

    def test_continuations_and_escaped_quotes_are_one_rule(self) -> None:
        rules = parse_rules('KERNEL=="ttyUSB*", \\\n  PROGRAM="/bin/echo \\"x\\"", LABEL="end"\n')
        assert [(rule.line, len(rule.pairs)) for rule in rules] == [(1, 3)]
        assert rules[0].values("PROGRAM") == ['/bin/echo \\"x\\"']


class TestTheShippedRulesText:
    @pytest.fixture(autouse=True)
    def _rules(self) -> None:
        self.rules = parse_rules(RULES.read_text())

    def test_are_strictly_well_formed_and_open_with_the_action_guard(self) -> None:
        first = self.rules[0]
        assert first.values("ACTION", op="!=") == ["add|change|move|bind"]
        assert first.values("GOTO") == ["appliance_modems_end"]
        assert self.rules[-1].values("LABEL") == ["appliance_modems_end"]

    def test_claim_the_same_vendors_for_the_usb_device_and_its_ttys_as_discovery_knows(self) -> None:
        device_level = {value for rule in self.rules for value in rule.values("ATTR", "idVendor")}
        tty_level = {value for rule in self.rules for value in rule.values("ATTRS", "idVendor") if value != "?*"}
        assert device_level == tty_level == set(MODEM_VENDORS)

    def test_never_name_a_modem_after_a_serial_number_every_unit_shares(self) -> None:
        skipped = {value for rule in self.rules for value in rule.values("ENV", "ID_SERIAL_SHORT", "==")
                   if value and rule.values("GOTO")}
        assert skipped == set(PLACEHOLDER_SERIALS)

    def test_tag_modemmanager_ignore_and_the_dialout_group(self) -> None:
        assigned = [(pair.key, pair.attr, pair.value) for rule in self.rules for pair in rule.pairs if pair.op == "="]
        assert ("ENV", "ID_MM_DEVICE_IGNORE", "1") in assigned
        assert ("GROUP", None, "dialout") in assigned and ("MODE", None, "0660") in assigned


# ---- what udev makes of it -----------------------------------------------------------------------

@dataclass(frozen=True)
class UdevOutcome:
    properties: dict[str, str]
    log: list[str]

    @property
    def gsm_links(self) -> set[str]:
        return {link for link in self.properties.get("DEVLINKS", "").split() if link.startswith("/dev/gsm/")}

    def applied(self, what: str) -> bool:
        return any(re.search(rf"77-appliance-modems\.rules:\d+ {what}", line) for line in self.log)


_NAMESPACE_SCRIPT = r"""
set -eu
rules="$1"; work="$2"; shift 2
mkdir -p "$work/empty" "$work/olddev"
mount --rbind /dev "$work/olddev"
mount -t tmpfs tmpfs /dev
touch /dev/null && mount --bind "$work/olddev/null" /dev/null
mkdir /dev/pts && mount --rbind "$work/olddev/pts" /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs tmpfs /run
mount --bind "$rules" /etc/udev/rules.d
mount --bind "$work/empty" /usr/lib/udev/rules.d
exec "$@"
"""


def unshare_command() -> list[str]:
    # As root (CI) a private mount namespace; otherwise one inside a user namespace.
    if os.geteuid() == 0:
        return ["unshare", "--mount", "--propagation", "private"]
    return ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]


def kernel_view(text: str) -> str:
    """A recording as the kernel announces the device: without the properties udev rules added."""
    records = []
    for _, record in device_records(text):
        kept = [line for line in record.splitlines()
                if not line.startswith("S: ")
                and not (line.startswith("E: ") and line[3:].split("=", 1)[0] not in KERNEL_PROPERTIES
                         and not line[3:].startswith(("PCI_", "OF_")))]
        records.append("\n".join(kept) + "\n")
    return "\n".join(records)


_MARK = "@@@ udevadm test of "


def run_udevadm_test(fixture: str, sys_paths: list[str], tmp_path: Path) -> dict[str, UdevOutcome]:
    rules_dir = tmp_path / "rules.d"
    rules_dir.mkdir()
    (rules_dir / RULES.name).write_text(RULES.read_text())
    device_file = tmp_path / f"{fixture}.umockdev"
    device_file.write_text(kernel_view((DEVICES / f"{fixture}.umockdev").read_text()))
    loop = "; ".join(f"echo '{_MARK}{path}'; udevadm test --action=add {shlex.quote(path)} 2>&1"
                     for path in sys_paths)
    command = [*unshare_command(), "sh", "-c", _NAMESPACE_SCRIPT, "namespace", str(rules_dir), str(tmp_path / "ns"),
               "umockdev-run", "-d", str(device_file), "--", "sh", "-c", loop]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"udevadm test failed ({run.returncode}): {run.stdout[-2000:]}{run.stderr[-2000:]}"
    outcomes: dict[str, UdevOutcome] = {}
    for chunk in run.stdout.split(_MARK)[1:]:
        path, _, output = chunk.partition("\n")
        log, _, properties = output.partition("specified by a RUN key.")
        values = dict(line.split("=", 1) for line in properties.splitlines() if "=" in line)
        outcomes[path] = UdevOutcome(values, log.splitlines())
    return outcomes


def recorded(fixture: str) -> dict[str, dict[str, str]]:
    """Properties of each device as recorded (with our rules installed), by sysfs path."""
    out = {}
    for path, record in device_records((DEVICES / f"{fixture}.umockdev").read_text()):
        out[path] = dict(line[3:].split("=", 1) for line in record.splitlines() if line.startswith("E: "))
    return out


@pytest.fixture(scope="module")
def umockdev_ready() -> None:
    problem = umockdev_problem()
    if problem:
        pytest.fail(problem)


@pytest.fixture(scope="module")
def udev_outcomes(umockdev_ready: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """For every fixture: udevadm's verdict on its ttys, network interfaces and the modem's USB device."""
    outcomes = {}
    for fixture in FIXTURES:
        devices = recorded(fixture)
        usb_devices = [path for path, props in devices.items() if props.get("DEVTYPE") == "usb_device"]
        modem = max(usb_devices, key=len)
        wanted = [path for path, props in devices.items() if props.get("SUBSYSTEM") in ("tty", "net")] + [modem]
        outcomes[fixture] = run_udevadm_test(fixture, wanted, tmp_path_factory.mktemp(fixture))
    return outcomes


def test_udev_reads_the_file_without_a_complaint(udev_outcomes: dict[str, dict]) -> None:
    for fixture, outcomes in udev_outcomes.items():
        for path, outcome in outcomes.items():
            # Device-independent lines ("<file>:<line> Invalid key …") are udev's parse diagnostics.
            complaints = [line for line in outcome.log if line.startswith("/etc/udev/rules.d/77-appliance-modems")]
            assert not complaints, f"{fixture} {path}: {complaints}"


@pytest.mark.parametrize("fixture", FIXTURES)
def test_a_recorded_device_gets_what_the_rules_promise(fixture: str, udev_outcomes: dict[str, dict]) -> None:
    """udev's result on the bare (kernel) device equals the recording made with our rules installed."""
    for path, expected in recorded(fixture).items():
        if path not in udev_outcomes[fixture]:
            continue
        outcome = udev_outcomes[fixture][path]
        for key in ("ID_MM_DEVICE_IGNORE", "APPLIANCE_MODEM_VENDOR", "ID_USB_INTERFACE_NUM", "ID_SERIAL"):
            if expected.get("SUBSYSTEM") != "tty" and key in ("ID_USB_INTERFACE_NUM", "ID_SERIAL"):
                continue
            assert outcome.properties.get(key) == expected.get(key), f"{path}: {key}"
        expected_links = {link for link in expected.get("DEVLINKS", "").split() if link.startswith("/dev/gsm/")}
        assert outcome.gsm_links == expected_links, path
        if expected.get("SUBSYSTEM") == "tty":
            assert outcome.applied("GROUP 20") == outcome.applied("MODE 0660") == ("APPLIANCE_MODEM_VENDOR" in expected)


def test_every_vendor_and_driver_the_rules_claim_matches_a_recorded_device(udev_outcomes: dict[str, dict]) -> None:
    rules = parse_rules(RULES.read_text())
    claimed = {value for rule in rules for value in rule.values("ENV", "APPLIANCE_MODEM_VENDOR", "=")}
    seen_tty = {outcome.properties.get("APPLIANCE_MODEM_VENDOR") for outcomes in udev_outcomes.values()
                for path, outcome in outcomes.items() if "/tty/" in path}
    seen_usb = {outcome.properties.get("APPLIANCE_MODEM_VENDOR") for outcomes in udev_outcomes.values()
                for path, outcome in outcomes.items() if "/tty/" not in path and "/net/" not in path}
    assert claimed <= seen_tty, f"no recorded tty for {claimed - seen_tty}"
    assert claimed - {"generic"} <= seen_usb, f"no recorded USB device for {claimed - {'generic'} - seen_usb}"


def test_the_huawei_sticks_ttys_are_ignored_by_modemmanager_and_named_by_hub_port(
        udev_outcomes: dict[str, dict]) -> None:
    ttys = {path.rsplit("/", 1)[1]: outcome for path, outcome in udev_outcomes["huawei-e3372-stick"].items()
            if "/tty/" in path}
    assert sorted(ttys) == ["ttyUSB0", "ttyUSB1", "ttyUSB2"]
    for name, outcome in ttys.items():
        assert outcome.properties["ID_MM_DEVICE_IGNORE"] == "1", name
    # Every E3372 says it is 0123456789ABCDEF, so only the hub port tells two of them apart.
    assert ttys["ttyUSB2"].gsm_links == {"/dev/gsm/port-1-1.2-if02"}


def test_a_modem_with_a_serial_number_of_its_own_gets_a_by_serial_name_too(udev_outcomes: dict[str, dict]) -> None:
    telit = udev_outcomes["telit-le910c1"]
    at_port = next(outcome for path, outcome in telit.items() if path.endswith("/tty/ttyUSB2"))
    assert at_port.gsm_links == {"/dev/gsm/port-1-1.2-if04", "/dev/gsm/usb-Telit_LE910C1-EU_a6c3f1d2-if04"}


def test_the_usb_device_lets_the_service_group_reset_it(udev_outcomes: dict[str, dict]) -> None:
    usb = next(outcome for path, outcome in udev_outcomes["huawei-e3372-stick"].items() if path.endswith("/1-1.2"))
    assert usb.properties["ID_MM_DEVICE_IGNORE"] == "1"
    assert usb.applied(r"RUN '/bin/chgrp dialout /sys%p/authorized'")
    assert usb.applied(r"RUN '/bin/chmod g\+w /sys%p/authorized'")


# ---- usb_modeswitch ------------------------------------------------------------------------------

MODESWITCH_RULES = Path("/lib/udev/rules.d/40-usb_modeswitch.rules")
MODESWITCH_DATA = Path("/usr/share/usb_modeswitch/configPack.tar.gz")


def test_every_mass_storage_stick_we_explain_is_switched_by_debians_usb_modeswitch_data() -> None:
    """We add no switching of our own: Debian's usb-modeswitch-data knows these sticks. What we add is
    recognising one it did not switch, with the command that would (the same as its data says)."""
    if not (MODESWITCH_RULES.exists() and MODESWITCH_DATA.exists()):
        pytest.fail("usb_modeswitch data missing: apt-get install usb-modeswitch usb-modeswitch-data")
    rules = MODESWITCH_RULES.read_text()
    with tarfile.open(MODESWITCH_DATA) as pack:
        configs = {member.name: pack.extractfile(member).read().decode() for member in pack.getmembers()
                   if member.isfile()}
    for usb_id, (model, arguments) in MASS_STORAGE_MODE.items():
        vendor, product = usb_id.split(":")
        assert usb_id in configs, f"{model} ({usb_id}) unknown to usb-modeswitch-data"
        # Huawei sticks are switched by the data's generic rule (interface 0 of class 08), others by name.
        generic_huawei = vendor == "12d1" and 'ATTRS{idVendor}=="12d1", ATTRS{manufacturer}!="Android", ' \
            'ATTR{bInterfaceNumber}=="00", ATTR{bInterfaceClass}=="08"' in rules
        assert generic_huawei or f'ATTR{{idVendor}}=="{vendor}", ATTR{{idProduct}}=="{product}"' in rules, usb_id
        config = configs[usb_id]
        if arguments == "-J":
            assert "HuaweiNewMode=1" in config, usb_id
        elif arguments == "-K":
            assert "StandardEject=1" in config, usb_id
        else:
            assert arguments.startswith("-M ") and f'MessageContent="{arguments[3:]}"' in config, usb_id


# ---- installing ----------------------------------------------------------------------------------

def test_install_udev_copies_the_shipped_rules_into_the_target(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from appliance.cli import main

    target = tmp_path / "etc" / "udev" / "rules.d"
    result = CliRunner().invoke(main, ["install-udev", "--target", str(target), "--no-reload"])
    assert result.exit_code == 0, result.output
    assert (target / RULES.name).read_text() == RULES.read_text()
    assert f"installed {target / RULES.name}" in result.output
