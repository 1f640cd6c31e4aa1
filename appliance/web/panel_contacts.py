"""The panel's groups and contacts: groups with their members, the contacts with search and filters, a
contact's page with its opt-in and opt-out history, and CSV import and export.

Everything is written through the REST API's code (:mod:`appliance.web.api_config`), the CSV too:
the panel imports and exports exactly the files ``/api/v1/contacts/import`` and ``/contacts.csv`` do
(UTF-8 or Windows-1250, comma or semicolon, every line not imported listed with its reason).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.widgets import CheckboxInput, ListWidget

from appliance.db.models import Account, Contact, ContactEvent, Group, GroupMember, Keyword, Message
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError
from appliance.web.api_config import (
    _apply_contact,
    _apply_group,
    _groups_of,
    add_contact,
    contacts_csv,
    import_contacts_csv,
    remove_contact,
    remove_group,
)
from appliance.web.campaign_pages import (
    account_names,
    api_time,
    changeable_row,
    offer_accounts,
    visible_row,
    write_through_api,
)

bp = Blueprint("contacts", __name__)

PAGE_SIZE = 50
STATES = ("subscribed", "opted_out")
_PHONE_NUMBER = re.compile(r"^[\d\s+\-().]*\d[\d\s+\-().]*$")


class GroupForm(FlaskForm):
    account = SelectField(_l("Account"), coerce=int)
    name = StringField(_l("Name of the group"))


class RenameForm(FlaskForm):
    name = StringField(_l("Name of the group"))


class ContactForm(FlaskForm):
    account = SelectField(_l("Account"), coerce=int)
    msisdn = StringField(_l("Phone number"))
    name = StringField(_l("Name (optional)"))
    groups = SelectMultipleField(_l("Groups"), coerce=int, widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput())
    opted_out = BooleanField(_l("Opted out: no group sends and no automatic answers"))


class ImportForm(FlaskForm):
    account = SelectField(_l("Account"), coerce=int)
    group = SelectField(_l("Add everyone in the file to the group"), coerce=int, default=0)
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


# --- groups --------------------------------------------------------------------------------------

@bp.get("/groups")
def groups() -> str:
    return _render_groups(_group_form())


@bp.post("/groups")
def create_group() -> BaseResponse | tuple[str, int]:
    form = _group_form()
    if not form.validate_on_submit():
        return _render_groups(form), 400
    group = Group()

    def write(session: Session) -> None:
        _apply_group(session, group, {"account": form.account.data, "name": form.name.data or ""}, creating=True)
        session.add(group)

    result = write_through_api(form, write, "a group of that name exists already")
    if isinstance(result, ApiError):
        return _render_groups(form), result.status
    flash(_("Group created."), "success")
    return redirect(url_for("contacts.group", group_id=group.id), 303)


@bp.get("/groups/<int:group_id>")
def group(group_id: int) -> str:
    group = visible_row(Group, group_id)
    return _render_group(group, RenameForm(obj=group))


@bp.post("/groups/<int:group_id>")
def rename_group(group_id: int) -> BaseResponse | tuple[str, int]:
    group = changeable_row(Group, group_id)
    form = RenameForm()
    if not form.validate_on_submit():
        return _render_group(group, form), 400
    result = write_through_api(
        form, lambda session: _apply_group(session, group, {"name": form.name.data or ""}, creating=False),
        "a group of that name exists already")
    if isinstance(result, ApiError):
        return _render_group(group, form), result.status
    flash(_("Group renamed."), "success")
    return redirect(url_for("contacts.group", group_id=group.id), 303)


@bp.post("/groups/<int:group_id>/delete")
def delete_group(group_id: int) -> BaseResponse | tuple[str, int]:
    group = changeable_row(Group, group_id)
    name = group.name
    result = write_through_api(None, lambda session: remove_group(session, group),
                               f"group {group_id} is still referenced (by group sends)")
    if isinstance(result, ApiError):
        flash(result.message, "error")
        return _render_group(group, RenameForm(obj=group)), result.status
    flash(_("Group deleted: %(name)s. Its members stay in the contacts.", name=name), "success")
    return redirect(url_for("contacts.groups"), 303)


# --- contacts ------------------------------------------------------------------------------------

@bp.get("/contacts")
def index() -> str:
    return _render_contacts(_contact_form(), _import_form())


@bp.post("/contacts")
def create_contact() -> BaseResponse | tuple[str, int]:
    form = _contact_form()
    if not form.validate_on_submit():
        return _render_contacts(form, _import_form()), 400
    body = {**_contact_body(form, None), "account": form.account.data}
    result = write_through_api(form, lambda session: add_contact(session, body), "the contact exists already")
    if isinstance(result, ApiError):
        return _render_contacts(form, _import_form()), result.status
    flash(_("Contact saved."), "success")
    return redirect(url_for("contacts.contact", contact_id=result.id), 303)


@bp.get("/contacts/<int:contact_id>")
def contact(contact_id: int) -> str:
    contact = visible_row(Contact, contact_id)
    return _render_contact(contact, _edit_form(contact))


@bp.post("/contacts/<int:contact_id>")
def update_contact(contact_id: int) -> BaseResponse | tuple[str, int]:
    contact = changeable_row(Contact, contact_id)
    form = _edit_form(contact)
    if not form.validate_on_submit():
        return _render_contact(contact, form), 400
    body = _contact_body(form, contact)
    result = write_through_api(form, lambda session: _apply_contact(session, contact, body, creating=False),
                               "the contact exists already")
    if isinstance(result, ApiError):
        return _render_contact(contact, form), result.status
    flash(_("Contact saved."), "success")
    return redirect(url_for("contacts.contact", contact_id=contact.id), 303)


@bp.post("/contacts/<int:contact_id>/delete")
def delete_contact(contact_id: int) -> BaseResponse | tuple[str, int]:
    contact = changeable_row(Contact, contact_id)
    msisdn = contact.msisdn
    result = write_through_api(None, lambda session: remove_contact(session, contact),
                               f"contact {contact_id} is still referenced (by group sends)")
    if isinstance(result, ApiError):
        flash(result.message, "error")
        return _render_contact(contact, _edit_form(contact)), result.status
    flash(_("Contact %(number)s deleted with its history.", number=msisdn), "success")
    return redirect(url_for("contacts.index"), 303)


@bp.post("/contacts/import")
def import_csv() -> str | tuple[str, int]:
    form = _import_form()
    if not form.validate_on_submit():
        return _render_contacts(_contact_form(), form), 400
    session = db_session()
    account = session.get(Account, form.account.data)
    group = visible_row(Group, form.group.data) if form.group.data else None
    if account is None or (group is not None and group.account_id != account.id):
        form.group.errors = [_("Choose a group of the account the contacts go to.")]
        return _render_contacts(_contact_form(), form), 400
    data = form.file.data.read()
    result = write_through_api(form, lambda session: import_contacts_csv(session, account, group, data),
                               "the import collided with a concurrent change; nothing was imported, send it again")
    if isinstance(result, ApiError):
        return _render_contacts(_contact_form(), form), result.status
    return _render_contacts(_contact_form(), _import_form(), report=result)


@bp.get("/contacts.csv")
def export_csv() -> Response:
    """One account's contacts: the account chosen, else the only one the user sees."""
    session = db_session()
    chosen = request.args.get("account", type=int)
    if chosen is None:
        visible = list(account_names())
        if len(visible) != 1:
            abort(400, "choose the account: /contacts.csv?account=<id>")
        chosen = visible[0]
    account = session.get(Account, chosen)
    if account is None or not current_principal().sees(account.id):
        abort(404)
    response = Response(contacts_csv(session, account), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="contacts-account-{account.id}.csv"'
    return response


# --- forms and views -----------------------------------------------------------------------------

def _group_form() -> GroupForm:
    form = GroupForm()
    offer_accounts(form)
    return form


def _contact_form() -> ContactForm:
    form = ContactForm()
    offer_accounts(form)
    form.groups.choices = _group_choices(None)
    return form


def _edit_form(contact: Contact) -> ContactForm:
    """The contact's form, filled from the row, or from the post when there is one."""
    form = ContactForm(obj=contact, groups=_groups_of(db_session(), [contact.id]).get(contact.id, []),
                       opted_out=contact.opted_out_at is not None)
    del form.account  # a contact stays with its account
    form.groups.choices = _group_choices(contact.account_id)
    return form


def _import_form() -> ImportForm:
    form = ImportForm()
    offer_accounts(form)
    form.group.choices = [SelectChoice(0, _("(none)")), *_group_choices(None)]
    return form


def _group_choices(account_id: int | None) -> list[SelectChoice]:
    """The groups a contact may be put in: of ``account_id``, else of every account the user may
    change, named with their account when there are several."""
    principal = current_principal()
    query = select(Group).where(principal.visible(Group.account_id)).order_by(Group.name, Group.id)
    if account_id is not None:
        query = query.where(Group.account_id == account_id)
    groups = [g for g in db_session().scalars(query) if principal.may_change(g.account_id)]
    names = account_names()
    several = len({g.account_id for g in groups}) > 1
    return [SelectChoice(g.id, f"{names.get(g.account_id, '')} · {g.name}" if several else g.name) for g in groups]


def _contact_body(form: ContactForm, contact: Contact | None) -> dict[str, Any]:
    """The form as the API takes a contact; opting out keeps its first time, as an SMS opt-out does."""
    opted_out_at = None
    if form.opted_out.data:
        opted_out_at = api_time(contact.opted_out_at if contact is not None and contact.opted_out_at
                                else datetime.now(UTC))
    return {"msisdn": form.msisdn.data or "", "name": form.name.data or None, "groups": form.groups.data or [],
            "opted_out_at": opted_out_at}


def _filtered_contacts() -> tuple[Select[tuple[Contact]], dict[str, Any]]:
    """The contacts query of the list's filters, and the filters as read."""
    principal = current_principal()
    query = select(Contact).where(principal.visible(Contact.account_id))
    filters: dict[str, Any] = {"q": request.args.get("q", "").strip(), "group": None, "state": "",
                               "account": request.args.get("account", type=int)}
    if filters["account"] is not None:
        query = query.where(Contact.account_id == filters["account"])
    group_id = request.args.get("group", type=int)
    if group_id:
        filters["group"] = visible_row(Group, group_id)
        query = query.where(Contact.id.in_(select(GroupMember.contact_id).where(GroupMember.group_id == group_id)))
    if request.args.get("state") in STATES:
        filters["state"] = request.args["state"]
        opted_out = Contact.opted_out_at.is_not(None)
        query = query.where(opted_out if filters["state"] == "opted_out" else ~opted_out)
    if filters["q"]:
        text = filters["q"]
        matches = [func.lower(Contact.name).contains(text.lower(), autoescape=True)]
        if _PHONE_NUMBER.match(text):  # written with spaces or dashes, perhaps: the digits count
            matches.append(Contact.msisdn.contains(re.sub(r"\D", "", text), autoescape=True))
        query = query.where(or_(*matches))
    return query, filters


def _contact_rows(session: Session, contacts: list[Contact]) -> list[dict[str, Any]]:
    memberships = _groups_of(session, [c.id for c in contacts])
    group_ids = {g for ids in memberships.values() for g in ids}
    names = dict(session.execute(select(Group.id, Group.name).where(Group.id.in_(group_ids)))
                 .all()) if group_ids else {}
    return [{"contact": c, "groups": sorted(names[g] for g in memberships.get(c.id, []) if g in names)}
            for c in contacts]


def _render_contacts(form: ContactForm, import_form: ImportForm, report: dict[str, Any] | None = None) -> str:
    session = db_session()
    query, filters = _filtered_contacts()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(request.args.get("page", 1, type=int), 1)
    contacts = list(session.scalars(query.order_by(Contact.id.desc()).limit(PAGE_SIZE)
                                    .offset((page - 1) * PAGE_SIZE)))
    groups = list(session.scalars(select(Group).where(current_principal().visible(Group.account_id))
                                  .order_by(Group.name)))
    arguments = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "campaigns/contacts.html", rows=_contact_rows(session, contacts), total=total, filters=filters,
        groups=groups, accounts=account_names(), form=form, import_form=import_form, report=report,
        newer_url=url_for("contacts.index", **arguments, page=page - 1) if page > 1 else None,
        older_url=url_for("contacts.index", **arguments, page=page + 1) if page * PAGE_SIZE < total else None)


def _render_groups(form: GroupForm) -> str:
    session = db_session()
    groups = list(session.scalars(select(Group).where(current_principal().visible(Group.account_id))
                                  .order_by(Group.name, Group.id)))
    counts = dict(session.execute(select(GroupMember.group_id, func.count())
                                  .where(GroupMember.group_id.in_([g.id for g in groups]))
                                  .group_by(GroupMember.group_id)).all())
    return render_template("campaigns/groups.html", groups=groups, counts=counts, form=form,
                           accounts=account_names(), joining=_joining_keywords(session, groups))


def _render_group(group: Group, form: RenameForm) -> str:
    session = db_session()
    members = select(Contact).join(GroupMember, GroupMember.contact_id == Contact.id).where(
        GroupMember.group_id == group.id)
    total = session.scalar(select(func.count()).select_from(members.subquery())) or 0
    contacts = list(session.scalars(members.order_by(Contact.id.desc()).limit(PAGE_SIZE)))
    return render_template("campaigns/group.html", group=group, form=form, total=total,
                           rows=_contact_rows(session, contacts), account_name=account_names().get(group.account_id),
                           may_change=current_principal().may_change(group.account_id),
                           keywords=_joining_keywords(session, [group]).get(group.id, []))


def _render_contact(contact: Contact, form: ContactForm) -> str:
    session = db_session()
    events = list(session.scalars(select(ContactEvent).where(ContactEvent.contact_id == contact.id)
                                  .order_by(ContactEvent.at.desc(), ContactEvent.id.desc())))
    group_names = dict(session.execute(select(Group.id, Group.name).where(Group.account_id == contact.account_id))
                       .all())
    message_ids = [e.message_id for e in events if e.message_id is not None]
    texts = dict(session.execute(select(Message.id, Message.text).where(Message.id.in_(message_ids))).all()) \
        if message_ids else {}
    history = [{"event": e, "group": group_names.get(e.group_id) if e.group_id else None,
                "text": texts.get(e.message_id) if e.message_id else None} for e in events]
    return render_template("campaigns/contact.html", contact=contact, form=form, history=history,
                           account_name=account_names().get(contact.account_id),
                           may_change=current_principal().may_change(contact.account_id))


def _joining_keywords(session: Session, groups: list[Group]) -> dict[int, list[str]]:
    """The keywords whose senders join each group, as "KEYWORD" texts."""
    ids = {g.id for g in groups}
    joining: dict[int, list[str]] = {}
    accounts = {g.account_id for g in groups}
    for keyword in session.scalars(select(Keyword).where(Keyword.account_id.in_(accounts)).order_by(Keyword.keyword)):
        for action in keyword.actions or []:
            if isinstance(action, dict) and action.get("type") == "join_group" and action.get("group") in ids:
                joining.setdefault(action["group"], []).append(keyword.keyword)
    return joining

