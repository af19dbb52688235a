"""A trial's checkpoint: weights, optimizer state, epoch counter and the config that rebuilds it.

Layout of a checkpoint directory:
  vae.weights.h5   model weights and Adam's state, iteration counter included (Keras 3's
                   save_weights stores a compiled model's optimizer variables too)
  trial.json       epoch, model and training config, searched params, the epoch's metrics,
                   and the weights file's size and SHA-256, written last

A checkpoint counts as complete only when trial.json parses and the weights
file matches its recorded size and digest, so one cut short by a crash, a full
disk or a half-finished copy is never mistaken for a good one.

A pruned checkpoint has lost its weights file; its trial.json stays, marked
"pruned" (why folders are never deleted: vae_tune.tuning.resume).

Keras is imported only by `load_model`: the results table reads checkpoint
files without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vae_tune.config import ModelConfig, TrainingConfig
from vae_tune.names import EPOCH, PRUNED, SEQUENCE, STATE_FILE, UNSCORED_FLAGS, WEIGHTS_FILE


class CheckpointError(ValueError):
    """A checkpoint directory is missing, incomplete or damaged; the message says which file."""


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(model, directory: str | Path, state: dict[str, Any]) -> dict[str, Any]:
    """Write weights, then trial.json (last, so its presence means the weights are whole). Returns the state."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    model.save_weights(weights)
    state = {
        **state,
        "model": dataclasses.asdict(model.config),
        "weights": {"size": weights.stat().st_size, "sha256": file_digest(weights)},
    }
    write_state(directory, state)
    return state


def write_state(directory: Path, state: dict[str, Any]) -> None:
    temporary = directory / f".{STATE_FILE}.partial"
    temporary.write_text(json.dumps(state, indent=2, default=float))
    temporary.replace(directory / STATE_FILE)  # atomic on POSIX: never a half-written trial.json


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


def _checkpoint_number(path: Path) -> int:
    match = re.fullmatch(r"checkpoint_(\d+)", path.name)
    return int(match.group(1)) if match else -1


def checkpoint_states(trial_dir: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """The trial's `checkpoint_*` folders with a readable trial.json (pruned ones too) and their states,
    newest first: by the sequence number each save records, then (checkpoints of older studies) by epoch.

    Not by folder number: a trial resumed from an older checkpoint writes its
    next ones over folders numbered after that one, and so does a PBT recipient
    over the checkpoint whose result made it exploit (Ray 2.60's PBT stops the
    trial before Tune registers that checkpoint, tune_controller.py,
    _process_trial_result; its row in result.json keeps its digest). Not by
    epoch: after a PBT exploit to a lower epoch, the trial's own older,
    higher-epoch checkpoints are not its newest.
    """
    found = []
    for directory in Path(trial_dir).glob("checkpoint_*"):
        try:
            state = read_state(directory)
        except CheckpointError:
            continue
        if isinstance(state.get(EPOCH), int):
            found.append((directory, state))
    return sorted(found, key=lambda item: (item[1].get(SEQUENCE, -1), item[1][EPOCH], _checkpoint_number(item[0])),
                  reverse=True)


def next_sequence(trial_dir: str | Path) -> int:
    """The sequence number of the trial's next checkpoint: past every one it saved, pruned ones too."""
    return max((state.get(SEQUENCE, -1) for _, state in checkpoint_states(trial_dir)), default=-1) + 1


def newest_checkpoints(trial_dir: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """`checkpoint_states` of the checkpoints that still have their weights."""
    return [(path, state) for path, state in checkpoint_states(trial_dir) if not state.get(PRUNED)]


def metric_of(state: dict[str, Any], metric: str) -> float:
    """The checkpoint epoch's value of `metric`; inf when missing, not finite, or a stand-in for a diverged or
    collapsed epoch, so such an epoch never counts as best."""
    metrics = state.get("metrics", {})
    value = metrics.get(metric)
    if any(metrics.get(flag) for flag in UNSCORED_FLAGS):
        return math.inf
    return value if isinstance(value, (int, float)) and math.isfinite(value) else math.inf


def prune_checkpoints(trial_dir: str | Path, metric: str, keep_newest: int = 2,
                      keep_epoch: Callable[[int], bool] | None = None) -> list[Path]:
    """Delete the weights of every checkpoint but the newest `keep_newest`, the one lowest in `metric`,
    and those whose epoch `keep_epoch` accepts.

    The newest two resume the trial (the second if the first is damaged), the
    best one is what the report draws; a PBT study keeps every checkpoint at a
    perturbation epoch, the only ones a donor is copied from (vae_tune.config.perturbation_epoch).
    Folders and trial.json files stay (vae_tune.tuning.resume says why). Returns the folders pruned.
    """
    checkpoints = newest_checkpoints(trial_dir)
    if len(checkpoints) <= keep_newest:
        return []

    best, _ = min(checkpoints, key=lambda item: metric_of(item[1], metric))
    keep = {path for path, _ in checkpoints[:keep_newest]} | {best}
    if keep_epoch is not None:
        keep |= {path for path, state in checkpoints if keep_epoch(state[EPOCH])}
    pruned = []
    for path, state in checkpoints:
        if path not in keep:
            write_state(path, {**state, PRUNED: True})  # first: a crash in between leaves it pruned, not damaged
            (path / WEIGHTS_FILE).unlink(missing_ok=True)
            pruned.append(path)
    return pruned


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

    from vae_tune.storage import fetch_checkpoint
    from vae_tune.training.model import build_vae

    fetch_checkpoint(directory)  # a checkpoint listed from a remote study's mirror gets its weights now
    state = read_state(directory)
    training = training_config_of(state)
    model = build_vae(model_config_of(state), learning_rate=training.learning_rate)  # float32 whatever trained it
    if training.precision == "mixed_float16":
        # Its saved optimizer state includes the loss scale; give it somewhere to go.
        model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(training.learning_rate)))
    restore_checkpoint(model, directory)
    return model, state
