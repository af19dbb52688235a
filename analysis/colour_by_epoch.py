"""Train one configuration at several chroma weights and print colour fidelity by epoch.

What `model.chroma_weight` buys, measured with the project's own trainer
(TrialTrainer, the study's data, probe and scores): with the plain RGB error
(weight 1) colour comes last, and a model can sit on a sepia plateau for tens
of epochs; weighting the chroma error brings the jump to colour forward. Same
seed, data and epochs for every weight; only chroma_weight differs.

    python analysis/colour_by_epoch.py [--study local] [--weights 1 2 4 8] [--epochs 20]
                                       [--latent-dim 32] [--learning-rate 4e-3] [--kl-weight 0.077]
                                       [--set KEY=VALUE ...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHOWN_EPOCHS = (2, 5, 8, 10, 15, 20, 30, 40, 60)
FINAL = ("val/colour_fidelity", "val/psnr", "val/blur", "val/roughness", "objective")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="local")
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 2.0, 4.0, 8.0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=4e-3)
    parser.add_argument("--kl-weight", type=float, default=0.077)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a study override, as in vae-tune run")
    parser.add_argument("--out", help="also write every epoch's scores here, as JSON")
    args = parser.parse_args()

    from vae_tune.config import load_study
    from vae_tune.data.dataset import load_dataset
    from vae_tune.training.distribute import configure_threads
    from vae_tune.training.trainer import TrialTrainer

    configure_threads(2)
    study = load_study(args.study, [*args.set, f"training.epochs={args.epochs}"])
    dataset = load_dataset(study.data)
    curves: dict[float, list[dict]] = {}
    for weight in args.weights:
        params = {"latent_dim": args.latent_dim, "learning_rate": args.learning_rate, "kl_weight": args.kl_weight,
                  "chroma_weight": weight}
        trainer = TrialTrainer(study, params, dataset)
        started, curve = time.perf_counter(), []
        for _ in range(args.epochs):
            result = trainer.train_epoch()
            curve.append({name: float(result[name]) for name in (*FINAL, "collapsed") if name in result})
        curves[weight] = curve
        print(f"chroma_weight={weight:g}: {args.epochs} epochs in {time.perf_counter() - started:.0f}s; last epoch "
              + ", ".join(f"{name} {curve[-1][name]:.3f}" for name in FINAL), flush=True)

    epochs = [e for e in SHOWN_EPOCHS if e <= args.epochs]
    print(f"\ncolour fidelity by epoch (latent_dim {args.latent_dim}, learning_rate {args.learning_rate:g}, "
          f"kl_weight {args.kl_weight:g}; {args.study} study, its probe)")
    print("| chroma_weight | " + " | ".join(f"ep {e}" for e in epochs) + f" | PSNR ep {args.epochs} | best objective |")
    print("|---" * (len(epochs) + 3) + "|")
    for weight, curve in curves.items():
        fidelity = " | ".join(f"{curve[e - 1]['val/colour_fidelity']:.2f}" for e in epochs)
        print(f"| {weight:g} | {fidelity} | {curve[-1]['val/psnr']:.1f} | {min(c['objective'] for c in curve):.3f} |")
    if args.out:
        with open(args.out, "w") as stream:
            json.dump({"args": vars(args), "curves": {str(w): c for w, c in curves.items()}}, stream, indent=1)


if __name__ == "__main__":
    main()
