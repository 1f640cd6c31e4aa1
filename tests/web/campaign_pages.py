"""What the tests of the panel's campaign pages share: accounts to put rows in, forms posted with
their CSRF token, and votes stored the way reception stores them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from appliance.codecs.sms_pdu import encode_sms_deliver
from appliance.db.models import AccessNumber, Account, Keyword
from appliance.reception.store import MessageStore, ReceivedPdu

POLL_ICCID = "8948000000000000042"
POLL_NUMBER = "+48500100242"


def accounts(session_factory: sessionmaker[Session], *names: str) -> list[int]:
    with session_factory.begin() as session:
        rows = [Account(name=name, opt_out_words=[]) for name in names]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def csrf_token(client: FlaskClient, path: str = "/polls") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found is not None, f"no form with a CSRF token on {path}"
    return found.group(1)


def submit(client: FlaskClient, path: str, data: dict[str, Any], **kwargs: Any) -> TestResponse:
    """Posts ``data`` as the page's form would, with this browser's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client), **data}, **kwargs)


def text_of(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def voting_keyword(session_factory: sessionmaker[Session], account_id: int, poll_id: int,
                   keyword: str = "ANKIETA") -> None:
    """A dedicated number of the account whose keyword votes in the poll."""
    with session_factory.begin() as session:
        number = AccessNumber(number=POLL_NUMBER, iccid=POLL_ICCID, kind="dedicated", account_id=account_id)
        session.add(number)
        session.flush()
        session.add(Keyword(access_number_id=number.id, account_id=account_id, keyword=keyword, mode="base",
                            typo_tolerant=False, actions=[{"type": "poll_vote", "poll": poll_id}]))


def vote_by_sms(session_factory: sessionmaker[Session], sender: str, text: str, sent: datetime) -> None:
    """An SMS received by the number of :func:`voting_keyword`, stored and acted on as reception does."""
    store = MessageStore(session_factory, partial_timeout=timedelta(hours=24))
    store.store([ReceivedPdu(POLL_ICCID, pdu) for pdu in encode_sms_deliver(sender, text, sent)])
