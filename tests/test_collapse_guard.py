"""An epoch no better than the mean training image is `collapsed`: scored 9-10 by how far below it, never anyone's best."""

from __future__ import annotations

import html
import json
import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_OVERRIDES

from vae_tune.analysis import load_results
from vae_tune.analysis.report import write_report
from vae_tune.analysis.results import best_checkpoint, best_trial, no_winner
from vae_tune.config import ObjectiveConfig, load_study, to_dict
from vae_tune.data.dataset import Probe, load_dataset, mean_image
from vae_tune.training.checkpoint import metric_of
from vae_tune.training.scoring import WORST_SCORES, ProbeScorer, guard_collapse
from vae_tune.training.trainer import TrialTrainer

GUARDED = [*TINY_OVERRIDES, "objective.collapse_guard=true"]


def test_guard_marks_an_epoch_no_better_than_the_mean_image():
    scores = {"objective": 1.2, "val/blur": 0.9, "val/roughness": 0.3, "val/psnr": 12.0}
    collapsed = guard_collapse(scores, mean_image_psnr=12.0)
    assert collapsed["collapsed"] is True and collapsed["val/mean_image_psnr"] == 12.0
    # Exactly at the mean image: the best stand-in, 9, on every score.
    assert {name: collapsed[name] for name in WORST_SCORES} == {"objective": 9.0, "val/blur": 9.0, "val/roughness": 9.0}
    assert collapsed["val/psnr"] == 12.0  # diagnostics stay as measured
    trained = guard_collapse(scores, mean_image_psnr=11.9)
    assert trained["collapsed"] is False and trained["objective"] == 1.2
    assert guard_collapse(scores, mean_image_psnr=13.0, guard=False)["objective"] == 1.2
    assert guard_collapse(scores, mean_image_psnr=None)["collapsed"] is False


def test_the_bar_is_the_psnr_of_the_mean_image_on_the_probe():
    images = np.full((4, 16, 16, 3), 0.5, dtype=np.float32)
    pairs = images[:2]
    probe = Probe(images, pairs, pairs, pairs[:0], pairs[:0], mean_image=np.full((16, 16, 3), 0.25, np.float32))
    # Every pixel off by 0.25: MSE 1/16, PSNR 10 * log10(16) dB.
    assert ProbeScorer(probe, ObjectiveConfig(), interpolation_steps=4).mean_image_psnr == pytest.approx(12.0412, abs=1e-4)
    unknown = Probe(images, pairs, pairs, pairs[:0], pairs[:0], mean_image=None)
    assert ProbeScorer(unknown, ObjectiveConfig(), interpolation_steps=4).mean_image_psnr is None


def collapsed_at(psnr, mean_image_psnr=13.4):
    return guard_collapse({"objective": 1.2, "val/blur": 0.9, "val/roughness": 0.3, "val/psnr": psnr}, mean_image_psnr)


def test_collapsed_epochs_are_ordered_by_how_far_below_the_mean_image_they_are():
    # 9 + (13.4 - psnr) / 13.4, worked by hand: 4.8 / 13.4 and 1.7 / 13.4.
    far, near = collapsed_at(8.6), collapsed_at(11.7)
    assert far["collapsed"] and near["collapsed"]
    assert far["objective"] == pytest.approx(9.358208955, abs=1e-8)
    assert near["objective"] == pytest.approx(9.126865672, abs=1e-8)
    assert far["val/blur"] == far["val/roughness"] == far["objective"]
    real = guard_collapse({"objective": 4.9, "val/blur": 2.5, "val/roughness": 2.4, "val/psnr": 13.5}, 13.4)
    assert real["collapsed"] is False
    # Each score orders real < nearly there < hopeless <= a diverged or timed-out epoch's 10.
    for name in WORST_SCORES:
        assert real[name] < near[name] < far[name] < WORST_SCORES[name]
    assert collapsed_at(0.0)["objective"] == 10.0  # the lowest PSNR there is (images in [0, 1])


@pytest.mark.parametrize("psnr, mean_image_psnr", [(math.nan, 13.4), (-math.inf, 13.4), (-5.0, 13.4), (0.0, 0.0)])
def test_a_collapsed_stand_in_is_always_finite_and_at_most_the_worst(psnr, mean_image_psnr):
    collapsed = collapsed_at(psnr, mean_image_psnr)
    assert collapsed["collapsed"] is True  # a NaN PSNR is no better than the mean image either
    assert collapsed["objective"] == 10.0 and collapsed["val/blur"] == 10.0


def test_a_collapsed_checkpoint_never_counts_as_best(tmp_path):
    assert metric_of({"metrics": {"objective": 0.5, "collapsed": True}}, "objective") == math.inf
    assert metric_of({"metrics": {"objective": 9.0, "collapsed": True}}, "objective") == math.inf
    assert metric_of({"metrics": {"objective": 10.0, "diverged": True}}, "objective") == math.inf
    assert metric_of({"metrics": {"objective": 0.5, "collapsed": False}}, "objective") == 0.5
    # A trial's kept checkpoints: its best is the scored one, never the collapsed ones, however well they rank.
    for number, reported in enumerate([collapsed_at(11.7), {"objective": 4.9, "collapsed": False}, collapsed_at(13.4)]):
        write_state_at(tmp_path / "learns", number, reported)
        write_state_at(tmp_path / "grey", number, collapsed_at(10.0 + number))
    assert best_checkpoint(tmp_path / "learns") == (tmp_path / "learns" / "checkpoint_000001", 4.9)
    assert best_checkpoint(tmp_path / "grey") == (None, math.inf)


def write_state_at(trial_dir, number, metrics):
    directory = trial_dir / f"checkpoint_{number:06d}"
    directory.mkdir(parents=True)
    (directory / "trial.json").write_text(json.dumps({"epoch": number + 1, "metrics": metrics}))


def test_an_untrained_epoch_is_collapsed_against_the_mean_training_image(tmp_path):
    study = load_study("smoke", [*GUARDED, f'storage_path="{tmp_path}"'])
    dataset = load_dataset(study.data)
    trainer = TrialTrainer(study, {"kl_weight": 0.05}, dataset)
    expected_mean = dataset.images[trainer.train_indices].astype(np.float64).mean(axis=0) / 255.0
    np.testing.assert_allclose(trainer.probe.mean_image, expected_mean, atol=1e-6)
    np.testing.assert_allclose(mean_image(dataset.images, trainer.train_indices, chunk=7), expected_mean, atol=1e-6)
    result = trainer.train_epoch()
    # The mean image scores 13.44 dB on this probe (measured: the 16-px synthetic catalogue, data.seed 0; the
    # expression is tested on a constructed probe above). One epoch of a 16-px model outputs about flat grey,
    # ~7.4 dB: far below it, so its stand-in is 9 + (13.44 - psnr) / 13.44, between 9 and 10.
    assert result["val/mean_image_psnr"] == pytest.approx(13.44, abs=0.01)
    assert result["val/psnr"] < 10.0 and result["collapsed"] is True
    assert result["objective"] == pytest.approx(9 + (13.44 - result["val/psnr"]) / 13.44, abs=1e-3)
    assert math.isfinite(result["val/blur_detail"])
    assert math.isfinite(result["train/psnr"])


def write_trial(experiment, trial_id, rows):
    trial = experiment / f"trial_{trial_id}"
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"kl_weight": 0.1}))
    (trial / "result.json").write_text("".join(json.dumps({"diverged": False, **row}) + "\n" for row in rows))


def epoch(number, psnr, objective=None):
    """A reported epoch: collapsed at or below 13 dB, with the scorer's stand-ins."""
    scores = {"objective": objective or 1.0, "val/blur": (objective or 1.0) - 0.2, "val/roughness": 0.2, "val/psnr": psnr}
    return {"epoch": number, **guard_collapse(scores, mean_image_psnr=13.0)}


def test_results_count_collapsed_epochs_and_trials_and_rank_only_the_rest(tmp_path):
    study = load_study("smoke", [*GUARDED, "training.epochs=4"])
    (tmp_path / "study.json").write_text(json.dumps(to_dict(study)))
    write_trial(tmp_path, "learns", [epoch(1, 9.0), epoch(2, 12.5), epoch(3, 14.0, 0.9), epoch(4, 15.0, 0.8)])
    write_trial(tmp_path, "grey", [epoch(1, 7.0), epoch(2, 8.0), epoch(3, 10.4), epoch(4, 9.0)])
    table = load_results(tmp_path).set_index("trial_id")
    assert table.loc["learns", "status"] == "finished" and table.loc["learns", "collapsed_epochs"] == 2
    assert table.loc["learns", "best_epoch"] == 4 and table.loc["learns", "best_objective"] == pytest.approx(0.8)
    assert table.loc["learns", "best_val/psnr"] == 15.0 and table.loc["learns", "rank"] == 1
    assert table.loc["grey", "status"] == "collapsed" and table.loc["grey", "collapsed_epochs"] == 4
    # Like a diverged trial, its row keeps the least bad stand-in it reported (epoch 3: 9 + 2.6 / 13), and no rank.
    assert table.loc["grey", "best_objective"] == pytest.approx(9.2) and table.loc["grey", "best_epoch"] == 3
    assert pd.isna(table.loc["grey", "rank"])
    assert best_trial(table.reset_index())["trial_id"] == "learns"
    assert no_winner(table.reset_index()) is None


def test_a_collapsed_trial_shows_no_score_in_the_report_table_and_summary(tmp_path):
    study = load_study("smoke", [*GUARDED, "training.epochs=2"])
    (tmp_path / "study.json").write_text(json.dumps(to_dict(study)))
    write_trial(tmp_path, "learns", [epoch(1, 14.0, 0.9), epoch(2, 15.0, 0.8)])
    write_trial(tmp_path, "grey", [epoch(1, 8.0), epoch(2, 8.0)])
    report = write_report(tmp_path)
    page = report.index.read_text()
    table = page[page.index("<table>"):page.index("</table>")]
    columns = re.findall(r"<th>(.*?)</th>", table)
    rows = {cells[1]: dict(zip(columns, map(html.unescape, cells)))
            for cells in (re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table))
            if cells}
    shown = ["best_epoch", "best_objective", "best_val/blur", "best_val/roughness", "last_objective"]
    assert [rows["grey"][column] for column in shown] == ["—"] * 5  # not the stand-ins (9-10) nor their epoch
    assert [rows["learns"][column] for column in shown] == ["2", "0.8", "0.6", "0.2", "0.8"]
    assert rows["grey"]["status"] == "collapsed" and rows["grey"]["epochs"] == "2"  # the rest as it was
    assert not re.search(r"\b(9|10)\.\d{4}\b", report.summary())  # no stand-in score on the console either
    assert "  objective 0.8000  val/blur 0.6000  val/roughness 0.2000" in report.summary()


def test_a_study_whose_trials_never_beat_the_mean_image_names_no_best_trial(tmp_path, ray_session):
    from vae_tune.tuning.session import run_study

    study = load_study("smoke", [*GUARDED, f'storage_path="{tmp_path}"', "search.num_samples=2", "training.epochs=1",
                                 "search.space.kl_weight={distribution='choice', values=[0.01, 1.0]}"])
    outcome = run_study(study)
    table = load_results(outcome.experiment_dir)
    assert table["status"].tolist() == ["collapsed", "collapsed"]
    assert table["collapsed_epochs"].tolist() == [1, 1] and table["rank"].isna().all()
    assert ((table["best_objective"] > 9.0) & (table["best_objective"] < 10.0)).all()  # ordered stand-ins reached Tune
    assert table["best_checkpoint"].isna().all()
    with pytest.raises(ValueError):
        best_trial(table)
    report = write_report(outcome.experiment_dir)
    first_line = report.summary().strip().splitlines()[0]
    assert first_line.startswith("No trial beat the mean image") and "dB" in first_line
    assert "best trial" not in report.summary() and not report.warnings  # no edge-of-range advice either
    assert "No trial beat the mean image" in report.index.read_text()


def test_the_console_line_of_a_collapsed_epoch_gives_its_ordered_stand_in(capsys):
    from vae_tune.tuning.progress import ProgressPrinter

    printer = ProgressPrinter(total_trials=2, max_epochs=20)
    result = {"epoch": 1, "time/train_seconds": 7.2, **collapsed_at(8.6)}
    printer.on_trial_result(0, [], SimpleNamespace(trial_id="a"), result)
    line = capsys.readouterr().out
    assert "collapsed: psnr 8.6 dB  no better than the mean image's 13.4 dB, stand-in score 9.3582" in line


def test_training_curves_leave_collapsed_epochs_out_of_blur_and_roughness_but_not_the_loss():
    from vae_tune.analysis.plots import training_curves

    history = pd.DataFrame([{**epoch(number, psnr, 1.5), "diverged": False, "train/loss": 100.0 / number}
                            for number, psnr in [(1, 8.0), (2, 12.0), (3, 14.0), (4, 15.0)]])
    table = pd.DataFrame([{"trial_id": "a", "rank": 1, "status": "finished"}])
    figure = training_curves(history.assign(trial_id="a"), table, top=1)
    loss, blur, roughness = (figure.axes[index].lines[0] for index in range(3))
    assert list(loss.get_xdata()) == [1, 2, 3, 4]
    assert list(blur.get_xdata()) == [3, 4] and list(blur.get_ydata()) == [1.3, 1.3]
    assert list(roughness.get_xdata()) == [3, 4]
