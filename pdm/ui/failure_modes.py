"""Failure modes page: the cluster's shared list a technician names when resolving an alert.

Cluster reviewers and admins extend it here (as ``pdmctl alerts failure-modes --add`` does);
the code is validated and a duplicate is refused with the reason next to the form.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pdm.alerts import feedback
from pdm.errors import PdmError
from pdm.storage.tables import Asset, CostDefault
from pdm.ui.i18n import _

FLASH = "pdm_failure_modes_flash"
EVERY_CLASS = ""


def asset_classes(session: Session) -> list[str]:
    """Asset classes known to the cluster (its assets and its cost defaults): names only, no member data."""
    found = set(session.execute(select(Asset.asset_class).distinct()).scalars())
    found |= set(session.execute(select(CostDefault.asset_class)).scalars())
    return sorted(found)


def _add(make_session: sessionmaker[Session]) -> None:
    s = st.session_state
    code, label = (s.get("fm_code") or "").strip(), (s.get("fm_label") or "").strip()
    try:
        with make_session.begin() as session:
            feedback.add_failure_mode(session, code=code, label=label, asset_class=s.get("fm_class") or None)
    except PdmError as exc:
        s[FLASH] = ("error", str(exc))
        return
    s[FLASH] = ("success", _("Failure mode {code} added").format(code=repr(code)))
    s["fm_code"] = s["fm_label"] = ""


def render(*, make_session: sessionmaker[Session]) -> None:
    st.title(_("Failure modes"))
    st.caption(_("What a technician can name when resolving an alert, shared by every company of the cluster."))
    with make_session() as session:
        modes = feedback.list_failure_modes(session)
        classes = asset_classes(session)
    st.dataframe(
        pd.DataFrame(
            [
                {_("code"): m.code, _("label"): m.label, _("asset class"): m.asset_class or _("every class")}
                for m in modes
            ],
            columns=[_("code"), _("label"), _("asset class")],
        ),
        hide_index=True,
    )
    st.subheader(_("Add a failure mode"))
    flash = st.session_state.pop(FLASH, None)
    if flash:
        (st.error if flash[0] == "error" else st.success)(flash[1])
    # Plain widgets and a button callback (no st.form): the entered values stay after a refusal.
    st.text_input(_("Code"), key="fm_code", placeholder="belt_slip", help=_("Lowercase letters, digits and _."))
    st.text_input(_("Label"), key="fm_label", placeholder=_("Belt slip"))
    st.selectbox(_("Asset class"), [EVERY_CLASS, *classes], key="fm_class", format_func=lambda c: c or _("every class"))
    st.button(_("Add failure mode"), key="fm_add", on_click=_add, args=(make_session,))
