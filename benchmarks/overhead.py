"""Items 1-3 of the benchmark: what a trial adds to plain Keras, scoring's share, compute efficiency.

Side A is one trial of the study inside a real Ray Tune run (`run_study`, as
`vae-tune run` runs it): a model.fit per epoch, scoring on the probe, a
checkpoint with its SHA-256, `tune.report`. Its pace is the time between
results arriving at the driver. Side B is one bare `model.fit` of the same
model on the same training images and epochs, in a plain process with the same
thread budget (`benchmarks.compute.plain_fit`). The sides run in turn
(`alternate`). The first epoch of each is left out: it traces the graphs.
"""

from __future__ import annotations

import dataclasses
import statistics

from benchmarks import scoring_share
from benchmarks.common import Figure, alternate, spread
from benchmarks.compute import OPTIONS, compare_options, in_fresh_process, plain_fit, two_fits_at_once
from benchmarks.tune_runs import run_timed
from vae_tune.config import StudyConfig, to_dict


def trial_side(study: StudyConfig, dataset) -> dict:
    """Seconds per steady-state epoch of one Tune trial, and how they split."""
    rows = run_timed(study, dataset).rows
    steady = rows[1:]
    interval = (rows[-1]["arrived"] - rows[0]["arrived"]) / len(steady)
    train = statistics.mean(row["time/train_seconds"] for row in steady)
    scoring = statistics.mean(row["time/scoring_seconds"] for row in steady)
    return {
        "seconds_per_epoch": interval,
        "fit_seconds": train,
        "scoring_seconds": scoring,
        # Checkpoint (weights, SHA-256, trial.json), Tune's copy of it to storage, the report's round trip.
        "checkpoint_and_report_seconds": interval - train - scoring,
        "epochs": [{"train": row["time/train_seconds"], "scoring": row["time/scoring_seconds"]} for row in steady],
    }


def bare_side(study: StudyConfig) -> dict:
    result = in_fresh_process(plain_fit, to_dict(study), study.training.epochs)
    steady = result["epoch_seconds"][1:]
    return {**result, "seconds_per_epoch": statistics.mean(steady)}


def measure(study: StudyConfig, dataset, repeat: int) -> list[Figure]:
    """Figures 1-3 from `repeat` alternated pairs of a Tune trial and a bare fit."""
    runs = alternate({"trial": lambda: trial_side(study, dataset), "bare": lambda: bare_side(study)}, repeat)
    trials, bares = runs["trial"], runs["bare"]
    images = bares[0]["train_images"]

    overhead = [bare["seconds_per_epoch"] / trial["seconds_per_epoch"] for trial, bare in zip(trials, bares)]
    median = lambda key, runs_: statistics.median(run[key] for run in runs_)  # noqa: E731
    trial_epoch = median("seconds_per_epoch", trials)
    split = {key: median(key, trials) for key in ("fit_seconds", "scoring_seconds", "checkpoint_and_report_seconds")}
    figures = [Figure(
        "trainable_overhead", "1 trial images/s in Tune / bare model.fit", overhead, ">= 0.95",
        detail={
            "train_images": images,
            "epochs_timed_per_run": study.training.epochs - 1,
            "trial_images_per_second": images / trial_epoch,
            "bare_images_per_second": images / median("seconds_per_epoch", bares),
            "trial_epoch_seconds": {key.removesuffix("_seconds"): value for key, value in split.items()},
            "trial_epoch_shares": {key.removesuffix("_seconds"): value / trial_epoch for key, value in split.items()},
            # The trial's own fit against the bare fit: the per-epoch fit call and the input pipeline.
            "fit_alone_vs_bare": median("seconds_per_epoch", bares) / split["fit_seconds"],
        },
    )]

    epochs = [epoch for trial in trials for epoch in trial["epochs"]]
    shares = scoring_share.shares(epochs)
    figures.append(Figure(
        "scoring_share", "2 scoring time / training time per epoch", shares,
        f"<= {scoring_share.TARGET_SHARE}", unit="%",
        detail={"scoring_seconds": spread([epoch["scoring"] for epoch in epochs]),
                "train_seconds": spread([epoch["train"] for epoch in epochs])},
    ))

    flops = bares[0]["training_flops_per_image"]
    efficiency, peaks = [], []
    for bare in bares:  # each epoch against the matmul timed right after it, in the same process
        for seconds, peak in zip(bare["epoch_seconds"][1:], bare["matmul_flops_per_second"][1:]):
            efficiency.append(flops * images / seconds / peak)
            peaks.append(peak)
    figures.append(Figure(
        "compute_efficiency", "3 training FLOP/s / matmul FLOP/s", efficiency, unit="%",
        detail={
            "training_flops_per_image": flops,
            "matmul_flops_per_second": spread(peaks),
            "bare_images_per_second": images / median("seconds_per_epoch", bares),
            "input_pipeline_images_per_second": statistics.median(bare["pipeline_images_per_second"] for bare in bares),
            # The layers' own products, timed alone: how fast the model could go if it were only its matmuls.
            "layer_shaped_matmul_flops_per_second": statistics.median(bare["layer_shaped_flops_per_second"] for bare in bares),
            "in_tune_trial": statistics.median(efficiency) * statistics.median(overhead),
        },
    ))
    return figures


def measure_options(study: StudyConfig, options: tuple[str, ...]) -> list[Figure]:
    """Each option's images/s over the default's, epochs of one model per option taken in turn."""
    seconds = in_fresh_process(compare_options, to_dict(study), study.training.epochs, ("default", *options))
    figures = []
    for name in options:
        ratios = [default / other for default, other in zip(seconds["default"], seconds[name])]
        figures.append(Figure(
            f"option_{name}", f"3 option {name}: images/s / default", ratios,
            detail={"settings": OPTIONS[name], "seconds_per_epoch": spread(seconds[name]),
                    "default_seconds_per_epoch": spread(seconds["default"])},
        ))
    return figures


def measure_threads(study: StudyConfig, cores: int, repeat: int) -> list[Figure]:
    """Two trainings at once on the cores: thread pools sized to each one's share, as trials do, or TF's defaults.

    TF's default pools take every core for each process, so two processes run
    twice as many busy threads as there are cores.
    """
    def at_once(cpus_each: float) -> float:
        shared = dataclasses.replace(study, resources=dataclasses.replace(study.resources, cpus_per_trial=cpus_each))
        return two_fits_at_once(to_dict(shared), study.training.epochs)

    runs = alternate({"sized": lambda: at_once(cores / 2), "default": lambda: at_once(cores)}, repeat)
    return [Figure(
        "option_threads", "3 option threads per trial: images/s / TF default",
        [sized / default for sized, default in zip(runs["sized"], runs["default"])],
        detail={"images_per_second_sized": spread(runs["sized"]), "images_per_second_default": spread(runs["default"]),
                "threads_each": {"sized": max(1, cores // 2), "default": cores}},
    )]
