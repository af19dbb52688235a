"""Scoring a model on the study's fixed probe: blur, roughness and diagnostics, every epoch.

Why each score is defined as it is: docs/design.md, "The scores".
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import tensorflow as tf

from vae_tune import metrics
from vae_tune.config import ObjectiveConfig
from vae_tune.data.dataset import Probe
from vae_tune.names import (
    ACTIVE_FRACTION,
    ACTIVE_UNITS,
    BLUR,
    BLUR_COLOUR,
    BLUR_DETAIL,
    COLLAPSED,
    COLOUR_FIDELITY,
    EFFECTIVE_BLUR_SIGMA,
    KL,
    KL_PER_DIM_MAX,
    KL_PER_DIM_MEDIAN,
    MEAN_IMAGE_PSNR,
    MIDPOINT_SHARPNESS,
    MSE,
    OBJECTIVE,
    PATH_ENERGY,
    PSNR,
    RECONSTRUCTION_LOSS,
    ROUGHNESS,
    ROUGHNESS_CROSS,
    ROUGHNESS_SHORTFALL,
    ROUGHNESS_UNEVENNESS,
    TRAIN_PSNR,
    VAL_LOSS,
    WORST_SCORES,
)
from vae_tune.training.model import reconstruction_error

# Posterior-mean variance above which a latent dimension counts as used (docs/design.md).
ACTIVE_UNIT_THRESHOLD = 0.01


def objective(blur: float, roughness: float, config: ObjectiveConfig) -> float:
    """The scalar the scheduler and searcher minimise: blur + roughness_weight * roughness."""
    return blur + config.roughness_weight * roughness


class ProbeScorer:
    """Scores any model of a trial on one probe; holds what depends on the probe alone."""

    def __init__(self, probe: Probe, objective: ObjectiveConfig, interpolation_steps: int):
        self.probe = probe
        self.objective = objective
        self.steps = interpolation_steps
        self._traced_for = None  # the model `_encode` and `_decode` were traced for

    def _trace(self, model) -> None:
        """Wrap the model's encoder and decoder in graph functions, once per model.

        Eager Keras calls pay Python dispatch on every layer of every call; as
        graph functions the scoring's model calls take ~40% less time (see
        benchmarks/scoring_share.py). reduce_retracing: the decoder sees two
        batch shapes (reconstructions, interpolation points) and traces once more
        at most.
        """
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

    @cached_property
    def mean_image_psnr(self) -> float | None:
        """PSNR on the probe of the mean training image returned for every input: the bar for `collapsed`."""
        if self.probe.mean_image is None:
            return None
        return metrics.psnr(self.probe.images, np.broadcast_to(self.probe.mean_image, self.probe.images.shape))

    def score(self, model) -> dict[str, float]:
        """Blur of mean reconstructions, roughness of mean interpolations, and diagnostics.

        Decodes posterior means (not samples) so the scores describe the model,
        not the sampling noise, and repeat exactly for the same weights. Three
        model calls in all: one encode, one decode of the reconstructions, one
        decode of every interpolation point. An epoch whose probe PSNR is no
        better than the mean image's is `collapsed`: its objective, blur and
        roughness are stand-ins between 9 and 10 (see `collapsed_score`).
        """
        probe = self.probe
        train_images = probe.train_images if probe.train_images is not None else probe.images[:0]
        starts = np.concatenate([probe.pair_starts, probe.cross_starts])
        ends = np.concatenate([probe.pair_ends, probe.cross_ends])
        counts = [len(probe.images), len(train_images), len(starts), len(ends)]
        # Direct calls, not predict_on_batch: under a multi-replica strategy Keras 3.15's
        # predict_on_batch runs the whole batch on every replica and returns it once per replica.
        self._trace(model)
        z_mean, z_log_var = (np.asarray(z) for z in self._encode(np.concatenate([probe.images, train_images, starts, ends])))
        z_images, z_train, z_starts, z_ends = np.split(z_mean, np.cumsum(counts)[:-1])

        def decode(z):
            return np.asarray(self._decode(z))

        reconstructions = decode(np.concatenate([z_images, z_train]))
        reconstructions, train_reconstructions = reconstructions[: len(z_images)], reconstructions[len(z_images) :]
        paths = metrics.interpolation_path(decode, z_starts, z_ends, steps=self.steps)
        within = len(probe.pair_starts)

        blur_terms = self.blur_reference.terms(reconstructions)
        blur = metrics.combine_blur(blur_terms["detail"], blur_terms["colour"])
        roughness_terms = metrics.roughness_terms(paths[:within], probe.pair_starts, probe.pair_ends)
        roughness = roughness_terms["unevenness"] + roughness_terms["shortfall"]
        squared_error = np.square(probe.images - reconstructions)
        kl_per_dimension = gaussian_kl_per_dimension(z_images, z_log_var[: len(z_images)])
        active = metrics.active_units(z_images, ACTIVE_UNIT_THRESHOLD)
        scores = {
            OBJECTIVE: objective(blur, roughness, self.objective),
            BLUR: blur,
            BLUR_DETAIL: blur_terms["detail"],
            BLUR_COLOUR: blur_terms["colour"],
            COLOUR_FIDELITY: metrics.colour_fidelity_of(blur_terms["colour"]),
            ROUGHNESS: roughness,
            ROUGHNESS_UNEVENNESS: roughness_terms["unevenness"],
            ROUGHNESS_SHORTFALL: roughness_terms["shortfall"],
            EFFECTIVE_BLUR_SIGMA: metrics.effective_blur_sigma(blur, self.blur_calibration),
            # Distortion and rate in the training loss's units (per image), at the posterior mean.
            RECONSTRUCTION_LOSS: float(np.mean(reconstruction_error(probe.images, reconstructions,
                                                                          model.config.chroma_weight))),
            KL: float(kl_per_dimension.sum()),
            MSE: float(squared_error.mean()),
            PSNR: metrics.psnr(probe.images, reconstructions),
            KL_PER_DIM_MAX: float(kl_per_dimension.max()),
            KL_PER_DIM_MEDIAN: float(np.median(kl_per_dimension)),
            ACTIVE_UNITS: active,
            ACTIVE_FRACTION: active / z_images.shape[1],
            PATH_ENERGY: metrics.path_energy(paths[:within]),
            MIDPOINT_SHARPNESS: metrics.midpoint_sharpness_ratio(paths[:within]),
        }
        scores[VAL_LOSS] = scores[RECONSTRUCTION_LOSS] + model.config.kl_weight * scores[KL]
        if len(probe.cross_starts):
            scores[ROUGHNESS_CROSS] = metrics.roughness(paths[within:], probe.cross_starts, probe.cross_ends)
        if len(train_images):
            scores[TRAIN_PSNR] = metrics.psnr(train_images, train_reconstructions)
        return guard_collapse(scores, self.mean_image_psnr, self.objective.collapse_guard)


def collapsed_score(psnr: float, mean_image_psnr: float) -> float:
    """The stand-in objective, blur and roughness of a collapsed epoch: 9 at the mean image's PSNR, 10 at 0 dB.

    9 + (mean_image_psnr - psnr) / mean_image_psnr: worse than any real score
    (see WORST_SCORES), ordered by how far below the mean image the epoch's
    PSNR is, so a scheduler can tell a model about to beat it from a hopeless
    one, and never worse than a diverged or timed-out epoch's 10. Dividing by
    the mean image's PSNR maps the whole possible range (PSNR is at least 0 dB
    for images in [0, 1]) onto [9, 10] without a chosen dB scale or a cap.
    """
    worst = WORST_SCORES[OBJECTIVE]
    if not (math.isfinite(psnr) and math.isfinite(mean_image_psnr) and mean_image_psnr > 0):
        return worst
    shortfall = min(max(mean_image_psnr - psnr, 0.0), mean_image_psnr)
    return worst - 1.0 + shortfall / mean_image_psnr


def guard_collapse(scores: dict[str, float], mean_image_psnr: float | None, guard: bool = True) -> dict[str, float]:
    """Mark an epoch no better than the mean image `collapsed`, with `collapsed_score` in place of its scores.

    A model that returns (about) the average image for every input has learnt
    nothing a person would want, however still its morphs are: it must never
    be a trial's best epoch or the study's best trial. Its diagnostics (PSNR,
    KL, the blur and roughness parts) stay as measured.
    """
    if mean_image_psnr is None:
        return {**scores, COLLAPSED: False}
    collapsed = guard and not scores[PSNR] > mean_image_psnr  # a NaN PSNR is collapsed too
    guarded = {**scores, MEAN_IMAGE_PSNR: mean_image_psnr, COLLAPSED: bool(collapsed)}
    if not collapsed:
        return guarded
    stand_in = collapsed_score(scores[PSNR], mean_image_psnr)
    return {**guarded, **dict.fromkeys(WORST_SCORES, stand_in)}


def gaussian_kl_per_dimension(z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """KL(q(z|x) || N(0, I)) of each latent dimension, averaged over images: [latent_dim]."""
    z_mean, z_log_var = np.asarray(z_mean, np.float64), np.asarray(z_log_var, np.float64)
    return (-0.5 * (1.0 + z_log_var - np.square(z_mean) - np.exp(z_log_var))).mean(axis=0)
