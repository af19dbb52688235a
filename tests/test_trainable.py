import dataclasses
import math

import numpy as np
import pytest

from vae_tune.config import ObjectiveConfig
from vae_tune.data.dataset import load_dataset
from vae_tune.training.checkpoint import load_model, read_state
from vae_tune.training.scoring import objective
from vae_tune.training.trainer import TrialTrainer

PARAMS = {"kl_weight": 0.05}


def weights_of(model):
    return [np.asarray(v) for v in model.weights]


def test_the_objective_is_blur_plus_the_weighted_roughness():
    assert objective(0.4, 0.2, ObjectiveConfig(roughness_weight=1.0)) == pytest.approx(0.6)
    assert objective(0.4, 0.2, ObjectiveConfig(roughness_weight=0.5)) == pytest.approx(0.5)
    assert objective(0.4, 0.2, ObjectiveConfig(roughness_weight=0.0)) == pytest.approx(0.4)


def test_an_epoch_reports_every_score_as_a_finite_number(tiny_study):
    # A roughness weight other than 1, so an epoch that dropped the weight would not pass.
    study = dataclasses.replace(tiny_study, objective=dataclasses.replace(tiny_study.objective, roughness_weight=0.5))
    trainer = TrialTrainer(study, PARAMS, load_dataset(study.data))
    metrics = trainer.train_epoch()
    assert metrics["epoch"] == 1 and metrics["diverged"] is False
    for name in ("train/loss", "train/reconstruction_loss", "train/kl", "val/loss", "val/reconstruction_loss",
                 "val/kl", "val/blur", "val/roughness", "val/roughness_cross", "objective", "val/psnr",
                 "val/effective_blur_sigma", "val/kl_per_dim_max", "val/path_energy", "val/midpoint_sharpness"):
        assert math.isfinite(metrics[name]), name
    assert 0 <= metrics["val/active_units"] <= 8 and metrics["val/active_fraction"] == metrics["val/active_units"] / 8
    assert metrics["val/kl_per_dim_median"] <= metrics["val/kl_per_dim_max"] <= metrics["val/kl"]
    assert metrics["time/scoring_seconds"] > 0
    assert metrics["objective"] == pytest.approx(metrics["val/blur"] + 0.5 * metrics["val/roughness"])
    assert metrics["val/roughness"] > 0  # else the weight would not show in the objective
    # The per-image loss: reconstruction sum + kl_weight * KL.
    np.testing.assert_allclose(
        metrics["train/loss"], metrics["train/reconstruction_loss"] + 0.05 * metrics["train/kl"], rtol=1e-4
    )


def test_resume_continues_at_the_next_epoch_with_the_same_weights(tiny_study, tmp_path):
    dataset = load_dataset(tiny_study.data)
    first = TrialTrainer(tiny_study, PARAMS, dataset)
    first.train_epoch()
    metrics = first.train_epoch()
    first.save(tmp_path / "checkpoint", metrics)
    assert read_state(tmp_path / "checkpoint")["epoch"] == 2

    resumed = TrialTrainer(tiny_study, PARAMS, dataset)
    assert any(not np.array_equal(a, b) for a, b in zip(weights_of(first.model), weights_of(resumed.model)))
    resumed.restore(tmp_path / "checkpoint")
    assert resumed.epoch == 2
    for saved, restored in zip(weights_of(first.model), weights_of(resumed.model)):
        np.testing.assert_array_equal(saved, restored)
    assert int(resumed.model.optimizer.iterations) == int(first.model.optimizer.iterations) > 0

    # Both continue identically: same weights, optimizer state and epoch-seeded batches.
    after_resume = resumed.train_epoch()
    uninterrupted = first.train_epoch()
    assert after_resume["epoch"] == uninterrupted["epoch"] == 3
    np.testing.assert_allclose(after_resume["train/loss"], uninterrupted["train/loss"], rtol=1e-4)


def test_a_checkpoint_alone_rebuilds_the_model(tiny_study, tmp_path):
    trainer = TrialTrainer(tiny_study, {"kl_weight": 0.3, "latent_dim": 5}, load_dataset(tiny_study.data))
    trainer.save(tmp_path, trainer.train_epoch())
    model, state = load_model(tmp_path)
    assert model.config.latent_dim == 5 and model.config.kl_weight == 0.3
    assert state["params"] == {"kl_weight": 0.3, "latent_dim": 5}
    probe = trainer.probe.images[:4]
    np.testing.assert_allclose(model.decoder.predict_on_batch(model.encoder.predict_on_batch(probe)[0]),
                               trainer.model.decoder.predict_on_batch(trainer.model.encoder.predict_on_batch(probe)[0]),
                               atol=1e-6)


def test_a_diverging_trial_reports_a_finite_worst_objective(tiny_study):
    trainer = TrialTrainer(tiny_study, {"learning_rate": 1e9, "kl_weight": 1.0}, load_dataset(tiny_study.data))
    results = [trainer.train_epoch() for _ in range(2)]
    diverged = [r for r in results if r["diverged"]]
    assert diverged, "a learning rate of 1e9 should blow the loss up"
    for result in results:
        assert all(math.isfinite(result[name]) for name in ("objective", "val/blur", "val/roughness"))
    # The worst-case stand-ins, written by hand: above any real score (blur and roughness are about 0..2).
    assert {name: diverged[0][name] for name in ("objective", "val/blur", "val/roughness")} == {
        "objective": 10.0, "val/blur": 10.0, "val/roughness": 10.0}
    assert all(r["objective"] < 10.0 for r in results if not r["diverged"])
    assert None in (diverged[0]["train/loss"], diverged[0]["train/kl"])
