"""The failures a person sees in reconstructions and morphs, made on purpose, to check the scores against.

Each function takes float images [N, H, W, 3] in [0, 1] (or pairs of them) and
returns what a bad model could have produced. The property tests
(tests/test_score_properties.py) and the score tables of
`analysis/score_examples.py` both use them, so the table in docs/scores.md is
exactly what the tests assert on.
"""

from __future__ import annotations

import numpy as np

from vae_tune import metrics

SIGMAS = (0.5, 1.0, 2.0, 4.0, 8.0)  # Gaussian blur in pixels: the range VAE reconstructions live in
SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


def grey(x: np.ndarray) -> np.ndarray:
    """All colour removed, brightness kept."""
    return np.repeat(x.mean(axis=-1, keepdims=True), 3, axis=-1)


def sepia(x: np.ndarray) -> np.ndarray:
    """Brown-grey, as the tutorial's VAE renders every product at low budgets."""
    return np.clip(x @ SEPIA.T, 0.0, 1.0)


def rotated_channels(x: np.ndarray) -> np.ndarray:
    """Red rendered green, green blue, blue red: a red bag comes out green."""
    return x[..., [1, 2, 0]]


def flat_mean_colour(x: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Every pixel the mean colour of `reference` (default `x`): a model that learnt only the average colour."""
    mean = (x if reference is None else reference).mean(axis=(0, 1, 2))
    return np.broadcast_to(mean, x.shape).copy()


def reconstructions(x: np.ndarray) -> dict[str, np.ndarray]:
    """Named degraded versions of `x`, in the order of the score tables."""
    cases = {"perfect": x.copy()}
    cases.update({f"blur {sigma:g} px": metrics.gaussian_blur(x, sigma) for sigma in SIGMAS})
    cases["grey"] = grey(x)
    cases["sepia"] = sepia(x)
    cases["rotated channels"] = rotated_channels(x)
    cases["flat mean colour"] = flat_mean_colour(x)
    return cases


def cross_fade(sources: np.ndarray, targets: np.ndarray, steps: int, sigma: float = 0.0) -> np.ndarray:
    """[P, T+1, H, W, 3]: an even cross-fade from each source to its target, Gaussian-blurred by `sigma` px."""
    if sigma:
        sources, targets = metrics.gaussian_blur(sources, sigma), metrics.gaussian_blur(targets, sigma)
    weights = np.linspace(0.0, 1.0, steps + 1)[None, :, None, None, None]
    return (1.0 - weights) * sources[:, None] + weights * targets[:, None]


def still_path(image: np.ndarray, pairs: int, steps: int) -> np.ndarray:
    """[P, T+1, H, W, 3]: the same image at every step, a decoder that ignores its latent."""
    return np.broadcast_to(image, (pairs, steps + 1, *image.shape)).copy()


def score_table(x: np.ndarray, sources: np.ndarray, targets: np.ndarray, steps: int = 16) -> list[dict]:
    """Rows of blur and roughness for each degradation of `x` and of morphs between `sources` and `targets`.

    Morph rows pair a reconstruction quality with a path: a blurred even
    cross-fade is blurred reconstructions whose morph is even; a decoder that
    returns the mean image (or flat grey) for everything is collapsed, with a
    still path.
    """
    reference = metrics.BlurReference(x)
    rows = []
    for name, x_hat in reconstructions(x).items():
        terms = reference.terms(x_hat)
        rows.append({"case": name, "blur": reference.blur(x_hat), "detail": terms["detail"],
                     "colour": terms["colour"]})
    pairs = len(sources)
    morphs = {f"even cross-fade, blur {sigma:g} px": (metrics.gaussian_blur(x, sigma) if sigma else x,
                                                      cross_fade(sources, targets, steps, sigma))
              for sigma in (0.0, 1.0, 2.0, 4.0)}
    mean = x.mean(axis=0)
    morphs["collapsed to the mean image"] = (np.broadcast_to(mean, x.shape), still_path(mean, pairs, steps))
    morphs["collapsed to flat grey"] = (np.full_like(x, 0.5), still_path(np.full_like(mean, 0.5), pairs, steps))
    for name, (x_hat, path) in morphs.items():
        blur = reference.blur(x_hat)
        terms = metrics.roughness_terms(path, sources, targets)
        roughness = terms["unevenness"] + terms["shortfall"]
        rows.append({"case": name, "blur": blur, "roughness": roughness, **terms, "objective": blur + roughness})
    return rows
