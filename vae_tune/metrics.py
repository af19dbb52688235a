"""Scores for a trial: blur, roughness and diagnostics, as pure numpy functions.

Nothing here needs Ray or TensorFlow, so notebooks and tests can call these on
plain arrays. Images are float arrays in [0, 1] of shape [N, H, W, 3]; a decoded
interpolation path is [P, T+1, H, W, 3] (P pairs, T steps). All reductions are
done in float64. Why each score is defined as it is: docs/design.md and docs/scores.md.

blur = detail + COLOUR_WEIGHT * colour, both 0 for a perfect reconstruction:

- *detail*: how much of the original's luminance detail is lost, averaged over
  a Laplacian pyramid that reaches down to an 8x8 grid (4 levels at 64 px, 5 at
  128 px), so it keeps rising from a 0.5-px to an 8-px blur instead of
  saturating once the finest 1-4 px are gone. Per level s, with B_s the
  Laplacian: (1 - g_s) + NOISE_WEIGHT * e_s, g_s the share of the original's
  detail reproduced in place, e_s the detail that is not the original's.
- *colour*: the relative squared error of the chroma (the two colour-opponent
  channels, luminance removed) at the pyramid's coarsest level, 8x8 cells, where
  blur barely moves it: 1 for a grey rendering, 3 for rotated RGB channels
  (a 120 degree hue turn), about 1 for a flat image of the dataset's mean colour.

Degenerate cases, decided once here so that no score is ever NaN or inf:

- A pyramid level is *flat* when the original's mean squared Laplacian is at
  most ``FLAT_ENERGY`` (an RMS of 1e-6, far below one 8-bit grey level, so only
  constant images count). A flat level has no detail to lose, so it counts as
  fully reproduced (g_s = 1); any detail the reconstruction puts there is
  spurious and is measured against ``DETAIL_FLOOR`` (one 8-bit grey level of
  Laplacian RMS per value) instead of the original's zero energy. All-white
  originals therefore score 0 against all-white reconstructions and a finite
  positive value against noisy ones.
- The colour error is relative to the originals' chroma energy, but never to
  less than ``CHROMA_FLOOR`` per value: grey originals score 0 against grey
  reconstructions and a finite value against coloured ones.
- A pair whose path does not move (mean step RMS per value at most
  ``STILL_STEP``) has unevenness 0, and its travel shortfall (1: it covers none
  of the way from source to target) makes it rough.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

COARSEST_SIDE = 8  # the detail pyramid stops at the level whose side is 8-15 px
NOISE_WEIGHT = 0.05  # weight of the spurious-detail term e in detail
COLOUR_WEIGHT = 0.5  # a grey rendering scores as badly as a ~2-px blur (docs/scores.md)
FLAT_ENERGY = 1e-12  # mean squared Laplacian at or below which a level has no detail
DETAIL_FLOOR = (1.0 / 255.0) ** 2  # reference detail energy per value for flat levels
CHROMA_FLOOR = 0.02**2  # reference chroma energy per value for (nearly) grey originals
STILL_STEP = 1e-6  # RMS per value of the mean step at or below which a path does not move
PSNR_CAP_DB = 100.0  # PSNR of identical images (MSE 1e-10)

# Orthonormal colour-opponent basis: luminance (R+G+B)/sqrt(3) and two chroma axes. Being a
# rotation of RGB it keeps squared errors, and rotating the R, G, B channels turns the chroma
# plane by 120 degrees while leaving luminance alone.
OPPONENT = np.array([
    [1 / np.sqrt(3), 1 / np.sqrt(3), 1 / np.sqrt(3)],
    [1 / np.sqrt(2), -1 / np.sqrt(2), 0.0],
    [1 / np.sqrt(6), 1 / np.sqrt(6), -2 / np.sqrt(6)],
])

Decoder = Callable[[np.ndarray], object]


# --- shared helpers -----------------------------------------------------------


def _check_images(images: np.ndarray, name: str) -> np.ndarray:
    """`images` as a float64 [N, H, W, 3] array with a Laplacian interior at its coarsest level."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name} must be [N, H, W, 3] images, got shape {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{name} must be float images in [0, 1], got dtype {images.dtype}")
    if min(images.shape[1:3]) < COARSEST_SIDE:
        raise ValueError(f"{name} must be at least {COARSEST_SIDE}x{COARSEST_SIDE} pixels, got {images.shape[1:3]}")
    return images.astype(np.float64, copy=False)


def _check_path(path: np.ndarray) -> np.ndarray:
    """`path` as a [P, T+1, H, W, 3] array with at least one step."""
    path = np.asarray(path)
    if path.ndim != 5 or path.shape[-1] != 3 or path.shape[1] < 2:
        raise ValueError(f"path must be [P, T+1, H, W, 3] with T >= 1, got shape {path.shape}")
    return path


def pyramid_levels(side: int) -> int:
    """Levels of the detail pyramid for images `side` px across: halved down to 8-15 px (64 px: 4, 128 px: 5)."""
    levels = 1
    while side // 2 >= COARSEST_SIDE:
        side //= 2
        levels += 1
    return levels


def luminance_chroma(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N, H, W, 3] RGB as (luminance [N, H, W, 1], chroma [N, H, W, 2]) in the OPPONENT basis."""
    opponent = images @ OPPONENT.T
    return opponent[..., :1], opponent[..., 1:]


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


def detail_pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """Laplacians B_s of pyramid levels s = 0..levels-1 (level s+1 = 2x2 pool of level s)."""
    details = []
    for level in range(levels):
        if level:
            images = average_pool(images)
        details.append(laplacian(images))
    return details


def coarse(images: np.ndarray, levels: int) -> np.ndarray:
    """`images` pooled down to the pyramid's coarsest level (2x2 pooling `levels - 1` times)."""
    for _ in range(levels - 1):
        images = average_pool(images)
    return images


def _energy(values: np.ndarray) -> float:
    """Sum of squares in float64."""
    flat = values.reshape(-1)
    return float(np.dot(flat, flat))


# --- blur ---------------------------------------------------------------------


def blur_terms(x: np.ndarray, x_hat: np.ndarray) -> dict[str, object]:
    """The parts of `blur`: per-level g_s and e_s, `detail`, `colour` (see `BlurReference.terms`)."""
    return BlurReference(x).terms(x_hat)


class BlurReference:
    """The originals' half of `blur`, computed once.

    A trial scores the same probe images every epoch: their luminance pyramid,
    its energies and their coarse chroma are kept, so an epoch pays only for the
    reconstructions'. `BlurReference(x).blur(x_hat)` equals `blur(x, x_hat)`.
    """

    def __init__(self, x: np.ndarray):
        x = _check_images(x, "x")
        self.shape = x.shape
        self.levels = pyramid_levels(min(x.shape[1:3]))
        luminance, chroma = luminance_chroma(x)
        self.details = detail_pyramid(luminance, self.levels)
        self.energies = [_energy(detail) for detail in self.details]
        self.chroma = coarse(chroma, self.levels)
        self.chroma_energy = max(_energy(self.chroma), CHROMA_FLOOR * self.chroma.size)

    def terms(self, x_hat: np.ndarray) -> dict[str, object]:
        """The parts of the blur of `x_hat` against the originals.

        gains[s] = g_s = <B_s x_hat, B_s x> / ||B_s x||^2: the share of the
        original's detail reproduced in place (1 when perfect, below 1 when
        blurred). errors[s] = e_s = ||B_s x_hat - g_s B_s x||^2 / ||B_s x||^2 >= 0:
        detail that is not the original's (noise, checkerboards). Flat levels:
        g_s = 1 and e_s = ||B_s x_hat||^2 / (values * DETAIL_FLOOR).
        detail = mean_s (1 - g_s) + NOISE_WEIGHT * mean_s e_s.
        colour = ||C x_hat - C x||^2 / ||C x||^2 with C the coarse chroma.
        """
        x_hat = _check_images(x_hat, "x_hat")
        if x_hat.shape != self.shape:
            raise ValueError(f"x and x_hat must have the same shape, got {self.shape} and {x_hat.shape}")
        luminance, chroma = luminance_chroma(x_hat)
        gains, errors = [], []
        for detail, reference, detail_hat in zip(self.details, self.energies, detail_pyramid(luminance, self.levels)):
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
        gains, errors = np.array(gains), np.array(errors)
        colour = _energy(coarse(chroma, self.levels) - self.chroma) / self.chroma_energy
        detail_loss = float((1.0 - gains.mean()) + NOISE_WEIGHT * errors.mean())
        return {"gains": gains, "errors": errors, "detail": detail_loss, "colour": colour}

    def blur(self, x_hat: np.ndarray) -> float:
        """`blur(x, x_hat)` for the originals this reference was built from."""
        terms = self.terms(x_hat)
        return combine_blur(terms["detail"], terms["colour"])


def combine_blur(detail: float, colour: float) -> float:
    """blur from its two parts: detail + COLOUR_WEIGHT * colour."""
    return float(detail + COLOUR_WEIGHT * colour)


def blur(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Full-reference blur of reconstructions `x_hat` of `x` (both [N, H, W, 3] in [0, 1]).

    blur = detail + COLOUR_WEIGHT * colour (see the module docstring and
    `BlurReference.terms`), with sums over the whole batch. 0 for a perfect
    reconstruction; rising strictly with Gaussian blur from 0.5 to 8 px; 0.5
    for a grey rendering, 1.5 for rotated colour channels; about 1.5 for a flat
    image of the mean colour, more than any blur; not lowered by added noise.
    Lower is sharper. Can dip slightly below 0 only for reconstructions that
    over-sharpen. Always finite.
    """
    return BlurReference(x).blur(x_hat)


def colour_fidelity(x: np.ndarray, x_hat: np.ndarray) -> float:
    """1 - the colour part of `blur`, floored at 0: 1 for right colours, 0 for grey or worse."""
    return colour_fidelity_of(BlurReference(x).terms(x_hat)["colour"])


def colour_fidelity_of(colour_error: float) -> float:
    return float(max(0.0, 1.0 - colour_error))


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


def unevenness(path: np.ndarray) -> np.ndarray:
    """std_k(d) / mean_k(d) of each pair's step sizes, [P]: 0 for even steps, about sqrt(T-1) for one jump.

    Independent of how curved the path is; std is the population std (ddof 0).
    A pair that does not move (mean step RMS per value <= STILL_STEP) scores 0:
    it has no steps to compare; `travel_shortfall` is what marks it.
    """
    d = step_sizes(path)
    values = int(np.prod(path.shape[2:]))
    mean = d.mean(axis=1)
    moving = mean > STILL_STEP * np.sqrt(values)
    return np.where(moving, d.std(axis=1) / np.where(moving, mean, 1.0), 0.0)


def travel_shortfall(path: np.ndarray, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """How much of the way from the real source to the real target each decoded path fails to go, [P] in [0, 1].

    1 - ||x_T - x_0|| / ||target - source||, floored at 0: 0 when the decoded
    endpoints are as far apart as the real photos (a faithful model, or a real
    morph), 1 for a path that stands still (a decoder that ignores its latent).
    Identical sources and targets have nowhere to go: 0.
    """
    path = _check_path(path)
    sources, targets = np.asarray(sources, np.float64), np.asarray(targets, np.float64)
    if sources.shape != targets.shape or sources.shape != (path.shape[0], *path.shape[2:]):
        raise ValueError(f"sources and targets must be [P, H, W, 3] matching path {path.shape}, "
                         f"got {sources.shape} and {targets.shape}")
    pairs = len(path)
    decoded = np.asarray(path[:, -1], np.float64).reshape(pairs, -1) - np.asarray(path[:, 0], np.float64).reshape(pairs, -1)
    real = (targets - sources).reshape(pairs, -1)
    decoded_distance = np.sqrt(np.einsum("pv,pv->p", decoded, decoded))
    real_distance = np.sqrt(np.einsum("pv,pv->p", real, real))
    apart = real_distance > STILL_STEP * np.sqrt(real.shape[1])
    covered = decoded_distance / np.where(apart, real_distance, 1.0)
    return np.where(apart, np.clip(1.0 - covered, 0.0, 1.0), 0.0)


def roughness_terms(path: np.ndarray, sources: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """The parts of `roughness`: mean `unevenness` and mean `travel_shortfall` over pairs."""
    return {"unevenness": float(unevenness(path).mean()),
            "shortfall": float(travel_shortfall(path, sources, targets).mean())}


def roughness(path: np.ndarray, sources: np.ndarray, targets: np.ndarray) -> float:
    """How far decoded morphs [P, T+1, H, W, 3] are from taking you from source to target in even steps.

    Mean over pairs of unevenness + travel shortfall (see both). The real
    photos `sources` and `targets` ([P, H, W, 3]) belong to the judgement: a
    path that stands still is as rough as a jump from source to target (1, the
    whole way missing), where the old definition scored it 0, the best value,
    and let a collapsed model win. 0 for a faithful model with even steps; a
    blurred even cross-fade scores the share of the source-target difference
    its blur loses. Always finite and >= 0; lower is smoother.
    """
    terms = roughness_terms(path, sources, targets)
    return terms["unevenness"] + terms["shortfall"]


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
