"""Train the same model twice, kl_weight 100x apart, and print blur and roughness of both.

The trade-off the study navigates: a higher KL weight should give blurrier
reconstructions and a smoother latent space. Same seed, data and epochs; only
kl_weight differs.

    python analysis/kl_tradeoff.py [--study local] [--low 0.01] [--high 1.0] [--epochs 20]
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPORTED = ("val/blur", "val/roughness", "val/roughness_cross", "val/effective_blur_sigma", "val/kl",
            "val/active_units", "val/midpoint_sharpness", "val/psnr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="local")
    parser.add_argument("--low", type=float, default=0.01)
    parser.add_argument("--high", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--latent-dim", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    args = parser.parse_args()

    from vae_tune.config import load_study
    from vae_tune.data.dataset import load_dataset
    from vae_tune.training.distribute import configure_threads
    from vae_tune.training.trainer import TrialTrainer

    configure_threads(2)
    study = load_study(args.study, [f"training.epochs={args.epochs}"])
    dataset = load_dataset(study.data)
    outcome = {}
    for kl_weight in (args.low, args.high):
        params = {"kl_weight": kl_weight, "latent_dim": args.latent_dim, "learning_rate": args.learning_rate}
        trainer = TrialTrainer(study, params, dataset)
        for _ in range(args.epochs):
            result = trainer.train_epoch()
        outcome[kl_weight] = {name: round(float(result[name]), 4) for name in REPORTED}
        print(f"kl_weight={kl_weight:g} after {args.epochs} epochs: " + json.dumps(outcome[kl_weight]), flush=True)
    low, high = outcome[args.low], outcome[args.high]
    print(f"blur: {low['val/blur']:.3f} -> {high['val/blur']:.3f} "
          f"({'higher' if high['val/blur'] > low['val/blur'] else 'NOT higher'} with 100x kl_weight); "
          f"roughness: {low['val/roughness']:.3f} -> {high['val/roughness']:.3f} "
          f"({'lower' if high['val/roughness'] < low['val/roughness'] else 'NOT lower'})")


if __name__ == "__main__":
    main()
