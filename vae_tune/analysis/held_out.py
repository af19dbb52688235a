"""The held-out images of a finished study, rebuilt from its study.json alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vae_tune.config import StudyConfig
from vae_tune.data.dataset import Probe, load_dataset, make_probe, split_indices


@dataclass(frozen=True)
class HeldOut:
    """The validation split every trial of the study was scored on."""

    probe: Probe  # the exact images and pairs blur and roughness were measured on
    images: np.ndarray  # uint8 [N, H, W, 3]: every validation image
    labels: np.ndarray  # int64 [N]
    label_names: tuple[str, ...]

    @property
    def has_labels(self) -> bool:
        """Whether there is more than one category to morph within (a flat folder has one)."""
        return len(self.label_names) > 1


def held_out_data(study: StudyConfig) -> HeldOut:
    """Regenerate (or reload) the study's data and cut the same validation split and probe as its trials."""
    dataset = load_dataset(study.data)
    train, validation = split_indices(dataset.ids, study.data.validation_fraction, study.data.seed)
    probe = make_probe(dataset, validation, study.probe, seed=study.data.seed, train=train)
    return HeldOut(probe, dataset.images[validation], dataset.labels[validation], dataset.label_names)
