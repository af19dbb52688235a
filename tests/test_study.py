"""Real Ray Tune studies on real Keras training, shrunk to seconds."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vae_tune.analysis import load_results
from vae_tune.analysis.report import write_report
from vae_tune.analysis.results import pareto_front
from vae_tune.cli import main
from vae_tune.tuning.session import run_study


def test_smoke_study_trains_reports_checkpoints_and_draws_a_grid(tiny_study, ray_session, capsys):
    outcome = run_study(tiny_study)
    out = capsys.readouterr().out
    experiment = outcome.experiment_dir
    assert (experiment / "study.json").is_file()
    # One concise line per epoch of each trial.
    assert out.count("epoch  2/2") == 2 and "objective" in out and "+--" not in out
    # The overall line, once both trials ended.
    assert "] 2 trials: 2 ended, 0 running, 0 pending; 4 of 4 epochs\n" in out

    table = load_results(experiment)
    assert len(table) == 2
    # search.baseline = false (conftest's TINY_OVERRIDES): num_samples trials, none of them a baseline.
    assert not tiny_study.search.baseline and not table["baseline"].any() and not (experiment / "baseline.json").exists()
    assert set(table["status"]) == {"finished"}
    assert (table["epochs"] == 2).all()
    for column in ("best_objective", "best_val/blur", "best_val/roughness"):
        assert table[column].between(0, 5).all(), table[column]
    # The Pareto column marks exactly the trials the other one does not beat on both scores.
    points = table[["best_val/blur", "best_val/roughness"]].to_numpy()
    for i, other in ((0, 1), (1, 0)):
        beaten = (points[other] <= points[i]).all() and (points[other] < points[i]).any()
        assert bool(table["pareto"].iloc[i]) is not beaten, table[["best_val/blur", "best_val/roughness", "pareto"]]
    assert table["kl_weight"].between(0.01, 1.0).all() and table["kl_weight"].nunique() == 2
    for checkpoint in table["best_checkpoint"]:
        state = json.loads((Path(checkpoint) / "trial.json").read_text())
        assert state["epoch"] in (1, 2) and math.isfinite(state["metrics"]["objective"])
        assert (Path(checkpoint) / "vae.weights.h5").stat().st_size > 0

    report = write_report(experiment)
    saved = pd.read_csv(report.out / "results.csv")
    assert list(saved["trial_id"]) == list(table["trial_id"])
    grid = np.asarray(Image.open(report.grid_path))
    steps, pairs, side = tiny_study.probe.interpolation_steps, tiny_study.probe.pairs, 16
    # Rows of pairs; columns source, T + 1 decoded steps, target; 2px gutters.
    assert grid.shape == (pairs * (side + 2) + 2, (steps + 3) * (side + 2) + 2, 3)
    assert grid.std() > 5  # a picture, not a blank page
    assert "best trial" in report.summary()

    # The same through the command line.
    assert main(["report", str(experiment), "--out", str(experiment / "again")]) == 0
    assert (experiment / "again" / "results.csv").is_file()
    assert "best trial" in capsys.readouterr().out


def test_the_pareto_front_keeps_the_trials_no_other_beats_on_both_scores():
    blur = np.array([0.5, 0.4, 0.6, 0.4, np.nan])
    roughness = np.array([0.5, 0.6, 0.6, 0.6, 0.1])
    # (0.6, 0.6) is beaten by (0.5, 0.5); the two (0.4, 0.6) tie, and a tie beats neither; NaN is never on it.
    assert pareto_front(blur, roughness).tolist() == [True, True, False, True, False]
    # Only candidates count, as beaten and as beating: alone, (0.6, 0.6) is on the front.
    assert pareto_front(blur, roughness, np.array([False, False, True, False, True])).tolist() == [
        False, False, True, False, False]


def test_asha_stops_weak_trials_early(tiny_study, ray_session):
    import dataclasses

    from vae_tune.config import Parameter

    study = dataclasses.replace(
        tiny_study,
        training=dataclasses.replace(tiny_study.training, epochs=3),
        search=dataclasses.replace(
            tiny_study.search,
            scheduler="asha",
            num_samples=4,
            max_concurrent_trials=1,  # sequential, so ASHA has earlier trials to compare against
            reduction_factor=2,
            space={"kl_weight": Parameter("loguniform", low=0.01, high=10.0),
                   "learning_rate": Parameter("loguniform", low=1e-5, high=1e-2)},
        ),
    )
    table = load_results(run_study(study).experiment_dir)
    assert len(table) == 4
    assert "stopped early" in set(table["status"]), table[["status", "epochs"]]
    assert (table.loc[table["status"] == "stopped early", "epochs"] < 3).all()


def test_pareto_study_searches_both_scores_with_nsga2(tiny_study, ray_session):
    import dataclasses

    from vae_tune.names import PARETO_METRICS
    from vae_tune.tuning.tuner import tune_config

    study = dataclasses.replace(
        tiny_study,
        training=dataclasses.replace(tiny_study.training, epochs=1),
        objective=dataclasses.replace(tiny_study.objective, kind="pareto"),
        # With the baseline trial: Optuna counts its point as one of num_samples, so the study asks for one more.
        search=dataclasses.replace(tiny_study.search, algorithm="nsga2", num_samples=3, baseline=True),
    )
    config = tune_config(study)
    # Multi-objective only while TuneConfig has no metric of its own (vae_tune.tuning.tuner.tune_config).
    assert config.metric is None and config.mode is None
    assert config.search_alg.metric == PARETO_METRICS and config.search_alg.mode == ["min", "min"]

    assert config.num_samples == 4 and len(config.search_alg._points_to_evaluate) == 1
    table = load_results(run_study(study).experiment_dir)
    assert len(table) == 4 and set(table["status"]) == {"finished"}
    assert table["baseline"].sum() == 1
    # The tutorial's kl_weight at 16px (0.003) is below the searched range: Optuna runs it anyway.
    assert table.loc[table["baseline"], "kl_weight"].item() == pytest.approx(0.003)
    front = table[table["pareto"]]
    assert not front.empty
    for _, row in front.iterrows():
        others = table.drop(row.name)
        dominated = ((others["best_val/blur"] <= row["best_val/blur"])
                     & (others["best_val/roughness"] <= row["best_val/roughness"])
                     & ((others["best_val/blur"] < row["best_val/blur"])
                        | (others["best_val/roughness"] < row["best_val/roughness"])))
        assert not dominated.any()
