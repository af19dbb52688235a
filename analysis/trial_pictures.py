"""Draw one trial's pictures (interpolations, morphs, hybrids, prior samples, GIF) from its best checkpoint.

For a trial `vae-tune report` did not draw (it draws the best K and the Pareto front):

    python analysis/trial_pictures.py EXPERIMENT_DIR TRIAL_ID --out pictures/

TRIAL_ID is the id in results.csv (e.g. e3f27_00007).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment_dir", help="an experiment directory or storage URI")
    parser.add_argument("trial_id")
    parser.add_argument("--out", type=Path, default=Path("pictures"))
    args = parser.parse_args()

    from vae_tune.analysis import load_results, load_study_config
    from vae_tune.analysis.held_out import held_out_data
    from vae_tune.analysis.report import render_trial

    table = load_results(args.experiment_dir).set_index("trial_id", drop=False)
    if args.trial_id not in table.index or not table.loc[args.trial_id, "best_checkpoint"]:
        print(f"trial_pictures: {args.trial_id}: no such trial with a checkpoint in {args.experiment_dir}", file=sys.stderr)
        return 2
    study = load_study_config(args.experiment_dir)
    for picture in render_trial(table.loc[args.trial_id], held_out_data(study), study, args.out):
        print(f"wrote {args.out / picture.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
