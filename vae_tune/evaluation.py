"""Scoring a model on the study's fixed probe: blur, roughness and diagnostics, every epoch."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from vae_tune import metrics
from vae_tune.config import ObjectiveConfig
from vae_tune.data.dataset import Probe

# Reported instead of real scores by a trial whose loss became NaN or inf, or that timed
# out: finite, so schedulers and searchers never see NaN, and far above any real value
# (blur is about 0..1 on a working model, roughness at most sqrt(T - 1), under 4 at T = 16).
WORST_SCORES = {"objective": 10.0, "val/blur": 10.0, "val/roughness": 10.0}

# Posterior-mean variance above which a latent dimension counts as used (DESIGN.md).
ACTIVE_UNIT_THRESHOLD = 0.01


def objective(blur: float, roughness: float, config: ObjectiveConfig) -> float:
    """The scalar the scheduler and searcher minimise: blur + roughness_weight * roughness."""
    return blur + config.roughness_weight * roughness


class ProbeScorer:
    """Scores any model of a trial on one probe; holds what depends on the probe alone."""

    def __init__(self, probe: Probe, config: ObjectiveConfig):
        self.probe = probe
        self.config = config
        self._traced_for = None  # the model `_encode` and `_decode` were traced for

    def _trace(self, model) -> None:
        """Wrap the model's encoder and decoder in graph functions, once per model.

        Eager Keras calls pay Python dispatch on every layer of every call; as
        graph functions the scoring's model calls take ~40% less time (see
        benchmarks/evaluation_share.py). reduce_retracing: the decoder sees two
        batch shapes (reconstructions, interpolation points) and traces once more
        at most.
        """
        import tensorflow as tf  # here, so that analysis code importing this module needs no TF

        if self._traced_for is not model:
            self._encode = tf.function(lambda x: model.encoder(x, training=False), reduce_retracing=True)
            self._decode = tf.function(lambda z: model.decoder(z, training=False), reduce_retracing=True)
            self._traced_for = model

    @cached_property
    def blur_reference(self) -> metrics.BlurReference:
        """The probe images' detail pyramid, built once: each epoch pays only for the reconstructions'."""
        return metrics.BlurReference(self.probe.images)

    @cached_property
    def blur_calibration(self) -> np.ndarray:
        """How blurry the probe itself gets under Gaussian blur: for `val/effective_blur_sigma`."""
        return metrics.blur_calibration(self.probe.images)

    def score(self, model) -> dict[str, float]:
        """Blur of mean reconstructions, roughness of mean interpolations, and diagnostics.

        Decodes posterior means (not samples) so the scores describe the model,
        not the sampling noise, and repeat exactly for the same weights. Three
        model calls in all: one encode, one decode of the reconstructions, one
        decode of every interpolation point.
        """
        probe, config = self.probe, self.config
        images, within, across = len(probe.images), len(probe.pair_starts), len(probe.cross_starts)
        # Direct calls, not predict_on_batch: under a multi-replica strategy Keras 3.15's
        # predict_on_batch runs the whole batch on every replica and returns it once per replica.
        self._trace(model)
        z_mean, z_log_var = (np.asarray(z) for z in self._encode(
            np.concatenate([probe.images, probe.pair_starts, probe.cross_starts, probe.pair_ends, probe.cross_ends])
        ))
        z_images = z_mean[:images]
        z_starts, z_ends = np.split(z_mean[images:], 2)

        def decode(z):
            return np.asarray(self._decode(z))

        reconstructions = decode(z_images)
        paths = metrics.interpolation_path(decode, z_starts, z_ends, steps=config.interpolation_steps)
        within_paths, cross_paths = paths[:within], paths[within:]

        blur = self.blur_reference.blur(reconstructions)
        roughness = metrics.roughness(within_paths)
        squared_error = np.square(probe.images - reconstructions)
        kl_per_dimension = gaussian_kl_per_dimension(z_mean[:images], z_log_var[:images])
        scores = {
            "objective": objective(blur, roughness, config),
            "val/blur": blur,
            "val/roughness": roughness,
            "val/effective_blur_sigma": metrics.effective_blur_sigma(blur, self.blur_calibration),
            # Distortion and rate in the training loss's units (per image), at the posterior mean.
            "val/reconstruction_loss": float(squared_error.sum(axis=(1, 2, 3)).mean()),
            "val/kl": float(kl_per_dimension.sum()),
            "val/mse": float(squared_error.mean()),
            "val/psnr": metrics.psnr(probe.images, reconstructions),
            "val/kl_per_dim_max": float(kl_per_dimension.max()),
            "val/kl_per_dim_median": float(np.median(kl_per_dimension)),
            "val/active_units": metrics.active_units(z_images, ACTIVE_UNIT_THRESHOLD),
            "val/active_fraction": metrics.active_units(z_images, ACTIVE_UNIT_THRESHOLD) / z_images.shape[1],
            "val/path_energy": metrics.path_energy(within_paths),
            "val/midpoint_sharpness": metrics.midpoint_sharpness_ratio(within_paths),
        }
        scores["val/loss"] = scores["val/reconstruction_loss"] + model.config.kl_weight * scores["val/kl"]
        if across:
            scores["val/roughness_cross"] = metrics.roughness(cross_paths)
        return scores


def gaussian_kl_per_dimension(z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """KL(q(z|x) || N(0, I)) of each latent dimension, averaged over images: [latent_dim]."""
    z_mean, z_log_var = np.asarray(z_mean, np.float64), np.asarray(z_log_var, np.float64)
    return (-0.5 * (1.0 + z_log_var - np.square(z_mean) - np.exp(z_log_var))).mean(axis=0)
