"""Seed corpora: the inputs the decoders get in the project's own example-based tests.

Mutation reaches deep into a decoder only from valid inputs. The test suite already holds the valid
(and the carefully broken) PDUs, WAP pushes and MMS that matter, most of them built inside the tests
by the encoders or from annotated hex fields, so they are taken where they meet the decoders: as a
pytest plugin this module wraps the decoders before any test imports them and writes every input
they see to ``.state/fuzz/test-vectors/<family>/``. Hypothesis tests are left out: their inputs are
random, and the fuzzer makes its own.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.codecs import mms, sms_pdu, wsp

VECTORS = Path(".state/fuzz/test-vectors")
# The example tests whose inputs are seeds; SQLite is enough, the decoders see the same bytes.
TESTS = ["tests/codecs", "tests/reception/test_store.py", "tests/mms/test_mms_reception.py"]

DECODERS = {
    "sms": [(sms_pdu, "decode_mt_pdu"), (sms_pdu, "decode_sms_deliver"),
            (sms_pdu, "decode_sms_status_report"), (sms_pdu, "decode_sms_submit")],
    "wap_push": [(wsp, "decode_push")],
    "mms": [(mms, "decode_mms_pdu")],
}

_seen: dict[str, set[bytes]] = {family: set() for family in DECODERS}


def _recording(family: str, decode: Callable) -> Callable:
    @functools.wraps(decode)
    def run(data, *args, **kwargs):
        if isinstance(data, bytes | bytearray):
            _seen[family].add(bytes(data))
        return decode(data, *args, **kwargs)

    return run


if os.environ.get("FUZZ_RECORD_VECTORS"):
    for _family, _decoders in DECODERS.items():
        for _module, _name in _decoders:
            setattr(_module, _name, _recording(_family, getattr(_module, _name)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items[:] = [item for item in items
                if not getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
                and "postgresql" not in item.name]


def pytest_sessionfinish(session: pytest.Session) -> None:
    for family, inputs in _seen.items():
        directory = VECTORS / family
        directory.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def recorded(family: str) -> list[bytes]:
    """The family's test vectors, recorded by one run of the example tests the first time."""
    directory = VECTORS / family
    if not directory.is_dir():
        print("recording test vectors: the example tests of the codecs, reception and MMS", flush=True)
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "fuzz.vectors", "-p", "no:cacheprovider",
                        *TESTS], check=False, env={**os.environ, "FUZZ_RECORD_VECTORS": "1"},
                       stdout=subprocess.DEVNULL)
    return [path.read_bytes() for path in sorted(directory.iterdir())]
