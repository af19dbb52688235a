"""Real Ray Tune studies run for the benchmarks, with every result timed as the driver receives it."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ray import tune

from benchmarks.common import quiet
from vae_tune.config import StudyConfig, load_study

# What the benchmarks read from each result.
RESULT_KEYS = ("epoch", "objective", "time/train_seconds", "time/scoring_seconds", "diverged")


class ResultLog(tune.Callback):
    """Every result in the order the driver got it, with the time it arrived."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def on_trial_result(self, iteration, trials, trial, result, **info):
        row = {key: result.get(key) for key in RESULT_KEYS}
        self.rows.append({"arrived": time.perf_counter(), "trial_id": trial.trial_id, "config": dict(trial.config),
                          **row})


@dataclasses.dataclass
class TimedStudy:
    rows: list[dict[str, Any]]  # one per trial-epoch, in arrival order
    seconds: float  # the study's wall time, from run_study's call to its return
    experiment_dir: Any
    trials: int


def run_timed(study: StudyConfig, dataset) -> TimedStudy:
    """`run_study` as `vae-tune run` runs it (Ray already started), its console lines swallowed."""
    from vae_tune.tuning.session import run_study

    log = ResultLog()
    started = time.perf_counter()
    with quiet():
        outcome = run_study(study, dataset=dataset, callbacks=[log])
    seconds = time.perf_counter() - started
    if outcome.interrupted or outcome.results.num_errors:
        raise RuntimeError(f"benchmark study {study.name} did not finish cleanly; see {outcome.experiment_dir}")
    return TimedStudy(log.rows, seconds, outcome.experiment_dir, len(outcome.results))


def benchmark_study(base: str, overrides: list[str], storage: str, name: str, **changes) -> StudyConfig:
    """A study file shrunk by `--set` overrides, stored in the benchmark's scratch directory.

    `changes` replace whole sections' fields: `search={"space": {}}`.
    """
    # The figures measure the search and the machinery: no baseline trial beside it.
    study = load_study(base, [*overrides, "search.baseline=false", f"storage_path={storage!r}", f"name={name!r}"])
    for section, fields in changes.items():
        study = dataclasses.replace(study, **{section: dataclasses.replace(getattr(study, section), **fields)})
    return study
