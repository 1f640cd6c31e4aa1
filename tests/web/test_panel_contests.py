"""The panel's contests: create, edit and delete through the API's validation, entries page by page,
reproducible draws with their seeds, and each account's user seeing only the account's contests."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import Contest, ContestDraw, ContestEntry
from appliance.rules.contests import draw_winners
from tests.web.campaign_pages import accounts, submit, text_of
from tests.web.conftest import Store

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def contest_form(**fields: object) -> dict[str, object]:
    form: dict[str, object] = {"name": "Majówka", "answer": "Kraków|Krakow", "opens_at": "2026-05-01T00:00",
                               "closes_at": "2026-05-03T00:00", "entries_per_number": "2"}
    form.update(fields)
    return form


def stored(session_factory: sessionmaker[Session]) -> list[Contest]:
    with session_factory() as session:
        return list(session.scalars(select(Contest).order_by(Contest.id)))


def draws(session_factory: sessionmaker[Session]) -> list[ContestDraw]:
    with session_factory() as session:
        return list(session.scalars(select(ContestDraw).order_by(ContestDraw.id)))


def add_contest(session_factory: sessionmaker[Session], account_id: int, name: str = "Wiosna",
                answer: str | None = "B") -> int:
    with session_factory.begin() as session:
        contest = Contest(account_id=account_id, name=name, answer=answer, entries_per_number=1)
        session.add(contest)
        session.flush()
        return contest.id


def enter(session_factory: sessionmaker[Session], contest_id: int, count: int) -> None:
    """``count`` entries a second apart from different numbers; every fourth one wrong."""
    message = Store(session_factory).message()
    with session_factory.begin() as session:
        for n in range(count):
            session.add(ContestEntry(contest_id=contest_id, msisdn=f"+486000000{n:02d}",
                                     answer="B" if n % 4 != 3 else "A <b>", correct=n % 4 != 3,
                                     message_id=message.id, entered_at=T0 + timedelta(seconds=n)))


def test_a_new_contest_is_stored_with_times_on_the_box_s_clock(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")

    response = submit(panel, "/contests", contest_form(account=shop))

    [contest] = stored(session_factory)
    assert response.status_code == 303 and response.headers["Location"] == f"/contests/{contest.id}"
    assert (contest.account_id, contest.name, contest.answer, contest.entries_per_number) == (
        shop, "Majówka", "Kraków|Krakow", 2)
    assert (contest.opens_at, contest.closes_at) == (datetime(2026, 4, 30, 22, tzinfo=UTC),
                                                     datetime(2026, 5, 2, 22, tzinfo=UTC))
    page = text_of(panel.get(f"/contests/{contest.id}"))
    assert "Majówka" in page and "2026-05-01 00:00 CEST to 2026-05-03 00:00 CEST" in page


def test_a_contest_the_api_refuses_is_400_with_its_message_and_nothing_is_stored(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")

    backwards = submit(panel, "/contests", contest_form(account=shop, closes_at="2026-04-01T00:00"))
    zero = submit(panel, "/contests", contest_form(account=shop, entries_per_number="0"))
    words = submit(panel, "/contests", contest_form(account=shop, entries_per_number="dwa"))

    assert [r.status_code for r in (backwards, zero, words)] == [400, 400, 400]
    assert 'id="closes_at-errors"><li>must be after opens_at</li>' in text_of(backwards)
    assert 'id="entries_per_number-errors"><li>must be at least 1, not 0</li>' in text_of(zero)
    assert 'id="entries_per_number-errors"' in text_of(words)
    assert stored(session_factory) == []


def test_a_contest_is_changed_and_deleted_with_its_entries_and_draws(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")
    contest_id = add_contest(session_factory, shop)
    enter(session_factory, contest_id, 4)
    assert 'value="Wiosna"' in text_of(panel.get(f"/contests/{contest_id}/edit"))

    changed = submit(panel, f"/contests/{contest_id}/edit", contest_form(answer="", opens_at="", closes_at=""))

    assert changed.status_code == 303
    [contest] = stored(session_factory)
    assert (contest.name, contest.answer, contest.opens_at, contest.closes_at) == ("Majówka", None, None, None)
    assert submit(panel, f"/contests/{contest_id}/draw", {"winners": "1"}).status_code == 303
    assert submit(panel, f"/contests/{contest_id}/delete", {}).status_code == 303
    assert stored(session_factory) == [] and draws(session_factory) == []


def test_entries_are_listed_oldest_first_fifty_a_page_with_right_and_wrong_answers(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")
    contest_id = add_contest(session_factory, shop)
    enter(session_factory, contest_id, 60)

    first = text_of(panel.get(f"/contests/{contest_id}"))
    second = text_of(panel.get(f"/contests/{contest_id}?page=2"))

    senders = re.findall(r"<td>(\+48\d+)</td>", first)
    assert len(senders) == 50 and senders[:2] == ["+48600000000", "+48600000001"]
    assert re.findall(r"<td>(\+48\d+)</td>", second) == [f"+486000000{n:02d}" for n in range(50, 60)]
    assert "60 (45 correct)" in first
    assert first.count('badge-ok">correct<') == 38 and first.count('badge-bad">wrong<') == 12
    assert "A &lt;b&gt;" in first and "<b>" not in first.split("<main>")[1]
    assert f'href="/contests/{contest_id}?page=2" rel="next"' in first
    assert f'href="/contests/{contest_id}?page=1" rel="prev"' in second


def test_draw_winners_shows_the_seed_and_the_same_seed_draws_the_same_winners(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")
    contest_id = add_contest(session_factory, shop)
    enter(session_factory, contest_id, 40)

    first = submit(panel, f"/contests/{contest_id}/draw", {"winners": "3", "method": "random"})
    [draw] = draws(session_factory)
    replay = submit(panel, f"/contests/{contest_id}/draw", {"winners": "3", "method": "random", "seed": draw.seed})
    earliest = submit(panel, f"/contests/{contest_id}/draw", {"winners": "2", "method": "first_correct"})

    assert first.status_code == 303 and first.headers["Location"] == f"/contests/{contest_id}#draw-{draw.id}"
    assert replay.status_code == earliest.status_code == 303
    made = draws(session_factory)
    assert made[1].seed == draw.seed and made[1].winners == draw.winners
    with session_factory() as session:
        entries = list(session.scalars(select(ContestEntry)))
    assert draw.winners == draw_winners(entries, 3, draw.seed, "random")  # anyone can check it
    assert all(int(w[-2:]) % 4 != 3 for w in draw.winners)  # correct entries only
    assert made[2].winners == ["+48600000000", "+48600000001"]
    page = text_of(panel.get(f"/contests/{contest_id}"))
    assert page.count(f'<code class="seed">{draw.seed}</code>') == 2
    assert page.index(f'id="draw-{made[2].id}"') < page.index(f'id="draw-{draw.id}"')  # newest first
    assert "".join(f"<li>{w}</li>" for w in draw.winners) in page


def test_a_draw_the_api_refuses_is_shown_and_nothing_is_stored(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")
    contest_id = add_contest(session_factory, shop)

    nobody = submit(panel, f"/contests/{contest_id}/draw", {"winners": "1"})
    enter(session_factory, contest_id, 3)
    zero = submit(panel, f"/contests/{contest_id}/draw", {"winners": "0"})
    lottery = submit(panel, f"/contests/{contest_id}/draw", {"winners": "1", "method": "lottery"})

    assert nobody.status_code == 409 and f"contest {contest_id} has no correct entries to draw from" in text_of(nobody)
    assert zero.status_code == 400 and 'id="winners-errors"><li>must be at least 1, not 0</li>' in text_of(zero)
    assert lottery.status_code == 400 and 'id="method-errors"' in text_of(lottery)
    assert draws(session_factory) == []


def test_an_account_s_user_sees_and_draws_only_in_the_account_s_contests(
        signed_in, users, session_factory: sessionmaker[Session]) -> None:
    mine, theirs = accounts(session_factory, "Ogrody", "Pizzeria")
    my_contest, their_contest = add_contest(session_factory, mine, "Mój"), add_contest(session_factory, theirs, "Ich")
    enter(session_factory, their_contest, 4)
    owner = signed_in(users.create("ogrody@example.com", admin=False, account_id=mine))

    listing = text_of(owner.get("/contests"))
    assert "Mój" in listing and "Ich" not in listing
    for path in (f"/contests/{their_contest}", f"/contests/{their_contest}/edit"):
        assert owner.get(path).status_code == 404, path
    for path, data in ((f"/contests/{their_contest}/edit", contest_form()), (f"/contests/{their_contest}/delete", {}),
                       (f"/contests/{their_contest}/draw", {"winners": "1"})):
        assert submit(owner, path, data).status_code == 404, path
    assert submit(owner, "/contests", contest_form(account=theirs)).status_code == 400
    own_page = text_of(owner.get(f"/contests/{my_contest}"))
    assert f'href="/contests/{my_contest}/edit"' in own_page and f'action="/contests/{my_contest}/delete"' in own_page
    assert [(c.account_id, c.name) for c in stored(session_factory)] == [(mine, "Mój"), (theirs, "Ich")]
    assert draws(session_factory) == []
