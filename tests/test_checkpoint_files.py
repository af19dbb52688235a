"""Checkpoint files on disk: damage that keeps the size, and which checkpoint counts as newest."""

import json
from pathlib import Path

import numpy as np
import pytest

from vae_tune.config import ModelConfig
from vae_tune.training.checkpoint import (
    STATE_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    checkpoint_states,
    newest_checkpoints,
    restore_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)
from vae_tune.training.model import build_vae

CONFIG = ModelConfig(image_size=16, latent_dim=4)


def test_weights_damaged_in_place_without_changing_size_are_detected(tmp_path):
    model = build_vae(CONFIG, learning_rate=1e-3)
    save_checkpoint(model, tmp_path, {"epoch": 1})
    assert verify_checkpoint(tmp_path)["epoch"] == 1  # whole, it passes

    weights = tmp_path / WEIGHTS_FILE
    size = weights.stat().st_size
    data = bytearray(weights.read_bytes())
    middle = size // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])  # bit rot, a bad copy
    weights.write_bytes(bytes(data))
    assert weights.stat().st_size == size

    with pytest.raises(CheckpointError, match=rf"{weights}.*damaged"):
        verify_checkpoint(tmp_path)
    fresh = build_vae(CONFIG, learning_rate=1e-3)
    before = [np.asarray(v).copy() for v in fresh.weights]
    with pytest.raises(CheckpointError, match=rf"{weights}.*damaged"):
        restore_checkpoint(fresh, tmp_path)
    for old, new in zip(before, fresh.weights):  # nothing half-loaded
        np.testing.assert_array_equal(old, np.asarray(new))


def write_checkpoint(trial_dir: Path, number: int, epoch, **extra) -> Path:
    """A checkpoint folder with only its trial.json, as Tune numbers and the trainable writes it."""
    folder = trial_dir / f"checkpoint_{number:06d}"
    folder.mkdir()
    (folder / STATE_FILE).write_text(json.dumps({"epoch": epoch, "metrics": {"objective": 1.0}, **extra}))
    return folder


def test_checkpoints_are_ordered_by_epoch_not_by_folder_number(tmp_path):
    # A trial resumed from an older checkpoint writes its next epochs into higher-numbered folders:
    # the folder number says nothing about which epoch is newest.
    write_checkpoint(tmp_path, 5, epoch=2)
    write_checkpoint(tmp_path, 3, epoch=4)
    write_checkpoint(tmp_path, 4, epoch=3, pruned=True)
    write_checkpoint(tmp_path, 1, epoch=1)
    write_checkpoint(tmp_path, 9, epoch="?")  # no epoch it can order by: left out
    (tmp_path / "checkpoint_000007").mkdir()  # no trial.json: not a checkpoint

    states = checkpoint_states(tmp_path)
    assert [(path.name, state["epoch"]) for path, state in states] == [
        ("checkpoint_000003", 4), ("checkpoint_000004", 3), ("checkpoint_000005", 2), ("checkpoint_000001", 1)]
    assert [path.name for path, _ in newest_checkpoints(tmp_path)] == [
        "checkpoint_000003", "checkpoint_000005", "checkpoint_000001"]  # the pruned one has no weights


def test_the_same_epoch_twice_prefers_the_later_folder(tmp_path):
    # A resumed trial that trains an epoch again writes it into a new folder: that one is newest.
    write_checkpoint(tmp_path, 2, epoch=3)
    write_checkpoint(tmp_path, 6, epoch=3)
    write_checkpoint(tmp_path, 4, epoch=2)
    assert [path.name for path, _ in checkpoint_states(tmp_path)] == [
        "checkpoint_000006", "checkpoint_000002", "checkpoint_000004"]


def test_a_checkpoint_keeps_its_chroma_weight_and_one_saved_before_it_existed_loads_as_weight_one(tmp_path):
    from vae_tune.training.checkpoint import load_model

    config = ModelConfig(image_size=16, latent_dim=4, chroma_weight=4.0)
    model = build_vae(config, learning_rate=1e-3)
    state = save_checkpoint(model, tmp_path / "checkpoint_000000",
                            {"epoch": 1, "training": {"learning_rate": 1e-3, "precision": "float32"}})
    assert state["model"]["chroma_weight"] == 4.0
    assert load_model(tmp_path / "checkpoint_000000")[0].config.chroma_weight == 4.0
    older = json.loads((tmp_path / "checkpoint_000000" / STATE_FILE).read_text())
    del older["model"]["chroma_weight"]
    (tmp_path / "checkpoint_000000" / STATE_FILE).write_text(json.dumps(older))
    assert load_model(tmp_path / "checkpoint_000000")[0].config.chroma_weight == 1.0
