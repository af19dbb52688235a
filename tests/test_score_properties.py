"""What the scores must do, checked on real product photos and on the synthetic catalogue, at 64 and 128 px.

A score is right when it ranks models the way a person looking at their
pictures would: sharper is better, right colours are better, a model that
ignores its input is worst, and a morph that stands still is no morph. The
degradations are the failures users meet (vae_tune.analysis.degradations).
The real photos are ../shared/data/fashion-pairs; their cases skip when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vae_tune import metrics
from vae_tune.analysis import degradations
from vae_tune.data.synthetic import generate_catalogue

PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fashion-pairs"
STEPS = 16
PAIRS = 8


def real_photos(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(sources, targets): 16 real pairs of products of a kind, as the folder source decodes them."""
    from vae_tune.data.decode import decode_image

    if not (PHOTOS / "source").is_dir():
        pytest.skip(f"no real photos at {PHOTOS}")
    names = sorted(path.name for path in (PHOTOS / "source").iterdir())[:16]
    load = lambda side: np.stack([decode_image(PHOTOS / side / name, size) for name in names])  # noqa: E731
    return load("source") / 255.0, load("target") / 255.0


def catalogue(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(sources, targets): 16 synthetic products, paired with the next product."""
    images, _ = generate_catalogue(32, size, seed=3)
    images = images / 255.0
    return images[0::2], images[1::2]


@pytest.fixture(scope="module", params=[("real", 64), ("real", 128), ("synthetic", 64), ("synthetic", 128)],
                ids=lambda param: f"{param[0]}-{param[1]}px")
def photos(request):
    kind, size = request.param
    sources, targets = (real_photos if kind == "real" else catalogue)(size)
    return {"x": np.concatenate([sources, targets]), "sources": sources[:PAIRS], "targets": targets[:PAIRS]}


@pytest.fixture(scope="module")
def blur_of(photos):
    reference = metrics.BlurReference(photos["x"])
    cases = degradations.reconstructions(photos["x"])
    return {name: reference.blur(x_hat) for name, x_hat in cases.items()}


def test_perfect_reconstruction_scores_zero(blur_of):
    assert blur_of["perfect"] == pytest.approx(0.0, abs=1e-9)


def test_blur_rises_with_gaussian_blur_and_separates_neighbours(blur_of):
    scores = [blur_of[f"blur {sigma:g} px"] for sigma in degradations.SIGMAS]
    assert scores[0] >= 0.05
    assert np.all(np.diff(scores) >= 0.05), dict(zip(degradations.SIGMAS, scores))


def test_lost_colour_scores_at_least_as_badly_as_a_half_pixel_blur(blur_of):
    assert blur_of["grey"] >= blur_of["blur 0.5 px"]
    assert blur_of["sepia"] >= blur_of["blur 0.5 px"]


def test_rotated_colours_score_at_least_as_badly_as_a_one_pixel_blur(blur_of):
    assert blur_of["rotated channels"] >= blur_of["blur 1 px"]


def test_a_flat_image_of_the_mean_colour_scores_worse_than_an_eight_pixel_blur(blur_of):
    assert blur_of["flat mean colour"] > blur_of["blur 8 px"]


@pytest.mark.parametrize("sigma", [0.0, 1.0, 4.0])
@pytest.mark.parametrize("noise", [0.02, 0.1])
def test_noise_never_lowers_blur(photos, sigma, noise):
    x = photos["x"]
    blurred = metrics.gaussian_blur(x, sigma) if sigma else x
    noisy = np.clip(blurred + np.random.default_rng(int(10 * sigma + 100 * noise)).normal(0, noise, x.shape), 0, 1)
    assert metrics.blur(x, noisy) > metrics.blur(x, blurred)


def test_a_collapsed_decoder_has_a_worse_objective_than_a_blurred_even_cross_fade(photos):
    rows = {row["case"]: row for row in degradations.score_table(photos["x"], photos["sources"], photos["targets"])}
    blurred = rows["even cross-fade, blur 4 px"]["objective"]
    assert rows["collapsed to the mean image"]["objective"] > blurred
    assert rows["collapsed to flat grey"]["objective"] > blurred


def test_a_still_path_is_no_smoother_than_an_even_one(photos):
    sources, targets = photos["sources"], photos["targets"]
    even = metrics.roughness(degradations.cross_fade(sources, targets, STEPS), sources, targets)
    blurred_even = metrics.roughness(degradations.cross_fade(sources, targets, STEPS, sigma=4.0), sources, targets)
    for image in (photos["x"].mean(axis=0), np.full(sources.shape[1:], 0.5)):
        still = metrics.roughness(degradations.still_path(image, len(sources), STEPS), sources, targets)
        assert still >= blurred_even >= even
        assert still == pytest.approx(1.0)
