"""Images for a study: loaded once as uint8, split deterministically, fed through tf.data.

The study driver calls `load_dataset` once; the arrays then travel to every
trial through Ray's object store, so no trial decodes or generates images
itself. Inside a trial, `training_batches` streams batches by index from that
shared array instead of embedding it in the graph as a constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vae_tune.config import DataConfig, ObjectiveConfig


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 [N, H, W, 3]
    labels: np.ndarray  # int64 [N], indexes label_names
    label_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)


def load_dataset(config: DataConfig) -> Dataset:
    """The study's images, from the configured source."""
    if config.source == "synthetic":
        from vae_tune.data.synthetic import CATEGORIES, generate_catalogue

        images, labels = generate_catalogue(config.samples, config.image_size, seed=config.seed)
        return Dataset(images, labels.astype(np.int64), tuple(CATEGORIES))
    if config.source == "folder":
        from vae_tune.data.folder import load_folder

        return load_folder(config.path, config.image_size, limit=config.samples)
    raise ValueError(f"data.source: unknown source {config.source!r}")


def split_indices(count: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle cut into (train, validation) index arrays, the same for every trial."""
    order = np.random.default_rng(seed).permutation(count)
    validation_count = max(2, int(count * validation_fraction))
    return np.sort(order[validation_count:]), np.sort(order[:validation_count])


@dataclass(frozen=True)
class Probe:
    """The fixed held-out images every trial of a study is scored on."""

    images: np.ndarray  # float32 [M, H, W, 3] in [0, 1]: blur is measured on these
    pair_starts: np.ndarray  # float32 [P, H, W, 3]: same-category interpolation sources
    pair_ends: np.ndarray  # float32 [P, H, W, 3]: their targets
    cross_starts: np.ndarray  # float32 [Q, H, W, 3]: different-category sources (Q may be 0)
    cross_ends: np.ndarray  # float32 [Q, H, W, 3]


def interpolation_pairs(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` index pairs [count, 2] of distinct items, within one category where possible.

    Like the tutorial's source/target pairs (two t-shirts, two shoes), so the
    interpolation is a morph between products of a kind. Categories take turns
    so the pairs cover as many of them as there are pairs.
    """
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    pairs: list[tuple[int, int]] = []
    position = 0
    while len(pairs) < count and any(position + 1 < len(members) for members in pools):
        for members in pools:
            if position + 1 < len(members) and len(pairs) < count:
                pairs.append((int(members[position]), int(members[position + 1])))
        position += 2
    if len(pairs) < count:  # too few same-category items: fill with any distinct pairs
        used = {i for pair in pairs for i in pair}
        spare = [int(i) for i in rng.permutation(len(labels)) if int(i) not in used]
        pairs += list(zip(spare[0::2], spare[1::2]))[: count - len(pairs)]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def cross_category_pairs(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` index pairs [count, 2] whose two items have different labels (fewer if impossible)."""
    rng = np.random.default_rng(seed + 1)  # a stream of its own: same-category pairs stay as they were
    order = rng.permutation(len(labels))
    pairs: list[tuple[int, int]] = []
    for first, second in zip(order[0::2], order[1::2]):
        if labels[first] != labels[second]:
            pairs.append((int(first), int(second)))
        if len(pairs) == count:
            break
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def make_probe(dataset: Dataset, validation: np.ndarray, objective: ObjectiveConfig, seed: int) -> Probe:
    """Probe images and pairs, all from the validation split, chosen by `seed` alone."""
    labels = dataset.labels[validation]
    within = validation[interpolation_pairs(labels, objective.probe_pairs, seed)]
    across = validation[cross_category_pairs(labels, objective.probe_cross_pairs, seed)]
    as_float = lambda indices: dataset.images[indices].astype(np.float32) / 255.0  # noqa: E731
    return Probe(
        images=as_float(validation[: objective.probe_images]),
        pair_starts=as_float(within[:, 0]),
        pair_ends=as_float(within[:, 1]),
        cross_starts=as_float(across[:, 0]),
        cross_ends=as_float(across[:, 1]),
    )


def training_batches(images: np.ndarray, indices: np.ndarray, batch_size: int, seed: int, replicas: int = 1):
    """A tf.data pipeline of float32 batches in [0, 1], shuffled by `seed`.

    The trainable passes a seed per epoch, so a trial resumed at epoch k sees
    the same batches as one that never stopped.

    With several replicas every batch must split into equal, non-empty shares:
    an empty share breaks BatchNorm and an unequal one weighs images unequally.
    Full batches do (batch_size is a multiple of `replicas`); of the last one,
    the at most `replicas - 1` images that would not are left out, different
    ones each epoch since they are cut after the shuffle.

    Batches are gathered from the shared uint8 array by index in a numpy_function,
    so the array is never copied into the graph (a 2 GB constant limit, and a
    copy per trial) and stays zero-copy in Ray's object store.
    """
    import tensorflow as tf

    height, width, channels = images.shape[1:]

    def gather(batch_indices):
        return images[batch_indices]

    def to_float(batch_indices):
        batch = tf.numpy_function(gather, [batch_indices], tf.uint8, stateful=False)
        batch = tf.ensure_shape(batch, [None, height, width, channels])
        return tf.cast(batch, tf.float32) / 255.0

    usable = len(indices) - (len(indices) % batch_size) % replicas
    return (
        tf.data.Dataset.from_tensor_slices(indices)
        .shuffle(len(indices), seed=seed, reshuffle_each_iteration=False)
        .take(usable)
        .batch(batch_size, drop_remainder=False)
        .map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
