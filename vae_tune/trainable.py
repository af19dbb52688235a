"""The Ray Tune trainable: build, train an epoch, score, report and checkpoint, resume.

`TrialRunner` holds everything a trial does and knows nothing of Ray, so tests
and notebooks can drive it directly; `train_vae` is the thin Tune function
around it.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from vae_tune.checkpoint import restore_checkpoint, save_checkpoint
from vae_tune.config import StudyConfig
from vae_tune.data.dataset import Dataset, make_probe, split_indices, training_batches
from vae_tune.distribute import choose_devices, configure_threads, dtype_policy
from vae_tune.evaluation import DIVERGED_OBJECTIVE, evaluate_probe
from vae_tune.model import build_vae
from vae_tune.resources import check_batch_split


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
        self.train_indices, validation = split_indices(len(dataset), study.data.validation_fraction, study.data.seed)
        self.validation_indices = validation
        self.probe = make_probe(dataset, validation, study.objective, seed=study.data.seed)
        self.epoch = 0  # epochs completed

    def restore(self, directory: str) -> None:
        with self.strategy.scope():
            state = restore_checkpoint(self.model, directory)
        self.epoch = int(state["epoch"])

    def save(self, directory: str, metrics: dict[str, Any]) -> None:
        save_checkpoint(
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

    def _batches(self, indices: np.ndarray, seed: int):
        return training_batches(self.dataset.images, indices, self.training.batch_size, seed, self.devices.replicas)

    def epoch_batches(self):
        """The next epoch's training batches, with the sampling noise reseeded for that epoch.

        A seed per epoch: a trial resumed at epoch k sees the batches and noise it would have seen.
        """
        epoch_seed = self.training.seed * 100_003 + self.epoch
        self.model.sampling.reseed(epoch_seed)
        return self._batches(self.train_indices, epoch_seed)

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
            return {**result, **{k: float(v) if math.isfinite(v) else None for k, v in train.items()},
                    "diverged": True, "objective": DIVERGED_OBJECTIVE}
        started = time.perf_counter()
        validation = self.model.evaluate(self._batches(self.validation_indices, 0), verbose=0, return_dict=True)
        scores = evaluate_probe(self.model, self.probe, self.study.objective)
        result.update({f"val/{name}": float(value) for name, value in validation.items()})
        result.update(scores)
        result["time/eval_seconds"] = time.perf_counter() - started
        result["diverged"] = False
        return result


def train_vae(config: dict[str, Any], study: StudyConfig, dataset: Dataset) -> None:
    """Ray Tune function trainable: one call trains one trial to its last epoch (or until stopped)."""
    import ray
    from ray import tune

    configure_threads(study.resources.cpus_per_trial)
    runner = TrialRunner(study, config, dataset, gpu_ids=[str(i) for i in ray.get_gpu_ids()])
    print(f"vae-tune trial: {runner.devices.describe()}", flush=True)  # the trial's log; --verbose shows it
    node_id = ray.get_runtime_context().get_node_id()
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            runner.restore(directory)
    while runner.epoch < runner.training.epochs:
        metrics = {**runner.train_epoch(), "device/node_id": node_id}
        with tempfile.TemporaryDirectory() as directory:
            runner.save(directory, metrics)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        if metrics["diverged"]:
            return
