"""Two businesses on one appliance, for the API's permission tests and its schemathesis run.

A florist and a bakery each own a dedicated number and have a keyword on the shared one; each has a
group with a contact, an autoresponder, a poll, a contest with an entry, a forward target with a
delivery, a message with a photo and a text sent through their SIM. Besides: an unmatched message on
the shared number, and a SIM bound to a number nobody owns yet. Tokens: the admin's, each shop's,
and a read-only one. Configuration goes in through the admin's API (so it is what the API accepts);
what reception and delivery write goes straight into the database.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from appliance.attachments import AttachmentStore
from appliance.config import Settings
from appliance.db.models import ContestEntry, Delivery, Message, Modem, OutboundSms
from appliance.web.tokens import create_token

SHARED_NUMBER, SHARED_ICCID = "+48500100200", "8948000000000000200"
UNASSIGNED_NUMBER, UNASSIGNED_ICCID = "+48500100209", "8948000000000000209"


@dataclass
class Shop:
    headers: dict[str, str]
    account: int
    number: int
    iccid: str
    sender: str  # the customer who wrote and was answered
    keyword: int
    shared_keyword: int
    group: int
    contact: int
    autoresponder: int
    poll: int
    contest: int
    target: int
    message: int
    attachment: int
    delivery: int
    sms: int


@dataclass
class TwoShops:
    admin: dict[str, str]
    reader: dict[str, str]
    florist: Shop
    bakery: Shop
    shared_number: int
    unassigned_number: int
    unmatched_message: int


def headers(session_factory: sessionmaker[Session], name: str, **kind: Any) -> dict[str, str]:
    with session_factory() as session:
        secret = create_token(session, name, **kind)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 90)).save(out, "JPEG")
    return out.getvalue()


def open_two_shops(client: FlaskClient, session_factory: sessionmaker[Session], settings: Settings) -> TwoShops:
    admin = headers(session_factory, "admin", admin=True)

    def post(path: str, body: dict[str, Any]) -> int:
        response = client.post(f"/api/v1{path}", json=body, headers=admin)
        assert response.status_code == 201, response.get_json()
        return int(response.get_json()["id"])

    shared = post("/access-numbers", {"number": SHARED_NUMBER, "iccid": SHARED_ICCID, "kind": "shared"})
    unassigned = post("/access-numbers", {"number": UNASSIGNED_NUMBER, "iccid": UNASSIGNED_ICCID})
    files = AttachmentStore(settings.data_dir)
    now = datetime.now(UTC)

    def shop(name: str, digit: str, word: str, shared_word: str) -> Shop:
        account = post("/accounts", {"name": name})
        iccid = f"894800000000000020{digit}"
        number = post("/access-numbers", {"number": f"+4850010020{digit}", "iccid": iccid, "account": account})
        group = post("/groups", {"account": account, "name": f"Klienci {name}"})
        contact = post("/contacts", {"account": account, "msisdn": f"+4860010020{digit}", "name": "Ala",
                                     "groups": [group]})
        poll = post("/polls", {"account": account, "question": "Który?",
                               "options": [{"code": "A", "label": "Róże"}, {"code": "B", "label": "Tulipany"}]})
        contest = post("/contests", {"account": account, "name": "Konkurs", "answer": "Kraków"})
        keyword = post("/keywords", {"access_number": number, "keyword": word,
                                     "actions": [{"type": "join_group", "group": group},
                                                 {"type": "poll_vote", "poll": poll}]})
        shared_keyword = post("/keywords", {"access_number": shared, "account": account, "keyword": shared_word})
        autoresponder = post("/autoresponders", {"account": account, "access_number": number, "text": "Dzięki!"})
        target = post("/forward-targets", {"account": account, "kind": "url",
                                           "address": f"https://{word.lower()}.example/hook"})
        with session_factory.begin() as session:
            session.add(Modem(iccid=iccid, msisdn=f"+4850010020{digit}", state="ready", last_seen_at=now))
            message = Message(iccid=iccid, sender=f"+4860010020{digit}", text=f"{word} zdjęcie", kind="mms",
                              status="routed", account_id=account, keyword_id=keyword, keyword=word,
                              received_at=now)
            [attachment] = files.add_parts(session, message, [("image/jpeg", "zdjęcie.jpg", jpeg())])
            session.flush()
            session.add(ContestEntry(contest_id=contest, msisdn=message.sender, answer="Kraków", correct=True,
                                     message_id=message.id, entered_at=now))
            delivery = Delivery(target_id=target, message_id=message.id, idempotency_key=f"delivery-{word}",
                                status="dead", attempts=3, give_up_at=now + timedelta(hours=24),
                                last_error="HTTP 500")
            sms = OutboundSms(iccid=iccid, recipient=message.sender, text="Dziękujemy")
            session.add_all([delivery, sms])
            session.flush()
            ids = (message.id, attachment.id, delivery.id, sms.id)
        return Shop(headers(session_factory, f"{name} token", account_id=account), account, number, iccid,
                    f"+4860010020{digit}", keyword, shared_keyword, group, contact, autoresponder, poll, contest, target, *ids)

    florist, bakery = shop("Kwiaciarnia", "1", "ROZE", "KWIATY"), shop("Piekarnia", "2", "CHLEB", "BULKI")
    with session_factory.begin() as session:
        session.add(Modem(iccid=SHARED_ICCID, msisdn=SHARED_NUMBER, state="ready", last_seen_at=now))
        unmatched = Message(iccid=SHARED_ICCID, sender="+48600999999", text="Halo?", kind="sms", status="unmatched",
                            received_at=now)
        session.add(unmatched)
        session.flush()
        unmatched_id = unmatched.id
    return TwoShops(admin, headers(session_factory, "reports"), florist, bakery, shared, unassigned, unmatched_id)
