"""`vae-tune confirm`: retrain the best configurations and the baseline with new seeds.

A study ranks configurations by one training run each, so part of a winner's
lead can be its seed's luck (the tuning playbook: rerun the best with several
seeds). confirm retrains the K best configurations of a study (by best
objective) and its baseline with N new training seeds each, to the study's
full epochs (FIFO: nothing is stopped early), as a Ray Tune experiment of its
own in EXPERIMENT_DIR/confirm/confirm_<timestamp>/, and writes beside the study

    confirm.csv           one row per configuration and seed
    confirm_summary.csv   per configuration: mean, std, min and max of each score

The study's own files are left as they are. A confirm stopped part-way writes
neither file and does not resume: run it again.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from vae_tune.analysis.confirmation import BASELINE, CONFIGURATIONS_RETRAINED, CONFIRMED_SCORES, DEFAULT_SEEDS, ConfirmError, summarise
from vae_tune.analysis.results import load_results, usable
from vae_tune.baseline import baseline_params, same_params, same_value
from vae_tune.config import Parameter, StudyConfig, validate
from vae_tune.experiment import load_study_config
from vae_tune.log import logger
from vae_tune.names import (
    BEST_CHECKPOINT,
    BEST_EPOCH,
    CONFIRM_DIR,
    CONFIRM_FILE,
    CONFIRM_PLAN_FILE,
    CONFIRM_SUMMARY_FILE,
    PARAMS_FILE,
    TRIAL_DIR,
    TRIAL_ID,
    best_column,
)
from vae_tune.storage import is_uri, write_text
from vae_tune.tuning.session import run_study


@dataclasses.dataclass(frozen=True)
class Candidate:
    label: str  # "#1", "#2", ... (the study's rank) or "baseline"
    trial_id: str  # the study's trial it retrains; "" for a baseline the study did not run
    params: dict[str, Any]  # its searched hyperparameters, as params.json holds them


@dataclasses.dataclass
class ConfirmOutcome:
    experiment: str  # the study's experiment directory: a path, or a storage URI (s3://, gs://)
    runs: str  # the runs' own Tune experiment
    interrupted: bool
    top: int
    seeds: int
    table: pd.DataFrame | None = None  # confirm.csv's rows, once every run ended

    @property
    def rerun_command(self) -> str:
        return f"vae-tune confirm {self.experiment} --top {self.top} --seeds {self.seeds}"


# --- choosing what to retrain --------------------------------------------------------------------


def candidates(table: pd.DataFrame, study: StudyConfig, top: int) -> list[Candidate]:
    """The `top` best searched configurations by best objective, then the baseline.

    The baseline is the study's baseline trial; a study run with
    search.baseline = false (or whose baseline could not run) gets the
    tutorial's configuration all the same. A configuration equal to a better
    one, or to the baseline, is not retrained twice.
    """
    if table.empty:
        raise ConfirmError("the experiment has no trial yet; nothing to confirm")
    marked = table["baseline"].fillna(False).astype(bool) if "baseline" in table else pd.Series(False, table.index)
    scored = table[usable(table) & ~marked].sort_values("rank")
    if scored.empty:
        counts = ", ".join(f"{n} {status}" for status, n in table.loc[~marked, "status"].value_counts().items())
        raise ConfirmError(f"the experiment has no usable trial to confirm ({counts or 'only a baseline trial'})")
    baseline_rows = table[marked]
    if baseline_rows.empty:
        baseline = Candidate(BASELINE, "", baseline_params(study))
    else:
        row = baseline_rows.iloc[0]
        baseline = Candidate(BASELINE, str(row[TRIAL_ID]), _params(row, study))
    chosen: list[Candidate] = []
    for _, row in scored.iterrows():
        params = _params(row, study)
        if not any(same_params(params, other.params) for other in [*chosen, baseline]):
            chosen.append(Candidate(f"#{int(row['rank'])}", str(row[TRIAL_ID]), params))
        if len(chosen) == top:
            break
    return [*chosen, baseline]


def _params(row: pd.Series, study: StudyConfig) -> dict[str, Any]:
    """A trial's searched params as its params.json holds them (exact numbers, not pandas' copies)."""
    saved = json.loads((Path(row[TRIAL_DIR]) / PARAMS_FILE).read_text())
    return {name: saved[name] for name in study.search.space if name in saved}


def new_seeds(study: StudyConfig, count: int, chosen: list[Candidate]) -> list[int]:
    """`count` training seeds none of the study's trials used: after training.seed, skipping any searched seed."""
    used = {study.training.seed} | {c.params["seed"] for c in chosen if "seed" in c.params}
    seeds, seed = [], study.training.seed
    while len(seeds) < count:
        seed += 1
        if seed not in used:
            seeds.append(seed)
    return seeds


def plan_points(chosen: list[Candidate], seeds: list[int]) -> list[tuple[Candidate, int, dict[str, Any]]]:
    """(configuration, seed, the run's params) for every configuration and seed, configuration by configuration."""
    return [(candidate, seed, {**{k: v for k, v in candidate.params.items() if k != "seed"}, "seed": seed})
            for candidate in chosen for seed in seeds]


def runs_study(study: StudyConfig, experiment: str, points: list[dict[str, Any]]) -> StudyConfig:
    """The study the runs are: its data, model, training and scoring, every run to the last epoch.

    Its space is a choice of the values the runs use, so Tune takes each
    run's params as given (points to evaluate) and writes them to params.json
    as a study's trials; its study.json makes the runs a study `load_results` reads.
    """
    space = {}
    for name in points[0]:
        values: list[Any] = []
        for point in points:
            if not any(same_value(point[name], value) for value in values):
                values.append(point[name])
        space[name] = Parameter("choice", values=tuple(values))
    runs = dataclasses.replace(
        study, name=CONFIRM_DIR, storage_path=f"{experiment}/{CONFIRM_DIR}",
        description=f"vae-tune confirm of {experiment}: {len(points)} runs, FIFO to the last epoch",
        search=dataclasses.replace(study.search, algorithm="random", scheduler="fifo", num_samples=len(points),
                                   baseline=False, space=space),
    )
    validate(runs)
    return runs


# --- running -------------------------------------------------------------------------------------


def confirm_study(experiment_dir: str | Path, top: int = CONFIGURATIONS_RETRAINED, seeds: int = DEFAULT_SEEDS,
                  address: str | None = None, verbose: bool = False) -> ConfirmOutcome:
    """Retrain the `top` best configurations and the baseline with `seeds` new seeds each; write confirm.csv
    and confirm_summary.csv into the experiment directory (a path or a storage URI) once every run ended."""
    if top < 1 or seeds < 1:
        raise ConfirmError(f"--top and --seeds must be at least 1, got {top} and {seeds}")
    experiment = str(experiment_dir) if is_uri(experiment_dir) else str(Path(experiment_dir).expanduser().resolve())
    study = load_study_config(experiment)  # FileNotFoundError for a folder that is no experiment
    chosen = candidates(load_results(experiment), study, top)
    seed_list = new_seeds(study, seeds, chosen)
    plan = plan_points(chosen, seed_list)
    points = [params for _, _, params in plan]
    labels = [(params, f"{candidate.label} seed {seed}") for candidate, seed, params in plan]
    runs = runs_study(study, experiment, points)
    logger.info(f"confirming {', '.join(c.label for c in chosen)} with seeds "
                f"{', '.join(map(str, seed_list))} ({len(points)} runs of {study.training.epochs} epochs)")
    outcome = run_study(runs, address=address, verbose=verbose, points=points, labels=labels)
    runs_dir = outcome.experiment
    write_text(f"{runs_dir}/{CONFIRM_PLAN_FILE}", json.dumps(
        {"experiment": experiment, "seeds": seed_list,
         "runs": [{"config": c.label, TRIAL_ID: c.trial_id, "seed": seed, "params": params}
                  for c, seed, params in plan]}, indent=2))
    if outcome.interrupted:
        return ConfirmOutcome(experiment, runs_dir, interrupted=True, top=top, seeds=seeds)
    table = confirm_rows(plan, load_results(runs_dir), list(study.search.space))
    write_text(f"{experiment}/{CONFIRM_FILE}", table.to_csv(index=False))
    write_text(f"{experiment}/{CONFIRM_SUMMARY_FILE}", summarise(table).to_csv(index=False))
    return ConfirmOutcome(experiment, runs_dir, interrupted=False, top=top, seeds=seeds, table=table)


def confirm_rows(plan, runs: pd.DataFrame, searched: list[str]) -> pd.DataFrame:
    """confirm.csv: one row per configuration and seed, in the plan's order."""
    trials = [(row, json.loads((Path(row[TRIAL_DIR]) / PARAMS_FILE).read_text())) for _, row in runs.iterrows()]
    rows = []
    for candidate, seed, params in plan:
        run = next((row for row, saved in trials if same_params(saved, params)), None)
        row = {"config": candidate.label, TRIAL_ID: candidate.trial_id,
               **{name: candidate.params.get(name) for name in searched if name != "seed"}, "seed": seed}
        if run is None:
            rows.append({**row, "status": "not run"})
            continue
        row.update({"status": run["status"], BEST_EPOCH: run.get(BEST_EPOCH)})
        row.update({best_column(score): run[best_column(score)] for score in CONFIRMED_SCORES if best_column(score) in run})
        row.update({"run_id": run[TRIAL_ID], BEST_CHECKPOINT: run[BEST_CHECKPOINT]})
        rows.append(row)
    return pd.DataFrame(rows)
