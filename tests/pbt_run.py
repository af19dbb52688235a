"""A tiny PBT study for the Ray tests, and, run as a script, its driver in a process of its own.

Its trials train, checkpoint and exploit for real, but each epoch reports the objective
kl_weight + 1/epoch: a 16-px model's own objective gets worse over its first epochs (collapsed,
~2.50 rising to ~2.52), and a recipient copies only a donor at least as far on, so on real
scores hardly any exploit would happen.

tests/test_pbt.py runs the study in the test's process. Run as a script (python pbt_run.py
STORAGE [OVERRIDE ...]) it is the driver that tests/test_fault_tolerance.py kills with SIGKILL
mid-study: a process of its own, so the kill takes the driver and the local Ray it started, as
a crash would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from conftest import TINY_OVERRIDES  # noqa: E402

from vae_tune.config import StudyConfig, load_study  # noqa: E402
from vae_tune.experiment import reported_results  # noqa: E402
from vae_tune.names import CHECKPOINT_SHA256, EPOCH, FIRST_EPOCH, FROM_SHA256, LAST_EPOCH, LINEAGE, TRIAL_ID  # noqa: E402
from vae_tune.training.checkpoint import checkpoint_states  # noqa: E402


def tiny_pbt_study(storage: str | Path, overrides: list[str] = ()) -> StudyConfig:
    """studies/pbt.toml shrunk: 16-px images, 4 members, perturbed after every epoch; `overrides` on top."""
    return load_study("pbt", TINY_OVERRIDES + [
        f'storage_path="{storage}"', "search.num_samples=4", "pbt.perturbation_interval=1", "pbt.burn_in=0",
        "pbt.quantile_fraction=0.5",
        # Sampled once per member; a recipient takes its donor's with the weights.
        "search.space.latent_dim={distribution='choice', values=[4, 8]}",
        *overrides,
    ])


def scored_by_kl_weight():
    """The study's trainable with each epoch scored kl_weight + 1/epoch (see the module's docstring).

    Made by a function so that Ray pickles it by value: trial processes cannot import this module.
    """

    def scored_by_kl_weight(config, study, dataset, experiment_dir):
        from vae_tune.names import OBJECTIVE
        from vae_tune.training.trainer import TrialTrainer
        from vae_tune.tuning.trainable import train_vae

        train_epoch = TrialTrainer.train_epoch

        def scored(self):
            metrics = train_epoch(self)
            return {**metrics, OBJECTIVE: self.model.config.kl_weight + 1.0 / self.epoch}

        TrialTrainer.train_epoch = scored  # in this trial's own process
        train_vae(config, study, dataset, experiment_dir)

    return scored_by_kl_weight


def assert_lineages_consistent(experiment: Path) -> None:
    """Every checkpoint's lineage, pruned ones too: segments contiguous from epoch 1 to the checkpoint's
    epoch, the last trained by the trial itself; weights change hands only through an exploit, whose
    segment names a checkpoint the donor reported, one epoch before the segment starts."""
    reported = {folder.name.removeprefix("trial_"): {row[CHECKPOINT_SHA256]: row[EPOCH] for row in reported_results(folder)
                                                     if CHECKPOINT_SHA256 in row}
                for folder in experiment.glob("trial_*")}
    for trial_id in reported:
        for path, state in checkpoint_states(experiment / f"trial_{trial_id}"):
            segments = state[LINEAGE]
            assert segments[0][FIRST_EPOCH] == 1 and segments[-1][LAST_EPOCH] == state[EPOCH], path
            assert segments[-1][TRIAL_ID] == trial_id, path
            for before, segment in zip(segments, segments[1:]):
                assert before[LAST_EPOCH] + 1 == segment[FIRST_EPOCH], path
                if FROM_SHA256 not in segment:
                    assert segment[TRIAL_ID] == before[TRIAL_ID], f"{path}: weights changed trials without an exploit"
                    continue
                donor = reported[before[TRIAL_ID]]
                assert donor.get(segment[FROM_SHA256]) == before[LAST_EPOCH], f"{path}: {before[TRIAL_ID]} never reported {segment}"


if __name__ == "__main__":
    from vae_tune.tuning.session import run_study

    storage, *overrides = sys.argv[1:]
    run_study(tiny_pbt_study(storage, overrides), trainable=scored_by_kl_weight())
