"""`vae-tune confirm` and `vae-tune replay --seeds`: retrain chosen configurations with new seeds.

A study ranks configurations by one training run each, so part of a winner's
lead can be its seed's luck (the tuning playbook: rerun the best with several
seeds). confirm retrains the K best configurations of a study (by best
objective) and its baseline with N new training seeds each, to the study's
full epochs (FIFO: nothing is stopped early), as a Ray Tune experiment of its
own in EXPERIMENT_DIR/confirm/confirm_<timestamp>/, and writes beside the study

    confirm.csv           one row per configuration and seed
    confirm_summary.csv   per configuration: mean, std, min and max of each score

On a PBT or PB2 study a configuration is a schedule: a chosen trial's runs
follow the lineage of its best checkpoint (learning rate and loss weights by
epoch, vae_tune.lineage) and hold its last values past that epoch, so they
train as many epochs as the baseline, which ran outside the population and
stays constant. confirm.csv's schedule column says what each run followed.

`vae-tune replay --seeds N` retrains a PBT winner's schedule the same way
beside its values at its best epoch held constant from epoch 1 (the
configuration PBT ended with) and the baseline, all to the winner's best
epoch, into replay/, replay.csv and replay_summary.csv.

The study's own files are left as they are. A retraining stopped part-way
writes neither file and does not resume: run it again.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from vae_tune.analysis.confirmation import (
    BASELINE,
    CONFIGURATIONS_RETRAINED,
    CONFIRMED_SCORES,
    CONSTANT,
    DEFAULT_SEEDS,
    SCHEDULED,
    ConfirmError,
    summarise,
)
from vae_tune.analysis.results import is_baseline, load_results, usable
from vae_tune.analysis.schedule import read_schedule
from vae_tune.baseline import baseline_params, same_params, same_value
from vae_tune.config import POPULATION_SCHEDULERS, SEARCHABLE, Parameter, StudyConfig, format_params, validate
from vae_tune.experiment import load_study_config
from vae_tune.lineage import Lineage, describe, encode_schedule, params_at
from vae_tune.log import logger
from vae_tune.names import (
    BEST_CHECKPOINT,
    BEST_EPOCH,
    CONFIRM_DIR,
    CONFIRM_FILE,
    CONFIRM_PLAN_FILE,
    CONFIRM_SUMMARY_FILE,
    FIRST_EPOCH,
    LAST_EPOCH,
    LINEAGE,
    PARAMS_FILE,
    REPLAY_DIR,
    REPLAY_FILE,
    REPLAY_SUMMARY_FILE,
    SCHEDULE,
    TRIAL_DIR,
    TRIAL_ID,
    best_column,
)
from vae_tune.storage import is_uri, write_text
from vae_tune.training.checkpoint import read_state
from vae_tune.tuning.session import run_study


@dataclasses.dataclass(frozen=True)
class Candidate:
    label: str  # "#1", "#2", ... (the study's rank) or "baseline"; a replay's "schedule" and "constant"
    trial_id: str  # the study's trial it retrains; "" for a baseline the study did not run
    params: dict[str, Any]  # its searched hyperparameters (a PBT trial's as they stood at its best epoch)
    schedule: Lineage = ()  # a PBT trial's: the lineage of its best checkpoint, which its runs follow


@dataclasses.dataclass(frozen=True)
class Retraining:
    """What a retraining is called and where it writes: its runs' folder, its table and its summary."""
    command: str
    runs: str
    table: str
    summary: str


CONFIRM = Retraining("confirm", CONFIRM_DIR, CONFIRM_FILE, CONFIRM_SUMMARY_FILE)
REPLAY = Retraining("replay", REPLAY_DIR, REPLAY_FILE, REPLAY_SUMMARY_FILE)


@dataclasses.dataclass
class ConfirmOutcome:
    experiment: str  # the study's experiment directory: a path, or a storage URI (s3://, gs://)
    retraining: Retraining
    runs: str  # the runs' own Tune experiment
    interrupted: bool
    rerun_command: str
    epochs: int  # each run's
    table: pd.DataFrame | None = None  # confirm.csv's rows, once every run ended


# --- choosing what to retrain --------------------------------------------------------------------


def candidates(table: pd.DataFrame, study: StudyConfig, top: int) -> list[Candidate]:
    """The `top` best searched configurations by best objective (schedules in a PBT study), then the baseline.

    The baseline is the study's baseline trial; a study run with
    search.baseline = false (or whose baseline could not run) gets the
    tutorial's configuration all the same. A configuration equal to a better
    one, or to the baseline, is not retrained twice.
    """
    if table.empty:
        raise ConfirmError("the experiment has no trial yet; nothing to confirm")
    marked = is_baseline(table)
    scored = table[usable(table) & ~marked].sort_values("rank")
    if scored.empty:
        counts = ", ".join(f"{n} {status}" for status, n in table.loc[~marked, "status"].value_counts().items())
        raise ConfirmError(f"the experiment has no usable trial to confirm ({counts or 'only a baseline trial'})")
    baseline = baseline_candidate(table, study)
    population = study.search.scheduler in POPULATION_SCHEDULERS
    chosen: list[Candidate] = []
    for _, row in scored.iterrows():
        label = f"#{int(row['rank'])}"
        if population:
            state = read_state(row[BEST_CHECKPOINT])
            candidate = Candidate(label, str(row[TRIAL_ID]), configured_params(state, study), state.get(LINEAGE) or [])
        else:
            candidate = Candidate(label, str(row[TRIAL_ID]), _params(row, study))
        if not any(_same(candidate, other) for other in [*chosen, baseline]):
            chosen.append(candidate)
        if len(chosen) == top:
            break
    return [*chosen, baseline]


def baseline_candidate(table: pd.DataFrame, study: StudyConfig) -> Candidate:
    """The study's baseline trial, or the tutorial's configuration where the study ran none."""
    baseline_rows = table[is_baseline(table)]
    if baseline_rows.empty:
        return Candidate(BASELINE, "", baseline_params(study))
    row = baseline_rows.iloc[0]
    return Candidate(BASELINE, str(row[TRIAL_ID]), _params(row, study))


def _params(row: pd.Series, study: StudyConfig) -> dict[str, Any]:
    """A trial's searched params as its params.json holds them (exact numbers, not pandas' copies)."""
    saved = json.loads((Path(row[TRIAL_DIR]) / PARAMS_FILE).read_text())
    return {name: saved[name] for name in study.search.space if name in saved}


def configured_params(state: dict[str, Any], study: StudyConfig) -> dict[str, Any]:
    """The searched params as a checkpoint's trial.json (or schedule.json) records the model and training
    it ran: a PBT trial's latent_dim is its donor's, its other values are those of its last exploit."""
    return {name: state[SEARCHABLE[name]][name] for name in study.search.space}


def _same(a: Candidate, b: Candidate) -> bool:
    """The same params and the same schedule, whichever trials trained its segments."""
    def steps(schedule: Lineage) -> list:
        return [(segment[FIRST_EPOCH], segment[LAST_EPOCH], segment["params"]) for segment in schedule]
    return same_params(a.params, b.params) and steps(a.schedule) == steps(b.schedule)


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
    """(configuration, seed, the run's params) for every configuration and seed, configuration by configuration.

    Where any configuration has a schedule, every run's params carry one (SCHEDULE, "" for none; Tune
    would sample a key a point lacks), and a scheduled run starts with its first segment's values.
    """
    scheduled = any(candidate.schedule for candidate in chosen)
    plan = []
    for candidate in chosen:
        params = {name: value for name, value in candidate.params.items() if name != "seed"}
        if candidate.schedule:
            params.update({name: value for name, value in params_at(candidate.schedule, 1).items() if name in params})
        for seed in seeds:
            point = {**params, "seed": seed}
            if scheduled:
                point[SCHEDULE] = encode_schedule(candidate.schedule)
            plan.append((candidate, seed, point))
    return plan


def runs_study(study: StudyConfig, experiment: str, points: list[dict[str, Any]], retraining: Retraining = CONFIRM) -> StudyConfig:
    """The study the runs are: its data, model, training and scoring, every run to the last epoch.

    Its space is a choice of the values the runs use, so Tune takes each
    run's params as given (points to evaluate) and writes them to params.json
    as a study's trials; its study.json makes the runs a study `load_results`
    reads. A schedule is no searched parameter: the points alone carry it.
    """
    space = {}
    for name in (name for name in points[0] if name in SEARCHABLE):
        values: list[Any] = []
        for point in points:
            if not any(same_value(point[name], value) for value in values):
                values.append(point[name])
        space[name] = Parameter("choice", values=tuple(values))
    runs = dataclasses.replace(
        study, name=retraining.runs, storage_path=f"{experiment}/{retraining.runs}",
        description=f"vae-tune {retraining.command} of {experiment}: {len(points)} runs, FIFO to the last epoch",
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
    experiment = _location(experiment_dir)
    study = load_study_config(experiment)  # FileNotFoundError for a folder that is no experiment
    chosen = candidates(load_results(experiment), study, top)
    seed_list = new_seeds(study, seeds, chosen)
    logger.info(f"confirming {', '.join(c.label for c in chosen)} with seeds {', '.join(map(str, seed_list))} "
                f"({len(chosen) * seeds} runs of {study.training.epochs} epochs)")
    return retrain(CONFIRM, experiment, study, chosen, seed_list, f"--top {top} --seeds {seeds}", address, verbose)


def replay_study(experiment_dir: str | Path, seeds: int = DEFAULT_SEEDS, address: str | None = None,
                 verbose: bool = False) -> ConfirmOutcome:
    """Retrain a PBT study's winner with `seeds` new seeds, to its best epoch: its schedule, its values at that
    epoch held constant from the first, and the baseline; write replay.csv and replay_summary.csv."""
    if seeds < 1:
        raise ConfirmError(f"--seeds must be at least 1, got {seeds}")
    experiment = _location(experiment_dir)
    study = load_study_config(experiment)
    schedule = read_schedule(experiment)  # not a PBT study, or no report yet: a one-line error
    final = configured_params(schedule, study)
    chosen = [Candidate(SCHEDULED, schedule[TRIAL_ID], final, schedule[LINEAGE]),
              Candidate(CONSTANT, schedule[TRIAL_ID], final),
              baseline_candidate(load_results(experiment), study)]
    seed_list = new_seeds(study, seeds, chosen)
    epochs = int(schedule[BEST_EPOCH])
    logger.info(f"replaying the schedule of {schedule[TRIAL_ID]} ({describe(schedule[LINEAGE])}) against its epoch-{epochs} "
                f"values held constant ({format_params(final)}) and the baseline ({format_params(chosen[-1].params)}), "
                f"seeds {', '.join(map(str, seed_list))}: {len(chosen) * seeds} runs of {epochs} epochs")
    study = dataclasses.replace(study, training=dataclasses.replace(study.training, epochs=epochs))
    return retrain(REPLAY, experiment, study, chosen, seed_list, f"--seeds {seeds}", address, verbose)


def _location(experiment_dir: str | Path) -> str:
    return str(experiment_dir) if is_uri(experiment_dir) else str(Path(experiment_dir).expanduser().resolve())


def retrain(retraining: Retraining, experiment: str, study: StudyConfig, chosen: list[Candidate], seeds: list[int],
            options: str, address: str | None, verbose: bool) -> ConfirmOutcome:
    """Run every chosen configuration with every seed as one Tune experiment in the study's folder; once every
    run ended, write its table and summary beside the study. `options`: the command line's, to run it again."""
    plan = plan_points(chosen, seeds)
    points = [params for _, _, params in plan]
    labels = [(params, f"{candidate.label} seed {seed}") for candidate, seed, params in plan]
    runs = runs_study(study, experiment, points, retraining)
    outcome = run_study(runs, address=address, verbose=verbose, points=points, labels=labels)
    runs_dir = outcome.experiment
    write_text(f"{runs_dir}/{CONFIRM_PLAN_FILE}", json.dumps(
        {"experiment": experiment, "seeds": seeds,
         "runs": [{"config": c.label, TRIAL_ID: c.trial_id, "seed": seed, "params": params}
                  for c, seed, params in plan]}, indent=2))
    result = ConfirmOutcome(experiment, retraining, runs_dir, outcome.interrupted,
                            f"vae-tune {retraining.command} {experiment} {options}", study.training.epochs)
    if outcome.interrupted:
        return result
    result.table = confirm_rows(plan, load_results(runs_dir), list(study.search.space))
    write_text(f"{experiment}/{retraining.table}", result.table.to_csv(index=False))
    write_text(f"{experiment}/{retraining.summary}", summarise(result.table).to_csv(index=False))
    return result


def confirm_rows(plan, runs: pd.DataFrame, searched: list[str]) -> pd.DataFrame:
    """confirm.csv: one row per configuration and seed, in the plan's order; where a run followed a schedule,
    a schedule column describes each run's ("" for constant values)."""
    trials = [(row, json.loads((Path(row[TRIAL_DIR]) / PARAMS_FILE).read_text())) for _, row in runs.iterrows()]
    scheduled = any(candidate.schedule for candidate, _, _ in plan)
    rows = []
    for candidate, seed, params in plan:
        run = next((row for row, saved in trials if same_params(saved, params)), None)
        row = {"config": candidate.label, TRIAL_ID: candidate.trial_id,
               **{name: candidate.params.get(name) for name in searched if name != "seed"}, "seed": seed}
        if scheduled:
            row[SCHEDULE] = describe(candidate.schedule)
        if run is None:
            rows.append({**row, "status": "not run"})
            continue
        row.update({"status": run["status"], BEST_EPOCH: run.get(BEST_EPOCH)})
        row.update({best_column(score): run[best_column(score)] for score in CONFIRMED_SCORES if best_column(score) in run})
        row.update({"run_id": run[TRIAL_ID], BEST_CHECKPOINT: run[BEST_CHECKPOINT]})
        rows.append(row)
    return pd.DataFrame(rows)
