"""Replay a finished ASHA study's first rung with the collapsed epochs' ordered stand-ins against the flat 10.

When does each trial stop collapsing (first epoch that beats the mean image),
and what would ASHA's rung at the grace period have decided had the collapsed
epochs reported `collapsed_score` (9-10, by PSNR) instead of the flat 10 that
studies before it reported? Reads only the trials' result.json files and
study.json; the rung is Ray's own bookkeeping (`_Bracket`), fed the trials in
the order their grace-period epochs reached the driver. Later trials might have
reached the rung in another order had an earlier one been kept, so the
replay is exact for the scores and an approximation for the timing.

    python analysis/collapse_rungs.py EXPERIMENT_DIR [--grace N]

`--grace` replays the first rung at another epoch than the study's grace
period (its later rungs need epochs that stopped trials never trained).
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment_dir")
    parser.add_argument("--grace", type=int, help="the first rung's epoch (default: the study's grace_period)")
    args = parser.parse_args()

    from ray.tune.schedulers.async_hyperband import _Bracket

    from vae_tune.analysis.results import read_trial_results
    from vae_tune.experiment import load_study_config
    from vae_tune.names import COLLAPSED, EPOCH, MEAN_IMAGE_PSNR, METRIC, PSNR
    from vae_tune.training.scoring import collapsed_score

    experiment = os.path.expanduser(args.experiment_dir)
    study = load_study_config(experiment)
    grace, factor, epochs = args.grace or study.search.grace_period, study.search.reduction_factor, study.training.epochs
    trials = []
    for name in sorted(os.listdir(experiment)):
        if not name.startswith("trial_"):
            continue
        history = read_trial_results(os.path.join(experiment, name))
        at_rung = history[history[EPOCH] == grace]
        if at_rung.empty:
            continue
        row = at_rung.iloc[0]
        scored = history[~history[COLLAPSED].astype(bool)]
        ordered = collapsed_score(row[PSNR], row[MEAN_IMAGE_PSNR]) if row[COLLAPSED] else row[METRIC]
        trials.append({"trial": name.removeprefix("trial_"), "arrived": row["timestamp"], "epochs": int(history[EPOCH].max()),
                       "first_scored": int(scored[EPOCH].min()) if not scored.empty else None,
                       "psnr": row[PSNR], "collapsed": bool(row[COLLAPSED]), "flat": row[METRIC], "ordered": ordered})
    trials.sort(key=lambda trial: (trial["arrived"], trial["trial"]))

    def decide(scores: str) -> dict[str, str]:
        bracket = _Bracket(min_t=grace, max_t=epochs, reduction_factor=factor, s=0)
        return {trial["trial"]: bracket.on_result(_Trial(trial["trial"]), grace, -trial[scores]) for trial in trials}

    flat, ordered = decide("flat"), decide("ordered")
    print(f"rung at epoch {grace}, reduction factor {factor}; trials in the order they reached it")
    print(f"{'trial':<12}{'first scored':>13}{'psnr@' + str(grace):>9}{'flat':>9}{'ordered':>9}  {'ran':>4}  flat -> ordered")
    for trial in trials:
        first = trial["first_scored"] or f">{trial['epochs']}"
        print(f"{trial['trial']:<12}{first:>13}{trial['psnr']:>9.2f}{trial['flat']:>9.4f}{trial['ordered']:>9.4f}  "
              f"{trial['epochs']:>4}  {flat[trial['trial']]} -> {ordered[trial['trial']]}")
    changed = [name for name in flat if flat[name] != ordered[name]]
    print(f"decisions changed: {', '.join(changed) if changed else 'none'}")
    print(json.dumps({"flat": flat, "ordered": ordered}))


class _Trial:
    """The one attribute of a Tune trial that `_Bracket.on_result` reads."""

    def __init__(self, trial_id: str):
        self.trial_id = trial_id


if __name__ == "__main__":
    main()
