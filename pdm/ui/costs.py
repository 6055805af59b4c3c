"""Engineer page: the cost model of each of the company's assets, through ``pdm.config.CostModel``.

A blank field inherits the asset class's cluster-wide default (shown beside it); what is
saved are the overrides only. Errors name the field and the value, as the YAML loader does.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.config import CostModel, validate_model
from pdm.errors import ConfigError
from pdm.savings.figures import COST_FIELDS, asset_costs, class_defaults, save_asset_costs
from pdm.storage.catalog import list_assets
from pdm.ui.common import CompanyRef
from pdm.ui.i18n import _


def parse_downtimes(text: str) -> dict[str, float | str]:
    """'bearing_wear: 8' per line → {code: hours}; the model validates the numbers.

    The plant file's numbers are strict (a string is not a number), so what reads as a number
    is passed as one; anything else is passed as typed, for the model to name it."""
    out: dict[str, float | str] = {}
    for line in text.splitlines():
        if line.strip():
            code, _, hours = line.partition(":")
            out[code.strip()] = _number_or_text(hours.strip())
    return out


def _number_or_text(text: str) -> float | str:
    for number in (int, float):  # an int first, so an error echoes -3 as typed, not -3.0
        try:
            return number(text)
        except ValueError:
            pass
    return text


def render(*, make_session: sessionmaker[Session], company: CompanyRef) -> None:
    st.title(_("Costs"))
    with make_session() as session:
        assets = list_assets(session, company_id=company.id)
        defaults = class_defaults(session)
        if not assets:
            st.info(_("No assets for {company}").format(company=company.name))
            return
        by_id = {a.id: a for a in assets}
        asset_id = st.selectbox(
            _("Asset"),
            list(by_id),
            format_func=lambda i: f"{by_id[i].name} ({by_id[i].asset_class})",
            key=f"cost_asset_{company.id}",
        )
        asset = by_id[asset_id]
        overrides, base = dict(asset.cost_overrides or {}), defaults.get(asset.asset_class, CostModel())
        effective = asset_costs(asset, defaults)
    st.caption(
        _("Class defaults for {cls}: {defaults}. Effective: {effective}").format(
            cls=asset.asset_class,
            defaults=base.model_dump(exclude_none=True) or _("none (0)"),
            effective=effective.model_dump(exclude_none=True),
        )
    )
    with st.form(f"costs_form_{asset_id}"):
        values = {
            f: st.number_input(
                f,
                value=overrides.get(f),
                min_value=None,
                key=f"cost_{f}_{asset_id}",
                placeholder=_("inherit ({value})").format(value=getattr(base, f)),
            )
            for f in COST_FIELDS
        }
        values["default_downtime_h"] = st.number_input(
            "default_downtime_h",
            value=overrides.get("default_downtime_h"),
            key=f"cost_default_downtime_h_{asset_id}",
            placeholder=_("inherit"),
        )
        downtimes = st.text_area(
            _("unplanned_downtime_h (one 'failure_mode: hours' per line)"),
            "\n".join(f"{k}: {v}" for k, v in overrides.get("unplanned_downtime_h", {}).items()),
            key=f"cost_downtimes_{asset_id}",
        )
        submitted = st.form_submit_button(_("Save"))
    if submitted:
        data: dict[str, object] = {k: v for k, v in values.items() if v is not None}
        if downtimes.strip():
            data["unplanned_downtime_h"] = parse_downtimes(downtimes)
        try:
            costs = validate_model(CostModel, data, "costs")
        except ConfigError as exc:
            st.error(f"{exc.field} = {exc.value!r}: {exc.reason}")
            return
        with make_session.begin() as session:
            save_asset_costs(session, company_id=company.id, asset_id=asset_id, costs=costs)
        st.success(_("Costs of {asset} saved.").format(asset=asset.name))
