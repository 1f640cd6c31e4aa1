"""Keywords and what each does, in order: join a group, leave the groups, answer, vote, enter a contest,
forward.

An admin manages every keyword; an account user the keywords of its own account, on its dedicated
numbers and on the shared ones (where accounts reserve keywords side by side). Whether a keyword may
be reserved (another account's keyword on a shared number, a reserved word such as STOP, an opt-out
word it would shadow) is decided by the REST API's code (appliance.web.api_config), whose message is
shown next to the keyword.

The actions are a list of rows named ``actions-<n>-<field>``; their order on the page is the order they
run in. A row whose type is left empty is dropped, which is how a page without script removes one.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice

from appliance.db.models import AccessNumber, Contest, ForwardTarget, Group, Keyword, Poll
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError
from appliance.web.api_config import _apply_keyword, _commit, remove_keyword
from appliance.web.setup_forms import (
    account_choices,
    account_names,
    changeable_or_403,
    number_choices,
    optional_id,
    reservable_numbers,
    show_api_error,
    visible_or_404,
)

bp = Blueprint("keywords", __name__)

ACTION_CHOICES = [SelectChoice("", _l("— no action —")),
                  SelectChoice("join_group", _l("Join a group")),
                  SelectChoice("leave_groups", _l("Leave every group")),
                  SelectChoice("autoreply", _l("Reply with a text")),
                  SelectChoice("poll_vote", _l("Vote in a poll")),
                  SelectChoice("contest_entry", _l("Enter a contest")),
                  SelectChoice("forward", _l("Forward to a target"))]
MODE_CHOICES = [SelectChoice("exact", _l("Exact: the message is the keyword and nothing else")),
                SelectChoice("base", _l("Starts with: the keyword first, anything after it (the payload)")),
                SelectChoice("phrase", _l("Anywhere: the keyword's words anywhere in the message"))]
# The field of an action row naming what the action uses, and where its choices come from.
REFERENCES = {"join_group": ("group", Group), "poll_vote": ("poll", Poll), "contest_entry": ("contest", Contest),
              "forward": ("target", ForwardTarget)}


class ActionForm(Form):
    type = SelectField(_l("Action"), choices=ACTION_CHOICES, default="")
    group = SelectField(_l("Group"), coerce=optional_id)
    poll = SelectField(_l("Poll"), coerce=optional_id)
    contest = SelectField(_l("Contest"), coerce=optional_id)
    target = SelectField(_l("Forwarding target"), coerce=optional_id)
    text = TextAreaField(_l("Reply text"))


class KeywordForm(FlaskForm):
    access_number = SelectField(_l("Access number"), coerce=optional_id)
    account = SelectField(_l("Account"), coerce=optional_id)
    keyword = StringField(_l("Keyword"))
    mode = RadioField(_l("Matches when"), choices=MODE_CHOICES)
    typo_tolerant = BooleanField(_l("Accept one typo (keywords of 5 letters or more)"))
    actions = FieldList(FormField(ActionForm), min_entries=1)


@bp.get("/keywords")
def index() -> str:
    session = db_session()
    principal = current_principal()
    numbers = reservable_numbers(session)
    accounts = account_names(session)
    shown_number = request.args.get("access_number", type=int)
    query = select(Keyword).where(principal.visible(Keyword.account_id))
    if shown_number is not None:
        query = query.where(Keyword.access_number_id == shown_number)
    keywords = list(session.scalars(query))
    number_of = {n.id: n for n in session.scalars(select(AccessNumber))}
    keywords.sort(key=lambda k: (number_of[k.access_number_id].number, k.keyword.casefold()))
    names = _reference_names(session)
    rows = [{"keyword": k, "number": number_of[k.access_number_id],
             "actions": [_action_text(action, names) for action in k.actions or []]} for k in keywords]
    return render_template("setup/keywords.html", rows=rows, numbers=numbers, shown_number=shown_number,
                           accounts=accounts)


@bp.route("/keywords/new", methods=["GET", "POST"])
def create() -> str | BaseResponse | tuple[str, int]:
    session = db_session()
    number = request.args.get("access_number", type=int)
    form = _form(session, {"mode": "base", "access_number": number, "actions": [{}]})
    if not form.is_submitted():
        return _render(form, None)
    keyword = Keyword()
    saved = _save(session, form, keyword, creating=True)
    if saved is not None:
        return saved
    flash(_("The keyword %(keyword)s is reserved.", keyword=keyword.keyword), "success")
    return redirect(url_for("keywords.index", access_number=keyword.access_number_id), 303)


@bp.route("/keywords/<int:ident>", methods=["GET", "POST"])
def edit(ident: int) -> str | BaseResponse | tuple[str, int]:
    session = db_session()
    keyword = _keyword(session, ident)
    if request.method == "POST":
        changeable_or_403(keyword.account_id)
    form = _form(session, _keyword_data(keyword))
    if not form.is_submitted():
        return _render(form, keyword)
    saved = _save(session, form, keyword, creating=False)
    if saved is not None:
        return saved
    flash(_("The keyword %(keyword)s is saved.", keyword=keyword.keyword), "success")
    return redirect(url_for("keywords.index", access_number=keyword.access_number_id), 303)


@bp.post("/keywords/<int:ident>/delete")
def delete(ident: int) -> BaseResponse | tuple[str, int]:
    session = db_session()
    keyword = _keyword(session, ident)
    changeable_or_403(keyword.account_id)
    shown, number = keyword.keyword, keyword.access_number_id
    try:
        remove_keyword(session, keyword)
    except ApiError as error:
        session.rollback()
        keyword = _keyword(session, ident)
        return _render(_form(session, _keyword_data(keyword), formdata=None), keyword, error.message), error.status
    flash(_("The keyword %(keyword)s is deleted.", keyword=shown), "success")
    return redirect(url_for("keywords.index", access_number=number), 303)


def _keyword(session: Session, ident: int) -> Keyword:
    keyword = session.get(Keyword, ident)
    if keyword is None:
        abort(404)
    visible_or_404(keyword.account_id)
    return keyword


def _save(session: Session, form: KeywordForm, keyword: Keyword, *, creating: bool) -> tuple[str, int] | None:
    """Runs the API's checks and stores; the page to show again (with the status) when refused."""
    existing = None if creating else keyword
    if not form.validate():
        return _render(form, existing), 400
    body, fields = _body(form)
    try:
        with session.no_autoflush:
            _apply_keyword(session, keyword, body, creating=creating)
        if creating:
            session.add(keyword)
        _commit(session, "the keyword could not be stored")
    except ApiError as error:
        session.rollback()
        if error.code == "keyword_conflict":
            form.keyword.errors = [error.message]
            return _render(form, existing), error.status
        return _render(form, existing, show_api_error(error, fields)), error.status
    return None


def _body(form: KeywordForm) -> tuple[dict[str, Any], dict[str, Field]]:
    """The API's body, and which form field each of its field names is. An account user's keywords
    are its account's; an admin's "none" on a dedicated number means the number's owner."""
    principal = current_principal()
    body: dict[str, Any] = {"access_number": form.access_number.data, "keyword": form.keyword.data,
                            "mode": form.mode.data, "typo_tolerant": form.typo_tolerant.data}
    if principal.is_admin:
        number = db_session().get(AccessNumber, form.access_number.data or 0)
        owner = number.account_id if number is not None and number.kind == "dedicated" else None
        body["account"] = form.account.data if form.account.data is not None else owner
    else:
        body["account"] = principal.account_id
    fields: dict[str, Field] = {name: form[name] for name in ("access_number", "account", "keyword", "mode",
                                                              "typo_tolerant")}
    actions = []
    for entry in form.actions:
        row = entry.form
        if not row.type.data:
            continue
        field = f"actions[{len(actions)}]"
        action: dict[str, Any] = {"type": row.type.data}
        fields[f"{field}.type"] = row.type
        if row.type.data in REFERENCES:
            key = REFERENCES[row.type.data][0]
            action[key] = row[key].data
            fields[f"{field}.{key}"] = row[key]
        elif row.type.data == "autoreply":
            action["text"] = row.text.data
            fields[f"{field}.text"] = row.text
        actions.append(action)
    body["actions"] = actions
    return body, fields


def _form(session: Session, data: dict[str, Any], **kwargs: Any) -> KeywordForm:
    """The form with the choices this user may pick, over ``data`` (what a GET shows)."""
    form = KeywordForm(data=data, **kwargs)
    accounts = account_names(session)
    form.access_number.choices = number_choices(reservable_numbers(session), accounts)
    form.account.choices = account_choices(accounts, _("— none (on a dedicated number: its owner) —"))
    principal = current_principal()
    if not principal.is_admin:
        form.account.data = principal.account_id  # not on its page: always the user's own account
    choices = {}
    for key, model in (("group", Group), ("poll", Poll), ("contest", Contest), ("target", ForwardTarget)):
        rows = session.scalars(select(model).where(principal.visible(model.account_id)).order_by(model.id))
        choices[key] = [SelectChoice("", "—")] + [
            SelectChoice(row.id, _reference_label(row), {"data-account": row.account_id},
                         accounts.get(row.account_id) if principal.is_admin else None)
            for row in rows]
    for entry in form.actions:
        for key, options in choices.items():
            entry.form[key].choices = options
    form.action_template = ActionForm(prefix="actions-__index__-")
    for key, options in choices.items():
        form.action_template[key].choices = options
    return form


def _keyword_data(keyword: Keyword) -> dict[str, Any]:
    """What the form shows for a stored keyword: its fields, its actions and an empty row to add one."""
    actions = [{"type": action.get("type", ""), "text": action.get("text", ""),
                **{key: action.get(key) for key, _model in REFERENCES.values()}} for action in keyword.actions or []]
    return {"access_number": keyword.access_number_id, "account": keyword.account_id, "keyword": keyword.keyword,
            "mode": keyword.mode, "typo_tolerant": keyword.typo_tolerant, "actions": [*actions, {}]}


def _reference_label(row: Group | Poll | Contest | ForwardTarget) -> str:
    if isinstance(row, Poll):
        return row.question
    if isinstance(row, Contest):
        return row.name or _("Contest %(id)s", id=row.id)
    return row.name


def _reference_names(session: Session) -> dict[tuple[str, int], str]:
    names = {}
    for key, model in REFERENCES.values():
        for row in session.scalars(select(model)):
            names[(key, row.id)] = _reference_label(row)
    return names


def _action_text(action: dict[str, Any], names: dict[tuple[str, int], str]) -> str:
    """One line for the list: "Join a group: Newsletter", "Reply with a text: Thanks, {name}!"."""
    labels = {choice.value: choice.label for choice in ACTION_CHOICES}
    label = str(labels.get(action.get("type", ""), action.get("type", "?")))
    for key, _model in REFERENCES.values():
        if key in action:
            return f"{label}: {names.get((key, action[key]), action[key])}"
    if action.get("type") == "autoreply":
        return f"{label}: {action.get('text', '')}"
    return label


def _render(form: KeywordForm, keyword: Keyword | None, error: str | None = None) -> str:
    return render_template("setup/keyword.html", form=form, keyword=keyword, error=error,
                           is_admin=current_principal().is_admin)
