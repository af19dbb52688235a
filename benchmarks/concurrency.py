"""Item 6: trials finished per hour with one trial at a time on every core, or two sharing them.

Both sides run the same small FIFO study (the same seeded trials, each to its
last epoch) on this machine's cores: one trial at a time with all of them
(`cpus_per_trial` = cores), or two at once with half each. A trial sizes its
TensorFlow thread pools to its CPUs (`configure_threads`), so two concurrent
trials do not fight over the cores. The sides run in turn.
"""

from __future__ import annotations

import dataclasses

from benchmarks.common import Figure, alternate, spread
from benchmarks.tune_runs import run_timed
from vae_tune.config import StudyConfig


def trials_per_hour(study: StudyConfig, dataset, concurrent: int, cores: int) -> float:
    study = dataclasses.replace(
        study,
        search=dataclasses.replace(study.search, max_concurrent_trials=concurrent),
        resources=dataclasses.replace(study.resources, cpus_per_trial=cores / concurrent),
    )
    run = run_timed(study, dataset)
    return run.trials / run.seconds * 3600


def measure(study: StudyConfig, dataset, cores: int, repeat: int) -> list[Figure]:
    runs = alternate({concurrent: (lambda c=concurrent: trials_per_hour(study, dataset, c, cores))
                      for concurrent in (1, 2)}, repeat)
    ratios = [two / one for one, two in zip(runs[1], runs[2])]
    shape = {"trials": study.search.num_samples, "epochs": study.training.epochs, "images": study.data.samples,
             "image_size": study.data.image_size, "cores": cores}
    return [
        Figure("trials_per_hour_1", f"6 trials/hour, 1 at a time x {cores} CPUs", runs[1], unit="/h", detail=shape),
        Figure("trials_per_hour_2", f"6 trials/hour, 2 at a time x {cores / 2:g} CPU", runs[2], unit="/h"),
        Figure("concurrency_speedup", "6 trials/hour 2 at a time / 1 at a time", ratios,
               detail={"trials_per_hour_1": spread(runs[1]), "trials_per_hour_2": spread(runs[2])}),
    ]
