"""The embedded default dataset: deterministic, balanced, product-on-white pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vae_tune.data import synthetic
from vae_tune.data.synthetic import CATEGORIES, contact_sheet, generate_catalogue

K = len(CATEGORIES)


def test_same_seed_gives_identical_images_and_labels():
    images_a, labels_a = generate_catalogue(2 * K, 32, seed=7)
    images_b, labels_b = generate_catalogue(2 * K, 32, seed=7)
    np.testing.assert_array_equal(images_a, images_b)
    np.testing.assert_array_equal(labels_a, labels_b)


def test_different_seed_gives_different_images():
    images_a, _ = generate_catalogue(K, 32, seed=0)
    images_b, _ = generate_catalogue(K, 32, seed=1)
    assert not np.array_equal(images_a, images_b)


def test_first_images_do_not_depend_on_count():
    long_images, long_labels = generate_catalogue(3 * K + 5, 32, seed=3)
    short_images, short_labels = generate_catalogue(K + 3, 32, seed=3)
    np.testing.assert_array_equal(long_images[: K + 3], short_images)
    np.testing.assert_array_equal(long_labels[: K + 3], short_labels)


@pytest.mark.parametrize("image_size", [16, 32, 128])
def test_shapes_dtypes_and_labels(image_size):
    images, labels = generate_catalogue(2 * K, image_size)
    assert images.shape == (2 * K, image_size, image_size, 3)
    assert images.dtype == np.uint8
    assert labels.shape == (2 * K,)
    assert labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() < K
    assert set(labels.tolist()) == set(range(K))


@pytest.mark.parametrize("count", [1, K - 1, K, 3 * K + 4])
def test_categories_are_balanced(count):
    _, labels = generate_catalogue(count, 16, seed=5)
    per_category = np.bincount(labels, minlength=K)
    assert per_category.max() - per_category.min() <= 1
    assert per_category.sum() == count


def test_products_sit_on_white_background():
    images, labels = generate_catalogue(4 * K, 128, seed=11)
    corners = images[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 255).all()
    # At full size nothing touches the frame: the product is centred, with a margin.
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert (border == 255).all()
    covered = (images.min(axis=-1) < 245).mean(axis=(1, 2))
    for category in range(K):
        share = covered[labels == category]
        assert share.min() > 0.05, f"{CATEGORIES[category]} too small: {share.min():.3f}"
        assert share.max() < 0.8, f"{CATEGORIES[category]} too large: {share.max():.3f}"


def test_colours_patterns_and_poses_vary_within_a_category():
    images, labels = generate_catalogue(8 * K, 32, seed=2)
    for category in range(K):
        group = images[labels == category].astype(np.float64)
        assert len(group) == 8
        # No two images of a category are the same picture.
        flat = group.reshape(len(group), -1)
        distances = np.abs(flat[:, None] - flat[None]).mean(axis=-1)
        assert distances[~np.eye(len(group), dtype=bool)].min() > 1.0, CATEGORIES[category]
        # The product's mean colour differs between images (colour varies, not only pose).
        product = group.min(axis=-1) < 245
        means = np.stack([g[p].mean(axis=0) for g, p in zip(group, product)])
        assert means.std(axis=0).max() > 10.0, CATEGORIES[category]


def _style(pattern: str, angle: float = 0.0) -> synthetic._Style:
    return synthetic._Style(
        colour=(34, 45, 78),
        colour_name="navy",
        pattern=pattern,
        second=(234, 234, 230),
        period=0.25,
        duty=0.5,
        angle=angle,
        folds=0.0,
        fold_phase=0.0,
        outline=(20, 25, 43),
    )


@pytest.mark.parametrize(
    ("pattern", "low", "high"),
    [("plain", 0.0, 0.0), ("stripes", 0.4, 0.6), ("checks", 0.6, 0.9), ("dots", 0.25, 0.5)],
)
def test_pattern_covers_its_share_of_the_cloth(pattern, low, high):
    # Frame coordinates over [-1, 1]^2, as the drawing functions use them.
    v, u = np.mgrid[-1:1:128j, -1:1:128j].astype(np.float32)
    texture = np.asarray(synthetic._texture(u, v, _style(pattern), 1.0)).astype(np.float64)
    second = texture.mean(axis=-1) > 130  # the light second colour, against navy
    assert low <= second.mean() <= high


def test_stripes_follow_their_angle():
    v, u = np.mgrid[-1:1:128j, -1:1:128j].astype(np.float32)
    horizontal = np.asarray(synthetic._texture(u, v, _style("stripes", 0.0), 1.0)).mean(axis=-1)
    vertical = np.asarray(synthetic._texture(u, v, _style("stripes", np.pi / 2), 1.0)).mean(axis=-1)
    # Horizontal stripes change down a column, not along a row; vertical ones the opposite.
    assert np.abs(np.diff(horizontal, axis=0)).max() > 100 > np.abs(np.diff(horizontal, axis=1)).max()
    assert np.abs(np.diff(vertical, axis=1)).max() > 100 > np.abs(np.diff(vertical, axis=0)).max()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "count must be at least 1"),
        ({"count": 4, "image_size": 24}, "multiple of 16"),
        ({"count": 4, "image_size": 0}, "multiple of 16"),
        ({"count": 4, "image_size": -32}, "multiple of 16"),
        ({"count": 4, "seed": -1}, "seed must be a non-negative"),
        ({"count": 2.5}, "count must be an integer"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_catalogue(**kwargs)


def test_contact_sheet_tiles_with_captions():
    images, labels = generate_catalogue(K + 2, 32)
    sheet = contact_sheet(images, labels, columns=4)
    assert isinstance(sheet, Image.Image)
    rows = -(-(K + 2) // 4)
    # 32px tiles are enlarged to 64px so that a caption fits under each.
    assert sheet.width == 2 + 4 * (64 + 2)
    assert sheet.height > 2 + rows * (64 + 2)
    with pytest.raises(ValueError, match="labels"):
        contact_sheet(images, labels[:-1])
