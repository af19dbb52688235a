"""Images for a study: loaded once as uint8, split by identity, fed through tf.data.

The study driver calls `load_dataset` once; the arrays then travel to every
trial through Ray's object store, so no trial decodes or generates images
itself. Folder and Kaggle images are decoded once per node into a cache
(`vae_tune.data.cache`) that later loads memory-map. Inside a trial,
`training_batches` streams batches by index from that shared array instead of
embedding it in the graph as a constant.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vae_tune.config import DataConfig, DataError, ProbeConfig, StudyConfig
from vae_tune.log import logger


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 [N, H, W, 3], in memory or memory-mapped read-only
    labels: np.ndarray  # int64 [N], indexes label_names
    label_names: tuple[str, ...]
    ids: tuple[str, ...] = field(default=())  # stable identity per image (Kaggle id, relative path); default "0".."N-1"

    def __post_init__(self) -> None:
        if not self.ids:
            object.__setattr__(self, "ids", tuple(str(i) for i in range(len(self.images))))

    def __len__(self) -> int:
        return len(self.images)


def load_dataset(config: DataConfig) -> Dataset:
    """The study's images, from the configured source."""
    if config.source == "synthetic":
        from vae_tune.data.synthetic import CATEGORIES, generate_catalogue

        # Image i depends only on (seed, i), so its index is its identity.
        images, labels = generate_catalogue(config.samples, config.image_size, seed=config.seed)
        return Dataset(images, labels.astype(np.int64), tuple(CATEGORIES))
    from vae_tune.data.cache import load_decoded
    from vae_tune.data.decode import IMAGE_SUFFIXES

    if config.source == "folder":
        from vae_tune.data.folder import list_folder

        listing = list_folder(config.path)
    elif config.source == "kaggle":
        from vae_tune.data.kaggle import list_kaggle

        listing = list_kaggle(config.path, config.filters, config.label_column)
    else:
        raise ValueError(f"data.source: unknown source {config.source!r}")
    if not listing.paths:
        raise DataError(f"data.path: no image file in {listing.root} (searched for {' '.join(IMAGE_SUFFIXES)})")
    if len(listing.paths) > config.samples:
        # The `samples` lowest hashes: a subset spread over every label that keeps its members as files are added.
        chosen = np.argsort(identity_hashes(listing.ids, salt="samples"), kind="stable")[: config.samples]
        listing = listing.subset(np.sort(chosen))
    decoded = load_decoded(listing, config.image_size, config.cache_dir, config.workers)
    if not len(decoded.images):
        raise DataError(f"data.path: no usable image in {listing.root}; see {decoded.directory / 'manifest.json'}")
    label_of = dict(zip(listing.ids, listing.labels))
    label_names = tuple(sorted({label_of[i] for i in decoded.ids}))
    number = {name: n for n, name in enumerate(label_names)}
    labels = np.array([number[label_of[i]] for i in decoded.ids], dtype=np.int64)
    return Dataset(decoded.images, labels, label_names, decoded.ids)


def identity_hashes(ids: Sequence[str], salt: str) -> np.ndarray:
    """A number in [0, 1) per identity, the same on every machine and run (unlike Python's hash)."""
    digests = (hashlib.blake2b(f"{salt}\0{i}".encode(), digest_size=8).digest() for i in ids)
    return np.fromiter((int.from_bytes(d, "big") / 2.0**64 for d in digests), dtype=np.float64, count=len(ids))


def split_indices(ids: Sequence[str], validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) index arrays: an image is held out when the hash of its identity is low.

    Each image's side depends only on its own identity and the seed, so adding
    files moves none of the others, and every node and trial computes the same
    split. The validation share is `validation_fraction` on average; at least 2
    images are held out and at least 1 trained on.
    """
    if len(ids) < 3:
        raise DataError(f"data: {len(ids)} usable image(s); a train/validation split needs at least 3")
    scores = identity_hashes(ids, salt=f"split:{seed}")
    held_out = scores < validation_fraction
    order = np.argsort(scores, kind="stable")
    held_out[order[:2]] = True
    held_out[order[-1]] = False
    return np.flatnonzero(~held_out), np.flatnonzero(held_out)


def fit_study_to_dataset(study: StudyConfig, dataset: Dataset) -> StudyConfig:
    """`study` checked against the images actually loaded, in the driver before Ray starts.

    `validate` sees only `data.samples`, a cap for a folder or Kaggle dataset,
    not a count. Too few images to train on is a DataError naming the count and
    what is needed: every trial must get at least one full batch of the largest
    batch size it may draw (3 photos gave 17 trials of 1 training image, every
    epoch collapsed). A validation split smaller than the probe is not an error:
    the photos study holds out about 24 of ~100 photos, some folders more, some
    fewer, for a 24-image probe. The probe shrinks to the images and pairs the
    split holds, one warning says so, and the returned study (what study.json
    records and the trials get) says what every epoch is scored on.
    """
    data, count = study.data, len(dataset)
    searched = study.search.space.get("batch_size")
    batch = max(searched.values) if searched else study.training.batch_size
    batch_key = "the largest search.space.batch_size" if searched else "training.batch_size"
    train, validation = split_indices(dataset.ids, data.validation_fraction, data.seed) if count >= 3 else ((), ())
    if len(train) < batch:
        # The split holds out at least 2 images, and the hash split's share varies: "about".
        needed = max(batch + 2, math.ceil(batch / (1 - data.validation_fraction)))
        where = f" in {data.path}" if data.source != "synthetic" else ""
        split = f" ({len(train)} to train on, {len(validation)} held out)" if count >= 3 else ""
        raise DataError(
            f"data: {count} usable image{'s' * (count != 1)}{where}{split}; {batch_key} = {batch} needs at least "
            f"{batch} to train on, about {needed} images in all at validation_fraction {data.validation_fraction:g} "
            "(or a smaller batch_size)"
        )
    probe = study.probe
    pairs = min(probe.pairs, len(validation) // 2)  # distinct images per pair
    if len(validation) >= probe.images and pairs == probe.pairs:
        return study
    logger.warning(f"the validation split holds {len(validation)} of the {count} images: the probe scores "
                   f"{min(probe.images, len(validation))} images (probe.images = {probe.images}) and {pairs} pairs "
                   f"(probe.pairs = {probe.pairs}) every epoch; a higher data.validation_fraction holds out more")
    fitted = dataclasses.replace(probe, images=min(probe.images, len(validation)), pairs=pairs)
    return dataclasses.replace(study, probe=fitted)


@dataclass(frozen=True)
class Probe:
    """The fixed held-out images every trial of a study is scored on."""

    images: np.ndarray  # float32 [M, H, W, 3] in [0, 1]: blur is measured on these
    pair_starts: np.ndarray  # float32 [P, H, W, 3]: same-category interpolation sources
    pair_ends: np.ndarray  # float32 [P, H, W, 3]: their targets
    cross_starts: np.ndarray  # float32 [Q, H, W, 3]: different-category sources (Q may be 0)
    cross_ends: np.ndarray  # float32 [Q, H, W, 3]
    # The average training image, float32 [H, W, 3]: the trivial model (one image for every
    # input) a trained one must beat; None when the training split is not known.
    mean_image: np.ndarray | None = None
    # Training images scored like `images`, so train and validation PSNR can be compared
    # (overfitting on a small folder shows as the gap); None when not known.
    train_images: np.ndarray | None = None


# Training images in the probe: enough for a PSNR, few enough that the extra encode and
# decode stay a small part of scoring (64 of them made scoring ~1.5x slower at 64 px).
TRAIN_PROBE_IMAGES = 16


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


def make_probe(
    dataset: Dataset, validation: np.ndarray, probe: ProbeConfig, seed: int, train: np.ndarray | None = None
) -> Probe:
    """Probe images and pairs, all from the validation split, chosen by `seed` alone.

    With the `train` indices, also the mean training image and the first
    TRAIN_PROBE_IMAGES training images.
    """
    labels = dataset.labels[validation]
    within = validation[interpolation_pairs(labels, probe.pairs, seed)]
    across = validation[cross_category_pairs(labels, probe.cross_pairs, seed)]
    as_float = lambda indices: dataset.images[indices].astype(np.float32) / 255.0  # noqa: E731
    return Probe(
        images=as_float(validation[: probe.images]),
        pair_starts=as_float(within[:, 0]),
        pair_ends=as_float(within[:, 1]),
        cross_starts=as_float(across[:, 0]),
        cross_ends=as_float(across[:, 1]),
        mean_image=mean_image(dataset.images, train) if train is not None else None,
        train_images=as_float(train[:TRAIN_PROBE_IMAGES]) if train is not None else None,
    )


def mean_image(images: np.ndarray, indices: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """The average of `images[indices]` (uint8) as float32 [H, W, 3] in [0, 1], summed in chunks.

    Chunks keep the float64 copy small for a large memory-mapped dataset.
    """
    total = np.zeros(images.shape[1:], dtype=np.float64)
    for start in range(0, len(indices), chunk):
        total += images[np.sort(indices[start : start + chunk])].sum(axis=0, dtype=np.float64)
    return (total / (255.0 * max(len(indices), 1))).astype(np.float32)


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
