"""The panel's polls: list, create, edit, delete through the API's validation, the results chart, and
each account's user seeing only the account's polls."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import Poll, PollVote
from tests.web.campaign_pages import accounts, submit, text_of, vote_by_sms, voting_keyword
from tests.web.conftest import Store

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def poll_form(**fields: str) -> dict[str, str]:
    form = {"question": "Ulubiony kwiat?", "options-0-code": "A", "options-0-label": "Róża",
            "options-1-code": "", "options-1-label": "", "options-2-code": "B", "options-2-label": "Tulipan",
            "policy": "keep_last", "opens_at": "2026-05-01T10:00", "closes_at": "",
            "confirmation": "Dzięki za głos na {option}!", "closed_reply": ""}
    form.update(fields)
    return form


def polls(session_factory: sessionmaker[Session]) -> list[Poll]:
    with session_factory() as session:
        return list(session.scalars(select(Poll).order_by(Poll.id)))


def add_poll(session_factory: sessionmaker[Session], account_id: int, question: str = "Która pizza?",
             options: list[dict[str, str]] | None = None) -> int:
    with session_factory.begin() as session:
        poll = Poll(account_id=account_id, question=question, policy="keep_first",
                    options=options or [{"code": "1", "label": "Margherita"}, {"code": "2", "label": "Hawajska"}])
        session.add(poll)
        session.flush()
        return poll.id


def votes(session_factory: sessionmaker[Session], poll_id: int, *codes: str) -> None:
    message = Store(session_factory).message()
    with session_factory.begin() as session:
        for n, code in enumerate(codes):
            session.add(PollVote(poll_id=poll_id, msisdn=f"+4860010{n:04d}", option_code=code, message_id=message.id))


def test_a_new_poll_is_stored_with_its_options_and_times_on_the_box_s_clock(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Kwiaciarnia")

    response = submit(panel, "/polls", poll_form(account=str(shop)))

    [poll] = polls(session_factory)
    assert response.status_code == 303 and response.headers["Location"] == f"/polls/{poll.id}"
    assert poll.account_id == shop and poll.question == "Ulubiony kwiat?" and poll.policy == "keep_last"
    assert poll.options == [{"code": "A", "label": "Róża"}, {"code": "B", "label": "Tulipan"}]  # the empty row skipped
    assert poll.opens_at == datetime(2026, 5, 1, 8, tzinfo=UTC)  # 10:00 in Warsaw, summer time
    assert poll.closes_at is None and poll.confirmation == "Dzięki za głos na {option}!" and poll.closed_reply is None
    page = text_of(panel.get(f"/polls/{poll.id}"))
    assert "Ulubiony kwiat?" in page and "2026-05-01 10:00 CEST" in page and "its latest vote counts" in page


def test_a_poll_the_api_refuses_is_400_with_its_message_beside_the_field_and_nothing_is_stored(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Kwiaciarnia")

    too_early = submit(panel, "/polls", poll_form(account=str(shop), closes_at="2026-05-01T09:00"))
    twice = submit(panel, "/polls", poll_form(account=str(shop), **{"options-2-code": "a"}))
    no_question = submit(panel, "/polls", poll_form(account=str(shop), question="  "))
    not_a_time = submit(panel, "/polls", poll_form(account=str(shop), opens_at="jutro"))

    assert [r.status_code for r in (too_early, twice, no_question, not_a_time)] == [400, 400, 400, 400]
    assert re.search(r'<ul class="errors" id="closes_at-errors"><li>must be after opens_at</li>', text_of(too_early))
    assert "options[1].code: &#39;a&#39; appears twice (codes are compared without case)" in text_of(twice)
    assert re.search(r'id="question-errors"><li>must not be empty</li>', text_of(no_question))
    assert 'id="opens_at-errors"' in text_of(not_a_time)
    assert 'value="Tulipan"' in text_of(too_early)  # what was typed stays in the form
    assert polls(session_factory) == []


def test_a_poll_is_changed_and_keeps_its_account(panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Pizzeria")
    poll_id = add_poll(session_factory, shop)
    form = text_of(panel.get(f"/polls/{poll_id}/edit"))
    assert 'value="Margherita"' in form and 'name="options-3-code"' in form  # two empty rows to add options
    assert 'name="account"' not in form

    response = submit(panel, f"/polls/{poll_id}/edit", poll_form(question="Która pizza w piątek?", account="99"))

    assert response.status_code == 303
    [poll] = polls(session_factory)
    assert (poll.account_id, poll.question, [o["code"] for o in poll.options]) == (shop, "Która pizza w piątek?",
                                                                                  ["A", "B"])
    refused = submit(panel, f"/polls/{poll_id}/edit", poll_form(**{"options-0-code": "", "options-0-label": "",
                                                                   "options-2-code": "", "options-2-label": ""}))
    assert refused.status_code == 400 and 'options: must be a non-empty list of {&#34;code&#34;' in text_of(refused)
    assert [o["code"] for o in polls(session_factory)[0].options] == ["A", "B"]


def test_a_poll_is_deleted_with_its_votes_unless_a_keyword_votes_in_it(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Pizzeria")
    used, unused = add_poll(session_factory, shop), add_poll(session_factory, shop, "Inna?")
    voting_keyword(session_factory, shop, used)
    votes(session_factory, unused, "1", "2")

    refused = submit(panel, f"/polls/{used}/delete", {})
    deleted = submit(panel, f"/polls/{unused}/delete", {})

    assert refused.status_code == 409 and "is used by keywords" in text_of(refused)
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/polls"
    assert [p.id for p in polls(session_factory)] == [used]
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PollVote)) == 0


def test_the_results_chart_counts_votes_per_option_with_their_share(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Pizzeria")
    poll_id = add_poll(session_factory, shop, options=[{"code": "1", "label": "Margherita"},
                                                       {"code": "2", "label": "Hawajska"},
                                                       {"code": "3", "label": "Capricciosa"}])
    votes(session_factory, poll_id, "1", "2", "1", "1", "9")  # 9: an option removed since

    response = panel.get(f"/polls/{poll_id}/chart.svg")

    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    svg = ElementTree.fromstring(response.data)
    assert svg.get("role") == "img" and svg.findtext(f"{SVG}title") == "Która pizza?"
    tooltips = [g.findtext(f"{SVG}title") for g in svg.iter(f"{SVG}g")]
    assert tooltips == ["1 · Margherita: 3 (60%)", "2 · Hawajska: 1 (20%)", "3 · Capricciosa: 0 (0%)",
                        "9 (an option since removed): 1 (20%)"]
    assert "5 voters" in svg.get("aria-label", "")
    page = text_of(panel.get(f"/polls/{poll_id}"))
    assert 'id="poll-chart"' in page and "3 (60%)" in page and 'role="img"' in page


def test_a_vote_stored_by_reception_shows_in_the_chart(panel: FlaskClient,
                                                      session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Pizzeria")
    poll_id = add_poll(session_factory, shop)
    voting_keyword(session_factory, shop, poll_id)
    assert "Margherita: 0 (0%)" in text_of(panel.get(f"/polls/{poll_id}/chart.svg"))

    vote_by_sms(session_factory, "+48600100200", "ANKIETA margherita", T0)

    assert "Margherita: 1 (100%)" in text_of(panel.get(f"/polls/{poll_id}/chart.svg"))


def test_hostile_poll_text_is_escaped_on_the_pages_and_in_the_chart(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Pizzeria")
    hostile = '<script>window.pwned = 1</script><img src=x onerror="pwned=1">\u202e'
    poll_id = add_poll(session_factory, shop, question=hostile, options=[{"code": "X", "label": hostile}])

    for path in ("/polls", f"/polls/{poll_id}", f"/polls/{poll_id}/edit", f"/polls/{poll_id}/chart.svg"):
        html = text_of(panel.get(path))
        assert "<script>window.pwned" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path
    ElementTree.fromstring(panel.get(f"/polls/{poll_id}/chart.svg").data)  # still well-formed XML


def test_an_account_s_user_sees_and_changes_only_the_account_s_polls(
        signed_in, users, session_factory: sessionmaker[Session]) -> None:
    mine, theirs = accounts(session_factory, "Pizzeria", "Kwiaciarnia")
    my_poll, their_poll = add_poll(session_factory, mine, "Moja?"), add_poll(session_factory, theirs, "Ich?")
    owner = signed_in(users.create("pizza@example.com", admin=False, account_id=mine))

    listing = text_of(owner.get("/polls"))
    assert "Moja?" in listing and "Ich?" not in listing
    assert 'name="account"' in listing and "Kwiaciarnia" not in listing  # their own account, unseen
    for path in (f"/polls/{their_poll}", f"/polls/{their_poll}/chart.svg", f"/polls/{their_poll}/edit"):
        assert owner.get(path).status_code == 404, path
    assert submit(owner, f"/polls/{their_poll}/edit", poll_form()).status_code == 404
    assert submit(owner, f"/polls/{their_poll}/delete", {}).status_code == 404
    assert submit(owner, "/polls", poll_form(account=str(theirs))).status_code == 400
    own_page = text_of(owner.get(f"/polls/{my_poll}"))
    assert f'href="/polls/{my_poll}/edit"' in own_page and f'action="/polls/{my_poll}/delete"' in own_page
    assert submit(owner, "/polls", poll_form(account=str(mine))).status_code == 303
    assert sorted((p.account_id, p.question) for p in polls(session_factory)) == [
        (mine, "Moja?"), (mine, "Ulubiony kwiat?"), (theirs, "Ich?")]
