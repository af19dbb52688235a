"""Pictures and tables that explain the two scores, for docs/scores.md.

blur: the same catalogue images under Gaussian blur of growing sigma, each
column captioned with its blur score. roughness: interpolation strips between
two products (an even cross-fade, a smooth sigmoid morph, a jump, a still
path) with their roughness. The tables: every degradation of
vae_tune.analysis.degradations scored on the synthetic catalogue and, when
present, the real photos in ../shared/data/fashion-pairs, at 64 and 128 px.

    python analysis/score_examples.py --out docs/images [--photos ../shared/data/fashion-pairs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vae_tune import metrics  # noqa: E402
from vae_tune.analysis import degradations  # noqa: E402
from vae_tune.data.synthetic import CATEGORIES, generate_catalogue  # noqa: E402
from vae_tune.imaging import image_grid  # noqa: E402

SIGMAS = (0.0, 0.5, 1.0, 2.0, 4.0)
STEPS = 8


def blur_figure(images: np.ndarray):
    figure, axes = plt.subplots(len(images), len(SIGMAS), figsize=(1.6 * len(SIGMAS), 1.7 * len(images)))
    for column, sigma in enumerate(SIGMAS):
        blurred = np.clip(metrics.gaussian_blur(images, sigma), 0, 1)
        score = metrics.blur(images, blurred)
        axes[0, column].set_title(f"sigma {sigma:g} px\nblur {score:.2f}", fontsize=9)
        for row, image in enumerate(blurred):
            axes[row, column].imshow(image)
            axes[row, column].axis("off")
    figure.suptitle("val/blur of Gaussian-blurred reconstructions (0 = perfect)", fontsize=10)
    figure.tight_layout()
    return figure


def roughness_figure(start: np.ndarray, end: np.ndarray):
    profiles = {
        "even cross-fade": lambda t: t,
        "smooth sigmoid morph": lambda t: 1 / (1 + np.exp(-8 * (t - 0.5))),
        "jump in the middle": lambda t: (t >= 0.5).astype(float),
        "standing still at the mean of the two": lambda t: np.full_like(t, 0.5),
    }
    t = np.linspace(0, 1, STEPS + 1)
    figure, axes = plt.subplots(len(profiles), 1, figsize=(1.0 * (STEPS + 1), 1.5 * len(profiles)))
    for axis, (name, profile) in zip(axes, profiles.items()):
        weights = profile(t)[:, None, None, None]
        path = (1 - weights) * start + weights * end  # [T+1, H, W, 3]
        axis.imshow(image_grid(path[None]))
        score = metrics.roughness(path[None], start[None], end[None])
        axis.set_title(f"{name}: roughness {score:.2f}", fontsize=9, loc="left")
        axis.axis("off")
    figure.suptitle("val/roughness of interpolation strips (0 = perfectly even steps)", fontsize=10)
    figure.tight_layout()
    return figure


def photo_pairs(folder: Path, size: int, count: int = 16) -> tuple[np.ndarray, np.ndarray]:
    from vae_tune.data.decode import decode_image

    names = sorted(path.name for path in (folder / "source").iterdir())[:count]
    load = lambda side: np.stack([decode_image(folder / side / name, size) for name in names]) / 255.0  # noqa: E731
    return load("source"), load("target")


def catalogue_pairs(size: int, count: int = 16) -> tuple[np.ndarray, np.ndarray]:
    images, _ = generate_catalogue(2 * count, size, seed=3)
    return images[0::2] / 255.0, images[1::2] / 255.0


def print_tables(photos: Path | None) -> None:
    """Markdown tables: blur by degradation, then blur, roughness and objective by morph, per data and size."""
    sets = [("synthetic", size, catalogue_pairs(size)) for size in (64, 128)]
    if photos is not None and (photos / "source").is_dir():
        sets = [("real", size, photo_pairs(photos, size)) for size in (64, 128)] + sets
    for kind, size, (sources, targets) in sets:
        rows = degradations.score_table(np.concatenate([sources, targets]), sources[:8], targets[:8])
        print(f"\n{kind} photos, {size} px ({2 * len(sources)} images, 8 pairs)\n")
        print("| case | blur | detail | colour | roughness | unevenness | shortfall | objective |")
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            cells = [f"{row[key]:.3f}" if key in row else "" for key in
                     ("blur", "detail", "colour", "roughness", "unevenness", "shortfall", "objective")]
            print(f"| {row['case']} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images")
    parser.add_argument("--photos", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/fashion-pairs",
                        help="a folder with source/ and target/ photo pairs for the tables")
    args = parser.parse_args()
    print_tables(args.photos)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = generate_catalogue(20, image_size=64, seed=1)
    images = images.astype(np.float64) / 255.0
    blur_figure(images[[0, 3, 6]]).savefig(out / "blur_examples.png", dpi=110)
    dresses = np.flatnonzero(labels == CATEGORIES.index("dress"))
    roughness_figure(images[dresses[0]], images[dresses[1]]).savefig(out / "roughness_examples.png", dpi=110)
    print(f"wrote {out / 'blur_examples.png'} and {out / 'roughness_examples.png'}")


if __name__ == "__main__":
    main()
