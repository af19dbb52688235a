"""What the benchmarks share: figures with their spread, side-by-side alternation, the table.

This machine is shared, so an absolute time means little: a figure is a ratio
of two sides measured in turn in the same run, repeated, and reported as the
median with the lowest and highest value seen.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    """One line of the table: a measured value (median of `values`) against its target."""

    key: str  # name in the JSON file
    label: str  # what the table calls it
    values: list[float]  # one per repetition (or one, for a count such as a fraction of epochs)
    target: str = ""  # ">= 0.95", "<= 0.05"; empty: reported, no target
    unit: str = "x"  # x: a ratio; %: a share; s: seconds; /h: per hour
    detail: dict[str, Any] = field(default_factory=dict)  # what explains the value

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        if self.median is None:  # nothing to show for it: e.g. a search that never got there
            return False
        operator, bound = self.target.split()
        return self.median >= float(bound) if operator == ">=" else self.median <= float(bound)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "median": self.median,
            "min": min(self.values, default=None),
            "max": max(self.values, default=None),
            "values": self.values,
            "target": self.target or None,
            "met": self.met,
            "unit": self.unit,
            "detail": self.detail,
        }


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def alternate(sides: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[Any]]:
    """Run each side `repeat` times, in turn, in ABBA order: a load that drifts during the run
    then weighs on both sides alike instead of on whichever always goes first."""
    results: dict[str, list[Any]] = {name: [] for name in sides}
    names = list(sides)
    for round_ in range(repeat):
        for name in names if round_ % 2 == 0 else reversed(names):
            results[name].append(sides[name]())
    return results


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: how many runnable processes shared the cores."""
    return [round(value, 2) for value in os.getloadavg()]


@contextlib.contextmanager
def quiet():
    """Keep a study's own progress lines out of the benchmark's output."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class Stopwatch:
    """Seconds since it was made; `lap()` since the previous lap."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        seconds, self.last = now - self.last, now
        return seconds

    @property
    def total(self) -> float:
        return time.perf_counter() - self.started


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "%":
        return f"{value:.1%}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "s":
        return f"{value:.1f}s"
    return f"{value:.0f}{unit}" if abs(value) >= 100 else f"{value:.3g}{unit}"


def table(figures: list[Figure]) -> str:
    """The figures as aligned text: median, spread, target, and whether it is met."""
    rows = [("figure", "median", "spread", "n", "target", "met")]
    for figure in figures:
        low, high = min(figure.values, default=None), max(figure.values, default=None)
        spread_text = "" if len(figure.values) < 2 else f"{_number(low, figure.unit)}..{_number(high, figure.unit)}"
        met = {True: "yes", False: "NO", None: ""}[figure.met]
        target = ""
        if figure.target:
            operator, bound = figure.target.split()
            target = f"{operator} {_number(float(bound), figure.unit)}"
        rows.append((figure.label, _number(figure.median, figure.unit), spread_text, str(len(figure.values)),
                     target, met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width)
                       in enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
