"""An experiment directory as a pandas table: one row per trial.

Reads only the files Ray Tune and the trainable write (`params.json`,
`result.json`, `checkpoint_*/trial.json`), so it works without Ray running,
on a finished study or one still in progress.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from vae_tune.checkpoint import STATE_FILE
from vae_tune.trial_files import STARTS_FILE, TIMEOUT_FILE
from vae_tune.study import METRIC, load_study_config

SCORES = ("objective", "val/blur", "val/roughness")


def read_trial_results(trial_dir: Path) -> pd.DataFrame:
    """Every reported epoch of one trial; a half-written last line (trial still running) is skipped."""
    rows = []
    path = trial_dir / "result.json"
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return pd.DataFrame(rows)


def best_checkpoint(trial_dir: Path) -> tuple[Path | None, float]:
    """The kept checkpoint with the lowest objective, and that objective."""
    best, best_value = None, math.inf
    for state_path in sorted(trial_dir.glob(f"checkpoint_*/{STATE_FILE}")):
        value = json.loads(state_path.read_text()).get("metrics", {}).get(METRIC)
        if value is not None and math.isfinite(value) and value < best_value:
            best, best_value = state_path.parent, value
    return best, best_value


def tune_statuses(experiment_dir: Path) -> dict[str, str]:
    """Ray Tune's own status of each trial (TERMINATED, ERROR, RUNNING, PENDING, PAUSED).

    Read from the newest experiment_state-*.json that Tune snapshots; empty if
    there is none yet or its layout is not one we know.
    """
    states = sorted(experiment_dir.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
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
    if int(history["epoch"].max()) >= max_epochs:
        return "finished"
    if tune_status in ("RUNNING", "PENDING", "PAUSED"):
        return "running" if tune_status == "RUNNING" else "pending"
    return "stopped early"


def _starts(trial_dir: Path) -> int:
    path = trial_dir / STARTS_FILE
    return len(path.read_text().splitlines()) if path.is_file() else 0


def load_results(experiment_dir: str | Path) -> pd.DataFrame:
    """One row per trial: searched params, status, epochs, last and best scores, best checkpoint.

    `best_*` scores come from the epoch with the lowest objective; `pareto` marks
    trials no other trial beats on both best blur and best roughness.
    """
    experiment_dir = Path(experiment_dir)
    study = load_study_config(experiment_dir)
    rows = []
    statuses = tune_statuses(experiment_dir)
    for trial_dir in sorted(p.parent for p in experiment_dir.glob("*/params.json")):
        params = json.loads((trial_dir / "params.json").read_text())
        history = read_trial_results(trial_dir)
        trial_id = trial_dir.name.removeprefix("trial_")
        row = {"trial_id": trial_id, **params,
               "status": _status(history, trial_dir, study.training.epochs, statuses.get(trial_id)),
               "epochs": int(history["epoch"].max()) if not history.empty else 0,
               "starts": _starts(trial_dir)}
        healthy = history
        for flag in ("diverged", "timed_out"):  # their worst-case scores are not real scores
            if flag in healthy:
                healthy = healthy[~healthy[flag].fillna(False).astype(bool)]
        if healthy.empty:  # a trial that never scored: show the finite worst case it reported
            healthy = history
        if not healthy.empty:
            last, best = healthy.iloc[-1], healthy.loc[healthy[METRIC].idxmin()]
            row.update({f"last_{name}": float(last[name]) for name in SCORES})
            row.update({f"best_{name}": float(best[name]) for name in SCORES})
            row["best_epoch"] = int(best["epoch"])
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
    table["pareto"] = pareto_front(table["best_val/blur"].to_numpy(), table["best_val/roughness"].to_numpy())
    return table.sort_values(f"best_{METRIC}", na_position="last").reset_index(drop=True)


def pareto_front(blur: np.ndarray, roughness: np.ndarray) -> np.ndarray:
    """Boolean mask of points not dominated on (blur, roughness), both minimised; NaN rows are never on it."""
    points = np.column_stack([blur, roughness]).astype(float)
    valid = np.all(np.isfinite(points), axis=1)
    on_front = np.zeros(len(points), dtype=bool)
    for i in np.flatnonzero(valid):
        others = points[valid]
        dominated = np.any(np.all(others <= points[i], axis=1) & np.any(others < points[i], axis=1))
        on_front[i] = not dominated
    return on_front


def best_trial(table: pd.DataFrame) -> pd.Series:
    """The trial with the lowest best objective among those that did not fail or diverge."""
    usable = table[table["status"].isin(["finished", "stopped early"]) & table[f"best_{METRIC}"].notna()]
    if usable.empty:
        raise ValueError("no trial of this study produced a usable score")
    return usable.loc[usable[f"best_{METRIC}"].idxmin()]
