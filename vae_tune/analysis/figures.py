"""Pictures of a trained model: interpolation grids between the probe's pairs."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vae_tune import metrics
from vae_tune.data.dataset import Probe
from vae_tune.imaging import image_grid


def interpolation_grid(model, probe: Probe, steps: int = 8) -> Image.Image:
    """Rows of pairs; columns: the source image, the decoded path z_0..z_T, the target image.

    The outer columns are the real images, so a person sees both how well the
    ends are reconstructed and how the model morphs between them.
    """
    z_mean = model.encoder.predict_on_batch(np.concatenate([probe.pair_starts, probe.pair_ends]))[0]
    z_starts, z_ends = np.split(z_mean, 2)
    path = metrics.interpolation_path(model.decoder.predict_on_batch, z_starts, z_ends, steps=steps)
    rows = np.concatenate([probe.pair_starts[:, None], path, probe.pair_ends[:, None]], axis=1)
    return image_grid(rows)
