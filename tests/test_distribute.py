"""Trials across several devices: MirroredStrategy on a CPU split into logical devices, precision, fallbacks."""

import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from vae_tune.data.dataset import load_dataset, training_batches
from vae_tune.training.checkpoint import load_model
from vae_tune.training.distribute import choose_devices
from vae_tune.training.trainer import TrialTrainer
from vae_tune.tuning.resources import check_batch_split

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def replica_runs(tmp_path_factory):
    """The same trial on 1 and on 2 logical CPU devices, each in a fresh process (see replica_run.py)."""
    runs = {}
    for replicas in (1, 2):
        out = tmp_path_factory.mktemp(f"replicas{replicas}")
        done = subprocess.run([sys.executable, str(ROOT / "tests" / "replica_run.py"), str(replicas), str(out)],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        step = np.load(out / "first_step.npz")
        result["loss"] = float(step["loss"])
        result["gradients"] = [step[f"arr_{i}"] for i in range(len(step.files) - 1)]
        runs[replicas] = result
    return runs


def test_two_replicas_compute_the_first_step_of_one(replica_runs):
    one, two = replica_runs[1], replica_runs[2]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert two["devices"].startswith("MirroredStrategy, 2 replicas on CPU:0, CPU:1")
    # Same global batch: same per-image loss, and the replicas' summed gradients are the global ones.
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-6)
    assert len(two["gradients"]) == len(one["gradients"]) > 20
    moving = [g for g in one["gradients"] if np.abs(g).max() > 0]
    assert len(moving) >= 15  # the decoder and latent heads; the encoder's convs wait for the zero-initialised heads
    for single, mirrored in zip(one["gradients"], two["gradients"]):
        np.testing.assert_allclose(mirrored, single, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(single).max()))


def test_reported_metrics_mean_the_same_on_two_replicas(replica_runs):
    one, two = replica_runs[1]["epoch_1"], replica_runs[2]["epoch_1"]
    assert (one["device/replicas"], two["device/replicas"]) == (1, 2)
    for name in ("train/loss", "train/reconstruction_loss", "train/kl", "val/loss", "val/reconstruction_loss", "objective"):
        assert math.isfinite(two[name]), name
        assert two[name] == pytest.approx(one[name], rel=1e-3), name


def test_a_two_replica_trial_checkpoints_and_resumes(replica_runs):
    run = replica_runs[2]
    assert run["resumed_epoch"] == 1
    assert run["resumed_2"]["epoch"] == run["epoch_2"]["epoch"] == 2
    assert run["resumed_2"]["train/loss"] == pytest.approx(run["epoch_2"]["train/loss"], rel=1e-5)
    assert run["resumed_2"]["objective"] == pytest.approx(run["epoch_2"]["objective"], rel=1e-5)


def test_every_replica_gets_an_equal_share_of_every_batch():
    images = np.zeros((73, 4, 4, 3), dtype=np.uint8)
    sizes = lambda replicas: [len(b) for b in training_batches(images, np.arange(73), 16, seed=0, replicas=replicas)]  # noqa: E731
    assert sizes(1) == [16, 16, 16, 16, 9]
    # An odd last batch would leave one replica a share short (or empty, which breaks BatchNorm).
    assert sizes(2) == [16, 16, 16, 16, 8]
    assert sizes(4) == [16, 16, 16, 16, 8]
    with pytest.raises(ValueError, match=r"training.batch_size: 30 does not split evenly across 4 replicas"):
        check_batch_split(30, 4)


def test_gpus_tensorflow_cannot_see_fall_back_to_cpu_in_one_line():
    devices = choose_devices(gpu_ids=[0, 1], precision="auto")
    assert devices.replicas == 1 and devices.devices == ("CPU:0",)
    assert devices.precision == "float32"  # auto: mixed precision is for GPUs
    assert devices.describe() == devices.fallback
    assert devices.fallback.startswith("Ray assigned GPU 0,1 but TensorFlow sees no GPU") and "\n" not in devices.fallback


def test_mixed_precision_trains_in_float16_with_float32_variables_and_loss(tiny_study, tmp_path):
    import dataclasses

    study = dataclasses.replace(tiny_study, training=dataclasses.replace(tiny_study.training, precision="mixed_float16"))
    trainer = TrialTrainer(study, {"kl_weight": 0.05}, load_dataset(study.data))
    assert keras.config.dtype_policy().name == "float32"  # the policy applied to this model only
    conv = trainer.model.encoder.layers[1]
    assert (conv.compute_dtype, conv.kernel.dtype) == ("float16", "float32")
    assert type(trainer.model.optimizer).__name__ == "LossScaleOptimizer"
    assert trainer.model.decoder.output.dtype == trainer.model.encoder.output[1].dtype == "float32"
    metrics = trainer.train_epoch()
    assert not metrics["diverged"] and math.isfinite(metrics["objective"]) and metrics["train/loss"] > 0
    trainer.save(tmp_path, metrics)
    model, _ = load_model(tmp_path)  # analysis rebuilds it in float32
    assert model.encoder.layers[1].compute_dtype == "float32"
    np.testing.assert_allclose(np.asarray(model.encoder.layers[1].kernel), np.asarray(conv.kernel))
