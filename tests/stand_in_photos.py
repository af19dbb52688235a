"""Stand-ins for real product photos, so tests that read photos run without ../shared/data."""

from pathlib import Path

import numpy as np
from PIL import Image


def photo(seed: int, size=(24, 30)) -> Image.Image:
    """A product-like picture: a coloured rectangle on white, not square by default (it is padded like a real photo)."""
    rng = np.random.default_rng(seed)
    pixels = np.full((size[1], size[0], 3), 255, dtype=np.uint8)
    top, left = rng.integers(2, 8, size=2)
    pixels[top:top + 16, left:left + 12] = rng.integers(0, 200, size=3, dtype=np.uint8)
    return Image.fromarray(pixels)


def write_pairs(root: Path, names=("a.png", "b.png", "c.png"), target_names=None) -> Path:
    """root/source/ and root/target/, one stand-in photo per name, as `vae-tune score --pairs` reads them."""
    for side, side_names in (("source", names), ("target", target_names or names)):
        (root / side).mkdir(parents=True, exist_ok=True)
        for n, name in enumerate(side_names):
            photo(n + (100 if side == "target" else 0)).save(root / side / name)
    return root
