"""An experiment directory as a pandas table: one row per trial.

Trial statuses come from Ray Tune itself (`ray.tune.ExperimentAnalysis`). The
rest Ray does not give, so it is read from the files directly: the trials
that started since Tune's last snapshot (their params.json), the per-epoch
results of a study still writing them (a half-written last line of
result.json is skipped, an epoch reported again counts once), and vae-tune's
own files (checkpoints' trial.json, starts.log, timed_out.json, baseline.json).
It works on a finished study or one in progress, on the local disk or at the
study's remote `storage_path` (through a local mirror, see `vae_tune.storage`).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from ray.tune import ExperimentAnalysis

from vae_tune.baseline import find_baseline, read_record
from vae_tune.config import POPULATION_SCHEDULERS
from vae_tune.experiment import load_study_config, reported_results
from vae_tune.lineage import describe
from vae_tune.names import (
    BEST_BLUR,
    BEST_CHECKPOINT,
    BEST_EPOCH,
    BEST_OBJECTIVE,
    BEST_ROUGHNESS,
    COLLAPSED,
    DIAGNOSTICS,
    DIVERGED,
    EPOCH,
    ERROR_FILE,
    FAILED,
    FINISHED,
    LINEAGE,
    MEAN_IMAGE_PSNR,
    MEAN_IMAGE_PSNR_COLUMN,
    METRIC,
    PARAMS_FILE,
    PENDING,
    PSNR,
    RUNNING,
    SCHEDULE,
    SCORES,
    STARTS_FILE,
    STOPPED_EARLY,
    TIMED_OUT_STATUS,
    TIMEOUT_FILE,
    TOP_PSNR,
    TRIAL_DIR,
    TRIAL_ID,
    UNSCORED_FLAGS,
    USABLE,
    best_column,
    last_column,
)
from vae_tune.storage import is_uri, mirror_experiment
from vae_tune.training.checkpoint import checkpoint_states, metric_of, newest_checkpoints


def open_experiment(location: str | Path) -> Path:
    """A local directory holding the experiment: `location` itself, or a mirror of a URI (s3://, gs://, file://)."""
    if is_uri(location):
        return mirror_experiment(str(location))
    return Path(location).expanduser()


def read_trial_results(trial_dir: Path) -> pd.DataFrame:
    """Every reported epoch of one trial, once; a half-written last line (trial still running) is skipped.

    A resumed trial may report an epoch again (vae_tune.tuning.resume.report_unlogged_epochs): the last row counts.
    After a PBT exploit to a lower epoch, the trial's own later epochs from before it are another line: read
    backwards, a row counts only below every epoch already counted.
    """
    rows, below = [], float("inf")
    for row in reversed(reported_results(trial_dir)):
        if not isinstance(row.get(EPOCH), int) or row[EPOCH] < below:
            rows.append(row)
            below = row[EPOCH] if isinstance(row.get(EPOCH), int) else below
    return pd.DataFrame(rows[::-1])


def scored_epochs(history: pd.DataFrame, flags: tuple[str, ...] = UNSCORED_FLAGS) -> pd.DataFrame:
    """The epochs of a trial's history not flagged with any of `flags`: their scores are stand-ins, not measurements."""
    for flag in flags:
        if flag in history:
            history = history[~history[flag].fillna(False).astype(bool)]
    return history


def _read_json(path: Path) -> dict | None:
    """A JSON file's content, or None while Ray is still writing (or copying) it."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def best_checkpoint(trial_dir: Path) -> tuple[Path | None, float]:
    """The kept (not pruned) checkpoint with the lowest objective, and that objective."""
    value, best = min(((metric_of(state, METRIC), path) for path, state in newest_checkpoints(trial_dir)),
                      default=(math.inf, None))
    return (best, value) if math.isfinite(value) else (None, math.inf)


def tune_statuses(experiment_dir: Path) -> dict[str, str]:
    """Ray Tune's own status of each trial (TERMINATED, ERROR, PENDING, PAUSED), from its newest experiment
    snapshot; empty before Tune's first snapshot.

    A running trial reads as PENDING: ExperimentAnalysis loads trials as a
    resumed study would, and Trial.__setstate__ requeues RUNNING ones.
    """
    # Ray's public reader also loads every trial's result.json into dataframes we do not use (0.07 s of
    # load_results' 0.19 s on the 17-trial local study: the price of not parsing Tune's private snapshot),
    # and warns about a running trial's half-written last line: quiet here.
    analysis_log = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = analysis_log.level
    analysis_log.setLevel(logging.ERROR)
    try:
        trials = ExperimentAnalysis(str(experiment_dir)).trials
    except (ValueError, OSError):  # no snapshot yet
        return {}
    finally:
        analysis_log.setLevel(level)
    return {trial.trial_id: trial.status for trial in trials}


def _status(history: pd.DataFrame, trial_dir: Path, starts: int, max_epochs: int, tune_status: str | None) -> str:
    """finished, stopped early, diverged, timed out, failed, running or pending.

    Tune's status decides whether a trial failed: the error.txt it leaves behind
    stays even when a retry then finished the trial.
    """
    if (trial_dir / TIMEOUT_FILE).is_file():
        return TIMED_OUT_STATUS
    if tune_status == "ERROR" or (tune_status is None and history.empty and (trial_dir / ERROR_FILE).is_file()):
        return FAILED
    if history.empty:  # started (starts.log) and training its first epoch, or still waiting for resources
        return RUNNING if starts else PENDING
    if bool(history[DIVERGED].iloc[-1]):
        return DIVERGED
    if COLLAPSED in history and history[COLLAPSED].fillna(False).astype(bool).all():
        return COLLAPSED  # so far, for a running trial: it has no score that counts yet
    if int(history[EPOCH].max()) >= max_epochs:
        return FINISHED
    if tune_status in ("RUNNING", "PENDING", "PAUSED"):
        return RUNNING  # reported epochs and not ended: training now, or waiting to go on (a retry, a resume)
    # Without a status the study is in its first seconds, before Tune's first snapshot.
    return STOPPED_EARLY if tune_status else RUNNING


def _starts(trial_dir: Path) -> int:
    path = trial_dir / STARTS_FILE
    return len(path.read_text().splitlines()) if path.is_file() else 0


def load_results(experiment_dir: str | Path) -> pd.DataFrame:
    """One row per trial: searched params, status, epochs, last and best scores, rank, Pareto flag, best checkpoint.

    `best_*` scores come from the epoch with the lowest objective; `rank` orders
    the usable trials by it (1 is the best); `pareto` marks usable trials no
    other usable trial beats on both best blur and best roughness; `baseline`
    marks the trial that ran the tutorial's configuration (see
    `vae_tune.baseline`). Rows are sorted by rank, trials without a score last.
    """
    experiment_dir = open_experiment(experiment_dir)
    study = load_study_config(experiment_dir)
    statuses = tune_statuses(experiment_dir)
    rows, params_of = [], {}
    for trial_dir in sorted(p.parent for p in experiment_dir.glob(f"*/{PARAMS_FILE}")):
        params = _read_json(trial_dir / PARAMS_FILE)
        if params is None:  # the trial is starting this instant; the next read shows it
            continue
        history = read_trial_results(trial_dir)
        trial_id = trial_dir.name.removeprefix("trial_")
        params_of[trial_id] = params
        starts = _starts(trial_dir)
        row = {TRIAL_ID: trial_id, **params,
               "status": _status(history, trial_dir, starts, study.training.epochs, statuses.get(trial_id)),
               "epochs": int(history[EPOCH].max()) if not history.empty else 0,
               "starts": starts}
        healthy = scored_epochs(history)
        row["collapsed_epochs"] = int(history[COLLAPSED].fillna(False).astype(bool).sum()) if COLLAPSED in history else 0
        if healthy.empty:  # a trial that never scored: its least bad stand-in (a collapsed one's is 9-10, by PSNR)
            healthy = history
        if not healthy.empty:
            last, best = healthy.iloc[-1], healthy.loc[healthy[METRIC].idxmin()]
            row.update({last_column(name): float(last[name]) for name in SCORES})
            row.update({best_column(name): float(best[name]) for name in SCORES})
            row[BEST_EPOCH] = int(best[EPOCH])
            row.update({best_column(name): float(best[name]) for name in DIAGNOSTICS if name in best and pd.notna(best[name])})
        if PSNR in history and history[PSNR].notna().any():
            row[TOP_PSNR] = float(history[PSNR].max())  # over every epoch, collapsed ones too
        if MEAN_IMAGE_PSNR in history and history[MEAN_IMAGE_PSNR].notna().any():
            row[MEAN_IMAGE_PSNR_COLUMN] = float(history[MEAN_IMAGE_PSNR].dropna().iloc[-1])
        checkpoint, _ = best_checkpoint(trial_dir)
        row[BEST_CHECKPOINT] = str(checkpoint) if checkpoint else None
        if study.search.scheduler in POPULATION_SCHEDULERS:  # the schedule the trial's newest checkpoint went through
            newest = checkpoint_states(trial_dir)
            row[SCHEDULE] = describe(newest[0][1].get(LINEAGE) or []) if newest else ""
        row[TRIAL_DIR] = str(trial_dir)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for name in SCORES:
        for column in (last_column(name), best_column(name)):
            if column not in table:
                table[column] = np.nan
    table[BEST_EPOCH] = table.get(BEST_EPOCH, pd.Series(index=table.index, dtype=float)).astype("Int64")
    scored = usable(table)
    table["rank"] = table[BEST_OBJECTIVE].where(scored).rank(method="first").astype("Int64")
    table["pareto"] = scored & pareto_front(table[BEST_BLUR].to_numpy(), table[BEST_ROUGHNESS].to_numpy(),
                                            scored.to_numpy())
    table["baseline"] = _baseline_flags(table, experiment_dir, params_of)
    return table.sort_values(["rank", BEST_OBJECTIVE], na_position="last").reset_index(drop=True)


def _baseline_flags(table: pd.DataFrame, experiment_dir: Path, params: dict[str, dict]) -> pd.Series:
    """True for the one trial that ran the baseline, if the study has one (baseline.json).

    Trials in id order: the variant generator numbers them as it creates them
    (Tune's own snapshot reorders them on resume).
    """
    return table[TRIAL_ID] == find_baseline(sorted(params.items()), read_record(experiment_dir))


def is_baseline(table: pd.DataFrame) -> pd.Series:
    """Which row is the study's baseline trial (the `baseline` column; none in a table without it)."""
    return table["baseline"].fillna(False).astype(bool) if "baseline" in table else pd.Series(False, table.index)


def usable(table: pd.DataFrame) -> pd.Series:
    """Which trials have a score that counts: not failed, diverged or timed out."""
    return table["status"].isin(USABLE) & table[BEST_OBJECTIVE].notna()


def pareto_front(blur: np.ndarray, roughness: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the candidates not dominated on (blur, roughness), both minimised.

    Rows with a NaN score, or outside `candidates` (default: all), are never on it.
    """
    points = np.column_stack([blur, roughness]).astype(float)
    valid = np.all(np.isfinite(points), axis=1)
    if candidates is not None:
        valid &= np.asarray(candidates, dtype=bool)
    on_front = np.zeros(len(points), dtype=bool)
    others = points[valid]
    for i in np.flatnonzero(valid):
        dominated = np.any(np.all(others <= points[i], axis=1) & np.any(others < points[i], axis=1))
        on_front[i] = not dominated
    return on_front


def no_winner(table: pd.DataFrame) -> str | None:
    """The verdict when trials were scored but none ever beat the mean image, else None.

    A study in that state has no best trial: every model it trained returns
    about the average training image for every input.
    """
    if table.empty or usable(table).any() or not (table["status"] == COLLAPSED).any():
        return None
    line = "No trial beat the mean image: every scored epoch reconstructed the probe no better than the average training image"
    if TOP_PSNR in table and MEAN_IMAGE_PSNR_COLUMN in table and table[TOP_PSNR].notna().any():
        line += (f" (best probe PSNR {table[TOP_PSNR].max():.1f} dB, the mean image's "
                 f"{table[MEAN_IMAGE_PSNR_COLUMN].dropna().iloc[0]:.1f} dB)")
    return line + "; train longer (training.epochs, search.grace_period) or on more images."


def best_trial(table: pd.DataFrame) -> pd.Series:
    """The trial with the lowest best objective among those that did not fail or diverge."""
    scored = table[usable(table)] if not table.empty else table
    if scored.empty:
        raise ValueError("no trial of this study produced a usable score")
    return scored.loc[scored[BEST_OBJECTIVE].idxmin()]


def trials_to_render(table: pd.DataFrame, top: int) -> pd.DataFrame:
    """The best `top` trials by objective, then every other Pareto-front trial, that have a checkpoint."""
    if table.empty:
        return table
    chosen = (table["rank"] <= top).fillna(False) | table["pareto"]
    return table[chosen & table[BEST_CHECKPOINT].notna()].sort_values("rank")


def trial_histories(table: pd.DataFrame, trial_ids) -> pd.DataFrame:
    """Per-epoch results of the given trials, one row per (trial_id, epoch), in the order given."""
    frames = []
    by_id = table.set_index(TRIAL_ID)
    for trial_id in trial_ids:
        history = read_trial_results(Path(by_id.loc[trial_id, TRIAL_DIR]))
        if not history.empty:
            frames.append(history.assign(trial_id=trial_id))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
