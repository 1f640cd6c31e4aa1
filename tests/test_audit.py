"""The audit log records in the transaction of the change it describes."""

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.audit import SYSTEM, record
from appliance.db.models import AuditEntry


def test_an_entry_commits_with_its_change(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        record(session, "retention.purge", actor=SYSTEM, target="account 1", details={"messages": 3})
        session.commit()
    with session_factory() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.action, entry.target, entry.details) == \
        ("system", "retention.purge", "account 1", {"messages": 3})
    assert entry.at.tzinfo is not None


def test_an_entry_of_a_change_rolled_back_is_gone(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        record(session, "keyword.create", actor="user ala@example.com", address="192.168.1.20")
        session.rollback()
    with session_factory() as session:
        assert session.scalars(select(AuditEntry)).all() == []
