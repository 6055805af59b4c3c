"""The one k-anonymity rule for cluster benchmarks: used by every page, export and command.

A company may compare itself with the others only when at least ``K_MIN`` companies are in
the group: with two, "the other one" is a named company in all but name.
"""

from __future__ import annotations

K_MIN = 3


def benchmark_allowed(n_companies: int) -> bool:
    return n_companies >= K_MIN


def hidden_reason(n_companies: int) -> str:
    return (
        f"Benchmark hidden: only {n_companies} compan{'y' if n_companies == 1 else 'ies'} in the group; "
        f"at least {K_MIN} are needed so that no member can be recognised."
    )
