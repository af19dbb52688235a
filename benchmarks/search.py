"""Item 4: how much of an exhaustive search the study's scheduler needs to find as good a model.

Two real studies of the same trials (the searcher is seeded, so both sample the
same configurations), shrunk to fit the benchmark (fewer images and epochs,
the same search space, grace period and reduction factor):

- exhaustive: FIFO, every trial to its last epoch; its best objective over all
  trial-epochs is the reference;
- the study as configured (ASHA on the default study).

Counting trial-epochs in the order the driver received them, the figure is
the share of the exhaustive run's trial-epochs the scheduler had spent when it
first reported an objective within 2% of the reference.
"""

from __future__ import annotations

import dataclasses

from benchmarks.common import Figure
from benchmarks.tune_runs import run_timed
from vae_tune.config import StudyConfig

TOLERANCE = 0.02  # "within 2% of the exhaustive run's best objective"


def epochs_to_reach(rows: list[dict], threshold: float) -> int | None:
    """Trial-epochs spent up to the first result at or below `threshold`; None if none got there."""
    for spent, row in enumerate(rows, start=1):
        if row["objective"] is not None and row["objective"] <= threshold:
            return spent
    return None


def winner_ranks(rows: list[dict], winner: dict) -> dict[int, int]:
    """The exhaustive winner's rank (1 = lowest objective) among the trials at each epoch.

    What ASHA sees at a rung: if the eventual winner ranks below the best
    1/reduction_factor at the grace period, it is stopped there.
    """
    by_epoch: dict[int, dict[str, float]] = {}
    for row in rows:
        by_epoch.setdefault(row["epoch"], {})[row["trial_id"]] = row["objective"]
    return {epoch: 1 + sum(value < scores[winner["trial_id"]] for value in scores.values())
            for epoch, scores in sorted(by_epoch.items())}


def curves(rows: list[dict]) -> list[dict]:
    """Each trial's config and objective by epoch: what a scheduler would have seen, kept for replaying."""
    trials: dict[str, dict] = {}
    for row in rows:
        trial = trials.setdefault(row["trial_id"], {"config": row["config"], "objective": []})
        trial["objective"].append(row["objective"])
    return list(trials.values())


def measure(study: StudyConfig, dataset) -> list[Figure]:
    exhaustive_study = dataclasses.replace(study, search=dataclasses.replace(study.search, scheduler="fifo"))
    exhaustive = run_timed(exhaustive_study, dataset)
    scheduled = run_timed(study, dataset)
    budget = len(exhaustive.rows)
    best = min(row["objective"] for row in exhaustive.rows)
    threshold = best * (1 + TOLERANCE)
    spent = epochs_to_reach(scheduled.rows, threshold)
    configs = lambda run: sorted(map(repr, {row["trial_id"]: row["config"] for row in run.rows}.values()))  # noqa: E731
    # Did the scheduler give the exhaustive run's best trial its epochs? (Same seeded trials, same configs.)
    winner = min(exhaustive.rows, key=lambda row: row["objective"])
    winner_epochs = max((row["epoch"] for row in scheduled.rows if row["config"] == winner["config"]), default=0)
    detail = {
        "scheduler": study.search.scheduler,
        "algorithm": study.search.algorithm,
        "trials": study.search.num_samples,
        "epochs": study.training.epochs,
        "images": study.data.samples,
        "image_size": study.data.image_size,
        "exhaustive_trial_epochs": budget,
        "exhaustive_best_objective": best,
        "scheduled_best_objective": min(row["objective"] for row in scheduled.rows),
        "scheduled_trial_epochs_to_reach": spent,
        "scheduled_trial_epochs_total": len(scheduled.rows),
        "exhaustive_trial_epochs_to_reach": epochs_to_reach(exhaustive.rows, threshold),
        "exhaustive_best_trial": {**winner["config"], "epoch": winner["epoch"]},
        "its_epochs_under_scheduler": winner_epochs,
        "its_rank_by_epoch": winner_ranks(exhaustive.rows, winner),  # of `trials`; ASHA keeps the top 1/rf
        "same_trials_sampled": configs(exhaustive) == configs(scheduled),
        "exhaustive_seconds": exhaustive.seconds,
        "exhaustive_curves": curves(exhaustive.rows),
        "scheduled_epochs_by_trial": [len(trial["objective"]) for trial in curves(scheduled.rows)],
        "scheduled_seconds": scheduled.seconds,
    }
    return [
        # No value when the scheduler never got within 2%: the target is then missed.
        Figure("search_fraction", f"4 {study.search.scheduler} trial-epochs to within 2% / exhaustive",
               [spent / budget] if spent is not None else [],
               "<= 0.3", unit="%", detail=detail),
        Figure("search_total_fraction", f"4 {study.search.scheduler} trial-epochs in all / exhaustive",
               [len(scheduled.rows) / budget], unit="%"),
    ]
