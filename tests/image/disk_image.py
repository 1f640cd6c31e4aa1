"""Reading a disk image without mounting it: its partition table, a partition as a file, what a
file system says it is."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

SECTOR = 512


def partition_table(image: Path) -> dict[str, object]:
    result = subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["partitiontable"]


def extract(image: Path, partition: dict[str, int], target: Path) -> Path:
    subprocess.run(["dd", f"if={image}", f"of={target}", f"bs={SECTOR}", f"skip={partition['start']}",
                    f"count={partition['size']}", "conv=sparse", "status=none"], check=True)
    return target


def probe(filesystem: Path) -> dict[str, str]:
    output = subprocess.run(["blkid", "--probe", "--output", "export", str(filesystem)], capture_output=True,
                            text=True, check=True).stdout
    return dict(line.split("=", 1) for line in output.splitlines())
