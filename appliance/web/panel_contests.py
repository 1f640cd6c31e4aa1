"""The panel's contests: the list with a form for a new contest, a contest's page with its entries
and the winners drawn, edit and delete, all through the REST API's contest code.

"Draw winners" makes the API's reproducible draw (:mod:`appliance.rules.contests`): the page shows its
seed, and a seed typed in replays a draw over the same entries, winner for winner.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import IntegerField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Optional

from appliance.db.models import Contact, Contest, ContestDraw, ContestEntry
from appliance.rules.contests import DrawMethod
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError
from appliance.web.api_config import _apply_contest, make_draw, remove_contest
from appliance.web.campaign_pages import (
    account_names,
    api_time,
    changeable_row,
    local_time_field,
    offer_accounts,
    visible_row,
    window_state,
    write_through_api,
)

bp = Blueprint("contests", __name__)

PAGE_SIZE = 50


class ContestForm(FlaskForm):
    account = SelectField(_l("Account"), coerce=int)
    name = StringField(_l("Name"))
    answer = StringField(_l("Correct answer (optional)"))
    opens_at = local_time_field(_l("Entries open"))
    closes_at = local_time_field(_l("Entries close"))
    entries_per_number = IntegerField(_l("Entries per phone number"), default=1, validators=[InputRequired()])

    def api_body(self) -> dict[str, Any]:
        """The form as ``PUT /api/v1/contests/<id>`` takes it."""
        return {"name": self.name.data or None, "answer": self.answer.data or None,
                "opens_at": api_time(self.opens_at.data), "closes_at": api_time(self.closes_at.data),
                "entries_per_number": self.entries_per_number.data}


class DrawForm(FlaskForm):
    winners = IntegerField(_l("Winners"), default=1, validators=[InputRequired()])
    method = RadioField(_l("How"), default=DrawMethod.RANDOM.value, choices=[
        SelectChoice(DrawMethod.RANDOM.value, _l("at random among the entries")),
        SelectChoice(DrawMethod.FIRST_CORRECT.value, _l("the first to enter"))])
    seed = StringField(_l("Seed (optional: repeats an earlier draw)"), validators=[Optional()])

    def api_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"winners": self.winners.data, "method": self.method.data}
        if self.seed.data and self.seed.data.strip():
            body["seed"] = self.seed.data
        return body


@bp.get("/contests")
def index() -> str:
    return _render_index(_new_form())


@bp.post("/contests")
def create() -> BaseResponse | tuple[str, int]:
    form = _new_form()
    if not form.validate_on_submit():
        return _render_index(form), 400
    contest = Contest()

    def write(session: Session) -> None:
        _apply_contest(session, contest, {**form.api_body(), "account": form.account.data}, creating=True)
        session.add(contest)

    result = write_through_api(form, write, "the contest could not be stored")
    if isinstance(result, ApiError):
        return _render_index(form), result.status
    flash(_("Contest saved."), "success")
    return redirect(url_for("contests.show", contest_id=contest.id), 303)


@bp.get("/contests/<int:contest_id>")
def show(contest_id: int) -> str:
    return _render_contest(visible_row(Contest, contest_id), DrawForm())


@bp.route("/contests/<int:contest_id>/edit", methods=["GET", "POST"])
def edit(contest_id: int) -> str | BaseResponse | tuple[str, int]:
    contest = changeable_row(Contest, contest_id)
    form = ContestForm(obj=contest)
    del form.account  # a contest stays with its account
    if not form.is_submitted():
        return render_template("campaigns/contest_edit.html", contest=contest, form=form)
    if not form.validate():
        return render_template("campaigns/contest_edit.html", contest=contest, form=form), 400
    result = write_through_api(
        form, lambda session: _apply_contest(session, contest, form.api_body(), creating=False),
        "the contest could not be stored")
    if isinstance(result, ApiError):
        return render_template("campaigns/contest_edit.html", contest=contest, form=form), result.status
    flash(_("Contest saved."), "success")
    return redirect(url_for("contests.show", contest_id=contest.id), 303)


@bp.post("/contests/<int:contest_id>/delete")
def delete(contest_id: int) -> BaseResponse | tuple[str, int]:
    contest = changeable_row(Contest, contest_id)
    result = write_through_api(None, lambda session: remove_contest(session, contest),
                               f"contest {contest_id} is still referenced")
    if isinstance(result, ApiError):
        flash(result.message, "error")
        return _render_contest(contest, DrawForm()), result.status
    flash(_("Contest deleted."), "success")
    return redirect(url_for("contests.index"), 303)


@bp.post("/contests/<int:contest_id>/draw")
def draw(contest_id: int) -> BaseResponse | tuple[str, int]:
    contest = changeable_row(Contest, contest_id)
    form = DrawForm()
    if not form.validate_on_submit():
        return _render_contest(contest, form), 400
    result = write_through_api(form, lambda session: make_draw(session, contest, form.api_body()),
                               "the draw could not be stored")
    if isinstance(result, ApiError):
        return _render_contest(contest, form), result.status
    flash(_("Winners drawn."), "success")
    return redirect(url_for("contests.show", contest_id=contest.id, _anchor=f"draw-{result.id}"), 303)


def _new_form() -> ContestForm:
    form = ContestForm()
    offer_accounts(form)
    return form


def _render_index(form: ContestForm) -> str:
    session = db_session()
    contests = list(session.scalars(select(Contest).where(current_principal().visible(Contest.account_id))
                                    .order_by(Contest.id.desc())))
    ids = [c.id for c in contests]
    entries = {contest_id: (count, correct) for contest_id, count, correct in session.execute(
        select(ContestEntry.contest_id, func.count(), func.count().filter(ContestEntry.correct))
        .where(ContestEntry.contest_id.in_(ids)).group_by(ContestEntry.contest_id))}
    draws = dict(session.execute(select(ContestDraw.contest_id, func.count()).where(ContestDraw.contest_id.in_(ids))
                                 .group_by(ContestDraw.contest_id)).all())
    return render_template("campaigns/contests.html", contests=contests, entries=entries, draws=draws, form=form,
                           states={c.id: window_state(c.opens_at, c.closes_at) for c in contests},
                           account_names=account_names())


def _render_contest(contest: Contest, draw_form: DrawForm) -> str:
    """The contest with a page of its entries, oldest first (``?page=``), and every draw, newest first."""
    session = db_session()
    page = max(request.args.get("page", 1, type=int), 1)
    total, correct = session.execute(
        select(func.count(), func.count().filter(ContestEntry.correct))
        .where(ContestEntry.contest_id == contest.id)).one()
    entries = list(session.scalars(select(ContestEntry).where(ContestEntry.contest_id == contest.id)
                                   .order_by(ContestEntry.entered_at, ContestEntry.id)
                                   .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    draws = list(session.scalars(select(ContestDraw).where(ContestDraw.contest_id == contest.id)
                                 .order_by(ContestDraw.id.desc())))
    numbers = {n for d in draws for n in d.winners} | {e.msisdn for e in entries}
    names = dict(session.execute(select(Contact.msisdn, Contact.name).where(
        Contact.account_id == contest.account_id, Contact.msisdn.in_(numbers), Contact.name.is_not(None))).all())
    return render_template(
        "campaigns/contest.html", contest=contest, entries=entries, total=total, correct=correct, draws=draws,
        names=names, draw_form=draw_form, state=window_state(contest.opens_at, contest.closes_at),
        may_change=current_principal().may_change(contest.account_id),
        account_name=account_names().get(contest.account_id, ""), first=(page - 1) * PAGE_SIZE,
        earlier_url=url_for("contests.show", contest_id=contest.id, page=page - 1) if page > 1 else None,
        later_url=url_for("contests.show", contest_id=contest.id, page=page + 1)
        if page * PAGE_SIZE < total else None)
