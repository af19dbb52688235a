"""Pictures that explain the two scores, for the README.

blur: the same catalogue images under Gaussian blur of growing sigma, each
column captioned with its blur score. roughness: interpolation strips between
two products (an even cross-fade, a smooth sigmoid morph, a jump) with their
roughness.

    python analysis/score_examples.py --out docs/images
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vae_tune import metrics  # noqa: E402
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
    }
    t = np.linspace(0, 1, STEPS + 1)
    figure, axes = plt.subplots(len(profiles), 1, figsize=(1.0 * (STEPS + 1), 1.5 * len(profiles)))
    for axis, (name, profile) in zip(axes, profiles.items()):
        weights = profile(t)[:, None, None, None]
        path = (1 - weights) * start + weights * end  # [T+1, H, W, 3]
        axis.imshow(image_grid(path[None]))
        axis.set_title(f"{name}: roughness {metrics.roughness(path[None]):.2f}", fontsize=9, loc="left")
        axis.axis("off")
    figure.suptitle("val/roughness of interpolation strips (0 = perfectly even steps)", fontsize=10)
    figure.tight_layout()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images")
    args = parser.parse_args()
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
