"""The asset page's model card: which detector watches the asset, why that one, and how its
alarm threshold was set; or why the asset has no model yet. An asset is never left unscored
without this card saying why."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.orm import Session

from pdm.models.training import active_model
from pdm.storage.tables import Asset, ModelVersion
from pdm.ui.common import CompanyRef, iso_local
from pdm.ui.i18n import _, number


def threshold_line(version: ModelVersion) -> str:
    """How the alarm threshold was set, in a plant's terms."""
    cal = (version.metrics or {}).get("threshold") or {}
    threshold = f"{version.threshold:.3g}"
    if cal.get("method") == "budget":
        return _(
            "Alarm threshold {threshold}: set for at most {budget} false alert(s) per 30 days, on {rows} rows of "
            "normal data ({hours} h) it was not fitted on, where it would have opened {seen} alert(s)."
        ).format(
            threshold=threshold,
            budget=f"{cal.get('budget_per_month', 0):g}",
            rows=cal.get("rows", 0),
            hours=number(cal.get("span_h", 0), digits=1, fixed=True),
            seen=cal.get("observed_alerts", 0),
        )
    if cal:
        return _(
            "Alarm threshold {threshold}: the detector's own quantile of its training scores "
            "(only {rows} rows held out: too few to hold it to the alarm budget)."
        ).format(threshold=threshold, rows=cal.get("rows", 0))
    return _("Alarm threshold {threshold}.").format(threshold=threshold)


def model_lines(version: ModelVersion) -> list[str]:
    metrics = version.metrics or {}
    lines = [
        _("Version {version} · detector **{detector}** · trained on {start} – {end}").format(
            version=version.version,
            detector=version.detector,
            start=iso_local(version.trained_from),
            end=iso_local(version.trained_to),
        )
        + (_(", {n} rows").format(n=metrics["rows"]) if "rows" in metrics else ""),
        _("Tags: {tags}").format(tags=", ".join(map(str, version.feature_names))),
    ]
    if metrics.get("choice"):
        lines.append(_("Why this detector: {why}").format(why=metrics["choice"]))
    lines.append(threshold_line(version))
    return lines


def render_model(session: Session, company: CompanyRef, asset: Asset) -> None:
    st.subheader(_("Model"))
    version = active_model(session, company_id=company.id, asset_id=asset.id)
    if asset.training_note:
        st.warning(
            _("Latest training ({when}) gave no model: {note}").format(
                when=iso_local(asset.training_note_at), note=asset.training_note
            )
        )
    if version is None:
        if not asset.training_note:
            st.info(
                _(
                    "No model yet for {asset}: the worker trains one once enough normal readings are stored "
                    "(detection.train_min_rows over detection.train_min_span_min)."
                ).format(asset=asset.name or asset.slug)
            )
        return
    for line in model_lines(version):
        st.markdown(line)
