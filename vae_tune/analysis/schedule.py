"""A PBT study's winner as a schedule: the segments of epochs and hyperparameters its best checkpoint went through.

Read from the best checkpoint's trial.json (vae_tune.lineage), not from Ray's
pbt_*.txt logs, so it is there after pruning, a resume or a copy of the
experiment. Written as schedule.json in the experiment directory; `vae-tune
replay` retrains it from scratch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from vae_tune.analysis.confirmation import ConfirmError
from vae_tune.config import POPULATION_SCHEDULERS, StudyConfig
from vae_tune.experiment import load_study_config
from vae_tune.lineage import params_at
from vae_tune.names import (
    BEST_CHECKPOINT,
    BEST_EPOCH,
    BEST_OBJECTIVE,
    BLUR,
    COLOUR_FIDELITY,
    EPOCH,
    EXPLOITED_TRIAL,
    FIRST_EPOCH,
    HP_KL_WEIGHT,
    HP_LEARNING_RATE,
    LAST_EPOCH,
    LINEAGE,
    OBJECTIVE,
    PSNR,
    ROUGHNESS,
    SCHEDULE_FILE,
    TRIAL_ID,
)
from vae_tune.training.checkpoint import read_state

# The winner's scores at its best epoch, kept in schedule.json so a replay is compared with them.
REPLAYED_SCORES = (OBJECTIVE, BLUR, ROUGHNESS, PSNR, COLOUR_FIDELITY)


def winner_schedule(best: pd.Series) -> dict[str, Any]:
    """The best trial's schedule up to its best epoch, with what rebuilds the model and the training."""
    state = read_state(best[BEST_CHECKPOINT])
    metrics = state.get("metrics", {})
    return {TRIAL_ID: best[TRIAL_ID], BEST_EPOCH: int(best[BEST_EPOCH]), BEST_OBJECTIVE: float(best[BEST_OBJECTIVE]),
            BEST_CHECKPOINT: str(best[BEST_CHECKPOINT]), "model": state["model"], "training": state["training"],
            "scores": {name: metrics[name] for name in REPLAYED_SCORES if name in metrics},
            LINEAGE: state.get(LINEAGE) or []}


def write_schedule(experiment_dir: Path, study: StudyConfig, best: pd.Series | None) -> Path | None:
    """schedule.json of a PBT or PB2 study's winner; None for other studies or while no trial has a best checkpoint."""
    if study.search.scheduler not in POPULATION_SCHEDULERS or best is None or not isinstance(best.get(BEST_CHECKPOINT), str):
        return None
    path = Path(experiment_dir) / SCHEDULE_FILE
    path.write_text(json.dumps(winner_schedule(best), indent=2))
    return path


def read_schedule(experiment_dir: str | Path) -> dict[str, Any]:
    """schedule.json; ConfirmError for a study that is not PBT or PB2, FileNotFoundError before its report."""
    scheduler = load_study_config(experiment_dir).search.scheduler
    if scheduler not in POPULATION_SCHEDULERS:
        raise ConfirmError(f"{experiment_dir} is not a PBT study (search.scheduler = {scheduler!r}): "
                           "only a PBT or PB2 winner has a schedule to replay")
    path = Path(experiment_dir) / SCHEDULE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist yet: the report writes it; run vae-tune report {experiment_dir}")
    return json.loads(path.read_text())


def schedule_plot(histories: pd.DataFrame, schedule: dict[str, Any] | None) -> Figure:
    """kl_weight and learning_rate in use per epoch (log axes): every trial thin, each exploit marked, the
    winner's ancestry (its lineage, trained by several trials) thick."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    panels = figure.subplots(1, 2)
    for axes, key, label in zip(panels, (HP_KL_WEIGHT, HP_LEARNING_RATE), ("kl_weight", "learning_rate")):
        if not histories.empty and key in histories:
            for _, history in histories.groupby(TRIAL_ID, sort=False):
                axes.plot(history[EPOCH], history[key], color="0.6", linewidth=0.8, drawstyle="steps-post")
                if EXPLOITED_TRIAL in history:
                    exploits = history[history[EXPLOITED_TRIAL].notna()]
                    axes.scatter(exploits[EPOCH], exploits[key], marker="^", color="tab:orange", s=18, zorder=3,
                                 label="exploit" if axes.get_legend_handles_labels()[1].count("exploit") == 0 else None)
        if schedule is not None:
            epochs = [epoch for segment in schedule[LINEAGE] for epoch in range(segment[FIRST_EPOCH], segment[LAST_EPOCH] + 1)]
            values = [params_at(schedule[LINEAGE], epoch)[label] for epoch in epochs]
            axes.plot(epochs, values, color="tab:blue", linewidth=2.5, drawstyle="steps-post",
                      label=f"winner {schedule[TRIAL_ID]}'s ancestry")
        axes.set_yscale("log")
        axes.set_xlabel("epoch")
        axes.set_title(label)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    return figure
