"""Item 4: how much of an exhaustive search the study's scheduler needs to find as good a model.

The default study itself at full size; --quick and --ci shrink it (fewer images
and epochs, the same search space and schedule), which makes early rungs a
worse guide than in the real study:

- the study as configured (ASHA on the default study), a real Tune run;
- exhaustive: every trial to its last epoch; its best objective over all
  trial-epochs is the reference. Training is deterministic given a trial's
  config (seeded weights, data order and sampling noise; a resumed trial
  matches an uninterrupted one within 1e-4, tests/test_trainable.py), so an
  exhaustive run's first epochs of a trial are the ones the scheduled run
  trained: the trials the scheduler stopped are trained on from their last
  checkpoints, two at a time, which costs only the epochs the scheduler saved
  (a third of the trainer's time, instead of a second study from scratch).

Counting trial-epochs in the order the driver received them, the figure is
the share of the exhaustive run's trial-epochs the scheduler had spent when it
first reported an objective within 2% of the reference.

One seeded study is one order of trials, and where the best trial falls in it
sets much of the figure: ASHA can only find it after starting every trial
sampled before it. So the exhaustive run's learning curves are also replayed
through ASHA's decision rule (`replay_asha`, Ray's rule) in many random orders
and with other grace periods and reduction factors: no training, a second or two.
"""

from __future__ import annotations

import heapq
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np
import ray

from benchmarks.common import Figure
from benchmarks.tune_runs import RESULT_KEYS, TimedStudy, run_timed
from vae_tune.config import StudyConfig
from vae_tune.experiment import trial_dirname

TOLERANCE = 0.02  # "within 2% of the exhaustive run's best objective"
REPLAY_ORDERS = 200  # random trial orders replayed
REPLAY_SCHEDULES = [(grace, rf) for grace in (1, 2, 3, 4) for rf in (2, 3, 4)]  # (grace period, reduction factor)


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
        trial = trials.setdefault(row["trial_id"], {"trial_id": row["trial_id"], "config": row["config"],
                                                    "objective": []})
        trial["objective"].append(row["objective"])
    return list(trials.values())


def replay_asha(trials: list[dict], order: list[int], grace: int, rf: int, max_t: int, slots: int,
                threshold: float) -> tuple[int | None, int]:
    """Ray's ASHA rule on recorded learning curves: (trial-epochs to the threshold or None, trial-epochs in all).

    `trials` as from `curves` plus each epoch's seconds; `order` is the order trials start in, `slots` of
    them at a time. At its first result at or past a rung, a trial is stopped when it is worse than the
    (1 - 1/rf) quantile of the results already recorded at that rung (AsyncHyperBandScheduler._Bracket).
    """
    rung_count = int(np.log(max_t / grace) / np.log(rf) + 1)
    rungs = [(grace * rf**k, {}) for k in reversed(range(rung_count))]
    waiting, running = list(order), []  # running: (time its next result arrives, trial, epoch)

    def start(trial: int, now: float) -> None:
        heapq.heappush(running, (now + trials[trial]["seconds"][0], trial, 1))

    for trial in waiting[:slots]:
        start(trial, 0.0)
    waiting = waiting[slots:]
    spent, reached = 0, None
    while running:
        now, trial, epoch = heapq.heappop(running)
        value = trials[trial]["objective"][epoch - 1]
        spent += 1
        if reached is None and value <= threshold:
            reached = spent
        stop = epoch >= min(max_t, len(trials[trial]["objective"]))
        for milestone, recorded in rungs:
            if epoch < milestone or trial in recorded:
                continue
            if recorded and value > np.nanpercentile(list(recorded.values()), 100 / rf):  # minimising
                stop = True
            recorded[trial] = value
            break
        if not stop:
            heapq.heappush(running, (now + trials[trial]["seconds"][epoch], trial, epoch + 1))
        elif waiting:
            start(waiting.pop(0), now)
    return reached, spent


def replayed(rows: list[dict], study: StudyConfig, threshold: float) -> dict:
    """Replays of the exhaustive curves: the study's schedule in random orders, and other schedules."""
    trials = curves(rows)
    budget = len(rows)
    for trial, seconds in zip(trials, _epoch_seconds(rows)):
        trial["seconds"] = seconds
    study_order = sorted(range(len(trials)), key=lambda index: trials[index]["trial_id"])  # as sampled
    shuffled = [random.Random(seed).sample(study_order, len(trials)) for seed in range(REPLAY_ORDERS)]
    slots = study.search.max_concurrent_trials or max(1, int(len(os.sched_getaffinity(0)) // study.resources.cpus_per_trial))
    study_grace = min(study.search.grace_period, study.training.epochs)  # as vae_tune.study.scheduler sets it

    def summary(grace: int, rf: int) -> dict:
        runs = [replay_asha(trials, order, grace, rf, study.training.epochs, slots, threshold) for order in shuffled]
        reach = [spent / budget if spent else None for spent, _ in runs]
        in_study_order, total = replay_asha(trials, study_order, grace, rf, study.training.epochs, slots, threshold)
        return {
            "study_order_fraction": in_study_order / budget if in_study_order else None,
            "study_order_total_fraction": total / budget,
            "orders_reaching": sum(value is not None for value in reach) / len(reach),
            "orders_within_target": sum(value is not None and value <= 0.3 for value in reach) / len(reach),
            # An order that never gets there counts as needing everything.
            "median_fraction": statistics.median(1.0 if value is None else value for value in reach),
            "median_total_fraction": statistics.median(total / budget for _, total in runs),
        }

    schedules = sorted({*REPLAY_SCHEDULES, (study_grace, study.search.reduction_factor)})
    return {f"grace {grace}, rf {rf}": summary(grace, rf) for grace, rf in schedules}


def _epoch_seconds(rows: list[dict]) -> list[list[float]]:
    """Each trial's epoch durations (training and scoring), in `curves`' trial order."""
    seconds: dict[str, list[float]] = {}
    for row in rows:
        seconds.setdefault(row["trial_id"], []).append(row["time/train_seconds"] + row["time/scoring_seconds"])
    return list(seconds.values())


def compute_seconds(rows: list[dict]) -> float:
    return sum(map(sum, _epoch_seconds(rows)))


@ray.remote
def _train_on(study: StudyConfig, config: dict, dataset, trial_dir: str, from_epoch: int) -> list[dict]:
    """A stopped trial's remaining epochs, from its newest checkpoint: one row per epoch, as run_timed's."""
    from vae_tune.training.distribute import configure_threads
    from vae_tune.training.trainer import TrialTrainer
    from vae_tune.tuning.resume import restore_latest

    configure_threads(study.resources.cpus_per_trial)
    trainer = TrialTrainer(study, config, dataset)
    restore_latest(trainer, None, Path(trial_dir))
    if trainer.epoch != from_epoch:
        raise RuntimeError(f"{trial_dir}: newest intact checkpoint is epoch {trainer.epoch}, not {from_epoch}")
    rows = []
    while trainer.epoch < trainer.training.epochs:
        metrics = trainer.train_epoch()
        rows.append({"arrived": time.perf_counter(), **{key: metrics.get(key) for key in RESULT_KEYS}})
    return rows


def completed(study: StudyConfig, dataset, scheduled: TimedStudy) -> TimedStudy:
    """The exhaustive run: the scheduled run's trial-epochs, and its stopped trials trained to the last epoch."""
    last = {row["trial_id"]: row for row in scheduled.rows}  # rows arrive in epoch order per trial
    stopped = [row for row in last.values() if row["epoch"] < study.training.epochs]
    shared = ray.put(dataset)
    started = time.perf_counter()
    tasks = [_train_on.options(num_cpus=study.resources.cpus_per_trial).remote(
        study, row["config"], shared, str(Path(scheduled.experiment_dir) / trial_dirname(row["trial_id"])), row["epoch"])
        for row in stopped]
    rows = list(scheduled.rows)
    for row, continued in zip(stopped, ray.get(tasks)):
        rows += [{**epoch, "trial_id": row["trial_id"], "config": row["config"]} for epoch in continued]
    return TimedStudy(rows, time.perf_counter() - started, scheduled.experiment_dir, scheduled.trials)


def measure(study: StudyConfig, dataset) -> list[Figure]:
    scheduled = run_timed(study, dataset)
    exhaustive = completed(study, dataset, scheduled)
    budget = len(exhaustive.rows)
    best = min(row["objective"] for row in exhaustive.rows)
    threshold = best * (1 + TOLERANCE)
    spent = epochs_to_reach(scheduled.rows, threshold)
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
        "exhaustive_best_trial": {**winner["config"], "epoch": winner["epoch"]},
        "its_epochs_under_scheduler": winner_epochs,
        "its_rank_by_epoch": winner_ranks(exhaustive.rows, winner),  # of `trials`; ASHA keeps the top 1/rf
        "exhaustive_curves": curves(exhaustive.rows),
        "scheduled_epochs_by_trial": [len(trial["objective"]) for trial in curves(scheduled.rows)],
        "scheduled_seconds": scheduled.seconds,
        "stopped_trials_continued_seconds": exhaustive.seconds,
        # Training and scoring seconds summed over trial-epochs: what each search cost in compute.
        "scheduled_compute_seconds": compute_seconds(scheduled.rows),
        "exhaustive_compute_seconds": compute_seconds(exhaustive.rows),
    }
    replays = replayed(exhaustive.rows, study, threshold)
    schedule = f"grace {min(study.search.grace_period, study.training.epochs)}, rf {study.search.reduction_factor}"
    return [
        # No value when the scheduler never got within 2%: the target is then missed.
        Figure("search_fraction", f"4 {study.search.scheduler} trial-epochs to within 2% / exhaustive",
               [spent / budget] if spent is not None else [],
               "<= 0.3", unit="%", detail=detail),
        Figure("search_total_fraction", f"4 {study.search.scheduler} trial-epochs in all / exhaustive",
               [len(scheduled.rows) / budget], unit="%"),
        Figure("search_fraction_any_order", f"4 {schedule} replayed, {REPLAY_ORDERS} trial orders (median)",
               [replays[schedule]["median_fraction"]] if schedule in replays else [], unit="%",
               detail={"schedules": replays}),
    ]
