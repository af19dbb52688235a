"""One trial's training, without Ray: its model, its data split, the epoch loop, scores and checkpoints.

`TrialTrainer` is what a Tune trial runs (vae_tune.tuning.trainable wraps it)
and what tests, benchmarks and notebooks drive directly.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from vae_tune.config import StudyConfig, check_batch_split
from vae_tune.data.dataset import Dataset, make_probe, split_indices, training_batches
from vae_tune.lineage import Lineage, extend, scheduled_params
from vae_tune.names import (
    DEVICE_SUMMARY,
    DIVERGED,
    EPOCH,
    GPU_IDS,
    HP_CHROMA_WEIGHT,
    HP_KL_WEIGHT,
    HP_LEARNING_RATE,
    IMAGES_PER_SECOND,
    LINEAGE,
    REPLICAS,
    SCORING_SECONDS,
    SEQUENCE,
    TRAIN_PREFIX,
    TRAIN_SECONDS,
    WORST_SCORES,
)
from vae_tune.training.checkpoint import restore_checkpoint, save_checkpoint
from vae_tune.training.distribute import choose_devices, dtype_policy
from vae_tune.training.model import build_vae
from vae_tune.training.scoring import ProbeScorer


class TrialTrainer:
    """One trial: its model, its data split, and the epoch counter."""

    def __init__(
        self, study: StudyConfig, params: dict[str, Any], dataset: Dataset, gpu_ids: Sequence[str] | None = None,
        trial_id: str | None = None, schedule: Lineage = (),
    ):
        """`gpu_ids`: the GPUs Ray assigned to the trial; None outside Ray (use what TensorFlow sees).
        `trial_id`: Tune's id of the trial, recorded in the checkpoints' lineage. `schedule`: the
        learning_rate and loss weights each epoch trains with (a PBT lineage, vae_tune.lineage), over `params`' values."""
        self.study = study
        self.trial_id = trial_id
        self.schedule = list(schedule)
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
        self.probe = make_probe(dataset, validation, study.probe, seed=study.data.seed, train=self.train_indices)
        self.scorer = ProbeScorer(self.probe, study.objective, study.probe.interpolation_steps)
        self.epoch = 0  # epochs completed
        self.last_metrics: dict[str, Any] = {}  # the last epoch's, once restored
        self.lineage: list[dict[str, Any]] = []  # of the weights: vae_tune.lineage
        self.sequence = 0  # the next checkpoint's; the trainable sets it past every checkpoint of the trial
        self.exploited_sha256: str | None = None  # set by `restore(..., exploit=True)`, until the next epoch

    def restore(self, directory: str | Path, exploit: bool = False) -> dict[str, Any]:
        """Load a checkpoint (CheckpointError if it is damaged); returns its saved state.

        The weights, the optimizer's moments and the epoch come from the checkpoint; the learning rate and
        the loss weights stay this trial's own (Keras saves Adam's learning_rate with the weights, so it
        is set again). `exploit`: the checkpoint is another trial's (PBT): the next epoch opens a segment
        of the lineage that names it.
        """
        with self.strategy.scope():
            state = restore_checkpoint(self.model, directory)
            self.model.optimizer.learning_rate.assign(self.training.learning_rate)
        self.epoch = int(state[EPOCH])
        self.last_metrics = state.get("metrics", {})
        self.lineage = list(state.get(LINEAGE) or [])
        self.sequence = max(self.sequence, int(state.get(SEQUENCE, -1)) + 1)
        self.exploited_sha256 = state["weights"]["sha256"] if exploit else None
        return state

    def set_hyperparameters(self, params: dict[str, Any]) -> None:
        """Go on with new values of learning_rate, kl_weight, chroma_weight, in this process (a schedule's boundary).

        A PBT trial never needs this: after an exploit its model is built from its new config.
        """
        self.params.update(params)
        self.model_config, self.training = self.study.trial(self.params)
        with self.strategy.scope():
            self.model.optimizer.learning_rate.assign(self.training.learning_rate)
        self.model.config = self.model_config  # compute_loss and the probe read kl_weight and chroma_weight here
        # fit traced compute_loss with the old weights as constants: make it trace again.
        self.model.train_function = self.model.test_function = self.model.predict_function = None

    def hyperparameters(self) -> dict[str, float]:
        """The learning rate and loss weights in use: read from the optimizer and the model, not the config."""
        return {"learning_rate": float(self.model.optimizer.learning_rate.numpy()),
                "kl_weight": float(self.model.config.kl_weight), "chroma_weight": float(self.model.config.chroma_weight)}

    def save(self, directory: str | Path, metrics: dict[str, Any]) -> dict[str, Any]:
        state = save_checkpoint(
            self.model,
            directory,
            {
                EPOCH: self.epoch,
                SEQUENCE: self.sequence,
                LINEAGE: self.lineage,
                "params": self.params,
                # The precision that ran ("auto" resolved), so the checkpoint rebuilds its optimizer.
                "training": {**dataclasses.asdict(self.training), "precision": self.devices.precision},
                "data": dataclasses.asdict(self.study.data),
                "metrics": metrics,
            },
        )
        self.sequence += 1
        return state

    def epoch_batches(self):
        """The next epoch's training batches, with the sampling noise reseeded for that epoch.

        A seed per epoch: a trial resumed at epoch k sees the batches and noise it would have seen.
        """
        epoch_seed = self.training.seed * 100_003 + self.epoch
        self.model.sampling.reseed(epoch_seed)
        return training_batches(
            self.dataset.images, self.train_indices, self.training.batch_size, epoch_seed, self.devices.replicas
        )

    def follow_schedule(self) -> None:
        """The schedule's values for the next epoch, set where they differ from those in use: at a boundary,
        and after a restore past one (a checkpoint brings back the config's values)."""
        wanted = scheduled_params(self.schedule, self.epoch + 1)
        configured = {**dataclasses.asdict(self.model_config), **dataclasses.asdict(self.training)}
        if any(configured[name] != value for name, value in wanted.items()):
            self.set_hyperparameters(wanted)

    def train_epoch(self) -> dict[str, Any]:
        """Train one epoch, then score it. Returns the metrics to report."""
        if self.schedule:
            self.follow_schedule()
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
        in_use = self.hyperparameters()
        self.lineage = extend(self.lineage, self.trial_id, self.epoch, in_use, from_sha256=self.exploited_sha256)
        self.exploited_sha256 = None
        train = {TRAIN_PREFIX + name: float(values[-1]) for name, values in history.history.items()}
        result: dict[str, Any] = {
            EPOCH: self.epoch,
            **train,
            TRAIN_SECONDS: train_seconds,
            IMAGES_PER_SECOND: len(self.train_indices) / train_seconds,
            REPLICAS: self.devices.replicas,
            GPU_IDS: ",".join(self.devices.gpu_ids),
            DEVICE_SUMMARY: self.devices.describe(),
            HP_LEARNING_RATE: in_use["learning_rate"],
            HP_KL_WEIGHT: in_use["kl_weight"],
            HP_CHROMA_WEIGHT: in_use["chroma_weight"],
        }
        if not all(math.isfinite(value) for value in train.values()):
            # NaN is not valid JSON and poisons searchers: record which losses broke, report worst scores.
            broken = {name: None for name, value in train.items() if not math.isfinite(value)}
            return {**result, **broken, **WORST_SCORES, DIVERGED: True}
        started = time.perf_counter()
        # Validation losses come from the probe pass too: a separate pass over the whole
        # validation split doubled the scoring cost (benchmarks/scoring_share.py).
        result.update(self.scorer.score(self.model))
        result[SCORING_SECONDS] = time.perf_counter() - started
        result[DIVERGED] = False
        return result
