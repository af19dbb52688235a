import warnings

import numpy as np
import pytest
from PIL import Image

from vae_tune.config import DataConfig, ObjectiveConfig
from vae_tune.data.dataset import (
    Dataset,
    interpolation_pairs,
    load_dataset,
    make_probe,
    split_indices,
    training_batches,
)
from vae_tune.data.folder import load_folder


def test_split_is_deterministic_disjoint_and_complete():
    train, validation = split_indices(100, 0.2, seed=3)
    again_train, again_validation = split_indices(100, 0.2, seed=3)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(validation, again_validation)
    assert len(validation) == 20
    assert set(train).isdisjoint(validation)
    assert sorted([*train, *validation]) == list(range(100))
    assert not np.array_equal(validation, split_indices(100, 0.2, seed=4)[1])


def test_pairs_are_distinct_and_within_a_category():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    pairs = interpolation_pairs(labels, count=4, seed=0)
    assert pairs.shape == (4, 2)
    assert all(a != b and labels[a] == labels[b] for a, b in pairs)
    assert len({labels[a] for a, _ in pairs}) == 3  # categories take turns
    np.testing.assert_array_equal(pairs, interpolation_pairs(labels, count=4, seed=0))


def test_pairs_fall_back_to_mixed_categories_when_needed():
    labels = np.arange(6)  # every item its own category
    pairs = interpolation_pairs(labels, count=2, seed=0)
    assert pairs.shape == (2, 2) and all(a != b for a, b in pairs)


def test_probe_comes_from_validation_images():
    dataset = load_dataset(DataConfig(image_size=16, samples=40))
    _, validation = split_indices(40, 0.25, seed=0)
    probe = make_probe(dataset, validation, ObjectiveConfig(probe_images=6, probe_pairs=2), seed=0)
    assert probe.images.shape == (6, 16, 16, 3) and probe.images.dtype == np.float32
    assert probe.pair_starts.shape == probe.pair_ends.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(probe.images[0], dataset.images[validation[0]] / 255.0)


def test_training_batches_cover_each_index_once_in_a_seeded_order():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones((1, 16, 16, 3), np.uint8)
    indices = np.array([1, 3, 4, 7, 9])

    def order(seed):
        batches = list(training_batches(images, indices, batch_size=2, seed=seed))
        assert [len(b) for b in batches] == [2, 2, 1]
        return [int(round(float(image[0, 0, 0]) * 255)) for batch in batches for image in batch.numpy()]

    first = order(seed=0)
    assert sorted(first) == [1, 3, 4, 7, 9]
    assert order(seed=0) == first
    assert any(order(seed=s) != first for s in range(1, 5))


def test_folder_loader_keeps_aspect_labels_and_skips_broken_files(tmp_path):
    (tmp_path / "shoes").mkdir()
    (tmp_path / "bags").mkdir()
    Image.new("RGB", (60, 80), (200, 0, 0)).save(tmp_path / "shoes" / "tall.jpg")  # a Kaggle-style portrait
    Image.new("L", (40, 40), 50).save(tmp_path / "shoes" / "gray.png")
    Image.new("RGBA", (32, 32), (0, 0, 255, 0)).save(tmp_path / "bags" / "transparent.png")
    (tmp_path / "bags" / "broken.jpg").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image.*broken.jpg"):
        dataset = load_folder(tmp_path, image_size=16)
    assert isinstance(dataset, Dataset) and dataset.images.shape == (3, 16, 16, 3)
    assert dataset.label_names == ("bags", "shoes")
    by_name = dict(zip(["transparent", "gray", "tall"], dataset.images))
    np.testing.assert_array_equal(by_name["transparent"], 255)  # transparent pixels become white
    tall = by_name["tall"].astype(int)
    assert tall[8, 0].tolist() == [255, 255, 255]  # padded with white at the sides, not stretched
    assert tall[8, 8, 0] > 150 and tall[8, 8, 1] < 60


def test_folder_without_images_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"no usable image in .*"):
        load_folder(tmp_path, image_size=16)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_folder(tmp_path / "missing", image_size=16)


def test_cross_pairs_join_different_categories_and_leave_same_category_pairs_alone():
    from vae_tune.data.dataset import cross_category_pairs

    labels = np.repeat(np.arange(4), 5)
    pairs = cross_category_pairs(labels, count=5, seed=0)
    assert pairs.shape == (5, 2)
    assert all(labels[a] != labels[b] for a, b in pairs)
    assert cross_category_pairs(np.zeros(10, int), count=3, seed=0).shape == (0, 2)  # one category: none


def test_probe_has_both_pair_sets_from_validation():
    dataset = load_dataset(DataConfig(image_size=16, samples=60))
    _, validation = split_indices(60, 0.5, seed=0)
    probe = make_probe(dataset, validation, ObjectiveConfig(probe_pairs=3, probe_cross_pairs=4), seed=0)
    assert probe.pair_starts.shape[0] == 3 and probe.cross_starts.shape == probe.cross_ends.shape == (4, 16, 16, 3)
    validation_images = {dataset.images[i].tobytes() for i in validation}
    for image in [*probe.pair_starts, *probe.cross_ends]:
        assert (np.round(image * 255).astype(np.uint8)).tobytes() in validation_images
