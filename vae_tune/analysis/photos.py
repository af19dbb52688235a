"""`vae-tune interpolate`: morph between two of the user's own photos with a trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vae_tune.analysis.results import best_checkpoint, best_trial, load_results
from vae_tune.imaging import UnreadableImage, image_grid
from vae_tune.names import BEST_CHECKPOINT, PARAMS_FILE, STATE_FILE, STUDY_FILE
from vae_tune.storage import is_uri, mirror_location
from vae_tune.training.checkpoint import load_model, read_state


def resolve_checkpoint(location: str | Path) -> Path:
    """A checkpoint directory; a trial directory means its best checkpoint, an experiment its best trial's.
    Each may be a storage URI (s3://, gs://), read through a local mirror; the weights come when the model loads."""
    location = mirror_location(str(location)) if is_uri(location) else Path(location).expanduser()
    if (location / STATE_FILE).is_file():
        return location
    if (location / PARAMS_FILE).is_file():
        checkpoint, _ = best_checkpoint(location)
        if checkpoint is None:
            raise FileNotFoundError(f"{location}: this trial has no checkpoint yet")
        return checkpoint
    if (location / STUDY_FILE).is_file():
        return resolve_checkpoint(best_trial(load_results(location))[BEST_CHECKPOINT])
    raise FileNotFoundError(f"{location} is not a checkpoint, trial or experiment directory ({STATE_FILE} is missing)")


def describe_checkpoint(checkpoint: Path, state: dict) -> str:
    """`<dir> (epoch 12; latent_dim 32, kl_weight 0.077, chroma_weight 4)`: which model a command used.

    A checkpoint from before chroma_weight existed trained with the RGB error, weight 1.
    """
    model = state["model"]
    return (f"{checkpoint} (epoch {state.get('epoch', '?')}; latent_dim {model['latent_dim']}, "
            f"kl_weight {model['kl_weight']:.4g}, chroma_weight {model.get('chroma_weight', 1.0):.3g})")


def read_photo(path: str | Path, image_size: int, role: str) -> np.ndarray:
    """One photo as the model sees it (uint8, padded to a white square); one clear line if it cannot be."""
    from vae_tune.data.decode import decode_image

    path = Path(path).expanduser()
    if not path.is_file():
        raise UnreadableImage(f"{role} {path}: no such file")
    try:
        return decode_image(path, image_size)
    except (OSError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
        raise UnreadableImage(f"{role} {path}: not an image that can be read ({type(error).__name__})") from None


def morph_photos(checkpoint: str | Path, source: str | Path, target: str | Path, steps: int = 8) -> np.ndarray:
    """uint8 [steps + 3, H, W, 3]: the source photo, the decoded straight line z_0..z_T between them, the target."""
    from vae_tune.analysis.figures import interpolation_frames

    checkpoint = resolve_checkpoint(checkpoint)
    size = int(read_state(checkpoint)["model"]["image_size"])
    # Read the photos before building the model: a wrong path should fail in a moment.
    images = [read_photo(path, size, role) for path, role in ((source, "SOURCE_IMAGE"), (target, "TARGET_IMAGE"))]
    model, _ = load_model(checkpoint)
    return interpolation_frames(model, *images, steps=steps)


def save_strip(frames: np.ndarray, path: Path) -> None:
    """The frames side by side in one PNG, with the 2px gutters of every other grid."""
    image_grid(frames[None]).save(path)
