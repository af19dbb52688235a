"""The benchmark trainer at CI size: every figure comes out (their values are the trainer's business)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.common import Figure, alternate, table

REPO = Path(__file__).resolve().parent.parent

OVERHEAD_FIGURES = ["trainable_overhead", "scoring_share", "compute_efficiency"]


@pytest.mark.slow
def test_the_runner_measures_an_item_and_writes_its_figures(tmp_path):
    """The runner's whole path (Ray, a Tune trial, a bare fit, the table, the JSON) on its cheapest real item;
    each item's own arithmetic is tested below without training anything."""
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--ci", "--only", "overhead", "--out", str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert list(results["figures"]) == OVERHEAD_FIGURES
    for key, figure in results["figures"].items():
        assert figure["values"] and all(math.isfinite(v) for v in figure["values"]), key
        assert figure["label"] in run.stdout  # the printed table has a line per figure
    for key in ("trainable_overhead", "scoring_share"):
        assert results["figures"][key]["target"] and isinstance(results["figures"][key]["met"], bool)
    assert len(results["machine"]["load_average_before"]) == 3


def test_the_runner_refuses_an_unknown_item(capsys):
    from benchmarks.__main__ import main

    with pytest.raises(SystemExit):
        main(["--ci", "--only", "overhead,speed"])
    assert "--only: unknown item 'speed'" in capsys.readouterr().err


def test_alternate_takes_turns_in_abba_order():
    calls = []
    results = alternate({"a": lambda: calls.append("a") or len(calls), "b": lambda: calls.append("b") or len(calls)}, 3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert results == {"a": [1, 4, 5], "b": [2, 3, 6]}


def test_figures_compare_their_median_with_the_target():
    assert Figure("x", "x", [0.9, 1.0, 0.97], ">= 0.95").met is True
    assert Figure("x", "x", [0.06, 0.04, 0.07], "<= 0.05", unit="%").met is False
    assert Figure("x", "x", [], "<= 0.3").met is False  # never reached
    assert Figure("x", "x", [3.0]).met is None  # reported, no target
    text = table([Figure("ratio", "a ratio", [0.9, 1.0, 0.97], ">= 0.95"), Figure("share", "a share", [0.04], unit="%")])
    assert "0.97x" in text and "0.90x..1.00x" in text and "yes" in text and "4.0%" in text


def test_training_flops_are_counted_from_the_layers():
    from benchmarks.compute import training_flops_per_image
    from vae_tune.config import ModelConfig
    from vae_tune.training.model import build_vae

    model = build_vae(ModelConfig(image_size=16, latent_dim=8), learning_rate=1e-3)
    # 2 * multiply-adds: Conv2D per output pixel, Conv2DTranspose per input pixel, Dense per weight.
    encoder = 2 * (8 * 8 * 3 * 3 * 3 * 32 + 4 * 4 * 3 * 3 * 32 * 16 + 2 * 2 * 3 * 3 * 16 * 4 + 2 * 16 * 8)
    decoder = 2 * (8 * 64 + 1 * 1 * 3 * 3 * 64 * 32 + 2 * 2 * 3 * 3 * 32 * 16 + 4 * 4 * 3 * 3 * 16 * 8 + 8 * 8 * 3 * 3 * 8 * 3)
    assert training_flops_per_image(model) == 3 * (encoder + decoder)


def test_replaying_asha_stops_trials_worse_than_the_rung_quantile():
    from benchmarks.search import replay_asha

    def trial(*objective):
        return {"objective": list(objective), "seconds": [1.0] * len(objective)}

    # One at a time, grace 1, rf 2, 4 epochs: rungs at epochs 1 and 2 (and 4, the end).
    trials = [trial(1.0, 1.0, 1.0, 1.0),  # first at every rung: nothing to compare with, runs to the end
              trial(2.0, 0.1, 0.1, 0.1),  # worse than the median at epoch 1: stopped there, its later 0.1 unseen
              trial(0.5, 0.4, 0.3, 0.2)]  # better at each rung: runs to the end
    assert replay_asha(trials, [0, 1, 2], grace=1, rf=2, max_t=4, slots=1, threshold=0.35) == (4 + 1 + 3, 9)
    assert replay_asha(trials, [0, 1, 2], grace=1, rf=2, max_t=4, slots=1, threshold=0.05) == (None, 9)
    # Trial 1 first: nothing to compare with, so it runs on and reaches 0.1 at its second epoch;
    # trial 0 then beats its 2.0 at epoch 1 but not its 0.1 at epoch 2.
    assert replay_asha(trials, [1, 0, 2], grace=1, rf=2, max_t=4, slots=1, threshold=0.15) == (2, 4 + 2 + 4)


def test_stopped_trials_trained_on_match_trials_trained_straight_through(tiny_study, ray_session):
    # The search benchmark's exhaustive side continues the trials ASHA stopped instead of training them
    # all again: that is only the same thing if epoch 2 after a stop at epoch 1 is epoch 2 of a straight run.
    import dataclasses

    from benchmarks.search import completed
    from benchmarks.tune_runs import run_timed
    from vae_tune.data.dataset import load_dataset

    def epochs(epochs: int, name: str):
        return dataclasses.replace(tiny_study, name=name,
                                   training=dataclasses.replace(tiny_study.training, epochs=epochs))

    dataset = load_dataset(tiny_study.data)
    stopped_at_1 = run_timed(epochs(1, "stopped"), dataset)  # as if every trial were stopped after epoch 1
    continued = completed(epochs(2, "stopped"), dataset, stopped_at_1)
    straight = run_timed(epochs(2, "straight"), dataset)

    def curves(run):
        by_config: dict[str, list[float]] = {}
        for row in sorted(run.rows, key=lambda row: row["epoch"]):
            by_config.setdefault(repr(row["config"]), []).append(row["objective"])
        return by_config

    assert len(continued.rows) == 2 * tiny_study.search.num_samples
    assert curves(continued).keys() == curves(straight).keys()  # the seeded search sampled the same trials
    for config, objectives in curves(continued).items():
        assert objectives == pytest.approx(curves(straight)[config], rel=1e-3), config
