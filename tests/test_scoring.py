"""ProbeScorer: starts paired with their own ends, its KL the model's, and the objective's roughness weight."""

import numpy as np
import pytest
from keras import ops

from vae_tune.config import ConfigError, ModelConfig, ObjectiveConfig, load_study, study_from_dict, to_dict
from vae_tune.data.dataset import Probe, load_dataset
from vae_tune.training import scoring
from vae_tune.training.model import build_vae, gaussian_kl
from vae_tune.training.scoring import ProbeScorer

SIZE = 16


def images(seed: int, count: int) -> np.ndarray:
    return np.random.default_rng(seed).random((count, SIZE, SIZE, 3), dtype=np.float32)


class IdentityAutoencoder:
    """What the scorer needs of a model: an encoder to (mean, log_var) and a decoder, here exact inverses.

    z is the image itself, flattened, so decode(z_start) is the start image and a straight latent
    line decodes to an even cross-fade: blur and roughness are 0 for the right pairs, whatever they are.
    """

    config = ModelConfig(image_size=SIZE, latent_dim=SIZE * SIZE * 3, kl_weight=0.5)

    @staticmethod
    def encoder(x, training=False):
        z = ops.reshape(x, (ops.shape(x)[0], -1))
        return z, ops.zeros_like(z)

    @staticmethod
    def decoder(z, training=False):
        return ops.reshape(z, (ops.shape(z)[0], SIZE, SIZE, 3))


def hand_made_probe() -> Probe:
    """Every start and end a different random image, so a start paired with another pair's end shows."""
    return Probe(images=images(0, 6), pair_starts=images(1, 3), pair_ends=images(2, 3),
                 cross_starts=images(3, 2), cross_ends=images(4, 2), train_images=images(5, 4))


def test_interpolation_paths_run_from_each_start_to_its_own_end(monkeypatch):
    probe = hand_made_probe()
    seen = []

    def spy(name):
        original = getattr(scoring.metrics, name)

        def recorded(path, sources, targets):
            seen.append((name, np.asarray(path), np.asarray(sources), np.asarray(targets)))
            return original(path, sources, targets)

        monkeypatch.setattr(scoring.metrics, name, recorded)

    spy("roughness_terms")  # the within-category pairs
    spy("roughness")  # the cross-category pairs
    scores = ProbeScorer(probe, ObjectiveConfig(), interpolation_steps=4).score(IdentityAutoencoder())

    # (metrics.roughness calls roughness_terms in turn: the first roughness_terms call is the scorer's own.)
    _, within, sources, targets = next(call for call in seen if call[0] == "roughness_terms")
    _, across, cross_sources, cross_targets = next(call for call in seen if call[0] == "roughness")
    assert within.shape == (3, 5, SIZE, SIZE, 3) and across.shape == (2, 5, SIZE, SIZE, 3)
    np.testing.assert_array_equal(sources, probe.pair_starts)
    np.testing.assert_array_equal(targets, probe.pair_ends)
    np.testing.assert_array_equal(cross_sources, probe.cross_starts)
    np.testing.assert_array_equal(cross_targets, probe.cross_ends)
    # Path k begins at decode(encode(start k)) and ends at decode(encode(end k)): the same pair.
    np.testing.assert_allclose(within[:, 0], probe.pair_starts, atol=1e-6)
    np.testing.assert_allclose(within[:, -1], probe.pair_ends, atol=1e-6)
    np.testing.assert_allclose(across[:, 0], probe.cross_starts, atol=1e-6)
    np.testing.assert_allclose(across[:, -1], probe.cross_ends, atol=1e-6)
    # Hence a perfect model's scores: nothing blurred, every morph even and the whole way.
    assert scores["val/blur"] == pytest.approx(0.0, abs=1e-6)
    assert scores["val/roughness_shortfall"] == pytest.approx(0.0, abs=1e-5)
    assert scores["val/roughness_unevenness"] == pytest.approx(0.0, abs=1e-4)
    assert scores["val/roughness_cross"] == pytest.approx(0.0, abs=1e-4)
    assert scores["val/psnr"] == 100.0 and scores["train/psnr"] == 100.0


def test_val_kl_is_the_models_kl_at_the_posterior_mean():
    config = ModelConfig(image_size=SIZE, latent_dim=6, kl_weight=0.3)
    model = build_vae(config, learning_rate=1e-3)
    # The latent heads start at zero (KL 0 for every image): give them weights, so each image has its own posterior.
    rng = np.random.default_rng(7)
    for name in ("z_mean", "z_log_var"):
        layer = model.encoder.get_layer(name)
        layer.kernel.assign(rng.normal(0, 0.3, layer.kernel.shape).astype(np.float32))
        layer.bias.assign(rng.normal(0, 0.5, layer.bias.shape).astype(np.float32))
    probe = hand_made_probe()
    scores = ProbeScorer(probe, ObjectiveConfig(), interpolation_steps=4).score(model)

    z_mean, z_log_var = model.encoder(probe.images, training=False)
    per_image = np.asarray(gaussian_kl(z_mean, z_log_var))
    assert per_image.std() > 0.01 * per_image.mean() > 0  # the images' KLs differ: a mix-up would show
    assert scores["val/kl"] == pytest.approx(float(per_image.mean()), rel=1e-5)
    reconstruction = np.asarray(model.decoder(z_mean, training=False))
    squared_error = float(np.square(probe.images - reconstruction).sum(axis=(1, 2, 3)).mean())
    assert scores["val/reconstruction_loss"] == pytest.approx(squared_error, rel=1e-5)
    assert scores["val/loss"] == pytest.approx(squared_error + 0.3 * float(per_image.mean()), rel=1e-5)


def test_roughness_weight_loads_validates_and_survives_the_saved_study():
    study = load_study("smoke", ["objective.roughness_weight=0.25"])
    assert study.objective.roughness_weight == 0.25
    assert study_from_dict(to_dict(study)).objective.roughness_weight == 0.25  # as study.json keeps it
    with pytest.raises(ConfigError, match=r"objective.roughness_weight: must be >= 0, got -0.5"):
        load_study("smoke", ["objective.roughness_weight=-0.5"])


def test_a_scored_epoch_weighs_roughness_by_roughness_weight():
    from conftest import TINY_OVERRIDES

    from vae_tune.training.trainer import TrialTrainer

    study = load_study("smoke", TINY_OVERRIDES + ["objective.roughness_weight=0.25"])
    metrics = TrialTrainer(study, {"kl_weight": 0.05}, load_dataset(study.data)).train_epoch()
    blur, roughness = metrics["val/blur"], metrics["val/roughness"]
    assert roughness > 0.05  # a weight of 1 would give a visibly different objective
    assert metrics["objective"] == pytest.approx(blur + 0.25 * roughness, rel=1e-9)
    assert metrics["objective"] != pytest.approx(blur + roughness, rel=1e-3)
