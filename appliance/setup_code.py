"""The one-time setup code: proof that whoever creates the first admin has the box in hand.

A new box sits on a LAN shared with customers' phones and guest Wi-Fi; without this, whoever opens
the panel first would own it. The code is made on the first start while no user exists and kept in
the data directory (mode 0600). Only the box shows it: the service's log at every start until setup
is done, and on an image the console and a file on the SD card's boot partition
(image/modules/app: ``appliance-console-note``). Creating the first admin deletes it.

Twelve characters from Crockford's base32 alphabet (no I, L, O or U), shown as three groups of
four: 60 bits. A typed O counts as 0 and I or L as 1, case, spaces and dashes do not matter. Wrong
codes are rate limited per client address (:func:`appliance.users.setup_code_wait`): at five tries
per address per quarter of an hour, even 65 536 addresses guessing for ten years (10^11 tries) would
have one chance in ten million of finding it.
"""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile
from pathlib import Path

SETUP_CODE_FILE = "setup-code"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_LENGTH = 3, 4
# What a person may type for a character of the alphabet (Crockford's decoding rules).
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    """``7K3M-Q9XD-2HWB``: easy to read off a screen and to type."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))


def normalise(typed: str) -> str:
    """The code's characters without grouping, as the alphabet spells them."""
    return "".join(ch for ch in typed.upper() if not ch.isspace() and ch != "-").translate(_TYPED)


def read_code(data_dir: Path) -> str | None:
    """The code in force, or None when there is none (setup done, or the appliance never started)."""
    try:
        code = (data_dir / SETUP_CODE_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    return code or None


def ensure_code(data_dir: Path) -> str:
    """The code in force, made now (mode 0600) when there is none.

    Written aside, then linked into place: when two processes start together one code wins, and
    nobody ever reads a half-written file."""
    code = read_code(data_dir)
    if code is not None:
        return code
    data_dir.mkdir(parents=True, exist_ok=True)
    code = new_code()
    fd, scratch = tempfile.mkstemp(dir=data_dir, prefix=".setup-code.")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(code + "\n")
        os.link(scratch, data_dir / SETUP_CODE_FILE)
    except FileExistsError:
        return read_code(data_dir) or code
    finally:
        os.unlink(scratch)
    return code


def code_matches(data_dir: Path, typed: str) -> bool:
    """Whether ``typed`` is the code in force; compared in constant time. No code in force: never."""
    code = read_code(data_dir)
    if code is None:
        return False
    return hmac.compare_digest(normalise(code).encode(), normalise(typed).encode())


def void_code(data_dir: Path) -> None:
    """Setup is done: the code opens nothing any more."""
    (data_dir / SETUP_CODE_FILE).unlink(missing_ok=True)
