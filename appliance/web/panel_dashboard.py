"""The dashboard (``/``), the page after sign-in: do the modems work, what came in today, what needs care.

Written for a shop owner, not a technician: a modem's state is said in plain words with what to do
about it ("No SIM card: put the SIM card in the modem"), its signal as bars, the SIM's message storage
as a gauge. An admin also sees SIMs no access number is bound to yet and USB devices that are no
working modem (``device_issues``); a user of an account sees the modems of its own access numbers.

Its three parts are rendered by macros of ``panel/live_parts.html`` that the live events stream
(:mod:`appliance.web.panel_events`) renders again whenever they would look different.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app, get_template_attribute, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import and_, func, select

from appliance.db.models import AccessNumber, Delivery, ForwardTarget, Message, Modem
from appliance.representation import device_issue_json, iso_utc, modem_json
from appliance.web import db_session
from appliance.web.access import Principal, current_principal
from appliance.web.inbox_filter import (
    InboxFilter,
    day_end,
    day_start,
    today,
    visible_messages,
    visible_numbers,
)
from appliance.web.panel import bp, utc_text

PARTS_TEMPLATE = "panel/live_parts.html"
# A SIM's message storage this full is worth a warning: the appliance empties it as it reads, so a
# filling store means reading has stopped, and a full one makes the network hold messages back.
STORAGE_WARNING = 0.8
# Forwards given up on within this time are an alert; older ones are history on the forwarding page.
DEAD_DELIVERY_WINDOW = timedelta(days=7)
# dBm floors of 4, 3, 2 and 1 bars, as phones draw them.
SIGNAL_BARS = ((-73, 4), (-83, 3), (-93, 2), (-105, 1))


@bp.get("/")
def dashboard() -> str:
    principal = current_principal()
    modems = modem_views(principal)
    return render_template("panel/dashboard.html", modems=modems, issues=issue_views(principal),
                           alerts=alerts(principal, modems), traffic=traffic(principal))


def modem_panel_html(principal: Principal) -> str:
    """The modem panel as the dashboard shows it."""
    modem_cards = get_template_attribute(PARTS_TEMPLATE, "modem_cards")
    return str(modem_cards(modem_views(principal), issue_views(principal)))


def summary_html(principal: Principal) -> dict[str, str]:
    """The alerts and today's traffic as the dashboard shows them."""
    alert_list = get_template_attribute(PARTS_TEMPLATE, "alert_list")
    traffic_table = get_template_attribute(PARTS_TEMPLATE, "traffic_table")
    return {"alerts_html": str(alert_list(alerts(principal, modem_views(principal)))),
            "traffic_html": str(traffic_table(traffic(principal)))}


# --- modems ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    tone: str  # ok | warn | bad | neutral: the colour of the card and its badge
    headline: str
    advice: str | None = None


def condition(state: str | None, registration: str | None) -> Condition:
    """A modem's state and network registration as the owner needs to hear them."""
    if state == "ready":
        if registration in (None, "home"):
            return Condition("ok", _("Working"))
        if registration == "roaming":
            return Condition("ok", _("Working (roaming)"))
        if registration == "searching":
            return Condition("warn", _("Looking for the network"),
                             _("If this lasts more than a few minutes, check the antenna and the signal."))
        if registration == "denied":
            return Condition("bad", _("Network refused the SIM"),
                             _("Check with the operator that the SIM card is active and paid for."))
        if registration == "not_registered":
            return Condition("bad", _("Not connected to the network"),
                             _("Check that the SIM card is active and the antenna is attached."))
        return Condition("neutral", _("Ready, network state unknown"))
    if state == "connecting":
        return Condition("neutral", _("Starting"), _("The modem is being set up; this takes up to a minute."))
    if state == "no_sim":
        return Condition("bad", _("No SIM card"), _("Put the SIM card in the modem."))
    if state == "sim_locked":
        return Condition("bad", _("SIM card locked by a PIN"),
                         _("Switch the PIN off in a phone, then put the SIM card back in the modem."))
    if state == "disconnected":
        return Condition("bad", _("Not responding"),
                         _("The modem was unplugged or stopped answering. Check its USB cable."))
    if state == "failed":
        return Condition("bad", _("Not working"), _("Unplug the modem and plug it back in."))
    return Condition("neutral", _("State unknown"))


def modem_tone(modem: Modem) -> str:
    """The colour of a modem's badge wherever the panel shows one."""
    return condition(modem.state, modem.registration).tone


def signal_bars(dbm: int | None) -> int | None:
    """0–4 bars for a signal strength; None when the modem has not said."""
    if dbm is None:
        return None
    return next((bars for floor, bars in SIGNAL_BARS if dbm >= floor), 0)


def signal_word(bars: int | None) -> str:
    if bars is None:
        return _("unknown")
    return (_("none"), _("weak"), _("fair"), _("good"), _("excellent"))[bars]


def visible_modems(principal: Principal) -> list[tuple[Modem, AccessNumber | None]]:
    """Every modem for an admin; for an account's user the modems of its own access numbers."""
    query = (select(Modem, AccessNumber).outerjoin(AccessNumber, AccessNumber.iccid == Modem.iccid)
             .order_by(AccessNumber.number.is_(None), AccessNumber.number, Modem.id))
    if not principal.is_admin:
        query = query.where(AccessNumber.id.is_not(None), principal.visible(AccessNumber.account_id))
    return [(modem, number) for modem, number in db_session().execute(query)]


def modem_views(principal: Principal) -> list[dict[str, Any]]:
    session = db_session()
    pairs = visible_modems(principal)
    last_messages = dict(session.execute(
        select(Message.iccid, func.max(Message.received_at))
        .where(Message.iccid.in_([modem.iccid for modem, _number in pairs]), *visible_messages(principal))
        .group_by(Message.iccid)).all()) if pairs else {}
    bind_url = _url_if_registered("access_numbers.index") if principal.is_admin else None
    views = []
    for modem, number in pairs:
        view = modem_json(modem, number)
        state = condition(modem.state, modem.registration)
        bars = signal_bars(modem.signal_dbm)
        last = last_messages.get(modem.iccid)
        view.update(
            label=modem_label(modem, number),
            tone=state.tone, headline=state.headline, advice=state.advice,
            signal_bars=bars, signal_word=signal_word(bars),
            storage_high=round((modem.storage_total or 0) * STORAGE_WARNING),
            storage=storage_state(modem.storage_used, modem.storage_total),
            last_message_at=iso_utc(last), last_message_text=utc_text(last) if last else None,
            bind_url=bind_url,
        )
        views.append(view)
    return views


def storage_state(used: int | None, total: int | None) -> str | None:
    """``full``, ``nearly_full`` or None (fine, or not reported). A modem may report no room at all
    (a total of 0): that is full too."""
    if total is None:
        return None
    used = used or 0
    if used >= total:
        return "full"
    return "nearly_full" if used >= total * STORAGE_WARNING else None


def modem_label(modem: Modem, number: AccessNumber | None) -> str:
    """The access number; else the SIM's own number; else the end of its ICCID."""
    if number is not None:
        return number.number
    return modem.msisdn or f"SIM …{modem.iccid[-6:]}"


def issue_views(principal: Principal) -> list[dict[str, Any]]:
    """USB devices that are no working modem: the installer's business, shown to admins."""
    if not principal.is_admin:
        return []
    return [device_issue_json(issue) for issue in current_app.extensions["appliance.device_issues"]()]


# --- alerts ---------------------------------------------------------------------------------------

def alerts(principal: Principal, modems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What needs the owner's attention now, worst first: each with what to do or where to look."""
    found: list[dict[str, Any]] = []
    for modem in modems:
        if modem["tone"] == "bad":
            text = f"{modem['label']}: {modem['headline']}."
            found.append(_alert("bad", f"{text} {modem['advice']}" if modem["advice"] else text))
        if modem["storage"] == "full":
            found.append(_alert("bad", _(
                "%(modem)s: the SIM card's message storage is full (%(used)s of %(total)s), so new messages "
                "wait at the operator. Unplug the modem and plug it back in.",
                modem=modem["label"], used=modem["storage_used"] or 0, total=modem["storage_total"])))
        elif modem["storage"] == "nearly_full":
            found.append(_alert("warn", _(
                "%(modem)s: the SIM card's message storage is nearly full (%(used)s of %(total)s). "
                "If it stays full, unplug the modem and plug it back in.",
                modem=modem["label"], used=modem["storage_used"], total=modem["storage_total"])))
    session = db_session()
    dead = session.scalar(
        select(func.count(Delivery.id)).join(ForwardTarget, ForwardTarget.id == Delivery.target_id)
        .where(Delivery.status == "dead", Delivery.created_at >= datetime.now(UTC) - DEAD_DELIVERY_WINDOW,
               principal.visible(ForwardTarget.account_id))) or 0
    if dead:
        found.append(_alert("bad", ngettext("%(num)s forwarded message could not be delivered in the last 7 days.",
                                            "%(num)s forwarded messages could not be delivered in the last 7 days.",
                                            dead),
                            _url_if_registered("panel_forwarding.forwarding_page", status="dead"),
                            _("See the deliveries")))
    found += failing_targets(principal)
    day = today()
    undecodable = InboxFilter(first_day=day, last_day=day, status="undecodable")
    unreadable = session.scalar(select(func.count(Message.id)).where(*visible_messages(principal, undecodable))) or 0
    if unreadable:
        found.append(_alert("warn", ngettext("%(num)s message today could not be read (kept as received).",
                                             "%(num)s messages today could not be read (kept as received).",
                                             unreadable),
                            url_for("panel.messages", **undecodable.args()), _("Show them")))
    return sorted(found, key=lambda alert: alert["tone"] != "bad")


def failing_targets(principal: Principal) -> list[dict[str, Any]]:
    """Targets whose last attempt failed for messages still waiting: a webhook server or mail relay that
    is down now. The messages are safe and retried; the owner should hear it while it lasts, not only
    once the retries run out (the "could not be delivered" alert)."""
    rows = db_session().execute(
        select(ForwardTarget.id, ForwardTarget.name, func.count(Delivery.id), func.max(Delivery.last_error))
        .join(ForwardTarget, ForwardTarget.id == Delivery.target_id)
        .where(Delivery.status == "pending", Delivery.last_error.is_not(None),
               principal.visible(ForwardTarget.account_id))
        .group_by(ForwardTarget.id, ForwardTarget.name).order_by(ForwardTarget.name)).all()
    return [_alert("bad", ngettext(
        "Forwarding to %(target)s fails (%(error)s): %(num)s message waits and is tried again automatically.",
        "Forwarding to %(target)s fails (%(error)s): %(num)s messages wait and are tried again automatically.",
        waiting, target=name, error=error),
        _url_if_registered("panel_forwarding.forwarding_page", target=target_id, status="pending"),
        _("See the deliveries")) for target_id, name, waiting, error in rows]


def _alert(tone: str, text: str, url: str | None = None, link_text: str | None = None) -> dict[str, Any]:
    return {"tone": tone, "text": text, "url": url, "link_text": link_text}


def _url_if_registered(endpoint: str, **values: Any) -> str | None:
    """A link to another area's page, when this build has it (the menu's rule)."""
    return url_for(endpoint, **values) if endpoint in current_app.view_functions else None


# --- today's traffic ------------------------------------------------------------------------------

def traffic(principal: Principal) -> dict[str, Any]:
    """Messages received today per access number (the box's calendar day), the principal's only.

    A SIM with no access number bound is listed by its own number (admins see those messages).
    """
    session = db_session()
    day = today()
    counts = dict(session.execute(
        select(Message.iccid, func.count(Message.id))
        .where(and_(Message.received_at >= day_start(day), Message.received_at < day_end(day)),
               *visible_messages(principal))
        .group_by(Message.iccid)).all())
    numbers = {number.iccid: number for number in visible_numbers(session, principal)}
    rows = []
    for number in numbers.values():
        rows.append({"label": number.number, "count": counts.pop(number.iccid, 0),
                     "inbox_url": url_for("panel.messages", number=number.id, **_day_args(day))})
    if counts:
        modems = {modem.iccid: modem for modem in session.scalars(select(Modem).where(Modem.iccid.in_(counts)))}
        for iccid, count in counts.items():
            modem = modems.get(iccid)
            rows.append({"label": (modem.msisdn if modem and modem.msisdn else f"SIM …{iccid[-6:]}"),
                         "count": count, "inbox_url": None})
    rows.sort(key=lambda row: (-row["count"], row["label"]))
    return {"rows": rows, "total": sum(row["count"] for row in rows),
            "inbox_url": url_for("panel.messages", **_day_args(day))}


def _day_args(day: date) -> dict[str, str]:
    return InboxFilter(first_day=day, last_day=day).args()
