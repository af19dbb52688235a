"""Pictures decoded by a trained model: interpolations, hybrids, per-category morphs, prior samples.

Each function takes the model (and real images where it needs them) and
returns a PIL image, an exact grid of tiles of the model's image size with
2px gutters (see `imaging.image_grid`), or for animations an array of frames.
All decode posterior means, not samples, so a picture is the same each time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vae_tune import metrics
from vae_tune.data.dataset import Probe
from vae_tune.imaging import image_grid, to_uint8


# Plain eager calls rather than predict_on_batch: a handful of small batches of varying size,
# which predict_on_batch would retrace (and warn about) for every new shape.
def encode(model, images: np.ndarray) -> np.ndarray:
    """Posterior means of float images in [0, 1]: [N, latent_dim]."""
    return np.asarray(model.encoder(np.asarray(images, dtype=np.float32), training=False)[0])


def decode(model, latents: np.ndarray) -> np.ndarray:
    return np.asarray(model.decoder(np.asarray(latents, dtype=np.float32), training=False))


def interpolation_rows(model, starts: np.ndarray, ends: np.ndarray, steps: int) -> np.ndarray:
    """[P, T+3, H, W, 3]: per pair the real source, the decoded path z_0..z_T, the real target."""
    z_starts, z_ends = np.split(encode(model, np.concatenate([starts, ends])), 2)
    path = metrics.interpolation_path(lambda z: decode(model, z), z_starts, z_ends, steps=steps)
    return np.concatenate([starts[:, None], path, ends[:, None]], axis=1)


def interpolation_grid(model, probe: Probe, steps: int = 8) -> Image.Image:
    """Rows of pairs; columns: the source image, the decoded path z_0..z_T, the target image.

    The outer columns are the real images, so a person sees both how well the
    ends are reconstructed and how the model morphs between them.
    """
    return image_grid(interpolation_rows(model, probe.pair_starts, probe.pair_ends, steps))


def hybrid_grid(model, probe: Probe) -> Image.Image:
    """Rows of pairs; columns: source, the decoded mean of the two latent vectors, target."""
    z_starts, z_ends = np.split(encode(model, np.concatenate([probe.pair_starts, probe.pair_ends])), 2)
    hybrids = decode(model, (z_starts + z_ends) / 2)
    return image_grid(np.stack([probe.pair_starts, hybrids, probe.pair_ends], axis=1))


def category_pairs(labels: np.ndarray, pairs_per_category: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random index pairs within each category that has two or more items: ([rows, 2], category of each row)."""
    rng = np.random.default_rng(seed)
    pairs, categories = [], []
    for category in np.unique(labels):
        members = np.flatnonzero(labels == category)
        for _ in range(pairs_per_category if len(members) >= 2 else 0):
            pairs.append(rng.choice(members, size=2, replace=False))
            categories.append(category)
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2), np.asarray(categories, dtype=np.int64)


def category_morph_grid(model, images: np.ndarray, labels: np.ndarray, label_names, steps: int,
                        pairs_per_category: int = 1, seed: int = 0) -> tuple[Image.Image, list[str]]:
    """Random pairs within one category per row (the tutorial's Figure 7), and each row's category name.

    `images` are uint8 or float [N, H, W, 3] with integer `labels` indexing `label_names`.
    """
    pairs, categories = category_pairs(labels, pairs_per_category, seed)
    if not len(pairs):
        raise ValueError("no category has two images to morph between")
    as_float = to_float(images)
    rows = interpolation_rows(model, as_float[pairs[:, 0]], as_float[pairs[:, 1]], steps)
    return image_grid(rows), [label_names[c] for c in categories]


def prior_sample_grid(model, rows: int = 4, columns: int = 8, seed: int = 0) -> Image.Image:
    """Images decoded from z ~ N(0, I): what the model makes of the prior it was pulled towards."""
    latent_dim = model.decoder.input_shape[-1]
    latents = np.random.default_rng(seed).standard_normal((rows * columns, latent_dim))
    samples = decode(model, latents)
    return image_grid(samples.reshape(rows, columns, *samples.shape[1:]))


def interpolation_frames(model, source: np.ndarray, target: np.ndarray, steps: int) -> np.ndarray:
    """uint8 [T+3, H, W, 3]: the real source, the decoded path z_0..z_T, the real target."""
    return to_uint8(interpolation_rows(model, to_float(source)[None], to_float(target)[None], steps)[0])


def save_gif(frames: np.ndarray, path: Path, min_side: int = 192, frame_ms: int = 120, hold_ms: int = 700) -> None:
    """An animated GIF that morphs forward and back, holding on the real images at the ends.

    Frames are enlarged by a whole factor (nearest neighbour) to at least `min_side`
    pixels, as small models are unreadable at their own size in an image viewer.
    """
    frames = to_uint8(np.asarray(frames))
    scale = max(1, -(-min_side // frames.shape[1]))
    pictures = [Image.fromarray(frame).resize((frame.shape[1] * scale, frame.shape[0] * scale), Image.Resampling.NEAREST)
                for frame in frames]
    sequence = pictures + pictures[-2:0:-1]  # forward, then back without repeating the ends
    durations = [hold_ms if i in (0, len(pictures) - 1) else frame_ms for i in range(len(sequence))]
    sequence[0].save(path, save_all=True, append_images=sequence[1:], duration=durations, loop=0)


def to_float(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
