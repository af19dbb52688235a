"""Small helpers to turn image arrays into pictures a person can look at."""

from __future__ import annotations

import numpy as np
from PIL import Image


class UnreadableImage(ValueError):
    """A file given as an image is missing or is not an image; the message names it."""


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] (or uint8 already) as uint8, clipped."""
    if images.dtype == np.uint8:
        return images
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def image_grid(images: np.ndarray, padding: int = 2, background: int = 255) -> Image.Image:
    """Tile a [rows, columns, H, W, 3] array into one RGB picture.

    Float images are taken to be in [0, 1]; a `padding`-pixel gutter of
    `background` grey separates the tiles so white-background products stay
    distinguishable from each other.
    """
    images = to_uint8(np.asarray(images))
    if images.ndim != 5 or images.shape[-1] != 3:
        raise ValueError(f"image_grid needs [rows, columns, H, W, 3], got shape {images.shape}")
    rows, columns, height, width, _ = images.shape
    sheet = np.full(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, 3),
        background,
        dtype=np.uint8,
    )
    for row in range(rows):
        for column in range(columns):
            top = padding + row * (height + padding)
            left = padding + column * (width + padding)
            sheet[top : top + height, left : left + width] = images[row, column]
    return Image.fromarray(sheet)
