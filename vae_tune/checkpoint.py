"""A trial's checkpoint: weights, optimizer state, epoch counter and the config that rebuilds it.

Layout of a checkpoint directory:
  vae.weights.h5   model weights and Adam's state, iteration counter included (Keras 3's
                   save_weights stores a compiled model's optimizer variables too)
  trial.json       epoch, model and training config, searched params, the epoch's metrics
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from vae_tune.config import ModelConfig, TrainingConfig

WEIGHTS_FILE = "vae.weights.h5"
STATE_FILE = "trial.json"


def save_checkpoint(model, directory: str | Path, state: dict[str, Any]) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_weights(directory / WEIGHTS_FILE)
    state = {
        **state,
        "model": dataclasses.asdict(model.config),
    }
    (directory / STATE_FILE).write_text(json.dumps(state, indent=2, default=float))


def read_state(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a vae-tune checkpoint: {STATE_FILE} is missing")
    return json.loads(path.read_text())


def model_config_of(state: dict[str, Any]) -> ModelConfig:
    fields = dict(state["model"])
    for key in ("encoder_filters", "decoder_filters"):
        fields[key] = tuple(fields[key])
    return ModelConfig(**fields)


def training_config_of(state: dict[str, Any]) -> TrainingConfig:
    return TrainingConfig(**state["training"])


def restore_checkpoint(model, directory: str | Path) -> dict[str, Any]:
    """Load weights and optimizer state saved by `save_checkpoint` into a built, compiled model."""
    directory = Path(directory)
    state = read_state(directory)
    # Adam creates its slots lazily; build them so the saved state has somewhere to go.
    model.optimizer.build(model.trainable_variables)
    model.load_weights(directory / WEIGHTS_FILE)
    return state


def load_model(directory: str | Path):
    """Rebuild a trained VAE from a checkpoint alone, for analysis."""
    import keras

    from vae_tune.model import build_vae

    state = read_state(directory)
    training = training_config_of(state)
    model = build_vae(model_config_of(state), learning_rate=training.learning_rate)  # float32 whatever trained it
    if training.precision == "mixed_float16":
        # Its saved optimizer state includes the loss scale; give it somewhere to go.
        model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(training.learning_rate)))
    restore_checkpoint(model, directory)
    return model, state
