"""Files the appliance writes whole or not at all: attachments, the HTTPS certificate and its key,
the key files of panel sessions and of stored secrets.

A power cut on a box in a back room is normal. Each file is therefore written beside its final name
(same directory, so the last step is atomic), flushed to disk, and only then given that name: a
crash leaves a dot-file with a random suffix, never a file cut short under the real name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """``path`` holds ``data`` (with ``mode``), whatever it held before; the rename is made durable too
    (ext4 may otherwise forget it on power loss)."""
    scratch = _written_beside(path, data, mode)
    try:
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def create_file_once(path: Path, data: bytes) -> bool:
    """``path`` holds ``data`` (mode 0600) unless it exists; True when this call made it. link() never
    replaces: when two processes start together one file wins, and nobody reads a half-written one."""
    scratch = _written_beside(path, data, 0o600)
    try:
        os.link(scratch, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(scratch)
    return True


def _written_beside(path: Path, data: bytes, mode: int) -> str:
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return scratch


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
