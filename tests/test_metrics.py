"""Property tests for vae_tune.metrics on images built here with numpy only."""

from __future__ import annotations

import numpy as np
import pytest

from vae_tune import metrics
from vae_tune.data.synthetic import generate_catalogue

SIGMAS = (0.0, 0.5, 1.0, 2.0, 4.0)


# --- test images ----------------------------------------------------------------


gaussian_blur = metrics.gaussian_blur


def smooth_fields(count: int, size: int, seed: int, scale: float = 2.0) -> np.ndarray:
    """Gaussian-filtered white noise (FFT), rescaled to [0, 1] per image."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, size, size, 3))
    freq = np.fft.fftfreq(size)
    radius2 = freq[:, None] ** 2 + freq[None, :] ** 2
    transfer = np.exp(-2 * (np.pi * scale) ** 2 * radius2)[None, :, :, None]
    fields = np.real(np.fft.ifft2(np.fft.fft2(noise, axes=(1, 2)) * transfer, axes=(1, 2)))
    low = fields.min(axis=(1, 2, 3), keepdims=True)
    high = fields.max(axis=(1, 2, 3), keepdims=True)
    return (fields - low) / (high - low)


def products(count: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Striped coloured ellipses and rectangles on white, like catalogue photos."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size] / size
    centre = rng.uniform(0.35, 0.65, (count, 2, 1, 1))
    radii = rng.uniform(0.15, 0.3, (count, 2, 1, 1))
    ellipse = ((rows - centre[:, 0]) / radii[:, 0]) ** 2 + ((cols - centre[:, 1]) / radii[:, 1]) ** 2 < 1
    box = (np.abs(rows - centre[:, 1]) < 0.1) & (np.abs(cols - centre[:, 0]) < 0.35)
    period = rng.uniform(0.06, 0.15, (count, 1, 1))
    stripes = (np.sin(2 * np.pi * (rows + 0.5 * cols) / period) > 0)[..., None]
    colour = rng.uniform(0.1, 0.8, (count, 2, 1, 1, 3))
    body = np.where(stripes, colour[:, 0], colour[:, 1])
    images = np.ones((count, size, size, 3))
    images = np.where(box[..., None], 0.5 * colour[:, 1], images)
    return np.where(ellipse[..., None], body, images)


@pytest.fixture(scope="module", params=["products", "fields"])
def originals(request) -> np.ndarray:
    if request.param == "products":
        return products(8, 64, seed=1)
    return smooth_fields(8, 64, seed=2)


# --- blur -----------------------------------------------------------------------


def test_blur_zero_for_perfect_reconstruction(originals):
    assert abs(metrics.blur(originals, originals.copy())) < 1e-9
    assert abs(metrics.blur(originals.astype(np.float32), originals.astype(np.float32))) < 1e-9


def test_blur_rises_strictly_with_gaussian_blur(originals):
    scores = [metrics.blur(originals, gaussian_blur(originals, s)) for s in SIGMAS]
    assert all(np.isfinite(scores))
    assert np.all(np.diff(scores) > 0), scores
    assert scores[-1] < 1.5


@pytest.mark.parametrize("sigma", SIGMAS[:4])
@pytest.mark.parametrize("noise", [0.02, 0.05, 0.1])
def test_noise_never_lowers_blur(originals, sigma, noise):
    rng = np.random.default_rng(int(100 * sigma + 1000 * noise))
    blurred = gaussian_blur(originals, sigma)
    noisy = np.clip(blurred + rng.normal(0, noise, blurred.shape), 0, 1)
    assert metrics.blur(originals, noisy) > metrics.blur(originals, blurred)


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0])
def test_checkerboard_artefact_raises_blur(originals, sigma):
    blurred = gaussian_blur(originals, sigma)
    size = originals.shape[1]
    checker = 0.05 * (-1.0) ** np.add.outer(np.arange(size), np.arange(size))[None, :, :, None]
    artefact = np.clip(blurred + checker, 0, 1)
    assert metrics.blur(originals, artefact) > metrics.blur(originals, blurred)


def test_blur_terms_mean_reproduced_share():
    x = products(4, 64, seed=3)
    grey = np.repeat(x.mean(axis=-1, keepdims=True), 3, axis=-1)  # same luminance: detail intact
    half = 0.5 * grey + 0.25  # half the luminance detail, in place, no colour, nothing else
    terms = metrics.blur_terms(grey, half)
    np.testing.assert_allclose(terms["gains"], 0.5)
    np.testing.assert_allclose(terms["errors"], 0.0, atol=1e-12)
    assert terms["detail"] == pytest.approx(0.5)
    assert len(terms["gains"]) == metrics.pyramid_levels(64) == 4
    assert metrics.pyramid_levels(128) == 5 and metrics.pyramid_levels(16) == 2 and metrics.pyramid_levels(8) == 1
    # Colour: a grey rendering loses all of it, rotated channels turn it by 120 degrees, 2 - 2 cos 120 = 3.
    assert metrics.blur_terms(x, grey)["colour"] == pytest.approx(1.0)
    assert metrics.blur_terms(x, x[..., [1, 2, 0]])["colour"] == pytest.approx(3.0)
    assert metrics.blur_terms(x, grey)["detail"] == pytest.approx(0.0, abs=1e-12)
    assert metrics.blur(x, grey) == pytest.approx(metrics.COLOUR_WEIGHT)
    assert metrics.colour_fidelity(x, grey) == 0.0 and metrics.colour_fidelity(x, x.copy()) == 1.0
    assert metrics.blur(x, np.full_like(x, 0.5)) == pytest.approx(1.0 + metrics.COLOUR_WEIGHT)


def test_blur_flat_originals_are_finite():
    white = np.ones((4, 32, 32, 3))
    assert metrics.blur(white, white.copy()) == 0.0
    assert metrics.blur(white, np.full_like(white, 0.9)) == pytest.approx(0.0, abs=1e-12)  # flat, another level
    tinted = metrics.blur(white, np.clip(white - [0, 0, 0.1], 0, 1))  # grey originals, yellow reconstruction
    assert np.isfinite(tinted) and tinted > 0
    noisy = np.clip(white - np.abs(np.random.default_rng(0).normal(0, 0.05, white.shape)), 0, 1)
    score = metrics.blur(white, noisy)
    assert np.isfinite(score) and score > 0
    assert metrics.blur(white, np.clip(white - 2 * (white - noisy), 0, 1)) > score


def test_blur_smallest_size_and_catalogue():
    x = products(2, 16, seed=4)
    assert np.isfinite(metrics.blur(x, gaussian_blur(x, 1.0)))
    images, _ = generate_catalogue(8, 64, 0)
    x = np.asarray(images, dtype=np.float64) / 255.0
    scores = [metrics.blur(x, gaussian_blur(x, s)) for s in SIGMAS]
    assert np.all(np.diff(scores) > 0), scores


@pytest.mark.parametrize(
    "x, x_hat",
    [
        (np.zeros((2, 32, 32, 3)), np.zeros((2, 32, 16, 3))),
        (np.zeros((32, 32, 3)), np.zeros((32, 32, 3))),
        (np.zeros((2, 32, 32, 4)), np.zeros((2, 32, 32, 4))),
        (np.zeros((2, 6, 6, 3)), np.zeros((2, 6, 6, 3))),
        (np.zeros((2, 32, 32, 3), np.uint8), np.zeros((2, 32, 32, 3), np.uint8)),
    ],
)
def test_bad_image_shapes_raise(x, x_hat):
    with pytest.raises(ValueError):
        metrics.blur(x, x_hat)
    with pytest.raises(ValueError):
        metrics.psnr(x, x_hat)


# --- decoders for paths ---------------------------------------------------------

SIZE = 32


class CountingDecoder:
    """Decoder from a latent [t, c...] to images, counting its calls.

    The image is `profile(t) * detail + c @ basis`: the first coordinate moves
    along a fixed image difference by `profile`, the rest decode linearly.
    """

    def __init__(self, profile, latent_dim: int = 4, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.profile = profile
        self.detail = products(1, SIZE, seed=seed + 10)[0] - 0.5
        self.basis = rng.normal(0, 0.1, (latent_dim - 1, SIZE * SIZE * 3))
        self.calls = []

    def __call__(self, z):
        self.calls.append((z.shape, z.dtype))
        t = self.profile(z[:, 0].astype(np.float64))
        return (t[:, None, None, None] * self.detail + (z[:, 1:] @ self.basis).reshape(-1, SIZE, SIZE, 3)).astype(
            np.float32
        )


def linear(t):
    return t


def jump(t):
    return (t > 0.47).astype(np.float64)


def sigmoid(t):
    return 1.0 / (1.0 + np.exp(-(t - 0.5) / 0.2))


def endpoints(pairs: int = 3, latent_dim: int = 4, seed: int = 5):
    rng = np.random.default_rng(seed)
    z_start = rng.normal(size=(pairs, latent_dim))
    z_end = z_start.copy()
    z_start[:, 0], z_end[:, 0] = 0.0, 1.0
    return z_start, z_end


def linear_decoder(weights):
    return lambda z: (z @ weights).reshape(len(z), SIZE, SIZE, 3)


# --- interpolation_path ---------------------------------------------------------


@pytest.mark.parametrize("batch_size, calls", [(512, 1), (51, 1), (50, 2), (20, 3)])
def test_interpolation_path_batches_and_shape(batch_size, calls):
    decode = CountingDecoder(linear)
    z_start, z_end = endpoints(pairs=3)
    path = metrics.interpolation_path(decode, z_start, z_end, steps=16, batch_size=batch_size)
    assert path.shape == (3, 17, SIZE, SIZE, 3)
    assert len(decode.calls) == calls
    assert all(dtype == np.float32 and shape[0] <= batch_size for shape, dtype in decode.calls)
    np.testing.assert_allclose(path[:, 0], decode(z_start.astype(np.float32)), atol=1e-6)
    np.testing.assert_allclose(path[:, -1], decode(z_end.astype(np.float32)), atol=1e-6)


def test_interpolation_path_bad_latents_raise():
    decode = CountingDecoder(linear)
    z_start, z_end = endpoints()
    with pytest.raises(ValueError):
        metrics.interpolation_path(decode, z_start, z_end[:2])
    with pytest.raises(ValueError):
        metrics.interpolation_path(decode, z_start[0], z_end[0])
    with pytest.raises(ValueError):
        metrics.interpolation_path(decode, z_start, z_end, steps=0)


# --- roughness ------------------------------------------------------------------


def path_roughness(decode, z_start, z_end, steps=16):
    """roughness of a decoder judged against its own endpoints: a faithful model, so only evenness counts."""
    path = metrics.interpolation_path(decode, z_start, z_end, steps)
    return metrics.roughness(path, path[:, 0], path[:, -1])


def test_roughness_zero_for_linear_decoder():
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.1, (6, SIZE * SIZE * 3)).astype(np.float32)
    z_start, z_end = rng.normal(size=(2, 4, 6))
    decode = linear_decoder(weights)
    assert abs(path_roughness(decode, z_start, z_end)) < 1e-6
    assert abs(path_roughness(CountingDecoder(linear), *endpoints())) < 1e-6


def test_roughness_ranks_jump_above_smooth_morph():
    smooth = path_roughness(CountingDecoder(sigmoid), *endpoints())
    jumpy = path_roughness(CountingDecoder(jump), *endpoints())
    assert 0 < smooth < jumpy
    assert jumpy == pytest.approx(np.sqrt(15), rel=1e-6)  # one jump in 16 steps


@pytest.mark.parametrize("profile", [linear, sigmoid])
def test_roughness_of_smooth_paths_is_step_independent(profile):
    coarse = path_roughness(CountingDecoder(profile), *endpoints(), steps=16)
    fine = path_roughness(CountingDecoder(profile), *endpoints(), steps=32)
    assert abs(fine - coarse) <= 0.1 * coarse + 1e-6


def test_roughness_of_jumpy_path_rises_with_steps():
    coarse = path_roughness(CountingDecoder(jump), *endpoints(), steps=16)
    fine = path_roughness(CountingDecoder(jump), *endpoints(), steps=32)
    assert fine > coarse


def test_still_paths_are_finite_and_as_rough_as_missing_the_whole_way():
    constant = lambda z: np.full((len(z), SIZE, SIZE, 3), 0.7, np.float32)  # noqa: E731
    z_start, z_end = endpoints()
    real = CountingDecoder(linear)
    sources, targets = real(z_start.astype(np.float32)), real(z_end.astype(np.float32))
    path = metrics.interpolation_path(constant, z_start, z_end)
    assert metrics.roughness_terms(path, sources, targets) == {"unevenness": 0.0, "shortfall": 1.0}
    assert metrics.roughness(path, sources, targets) == 1.0
    assert metrics.path_energy(path) == 0.0
    assert metrics.midpoint_sharpness_ratio(path) == 1.0  # flat endpoints
    # The same product at both ends has nowhere to go: standing still is right.
    same = metrics.interpolation_path(CountingDecoder(jump), z_start, z_start)
    assert metrics.roughness(same, same[:, 0], same[:, -1]) == 0.0
    assert metrics.path_energy(same) == 0.0
    assert metrics.midpoint_sharpness_ratio(same) == pytest.approx(1.0)


def test_shortfall_is_the_share_of_the_way_not_covered():
    z_start, z_end = endpoints()
    real = CountingDecoder(linear)
    sources, targets = real(z_start.astype(np.float32)), real(z_end.astype(np.float32))
    full = metrics.interpolation_path(real, z_start, z_end)
    half = 0.5 * full + 0.5 * full[:, :1]  # covers the first half of the way, evenly
    np.testing.assert_allclose(metrics.travel_shortfall(half, sources, targets), 0.5, atol=1e-6)
    assert metrics.roughness(half, sources, targets) == pytest.approx(0.5, abs=1e-6)
    beyond = 2.0 * full - full[:, :1]  # overshoots: no shortfall
    np.testing.assert_allclose(metrics.travel_shortfall(beyond, sources, targets), 0.0, atol=1e-6)


def test_bad_path_shapes_raise():
    images = np.zeros((2, SIZE, SIZE, 3))
    with pytest.raises(ValueError):
        metrics.roughness(np.zeros((17, SIZE, SIZE, 3)), images, images)
    with pytest.raises(ValueError):
        metrics.roughness(np.zeros((2, 1, SIZE, SIZE, 3)), images, images)
    with pytest.raises(ValueError):
        metrics.roughness(np.zeros((2, 5, SIZE, SIZE, 3)), images[:1], images[:1])
    with pytest.raises(ValueError):
        metrics.path_energy(np.zeros((2, 5, SIZE, SIZE, 1)))


# --- diagnostics ----------------------------------------------------------------


def test_psnr():
    x = products(2, 32, seed=0)
    assert metrics.psnr(x, x.copy()) == metrics.PSNR_CAP_DB
    assert metrics.psnr(x, x + 0.1) == pytest.approx(20.0)
    assert 0 <= metrics.psnr(np.zeros_like(x), np.ones_like(x)) < 1e-9


def test_active_units():
    rng = np.random.default_rng(0)
    mu = np.concatenate([rng.normal(0, 1, (200, 3)), rng.normal(0, 0.01, (200, 5))], axis=1)
    assert metrics.active_units(mu) == 3
    assert metrics.active_units(mu[:1]) == 0
    with pytest.raises(ValueError):
        metrics.active_units(mu[0])


def test_path_energy_of_straight_path_is_endpoint_mse():
    z_start, z_end = endpoints()
    decode = CountingDecoder(linear)
    start, end = decode(z_start.astype(np.float32)), decode(z_end.astype(np.float32))
    mse = np.mean((end.astype(np.float64) - start) ** 2)
    for steps in (4, 16, 32):
        path = metrics.interpolation_path(decode, z_start, z_end, steps)
        assert metrics.path_energy(path) == pytest.approx(mse, rel=1e-4)
    jumpy = metrics.interpolation_path(CountingDecoder(jump), z_start, z_end)
    assert metrics.path_energy(jumpy) > 10 * mse


def test_midpoint_ratio_cross_fade_and_morph():
    images = products(4, SIZE, seed=7).reshape(4, -1)
    cross_fade = linear_decoder(images)
    eye = np.eye(4)
    path = metrics.interpolation_path(cross_fade, eye[:2], eye[2:], steps=16)
    assert 0.3 < metrics.midpoint_sharpness_ratio(path) < 0.7
    odd = metrics.interpolation_path(cross_fade, eye[:2], eye[2:], steps=5)
    assert 0.3 < metrics.midpoint_sharpness_ratio(odd) < 0.8

    canvas = products(1, SIZE, seed=8)[0]

    def translate(z):  # slides the product sideways by up to 8 pixels (white wraps around)
        shift = np.round(8 * z[:, 0]).astype(int)
        columns = (np.arange(SIZE)[None, :] - shift[:, None]) % SIZE
        return canvas[:, columns].transpose(1, 0, 2, 3)

    morph = metrics.interpolation_path(translate, np.zeros((2, 1)), np.ones((2, 1)))
    assert 0.9 < metrics.midpoint_sharpness_ratio(morph) < 1.1


def test_effective_blur_sigma_recovers_the_blur_applied():
    x = products(6, size=64, seed=3)
    calibration = metrics.blur_calibration(x)
    assert np.all(np.diff(calibration) >= 0) and calibration[0] == pytest.approx(0.0, abs=1e-9)
    for sigma in (0.75, 1.5, 2.5):
        estimate = metrics.effective_blur_sigma(metrics.blur(x, gaussian_blur(x, sigma)), calibration)
        assert abs(estimate - sigma) < 0.35 * sigma, (sigma, estimate)
    assert metrics.effective_blur_sigma(5.0, calibration) == metrics.CALIBRATION_SIGMAS[-1]
