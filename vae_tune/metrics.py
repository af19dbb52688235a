"""Scores for a trial: blur, roughness and diagnostics, as pure numpy functions.

Nothing here needs Ray or TensorFlow, so notebooks and tests can call these on
plain arrays. Images are float arrays in [0, 1] of shape [N, H, W, 3]; a decoded
interpolation path is [P, T+1, H, W, 3] (P pairs, T steps). All reductions are
done in float64. Definitions follow DESIGN.md, "Scoring a trial".

Degenerate cases, decided once here so that no score is ever NaN or inf:

- A pyramid level is *flat* when the original's mean squared Laplacian is at
  most ``FLAT_ENERGY`` (an RMS of 1e-6, far below one 8-bit grey level, so only
  constant images count). A flat level has no detail to lose, so it counts as
  fully reproduced (g_s = 1); any detail the reconstruction puts there is
  spurious and is measured against ``DETAIL_FLOOR`` (one 8-bit grey level of
  Laplacian RMS per value) instead of the original's zero energy. All-white
  originals therefore score 0 against all-white reconstructions and a finite
  positive value against noisy ones.
- A pair whose path does not move (mean step RMS per value at most
  ``STILL_STEP``: a constant decoder, identical endpoints) has roughness 0:
  there is no unevenness to measure, and a collapsed decoder is penalised by
  blur, the other axis.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

PYRAMID_LEVELS = 3
NOISE_WEIGHT = 0.05  # weight of the spurious-detail term e in blur
FLAT_ENERGY = 1e-12  # mean squared Laplacian at or below which a level has no detail
DETAIL_FLOOR = (1.0 / 255.0) ** 2  # reference detail energy per value for flat levels
STILL_STEP = 1e-6  # RMS per value of the mean step at or below which a path does not move
PSNR_CAP_DB = 100.0  # PSNR of identical images (MSE 1e-10)

Decoder = Callable[[np.ndarray], object]


# --- shared helpers -----------------------------------------------------------


def _check_images(images: np.ndarray, name: str) -> np.ndarray:
    """`images` as a float64 [N, H, W, 3] array with an interior at every pyramid level."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name} must be [N, H, W, 3] images, got shape {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{name} must be float images in [0, 1], got dtype {images.dtype}")
    min_side = 3 * 2 ** (PYRAMID_LEVELS - 1)
    if min(images.shape[1:3]) < min_side:
        raise ValueError(f"{name} must be at least {min_side}x{min_side} pixels, got {images.shape[1:3]}")
    return images.astype(np.float64, copy=False)


def _check_path(path: np.ndarray) -> np.ndarray:
    """`path` as a [P, T+1, H, W, 3] array with at least one step."""
    path = np.asarray(path)
    if path.ndim != 5 or path.shape[-1] != 3 or path.shape[1] < 2:
        raise ValueError(f"path must be [P, T+1, H, W, 3] with T >= 1, got shape {path.shape}")
    return path


def laplacian(images: np.ndarray) -> np.ndarray:
    """5-point Laplacian per channel of [N, H, W, C] images, interior ('valid') only.

    Returns [N, H-2, W-2, C]; the border is dropped so image edges are not
    mistaken for detail.
    """
    # In place after the first sum: the same additions in the same order, two fewer temporaries.
    detail = images[:, :-2, 1:-1] + images[:, 2:, 1:-1]
    detail += images[:, 1:-1, :-2]
    detail += images[:, 1:-1, 2:]
    detail -= 4.0 * images[:, 1:-1, 1:-1]
    return detail


def average_pool(images: np.ndarray) -> np.ndarray:
    """2x2 average pooling of [N, H, W, C] images (an odd last row/column is dropped)."""
    h, w = images.shape[1] - images.shape[1] % 2, images.shape[2] - images.shape[2] % 2
    # Four strided views added: numpy's mean over the two inner axes of a 6-d reshape is several times slower.
    top, bottom = images[:, 0:h:2], images[:, 1:h:2]
    return 0.25 * (top[:, :, 0:w:2] + top[:, :, 1:w:2] + bottom[:, :, 0:w:2] + bottom[:, :, 1:w:2])


def detail_pyramid(images: np.ndarray, levels: int = PYRAMID_LEVELS) -> list[np.ndarray]:
    """Laplacians B_s of pyramid levels s = 0..levels-1 (level s+1 = 2x2 pool of level s)."""
    details = []
    for level in range(levels):
        if level:
            images = average_pool(images)
        details.append(laplacian(images))
    return details


def _energy(values: np.ndarray) -> float:
    """Sum of squares in float64."""
    flat = values.reshape(-1)
    return float(np.dot(flat, flat))


# --- blur ---------------------------------------------------------------------


def blur_terms(x: np.ndarray, x_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-level (g_s, e_s) behind `blur`, each an array of PYRAMID_LEVELS floats.

    g_s = <B_s x_hat, B_s x> / ||B_s x||^2: share of the original's detail
    reproduced in place (1 when perfect, below 1 when blurred).
    e_s = ||B_s x_hat - g_s B_s x||^2 / ||B_s x||^2 >= 0: detail that is not
    the original's (noise, checkerboards). Flat levels: g_s = 1 and
    e_s = ||B_s x_hat||^2 / (values * DETAIL_FLOOR) (see the module docstring).
    """
    return BlurReference(x).terms(x_hat)


class BlurReference:
    """The originals' half of `blur`, computed once.

    A trial scores the same probe images every epoch: their detail pyramid and
    its energies are kept, so an epoch pays only for the reconstructions'.
    `BlurReference(x).blur(x_hat)` equals `blur(x, x_hat)`.
    """

    def __init__(self, x: np.ndarray):
        x = _check_images(x, "x")
        self.shape = x.shape
        self.details = detail_pyramid(x)
        self.energies = [_energy(detail) for detail in self.details]

    def terms(self, x_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(g_s, e_s) of `x_hat` against the originals; see `blur_terms`."""
        x_hat = _check_images(x_hat, "x_hat")
        if x_hat.shape != self.shape:
            raise ValueError(f"x and x_hat must have the same shape, got {self.shape} and {x_hat.shape}")
        gains, errors = [], []
        for detail, reference, detail_hat in zip(self.details, self.energies, detail_pyramid(x_hat)):
            energy_hat = _energy(detail_hat)
            if reference <= FLAT_ENERGY * detail.size:
                gains.append(1.0)
                errors.append(energy_hat / (detail.size * DETAIL_FLOOR))
                continue
            cross = float(np.dot(detail_hat.reshape(-1), detail.reshape(-1)))
            gain = cross / reference
            gains.append(gain)
            # ||a - g b||^2 = ||a||^2 - g <a, b> when g = <a, b> / ||b||^2: no difference image to build.
            errors.append(max(energy_hat - gain * cross, 0.0) / reference)
        return np.array(gains), np.array(errors)

    def blur(self, x_hat: np.ndarray) -> float:
        """`blur(x, x_hat)` for the originals this reference was built from."""
        gains, errors = self.terms(x_hat)
        return float((1.0 - gains.mean()) + NOISE_WEIGHT * errors.mean())


def blur(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Full-reference blur of reconstructions `x_hat` of `x` (both [N, H, W, 3] in [0, 1]).

    blur = (1 - mean_s g_s) + 0.05 * mean_s e_s over pyramid levels s = 0, 1, 2
    (see `blur_terms`), with sums over the whole batch. 0 for a perfect
    reconstruction, about 1 for a flat grey one, rising strictly with Gaussian
    blur and not falling when noise is added; lower is sharper. Can dip
    slightly below 0 only for reconstructions that over-sharpen. Always finite.
    """
    return BlurReference(x).blur(x_hat)


# --- interpolation paths ------------------------------------------------------


def interpolation_latents(z_start: np.ndarray, z_end: np.ndarray, steps: int = 16) -> np.ndarray:
    """Latents z_k = z_a + (k/T)(z_b - z_a), k = 0..T, as float64 [P, T+1, latent_dim]."""
    z_start = np.asarray(z_start, dtype=np.float64)
    z_end = np.asarray(z_end, dtype=np.float64)
    if z_start.ndim != 2 or z_start.shape != z_end.shape:
        raise ValueError(f"z_start and z_end must both be [P, latent_dim], got {z_start.shape} and {z_end.shape}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    fractions = np.arange(steps + 1, dtype=np.float64)[None, :, None] / steps
    return z_start[:, None, :] + fractions * (z_end - z_start)[:, None, :]


def interpolation_path(
    decode: Decoder,
    z_start: np.ndarray,
    z_end: np.ndarray,
    steps: int = 16,
    batch_size: int = 512,
) -> np.ndarray:
    """Decode straight lines between `z_start` and `z_end` ([P, latent_dim] each).

    `decode` maps a float32 [M, latent_dim] array to [M, H, W, 3] images (a
    numpy array or anything `np.asarray` accepts, such as a tf tensor); it is
    called ceil(P * (T+1) / batch_size) times. Returns float32 [P, T+1, H, W, 3],
    whose frames 0 and T are decode(z_start) and decode(z_end).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    latents = interpolation_latents(z_start, z_end, steps)
    pairs, frames, latent_dim = latents.shape
    flat = latents.reshape(pairs * frames, latent_dim).astype(np.float32)
    decoded = [
        np.asarray(decode(flat[start : start + batch_size]), dtype=np.float32)
        for start in range(0, len(flat), batch_size)
    ]
    images = decoded[0] if len(decoded) == 1 else np.concatenate(decoded)
    if images.ndim != 4 or len(images) != len(flat):
        raise ValueError(f"decode must return [M, H, W, C] for M latents, got shape {images.shape}")
    return images.reshape(pairs, frames, *images.shape[1:])


def step_sizes(path: np.ndarray) -> np.ndarray:
    """Euclidean step sizes d_k = ||x_{k+1} - x_k||_2 of a path, float64 [P, T]."""
    path = _check_path(path)
    steps = np.diff(path.reshape(*path.shape[:2], -1), axis=1)
    return np.sqrt(np.einsum("pkv,pkv->pk", steps, steps, dtype=np.float64))


def roughness(path: np.ndarray) -> float:
    """Unevenness of decoded paths [P, T+1, H, W, 3]: mean over pairs of std_k(d)/mean_k(d).

    0 for a linear decoder (even steps), about sqrt(T-1) for a single jump,
    independent of how curved the path is; lower is smoother. std is the
    population std (ddof 0). A pair that does not move (mean step RMS per
    value <= STILL_STEP) scores 0. Always finite and >= 0.
    """
    d = step_sizes(path)
    values = int(np.prod(path.shape[2:]))
    mean = d.mean(axis=1)
    moving = mean > STILL_STEP * np.sqrt(values)
    ratios = np.where(moving, d.std(axis=1) / np.where(moving, mean, 1.0), 0.0)
    return float(ratios.mean())


def path_roughness(decode: Decoder, z_start: np.ndarray, z_end: np.ndarray, steps: int = 16) -> float:
    """`roughness` of the decoded straight lines from `z_start` to `z_end`."""
    return roughness(interpolation_path(decode, z_start, z_end, steps))


# --- diagnostics --------------------------------------------------------------


def psnr(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for data range 1, in [0, 100] for images in [0, 1].

    Identical images (MSE <= 1e-10) give the cap PSNR_CAP_DB = 100 dB.
    """
    x = _check_images(x, "x")
    x_hat = _check_images(x_hat, "x_hat")
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {x.shape} and {x_hat.shape}")
    mse = _energy(x - x_hat) / x.size
    return float(min(PSNR_CAP_DB, -10.0 * np.log10(max(mse, 1e-300))))


def active_units(mu: np.ndarray, threshold: float = 0.01) -> int:
    """Latent dims whose posterior mean varies across the probe: Var_x(mu_u) > threshold.

    `mu` is [N, latent_dim]; the variance is the population variance (ddof 0),
    so a probe of one image has no active units. Result in [0, latent_dim].
    """
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 2:
        raise ValueError(f"mu must be [N, latent_dim], got shape {mu.shape}")
    return int(np.count_nonzero(mu.var(axis=0) > threshold))


def path_energy(path: np.ndarray) -> float:
    """Mean over pairs of T * sum_k ||x_{k+1} - x_k||^2 / D (D values per image).

    For a straight, evenly paced path this is the mean squared difference of
    its endpoints, whatever T; curved or unevenly paced paths score higher
    (by Cauchy-Schwarz). 0 for a path that does not move; at most T^2 for
    images in [0, 1].
    """
    d = step_sizes(path)
    steps = d.shape[1]
    values = int(np.prod(path.shape[2:]))
    return float((steps * np.square(d).sum(axis=1) / values).mean())


def midpoint_sharpness_ratio(path: np.ndarray) -> float:
    """Detail at the path midpoints relative to the endpoints, summed over pairs.

    Detail is the level-0 Laplacian energy used by `blur`; the midpoint is
    frame T/2 (the mean energy of the two middle frames for odd T). About 0.5
    for a cross-fade of two unrelated images, about 1 for a real morph, above
    1 when the midpoint has more detail than its ends. Flat endpoints (mean
    squared Laplacian <= FLAT_ENERGY) give 1.0: no detail to keep or lose.
    """
    path = _check_path(path)
    steps = path.shape[1] - 1
    middle = sorted({steps // 2, (steps + 1) // 2})
    mid_energy = np.mean([_energy(laplacian(_check_images(path[:, k], "path"))) for k in middle])
    ends = [laplacian(_check_images(path[:, k], "path")) for k in (0, steps)]
    end_energy = np.mean([_energy(e) for e in ends])
    if end_energy <= FLAT_ENERGY * ends[0].size:
        return 1.0
    return float(mid_energy / end_energy)


# --- effective blur sigma ---------------------------------------------------------

CALIBRATION_SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of [N, H, W, C] images, reflect padding; sigma in pixels."""
    images = np.asarray(images, dtype=np.float64)
    if sigma == 0:
        return images.copy()
    radius = min(int(np.ceil(3 * sigma)), min(images.shape[1:3]) - 1)  # reflect needs radius < size
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    out = images
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect")
        size = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + size), axis=axis) for i, w in enumerate(kernel))
    return out


def blur_calibration(x: np.ndarray, sigmas: tuple[float, ...] = CALIBRATION_SIGMAS) -> np.ndarray:
    """blur(x, gaussian_blur(x, sigma)) for each sigma: the curve `effective_blur_sigma` inverts."""
    reference = BlurReference(x)
    curve = np.array([reference.blur(gaussian_blur(x, sigma)) for sigma in sigmas])
    return np.maximum.accumulate(curve)  # monotone for np.interp even if a level is flat


def effective_blur_sigma(
    blur_value: float, calibration: np.ndarray, sigmas: tuple[float, ...] = CALIBRATION_SIGMAS
) -> float:
    """The Gaussian blur (pixels) that would give the probe images this blur score.

    A reading aid for `blur`: "as blurry as a 1.5 px Gaussian". Clipped to
    [0, max(sigmas)]; noise and artefacts push it up, as they push blur.
    """
    return float(np.interp(blur_value, calibration, sigmas))
