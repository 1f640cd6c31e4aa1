"""The audit log records in the transaction of the change it describes."""

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.audit import CONSOLE, SYSTEM, acting_as, record
from appliance.db.models import Account, AuditEntry


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


def test_a_row_created_and_changed_in_one_transaction_is_one_creation_with_its_final_values(
        session_factory: sessionmaker[Session]) -> None:
    with acting_as(CONSOLE), session_factory() as session:
        shop = Account(name="Kwiaciarnia")
        session.add(shop)
        session.flush()
        shop.name = "Kwiaciarnia Róża"
        session.commit()
    with session_factory() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.action, entry.target, entry.details) == (
        "console", "account.create", f"account {shop.id} (Kwiaciarnia Róża)",
        {"name": "Kwiaciarnia Róża", "opt_out_words": []})


def test_a_change_noted_and_rolled_back_is_not_recorded_by_the_next_commit(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        session.add(Account(name="Piekarnia"))
        session.flush()
        session.rollback()
        session.add(Account(name="Pizzeria"))
        session.commit()
        gone = Account(name="Na chwilę")
        session.add(gone)
        session.flush()
        session.delete(gone)
        session.commit()
    with session_factory() as session:
        assert [(e.actor, e.action, e.details) for e in session.scalars(select(AuditEntry))] == [
            ("system", "account.create", {"name": "Pizzeria", "opt_out_words": []})]


def test_changes_to_one_row_in_two_flushes_are_one_update_from_first_to_last_value(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        shop = Account(name="A")
        session.add(shop)
    with session_factory() as session:
        shop = session.get(Account, shop.id)
        shop.name = "B"
        session.flush()
        shop.name = "C"
        shop.opt_out_words = ["NIE"]
        session.commit()
    with session_factory() as session:
        update = session.scalars(select(AuditEntry).where(AuditEntry.action == "account.update")).one()
    assert update.details == {"name": ["A", "C"], "opt_out_words": [[], ["NIE"]]}
