"""The asset page's model card: which detector watches the asset, why that one, and how its
alarm threshold was set; or why the asset has no model yet. An asset is never left unscored
without this card saying why."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.orm import Session

from pdm.models.training import active_model
from pdm.storage.tables import Asset, ModelVersion
from pdm.ui.common import CompanyRef, iso_local


def threshold_line(version: ModelVersion) -> str:
    """How the alarm threshold was set, in a plant's terms."""
    cal = (version.metrics or {}).get("threshold") or {}
    if cal.get("method") == "budget":
        seen = cal.get("observed_alerts", 0)
        return (
            f"Alarm threshold {version.threshold:.3g}: set for at most {cal.get('budget_per_month', 0):g} false "
            f"alert(s) per 30 days, on {cal.get('rows', 0)} rows of normal data ({cal.get('span_h', 0):.1f} h) "
            f"it was not fitted on, where it would have opened {seen} alert(s)."
        )
    if cal:
        return (
            f"Alarm threshold {version.threshold:.3g}: the detector's own quantile of its training scores "
            f"(only {cal.get('rows', 0)} rows held out: too few to hold it to the alarm budget)."
        )
    return f"Alarm threshold {version.threshold:.3g}."


def model_lines(version: ModelVersion) -> list[str]:
    metrics = version.metrics or {}
    lines = [
        f"Version {version.version} · detector **{version.detector}** · trained on "
        f"{iso_local(version.trained_from)} – {iso_local(version.trained_to)}"
        + (f", {metrics['rows']} rows" if "rows" in metrics else ""),
        "Tags: " + ", ".join(map(str, version.feature_names)),
    ]
    if metrics.get("choice"):
        lines.append(f"Why this detector: {metrics['choice']}")
    lines.append(threshold_line(version))
    return lines


def render_model(session: Session, company: CompanyRef, asset: Asset) -> None:
    st.subheader("Model")
    version = active_model(session, company_id=company.id, asset_id=asset.id)
    if asset.training_note:
        st.warning(f"Latest training ({iso_local(asset.training_note_at)}) gave no model: {asset.training_note}")
    if version is None:
        if not asset.training_note:
            st.info(
                f"No model yet for {asset.name or asset.slug}: the worker trains one once enough normal "
                "readings are stored (detection.train_min_rows over detection.train_min_span_min)."
            )
        return
    for line in model_lines(version):
        st.markdown(line)
