"""Draw a study's charts (Pareto plot, one axis plot per hyperparameter, training curves) without TensorFlow.

Quick enough to rerun every minute on a study that is still running:

    python analysis/study_charts.py EXPERIMENT_DIR --out charts/ [--top 3]

`vae-tune report` draws the same charts and each best trial's pictures too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vae_tune.analysis import load_results, load_study_config
from vae_tune.analysis.page import TRIALS_SHOWN
from vae_tune.analysis.report import save_charts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment_dir", help="an experiment directory or storage URI")
    parser.add_argument("--out", type=Path, default=Path("charts"))
    parser.add_argument("--top", type=int, default=TRIALS_SHOWN, help="how many of the best trials to label")
    args = parser.parse_args()
    table = load_results(args.experiment_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    for picture in save_charts(table, load_study_config(args.experiment_dir), args.top, args.out):
        print(f"wrote {args.out / picture.path}")


if __name__ == "__main__":
    main()
