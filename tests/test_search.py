"""One tiny TPE study: the Optuna searcher's trials come from the space, and Ray Tune's own
ExperimentAnalysis picks the best trial and checkpoint that vae-tune's results table does."""

import json
import math
from pathlib import Path

import pytest
from conftest import TINY_OVERRIDES

from vae_tune.config import load_study

KL_LOW, KL_HIGH = 0.01, 1.0
LEARNING_RATES = [1e-3, 3e-3]


@pytest.fixture(scope="module")
def tpe_study(tmp_path_factory, ray_session):
    """3 trials x 2 epochs searched by TPE; returns the study and its experiment directory."""
    from vae_tune.tuning.session import run_study

    storage = tmp_path_factory.mktemp("tpe") / "results"
    study = load_study("smoke", TINY_OVERRIDES + [
        f'storage_path="{storage}"',
        'search.algorithm="tpe"',
        "search.num_samples=3",
        "training.epochs=2",
        f"search.space.kl_weight={{distribution='loguniform', low={KL_LOW}, high={KL_HIGH}}}",
        f"search.space.learning_rate={{distribution='choice', values={LEARNING_RATES}}}",
    ])
    outcome = run_study(study)
    assert not outcome.interrupted
    return study, outcome.experiment_dir


@pytest.mark.slow
def test_a_tpe_study_runs_and_its_trials_come_from_the_space(tpe_study):
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from vae_tune.analysis import load_results
    from vae_tune.tuning.tuner import tune_config

    study, experiment = tpe_study
    searcher = tune_config(study).search_alg
    searcher = searcher.searcher if isinstance(searcher, ConcurrencyLimiter) else searcher
    assert isinstance(searcher, OptunaSearch) and type(searcher._sampler).__name__ == "TPESampler"
    # Tune saved the Optuna searcher's state (a random search saves basic-variant-state-*.json instead).
    assert list(experiment.glob("searcher-state-*.pkl")) and not list(experiment.glob("basic-variant-state-*"))

    params = [json.loads(p.read_text()) for p in sorted(experiment.glob("trial_*/params.json"))]
    assert len(params) == 3
    for trial in params:
        assert set(trial) == {"kl_weight", "chroma_weight", "learning_rate"}  # the smoke study's chroma_weight too
        assert KL_LOW <= trial["kl_weight"] <= KL_HIGH
        assert trial["learning_rate"] in LEARNING_RATES
    assert len({trial["kl_weight"] for trial in params}) == 3  # sampled, not one point repeated
    table = load_results(experiment)
    assert set(table["status"]) == {"finished"} and set(table["epochs"]) == {2}


@pytest.mark.slow
def test_ray_experiment_analysis_finds_the_same_best_trial_and_checkpoint(tpe_study):
    from ray.tune import ExperimentAnalysis

    from vae_tune.analysis import best_trial, load_results

    _, experiment = tpe_study
    table = load_results(experiment)
    ours = best_trial(table)

    analysis = ExperimentAnalysis(str(experiment))
    theirs = analysis.get_best_trial(metric="objective", mode="min", scope="all")
    assert theirs.trial_id == ours["trial_id"]
    checkpoint = analysis.get_best_checkpoint(theirs, metric="objective", mode="min")
    assert Path(checkpoint.path) == Path(ours["best_checkpoint"])
    # Both read the same numbers: the best epoch's objective.
    best_result = min((r for r in analysis.trial_dataframes[theirs.trial_id].to_dict("records")),
                      key=lambda r: r["objective"])
    assert math.isclose(best_result["objective"], ours["best_objective"], rel_tol=1e-9)
    assert int(best_result["epoch"]) == int(ours["best_epoch"])
    # Not a foregone conclusion: the trials' best objectives differ.
    assert table["best_objective"].nunique() == len(table)
