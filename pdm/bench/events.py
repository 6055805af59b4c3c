"""Event-level figures of a replay, as a maintenance manager reads them.

A labelled fault window is *caught* when an alert opens inside it (from its start to its end);
the *lead time* is from the window's start to that alert (the sooner the better; 0 is an alert
on the fault's first row). An alert that opens outside every window is a *false alert*; the
rate is per 30 days of normal (unlabelled) scored time. The NAB score treats each window as a
NAB window and each alert opening as a detection (``pdm.bench.metrics.nab_events``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pdm.bench.metrics import nab_events, nab_scores

MONTH_S = 30 * 86_400.0


@dataclass
class EventFigures:
    faults: int
    caught: int
    false_alerts: int
    normal_s: float  # scored time outside every window
    lead_times_s: list[float] = field(default_factory=list)
    nab_parts: list[tuple] = field(default_factory=list)  # ``nab_events`` of each replay pooled here

    @property
    def nab(self) -> dict[str, float]:
        return nab_scores(self.nab_parts)

    @property
    def missed(self) -> int:
        return self.faults - self.caught

    @property
    def false_per_month(self) -> float:
        return self.false_alerts * MONTH_S / self.normal_s if self.normal_s > 0 else 0.0

    @property
    def median_lead_s(self) -> float | None:
        return float(np.median(self.lead_times_s)) if self.lead_times_s else None

    @property
    def worst_lead_s(self) -> float | None:
        return float(max(self.lead_times_s)) if self.lead_times_s else None


def event_figures(
    openings: list[float], windows: list[tuple[float, float]], scored_from: float, scored_to: float
) -> EventFigures:
    """Figures for alerts opened at ``openings`` against the windows overlapping the scored span."""
    spans = [(max(s, scored_from), e) for s, e in windows if e >= scored_from and s <= scored_to]
    opened = np.sort(np.asarray(openings, dtype=float))
    inside = np.zeros(len(opened), dtype=bool)
    leads = []
    for start, end in spans:
        hit = (opened >= start) & (opened <= end)
        inside |= hit
        if hit.any():
            leads.append(float(opened[hit][0] - start))
    labelled = sum(min(e, scored_to) - s for s, e in spans)
    normal_s = max(0.0, scored_to - scored_from - labelled)
    return EventFigures(len(spans), len(leads), int((~inside).sum()), normal_s, leads, [nab_events(spans, opened)])


def pooled(parts: list[EventFigures]) -> EventFigures:
    """The figures of several replays taken together (NAB normalised over all their windows)."""
    return EventFigures(
        sum(p.faults for p in parts),
        sum(p.caught for p in parts),
        sum(p.false_alerts for p in parts),
        sum(p.normal_s for p in parts),
        [t for p in parts for t in p.lead_times_s],
        [e for p in parts for e in p.nab_parts],
    )
