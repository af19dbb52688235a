"""`vae-tune score`: score a trained model on photo pairs that never entered its study.

A pairs folder has the tutorial's layout: `source/` and `target/` holding
photos with matching file names, each pair two products of a kind. They are
scored by the study's own `ProbeScorer` on a probe made of them (blur on every
photo, roughness on the source-to-target paths), so the numbers mean what the
study's `val/*` numbers mean.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vae_tune.analysis.photos import describe_checkpoint, read_photo, resolve_checkpoint
from vae_tune.config import ConfigError, ObjectiveConfig, ProbeConfig
from vae_tune.data.dataset import Probe
from vae_tune.data.decode import IMAGE_SUFFIXES
from vae_tune.experiment import load_study_config
from vae_tune.imaging import UnreadableImage
from vae_tune.log import logger
from vae_tune.names import BLUR, COLOUR_FIDELITY, OBJECTIVE, PSNR, ROUGHNESS, STUDY_FILE, UNSCORED_FLAGS, WORST_SCORES
from vae_tune.training.checkpoint import load_model, read_state

SOURCE, TARGET = "source", "target"
# Scores shown, in this order, when the scorer reports them; the components of blur and
# roughness it reports (`val/blur_*`, `val/roughness_*`) follow each, whatever they are.
SHOWN_SCORES = (BLUR, ROUGHNESS, PSNR, COLOUR_FIDELITY)
WITH_COMPONENTS = (BLUR, ROUGHNESS)
MAX_NAMED = 5  # skipped files named in the output; the rest are counted


def image_names(folder: Path) -> list[str]:
    """The image files directly in `folder` by suffix, as `data.path` folders are listed; hidden files left out."""

    return sorted(path.name for path in folder.iterdir()
                  if path.is_file() and path.name.lower().endswith(IMAGE_SUFFIXES) and not path.name.startswith("."))


def match_pairs(directory: str | Path) -> tuple[list[str], list[str]]:
    """(names in both source/ and target/, `source/x.jpg`-style paths with no partner).

    FileNotFoundError, naming what is missing, for a missing folder, an empty side or no matching name.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        problem = "not a directory" if directory.exists() else "no such directory"
        raise FileNotFoundError(f"--pairs {directory}: {problem}")
    for side in (SOURCE, TARGET):
        if not (directory / side).is_dir():
            raise FileNotFoundError(f"--pairs {directory}: no {side}/ folder; it needs source/ and target/ "
                                    "holding photos with matching file names")
    names = {}
    for side in (SOURCE, TARGET):
        names[side] = image_names(directory / side)
        if not names[side]:
            raise FileNotFoundError(f"--pairs {directory}: {side}/ holds no image files")
    matched = sorted(set(names[SOURCE]) & set(names[TARGET]))
    unmatched = [f"{side}/{name}" for side in (SOURCE, TARGET) for name in names[side] if name not in matched]
    if not matched:
        raise FileNotFoundError(f"--pairs {directory}: no file name in source/ matches one in target/ "
                                f"({len(names[SOURCE])} in source/, e.g. {names[SOURCE][0]}; "
                                f"{len(names[TARGET])} in target/, e.g. {names[TARGET][0]})")
    return matched, unmatched


@dataclass(frozen=True)
class PhotoPairs:
    """The readable pairs of a pairs folder at one image size, and what was left out."""

    directory: Path
    names: tuple[str, ...]  # the file name of each pair scored
    sources: np.ndarray  # uint8 [P, H, W, 3], padded to a white square like every study image
    targets: np.ndarray  # uint8 [P, H, W, 3]
    unmatched: tuple[str, ...]  # "source/x.jpg": no file of that name on the other side
    unreadable: tuple[str, ...]  # one reason per file that could not be read; its pair is left out

    def probe(self) -> Probe:
        """A probe of these pairs: blur on every photo, roughness along each source-to-target path, no cross pairs.

        No mean training image (the study's data is not at hand), so the scorer
        reports every score as measured and never marks the pairs `collapsed`.
        """
        sources, targets = (images.astype(np.float32) / 255.0 for images in (self.sources, self.targets))
        no_pairs = np.zeros((0, *sources.shape[1:]), dtype=np.float32)
        return Probe(images=np.concatenate([sources, targets]), pair_starts=sources, pair_ends=targets,
                     cross_starts=no_pairs, cross_ends=no_pairs)


def read_pairs(directory: str | Path, image_size: int) -> PhotoPairs:
    """Every matching pair whose two photos can be read, at `image_size` the way `vae-tune interpolate` reads them."""

    directory = Path(directory).expanduser()
    matched, unmatched = match_pairs(directory)
    names, sources, targets, unreadable = [], [], [], []
    for name in matched:
        photos = []
        for side in (SOURCE, TARGET):
            path = directory / side / name
            try:
                photos.append(read_photo(path, image_size, role=side))
            except UnreadableImage as error:  # "source /the/folder/source/x.jpg: why" as "source/x.jpg: why"
                unreadable.append(str(error).replace(f"{side} {path}", f"{side}/{name}", 1))
        if len(photos) == 2:
            names.append(name)
            sources.append(photos[0])
            targets.append(photos[1])
    if not names:
        raise UnreadableImage(f"--pairs {directory}: none of the {len(matched)} matching pairs could be read "
                              f"({len(unreadable)} unreadable files, e.g. {unreadable[0]})")
    return PhotoPairs(directory, tuple(names), np.stack(sources), np.stack(targets),
                      tuple(unmatched), tuple(unreadable))


def study_scoring(checkpoint: Path) -> tuple[ObjectiveConfig, ProbeConfig, str]:
    """The objective and probe config of the study that trained `checkpoint`, and where they came from.

    A checkpoint's trial.json holds its model, training and data config but not
    the objective; the experiment it sits in (checkpoint_N/ in a trial folder in
    the experiment folder) holds the whole study in study.json. Without one, the
    defaults, said so.
    """
    experiment = checkpoint.resolve().parent.parent
    if not (experiment / STUDY_FILE).is_file():
        return ObjectiveConfig(), ProbeConfig(), f"defaults: no {STUDY_FILE} of the study beside the checkpoint"
    try:
        study = load_study_config(experiment)
    except (ConfigError, ValueError) as error:
        return ObjectiveConfig(), ProbeConfig(), f"defaults: {experiment / STUDY_FILE} could not be read ({error})"
    return study.objective, study.probe, f"the study's, from {experiment / STUDY_FILE}"


@dataclass(frozen=True)
class PairScores:
    checkpoint: Path
    state: dict[str, Any]  # the checkpoint's trial.json
    pairs: PhotoPairs
    objective: ObjectiveConfig
    interpolation_steps: int
    config_source: str  # where the objective and probe settings came from
    scores: dict[str, float]
    model: Any  # the loaded keras model, for `grid`

    def summary(self) -> str:
        return "\n".join(summary_lines(self))

    def grid(self):
        """Rows of pairs: the real source, the decoded straight line between latent means, the real target."""
        from vae_tune.analysis.figures import interpolation_grid

        return interpolation_grid(self.model, self.pairs.probe(), steps=self.interpolation_steps)


def score_pairs(checkpoint: str | Path, directory: str | Path) -> PairScores:
    """Load `checkpoint` (or a trial's or experiment's best) and score it on the pairs in `directory`."""
    from vae_tune.training.scoring import ProbeScorer  # imports TensorFlow: only after the photos are read

    checkpoint = resolve_checkpoint(checkpoint)
    state = read_state(checkpoint)
    # The photos before the model: a wrong folder fails in a moment, not after TensorFlow starts.
    pairs = read_pairs(directory, int(state["model"]["image_size"]))
    objective, probe, config_source = study_scoring(checkpoint)
    started = time.monotonic()
    logger.info(f"loading the model from {checkpoint}")
    model, state = load_model(checkpoint)
    logger.info(f"scoring {len(pairs.names)} pairs ({2 * len(pairs.names)} photos, "
                f"{probe.interpolation_steps + 1} decoded points per pair)")
    scores = ProbeScorer(pairs.probe(), objective, probe.interpolation_steps).score(model)
    logger.info(f"done in {time.monotonic() - started:.1f}s")
    return PairScores(checkpoint, state, pairs, objective, probe.interpolation_steps, config_source, scores, model)


def shown_keys(scores: dict[str, Any]) -> list[str]:
    """SHOWN_SCORES present in `scores`, the components of blur and roughness after each, then the objective."""
    keys = []
    for key in SHOWN_SCORES:
        if key in scores:
            keys.append(key)
        if key in WITH_COMPONENTS:
            keys += [name for name in scores if name.startswith(f"{key}_")]
    return keys + [OBJECTIVE]


def _listed(items: tuple[str, ...]) -> str:
    named = "; ".join(items[:MAX_NAMED])
    return named + (f"; and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")


def summary_lines(scored: PairScores) -> list[str]:
    state, pairs, objective = scored.state, scored.pairs, scored.objective
    size = state["model"]["image_size"]
    lines = [
        f"checkpoint  {describe_checkpoint(scored.checkpoint, state)}",
        f"pairs       {len(pairs.names)} scored from {pairs.directory} "
        f"({2 * len(pairs.names)} photos padded to white {size}x{size} squares)",
    ]
    skipped = len(pairs.unmatched) + len(pairs.unreadable)
    lines.append("skipped     none" if not skipped else f"skipped     {skipped} files")
    if pairs.unmatched:
        lines.append(f"  {len(pairs.unmatched)} without a partner of the same name: {_listed(pairs.unmatched)}")
    if pairs.unreadable:
        lines.append(f"  {len(pairs.unreadable)} unreadable, their pairs left out: {_listed(pairs.unreadable)}")
    lines.append(f"objective   blur + {objective.roughness_weight:g} * roughness, {scored.interpolation_steps} "
                 f"interpolation steps; {scored.config_source}")
    trained = state.get("metrics", {})
    # A diverged, collapsed or timed-out epoch reported stand-ins for these (WORST_SCORES' keys), not scores.
    unscored = next((flag for flag in UNSCORED_FLAGS if trained.get(flag)), None)
    lines.append(f"  {'score':<26}{'these pairs':>12}{'study probe':>14}")
    for key in shown_keys(scored.scores):
        then = trained.get(key)
        if unscored and key in WORST_SCORES:
            then = f"{unscored:>14}"
        else:
            then = f"{then:>14.4f}" if isinstance(then, (int, float)) else f"{'-':>14}"
        lines.append(f"  {key:<26}{scored.scores[key]:>12.4f}{then}")
    return lines
