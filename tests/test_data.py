import numpy as np
import pytest

from vae_tune.config import DataConfig, DataError, ProbeConfig, load_study
from vae_tune.data.dataset import (
    Dataset,
    fit_study_to_dataset,
    interpolation_pairs,
    load_dataset,
    make_probe,
    split_indices,
    training_batches,
)

IDS = [f"photos/{i:05d}.jpg" for i in range(2000)]


def test_split_is_deterministic_disjoint_and_complete():
    train, validation = split_indices(IDS, 0.2, seed=3)
    again_train, again_validation = split_indices(list(IDS), 0.2, seed=3)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(validation, again_validation)
    assert 0.17 < len(validation) / len(IDS) < 0.23
    assert set(train).isdisjoint(validation)
    assert sorted([*train, *validation]) == list(range(len(IDS)))
    assert not np.array_equal(validation, split_indices(IDS, 0.2, seed=4)[1])


def test_split_keeps_every_image_on_its_side_when_files_are_added_or_reordered():
    held_out = {IDS[i] for i in split_indices(IDS[:1500], 0.2, seed=0)[1]}
    grown = IDS[1500:] + IDS[:1500][::-1]  # new files first, old ones in another order
    held_out_after = {grown[i] for i in split_indices(grown, 0.2, seed=0)[1]}
    assert held_out_after & set(IDS[:1500]) == held_out


def test_split_of_a_tiny_dataset_holds_out_two_and_trains_on_the_rest():
    train, validation = split_indices(["a", "b", "c", "d"], 0.01, seed=0)
    assert len(validation) == 2 and len(train) == 2
    train, validation = split_indices(["a", "b", "c"], 0.99, seed=0)
    assert len(validation) == 2 and len(train) == 1
    with pytest.raises(DataError, match="at least 3"):
        split_indices(["a", "b"], 0.5, seed=0)


def test_synthetic_split_is_deterministic():
    dataset = load_dataset(DataConfig(image_size=16, samples=40))
    assert dataset.ids == tuple(str(i) for i in range(40))
    first = split_indices(dataset.ids, 0.25, seed=0)
    np.testing.assert_array_equal(first[1], split_indices(load_dataset(DataConfig(image_size=16, samples=40)).ids, 0.25, 0)[1])


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
    dataset = load_dataset(DataConfig(image_size=16, samples=80))
    _, validation = split_indices(dataset.ids, 0.25, seed=0)
    assert len(validation) >= 6
    probe = make_probe(dataset, validation, ProbeConfig(images=6, pairs=2), seed=0)
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


def test_cross_pairs_join_different_categories_and_leave_same_category_pairs_alone():
    from vae_tune.data.dataset import cross_category_pairs

    labels = np.repeat(np.arange(4), 5)
    pairs = cross_category_pairs(labels, count=5, seed=0)
    assert pairs.shape == (5, 2)
    assert all(labels[a] != labels[b] for a, b in pairs)
    assert cross_category_pairs(np.zeros(10, int), count=3, seed=0).shape == (0, 2)  # one category: none


def test_probe_has_both_pair_sets_from_validation():
    dataset = load_dataset(DataConfig(image_size=16, samples=60))
    _, validation = split_indices(dataset.ids, 0.5, seed=0)
    probe = make_probe(dataset, validation, ProbeConfig(pairs=3, cross_pairs=4), seed=0)
    assert probe.pair_starts.shape[0] == 3 and probe.cross_starts.shape == probe.cross_ends.shape == (4, 16, 16, 3)
    validation_images = {dataset.images[i].tobytes() for i in validation}
    for image in [*probe.pair_starts, *probe.cross_ends]:
        assert (np.round(image * 255).astype(np.uint8)).tobytes() in validation_images


def ten_photos() -> Dataset:
    """10 images whose split at validation_fraction 0.01 holds out exactly the split's minimum of 2."""
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.full((1, 16, 16, 3), 20, np.uint8)
    return Dataset(images, np.zeros(10, np.int64), ("all",), tuple(f"photo{i}" for i in range(10)))


def test_fewer_images_than_a_batch_to_train_on_is_refused_with_the_count_and_what_is_needed():
    study = load_study("smoke", ["data.validation_fraction=0.01"])  # training.batch_size = 32
    with pytest.raises(DataError) as refused:
        fit_study_to_dataset(study, ten_photos())
    assert str(refused.value) == (
        "data: 10 usable images (8 to train on, 2 held out); training.batch_size = 32 needs at least 32 to train on, "
        "about 34 images in all at validation_fraction 0.01 (or a smaller batch_size)")
    searched = load_study("smoke", ["data.validation_fraction=0.01", "training.batch_size=4",
                                    'search.space.batch_size={distribution="choice", values=[4, 16]}'])
    with pytest.raises(DataError, match=r"the largest search.space.batch_size = 16 needs at least 16 to train on"):
        fit_study_to_dataset(searched, ten_photos())


def test_a_validation_split_smaller_than_the_probe_shrinks_the_probe_and_says_so(warned):
    study = load_study("smoke", ["data.validation_fraction=0.01", "training.batch_size=8"])  # probe: 32 images, 4 pairs
    with warned(r"the validation split holds 2 of the 10 images: the probe scores 2 images \(probe.images = 32\) "
                r"and 1 pairs \(probe.pairs = 4\)"):
        fitted = fit_study_to_dataset(study, ten_photos())
    assert (fitted.probe.images, fitted.probe.pairs) == (2, 1)
    assert fitted.probe.cross_pairs == study.probe.cross_pairs and fitted.data == study.data
    roomy = load_study("smoke", ["training.batch_size=4", "probe.images=2", "probe.pairs=1", "probe.cross_pairs=0"])
    assert fit_study_to_dataset(roomy, ten_photos()) is roomy  # nothing to fit: the same study
