"""Charts of a results table: the blur/roughness trade-off, each hyperparameter's axis, training curves.

Every function takes the table from `load_results` (and the study's search
space where it matters) and returns a matplotlib `Figure`, built without
pyplot so it neither needs a display nor leaks global state; a notebook shows
it as the value of a cell, `figure.savefig(path)` writes it.
"""

from __future__ import annotations

import functools

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from vae_tune.analysis.playbook import failure_share, status_counts
from vae_tune.analysis.results import is_baseline, scored_epochs, usable
from vae_tune.config import Parameter
from vae_tune.names import (
    BEST_BLUR,
    BEST_OBJECTIVE,
    BEST_ROUGHNESS,
    BLUR,
    DIVERGED,
    EPOCH,
    METRIC,
    ROUGHNESS,
    TRAIN_LOSS,
    TRIAL_ID,
    UNSCORED_FLAGS,
)

UNSCORED_COLOUR = "#d62728"  # failed and diverged trials, in every chart
STATUS_COLOURS = {"finished": "#2ca02c", "stopped early": "#1f77b4", "running": "#9467bd",
                  "pending": "#7f7f7f", "diverged": UNSCORED_COLOUR, "collapsed": "#bcbd22",
                  "failed": "#8c1c13", "timed out": "#ff7f0e"}
BASELINE_COLOUR = "#e377c2"  # the baseline trial's star, in every chart that marks it
BASELINE_LABEL = "baseline (the tutorial's configuration)"
PLAIN_NUMBERS = ticker.FuncFormatter(lambda value, _: f"{value:g}")  # 0.002 rather than 2x10^-3
SCORE_LABELS = {
    BLUR: f"{BLUR} (lower is sharper)",
    ROUGHNESS: f"{ROUGHNESS} (lower is smoother)",
    METRIC: "best objective (lower is better)",
}


def _plain_numbers(draw):
    """Draw with tick labels as plain numbers: no '1e-5+1' offsets, no 2x10^-3 on log axes."""

    @functools.wraps(draw)
    def drawn(*args, **kwargs):
        with matplotlib.rc_context({"axes.formatter.useoffset": False}):
            return draw(*args, **kwargs)

    return drawn


def _plain_log_labels(axis) -> None:
    # Ticks at 1, 2 and 5 of each decade: labelled even when the axis spans less than one.
    axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(PLAIN_NUMBERS)
    axis.set_minor_formatter(ticker.NullFormatter())


def rank_label(row: pd.Series) -> str:
    """'#1 e3f27_00015': the rank the table, the plots and the report all use for a trial."""
    return f"#{int(row['rank'])} {row[TRIAL_ID]}"


def _scored(table: pd.DataFrame) -> pd.DataFrame:
    return table[usable(table)] if not table.empty else table


def _unscored_note(table: pd.DataFrame) -> str:
    left_out = table[~table.index.isin(_scored(table).index)] if not table.empty else table
    if left_out.empty:
        return ""
    counts = left_out["status"].value_counts()
    return "not plotted (no score): " + ", ".join(f"{n} {status}" for status, n in counts.items())


def _format_parameter_axis(axes, name: str, values: pd.Series, space: dict[str, Parameter]) -> None:
    """A log x axis where the search was log; plain numbers (0.002, 64) as labels instead of 2x10^-3."""
    if not _is_log(name, values, space):
        return
    axes.set_xscale("log")
    axis = axes.xaxis
    parameter = space.get(name)
    if parameter is not None and parameter.distribution == "choice":  # ticks at the values searched
        axis.set_major_locator(ticker.FixedLocator(sorted(parameter.values)))
        axis.set_major_formatter(PLAIN_NUMBERS)
        axis.set_minor_formatter(ticker.NullFormatter())
    else:
        _plain_log_labels(axis)


def _is_log(name: str, values: pd.Series, space: dict[str, Parameter]) -> bool:
    parameter = space.get(name)
    if parameter is not None and parameter.distribution != "choice":
        return parameter.distribution == "loguniform"
    # A choice of sizes such as latent_dim 16..512 reads best on a log axis too.
    positive = values.dropna()
    return bool(len(positive)) and (positive > 0).all() and positive.max() / positive.min() >= 10


@_plain_numbers
def pareto_plot(table: pd.DataFrame, space: dict[str, Parameter] | None = None, top: int = 3,
                roughness_weight: float | None = None, colour_by: str = "kl_weight") -> Figure:
    """Best blur against best roughness of every scored trial, the Pareto front drawn, the best `top` labelled.

    The baseline trial (the table's `baseline` column) is a star of its own in the legend.
    With `roughness_weight`, faint lines join points of equal objective
    (blur + roughness_weight * roughness), which is how the trials are ranked.
    """
    space = space or {}
    figure = Figure(figsize=(7.5, 5.5), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title("Blur vs roughness of every trial (at its best epoch)")
    axes.xaxis.set_major_locator(ticker.MaxNLocator(nbins=6))
    axes.set_xlabel(SCORE_LABELS[BLUR])
    axes.set_ylabel(SCORE_LABELS[ROUGHNESS])
    scored = _scored(table)
    if scored.empty:
        axes.text(0.5, 0.5, "no trial has a score yet", ha="center", va="center", transform=axes.transAxes)
        return figure
    blur, roughness = scored[BEST_BLUR], scored[BEST_ROUGHNESS]
    colours = scored[colour_by] if colour_by in scored else None
    norm = None
    if colours is not None and colours.nunique() > 1:
        norm = (LogNorm if _is_log(colour_by, colours, space) else Normalize)(colours.min(), colours.max())
    points = axes.scatter(blur, roughness, c=colours, norm=norm, cmap="viridis", s=50,
                          edgecolors="black", linewidths=0.5, zorder=3)
    if colours is not None:
        bar = figure.colorbar(points, ax=axes, label=colour_by)
        if isinstance(norm, LogNorm):
            _plain_log_labels(bar.ax.yaxis)
    front = scored[scored["pareto"]].sort_values(BEST_BLUR)
    axes.step(front[BEST_BLUR], front[BEST_ROUGHNESS], where="post", color="black",
              linestyle="--", linewidth=1, zorder=2, label=f"Pareto front ({len(front)} trial{'s' * (len(front) != 1)})")
    axes.scatter(front[BEST_BLUR], front[BEST_ROUGHNESS], s=160, facecolors="none",
                 edgecolors="black", linewidths=1, zorder=2)
    for _, row in scored[scored["rank"] <= top].iterrows():
        axes.annotate(rank_label(row), (row[BEST_BLUR], row[BEST_ROUGHNESS]),
                      xytext=(6, 6), textcoords="offset points", fontsize=8, zorder=4)
    for _, row in scored[is_baseline(scored)].iterrows():
        axes.scatter([row[BEST_BLUR]], [row[BEST_ROUGHNESS]], marker="*", s=320, color=BASELINE_COLOUR,
                     edgecolors="black", linewidths=0.8, zorder=5, label=BASELINE_LABEL)
    if roughness_weight:
        _equal_objective_lines(axes, scored[BEST_OBJECTIVE], roughness_weight)
    axes.legend(loc="upper right", fontsize=8)
    note = _unscored_note(table)
    if note:
        axes.text(0.01, 0.01, note, transform=axes.transAxes, fontsize=8, color=UNSCORED_COLOUR, va="bottom")
    axes.grid(alpha=0.3)
    return figure


def _equal_objective_lines(axes, objectives: pd.Series, roughness_weight: float) -> None:
    xlim, ylim = axes.get_xlim(), axes.get_ylim()
    blur = np.linspace(*xlim, 2)
    for index, level in enumerate(np.linspace(objectives.min(), objectives.max(), 5)):
        axes.plot(blur, (level - blur) / roughness_weight, color="grey", linewidth=0.7, linestyle=":", zorder=1,
                  label=f"equal objective (blur + {roughness_weight:g} x roughness)" if index == 0 else None)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)


@_plain_numbers
def hyperparameter_plots(table: pd.DataFrame, space: dict[str, Parameter], top: int = 3) -> Figure:
    """One axis plot per searched hyperparameter: best objective against its value, failures marked.

    Dashed vertical lines are the searched range; trials without a score are red
    crosses along the top, so a region where training fails stands out.
    """
    names = [name for name in space if name in table] or ["(nothing searched)"]
    figure = Figure(figsize=(4.2 * len(names), 4.2), layout="constrained")
    figure.suptitle("Best objective against each searched hyperparameter")
    scored = _scored(table)
    unscored = table[~table.index.isin(scored.index)] if not table.empty else table
    objective = scored[BEST_OBJECTIVE] if not scored.empty else pd.Series(dtype=float)
    ceiling = objective.max() + 0.1 * max(objective.max() - objective.min(), 0.05) if len(objective) else 1.0
    for index, name in enumerate(names):
        axes = figure.add_subplot(1, len(names), index + 1)
        axes.set_title(f"objective vs {name}")
        axes.set_xlabel(name + (" (log scale)" if name in table and _is_log(name, table[name], space) else ""))
        axes.set_ylabel(SCORE_LABELS[METRIC] if index == 0 else "")
        if name not in space:
            continue
        axes.scatter(scored[name], objective, color="#1f77b4", s=30, zorder=3, label="scored trial")
        parameter = space[name]
        bounds = (parameter.low, parameter.high) if parameter.distribution != "choice" else (min(parameter.values), max(parameter.values))
        for bound in bounds:
            axes.axvline(bound, color="grey", linestyle="--", linewidth=0.8)
        _format_parameter_axis(axes, name, table[name], space)
        leaders = scored[scored["rank"] <= top]
        axes.scatter(leaders[name], leaders[BEST_OBJECTIVE], s=120, facecolors="none", edgecolors="black",
                     zorder=3, label=f"best {top}")
        baseline = scored[is_baseline(scored)]
        if not baseline.empty:
            axes.scatter(baseline[name], baseline[BEST_OBJECTIVE], marker="*", s=220, color=BASELINE_COLOUR,
                         edgecolors="black", linewidths=0.8, zorder=4, label="baseline")
        for _, row in leaders.iterrows():
            axes.annotate(f"#{int(row['rank'])}", (row[name], row[BEST_OBJECTIVE]), xytext=(5, 4),
                          textcoords="offset points", fontsize=8)
        if not unscored.empty:
            axes.scatter(unscored[name], np.full(len(unscored), ceiling), marker="x", color=UNSCORED_COLOUR,
                         s=50, zorder=3, label="no score (failed, diverged, timed out)")
        axes.grid(alpha=0.3)
        if index == 0:
            axes.legend(fontsize=8, loc="best")
    return figure


@_plain_numbers
def training_curves(histories: pd.DataFrame, table: pd.DataFrame, top: int = 3) -> Figure:
    """Train loss, val/blur and val/roughness per epoch of the best trials, and the trials by status."""
    leaders = table[table["rank"] <= top].sort_values("rank") if not table.empty else table
    figure = Figure(figsize=(11, 7.5), layout="constrained")
    figure.suptitle(f"Training curves of the best {len(leaders)} trials, and every trial's status")
    panels = [(TRAIN_LOSS, "train/loss (log scale)"), (BLUR, SCORE_LABELS[BLUR]),
              (ROUGHNESS, SCORE_LABELS[ROUGHNESS])]
    for index, (column, label) in enumerate(panels):
        axes = figure.add_subplot(2, 2, index + 1)
        axes.set_title(f"{column} per epoch")
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        for _, row in leaders.iterrows():
            history = histories[histories[TRIAL_ID] == row[TRIAL_ID]] if not histories.empty else histories
            if column in history:
                # A collapsed epoch's loss is measured, its blur and roughness are stand-ins (9-10): left out.
                healthy = scored_epochs(history, (DIVERGED,) if column == TRAIN_LOSS else UNSCORED_FLAGS)
                axes.plot(healthy[EPOCH], healthy[column], marker="o", markersize=3, label=rank_label(row))
        if column == TRAIN_LOSS and axes.has_data():
            axes.set_yscale("log")
            _plain_log_labels(axes.yaxis)
        axes.grid(alpha=0.3)
        if axes.has_data():
            axes.xaxis.get_major_locator().set_params(integer=True)
            axes.legend(fontsize=8)
    _status_panel(figure.add_subplot(2, 2, 4), table)
    return figure


def _status_panel(axes, table: pd.DataFrame) -> None:
    counts = status_counts(table)
    total = int(counts.sum())
    axes.set_title(f"Trials by status: {failure_share(table):.0%} failed, diverged or timed out")
    axes.set_xlabel("trials")
    if not total:
        axes.text(0.5, 0.5, "no trial yet", ha="center", va="center", transform=axes.transAxes)
        return
    statuses = list(counts.index)[::-1]
    axes.barh(statuses, [counts[s] for s in statuses], color=[STATUS_COLOURS.get(s, "grey") for s in statuses])
    for position, status in enumerate(statuses):
        axes.text(counts[status], position, f" {counts[status]} ({counts[status] / total:.0%})", va="center", fontsize=9)
    axes.set_xlim(0, max(counts) * 1.35)
    axes.xaxis.get_major_locator().set_params(integer=True)
