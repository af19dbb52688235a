"""The baseline trial (the tutorial's configuration) and `vae-tune confirm`, on a real tiny study."""

import contextlib
import hashlib
import io
import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_OVERRIDES

from vae_tune.analysis import load_results
from vae_tune.analysis.confirmation import format_summary, verdict
from vae_tune.analysis.plots import BASELINE_LABEL, pareto_plot
from vae_tune.analysis.report import write_report
from vae_tune.baseline import BASELINE_FILE, baseline_plan
from vae_tune.cli import main
from vae_tune.config import ConfigError, load_study
from vae_tune.names import CONFIRM_FILE
from vae_tune.names import CONFIRM_SUMMARY_FILE as SUMMARY_FILE
from vae_tune.tuning.session import resume_study, run_study
from vae_tune.tuning.tuner import expected_trials, tune_config

TOP, SEEDS = 1, 2
# The smoke study searches kl_weight and chroma_weight; at 16 px the tutorial's kl_weight is
# 16 * 16 * 3 / (1000 * 256), and its chroma_weight is 1 (the plain RGB error) at every size.
TUTORIAL_POINT_16PX = {"kl_weight": 0.003, "chroma_weight": 1.0}
# confirm's verdict line, whichever way it goes: the best configuration, the wins, each seed's pair of objectives.
SCORE = r"(\d+\.\d{4}|no score)"
VERDICT_LINE = re.compile(
    rf"^verdict: (?P<best>#\d+) (beats the baseline on every seed \((?P<all>\d+) of (?P=all); "
    rf"|does not beat the baseline on every seed: (?P<wins>\d+) of (?P<seeds>\d+) \()"
    rf"objective (?P<pairs>seed \d+: {SCORE} vs {SCORE}(, seed \d+: {SCORE} vs {SCORE})*)\)$", re.MULTILINE)


@pytest.fixture(scope="module")
def baseline_study(tmp_path_factory, ray_session):
    """A finished tiny study with its baseline trial: 2 searched trials + 1, one epoch each."""
    storage = tmp_path_factory.mktemp("baseline") / "results"
    study = load_study("smoke", TINY_OVERRIDES + [f'storage_path="{storage}"', "search.baseline=true",
                                                  "training.epochs=1"])
    outcome = run_study(study)
    assert not outcome.interrupted
    return {"study": study, "experiment_dir": outcome.experiment_dir}


@pytest.fixture(scope="module")
def confirmed(baseline_study):
    """`vae-tune confirm --top 1 --seeds 2` on the finished study, with the study's files hashed before and after."""
    experiment = baseline_study["experiment_dir"]
    before = _digests(experiment)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["confirm", str(experiment), "--top", str(TOP), "--seeds", str(SEEDS)])
    return {"code": code, "out": printed.getvalue(), "before": before, "after": _digests(experiment)}


def _digests(experiment: Path) -> dict[str, str]:
    """Every file of the study as the study left it (its report and confirm's own files aside)."""
    return {str(path.relative_to(experiment)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in experiment.rglob("*") if path.is_file()
            and path.relative_to(experiment).parts[0] not in ("report", "confirm", CONFIRM_FILE, SUMMARY_FILE)}


def test_a_study_runs_its_samples_and_one_baseline_trial_with_the_tutorials_params(baseline_study):
    study, experiment = baseline_study["study"], baseline_study["experiment_dir"]
    table = load_results(experiment)
    assert len(table) == study.search.num_samples + 1 == expected_trials(study)
    assert set(table["status"]) == {"finished"}
    assert table["baseline"].dtype == bool and table["baseline"].sum() == 1
    baseline = table[table["baseline"]].iloc[0]
    point = TUTORIAL_POINT_16PX
    assert study.data.image_size == 16 and list(study.search.space) == list(point)
    assert baseline[list(point)].to_dict() == pytest.approx(point)
    # At 16px the tutorial's kl_weight (0.003) and its chroma_weight (1) lie below the searched ranges:
    # the baseline runs them anyway, and the searched trials stay inside the ranges.
    assert not 0.01 <= point["kl_weight"] <= 1.0 and not 3.0 <= point["chroma_weight"] <= 24.0
    assert table.loc[~table["baseline"], "kl_weight"].between(0.01, 1.0).all()
    assert table.loc[~table["baseline"], "chroma_weight"].between(3.0, 24.0).all()
    recorded = json.loads((experiment / BASELINE_FILE).read_text())
    assert recorded["trial_id"] == baseline["trial_id"] and recorded["params"] == pytest.approx(point)


def test_the_baseline_mark_survives_a_resume_and_a_lost_trial_id(baseline_study, tmp_path):
    experiment = baseline_study["experiment_dir"]
    marked = load_results(experiment).set_index("trial_id")["baseline"]
    outcome = resume_study(experiment)  # a finished study: no trial runs again, none is added
    assert not outcome.interrupted and len(outcome.results) == len(marked)
    assert load_results(experiment).set_index("trial_id")["baseline"].to_dict() == marked.to_dict()
    # Without the recorded id (the driver died before Tune created the trial) the params find it.
    copy = tmp_path / "copy"
    shutil.copytree(experiment, copy, ignore=shutil.ignore_patterns("confirm*", "report"))
    record = json.loads((copy / BASELINE_FILE).read_text())
    (copy / BASELINE_FILE).write_text(json.dumps({**record, "trial_id": None}))
    assert load_results(copy).set_index("trial_id")["baseline"].to_dict() == marked.to_dict()


def test_the_report_states_the_best_trial_against_the_baseline_and_draws_it(baseline_study, tmp_path, monkeypatch):
    import vae_tune.analysis.report as report_module

    # A copy whose baseline is a trial below rank 1, and a report that would draw rank 1 alone:
    # the baseline's pictures must come all the same.
    copy = tmp_path / "experiment"
    shutil.copytree(baseline_study["experiment_dir"], copy, ignore=shutil.ignore_patterns("confirm*", "report"))
    table = load_results(copy)
    other = table[table["rank"] > 1].iloc[0]
    (copy / BASELINE_FILE).write_text(json.dumps({"params": {"kl_weight": other["kl_weight"]},
                                                  "trial_id": other["trial_id"]}))
    monkeypatch.setattr(report_module, "trials_to_render", lambda table, top: table[table["rank"] == 1])
    report = write_report(copy, out=tmp_path / "report", top=1)
    assert report.baseline["trial_id"] == other["trial_id"]
    summary = report.summary()
    line = next(line for line in summary.splitlines() if line.startswith("best vs baseline objective: "))
    assert f"baseline {other['trial_id']} {other['best_objective']:.4f}" in line
    assert (report.out / "trials" / other["trial_id"] / "interpolations.png").is_file()
    assert (report.out / "best_vs_baseline.png").is_file()
    page = (report.out / "index.html").read_text()
    assert "Against the baseline" in page and "best_vs_baseline.png" in page and "(baseline)" in page
    assert 'id="confirmation"' not in page  # confirm has not run on this copy


def test_the_pareto_plot_marks_the_baseline(baseline_study):
    table = load_results(baseline_study["experiment_dir"])
    labels = pareto_plot(table).axes[0].get_legend_handles_labels()[1]
    assert labels.count(BASELINE_LABEL) == 1
    unmarked = pareto_plot(table.assign(baseline=False)).axes[0].get_legend_handles_labels()[1]
    assert BASELINE_LABEL not in unmarked


def test_confirm_retrains_the_best_and_the_baseline_with_new_seeds(baseline_study, confirmed):
    study, experiment = baseline_study["study"], baseline_study["experiment_dir"]
    assert confirmed["code"] == 0
    assert confirmed["before"] == confirmed["after"]  # the study's own files are untouched
    rows = pd.read_csv(experiment / CONFIRM_FILE, dtype={"trial_id": str})
    assert len(rows) == (TOP + 1) * SEEDS
    seeds = sorted(set(rows["seed"]))
    assert len(seeds) == SEEDS and study.training.seed not in seeds
    table = load_results(experiment)
    best = table[~table["baseline"]].sort_values("rank").iloc[0]
    baseline = table[table["baseline"]].iloc[0]
    assert list(rows["config"].unique()) == [f"#{best['rank']}", "baseline"]
    for label, trial in ((f"#{best['rank']}", best), ("baseline", baseline)):
        runs = rows[rows["config"] == label]
        assert sorted(runs["seed"]) == seeds and set(runs["trial_id"]) == {trial["trial_id"]}
        assert runs["kl_weight"].tolist() == pytest.approx([trial["kl_weight"]] * SEEDS)
    assert rows.loc[rows["config"] == "baseline", "kl_weight"].tolist() == pytest.approx(
        [TUTORIAL_POINT_16PX["kl_weight"]] * SEEDS)
    assert set(rows["status"]) == {"finished"} and (rows["best_epoch"] == 1).all()
    assert rows["best_objective"].map(math.isfinite).all()
    # Each run trained with its seed: the seed is in its params and in its checkpoint's training config.
    # Not a PBT study: no run follows a schedule, and neither confirm.csv nor a run's params name one.
    assert "schedule" not in rows
    for _, row in rows.iterrows():
        state = json.loads((Path(row["best_checkpoint"]) / "trial.json").read_text())
        assert state["params"]["seed"] == row["seed"] == state["training"]["seed"]
        assert set(json.loads((Path(row["best_checkpoint"]).parent / "params.json").read_text())) == {
            "kl_weight", "chroma_weight", "seed"}
        assert state["params"]["kl_weight"] == pytest.approx(row["kl_weight"])

    summary = pd.read_csv(experiment / SUMMARY_FILE)
    assert list(summary["config"]) == [f"#{best['rank']}", "baseline"]
    means = rows.groupby("config", sort=False)["best_objective"].mean()
    assert summary["objective_mean"].tolist() == pytest.approx(means.tolist())
    assert (summary["scored"] == SEEDS).all()
    out = confirmed["out"]
    assert f"confirm: 2 configurations x {SEEDS} seeds" in out and "objective" in out
    # The verdict line has its form whichever way the retraining went, and states confirm.csv's objectives.
    found = VERDICT_LINE.findall(out)
    assert len(found) == 1, out
    match = VERDICT_LINE.search(out)
    assert match["best"] == f"#{best['rank']}"
    printed = re.findall(rf"seed (\d+): {SCORE} vs {SCORE}", match["pairs"])
    objective = rows.set_index(["config", "seed"])["best_objective"]
    assert [(int(seed), float(b), float(a)) for seed, b, a in printed] == [
        (seed, pytest.approx(objective[(f"#{best['rank']}", seed)], abs=5e-5),
         pytest.approx(objective[("baseline", seed)], abs=5e-5)) for seed in seeds]
    # Won on the full numbers of confirm.csv: two runs can print alike at 4 decimals and still differ.
    wins = sum(objective[(f"#{best['rank']}", seed)] < objective[("baseline", seed)] for seed in seeds)
    assert (match["all"], match["wins"]) == ((str(SEEDS), None) if wins == SEEDS else (None, str(wins)))


def test_the_report_shows_the_confirmation(baseline_study, confirmed, tmp_path):
    assert confirmed["code"] == 0
    report = write_report(baseline_study["experiment_dir"], out=tmp_path / "report")
    page = (report.out / "index.html").read_text()
    assert 'id="confirmation"' in page and "Verdict: " in page and "mean ± std (min..max)" in page
    assert (report.out / CONFIRM_FILE).is_file() and (report.out / SUMMARY_FILE).is_file()


def test_confirm_without_an_experiment_or_a_usable_trial_says_so_in_one_line(baseline_study, tmp_path, capsys):
    assert main(["confirm", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is not a vae-tune experiment" in error
    # The same study without any reported epoch: no trial has a score.
    copy = tmp_path / "unscored"
    shutil.copytree(baseline_study["experiment_dir"], copy, ignore=shutil.ignore_patterns("result.json", "confirm*"))
    assert main(["confirm", str(copy)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no usable trial to confirm" in error
    assert not (copy / CONFIRM_FILE).exists() and not (copy / "confirm").exists()


# --- confirm's verdict on constructed confirm.csv tables ------------------------------------------


def _confirm_rows(best: list, baseline: list, statuses=("finished", "finished")) -> pd.DataFrame:
    """confirm.csv of #2 and the baseline retrained with seeds 7 and 8: best_objective per seed."""
    rows = [{"config": label, "trial_id": trial, "seed": seed, "status": status, "best_objective": value}
            for label, trial, values, run_statuses in (("#2", "a_00002", best, statuses),
                                                       ("baseline", "a_00000", baseline, ("finished", "finished")))
            for seed, value, status in zip((7, 8), values, run_statuses)]
    return pd.DataFrame(rows)


def test_the_verdict_says_beats_only_when_the_best_wins_on_every_seed():
    wins = verdict(_confirm_rows([0.5, 0.6], [0.7, 0.8]))
    assert wins.beats_every_seed and wins.best == "#2"
    assert wins.text == "#2 beats the baseline on every seed (2 of 2; objective seed 7: 0.5000 vs 0.7000, seed 8: 0.6000 vs 0.8000)"
    split = verdict(_confirm_rows([0.5, 0.9], [0.7, 0.8]))
    assert not split.beats_every_seed
    assert split.text == ("#2 does not beat the baseline on every seed: 1 of 2 "
                          "(objective seed 7: 0.5000 vs 0.7000, seed 8: 0.9000 vs 0.8000)")
    # A tie is no win; a run that failed has no score and wins nothing, even against a worse number.
    tie = verdict(_confirm_rows([0.7, 0.6], [0.7, 0.8]))
    assert not tie.beats_every_seed and "1 of 2" in tie.text
    failed = verdict(_confirm_rows([0.5, 0.1], [0.7, 0.8], statuses=("finished", "failed")))
    assert not failed.beats_every_seed
    assert failed.text.endswith("1 of 2 (objective seed 7: 0.5000 vs 0.7000, seed 8: no score vs 0.8000)")


def test_the_printed_summary_ends_with_a_verdict_line_of_either_form():
    for best, baseline, expected in (([0.5, 0.6], [0.7, 0.8], "beats"), ([0.9, 0.9], [0.7, 0.8], "does not beat")):
        printed = format_summary(_confirm_rows(best, baseline))
        assert printed.splitlines()[0].startswith("confirm: 2 configurations x 2 seeds (7, 8)")
        assert VERDICT_LINE.fullmatch(printed.splitlines()[-1]), printed
        assert printed.splitlines()[-1].startswith(f"verdict: #2 {expected} the baseline on every seed")
    # Without the baseline's runs there is nothing to compare: no verdict line.
    alone = _confirm_rows([0.5, 0.6], [0.7, 0.8]).query("config != 'baseline'")
    assert verdict(alone) is None and "verdict" not in format_summary(alone)


# --- the baseline's point for each searcher, without running anything --------------------------


def _study(*overrides):
    return load_study("local", list(overrides))


def test_both_searchers_get_the_point_and_one_more_sample():
    for algorithm, attribute in (("random", "_points_to_evaluate"), ("tpe", "_points_to_evaluate")):
        study = _study(f'search.algorithm="{algorithm}"')
        config = tune_config(study)
        point = {"latent_dim": 256, "learning_rate": 5e-4, "kl_weight": 64 * 64 * 3 / (1000 * 256), "chroma_weight": 1.0}
        assert getattr(config.search_alg, attribute) == [pytest.approx(point)], algorithm
        assert config.num_samples == study.search.num_samples + 1 == expected_trials(study)
    off = _study("search.baseline=false")
    assert tune_config(off).num_samples == off.search.num_samples == expected_trials(off)
    assert not tune_config(off).search_alg._points_to_evaluate


def test_a_tutorial_value_outside_the_search_runs_unless_optuna_cannot_hold_it():
    narrow = "search.space.latent_dim={distribution='choice', values=[16, 32]}"
    random_search = baseline_plan(_study(narrow))
    assert random_search.point["latent_dim"] == 256 and "outside the searched values {16, 32}" in random_search.notes[0]
    optuna = baseline_plan(_study(narrow, 'search.algorithm="tpe"'))
    assert optuna.point is None and "no baseline trial" in optuna.notes[0]
    assert expected_trials(_study(narrow, 'search.algorithm="tpe"')) == 16
    low = baseline_plan(_study("search.space.kl_weight={distribution='loguniform', low=0.1, high=1.0}"))
    assert low.point["kl_weight"] == pytest.approx(0.048) and "outside the searched range [0.1, 1]" in low.notes[0]
    # batch_size has no tutorial value: the study's own; unsearched hyperparameters stay out of the point.
    batch = baseline_plan(_study("search.space.batch_size={distribution='choice', values=[16, 32]}"))
    assert batch.point["batch_size"] == 32
    assert set(batch.point) == {"latent_dim", "learning_rate", "kl_weight", "chroma_weight", "batch_size"}
    # The tutorial's chroma_weight 1 is below the local study's range on purpose: run, and no caveat.
    local = baseline_plan(_study())
    assert local.point["chroma_weight"] == 1.0 and local.notes == []
    nothing = load_study("smoke", ["search.space={}"])
    assert baseline_plan(nothing).point is None and expected_trials(nothing) == nothing.search.num_samples


def test_a_trial_may_carry_a_training_seed():
    study = load_study("smoke", ["search.space.seed={distribution='choice', values=[1, 2]}"])
    assert study.trial({"seed": 7})[1].seed == 7
    with pytest.raises(ConfigError, match="search.space.seed: integer parameter"):
        load_study("smoke", ["search.space.seed={distribution='uniform', low=1, high=3}"])
    with pytest.raises(ConfigError, match="search.space.seed: must be an integer >= 0"):
        load_study("smoke", ["search.space.seed={distribution='choice', values=[-1]}"])
