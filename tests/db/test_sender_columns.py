"""Migration 0017 widens the sender columns; going back never cuts a stored sender short."""

from pathlib import Path

import pytest
from sqlalchemy import func, select

from appliance.db.engine import make_engine, make_session_factory
from appliance.db.migrate import downgrade, upgrade
from appliance.db.models import Account, Contact, Message, SmsPart

LONG_SENDER = "zamowienia.sklep@" + "poczta." * 32 + "x" * 2 + ".example.pl"  # 254 characters


def test_a_downgrade_refuses_while_a_sender_is_longer_than_the_old_column_and_keeps_every_row(
    database_url: str, tmp_path: Path
) -> None:
    assert len(LONG_SENDER) == 254
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        account = Account(name="Kwiaciarnia")
        long_one = Message(iccid="8948", sender=LONG_SENDER, status="unmatched", kind="mms")
        short_one = Message(iccid="8948", sender="+48600100200", status="unmatched")
        session.add_all([account, long_one, short_one])
        session.flush()
        session.add(Contact(account_id=account.id, msisdn=LONG_SENDER))
        session.add(SmsPart(dedupe_key="k", iccid="8948", pdu_hex="00", message_id=short_one.id))
    engine.dispose()

    with pytest.raises(RuntimeError, match="1 value\\(s\\) of messages.sender are longer than the 64"):
        downgrade(database_url, "0016", tmp_path)

    with sessions.begin() as session:
        for row in [*session.scalars(select(Contact)), *session.scalars(select(Message).where(
                Message.sender == LONG_SENDER))]:
            session.delete(row)  # through the ORM: the statistics summary forgets the sender too
    engine.dispose()
    downgrade(database_url, "0016", tmp_path)
    upgrade(database_url, "head", tmp_path)
    with sessions() as session:
        assert session.scalars(select(Message.sender)).all() == ["+48600100200"]
        assert session.scalar(select(func.count()).select_from(SmsPart).where(SmsPart.message_id.is_not(None))) == 1
        session.add(Message(iccid="8948", sender=LONG_SENDER, status="unmatched", kind="mms"))
        session.commit()
    engine.dispose()
