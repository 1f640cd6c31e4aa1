"""The dashboard (``/``): each modem in plain words, today's traffic, alerts; and who sees which."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from appliance.db.models import Delivery, ForwardTarget
from appliance.modem.discovery import DeviceIssue, IssueKind
from appliance.web.inbox_filter import day_start, today
from tests.web.conftest import PASSWORD
from tests.web.shops import two_shops
from tests.web.test_auth import sign_in


def dashboard(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start:html.index("</section>", start)]


def card(html: str, modem_id: int) -> str:
    start = html.index(f'id="modem-{modem_id}"')
    return html[start:html.index("</article>", start)]


def test_signing_in_leads_to_the_dashboard(client, admin_user):
    status, location = sign_in(client, admin_user.email, PASSWORD)

    assert (status, location) == (302, "/")
    assert "<h1>Dashboard</h1>" in dashboard(client)


def test_each_modem_says_its_state_signal_network_storage_and_last_message(panel, store, session_factory):
    florist, _ = two_shops(session_factory)
    working = store.modem(iccid=florist.iccid, operator="Plus", state="ready", registration="home",
                          signal_dbm=-85, storage_used=3, storage_total=50)
    store.message(iccid=florist.iccid, received_at=datetime(2026, 11, 25, 9, 15, tzinfo=UTC))
    store.message(iccid=florist.iccid, received_at=datetime(2026, 11, 25, 9, 20, tzinfo=UTC))
    locked = store.modem(iccid="8948000000000000301", msisdn=None, state="sim_locked",
                         state_detail="SIM PIN required, 2 attempts left", signal_dbm=None, storage_total=None)

    html = dashboard(panel)

    shown = card(html, working.id)
    assert "<h3>+48500100101</h3>" in shown
    assert 'badge-ok modem-state">Working<' in shown
    assert 'signal-bars bars-2' in shown and "fair" in shown  # -85 dBm: two bars of four
    assert "Plus" in shown
    assert "3 of 50 messages" in shown
    assert '<time datetime="2026-11-25T09:20:00Z">' in shown
    problem = card(html, locked.id)
    assert "<h3>SIM …000301</h3>" in problem
    assert "SIM card locked by a PIN" in problem and "Switch the PIN off in a phone" in problem
    assert "SIM PIN required, 2 attempts left" in problem
    assert "signal-bars bars-unknown" in problem and "none yet" in problem


def test_modem_states_in_plain_words(panel, store):
    cases = {
        ("ready", "roaming"): ("ok", "Working (roaming)"),
        ("ready", "searching"): ("warn", "Looking for the network"),
        ("ready", "denied"): ("bad", "Network refused the SIM"),
        ("ready", "not_registered"): ("bad", "Not connected to the network"),
        ("connecting", None): ("neutral", "Starting"),
        ("no_sim", None): ("bad", "No SIM card"),
        ("disconnected", None): ("bad", "Not responding"),
        ("failed", None): ("bad", "Not working"),
    }
    modems = {key: store.modem(iccid=f"89480000000000004{n:02d}", state=key[0], registration=key[1])
              for n, key in enumerate(cases)}

    html = dashboard(panel)

    for key, (tone, words) in cases.items():
        assert f'badge-{tone} modem-state">{words}<' in card(html, modems[key].id), key


def test_an_admin_sees_unassigned_sims_and_usb_devices_that_are_no_modem(app, panel, store):
    app.extensions["appliance.device_issues"] = lambda: [DeviceIssue(
        kind=IssueKind.MASS_STORAGE, usb_path="/sys/bus/usb/devices/1-1.4", usb_port="1-1.4", vendor_id="12d1",
        product_id="1f01", what="a Huawei E3372 still in mass-storage mode", remedy="wait a minute, then replug it")]
    unassigned = store.modem(iccid="8948000000000000011", msisdn=None, imsi="260060000000011", state="ready")

    html = dashboard(panel)

    shown = card(html, unassigned.id)
    assert "unassigned" in shown and "No access number is bound to this SIM yet" in shown
    assert "ICCID 8948000000000000011" in shown and "IMSI 260060000000011" in shown
    assert '<a href="/access-numbers">Bind a number</a>' in shown
    modems = section(html, "modems-title")
    assert "USB device 12d1:1f01 on port 1-1.4" in modems
    assert "a Huawei E3372 still in mass-storage mode" in modems and "wait a minute, then replug it" in modems


def test_an_account_user_sees_only_the_modems_of_its_own_numbers(app, signed_in, users, store, session_factory):
    app.extensions["appliance.device_issues"] = lambda: [DeviceIssue(
        kind=IssueKind.HILINK, usb_path="/x", usb_port="1-1.2", vendor_id="12d1", product_id="14dc",
        what="a HiLink modem", remedy="switch it to serial mode")]
    florist, pizzeria = two_shops(session_factory)
    own = store.modem(iccid=florist.iccid)
    theirs = store.modem(iccid=pizzeria.iccid)
    loose = store.modem(iccid="8948000000000000011", msisdn="+48500999999")
    owner = signed_in(users.create("kwiaciarnia@example.com", admin=False, account_id=florist.account_id))

    html = dashboard(owner)

    assert f'id="modem-{own.id}"' in html
    assert f'id="modem-{theirs.id}"' not in html and f'id="modem-{loose.id}"' not in html
    assert pizzeria.number not in html and "+48500999999" not in html
    assert "HiLink" not in html


def test_no_modem_yet_is_explained(panel):
    assert "No modem seen yet" in dashboard(panel)


def test_todays_traffic_counts_messages_per_number_since_local_midnight(panel, store, session_factory):
    florist, pizzeria = two_shops(session_factory)
    midnight = day_start(today())
    for _ in range(3):
        store.message(iccid=florist.iccid, account_id=florist.account_id, received_at=midnight + timedelta(minutes=1))
    store.message(iccid=florist.iccid, account_id=florist.account_id, received_at=midnight - timedelta(minutes=1))
    store.message(iccid="8948000000000000999", received_at=midnight + timedelta(minutes=5))
    store.modem(iccid="8948000000000000999", msisdn="+48500999999")

    traffic = section(dashboard(panel), "today-title")

    rows = re.findall(r"<tr>\s*<td>(?:<a [^>]*>)?([^<]+)(?:</a>)?</td>\s*<td class=\"count\">(\d+)</td>", traffic)
    assert rows == [(florist.number, "3"), ("+48500999999", "1"), (pizzeria.number, "0")]
    assert "<strong>4</strong>" in traffic
    day = today().isoformat()
    assert f'href="/inbox?number={florist.number_id}&amp;from={day}&amp;to={day}"' in traffic


def test_an_account_user_counts_only_its_own_messages(signed_in, users, store, session_factory):
    florist, pizzeria = two_shops(session_factory)
    store.message(iccid=florist.iccid, account_id=florist.account_id)
    store.message(iccid=pizzeria.iccid, account_id=pizzeria.account_id)
    store.message(iccid="8948000000000000999")
    owner = signed_in(users.create("kwiaciarnia@example.com", admin=False, account_id=florist.account_id))

    traffic = section(dashboard(owner), "today-title")

    assert "<strong>1</strong>" in traffic
    assert pizzeria.number not in traffic and "…000999" not in traffic


def test_all_is_well_is_said_when_nothing_needs_attention(panel, store):
    store.modem(state="ready", registration="home", storage_used=2, storage_total=30)

    alerts = section(dashboard(panel), "alerts-title")

    assert "Everything works." in alerts
    assert "alert tone" not in alerts


def test_alerts_name_what_needs_attention_worst_first(panel, store, session_factory):
    florist, _ = two_shops(session_factory)
    store.modem(iccid=florist.iccid, state="ready", registration="denied")
    store.modem(iccid="8948000000000000302", msisdn="+48500300302", state="ready", storage_used=25,
                storage_total=30)
    store.modem(iccid="8948000000000000303", msisdn="+48500300303", state="ready", storage_used=0,
                storage_total=0)  # a modem with no room left at all
    store.message(status="undecodable", text=None, error="TP-DCS 0xF6")
    store.message(status="undecodable", text=None, received_at=day_start(today()) - timedelta(hours=1))
    dead_delivery(session_factory, florist.account_id, store.message(account_id=florist.account_id).id)

    alerts = section(dashboard(panel), "alerts-title")

    texts = re.findall(r'<li class="alert tone-(\w+)">\s*<span>([^<]+)</span>', alerts)
    assert texts == [
        ("bad", "+48500100101: Network refused the SIM. Check with the operator that the SIM card is active and paid for."),
        ("bad", "+48500300303: the SIM card&#39;s message storage is full (0 of 0), so new messages wait at "
                "the operator. Unplug the modem and plug it back in."),
        ("bad", "1 forwarded message could not be delivered in the last 7 days."),
        ("warn", "+48500300302: the SIM card&#39;s message storage is nearly full (25 of 30). "
                 "If it stays full, unplug the modem and plug it back in."),
        ("warn", "1 message today could not be read (kept as received)."),
    ]
    day = today().isoformat()
    assert f'href="/inbox?from={day}&amp;to={day}&amp;status=undecodable"' in alerts
    assert 'href="/panel/forwarding?status=dead"' in alerts


def dead_delivery(session_factory, account_id, message_id, created_at=None):
    with session_factory.begin() as session:
        target = ForwardTarget(account_id=account_id, name="CRM", kind="url", address="http://127.0.0.1:9/",
                               secret="s", download_token=f"t{account_id}-{message_id}")
        session.add(target)
        session.flush()
        session.add(Delivery(target_id=target.id, message_id=message_id, idempotency_key=f"k{message_id}",
                             status="dead", give_up_at=datetime.now(UTC),
                             created_at=created_at or datetime.now(UTC)))


def test_a_target_failing_now_is_an_alert_while_its_messages_wait(panel, store, session_factory):
    florist, _ = two_shops(session_factory)
    message_ids = [store.message(account_id=florist.account_id).id for _ in range(3)]
    with session_factory.begin() as session:
        target = ForwardTarget(account_id=florist.account_id, name="CRM", kind="url", address="http://127.0.0.1:9/",
                               secret="s", download_token="t-failing")
        session.add(target)
        session.flush()
        for number, (message_id, error) in enumerate(zip(message_ids, ["connection refused", "connection refused",
                                                                       None], strict=True)):
            session.add(Delivery(target_id=target.id, message_id=message_id, idempotency_key=f"k{number}",
                                 status="pending", attempts=1 if error else 0, last_error=error,
                                 give_up_at=datetime.now(UTC) + timedelta(days=3)))
        target_id = target.id

    alerts = section(dashboard(panel), "alerts-title")

    assert ("Forwarding to CRM fails (connection refused): 2 messages wait and are tried again automatically."
            in alerts)
    assert f'href="/panel/forwarding?target={target_id}&amp;status=pending"' in alerts

    with session_factory.begin() as session:
        for delivery in session.scalars(select(Delivery)):
            delivery.status, delivery.last_error = "delivered", None
    assert "Forwarding to CRM" not in section(dashboard(panel), "alerts-title")


def test_an_account_user_is_alerted_only_to_its_own_problems(signed_in, users, store, session_factory):
    florist, pizzeria = two_shops(session_factory)
    store.modem(iccid=pizzeria.iccid, state="no_sim")
    dead_delivery(session_factory, pizzeria.account_id, store.message(account_id=pizzeria.account_id).id)
    store.message(status="undecodable", text=None)  # no account: the admin's to look at
    dead_delivery(session_factory, florist.account_id, store.message(account_id=florist.account_id).id,
                  created_at=datetime.now(UTC) - timedelta(days=8))  # old history, no alert
    owner = signed_in(users.create("kwiaciarnia@example.com", admin=False, account_id=florist.account_id))

    assert "Everything works." in section(dashboard(owner), "alerts-title")


def test_hostile_modem_texts_are_escaped(panel, store):
    store.modem(operator="<script>window.pwned=1</script>", state="failed",
                state_detail='<img src=x onerror="window.pwned=1">')

    html = dashboard(panel)

    assert "<script>window.pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


def test_the_dashboard_connects_to_the_live_stream(panel, store):
    message = store.message()

    html = dashboard(panel)

    assert f'id="live-events" data-url="/panel/events?last_event_id={message.id}"' in html
    assert "/static/dashboard.css" in html and "/static/panel.js" in html
