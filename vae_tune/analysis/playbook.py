"""The tuning playbook's checks on a results table: best trials at the edge of the search, failed trials.

Pure functions of the table and the study's search space, so a notebook can
run them on any study, finished or not.
"""

from __future__ import annotations

import math

import pandas as pd

from vae_tune.config import Parameter
from vae_tune.names import FAILURES

# The outer share of a searched range (measured on a log scale for log-uniform
# parameters) that counts as its edge.
EDGE_BAND = 0.1


def position_in_range(value: float, parameter: Parameter) -> float:
    """Where `value` lies in a continuous range: 0 at `low`, 1 at `high`, on a log scale if the search was."""
    low, high = parameter.low, parameter.high
    if parameter.distribution == "loguniform":
        value, low, high = math.log(value), math.log(low), math.log(high)
    return (value - low) / (high - low) if high > low else 0.5


def _edge(value, parameter: Parameter) -> str | None:
    """'low' or 'high' when `value` sits at that edge of the searched range, else None."""
    if parameter.distribution == "choice":
        ordered = sorted(v for v in parameter.values if isinstance(v, (int, float)))
        # With two values every trial is at an edge: only a longer ordered list can say "go further".
        if len(ordered) < 3 or len(ordered) != len(parameter.values):
            return None
        return "low" if value == ordered[0] else "high" if value == ordered[-1] else None
    position = position_in_range(float(value), parameter)
    return "low" if position <= EDGE_BAND else "high" if position >= 1 - EDGE_BAND else None


def edge_of_range_warnings(table: pd.DataFrame, space: dict[str, Parameter], top: int = 3) -> list[str]:
    """One line per searched hyperparameter whose best trial sits at the edge of its searched range.

    The playbook's point: an optimum at the boundary may lie outside it, so the
    range should be widened before the study's answer is trusted. The line
    says which way and how many of the best `top` trials agree.
    """
    ranked = table.dropna(subset=["rank"]).sort_values("rank") if "rank" in table else table.iloc[0:0]
    if ranked.empty:
        return []
    leaders = ranked.head(top)
    warnings = []
    for name, parameter in space.items():
        if name not in leaders:
            continue
        side = _edge(leaders[name].iloc[0], parameter)
        if side is None:
            continue
        others = sum(_edge(value, parameter) == side for value in leaders[name][1:])
        bound = _bounds(parameter)[side == "high"]
        direction = "above" if side == "high" else "below"
        warning = (f"widen {name} {direction} {bound:g}: the best trial ({name}={leaders[name].iloc[0]:.4g}) "
                   f"sits at the {side} edge of the searched range {parameter.describe()}")
        if others:
            warning += f" (so do {others} of the next {len(leaders) - 1} best trials)"
        warnings.append(warning)
    return warnings


def _bounds(parameter: Parameter) -> tuple[float, float]:
    if parameter.distribution == "choice":
        return min(parameter.values), max(parameter.values)
    return parameter.low, parameter.high


def status_counts(table: pd.DataFrame) -> pd.Series:
    """Number of trials per status, most common first."""
    return table["status"].value_counts() if not table.empty else pd.Series(dtype=int)


def failure_share(table: pd.DataFrame) -> float:
    """Share of trials that failed, diverged or timed out (the playbook asks for it: failures bias a study)."""
    if table.empty:
        return 0.0
    return float(table["status"].isin(FAILURES).mean())

