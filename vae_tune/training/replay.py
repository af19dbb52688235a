"""Retrain a PBT schedule from scratch in one process: the hyperparameters change at each segment's first epoch.

What `vae-tune replay` runs: does the schedule PBT found reproduce the
winner's scores when trained in one go, from a fresh initialisation? The
replay keeps the winner's latent_dim, batch_size and (unless given another)
seed, and trains the epochs of its lineage (vae_tune.lineage) with each
segment's learning_rate, kl_weight and chroma_weight (TrialTrainer follows
the schedule as a `vae-tune confirm` run of a PBT study does). No Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vae_tune.config import SEARCHABLE, StudyConfig
from vae_tune.data.dataset import Dataset
from vae_tune.lineage import params_at
from vae_tune.names import BEST_EPOCH, LINEAGE
from vae_tune.training.trainer import TrialTrainer


def replay_params(schedule: dict[str, Any], seed: int | None = None) -> dict[str, Any]:
    """The replay's first-epoch params: the winner's shape and batch, the first segment's values."""
    model, training = schedule["model"], schedule["training"]
    fixed = {"latent_dim": model["latent_dim"], "batch_size": training["batch_size"],
             "seed": training["seed"] if seed is None else seed}
    return {**fixed, **params_at(schedule[LINEAGE], 1)}


def replay_schedule(study: StudyConfig, schedule: dict[str, Any], dataset: Dataset, seed: int | None = None,
                    on_epoch: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Each replayed epoch's metrics, up to the winner's best epoch."""
    params = replay_params(schedule, seed)
    assert set(params) <= set(SEARCHABLE)
    trainer = TrialTrainer(study, params, dataset, schedule=schedule[LINEAGE])
    epochs = []
    for _ in range(int(schedule[BEST_EPOCH])):
        metrics = trainer.train_epoch()
        epochs.append(metrics)
        if on_epoch is not None:
            on_epoch(metrics)
    return epochs
