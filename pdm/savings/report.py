"""Exports for the quarterly meeting: CSV of the alerts behind the figure, JSON, printable HTML.

The HTML is one self-contained file: the cumulative chart as inline SVG (prints everywhere,
no script, no PNG), its Vega-Lite spec embedded as JSON for whoever wants to re-plot it, and
the same series as a table for readers without SVG. The cluster report holds aggregates only.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from html import escape

from pdm.i18n import N_, translations
from pdm.savings.figures import AlertSavings

ALERT_COLUMNS = (
    "alert_id",
    "asset",
    "asset_class",
    "status",
    "failure_mode",
    "opened_at",
    "closed_at",
    "lead_time_h",
    "downtime_h",
    "downtime_h_source",
    "downtime_cost_per_hour",
    "downtime_cost_per_hour_source",
    "emergency_repair_cost",
    "emergency_repair_cost_source",
    "planned_repair_cost",
    "planned_repair_cost_source",
    "intervention_cost",
    "intervention_cost_source",
    "false_alarm_inspection_cost",
    "false_alarm_inspection_cost_source",
    "savings",
)
GROUP_COLUMNS = ("group", "name", "savings", "resolved", "false_alarms", "precision", "mean_lead_time_h")
# A person's header for each column; without a language (the CLI, scripts) the column keys stay.
COLUMN_LABELS = {
    "alert_id": N_("Alert"),
    "asset": N_("Asset"),
    "asset_class": N_("Asset class"),
    "status": N_("Status"),
    "failure_mode": N_("Failure mode"),
    "opened_at": N_("Opened"),
    "closed_at": N_("Closed"),
    "lead_time_h": N_("Lead time (h)"),
    "downtime_h": N_("Downtime avoided (h)"),
    "downtime_cost_per_hour": N_("Downtime cost per hour"),
    "emergency_repair_cost": N_("Emergency repair cost"),
    "planned_repair_cost": N_("Planned repair cost"),
    "intervention_cost": N_("Intervention cost"),
    "false_alarm_inspection_cost": N_("False alarm inspection cost"),
    "savings": N_("Savings"),
    "group": N_("Group"),
    "name": N_("Name"),
    "resolved": N_("Resolved"),
    "false_alarms": N_("False alarms"),
    "precision": N_("Precision"),
    "mean_lead_time_h": N_("Mean lead time (h)"),
    "cumulative_savings": N_("Cumulative savings"),
}
SOURCE_SUFFIX = "_source"


def column_label(column: str, lang: str | None) -> str:
    """``column``'s header in ``lang``: "Coût horaire d'arrêt (source)" for a ``*_source`` column."""
    if lang is None:
        return column
    gettext = translations(lang).gettext
    if column.endswith(SOURCE_SUFFIX) and column[: -len(SOURCE_SUFFIX)] in COLUMN_LABELS:
        return gettext(N_("{column} (source)")).format(column=gettext(COLUMN_LABELS[column[: -len(SOURCE_SUFFIX)]]))
    return gettext(COLUMN_LABELS[column]) if column in COLUMN_LABELS else column


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, AlertSavings):
        return value.row()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_json(view: dict) -> str:
    """Money as strings ("14562.50"): a float would bring the rounding back."""
    return json.dumps(_plain(view), indent=2)


def group_rows(view: dict) -> list[dict]:
    rows = []
    for group in ("by_company", "by_class", "by_month"):
        for name, s in view.get(group, {}).items():
            rows.append(
                {
                    "group": group[3:],
                    "name": name,
                    "savings": str(s["savings"]),
                    "resolved": s["resolved"],
                    "false_alarms": s["false_alarms"],
                    "precision": "" if s["precision"] is None else round(s["precision"], 4),
                    "mean_lead_time_h": "" if s["mean_lead_time_h"] is None else round(s["mean_lead_time_h"], 2),
                }
            )
    return rows


def to_csv(view: dict, lang: str | None = None) -> str:
    """A member's view: one row per closed alert. The cluster's: one row per company, class, month.

    ``lang``: headers a person reads, in that language; without it the column keys (scripts)."""
    buf = io.StringIO()
    columns, rows = (
        (ALERT_COLUMNS, [a.row() for a in view["alerts"]]) if "alerts" in view else (GROUP_COLUMNS, group_rows(view))
    )
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([column_label(c, lang) for c in columns])
    writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return buf.getvalue()


def vega_spec(view: dict) -> dict:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": view["cumulative"]},
        "mark": {"type": "line", "point": True, "interpolate": "step-after"},
        "encoding": {
            "x": {"field": "closed_at", "type": "temporal", "title": "closed"},
            "y": {"field": "cumulative_savings", "type": "quantitative", "title": "cumulative savings"},
        },
    }


def svg_chart(points: list[dict], width: int = 640, height: int = 220) -> str:
    """A step line of the cumulative savings, scaled by closing order (no dependency, prints as vector)."""
    if not points:
        return "<p>No closed alerts in this period.</p>"
    values = [p["cumulative_savings"] for p in points]
    low, high = min(0.0, *values), max(0.0, *values)
    span = (high - low) or 1.0
    x = lambda i: 40 + i * (width - 60) / max(1, len(values) - 1)  # noqa: E731
    y = lambda v: 10 + (high - v) * (height - 40) / span  # noqa: E731
    path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="cumulative savings"><line x1="40" x2="{width - 20}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
        f'stroke="#999"/><polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{path}"/>'
        f'<text x="0" y="{y(high) + 4:.1f}" font-size="10">{high:,.2f}</text>'
        f'<text x="0" y="{y(low) + 4:.1f}" font-size="10">{low:,.2f}</text></svg>'
    )


def _table(rows: list[dict], columns, lang: str | None = None) -> str:
    head = "".join(f"<th>{escape(column_label(str(c), lang))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _script_json(data) -> str:
    # Script content is not HTML-unescaped by browsers: escaping would corrupt it; only "</" must go.
    return json.dumps(data).replace("</", "<\\/")


def to_html(view: dict, *, title: str, lang: str | None = None) -> str:
    """The printable report; ``lang``: its words and headers in that language (else English, column keys)."""
    w = translations(lang or "en").gettext
    s = view["summary"]
    precision = "—" if s["precision"] is None else f"{s['precision']:.0%}"
    lead = "—" if s["mean_lead_time_h"] is None else f"{s['mean_lead_time_h']:.1f} h"
    summary = w(
        N_(
            "Resolved: {resolved} · false alarms: {false} (cost {cost}) · precision: {precision} · "
            "mean lead time: {lead}"
        )
    )
    method = w(
        N_(
            "Inputs flagged <i>reported</i> come from the technician, <i>default</i> from the asset's cost model; "
            "totals are rounded once to cents (half up)."
        )
    )
    parts = [
        f"<!doctype html><html lang='{lang or 'en'}'><head><meta charset='utf-8'><title>{escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px}@media print{.noprint{display:none}}</style></head><body>",
        f"<h1>{escape(title)}</h1><p>{escape(w(N_('Period: {period}')).format(period=view['period']))}</p>",
        f"<h2>{escape(w(N_('Total savings:')))} <span id='total'>{s['savings']}</span></h2>",
        "<p>"
        + escape(
            summary.format(
                resolved=s["resolved"],
                false=s["false_alarms"],
                cost=s["false_alarm_cost"],
                precision=precision,
                lead=lead,
            )
        )
        + "</p>",
        f"<p><b>{escape(w(N_('Method')))}</b>: {escape(view['formula'])}. {method}</p>",
        f"<h2>{escape(w(N_('Cumulative savings')))}</h2>",
        svg_chart(view["cumulative"]),
        f"<script type='application/json' id='vega-lite'>{_script_json(vega_spec(view))}</script>",
        _table(view["cumulative"], ("closed_at", "cumulative_savings"), lang),
        f"<h2>{escape(w(N_('Breakdown')))}</h2>",
        _table(group_rows(view), GROUP_COLUMNS, lang),
    ]
    if "alerts" in view:
        rows = [a.row() for a in view["alerts"]]
        parts += [f"<h2>{escape(w(N_('Alerts behind the figure')))}</h2>", _table(rows, ALERT_COLUMNS, lang)]
    if "coverage" in view:
        columns = list(view["coverage"][0]) if view["coverage"] else []
        parts += [f"<h2>{escape(w(N_('Data coverage')))}</h2>", _table(view["coverage"], columns, lang)]
    return "".join(parts) + "</body></html>"
