"""`vae-tune confirm`'s and `vae-tune replay --seeds`'s results read back: confirm.csv (replay.csv),
per-configuration spread, and the verdict.

Whether the study's best configuration beats the baseline on every new seed, and for a replay whether
a PBT winner's schedule beats its last values held constant and the baseline (vae_tune.confirm
retrains them; this module only reads what it wrote).
"""

from __future__ import annotations

import dataclasses
import html
import math
from pathlib import Path

import pandas as pd

from vae_tune.names import (
    BEST_OBJECTIVE,
    COLOUR_FIDELITY,
    CONFIRM_FILE,
    PSNR,
    SCORES,
    TRIAL_ID,
    USABLE,
    best_column,
)

BASELINE = "baseline"  # the baseline's label in confirm.csv's config column
# replay.csv's other labels: the PBT winner's schedule, and its values at its best epoch held from epoch 1
SCHEDULED, CONSTANT = "schedule", "constant"
# Scores at each run's best epoch; the last two only where the trials report them.
CONFIRMED_SCORES = (*SCORES, PSNR, COLOUR_FIDELITY)
CONFIGURATIONS_RETRAINED, DEFAULT_SEEDS = 3, 3  # `--top` and `--seeds` of `vae-tune confirm`


class ConfirmError(ValueError):
    """The experiment has nothing confirm or replay can retrain; the message says why in one line."""


def read_confirm(experiment_dir: str | Path) -> pd.DataFrame | None:
    """confirm.csv of an experiment directory, or None when confirm has not run."""
    path = Path(experiment_dir) / CONFIRM_FILE
    return pd.read_csv(path, dtype={TRIAL_ID: str, "config": str}, keep_default_na=True) if path.is_file() else None


def _scores(table: pd.DataFrame) -> list[str]:
    return [score for score in CONFIRMED_SCORES if best_column(score) in table and table[best_column(score)].notna().any()]


def usable(table: pd.DataFrame) -> pd.Series:
    """Which runs scored (as vae_tune.analysis.results.usable, on confirm.csv's columns)."""
    column = BEST_OBJECTIVE
    return table["status"].isin(USABLE) & table[column].notna() if column in table else pd.Series(False, table.index)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, in confirm.csv's order: how many runs scored, and mean, std, min, max of each score."""
    rows = []
    scored = table[usable(table)]
    for label, runs in table.groupby("config", sort=False):
        good = scored[scored["config"] == label]
        row = {"config": label, TRIAL_ID: runs[TRIAL_ID].iloc[0], "runs": len(runs), "scored": len(good)}
        for score in _scores(table):
            values = good[best_column(score)].dropna()
            row.update({f"{score}_mean": values.mean(), f"{score}_std": values.std(ddof=1) if len(values) > 1 else 0.0,
                        f"{score}_min": values.min(), f"{score}_max": values.max()})
        rows.append(row)
    return pd.DataFrame(rows)


@dataclasses.dataclass
class Verdict:
    best: str  # the best configuration's label
    per_seed: list[tuple[int, float, float]]  # (seed, best's objective, the other's objective); NaN: no score
    text: str

    @property
    def beats_every_seed(self) -> bool:
        return bool(self.per_seed) and all(best < other for _, best, other in self.per_seed)


def verdict(table: pd.DataFrame, against: str = BASELINE) -> Verdict | None:
    """Does the best configuration (the first other than `against`) beat `against` on every seed? Compared
    seed by seed (lower objective wins); a run without a score wins nothing. None when either side is missing."""
    labels = [label for label in table["config"].unique() if label != against]
    if not labels or against not in set(table["config"]):
        return None
    best = labels[0]
    by_seed = _objectives(table)
    seeds = sorted({int(seed) for seed in table["seed"]})
    per_seed = [(seed, by_seed.get((best, seed), math.nan), by_seed.get((against, seed), math.nan)) for seed in seeds]
    wins = sum(b < a for _, b, a in per_seed)
    pairs = ", ".join(f"seed {seed}: {_number(b)} vs {_number(a)}" for seed, b, a in per_seed)
    other = "the baseline" if against == BASELINE else against
    if wins == len(per_seed):
        text = f"{best} beats {other} on every seed ({wins} of {len(per_seed)}; objective {pairs})"
    else:
        text = f"{best} does not beat {other} on every seed: {wins} of {len(per_seed)} (objective {pairs})"
    return Verdict(best, per_seed, text)


def _objectives(table: pd.DataFrame) -> dict[tuple[str, int], float]:
    """Each run's best objective by (configuration, seed); NaN where it has no score that counts."""
    objective = table[BEST_OBJECTIVE].where(usable(table)) if BEST_OBJECTIVE in table else pd.Series(math.nan, table.index)
    return {(row.config, int(row.seed)): value for row, value in zip(table.itertuples(), objective)}


def _number(value: float) -> str:
    return "no score" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _spread(summary_row: pd.Series, score: str) -> str:
    mean = summary_row.get(f"{score}_mean")
    if mean is None or pd.isna(mean):
        return "no score"
    return (f"{mean:.4f} ± {summary_row[f'{score}_std']:.4f} "
            f"({summary_row[f'{score}_min']:.4f}..{summary_row[f'{score}_max']:.4f})")


def summary_columns(summary: pd.DataFrame) -> list[str]:
    return [score for score in CONFIRMED_SCORES if f"{score}_mean" in summary]


def format_summary(table: pd.DataFrame, epochs: int | None = None, command: str = "confirm",
                   against: tuple[str, ...] = (BASELINE,), by_seed: bool = False) -> str:
    """The printed summary: per configuration mean ± std (min..max) of each score, then the verdict against
    each of `against`, in one line. `by_seed`: first each seed's objective per configuration."""
    summary = summarise(table)
    seeds = sorted({int(seed) for seed in table["seed"]})
    header = f"{command}: {len(summary)} configurations x {len(seeds)} seeds ({', '.join(map(str, seeds))})"
    header += f", {epochs} epochs each" if epochs else ""
    lines = [header]
    if by_seed:
        objectives = _objectives(table)
        lines += _columns(["seed", *(f"{label} objective" for label in summary["config"])],
                          [[str(seed), *(_number(objectives.get((label, seed), math.nan)) for label in summary["config"])]
                           for seed in seeds])
    lines += _columns(["config", "trial", "scored", *summary_columns(summary)],
                      [[str(row["config"]), str(row[TRIAL_ID]) if pd.notna(row[TRIAL_ID]) else "",
                        f"{row['scored']}/{row['runs']}", *(_spread(row, score) for score in summary_columns(summary))]
                       for _, row in summary.iterrows()])
    found = [result.text for other in against if (result := verdict(table, other)) is not None]
    if found:
        lines.append("verdict: " + "; ".join(found))
    return "\n".join(lines)


def _columns(header: list[str], cells: list[list[str]]) -> list[str]:
    """A plain-text table, each column as wide as its widest cell."""
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(header)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *cells]]


def summary_html(table: pd.DataFrame) -> str:
    """The summary as an HTML table, for the report's Confirmation section."""
    summary = summarise(table)
    scores = summary_columns(summary)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["config", "trial", "runs scored",
                                                          *(f"{s} mean ± std (min..max)" for s in scores)])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in [
            str(row["config"]), str(row[TRIAL_ID]) if pd.notna(row[TRIAL_ID]) else "",
            f"{row['scored']}/{row['runs']}", *(_spread(row, score) for score in scores)]) + "</tr>"
        for _, row in summary.iterrows())
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
