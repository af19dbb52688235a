"""The reparameterisation: z = mean + exp(0.5 * log_var) * eps, not the tutorial's exp(log_var)."""

import numpy as np

from vae_tune.training.model import Sampling

DRAWS = 50_000


def test_samples_have_the_standard_deviation_exp_half_log_var():
    # Columns where exp(0.5 * log_var) and exp(log_var) differ a lot (2.72 vs 7.39 at log_var = 2,
    # 0.37 vs 0.14 at -2), and one (log_var = 0) where they agree, as a control.
    log_var = np.array([2.0, -2.0, 0.0, 1.0], dtype=np.float32)
    mean = np.array([1.5, -3.0, 0.0, 10.0], dtype=np.float32)
    z_mean = np.broadcast_to(mean, (DRAWS, 4)).copy()
    z_log_var = np.broadcast_to(log_var, (DRAWS, 4)).copy()

    z = np.asarray(Sampling(seed=3)([z_mean, z_log_var]), dtype=np.float64)

    expected_std = np.exp(0.5 * log_var)
    # The standard error of a sample std over 50,000 draws is about 0.3 %.
    np.testing.assert_allclose(z.std(axis=0), expected_std, rtol=0.02)
    assert np.all(np.abs(z.mean(axis=0) - mean) < 5 * expected_std / np.sqrt(DRAWS))  # centred on the mean
    wrong = np.exp(log_var)  # the tutorial's bug
    differs = np.abs(wrong - expected_std) > 0.5 * expected_std
    assert not np.allclose(z.std(axis=0)[differs], wrong[differs], rtol=0.2)


def test_draws_are_standard_normal_noise_scaled_per_row():
    # Rows with different log-variances in one batch: each row's spread follows its own log_var.
    z_log_var = np.repeat(np.array([[2.0], [-2.0]], dtype=np.float32), DRAWS // 2, axis=0) * np.ones((1, 2), np.float32)
    z = np.asarray(Sampling(seed=5)([np.zeros_like(z_log_var), z_log_var]), dtype=np.float64)
    high, low = z[: DRAWS // 2], z[DRAWS // 2 :]
    np.testing.assert_allclose(high.std(), np.exp(1.0), rtol=0.02)
    np.testing.assert_allclose(low.std(), np.exp(-1.0), rtol=0.02)
