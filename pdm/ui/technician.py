"""Technician page ("Alerts"): open alerts first, filters, and one alert's diagnostics and actions.

Actions run in ``on_click`` callbacks, before the page is drawn again, so what the page shows
after a click is the alert's new state. Each action is one transaction; a refused step or bad
input is shown as one line, and nothing is written.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.alerts import feedback
from pdm.alerts.rules import get_alert, list_alerts, score_series
from pdm.errors import PdmError
from pdm.models.fleet_scoring import version_label
from pdm.storage.catalog import get_asset, list_assets
from pdm.storage.downsample import chart_series
from pdm.storage.gaps import gaps_for_asset
from pdm.storage.tables import CLOSED_STATUSES, OPEN_STATUSES, Alert, Asset
from pdm.ui.asset import score_chart, site_names, telemetry_chart
from pdm.ui.common import CompanyRef, iso_local, page_link, percent, take_id_param
from pdm.ui.i18n import N_, _, number, severity, status
from pdm.ui.similar_panel import render as seen_before_panel

# Enough context before the alert to see the sensors leave their normal band, and a little after.
BEFORE_S = 30 * 60
AFTER_S = 10 * 60
PERIODS = {
    N_("Any time"): None,
    N_("Last 24 hours"): 86_400,
    N_("Last 7 days"): 7 * 86_400,
    N_("Last 30 days"): 30 * 86_400,
}
USER = "pdm_user"
FLASH = "pdm_alert_flash"


def render(*, make_session: sessionmaker[Session], company: CompanyRef, user: str) -> None:
    st.title(_("Alerts"))
    st.caption(company.name)
    # The logged-in user, never typed: every step is recorded under this name.
    st.session_state[USER] = user
    alert_id = take_id_param("alert")  # arriving from a link (the asset page's way back)
    if alert_id is not None:
        st.session_state[f"alert_pick_{company.id}"] = alert_id
    with make_session() as session:
        filters = _filters(session, company)
    _alerts(make_session, company, filters)


def _filters(session: Session, company: CompanyRef) -> dict:
    sites = site_names(session, company_id=company.id)
    assets = {a.id: a.name or a.slug for a in list_assets(session, company_id=company.id)}
    with st.expander(_("Filters")):
        site_ids = st.multiselect(_("Site"), list(sites), format_func=sites.get, key=f"f_site_{company.id}")
        asset_ids = st.multiselect(_("Asset"), list(assets), format_func=assets.get, key=f"f_asset_{company.id}")
        # The options are the words shown, not codes with a format_func: AppTest formats a chosen
        # value with str(), so a translated format_func would not find it among the options.
        words = {status(code): code for code in OPEN_STATUSES + CLOSED_STATUSES}
        picked = st.multiselect(_("Status"), list(words), key=f"f_status_{company.id}")
        periods = {_(name): seconds for name, seconds in PERIODS.items()}
        period = st.selectbox(_("Period"), list(periods), key=f"f_period_{company.id}")
    statuses = [words[w] for w in picked if w in words]
    seconds = periods.get(period)
    return {
        "site_ids": site_ids,
        "asset_ids": asset_ids,
        "statuses": statuses,
        "since": None if seconds is None else time.time() - seconds,
    }


def _top_sensors(sensors: list[dict] | None) -> str:
    return ", ".join(f"{s.get('tag', '?')} {percent(s.get('contribution'))}" for s in sensors or [])


def alerts_frame(rows: list[tuple[Alert, Asset]]) -> pd.DataFrame:
    # The most telling columns first: on a phone only the first few are visible without scrolling.
    return pd.DataFrame(
        [
            {
                _("asset"): asset.name or asset.slug,
                _("severity"): severity(alert.severity),
                _("status"): status(alert.status),
                _("opened at"): iso_local(alert.opened_at),
                _("top sensors"): _top_sensors(alert.sensors),
                _("assignee"): alert.assignee or "",
                _("last seen"): iso_local(alert.last_seen_at),
                _("peak / threshold"): f"{number(alert.peak_score)} / {number(alert.threshold)}",
            }
            for alert, asset in rows
        ]
    )


def _label(alert: Alert, asset: Asset) -> str:
    # Only what never changes: a label that changed with the status (after a click) would make
    # the browser drop the chosen alert. Status and severity are in the table above.
    return _("#{id} · {asset} · opened {when}").format(
        id=alert.id, asset=asset.name or asset.slug, when=iso_local(alert.opened_at)
    )


# A fragment so an open browser tab picks up new alerts without reloading the whole app.
# It receives the session factory, never a session: a fragment rerun outlives the full run.
@st.fragment(run_every=5)
def _alerts(make_session: sessionmaker[Session], company: CompanyRef, filters: dict) -> None:
    # The message's slot is always there: when it empties on the next refresh, nothing below moves,
    # so an expander the technician opened stays open.
    slot = st.container()
    flash = st.session_state.pop(FLASH, None)
    if flash:
        (slot.error if flash[0] == "error" else slot.success)(flash[1])
    with make_session() as session:
        rows = list_alerts(session, company_id=company.id, **filters)
        if not rows:
            st.info(_("No alerts for {company}").format(company=company.name))
            return
        st.dataframe(alerts_frame(rows), hide_index=True)
        labels = {alert.id: _label(alert, asset) for alert, asset in rows}
        if st.session_state.get(f"alert_pick_{company.id}") not in labels:
            # A linked alert that is not listed (filtered out, or not this company's): choose none.
            st.session_state.pop(f"alert_pick_{company.id}", None)
        chosen = st.selectbox(
            _("Alert details"),
            list(labels),
            index=None,
            format_func=labels.get,
            placeholder=_("Choose an alert to see its sensors"),
            # Per company: an alert id picked for one tenant must not follow to another.
            key=f"alert_pick_{company.id}",
        )
        if chosen is not None:
            _details(make_session, session, company, chosen)


def _excursion(alert: Alert) -> str:
    """Whether the machine is still out of its normal behaviour (ISA-18.2's active / returned to normal)."""
    episode = alert.episodes or 1
    if alert.normal_since is not None:
        return _("Back to normal since {when} (excursion {n}); a new one makes the alert active again.").format(
            when=iso_local(alert.normal_since), n=episode
        )
    return _("Excursion going on since {when} (excursion {n}).").format(
        when=iso_local(alert.active_since or alert.opened_at), n=episode
    )


def _details(make_session: sessionmaker[Session], session: Session, company: CompanyRef, alert_id: int) -> None:
    alert = get_alert(session, company_id=company.id, alert_id=alert_id)
    asset = get_asset(session, company_id=company.id, asset_id=alert.asset_id)
    name = asset.name or asset.slug
    st.subheader(_("{asset}: alert #{id}").format(asset=name, id=alert.id))
    st.markdown(
        _(
            "**{status}** · severity **{severity}** · assigned to {assignee} · opened {opened} · "
            "last seen {seen} · peak {peak} / threshold {threshold} · model {model}"
        ).format(
            status=status(alert.status),
            severity=severity(alert.severity),
            assignee=alert.assignee or _("nobody"),
            opened=iso_local(alert.opened_at),
            seen=iso_local(alert.last_seen_at),
            peak=number(alert.peak_score),
            threshold=number(alert.threshold),
            model=version_label(session, company_id=company.id, version_id=alert.model_version_id),
        )
    )
    if alert.status in OPEN_STATUSES:
        st.caption(_excursion(alert))
    sensors = _top_sensors(alert.sensors) or _("none recorded")
    st.write(_("Contributing sensors: {sensors}").format(sensors=sensors))
    link = _("{asset}: asset page and alert history").format(asset=name)
    page_link("assets", link, asset=asset.id, alert=alert.id)
    _actions(make_session, company, alert, asset)
    start, end = alert.opened_at - BEFORE_S, alert.last_seen_at + AFTER_S
    tags = [s["tag"] for s in alert.sensors or [] if s.get("tag")] or None
    # Raw where still kept, 1-minute aggregates before (an old alert keeps its telemetry); a long alert in buckets.
    readings = chart_series(session, company_id=company.id, asset_id=asset.id, start=start, end=end, tags=tags)
    scores = score_series(session, company_id=company.id, asset_id=asset.id, start=start, end=end)
    # A stretch never stored near the alert must not read as "the sensor was flat then".
    gaps = gaps_for_asset(session, company_id=company.id, asset_id=asset.id, start=start, end=end)
    # Columns stack on a phone-width screen, side by side on a desktop.
    left, right = st.columns(2)
    with left:
        st.markdown(_("**Telemetry**"))
        telemetry_chart(readings, alert.sensors, gaps=gaps, shown=(start, end))
    with right:
        st.markdown(_("**Anomaly score**"))
        score_chart(scores, alert)
    seen_before_panel(make_session, session, company, alert, user=st.session_state.get(USER, ""))
    _trail(session, company, alert)


def _run(make_session: sessionmaker[Session], company_id: int, step, done: str, **kwargs) -> None:
    """Callback: one step in its own transaction; the outcome is shown on the next draw."""
    try:
        with make_session.begin() as session:
            step(session, company_id=company_id, user=st.session_state.get(USER, ""), **kwargs)
        st.session_state[FLASH] = ("success", done)
    except PdmError as exc:
        st.session_state[FLASH] = ("error", str(exc))


def _resolve(make_session, company_id: int, alert_id: int) -> None:
    k = f"_{alert_id}"
    _run(
        make_session,
        company_id,
        feedback.resolve,
        _("Alert #{id} resolved").format(id=alert_id),
        alert_id=alert_id,
        failure_mode=st.session_state["fm" + k],
        action_taken=st.session_state["action" + k],
        downtime_avoided_h=st.session_state["downtime" + k],
        repair_cost=st.session_state["cost" + k],
    )


def _actions(make_session: sessionmaker[Session], company: CompanyRef, alert: Alert, asset: Asset) -> None:
    allowed = feedback.allowed_actions(alert.status)
    cid, aid, k = company.id, alert.id, f"_{alert.id}"
    buttons = [
        ("acknowledge", _("Acknowledge"), feedback.acknowledge, _("Alert #{id} acknowledged")),
        ("start", _("Take in hand"), feedback.start, _("Alert #{id} taken in hand")),
        ("reopen", _("Reopen"), feedback.reopen, _("Alert #{id} reopened")),
    ]
    shown = [b for b in buttons if b[0] in allowed]
    for col, (action, label, step, done) in zip(st.columns(len(shown) or 1), shown):
        col.button(
            label,
            key=f"{action}{k}",
            on_click=_run,
            args=(make_session, cid, step, done.format(id=aid)),
            kwargs={"alert_id": aid},
            width="stretch",
        )
    if "resolve" in allowed:
        with st.expander(_("Resolve"), key=f"exp_resolve{k}"), st.form(f"resolve_form{k}", clear_on_submit=True):
            with make_session() as session:
                modes = {m.code: m.label for m in feedback.list_failure_modes(session, asset_class=asset.asset_class)}
            st.selectbox(_("Failure mode"), list(modes), format_func=modes.get, key="fm" + k)
            st.text_area(_("Action taken"), key="action" + k)
            st.number_input(_("Downtime avoided (hours)"), min_value=0.0, value=None, key="downtime" + k)
            st.number_input(_("Repair cost (€)"), min_value=0.0, value=None, key="cost" + k)
            st.form_submit_button(_("Resolve"), on_click=_resolve, args=(make_session, cid, aid))
    if "false_alarm" in allowed:
        with (
            st.expander(_("False alarm"), key=f"exp_false_alarm{k}"),
            st.form(f"false_form{k}", clear_on_submit=True),
        ):
            st.text_input(_("Why is it a false alarm?"), key="reason" + k)
            st.form_submit_button(
                _("Mark as false alarm"),
                on_click=lambda: _run(
                    make_session,
                    cid,
                    feedback.mark_false_alarm,
                    _("Alert #{id} marked as false alarm").format(id=aid),
                    alert_id=aid,
                    reason=st.session_state["reason" + k],
                ),
            )
    with st.expander(_("Comment or assign"), key=f"exp_comment_or_assign{k}"):
        with st.form(f"comment_form{k}", clear_on_submit=True):
            st.text_area(_("Comment"), key="comment" + k)
            st.form_submit_button(
                _("Add comment"),
                on_click=lambda: _run(
                    make_session,
                    cid,
                    feedback.comment,
                    _("Comment added"),
                    alert_id=aid,
                    text=st.session_state["comment" + k],
                ),
            )
        with st.form(f"assign_form{k}"):
            st.text_input(_("Assign to"), value=alert.assignee or "", key="assignee" + k)
            st.form_submit_button(
                _("Assign"),
                on_click=lambda: _run(
                    make_session,
                    cid,
                    feedback.assign,
                    _("Alert #{id} assigned").format(id=aid),
                    alert_id=aid,
                    assignee=st.session_state["assignee" + k],
                ),
            )


def _trail(session: Session, company: CompanyRef, alert: Alert) -> None:
    events = feedback.alert_events(session, company_id=company.id, alert_id=alert.id)
    with st.expander(_("History ({n})").format(n=len(events))):
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        _("when"): iso_local(e.at),
                        _("who"): e.actor,
                        _("what"): e.kind,
                        _("status"): status(e.to_status) if e.to_status else "",
                        _("comment"): e.comment
                        or e.details.get("false_alarm_reason")
                        or e.details.get("action_taken")
                        or "",
                    }
                    for e in events
                ]
            ),
            hide_index=True,
        )
