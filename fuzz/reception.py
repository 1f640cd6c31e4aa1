"""The fuzzers' findings replayed through the real reception: ``MessageStore.store`` on SQLite and
PostgreSQL, one PDU a call, exactly as ``ModemSession`` hands PDUs over.

A database round trip per case is far too slow for coverage-guided fuzzing, so the decoder
campaigns run on their own and what they found worth keeping (libFuzzer's corpus: one input per new
path through the decoders, plus crashes and the test vectors) comes here: SMS PDUs as they are, WAP
pushes as the user data of an SMS to port 2948, and the corpus's octets once more as a line that is
not hex (line noise, which the session hands over as the line's octets).

What must hold for every one: ``store`` returns (an exception would leave the PDU on the SIM, read
again and again); a PDU that does not decode is an ``undecodable`` message with the error and the
raw PDU kept; every stored PDU's hex is in the database under its dedupe key.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.codecs.sms_pdu import PortAddress, encode_sms_deliver_data
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.migrate import upgrade
from appliance.db.models import Message, SmsPart, StatusReport
from appliance.reception.store import MessageStore, Outcome, ReceivedPdu, dedupe_key
from fuzz.harness import STATE
from tests.support.postgres import ThrowawayCluster

ICCID = "89480610001234567890"
SENT = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def _inputs(directory: Path) -> list[bytes]:
    if not directory.is_dir():
        return []
    return [path.read_bytes() for path in sorted(directory.iterdir()) if path.suffix in ("", ".bin")]


def cases() -> list[tuple[str, bytes]]:
    """(what, PDU as the session hands it over) for everything the campaigns kept."""
    sms = {data for name in ("corpus", "crashes", "seeds") for data in _inputs(STATE / "sms" / name)}
    pushes = {data for name in ("corpus", "crashes") for data in _inputs(STATE / "wap_push" / name)}
    found = [("sms", pdu) for pdu in sorted(sms)]
    found += [("non-hex line", pdu.hex().upper().encode() + b"?") for pdu in sorted(sms)[:500]]
    for push in sorted(pushes):
        for pdu in encode_sms_deliver_data("+48601000310", push, SENT, ports=PortAddress(2948, 9200, 16)):
            found.append(("wap push", pdu))
    return found


def check_kept(session: Session, pdu: bytes, outcome: Outcome) -> None:
    key = dedupe_key(ICCID, pdu)
    table = StatusReport if outcome is Outcome.STATUS_REPORT else SmsPart
    kept = session.scalar(select(table.pdu_hex).where(table.dedupe_key == key))
    assert kept == pdu.hex().upper(), f"{outcome.value} PDU not kept under its dedupe key"
    if outcome is Outcome.UNDECODABLE:
        message = session.scalar(select(Message).join(SmsPart).where(SmsPart.dedupe_key == key))
        assert message is not None and message.status == "undecodable" and message.error, \
            "undecodable PDU without an undecodable message saying why"


def replay(database_url: str, label: str) -> tuple[int, list[str]]:
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    store = MessageStore(sessions, partial_timeout=timedelta(hours=24))
    failures: dict[str, str] = {}
    found = cases()
    for index, (what, pdu) in enumerate(found):
        try:
            [result] = store.store([ReceivedPdu(iccid=ICCID, pdu=pdu, storage="SM", index=index)])
            if result.outcome is not Outcome.DUPLICATE:
                with sessions() as session:
                    check_kept(session, pdu, result.outcome)
        except Exception as error:  # noqa: BLE001 - every exception is a finding
            frame = traceback.extract_tb(error.__traceback__)[-1]
            signature = f"{label}: {type(error).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            if signature not in failures:
                failures[signature] = f"{what} {pdu.hex()}\n{''.join(traceback.format_exception(error))}"
    engine.dispose()
    return len(found), [f"{signature}\n  input: {detail}" for signature, detail in failures.items()]


def main() -> None:
    parser = argparse.ArgumentParser(prog="fuzz.reception")
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # each undecodable input is logged: thousands of expected warnings
    workdir = STATE / "reception"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    started = time.monotonic()
    count, failures = replay(f"sqlite:///{workdir / 'appliance.db'}", "sqlite")
    total = count
    if not args.no_postgresql:
        cluster = ThrowawayCluster()
        try:
            count, more = replay(cluster.start(), "postgresql")
        finally:
            cluster.stop()
        total += count
        failures += more
    seconds = time.monotonic() - started
    print(f"reception: {total:,} PDUs stored in {seconds:,.0f} s, {total / seconds:,.0f}/s, "
          f"{len(failures)} distinct failures", flush=True)
    for failure in failures:
        print(f"  {failure}", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
