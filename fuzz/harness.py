"""One decoder family under atheris (libFuzzer, coverage guided), as a campaign of a set number of cases.

libFuzzer stops at the first crash and prints little a person can compare between runs. Here every
case is counted and run under a CPU-time limit, a crash is recorded (its first input and traceback
under ``.state/fuzz/<family>/crashes/``) and the campaign goes on, so one run says how many distinct
crashes there are. Two crashes are the same when they are the same exception raised at the same line
of the appliance (or the same broken invariant). After the last case the campaign prints its summary
and exits: 0 without crashes, 1 with.

A crash is any exception but the family's documented errors (what the reception catches, logs and
keeps the raw data for), a case that runs longer than the limit, or a ``BrokenInvariant``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import atheris

STATE = Path(".state/fuzz")
PROGRESS_EVERY = 100_000


class BrokenInvariant(AssertionError):
    """A decode that succeeded but gave something the rest of the appliance cannot trust."""


class CaseTimedOut(BaseException):
    """Raised by the CPU-time alarm inside a case; a BaseException so no decoder can swallow it."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise BrokenInvariant(message)


@dataclass(frozen=True)
class Family:
    name: str
    run_case: Callable[[bytes], None]
    expected: tuple[type[Exception], ...]  # the documented errors: not crashes
    max_len: int
    cases: int  # the default count of a campaign


def _signature(error: BaseException) -> str:
    """The broken invariant, or the exception type and the innermost frame of the appliance (or of the
    fuzz target) it came from."""
    if isinstance(error, BrokenInvariant):
        return f"broken invariant: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "/appliance/" in f.filename or "/fuzz/" in f.filename] or frames
    where = ours[-1] if ours else None
    place = f"{Path(where.filename).name}:{where.lineno} in {where.name}" if where else "?"
    kind = "hang" if isinstance(error, CaseTimedOut) else type(error).__name__
    return f"{kind} at {place}"


class Campaign:
    def __init__(self, family: Family, cases: int, time_limit: float, workdir: Path) -> None:
        self.family = family
        self.cases = cases
        self.time_limit = time_limit
        self.crash_dir = workdir / "crashes"
        self.summary_path = workdir / "summary.json"
        self.run = 0
        self.crashes: dict[str, int] = {}  # signature -> inputs that hit it
        self.started = time.monotonic()

    def __call__(self, data: bytes) -> None:
        self.run += 1
        signal.setitimer(signal.ITIMER_VIRTUAL, self.time_limit)
        try:
            self.family.run_case(data)
        except self.family.expected:
            pass  # a clear error: what the reception logs and keeps the raw data for
        except (Exception, CaseTimedOut) as error:  # noqa: BLE001 - every other exception is a finding
            self._record(data, error)
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        if self.run % PROGRESS_EVERY == 0:
            self._progress()
        if self.run >= self.cases:
            self._finish()

    def _record(self, data: bytes, error: BaseException) -> None:
        signature = _signature(error)
        seen = self.crashes.get(signature, 0)
        self.crashes[signature] = seen + 1
        if seen:
            return
        self.crash_dir.mkdir(parents=True, exist_ok=True)
        stem = self.crash_dir / hashlib.sha1(signature.encode()).hexdigest()[:12]
        stem.with_suffix(".bin").write_bytes(data)
        text = "".join(traceback.format_exception(error))
        stem.with_suffix(".txt").write_text(f"{signature}\ninput: {data.hex()}\n\n{text}")
        print(f"{self.family.name}: CRASH {signature} (input {stem}.bin)\n{text}", flush=True)

    def _rate(self) -> float:
        return self.run / max(time.monotonic() - self.started, 1e-9)

    def _progress(self) -> None:
        print(f"{self.family.name}: {self.run:,} cases, {self._rate():,.0f}/s, "
              f"{len(self.crashes)} distinct crashes", flush=True)

    def _finish(self) -> None:
        seconds = time.monotonic() - self.started
        summary = {"family": self.family.name, "cases": self.run, "seconds": round(seconds, 1),
                   "cases_per_second": round(self._rate()), "distinct_crashes": len(self.crashes),
                   "crashes": self.crashes}
        self.summary_path.write_text(json.dumps(summary, indent=2))
        print(f"{self.family.name}: {self.run:,} cases in {seconds:,.0f} s, {self._rate():,.0f} cases/s, "
              f"{len(self.crashes)} distinct crashes", flush=True)
        for signature, count in sorted(self.crashes.items()):
            print(f"  {count:>8} × {signature}", flush=True)
        sys.stdout.flush()
        os._exit(1 if self.crashes else 0)  # libFuzzer would otherwise go on forever


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise CaseTimedOut()


def write_seeds(directory: Path, seeds: Iterable[bytes]) -> int:
    shutil.rmtree(directory, ignore_errors=True)  # the test vectors as they are now
    directory.mkdir(parents=True)
    count = 0
    for seed in seeds:
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        count += 1
    return count


def main(family: Family, seeds: Callable[[], Iterable[bytes]]) -> None:
    """``python -m fuzz.<family> [--cases N] [--time-limit S] [--seed N]``."""
    parser = argparse.ArgumentParser(prog=f"fuzz.{family.name}")
    parser.add_argument("--cases", type=int, default=family.cases)
    parser.add_argument("--time-limit", type=float, default=2.0, help="CPU seconds a case may take")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed")
    args = parser.parse_args()
    workdir = STATE / family.name
    corpus = workdir / "corpus"  # libFuzzer adds the inputs that found new coverage here
    seed_count = write_seeds(workdir / "seeds", seeds())
    corpus.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(workdir / "crashes", ignore_errors=True)  # this run's crashes only; the corpus stays
    print(f"{family.name}: {seed_count} seed inputs, corpus {corpus}, up to {family.max_len} octets a case, "
          f"{args.cases:,} cases", flush=True)
    signal.signal(signal.SIGVTALRM, _on_alarm)
    campaign = Campaign(family, args.cases, args.time_limit, workdir)
    libfuzzer_args = [sys.argv[0], f"-max_len={family.max_len}", f"-seed={args.seed}", "-timeout=0",
                      "-rss_limit_mb=2048", "-print_final_stats=0", str(corpus), str(workdir / "seeds")]
    atheris.Setup(libfuzzer_args, campaign)
    atheris.Fuzz()

