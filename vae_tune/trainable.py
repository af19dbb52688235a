"""The Ray Tune trainable: build, train an epoch, score, report and checkpoint, resume.

`TrialRunner` holds everything a trial does and knows nothing of Ray, so tests
and notebooks can drive it directly; `train_vae` is the thin Tune function
around it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import keras

from vae_tune.checkpoint import (
    CheckpointError, checkpoint_states, newest_checkpoints, prune_checkpoints, read_state, restore_checkpoint,
    save_checkpoint,
)
from vae_tune.config import StudyConfig
from vae_tune.data.dataset import Dataset, make_probe, split_indices, training_batches
from vae_tune.distribute import choose_devices, configure_threads, dtype_policy
from vae_tune.evaluation import WORST_SCORES, ProbeScorer
from vae_tune.model import build_vae
from vae_tune.resources import check_batch_split
from vae_tune.storage import is_uri
from vae_tune.study import METRIC
from vae_tune.trial_files import STARTS_FILE, TIMEOUT_FILE, reported_results, trial_dirname


class TrialRunner:
    """One trial: its model, its data split, and the epoch counter."""

    def __init__(
        self, study: StudyConfig, params: dict[str, Any], dataset: Dataset, gpu_ids: Sequence[str] | None = None
    ):
        """`gpu_ids`: the GPUs Ray assigned to the trial; None outside Ray (use what TensorFlow sees)."""
        self.study = study
        self.params = dict(params)
        self.model_config, self.training = study.trial(self.params)
        self.dataset = dataset
        keras.utils.set_random_seed(self.training.seed)
        self.devices = choose_devices(gpu_ids, self.training.precision, study.resources.all_reduce)
        self.strategy = self.devices.strategy
        check_batch_split(self.training.batch_size, self.devices.replicas)
        with self.strategy.scope(), dtype_policy(self.devices.precision):
            self.model = build_vae(self.model_config, self.training.learning_rate, seed=self.training.seed)
        self.train_indices, validation = split_indices(dataset.ids, study.data.validation_fraction, study.data.seed)
        self.probe = make_probe(dataset, validation, study.objective, seed=study.data.seed, train=self.train_indices)
        self.scorer = ProbeScorer(self.probe, study.objective)
        self.epoch = 0  # epochs completed
        self.last_metrics: dict[str, Any] = {}  # the last epoch's, once restored

    def restore(self, directory: str | Path) -> dict[str, Any]:
        """Load a checkpoint (CheckpointError if it is damaged); returns its saved state."""
        with self.strategy.scope():
            state = restore_checkpoint(self.model, directory)
        self.epoch = int(state["epoch"])
        self.last_metrics = state.get("metrics", {})
        return state

    def save(self, directory: str | Path, metrics: dict[str, Any]) -> dict[str, Any]:
        return save_checkpoint(
            self.model,
            directory,
            {
                "epoch": self.epoch,
                "params": self.params,
                # The precision that ran ("auto" resolved), so the checkpoint rebuilds its optimizer.
                "training": {**dataclasses.asdict(self.training), "precision": self.devices.precision},
                "data": dataclasses.asdict(self.study.data),
                "metrics": metrics,
            },
        )

    def epoch_batches(self):
        """The next epoch's training batches, with the sampling noise reseeded for that epoch.

        A seed per epoch: a trial resumed at epoch k sees the batches and noise it would have seen.
        """
        epoch_seed = self.training.seed * 100_003 + self.epoch
        self.model.sampling.reseed(epoch_seed)
        return training_batches(
            self.dataset.images, self.train_indices, self.training.batch_size, epoch_seed, self.devices.replicas
        )

    def train_epoch(self) -> dict[str, Any]:
        """Train one epoch, then score it. Returns the metrics to report."""
        batches = self.epoch_batches()
        started = time.perf_counter()
        history = self.model.fit(
            batches,
            epochs=1,
            verbose=0,
            shuffle=False,  # the pipeline shuffles, seeded per epoch
            callbacks=[keras.callbacks.TerminateOnNaN()],  # stop within the epoch, not after it
        )
        train_seconds = time.perf_counter() - started
        self.epoch += 1
        train = {f"train/{name}": float(values[-1]) for name, values in history.history.items()}
        result: dict[str, Any] = {
            "epoch": self.epoch,
            **train,
            "time/train_seconds": train_seconds,
            "train/images_per_second": len(self.train_indices) / train_seconds,
            "device/replicas": self.devices.replicas,
            "device/gpu_ids": ",".join(self.devices.gpu_ids),
            "device/summary": self.devices.describe(),
        }
        if not all(math.isfinite(value) for value in train.values()):
            # NaN is not valid JSON and poisons searchers: record which losses broke, report worst scores.
            broken = {name: None for name, value in train.items() if not math.isfinite(value)}
            return {**result, **broken, **WORST_SCORES, "diverged": True}
        started = time.perf_counter()
        # Validation losses come from the probe pass too: a separate pass over the whole
        # validation split doubled the evaluation cost (benchmarks/evaluation_share.py).
        result.update(self.scorer.score(self.model))
        result["time/eval_seconds"] = time.perf_counter() - started
        result["diverged"] = False
        return result


def restore_latest(runner: TrialRunner, checkpoint, trial_dir: Path | None = None) -> dict[str, Any]:
    """Resume from the newest intact checkpoint. Returns what was resumed, for the next report.

    On local or shared storage (`trial_dir` given) that is the newest intact
    one in the trial's folder, whatever Tune names: Tune records a checkpoint
    a round trip after the epoch's result, and a resumed study's Tune knows
    only its last snapshot, so after a crash its choice can be epochs behind
    (they would be trained and reported again), or none at all. A damaged
    newest checkpoint costs one more epoch, not the trial. On remote storage,
    Tune's checkpoint.
    """
    remote = checkpoint is not None and checkpoint.filesystem.type_name != "local"
    if trial_dir is None or remote:
        if checkpoint is None:
            return {}
        try:
            with checkpoint.as_directory() as directory:
                state = runner.restore(directory)
        except CheckpointError as error:
            warnings.warn(f"vae-tune: cannot resume from {checkpoint.path}: {error}", stacklevel=2)
            return _start_again()
        return _resumed(runner, state)
    named = Path(checkpoint.path) if checkpoint is not None else None
    for directory, _ in newest_checkpoints(trial_dir):
        try:
            state = runner.restore(directory)
        except CheckpointError as error:
            warnings.warn(f"vae-tune: cannot resume from {directory}: {error}", stacklevel=2)
            continue
        if named is not None and directory != named:
            warnings.warn(f"vae-tune: resumed from {directory} (epoch {state['epoch']}), not {named}", stacklevel=2)
        return _resumed(runner, state)
    return _start_again() if checkpoint is not None else {}


def _resumed(runner: TrialRunner, state: dict[str, Any]) -> dict[str, Any]:
    return {"resumed_from_epoch": runner.epoch, "resumed_from_sha256": state["weights"]["sha256"]}


def _start_again() -> dict[str, Any]:
    warnings.warn("vae-tune: no intact checkpoint left; this trial starts again from epoch 0", stacklevel=2)
    return {"resumed_from_epoch": 0}


def trial_directory(experiment_dir: str) -> Path:
    """Where this trial's own files live for good.

    On local or shared-filesystem storage that is the trial's folder in the
    experiment directory; Tune's per-session working directory would be
    replaced when a resumed study starts a new session. For s3:// or gs://
    storage, Tune's working directory, which Tune uploads.
    """
    from ray import tune

    context = tune.get_context()
    if is_uri(experiment_dir):
        return Path(context.get_trial_dir())
    path = Path(experiment_dir) / trial_dirname(context.get_trial_id())
    path.mkdir(parents=True, exist_ok=True)
    return path


def record_start(trial_dir: Path, resumed: dict[str, Any], setup_seconds: float) -> None:
    """One line per start of this trial in starts.log: how often it ran, from where, and how long
    the start took (threads, data split, probe, model build, restore)."""
    line = {"pid": os.getpid(), "time": time.time(), "resumed_from_epoch": resumed.get("resumed_from_epoch"),
            "setup_seconds": setup_seconds}
    with open(trial_dir / STARTS_FILE, "a") as log:
        log.write(json.dumps(line) + "\n")


def train_vae(config: dict[str, Any], study: StudyConfig, dataset: Dataset, experiment_dir: str) -> None:
    """Ray Tune function trainable: one call trains one trial to its last epoch (or until stopped)."""
    import ray
    from ray import tune

    started = time.perf_counter()
    configure_threads(study.resources.cpus_per_trial)
    runner = TrialRunner(study, config, dataset, gpu_ids=ray.get_gpu_ids())
    print(f"vae-tune trial: {runner.devices.describe()}", flush=True)  # the trial's log; --verbose shows it
    node = {"device/node_id": ray.get_runtime_context().get_node_id()}
    trial_dir = trial_directory(experiment_dir)
    # On local or shared storage the checkpoints sit in trial_dir, and the trial picks and prunes them
    # itself (see restore_latest); on s3:// or gs:// Tune does (study.checkpoint_config).
    own_checkpoints = not is_uri(experiment_dir)
    resumed = restore_latest(runner, tune.get_checkpoint(), trial_dir if own_checkpoints else None)
    record_start(trial_dir, resumed, setup_seconds=time.perf_counter() - started)
    if own_checkpoints and runner.epoch:
        resumed = report_unlogged_epochs(trial_dir, runner.epoch, resumed)
    if runner.last_metrics.get("diverged"):
        return
    while runner.epoch < runner.training.epochs:
        metrics = {**runner.train_epoch(), **node, **resumed}
        resumed = {}
        with tempfile.TemporaryDirectory() as directory:
            saved = runner.save(directory, metrics)
            # In the epoch's results for good: most checkpoints' weights are pruned.
            metrics["checkpoint_sha256"] = saved["weights"]["sha256"]
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        if own_checkpoints:
            prune_checkpoints(trial_dir, METRIC)
        if metrics["diverged"]:
            return


def report_unlogged_epochs(trial_dir: Path, resumed_epoch: int, resumed: dict[str, Any]) -> dict[str, Any]:
    """Report again each saved epoch up to `resumed_epoch` missing from the trial's result.json.

    Tune's driver logs results in a staging folder copied to the trial folder
    every few seconds, so a driver that died took its last epochs' results with
    it while their checkpoints' trial.json (pruned ones too) kept the metrics.
    An epoch the driver had logged but not yet copied is reported twice, with
    the same metrics; readers keep the last row of each epoch. Returns what the
    next report still has to carry of `resumed`.
    """
    from ray import tune

    logged = {row.get("epoch") for row in reported_results(trial_dir)}
    saved = {state["epoch"]: state for _, state in reversed(checkpoint_states(trial_dir))}  # the newest of each epoch
    for epoch in sorted(epoch for epoch in set(saved) - logged if epoch <= resumed_epoch):
        state = saved[epoch]
        tune.report({**state["metrics"], **resumed, "checkpoint_sha256": state["weights"]["sha256"],
                     "reported_again": True})
        resumed = {}
    return resumed


def with_trial_timeout(trainable: Callable, seconds: float) -> Callable:
    """Stop any attempt of a trial that runs longer than `seconds`, and record it as timed out.

    A hung trial reports nothing, so nothing on Tune's side can stop it: a timer
    in the trial process writes timed_out.json into the trial directory and kills
    the process. Tune then sees a crashed trial and retries it; the retry finds
    the marker and ends the trial at once with worst-case scores, so the study
    goes on and the trial never holds its GPU again.
    """
    if seconds <= 0:
        return trainable

    @functools.wraps(trainable)
    def guarded(config: dict[str, Any], **parameters) -> None:
        from ray import tune

        marker = trial_directory(parameters["experiment_dir"]) / TIMEOUT_FILE
        if marker.exists():
            checkpoint = tune.get_checkpoint()
            epoch = read_state(checkpoint.path)["epoch"] if checkpoint is not None else 0
            tune.report({**WORST_SCORES, "epoch": epoch, "diverged": False, "timed_out": True})
            return
        timer = threading.Timer(seconds, _time_out, args=(marker, seconds))
        timer.daemon = True
        timer.start()
        try:
            trainable(config, **parameters)
        finally:
            timer.cancel()

    return guarded


def _time_out(marker: Path, seconds: float) -> None:
    marker.write_text(json.dumps({"trial_timeout": seconds, "time": time.time(), "pid": os.getpid()}))
    os.kill(os.getpid(), signal.SIGKILL)  # the only stop a hung thread cannot ignore
