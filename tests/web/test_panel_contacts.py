"""The panel's groups and contacts: groups with members, contacts with search and filters, a contact's
opt-in and opt-out history, CSV import and export, and each account's user seeing only its own."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.codecs.sms_pdu import encode_sms_deliver
from appliance.db.models import AccessNumber, Contact, ContactEvent, Group, GroupMember, Keyword
from appliance.reception.store import MessageStore, ReceivedPdu
from tests.web.campaign_pages import accounts, csrf_token, submit, text_of

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def groups(session_factory: sessionmaker[Session]) -> list[tuple[int, str]]:
    with session_factory() as session:
        return [(g.account_id, g.name) for g in session.scalars(select(Group).order_by(Group.id))]


def add_group(session_factory: sessionmaker[Session], account_id: int, name: str) -> int:
    with session_factory.begin() as session:
        group = Group(account_id=account_id, name=name)
        session.add(group)
        session.flush()
        return group.id


def add_contact(session_factory: sessionmaker[Session], account_id: int, msisdn: str, name: str | None = None,
                *group_ids: int, opted_out: bool = False) -> int:
    with session_factory.begin() as session:
        contact = Contact(account_id=account_id, msisdn=msisdn, name=name,
                          opted_out_at=T0 if opted_out else None)
        session.add(contact)
        session.flush()
        session.add_all(GroupMember(group_id=g, contact_id=contact.id) for g in group_ids)
        return contact.id


def contacts(session_factory: sessionmaker[Session]) -> list[tuple[str, str | None, list[int], bool]]:
    """(number, name, group ids, opted out) of every contact."""
    with session_factory() as session:
        rows = []
        for c in session.scalars(select(Contact).order_by(Contact.id)):
            member_of = sorted(session.scalars(select(GroupMember.group_id).where(GroupMember.contact_id == c.id)))
            rows.append((c.msisdn, c.name, member_of, c.opted_out_at is not None))
        return rows


def listed_numbers(html: str) -> list[str]:
    return re.findall(r'<td class="number"><a href="/contacts/\d+">([^<]+)</a>', html)


# --- groups --------------------------------------------------------------------------------------

def test_groups_are_listed_with_their_members_and_the_keywords_that_add_to_them(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")
    gardeners, empty = add_group(session_factory, shop, "Ogrodnicy"), add_group(session_factory, shop, "Pusta")
    add_contact(session_factory, shop, "+48600100200", "Ania", gardeners)
    add_contact(session_factory, shop, "+48600100300", None, gardeners)
    with session_factory.begin() as session:
        number = AccessNumber(number="+48500100200", iccid="8948000000000000001", kind="shared")
        session.add(number)
        session.flush()
        session.add(Keyword(access_number_id=number.id, account_id=shop, keyword="OGRODNIK", mode="base",
                            typo_tolerant=False, actions=[{"type": "join_group", "group": gardeners}]))

    html = text_of(panel.get("/groups"))

    assert re.search(rf'href="/groups/{gardeners}"[^>]*>Ogrodnicy</a>.*?href="/contacts\?group={gardeners}">2</a>'
                     r'.*?OGRODNIK', html, re.DOTALL)
    assert re.search(rf'href="/contacts\?group={empty}">0</a>', html)
    page = text_of(panel.get(f"/groups/{gardeners}"))
    assert listed_numbers(page) == ["+48600100300", "+48600100200"] and "OGRODNIK" in page


def test_a_group_is_created_renamed_and_deleted_through_the_api_s_rules(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")

    created = submit(panel, "/groups", {"account": shop, "name": " Stali klienci "})
    group_id = int(created.headers["Location"].rsplit("/", 1)[1])
    duplicate = submit(panel, "/groups", {"account": shop, "name": "Stali klienci"})
    unnamed = submit(panel, "/groups", {"account": shop, "name": ""})

    assert created.status_code == 303 and groups(session_factory) == [(shop, "Stali klienci")]
    assert duplicate.status_code == 409 and "has a group named &#39;Stali klienci&#39; already" in text_of(duplicate)
    assert unnamed.status_code == 400 and 'id="name-errors"><li>must not be empty</li>' in text_of(unnamed)
    assert submit(panel, f"/groups/{group_id}", {"name": "VIP"}).status_code == 303
    assert groups(session_factory) == [(shop, "VIP")]
    assert submit(panel, f"/groups/{group_id}", {"name": ""}).status_code == 400
    contact_id = add_contact(session_factory, shop, "+48600100200", "Ania", group_id)
    assert submit(panel, f"/groups/{group_id}/delete", {}).status_code == 303
    assert groups(session_factory) == [] and contacts(session_factory) == [("+48600100200", "Ania", [], False)]
    assert panel.get(f"/contacts/{contact_id}").status_code == 200


# --- contacts ------------------------------------------------------------------------------------

def test_contacts_are_searched_by_number_or_name_and_filtered_by_group_and_opt_out(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")
    vip = add_group(session_factory, shop, "VIP")
    add_contact(session_factory, shop, "+48600100200", "Łucja Kowalska", vip)
    add_contact(session_factory, shop, "+48600100300", "Jan Nowak", opted_out=True)
    add_contact(session_factory, shop, "+447700900123", "Ann 100%")

    def numbers(query: str) -> list[str]:
        return listed_numbers(text_of(panel.get(f"/contacts?{query}")))

    assert numbers("") == ["+447700900123", "+48600100300", "+48600100200"]
    assert numbers("q=600+100+200") == ["+48600100200"]
    assert numbers("q=nowak") == ["+48600100300"]
    assert numbers("q=100%25") == ["+447700900123"]  # % is a character, not a wildcard
    assert numbers(f"group={vip}") == ["+48600100200"]
    assert numbers("state=opted_out") == ["+48600100300"]
    assert numbers("state=subscribed&q=a") == ["+447700900123", "+48600100200"]
    assert "3 contacts" in text_of(panel.get("/contacts"))


def test_contacts_are_paged_fifty_at_a_time(panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")
    with session_factory.begin() as session:
        session.add_all(Contact(account_id=shop, msisdn=f"+48600{n:06d}") for n in range(120))

    first = text_of(panel.get("/contacts"))
    third = text_of(panel.get("/contacts?page=3"))

    assert len(listed_numbers(first)) == 50 and listed_numbers(first)[0] == "+48600000119"
    assert 'href="/contacts?page=2" rel="next"' in first and 'rel="prev"' not in first
    assert listed_numbers(third) == [f"+48600{n:06d}" for n in range(19, -1, -1)]
    assert 'href="/contacts?page=2" rel="prev"' in third and 'rel="next"' not in third


def test_a_contact_is_added_edited_and_deleted_with_its_history_recorded(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")
    vip, news = add_group(session_factory, shop, "VIP"), add_group(session_factory, shop, "Nowości")

    created = submit(panel, "/contacts", {"account": shop, "msisdn": "600 100 200", "name": "Ania", "groups": [vip]})
    contact_id = int(created.headers["Location"].rsplit("/", 1)[1])
    assert contacts(session_factory) == [("+48600100200", "Ania", [vip], False)]

    changed = submit(panel, f"/contacts/{contact_id}", {"msisdn": "+48600100200", "name": "Anna",
                                                       "groups": [news], "opted_out": "y"})

    assert changed.status_code == 303
    assert contacts(session_factory) == [("+48600100200", "Anna", [news], True)]
    history = text_of(panel.get(f"/contacts/{contact_id}"))
    assert ["added to a group", "left a group", "opted out", "added to a group"] == re.findall(
        r'<span class="badge badge-\w+">([^<]+)</span>', history.split('id="history-head"')[1])
    assert "group VIP" in history and "group Nowości" in history
    deleted = submit(panel, f"/contacts/{contact_id}/delete", {})
    assert deleted.status_code == 303 and contacts(session_factory) == []
    with session_factory() as session:
        assert session.scalars(select(ContactEvent)).all() == []


def test_a_contact_the_api_refuses_is_400_with_its_message_and_nothing_is_stored(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    shop, other = accounts(session_factory, "Ogrody", "Pizzeria")
    add_contact(session_factory, shop, "+48600100200", "Ania")
    their_group = add_group(session_factory, other, "Ich")

    bad_number = submit(panel, "/contacts", {"account": shop, "msisdn": "12345", "name": "Zły"})
    duplicate = submit(panel, "/contacts", {"account": shop, "msisdn": "600100200"})
    wrong_group = submit(panel, "/contacts", {"account": shop, "msisdn": "600100300", "groups": [their_group]})

    assert bad_number.status_code == 400
    assert re.search(r'id="msisdn-errors"><li>&#39;12345&#39;: add the country code', text_of(bad_number))
    assert 'value="Zły"' in text_of(bad_number)
    assert duplicate.status_code == 409 and "has the contact +48600100200 already" in text_of(duplicate)
    assert wrong_group.status_code == 400 and "groups[0]: group" in text_of(wrong_group)
    assert contacts(session_factory) == [("+48600100200", "Ania", [], False)]


def test_an_sms_opt_in_and_stop_show_in_the_contact_s_history_with_keyword_and_text(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Kwiaciarnia")
    group_id = add_group(session_factory, shop, "Klienci")
    with session_factory.begin() as session:
        number = AccessNumber(number="+48500100300", iccid="8948000000000000009", kind="dedicated", account_id=shop)
        session.add(number)
        session.flush()
        session.add(Keyword(access_number_id=number.id, account_id=shop, keyword="KWIATY", mode="base",
                            typo_tolerant=False, actions=[{"type": "join_group", "group": group_id}]))
    store = MessageStore(session_factory, partial_timeout=timedelta(hours=24))
    for second, text in enumerate(["kwiaty <b>proszę</b>", "STOP"]):
        store.store([ReceivedPdu("8948000000000000009", pdu)
                     for pdu in encode_sms_deliver("+48600100200", text, T0 + timedelta(seconds=second))])

    [(number, _name, member_of, opted_out)] = contacts(session_factory)
    with session_factory() as session:
        contact_id = session.scalars(select(Contact.id)).one()
    history = text_of(panel.get(f"/contacts/{contact_id}")).split('id="history-head"')[1]

    assert (number, member_of, opted_out) == ("+48600100200", [], True)
    assert re.findall(r'<span class="badge badge-\w+">([^<]+)</span>', history) == [
        "opted out", "left a group", "opted in"]
    assert "KWIATY" in history and "kwiaty &lt;b&gt;proszę&lt;/b&gt;" in history and "group Klienci" in history
    assert re.search(r"<time datetime=\S+>\d{4}-\d\d-\d\d \d\d:\d\d CES?T</time>", history)  # the box's clock


# --- CSV -----------------------------------------------------------------------------------------

def test_csv_import_reports_bad_lines_and_the_export_imports_again(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    shop, copy = accounts(session_factory, "Ogrody", "Kopia")
    vip = add_group(session_factory, shop, "VIP")
    upload = ("msisdn,name\r\n600 100 200,Zażółć Gęślą Jaźń\r\nabc,Zły numer\r\n600100200,Duplikat\r\n"
              "+48600100202,=HYPERLINK(\"x\")\r\n").encode()

    response = submit(panel, "/contacts/import", {"account": shop, "group": vip,
                                                  "file": (io.BytesIO(upload), "kontakty.csv")},
                      content_type="multipart/form-data")

    report = text_of(response)
    assert response.status_code == 200, re.findall(r'class="errors".*?</ul>|flash-error.*?</div>', report, re.S)
    assert "2 new, 0 updated, 0 unchanged, 2 lines skipped." in report
    assert "Line 3:</span>" not in report and re.search(r"Line 3: <span[^>]*>&#39;abc&#39; is not a phone number",
                                                          report)
    assert "Line 4: <span class=\"user-text\">+48600100200 is on line 2 already" in report
    assert contacts(session_factory) == [("+48600100200", "Zażółć Gęślą Jaźń", [vip], False),
                                         ("+48600100202", '=HYPERLINK("x")', [vip], False)]

    exported = panel.get(f"/contacts.csv?account={shop}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.headers["Content-Disposition"] == f'attachment; filename="contacts-account-{shop}.csv"'
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert rows == [["msisdn", "name", "groups", "opted_out_at"], ["+48600100200", "Zażółć Gęślą Jaźń", "VIP", ""],
                    ["+48600100202", "'=HYPERLINK(\"x\")", "VIP", ""]]
    again = submit(panel, "/contacts/import", {"account": copy, "group": 0,
                                               "file": (io.BytesIO(exported.data), "contacts.csv")},
                   content_type="multipart/form-data")
    assert "2 new, 0 updated, 0 unchanged, 0 lines skipped." in text_of(again)
    assert contacts(session_factory)[2:] == [("+48600100200", "Zażółć Gęślą Jaźń", [], False),
                                             ("+48600100202", '=HYPERLINK("x")', [], False)]


def test_an_excel_file_in_windows_1250_with_semicolons_imports(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")
    upload = "Telefon;Name\r\n600100200;Gżegżółka\r\n".encode("cp1250")

    response = submit(panel, "/contacts/import", {"account": shop, "file": (io.BytesIO(upload), "excel.csv")},
                      content_type="multipart/form-data")

    assert response.status_code == 200 and "1 new" in text_of(response)
    assert contacts(session_factory) == [("+48600100200", "Gżegżółka", [], False)]


def test_a_file_that_cannot_be_imported_is_400_with_the_reason_and_imports_nothing(
        panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    shop, other = accounts(session_factory, "Ogrody", "Pizzeria")
    their_group = add_group(session_factory, other, "Ich")

    no_column = submit(panel, "/contacts/import", {"account": shop, "file": (io.BytesIO(b"name\r\nJan\r\n"), "a.csv")},
                       content_type="multipart/form-data")
    spreadsheet = submit(panel, "/contacts/import", {"account": shop,
                                                     "file": (io.BytesIO(b"msisdn\r\n600100200\x00\r\n"), "a.xlsx")},
                         content_type="multipart/form-data")
    no_file = submit(panel, "/contacts/import", {"account": shop}, content_type="multipart/form-data")
    other_group = submit(panel, "/contacts/import", {"account": shop, "group": their_group,
                                                     "file": (io.BytesIO(b"msisdn\r\n600100200\r\n"), "a.csv")},
                         content_type="multipart/form-data")

    assert [r.status_code for r in (no_column, spreadsheet, no_file, other_group)] == [400, 400, 400, 400]
    assert "has no msisdn column" in text_of(no_column)
    assert "contains a NUL byte" in text_of(spreadsheet)
    assert "Choose a CSV file." in text_of(no_file)
    assert "Choose a group of the account the contacts go to." in text_of(other_group)
    assert contacts(session_factory) == []


# --- accounts ------------------------------------------------------------------------------------

def test_an_account_s_user_sees_and_changes_only_the_account_s_groups_and_contacts(
        signed_in, users, session_factory: sessionmaker[Session]) -> None:
    mine, theirs = accounts(session_factory, "Ogrody", "Pizzeria")
    my_group, their_group = add_group(session_factory, mine, "Moi"), add_group(session_factory, theirs, "Ich")
    add_contact(session_factory, mine, "+48600100200", "Mój", my_group)
    their_contact = add_contact(session_factory, theirs, "+48600100300", "Ich", their_group)
    owner = signed_in(users.create("ogrody@example.com", admin=False, account_id=mine))

    assert "Moi" in text_of(owner.get("/groups")) and "Ich" not in text_of(owner.get("/groups"))
    assert listed_numbers(text_of(owner.get("/contacts"))) == ["+48600100200"]
    for path in (f"/groups/{their_group}", f"/contacts/{their_contact}", f"/contacts?group={their_group}",
                 f"/contacts.csv?account={theirs}"):
        assert owner.get(path).status_code == 404, path
    for path, data in ((f"/groups/{their_group}", {"name": "Przejęta"}), (f"/groups/{their_group}/delete", {}),
                       (f"/contacts/{their_contact}", {"msisdn": "600100300", "name": "Przejęty"}),
                       (f"/contacts/{their_contact}/delete", {})):
        assert submit(owner, path, data).status_code == 404, path
    assert submit(owner, "/groups", {"account": theirs, "name": "Wrzutka"}).status_code == 400
    assert submit(owner, "/contacts", {"account": mine, "msisdn": "600100400", "groups": [their_group]}
                  ).status_code == 400
    upload = {"account": theirs, "file": (io.BytesIO(b"msisdn\r\n600100500\r\n"), "a.csv")}
    assert submit(owner, "/contacts/import", upload, content_type="multipart/form-data").status_code == 400
    assert groups(session_factory) == [(mine, "Moi"), (theirs, "Ich")]
    assert [c[0] for c in contacts(session_factory)] == ["+48600100200", "+48600100300"]
    exported = owner.get("/contacts.csv")  # their one account, without asking
    assert exported.status_code == 200 and "+48600100200" in text_of(exported) and "+48600100300" not in text_of(
        exported)


def test_a_form_without_its_csrf_token_is_refused(panel: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    [shop] = accounts(session_factory, "Ogrody")
    csrf_token(panel)

    response = panel.post("/groups", data={"account": shop, "name": "Bez tokenu"})

    assert response.status_code == 400 and groups(session_factory) == []
