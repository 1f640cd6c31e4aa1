"""The panel's "Send to group": compose, review, confirm, schedule, cancel, progress; through Flask's test client."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from appliance.campaigns.group_send import GroupSender
from appliance.db.models import AccessNumber, Account, Contact, Group, GroupMember, GroupSend, OutboundSms
from tests.web.conftest import Users

SHARED_SIM, PIZZA_SIM = "89480610001111111111", "89480610003333333333"
ANIA, BARTEK, CELINA = "+48600100200", "+48600100300", "+48600100400"
HOSTILE = "<script>window.pwned = true</script>"


@dataclass
class Box:
    sessions: sessionmaker[Session]
    garden: int
    pizza: int
    shared: int
    pizza_number: int
    newsletter: int
    fans: int

    def sends(self) -> list[tuple[int, str, str, datetime]]:
        with self.sessions() as session:
            return [tuple(row) for row in session.execute(  # type: ignore[misc]
                select(GroupSend.group_id, GroupSend.text, GroupSend.status, GroupSend.scheduled_at)
                .order_by(GroupSend.id))]


@pytest.fixture
def box(session_factory: sessionmaker[Session]) -> Box:
    with session_factory.begin() as session:
        garden, pizza = Account(name="Ogrodnik"), Account(name="Pizzeria")
        session.add_all([garden, pizza])
        session.flush()
        shared = AccessNumber(number="+48500100100", iccid=SHARED_SIM, kind="shared")
        pizza_number = AccessNumber(number="+48500300300", iccid=PIZZA_SIM, kind="dedicated", account_id=pizza.id)
        newsletter, fans = Group(account_id=garden.id, name="Newsletter"), Group(account_id=pizza.id, name="Fani")
        contacts = [Contact(account_id=garden.id, msisdn=ANIA, name="Ania"), Contact(account_id=garden.id, msisdn=BARTEK),
                    Contact(account_id=garden.id, msisdn=CELINA, opted_out_at=datetime.now(UTC))]
        session.add_all([shared, pizza_number, newsletter, fans, *contacts])
        session.flush()
        session.add_all(GroupMember(group_id=newsletter.id, contact_id=c.id) for c in contacts)
        return Box(session_factory, garden.id, pizza.id, shared.id, pizza_number.id, newsletter.id, fans.id)


@pytest.fixture
def warsaw(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The box's clock in Warsaw (UTC+1 in winter), whatever the machine running the tests says."""
    monkeypatch.setenv("TZ", "Europe/Warsaw")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def token_of(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def post(client: FlaskClient, box: Box, action: str, **fields: Any) -> Any:
    data = {"access_number": box.shared, "group": box.newsletter, "text": "Wiosna w ogrodzie!", "scheduled_at": "",
            "action": action, **fields}
    data["csrf_token"] = token_of(client.get("/send").get_data(as_text=True))
    return client.post("/send", data=data)


def errors(html: str, field: str) -> list[str]:
    block = re.search(rf'<ul class="errors" id="{field}-errors">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", block.group(1)) if block else []


def test_the_form_offers_the_numbers_and_groups_with_their_contacts_and_counts_sms_as_typed(
        panel: FlaskClient, box: Box) -> None:
    html = panel.get("/send").get_data(as_text=True)

    assert f'<option value="{box.shared}">+48500100100 (shared)</option>' in html
    assert f'<option value="{box.pizza_number}">+48500300300 (dedicated)</option>' in html
    assert "Ogrodnik · Newsletter (3 contacts)" in html and "Pizzeria · Fani (0 contacts)" in html
    assert "0 of 160 characters · 1 SMS · GSM 7-bit" in html
    assert "Nothing sent to a group yet." in html


def test_the_review_says_who_gets_how_many_sms_and_writes_nothing(panel: FlaskClient, box: Box) -> None:
    response = post(panel, box, "review", text="Róże -20%\r\nZapraszamy, {name}!")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<strong id="recipient-count">2</strong>' in html and "(1 opted-out contact left out)" in html
    assert '<dd id="sms-size">1 SMS · 29 characters · Unicode (UCS-2)</dd>' in html
    assert "replaced by each contact's name" in html
    assert 'value="Róże -20%\nZapraszamy, {name}!"' in html  # sent again on confirm, line break as typed
    assert box.sends() == []


def test_a_confirmed_send_goes_now_and_shows_in_the_list(panel: FlaskClient, box: Box) -> None:
    response = post(panel, box, "confirm", text=HOSTILE)

    assert response.status_code == 303 and response.headers["Location"].endswith("/send#send-1")
    [(group, text, status, _when)] = box.sends()
    assert (group, text, status) == (box.newsletter, HOSTILE, "scheduled")
    html = panel.get("/send").get_data(as_text=True)
    assert "Sending to Newsletter now: the texts leave within seconds." in html
    row = html[html.index('id="send-1"'):]
    assert "&lt;script&gt;window.pwned" in row and "<script>window.pwned" not in html
    assert "state-scheduled" in row and 'data-live="true"' in row and ">Cancel</button>" in row


def test_a_time_to_send_at_is_the_box_s_local_time(panel: FlaskClient, box: Box, warsaw: None) -> None:
    response = post(panel, box, "confirm", scheduled_at="2030-01-02T10:00")

    assert response.status_code == 303
    [(_group, _text, status, when)] = box.sends()
    assert (status, when) == ("scheduled", datetime(2030, 1, 2, 9, 0, tzinfo=UTC))
    html = panel.get("/send").get_data(as_text=True)
    assert "Scheduled for 2030-01-02 10:00 CET to Newsletter." in html
    assert "The box's local time: CET, UTC+01:00." in html
    assert GroupSender(box.sessions).run_due() == []  # not yet


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"text": "  \r\n "}, "text", "must not be empty"),
    ({"text": "€" * 20000}, "text", "needs 264 SMS; one text may take at most 255"),
    ({"scheduled_at": "2020-01-01T10:00"}, "scheduled_at", "is in the past"),
    ({"scheduled_at": "jutro"}, "scheduled_at", "Not a valid datetime value."),
    ({"access_number": "PIZZA"}, "access_number", "+48500300300 is dedicated to another account"),
    ({"group": "999"}, "group", "Not a valid choice."),
])
def test_a_send_that_cannot_go_is_shown_again_with_the_error_next_to_its_field(
        panel: FlaskClient, box: Box, fields: dict[str, str], field: str, message: str) -> None:
    fields = {key: str(box.pizza_number) if value == "PIZZA" else value for key, value in fields.items()}
    for action in ("review", "confirm"):
        response = post(panel, box, action, **fields)

        assert response.status_code == 400
        found = errors(response.get_data(as_text=True), field)
        assert len(found) == 1 and message in found[0], found
    assert box.sends() == []


def test_a_send_posted_without_the_page_s_token_is_refused(panel: FlaskClient, box: Box) -> None:
    response = panel.post("/send", data={"access_number": box.shared, "group": box.newsletter, "text": "spam",
                                         "action": "confirm"})
    assert response.status_code == 400
    assert box.sends() == []


def test_change_goes_back_to_the_form_with_the_values_kept(panel: FlaskClient, box: Box) -> None:
    html = post(panel, box, "edit", text="Poprawiony tekst").get_data(as_text=True)

    assert "\r\nPoprawiony tekst</textarea>" in html
    assert box.sends() == []


def test_the_list_shows_progress_and_its_rows_are_refreshed_until_every_text_is_out(
        panel: FlaskClient, box: Box) -> None:
    post(panel, box, "confirm")
    GroupSender(box.sessions).run_due()
    with box.sessions.begin() as session:
        session.execute(update(OutboundSms).where(OutboundSms.recipient == ANIA).values(status="delivered"))

    html = panel.get("/send").get_data(as_text=True)
    row = html[html.index('id="send-1"'):html.index("</tr>", html.index('id="send-1"'))]
    assert re.findall(r'<td class="count[^"]*" data-label="[^"]+"[^>]*>(\d+)</td>', row) == ["2", "1", "0", "1"]
    assert "state-sending" in row and 'data-live-ids="1"' in html

    with box.sessions.begin() as session:
        session.execute(update(OutboundSms).where(OutboundSms.recipient == BARTEK).values(status="failed"))
    [item] = panel.get("/send/progress.json?ids=1,999").get_json()["items"]
    assert item["id"] == 1 and item["live"] is False
    assert "state-finished" in item["html"] and 'class="count bad"' in item["html"] and ">Cancel<" not in item["html"]


def test_cancelling_a_scheduled_send_keeps_it_from_going_out(panel: FlaskClient, box: Box) -> None:
    post(panel, box, "confirm", scheduled_at="2099-01-01T10:00")
    token = token_of(panel.get("/send").get_data(as_text=True))

    response = panel.post("/send/1/cancel", data={"csrf_token": token})

    assert response.status_code == 303
    assert [status for _g, _t, status, _w in box.sends()] == ["cancelled"]
    html = panel.get("/send").get_data(as_text=True)
    assert "Cancelled. Texts withdrawn before sending: 0." in html
    assert panel.post("/send/1/cancel", data={"csrf_token": token}).status_code == 303
    assert "Nothing left to cancel" in panel.get("/send").get_data(as_text=True)


def test_an_account_s_user_sends_only_to_its_own_groups_from_numbers_it_may_use_and_sees_only_its_sends(
        panel: FlaskClient, box: Box, users: Users, signed_in: Any) -> None:
    post(panel, box, "confirm")  # the admin's send for the garden
    pizza = signed_in(users.create("pizza@example.com", admin=False, account_id=box.pizza))

    html = pizza.get("/send").get_data(as_text=True)
    assert "Fani (0 contacts)" in html and "Newsletter" not in html and "Pizzeria ·" not in html
    assert "+48500100100 (shared)" in html and "+48500300300 (dedicated)" in html
    assert 'id="send-1"' not in html
    refused = post(pizza, box, "confirm", group=str(box.newsletter))
    assert refused.status_code == 400 and errors(refused.get_data(as_text=True), "group") == ["Not a valid choice."]
    assert pizza.get("/send/progress.json?ids=1").get_json()["items"] == []
    token = token_of(html)
    assert pizza.post("/send/1/cancel", data={"csrf_token": token}).status_code == 404
    assert post(pizza, box, "confirm", group=str(box.fans), access_number=str(box.pizza_number)).status_code == 303
    assert [group for group, *_ in box.sends()] == [box.newsletter, box.fans]
