"""The panel's polls: the list with a form for a new poll, a poll's page with its results chart, edit
and delete, all written through the REST API's poll code (:mod:`appliance.web.api_config`).

The results chart is SVG drawn here (:mod:`appliance.web.charts`), inline in the page and on its own
at ``/polls/<id>/chart.svg``. The page's script (``static/campaigns.js``) fetches that again whenever the
panel's event stream (``/panel/events``) reports a vote in the poll, an event ``poll`` with data
``{"poll_id", "votes", "voters"}``, and whenever the stream (re)connects, as votes may have come in
while it was away; without a stream it asks every few seconds.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    FieldList,
    Form,
    FormField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)

from appliance.db.models import Poll, PollVote
from appliance.representation import poll_results_json
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError
from appliance.web.api_config import _apply_poll, poll_votes, remove_poll
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
from appliance.web.charts import Bar, bar_chart

bp = Blueprint("polls", __name__)

BLANK_OPTIONS = 2  # empty option rows under the filled ones, for adding options without a script


class OptionForm(Form):
    code = StringField(_l("Code"))
    label = StringField(_l("Label"))


class PollForm(FlaskForm):
    account = SelectField(_l("Account"), coerce=int)
    question = TextAreaField(_l("Question"))
    options = FieldList(FormField(OptionForm), min_entries=4)
    policy = RadioField(_l("When a number votes again"), default="keep_first",
                        choices=[SelectChoice("keep_first", _l("its first vote counts")),
                                 SelectChoice("keep_last", _l("its latest vote counts"))])
    opens_at = local_time_field(_l("Voting opens"))
    closes_at = local_time_field(_l("Voting closes"))
    confirmation = TextAreaField(_l("Reply to a counted vote (optional)"))
    closed_reply = TextAreaField(_l("Reply to a vote outside the voting time (optional)"))

    def api_body(self) -> dict[str, Any]:
        """The form as ``PUT /api/v1/polls/<id>`` takes it: every field, empty option rows left out."""
        # row.form: a FormField's own "label" is its <label>, not the option's label field
        options = [{"code": (row.form.code.data or "").strip(), "label": (row.form.label.data or "").strip() or None}
                   for row in self.options]
        return {
            "question": self.question.data or "",
            "options": [o for o in options if o["code"] or o["label"]],
            "policy": self.policy.data,
            "opens_at": api_time(self.opens_at.data),
            "closes_at": api_time(self.closes_at.data),
            "confirmation": self.confirmation.data or None,
            "closed_reply": self.closed_reply.data or None,
        }


@bp.get("/polls")
def index() -> str:
    return _render_index(_new_form())


@bp.post("/polls")
def create() -> BaseResponse | tuple[str, int]:
    form = _new_form()
    if not form.validate_on_submit():
        return _render_index(form), 400
    poll = Poll()

    def write(session: Session) -> None:
        _apply_poll(session, poll, {**form.api_body(), "account": form.account.data}, creating=True)
        session.add(poll)

    result = write_through_api(form, write, "the poll could not be stored")
    if isinstance(result, ApiError):
        return _render_index(form), result.status
    flash(_("Poll saved."), "success")
    return redirect(url_for("polls.show", poll_id=poll.id), 303)


@bp.get("/polls/<int:poll_id>")
def show(poll_id: int) -> str:
    poll = visible_row(Poll, poll_id)
    return render_template("campaigns/poll.html", poll=poll, chart=Markup(poll_chart(poll)),
                           state=window_state(poll.opens_at, poll.closes_at),
                           may_change=current_principal().may_change(poll.account_id),
                           account_name=account_names().get(poll.account_id, ""))


@bp.get("/polls/<int:poll_id>/chart.svg")
def chart(poll_id: int) -> Response:
    response = Response(poll_chart(visible_row(Poll, poll_id)), content_type="image/svg+xml; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"  # a vote may come in any second
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/polls/<int:poll_id>/edit", methods=["GET", "POST"])
def edit(poll_id: int) -> str | BaseResponse | tuple[str, int]:
    poll = changeable_row(Poll, poll_id)
    form = PollForm(obj=poll)
    del form.account  # a poll stays with its account
    if not form.is_submitted():
        for _blank in range(BLANK_OPTIONS):
            form.options.append_entry()
        return render_template("campaigns/poll_edit.html", poll=poll, form=form)
    if not form.validate():
        return render_template("campaigns/poll_edit.html", poll=poll, form=form), 400
    result = write_through_api(form, lambda session: _apply_poll(session, poll, form.api_body(), creating=False),
                               "the poll could not be stored")
    if isinstance(result, ApiError):
        return render_template("campaigns/poll_edit.html", poll=poll, form=form), result.status
    flash(_("Poll saved."), "success")
    return redirect(url_for("polls.show", poll_id=poll.id), 303)


@bp.post("/polls/<int:poll_id>/delete")
def delete(poll_id: int) -> BaseResponse | tuple[str, int]:
    poll = changeable_row(Poll, poll_id)
    question = poll.question
    result = write_through_api(None, lambda session: remove_poll(session, poll), f"poll {poll_id} is still referenced")
    if isinstance(result, ApiError):
        flash(result.message, "error")
        return show(poll_id), result.status
    flash(_("Poll deleted: %(question)s", question=question), "success")
    return redirect(url_for("polls.index"), 303)


def poll_chart(poll: Poll) -> str:
    """The results as an SVG bar chart: votes per option with their share, and the voters."""
    results = poll_results_json(poll, poll_votes(db_session(), poll.id))
    total = sum(option["votes"] for option in results["options"])
    bars = []
    for option in results["options"]:
        if option["label"] is None:
            label = _("%(code)s (an option since removed)", code=option["code"])
        elif option["label"] == option["code"]:
            label = option["code"]
        else:
            label = f"{option['code']} · {option['label']}"
        share = round(100 * option["votes"] / total) if total else 0
        bars.append(Bar(label, option["votes"], f"{option['votes']} ({share}%)"))
    summary = ngettext("%(num)d voter", "%(num)d voters", results["voters"])
    return bar_chart(poll.question, summary, bars, chart_id=f"poll-{poll.id}-chart")


def _new_form() -> PollForm:
    form = PollForm()
    offer_accounts(form)
    return form


def _render_index(form: PollForm) -> str:
    session = db_session()
    polls = list(session.scalars(select(Poll).where(current_principal().visible(Poll.account_id))
                                 .order_by(Poll.id.desc())))
    voters = dict(session.execute(select(PollVote.poll_id, func.count()).where(
        PollVote.poll_id.in_([p.id for p in polls])).group_by(PollVote.poll_id)).all())
    return render_template("campaigns/polls.html", polls=polls, voters=voters, form=form,
                           states={p.id: window_state(p.opens_at, p.closes_at) for p in polls},
                           account_names=account_names())
