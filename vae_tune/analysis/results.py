"""An experiment directory as a pandas table: one row per trial.

Reads only the files Ray Tune and the trainable write (`params.json`,
`result.json`, `checkpoint_*/trial.json`, `error.txt`, Ray's
`experiment_state-*.json`), so it works without Ray
running, on a finished study or one still in progress, on the local disk or at
the study's remote `storage_path` (through a local mirror, see `vae_tune.storage`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from vae_tune.baseline import find_baseline, read_record
from vae_tune.checkpoint import UNSCORED_FLAGS, metric_of, newest_checkpoints
from vae_tune.config import StudyConfig
from vae_tune.storage import is_uri, mirror_experiment
from vae_tune.study import METRIC, STUDY_FILE
from vae_tune.study import load_study_config as load_local_study_config
from vae_tune.trial_files import STARTS_FILE, TIMEOUT_FILE, reported_results

SCORES = ("objective", "val/blur", "val/roughness")
# Shown beside the scores at the best epoch, where the trial reported them (older studies did not).
DIAGNOSTICS = ("val/psnr", "train/psnr", "val/colour_fidelity", "val/blur_detail", "val/blur_colour",
               "val/roughness_unevenness", "val/roughness_shortfall")
# Statuses whose scores count: a running trial's best so far is a real result too.
USABLE = ("finished", "stopped early", "running")
# What each status means, for captions and the README.
STATUS_MEANINGS = {
    "finished": "trained every epoch of the study",
    "stopped early": "stopped by the scheduler (ASHA) before the last epoch",
    "running": "still training, or interrupted before it finished",
    "diverged": "its loss became NaN or infinite; training stopped",
    "collapsed": "no epoch reconstructed the probe better than the mean training image does",
    "failed": "raised an error (see the trial's error.txt)",
    "timed out": "stopped by execution.trial_timeout",
    "pending": "started but has reported no epoch yet",
}


def open_experiment(location: str | Path) -> Path:
    """A local directory holding the experiment: `location` itself, or a mirror of a URI (s3://, gs://, file://)."""
    if is_uri(location):
        return mirror_experiment(str(location))
    return Path(location).expanduser()


def load_study_config(location: str | Path) -> StudyConfig:
    """The resolved study an experiment was run with, from its directory or storage URI."""
    return load_local_study_config(open_experiment(location))


def latest_experiment(storage_path: str | Path = "~/vae_tune_results") -> Path:
    """The most recently started experiment directory under `storage_path`."""
    root = Path(storage_path).expanduser()
    experiments = sorted(root.glob(f"*/{STUDY_FILE}"), key=lambda path: path.stat().st_mtime)
    if not experiments:
        raise FileNotFoundError(f"{root}: no vae-tune experiment here (no */{STUDY_FILE})")
    return experiments[-1].parent


def read_trial_results(trial_dir: Path) -> pd.DataFrame:
    """Every reported epoch of one trial, once; a half-written last line (trial still running) is skipped.

    A resumed trial may report an epoch again (vae_tune.trainable.report_unlogged_epochs): the last row counts.
    """
    table = pd.DataFrame(reported_results(trial_dir))
    return table.drop_duplicates("epoch", keep="last").reset_index(drop=True) if "epoch" in table else table


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
    """Ray Tune's own status of each trial (TERMINATED, ERROR, RUNNING, PENDING, PAUSED).

    Read from the newest experiment_state-*.json that Tune snapshots; empty if
    there is none yet or its layout is not one we know. Newest by name, which
    holds the session's start time: a resumed study's final sync copies the
    earlier session's file again, microseconds after its own.
    """
    states = sorted(experiment_dir.glob("experiment_state-*.json"), key=lambda p: (p.name, p.stat().st_mtime))
    if not states:
        return {}
    try:
        trial_data = json.loads(states[-1].read_text())["trial_data"]
        trials = [json.loads(entry[0]) for entry in trial_data]
        return {trial["trial_id"]: trial["status"] for trial in trials}
    except (json.JSONDecodeError, KeyError, TypeError, IndexError):
        return {}


def _status(history: pd.DataFrame, trial_dir: Path, max_epochs: int, tune_status: str | None) -> str:
    """finished, stopped early, diverged, timed out, failed, running or pending.

    Tune's status decides whether a trial failed: the error.txt it leaves behind
    stays even when a retry then finished the trial.
    """
    if (trial_dir / TIMEOUT_FILE).is_file():
        return "timed out"
    if tune_status == "ERROR" or (tune_status is None and history.empty and (trial_dir / "error.txt").is_file()):
        return "failed"
    if history.empty:
        return "running" if tune_status == "RUNNING" else "pending"
    if bool(history["diverged"].iloc[-1]):
        return "diverged"
    if "collapsed" in history and history["collapsed"].fillna(False).astype(bool).all():
        return "collapsed"  # so far, for a running trial: it has no score that counts yet
    if int(history["epoch"].max()) >= max_epochs:
        return "finished"
    if tune_status in ("RUNNING", "PENDING", "PAUSED"):
        return "running" if tune_status == "RUNNING" else "pending"
    # Without a status the study is in its first seconds, before Tune's first snapshot.
    return "stopped early" if tune_status else "running"


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
    for trial_dir in sorted(p.parent for p in experiment_dir.glob("*/params.json")):
        params = _read_json(trial_dir / "params.json")
        if params is None:  # the trial is starting this instant; the next read shows it
            continue
        history = read_trial_results(trial_dir)
        trial_id = trial_dir.name.removeprefix("trial_")
        params_of[trial_id] = params
        row = {"trial_id": trial_id, **params,
               "status": _status(history, trial_dir, study.training.epochs, statuses.get(trial_id)),
               "epochs": int(history["epoch"].max()) if not history.empty else 0,
               "starts": _starts(trial_dir)}
        healthy = history
        for flag in UNSCORED_FLAGS:  # their worst-case scores are not real scores
            if flag in healthy:
                healthy = healthy[~healthy[flag].fillna(False).astype(bool)]
        row["collapsed_epochs"] = int(history["collapsed"].fillna(False).astype(bool).sum()) if "collapsed" in history else 0
        if healthy.empty:  # a trial that never scored: show the finite worst case it reported
            healthy = history
        if not healthy.empty:
            last, best = healthy.iloc[-1], healthy.loc[healthy[METRIC].idxmin()]
            row.update({f"last_{name}": float(last[name]) for name in SCORES})
            row.update({f"best_{name}": float(best[name]) for name in SCORES})
            row["best_epoch"] = int(best["epoch"])
            row.update({f"best_{name}": float(best[name]) for name in DIAGNOSTICS if name in best and pd.notna(best[name])})
        if "val/psnr" in history and history["val/psnr"].notna().any():
            row["top_val/psnr"] = float(history["val/psnr"].max())  # over every epoch, collapsed ones too
        if "val/mean_image_psnr" in history and history["val/mean_image_psnr"].notna().any():
            row["mean_image_psnr"] = float(history["val/mean_image_psnr"].dropna().iloc[-1])
        checkpoint, _ = best_checkpoint(trial_dir)
        row["best_checkpoint"] = str(checkpoint) if checkpoint else None
        row["trial_dir"] = str(trial_dir)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for name in SCORES:
        for prefix in ("last_", "best_"):
            if prefix + name not in table:
                table[prefix + name] = np.nan
    table["best_epoch"] = table.get("best_epoch", pd.Series(index=table.index, dtype=float)).astype("Int64")
    scored = usable(table)
    table["rank"] = table[f"best_{METRIC}"].where(scored).rank(method="first").astype("Int64")
    table["pareto"] = scored & pareto_front(table["best_val/blur"].to_numpy(), table["best_val/roughness"].to_numpy(),
                                            scored.to_numpy())
    table["baseline"] = _baseline_flags(table, experiment_dir, params_of)
    return table.sort_values(["rank", f"best_{METRIC}"], na_position="last").reset_index(drop=True)


def _baseline_flags(table: pd.DataFrame, experiment_dir: Path, params: dict[str, dict]) -> pd.Series:
    """True for the one trial that ran the baseline, if the study has one (baseline.json).

    Trials in id order: the variant generator numbers them as it creates them
    (Tune's own snapshot reorders them on resume).
    """
    return table["trial_id"] == find_baseline(sorted(params.items()), read_record(experiment_dir))


def usable(table: pd.DataFrame) -> pd.Series:
    """Which trials have a score that counts: not failed, diverged or timed out."""
    return table["status"].isin(USABLE) & table[f"best_{METRIC}"].notna()


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
    if table.empty or usable(table).any() or not (table["status"] == "collapsed").any():
        return None
    line = "No trial beat the mean image: every scored epoch reconstructed the probe no better than the average training image"
    if "top_val/psnr" in table and "mean_image_psnr" in table and table["top_val/psnr"].notna().any():
        line += (f" (best probe PSNR {table['top_val/psnr'].max():.1f} dB, the mean image's "
                 f"{table['mean_image_psnr'].dropna().iloc[0]:.1f} dB)")
    return line + "; train longer (training.epochs, search.grace_period) or on more images."


def best_trial(table: pd.DataFrame) -> pd.Series:
    """The trial with the lowest best objective among those that did not fail or diverge."""
    scored = table[usable(table)] if not table.empty else table
    if scored.empty:
        raise ValueError("no trial of this study produced a usable score")
    return scored.loc[scored[f"best_{METRIC}"].idxmin()]


def trials_to_render(table: pd.DataFrame, top: int) -> pd.DataFrame:
    """The best `top` trials by objective, then every other Pareto-front trial, that have a checkpoint."""
    if table.empty:
        return table
    chosen = (table["rank"] <= top).fillna(False) | table["pareto"]
    return table[chosen & table["best_checkpoint"].notna()].sort_values("rank")


def trial_histories(table: pd.DataFrame, trial_ids) -> pd.DataFrame:
    """Per-epoch results of the given trials, one row per (trial_id, epoch), in the order given."""
    frames = []
    by_id = table.set_index("trial_id")
    for trial_id in trial_ids:
        history = read_trial_results(Path(by_id.loc[trial_id, "trial_dir"]))
        if not history.empty:
            frames.append(history.assign(trial_id=trial_id))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
