import numpy as np
import pytest
from keras import ops

from vae_tune.config import ModelConfig
from vae_tune.training.model import build_vae, gaussian_kl, reconstruction_error


@pytest.mark.parametrize("size, latent_dim", [(16, 4), (32, 8), (64, 16)])
def test_shapes_follow_the_config(size, latent_dim):
    model = build_vae(ModelConfig(image_size=size, latent_dim=latent_dim), learning_rate=1e-3)
    images = np.random.default_rng(0).random((5, size, size, 3), dtype=np.float32)
    outputs = model(images)
    assert outputs["reconstruction"].shape == (5, size, size, 3)
    assert outputs["z_mean"].shape == (5, latent_dim)
    assert outputs["z_log_var"].shape == (5, latent_dim)
    reconstruction = np.asarray(outputs["reconstruction"])
    assert reconstruction.min() >= 0.0 and reconstruction.max() <= 1.0  # sigmoid output
    # The tutorial's encoder: 3 stride-2 convs with 32/16/4 filters, so H/8 x W/8 x 4 features.
    assert model.encoder.get_layer("z_mean").input.shape[-1] == (size // 8) ** 2 * 4


def test_mean_and_log_variance_start_at_the_prior():
    model = build_vae(ModelConfig(image_size=16, latent_dim=4), learning_rate=1e-3)
    z_mean, z_log_var = model.encoder(np.ones((2, 16, 16, 3), np.float32))
    np.testing.assert_allclose(z_mean, 0.0)
    np.testing.assert_allclose(z_log_var, 0.0)


def test_kl_of_a_standard_normal_posterior_is_zero_and_positive_otherwise():
    zeros = ops.zeros((3, 6))
    np.testing.assert_allclose(gaussian_kl(zeros, zeros), 0.0, atol=1e-7)
    mean = ops.ones((3, 6))
    np.testing.assert_allclose(gaussian_kl(mean, zeros), 0.5 * 6)  # KL(N(1,1)||N(0,1)) = 1/2 per dim
    log_var = ops.full((3, 6), np.log(4.0))
    expected = -0.5 * (1 + np.log(4.0) - 4.0) * 6
    np.testing.assert_allclose(gaussian_kl(zeros, log_var), expected, rtol=1e-6)


def test_reconstruction_term_is_a_per_image_sum_and_zero_when_perfect():
    x = np.random.default_rng(1).random((4, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(reconstruction_error(x, x), 0.0)
    np.testing.assert_allclose(reconstruction_error(x, x + 0.1), 16 * 16 * 3 * 0.01, rtol=1e-5)


def test_chroma_weight_one_is_the_rgb_sum_of_squared_error():
    rng = np.random.default_rng(4)
    x, x_hat = rng.random((3, 16, 16, 3)).astype(np.float32), rng.random((3, 16, 16, 3)).astype(np.float32)
    by_hand = np.zeros(3, np.float32)
    for image in range(3):
        for channel in range(3):
            by_hand[image] += np.sum(np.square(x[image, ..., channel] - x_hat[image, ..., channel]))
    np.testing.assert_allclose(reconstruction_error(x, x_hat, chroma_weight=1.0), by_hand, rtol=1e-6)
    np.testing.assert_array_equal(reconstruction_error(x, x_hat, chroma_weight=1.0), reconstruction_error(x, x_hat))


@pytest.mark.parametrize("chroma_weight", [0.5, 2.0, 8.0])
def test_chroma_weight_scales_colour_errors_and_leaves_grey_errors_alone(chroma_weight):
    x = np.full((2, 16, 16, 3), 0.5, np.float32)
    grey_error = x - 0.1  # every channel off by 0.1: luminance only, 3 * 0.01 per pixel
    np.testing.assert_allclose(reconstruction_error(x, grey_error, chroma_weight), 16 * 16 * 0.03, rtol=1e-5)
    red_for_green = x + np.array([0.1, -0.1, 0.0], np.float32)  # channel sum unchanged: chroma only, 0.02 per pixel
    np.testing.assert_allclose(reconstruction_error(x, red_for_green, chroma_weight), chroma_weight * 16 * 16 * 0.02,
                               rtol=1e-5)
    blue_shift = x + np.array([0.0, 0.0, 0.3], np.float32)  # 0.09 per pixel: 0.03 luminance ((0.3)^2 / 3), 0.06 chroma
    np.testing.assert_allclose(reconstruction_error(x, blue_shift, chroma_weight),
                               16 * 16 * (0.03 + chroma_weight * 0.06), rtol=1e-5)


def test_loss_weights_the_chroma_error_by_the_configs_chroma_weight():
    x = np.full((4, 16, 16, 3), 0.5, np.float32)
    prediction = {"reconstruction": ops.convert_to_tensor(x + np.array([0.1, -0.1, 0.0], np.float32)),
                  "z_mean": ops.zeros((4, 4)), "z_log_var": ops.zeros((4, 4))}
    losses = {weight: float(build_vae(ModelConfig(image_size=16, latent_dim=4, chroma_weight=weight), 1e-3)
                            .compute_loss(x=x, y_pred=prediction)) for weight in (1.0, 4.0)}
    np.testing.assert_allclose(losses[1.0], 16 * 16 * 0.02, rtol=1e-5)
    np.testing.assert_allclose(losses[4.0], 4 * 16 * 16 * 0.02, rtol=1e-5)


def test_loss_is_reconstruction_plus_weighted_kl():
    config = ModelConfig(image_size=16, latent_dim=4, kl_weight=0.7)
    model = build_vae(config, learning_rate=1e-3)
    x = np.random.default_rng(2).random((6, 16, 16, 3)).astype(np.float32)
    prediction = {
        "reconstruction": ops.convert_to_tensor(x * 0.5),
        "z_mean": ops.ones((6, 4)),
        "z_log_var": ops.zeros((6, 4)),
    }
    loss = float(model.compute_loss(x=x, y_pred=prediction))
    expected = np.mean(np.sum((x * 0.5) ** 2, axis=(1, 2, 3)) + 0.7 * 2.0)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_fit_lowers_the_loss_and_tracks_both_terms():
    model = build_vae(ModelConfig(image_size=16, latent_dim=4), learning_rate=3e-3)
    x = np.random.default_rng(3).random((64, 16, 16, 3)).astype(np.float32)
    history = model.fit(x, batch_size=16, epochs=4, verbose=0).history
    assert {"loss", "reconstruction_loss", "kl"} <= set(history)
    assert history["loss"][-1] < history["loss"][0]
    assert history["kl"][-1] > 0
