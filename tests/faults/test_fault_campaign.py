"""Every fault kind of the campaign once, small: the real ``appliance run`` loses nothing, duplicates
nothing beyond the idempotency key, and says what is wrong in its log and in the panel while it is.

The full campaign (100 SIGKILLs during 1,000 messages, each other fault several times) is
``bench/faults.py``; its numbers are in docs/reliability.md. How each fault is injected and what is
counted: tests/support/fault_campaign.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fault_campaign import FAULT_KINDS, SQLITE_BUSY_SECONDS, Plan, can_mount_tmpfs, run_campaign

# Long enough for the appliance to notice (a hung modem shows at its next command: the health check
# or the storage poll, a few seconds apart here), short enough for CI.
FAULT_SECONDS = {"db_locked": SQLITE_BUSY_SECONDS + 5.0, "hang": 10.0}


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_fault_loses_and_duplicates_nothing_and_is_shown(kind: str, tmp_path: Path) -> None:
    if kind == "disk_full" and not can_mount_tmpfs():
        pytest.skip("a small tmpfs data directory needs root (CI runs as root)")
    seconds = FAULT_SECONDS.get(kind, 6.0)
    plan = Plan(kind, messages=20, mms_share=0.15, injections=3 if kind == "sigkill" else 1,
                fault_seconds=seconds, traffic_seconds=max(8.0, seconds + 2), settle_seconds=120, seed=3)

    outcome = run_campaign(plan, tmp_path)

    assert outcome.problems == []
    assert (outcome.stored_once, outcome.lost, outcome.duplicated) == (plan.messages, 0, 0)
    assert outcome.mms_complete == outcome.mms > 0
    assert outcome.injections >= plan.injections
    assert outcome.panel_shown == outcome.panel_checks > 0, "the panel did not show the fault"
    assert outcome.log_lines, "the appliance's log did not name the fault"
