"""ISO 14224:2016 failure mechanisms (Annex B, Table B.2), the taxonomy a failure mode is filed under.

The cluster's failure modes (``failure_modes``) say what a technician found ("bearing wear", "clogged
filter"); each names the ISO 14224 failure mechanism it belongs to, so the members' cases can be
compared with the reliability data other plants publish in that taxonomy. Migration 0017 files
the starting list; ``add_failure_mode`` takes the mechanism of a new one.
"""

from __future__ import annotations

MECHANISMS: dict[str, str] = {
    "1.0": "Mechanical failure – general",
    "1.1": "Leakage",
    "1.2": "Vibration",
    "1.3": "Clearance/alignment failure",
    "1.4": "Deformation",
    "1.5": "Looseness",
    "1.6": "Sticking",
    "2.0": "Material failure – general",
    "2.1": "Cavitation",
    "2.2": "Corrosion",
    "2.3": "Erosion",
    "2.4": "Wear",
    "2.5": "Breakage",
    "2.6": "Fatigue",
    "2.7": "Overheating",
    "2.8": "Burst",
    "3.0": "Instrument failure – general",
    "3.1": "Control failure",
    "3.2": "No signal/indication/alarm",
    "3.3": "Faulty signal/indication/alarm",
    "3.4": "Out of adjustment",
    "3.5": "Software failure",
    "3.6": "Common cause/mode failure",
    "4.0": "Electrical failure – general",
    "4.1": "Short circuiting",
    "4.2": "Open circuit",
    "4.3": "No power/voltage",
    "4.4": "Faulty power/voltage",
    "4.5": "Earth/isolation fault",
    "5.0": "External influence – general",
    "5.1": "Blockage/plugged",
    "5.2": "Contamination",
    "5.3": "Miscellaneous external influences",
    "6.0": "Miscellaneous – general",
    "6.1": "No cause found",
    "6.2": "Combined causes",
    "6.3": "Other",
    "6.4": "Unknown",
}


def mechanism_label(code: str | None) -> str:
    return f"ISO 14224 {code} {MECHANISMS[code]}" if code in MECHANISMS else "no ISO 14224 mechanism"
