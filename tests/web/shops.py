"""Two businesses on one box, for tests of who sees what: each with its own number, SIM and keyword."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import AccessNumber, Account, Keyword


@dataclass(frozen=True)
class Shop:
    account_id: int
    number_id: int
    number: str
    iccid: str
    keyword_id: int
    keyword: str


def open_shop(session_factory: sessionmaker[Session], name: str, number: str, iccid: str, keyword: str) -> Shop:
    with session_factory.begin() as session:
        account = Account(name=name)
        session.add(account)
        session.flush()
        access_number = AccessNumber(number=number, iccid=iccid, kind="dedicated", account_id=account.id)
        session.add(access_number)
        session.flush()
        reserved = Keyword(access_number_id=access_number.id, account_id=account.id, keyword=keyword, mode="base")
        session.add(reserved)
        session.flush()
        return Shop(account.id, access_number.id, number, iccid, reserved.id, keyword)


def two_shops(session_factory: sessionmaker[Session]) -> tuple[Shop, Shop]:
    """A florist and a pizzeria."""
    return (open_shop(session_factory, "Kwiaciarnia Róża", "+48500100101", "8948000000000000101", "TULIPANY"),
            open_shop(session_factory, "Pizzeria Roma", "+48500100202", "8948000000000000202", "PIZZA"))
