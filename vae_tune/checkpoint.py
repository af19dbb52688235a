"""A trial's checkpoint: weights, optimizer state, epoch counter and the config that rebuilds it.

Layout of a checkpoint directory:
  vae.weights.h5   model weights and Adam's state, iteration counter included (Keras 3's
                   save_weights stores a compiled model's optimizer variables too)
  trial.json       epoch, model and training config, searched params, the epoch's metrics,
                   and the weights file's size and SHA-256, written last

A checkpoint counts as complete only when trial.json parses and the weights
file matches its recorded size and digest, so one cut short by a crash, a full
disk or a half-finished copy is never mistaken for a good one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from vae_tune.config import ModelConfig, TrainingConfig

WEIGHTS_FILE = "vae.weights.h5"
STATE_FILE = "trial.json"


class CheckpointError(ValueError):
    """A checkpoint directory is missing, incomplete or damaged; the message says which file."""


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _keep_keras_attribute_skipsets() -> None:
    """Let Keras reuse what it works out on every `save_weights`.

    Keras 3 (up to 3.15 at least) caches the attribute names it skips while
    walking a model under "saving_attr_skipset_<type>" but looks them up under
    "saving_attr_skiplist_<type>", so every save builds throwaway reference
    layers again: about a third of a checkpoint's time here. Storing the sets
    under the name it reads changes nothing in the file written.
    """
    from keras.src.backend.common import global_state

    for kind in ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer", "Loss"):
        computed = global_state.get_global_attribute(f"saving_attr_skipset_{kind}")
        if computed is not None and global_state.get_global_attribute(f"saving_attr_skiplist_{kind}") is None:
            global_state.set_global_attribute(f"saving_attr_skiplist_{kind}", computed)


def save_checkpoint(model, directory: str | Path, state: dict[str, Any]) -> dict[str, Any]:
    """Write weights, then trial.json (last, so its presence means the weights are whole). Returns the state."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    model.save_weights(weights)
    _keep_keras_attribute_skipsets()  # from the second save on
    state = {
        **state,
        "model": dataclasses.asdict(model.config),
        "weights": {"size": weights.stat().st_size, "sha256": file_digest(weights)},
    }
    temporary = directory / f".{STATE_FILE}.partial"
    temporary.write_text(json.dumps(state, indent=2, default=float))
    temporary.replace(directory / STATE_FILE)  # atomic on POSIX: never a half-written trial.json
    return state


def read_state(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a complete vae-tune checkpoint: {STATE_FILE} is missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is damaged: {error}") from None


def verify_checkpoint(directory: str | Path) -> dict[str, Any]:
    """The checkpoint's state if its weights file is whole, else CheckpointError naming the file."""
    directory = Path(directory)
    state = read_state(directory)
    weights = directory / WEIGHTS_FILE
    expected = state.get("weights", {})
    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing")
    if weights.stat().st_size != expected.get("size") or file_digest(weights) != expected.get("sha256"):
        raise CheckpointError(f"{weights} is damaged: its size or SHA-256 differs from {STATE_FILE}")
    return state


def _checkpoint_number(path: Path) -> int | None:
    match = re.fullmatch(r"checkpoint_(\d+)", path.name)
    return int(match.group(1)) if match else None


def earlier_checkpoints(directory: str | Path) -> list[Path]:
    """Ray Tune's sibling `checkpoint_NNNNNN` directories numbered below `directory`, newest first."""
    directory = Path(directory)
    limit = _checkpoint_number(directory)
    numbered = [(_checkpoint_number(path), path) for path in directory.parent.glob("checkpoint_*")]
    return [path for number, path in sorted(numbered, reverse=True)
            if number is not None and (limit is None or number < limit)]


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
    state = verify_checkpoint(directory)
    # Adam creates its slots lazily; build them so the saved state has somewhere to go.
    model.optimizer.build(model.trainable_variables)
    model.load_weights(directory / WEIGHTS_FILE)
    return state


def load_model(directory: str | Path):
    """Rebuild a trained VAE from a checkpoint alone, for analysis."""
    import keras

    from vae_tune.model import build_vae
    from vae_tune.storage import fetch_checkpoint

    fetch_checkpoint(directory)  # a checkpoint listed from a remote study's mirror gets its weights now
    state = read_state(directory)
    training = training_config_of(state)
    model = build_vae(model_config_of(state), learning_rate=training.learning_rate)  # float32 whatever trained it
    if training.precision == "mixed_float16":
        # Its saved optimizer state includes the loss scale; give it somewhere to go.
        model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(training.learning_rate)))
    restore_checkpoint(model, directory)
    return model, state
