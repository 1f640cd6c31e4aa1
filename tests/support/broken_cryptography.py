"""A certificate child that cannot do its work: child processes started from now on find, before the
real one, a ``cryptography`` package whose import fails or never ends (an image missing a wheel, a
child stuck on a loaded Pi). The test process's own cryptography, already imported, is untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MISSING = 'raise ImportError("cryptography cannot be loaded (a test put this in its place)")\n'
HANGING = "import time\ntime.sleep(600)\n"


def break_cryptography(monkeypatch: pytest.MonkeyPatch, directory: Path, body: str = MISSING) -> None:
    package = directory / "cryptography"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")])))
