"""A plain directory of images as a dataset; sub-folder names become labels."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vae_tune.data.dataset import Dataset

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}
WHITE = (255, 255, 255)


def decode_image(path: Path, image_size: int) -> np.ndarray:
    """One file as uint8 [image_size, image_size, 3] on a white square, aspect ratio kept."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "P", "PA"):
            image = image.convert("RGBA")
            canvas = Image.new("RGB", image.size, WHITE)
            canvas.paste(image, mask=image.getchannel("A"))  # catalogue photos sit on white
            image = canvas
        image = image.convert("RGB")
        # Pad to a square with white rather than stretch: stretching distorts every product.
        side = max(image.size)
        square = Image.new("RGB", (side, side), WHITE)
        square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        return np.asarray(square.resize((image_size, image_size), Image.Resampling.LANCZOS), dtype=np.uint8)


def load_folder(directory: str | Path, image_size: int, limit: int | None = None) -> Dataset:
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data.path: {root} is not a directory")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if limit is not None:
        paths = paths[:limit]
    label_of = {path: path.parent.relative_to(root).as_posix() for path in paths}
    label_names = tuple(sorted(set(label_of.values())))
    images, labels, skipped = [], [], []
    for path in paths:
        try:
            images.append(decode_image(path, image_size))
        except (OSError, UnidentifiedImageError, ValueError) as error:
            skipped.append(f"{path}: {error}")
            continue
        labels.append(label_names.index(label_of[path]))
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image(s) in {root}, first: {skipped[0]}", stacklevel=2)
    if not images:
        raise ValueError(f"data.path: no usable image in {root} (searched {', '.join(sorted(IMAGE_SUFFIXES))})")
    return Dataset(np.stack(images), np.asarray(labels, dtype=np.int64), label_names)
