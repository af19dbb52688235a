"""What share of an epoch goes to scoring, at the default study's sizes.

Trains one trial of `studies/local.toml` (or --study) for a few epochs with
`TrialTrainer`, outside Ray, and compares every epoch's scoring on the probe
(blur, roughness, diagnostics) with its training pass. The first epoch is
dropped (tracing). `python -m benchmarks` measures the same inside a real Tune
trial, with `shares` below.

    python -m benchmarks.scoring_share [--study local] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TARGET_SHARE = 0.05  # issue 8: scoring at most 5% of an epoch's training time


def shares(epochs: list[dict[str, float]]) -> list[float]:
    """Scoring time over training time, per epoch ({"train": s, "scoring": s})."""
    return [epoch["scoring"] / epoch["train"] for epoch in epochs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="local")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    from vae_tune.config import load_study
    from vae_tune.data.dataset import load_dataset
    from vae_tune.training.distribute import configure_threads
    from vae_tune.training.trainer import TrialTrainer

    configure_threads(1)  # a trial's share of a 2-core machine in the local study
    study = load_study(args.study, args.overrides)
    trainer = TrialTrainer(study, {"latent_dim": 256, "kl_weight": 0.05}, load_dataset(study.data))
    epochs = []
    for _ in range(args.epochs):
        result = trainer.train_epoch()
        epochs.append({"train": result["time/train_seconds"], "scoring": result["time/scoring_seconds"]})
    epochs = epochs[1:] or epochs
    share = shares(epochs)
    summary = {
        "study": study.name,
        "image_size": study.data.image_size,
        "train_images": len(trainer.train_indices),
        "probe_images": len(trainer.probe.images),
        "interpolated_points": (len(trainer.probe.pair_starts) + len(trainer.probe.cross_starts))
        * (study.probe.interpolation_steps + 1),
        "train_seconds_median": statistics.median(e["train"] for e in epochs),
        "scoring_seconds_median": statistics.median(e["scoring"] for e in epochs),
        "scoring_share_median": statistics.median(share),
        "scoring_share_range": [min(share), max(share)],
    }
    print(json.dumps(summary, indent=2))
    print(f"scoring / training time per epoch: {summary['scoring_share_median']:.1%} "
          f"(range {min(share):.1%}..{max(share):.1%}; target <= {TARGET_SHARE:.0%})")


if __name__ == "__main__":
    main()
