"""The accounts page: the admin creates the businesses using the box, with their opt-out words."""

from __future__ import annotations

import re

from sqlalchemy import select

from appliance.db.models import AccessNumber, Account


def token(client, path: str = "/accounts") -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"',  # type: ignore[union-attr]
                     client.get(path).get_data(as_text=True)).group(1)


def accounts(session_factory) -> list[tuple[str, list[str]]]:
    with session_factory() as session:
        return [(a.name, a.opt_out_words) for a in session.scalars(select(Account).order_by(Account.id))]


def test_an_admin_creates_an_account_with_its_opt_out_words(panel, session_factory):
    response = panel.post("/accounts", data={"csrf_token": token(panel), "name": " Kwiaciarnia Róża ",
                                             "opt_out_words": "WYPISZ, nie chcę\nkoniec"})
    assert response.status_code == 302
    assert accounts(session_factory) == [("Kwiaciarnia Róża", ["WYPISZ", "nie chcę", "koniec"])]
    page = panel.get(response.headers["Location"]).get_data(as_text=True)
    assert "Account Kwiaciarnia Róża created." in page and "nie chcę" in page
    assert "Kwiaciarnia Róża" in panel.get("/accounts").get_data(as_text=True)


def test_a_refused_account_says_why_at_its_field_and_nothing_is_written(panel, session_factory):
    panel.post("/accounts", data={"csrf_token": token(panel), "name": "Piekarnia"})
    for data, complaint in (({"name": "Piekarnia"}, "exists already"),
                            ({"name": "Inna", "opt_out_words": "Stop proszę"}, "begins with STOP"),
                            ({"name": ""}, "This field is required.")):
        response = panel.post("/accounts", data={"csrf_token": token(panel), **data})
        assert response.status_code == 400 and complaint in response.get_data(as_text=True)
    assert accounts(session_factory) == [("Piekarnia", [])]


def test_an_account_is_renamed_and_deleted_only_once_nothing_belongs_to_it(panel, session_factory):
    with session_factory() as session:
        account = Account(name="Pizzeria", opt_out_words=[])
        session.add(account)
        session.flush()
        session.add(AccessNumber(number="+48500100200", iccid="8948000000000000001", kind="dedicated",
                                 account_id=account.id))
        session.commit()
        account_id = account.id
    path = f"/accounts/{account_id}"
    assert panel.post(path, data={"csrf_token": token(panel, path), "name": "Pizzeria Da Marco",
                                  "opt_out_words": ""}).status_code == 302
    refused = panel.post(f"{path}/delete", data={"csrf_token": token(panel, path)})
    assert refused.status_code == 409 and "still has 1 access numbers" in refused.get_data(as_text=True)
    with session_factory() as session:
        session.delete(session.scalar(select(AccessNumber)))
        session.commit()
    assert panel.post(f"{path}/delete", data={"csrf_token": token(panel, path)}).status_code == 302
    assert accounts(session_factory) == []


def test_hostile_account_names_render_as_text(panel):
    panel.post("/accounts", data={"csrf_token": token(panel), "name": "<script>alert(1)</script>"})
    page = panel.get("/accounts").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_only_admins_see_accounts(users, signed_in, session_factory):
    with session_factory() as session:
        account = Account(name="Sklep", opt_out_words=[])
        session.add(account)
        session.commit()
        account_id = account.id
    shop_user = signed_in(users.create("ala@sklep.pl", admin=False, account_id=account_id))
    for path in ("/accounts", f"/accounts/{account_id}"):
        response = shop_user.get(path)
        assert response.status_code == 403 and "for administrators" in response.get_data(as_text=True)
    assert 'href="/accounts"' not in shop_user.get("/").get_data(as_text=True)
