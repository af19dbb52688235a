"""Scoring a model on the study's fixed probe: blur, roughness and diagnostics, every epoch."""

from __future__ import annotations

import numpy as np

from vae_tune import metrics
from vae_tune.config import ObjectiveConfig
from vae_tune.data.dataset import Probe

# Reported instead of real scores by a trial whose loss became NaN or inf: finite, so
# schedulers and searchers never see NaN, and far above any real objective (blur and
# roughness are each about 0..1 on a working model).
DIVERGED_OBJECTIVE = 10.0


def objective(blur: float, roughness: float, config: ObjectiveConfig) -> float:
    """The scalar the scheduler and searcher minimise: blur + roughness_weight * roughness."""
    return blur + config.roughness_weight * roughness


def evaluate_probe(model, probe: Probe, config: ObjectiveConfig) -> dict[str, float]:
    """Blur of mean reconstructions, roughness of mean interpolations, and diagnostics.

    Decodes the posterior means (not samples) so the scores describe the
    model, not the sampling noise, and are the same each time they are taken.
    """
    pairs = len(probe.pair_starts)
    # Direct calls, not predict_on_batch: under a multi-replica strategy Keras 3.15's
    # predict_on_batch hands every replica the whole batch and returns it once per replica.
    # One encoder call for the probe images and both ends of every pair.
    z_mean = np.asarray(model.encode_mean(np.concatenate([probe.images, probe.pair_starts, probe.pair_ends])))
    z_images, z_starts, z_ends = np.split(z_mean, [len(probe.images), len(probe.images) + pairs])
    reconstructions = np.asarray(model.decode(z_images))
    path = metrics.interpolation_path(model.decode, z_starts, z_ends, steps=config.interpolation_steps)
    blur = metrics.blur(probe.images, reconstructions)
    roughness = metrics.roughness(path)
    return {
        "objective": objective(blur, roughness, config),
        "val/blur": blur,
        "val/roughness": roughness,
        "val/mse": float(np.mean(np.square(probe.images - reconstructions))),
        "val/psnr": metrics.psnr(probe.images, reconstructions),
        "val/active_units": metrics.active_units(z_images),
        "val/active_fraction": metrics.active_units(z_images) / z_images.shape[1],
        "val/path_energy": metrics.path_energy(path),
        "val/midpoint_sharpness": metrics.midpoint_sharpness_ratio(path),
    }
