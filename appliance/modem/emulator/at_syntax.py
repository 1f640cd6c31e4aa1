"""The syntax of an AT command line (V.250 §5.4) and the errors a command ends with.

Kept apart from the interpreter so that command sets living in their own modules (packet data) can
parse arguments and raise the same errors without importing the interpreter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class AtError(Exception):
    """A command failed; the final result code ends the command line."""


class SyntaxFault(AtError):
    """Plain ERROR: the command line could not be parsed or a parameter is out of range."""


class Unsupported(AtError):
    """The firmware does not know the command (ERROR; Huawei: COMMAND NOT SUPPORT)."""


class CmeError(AtError):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class CmsError(AtError):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class FinalResult(Exception):
    """A command ending with a final result other than OK (ATD: NO CARRIER)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class Command:
    name: str  # "+CMGF", "^ICCID", "E", "&F", "S7", "D"
    form: str  # "exec", "read" (?), "test" (=?), "set" (=)
    args: str = ""  # after "=" for set; the digits of a basic command; the dial string of D


_EXTENDED_PREFIXES = "+^$%#*!"
_EXTENDED_NAME = re.compile(r"[A-Za-z0-9_!%\-./:&]+")


def parse_command_line(body: str) -> list[Command]:
    """Split what follows "AT" into commands (V.250 §5.2): basic ones run together ("E0V1", "&F"),
    extended ones separated by ";" ("+CMGF=0;+CNMI=2,1"). Raises SyntaxFault."""
    commands: list[Command] = []
    pos = 0
    n = len(body)
    while pos < n:
        char = body[pos]
        if char in " ;":
            pos += 1
        elif char in _EXTENDED_PREFIXES:
            match = _EXTENDED_NAME.match(body, pos + 1)
            name = char + (match.group(0).upper() if match else "")
            pos = match.end() if match else pos + 1
            if body.startswith("=?", pos):
                commands.append(Command(name, "test"))
                pos += 2
            elif body.startswith("=", pos):
                end = _end_of_parameters(body, pos + 1)
                commands.append(Command(name, "set", body[pos + 1 : end].strip()))
                pos = end
            elif body.startswith("?", pos):
                commands.append(Command(name, "read"))
                pos += 1
            else:
                commands.append(Command(name, "exec"))
            while pos < n and body[pos] == " ":
                pos += 1
            if pos < n and body[pos] != ";":
                raise SyntaxFault(f"unexpected {body[pos]!r} after {name}")
        elif char in "Dd":
            commands.append(Command("D", "exec", body[pos + 1 :]))
            pos = n
        elif char in "Ss":
            match = re.compile(r"[Ss](\d+)(=\s*(\d*)|\?)?").match(body, pos)
            if not match:
                raise SyntaxFault("malformed S-register command")
            if match.group(2) == "?":
                commands.append(Command(f"S{int(match.group(1))}", "read"))
            else:
                commands.append(Command(f"S{int(match.group(1))}", "set", match.group(3) or "0"))
            pos = match.end()
        elif char == "&":
            match = re.compile(r"&([A-Za-z])(\d*)").match(body, pos)
            if not match:
                raise SyntaxFault("malformed & command")
            commands.append(Command("&" + match.group(1).upper(), "exec", match.group(2)))
            pos = match.end()
        elif char.isascii() and char.isalpha():  # basic commands are ASCII letters; 'À' is noise
            match = re.compile(r"([A-Za-z])(\d*)(\?)?").match(body, pos)
            assert match is not None
            form = "read" if match.group(3) else "exec"
            commands.append(Command(match.group(1).upper(), form, match.group(2)))
            pos = match.end()
        else:
            raise SyntaxFault(f"unexpected {char!r}")
    return commands


def _end_of_parameters(body: str, pos: int) -> int:
    quoted = False
    while pos < len(body):
        if body[pos] == '"':
            quoted = not quoted
        elif body[pos] == ";" and not quoted:
            return pos
        pos += 1
    return pos


def split_args(args: str) -> list[str]:
    """`1,"SM",,x` → ["1", "SM", "", "x"]; quotes removed, commas inside quotes kept."""
    if not args.strip():
        return []
    values: list[str] = []
    current: list[str] = []
    quoted = False
    for char in args:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            values.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    values.append("".join(current).strip())
    return values


def int_arg(value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SyntaxFault(f"not a number: {value!r}") from None
    if not low <= number <= high:
        raise SyntaxFault(f"{number} outside {low}..{high}")
    return number
