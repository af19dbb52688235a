"""`vae-tune score`: a trained checkpoint scored on a folder of source/target photo pairs."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_OVERRIDES
from PIL import Image
from stand_in_photos import write_pairs

from vae_tune.analysis.photo_pairs import read_pairs
from vae_tune.cli import main
from vae_tune.config import load_study, to_dict
from vae_tune.data.dataset import load_dataset
from vae_tune.training.checkpoint import load_model
from vae_tune.training.scoring import ProbeScorer
from vae_tune.training.trainer import TrialTrainer

PAIRS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fashion-pairs"
SIZE, STEPS, ROUGHNESS_WEIGHT = 16, 3, 0.5  # steps and weight differ from the defaults (16, 1)


@pytest.fixture(scope="module")
def trial_dir(tmp_path_factory):
    """A trial folder of a tiny experiment: study.json beside it, one checkpoint of a model that learnt something."""
    experiment = tmp_path_factory.mktemp("score") / "smoke_20260101-000000"
    study = load_study("smoke", TINY_OVERRIDES + [
        f"probe.interpolation_steps={STEPS}", f"objective.roughness_weight={ROUGHNESS_WEIGHT}",
        f'storage_path="{experiment.parent}"',
    ])
    assert study.data.image_size == SIZE
    experiment.mkdir()
    (experiment / "study.json").write_text(json.dumps(to_dict(study)))
    trial = experiment / "train_vae_00000"
    trial.mkdir()
    (trial / "params.json").write_text("{}")
    # A high learning rate: within about 8 epochs (0.2 s each) the model beats the mean image,
    # so its epoch is not `collapsed` and counts as the trial's best checkpoint.
    trainer = TrialTrainer(study, {"kl_weight": 0.01, "learning_rate": 1e-2}, load_dataset(study.data))
    for _ in range(20):
        metrics = trainer.train_epoch()
        if not metrics["collapsed"] and trainer.epoch >= 3:
            break
    assert not metrics["collapsed"], "the tiny model never beat the mean image"
    trainer.save(trial / "checkpoint_000000", metrics)
    return trial


@pytest.fixture(scope="module")
def checkpoint(trial_dir):
    return trial_dir / "checkpoint_000000"


def score_line(out: str, key: str) -> float:
    """The 'these pairs' value of `key` in the printed table."""
    match = re.search(rf"^  {re.escape(key)}\s+(-?[\d.]+)", out, re.MULTILINE)
    assert match, f"{key} not printed in:\n{out}"
    return float(match.group(1))


def test_score_prints_the_scorers_numbers_for_the_pairs(trial_dir, checkpoint, tmp_path, capsys):
    pairs_dir = write_pairs(tmp_path / "pairs")
    assert main(["score", str(trial_dir), "--pairs", str(pairs_dir)]) == 0  # a trial folder: its best checkpoint
    out = capsys.readouterr().out

    # The same numbers as the project's scorer on a probe of the same photos, with the study's objective config.
    pairs = read_pairs(pairs_dir, SIZE)
    probe = pairs.probe()
    assert probe.images.shape == (6, SIZE, SIZE, 3) and probe.cross_starts.shape == (0, SIZE, SIZE, 3)
    assert pairs.names == ("a.png", "b.png", "c.png")
    study = load_study("smoke", TINY_OVERRIDES + [f"probe.interpolation_steps={STEPS}",
                                                  f"objective.roughness_weight={ROUGHNESS_WEIGHT}"])
    model, _ = load_model(checkpoint)
    expected = ProbeScorer(probe, study.objective, study.probe.interpolation_steps).score(model)
    assert expected["val/roughness"] > 0.001 and expected["val/blur"] > 0.001  # not a model that ignores its input
    for key in ("val/blur", "val/roughness", "val/psnr", "objective"):
        assert score_line(out, key) == pytest.approx(expected[key], abs=1e-4), key
    # Every component of blur and roughness the scorer reports, whatever they are, under its score.
    components = [key for key in expected if key.startswith(("val/blur_", "val/roughness_"))]
    for key in components:
        assert score_line(out, key) == pytest.approx(expected[key], abs=1e-4), key
    if "val/colour_fidelity" in expected:
        assert score_line(out, "val/colour_fidelity") == pytest.approx(expected["val/colour_fidelity"], abs=1e-4)
    assert expected["objective"] == pytest.approx(expected["val/blur"] + ROUGHNESS_WEIGHT * expected["val/roughness"])

    assert re.search(rf"checkpoint  {re.escape(str(checkpoint))} \(epoch \d+; latent_dim 8, kl_weight 0.01, chroma_weight 1\)", out)
    assert f"pairs       3 scored from {pairs_dir}" in out
    assert "skipped     none" in out
    assert f"blur + {ROUGHNESS_WEIGHT:g} * roughness, {STEPS} interpolation steps; the study's, from " in out
    assert "vae-tune: loading the model from" in out and "vae-tune: scoring 3 pairs" in out


def test_score_out_writes_the_pairs_interpolation_grid(checkpoint, tmp_path, capsys):
    pairs_dir = write_pairs(tmp_path / "pairs")
    out = tmp_path / "new" / "folder" / "grid.png"
    assert main(["score", str(checkpoint), "--pairs", str(pairs_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    grid = np.asarray(Image.open(out))
    # One row per pair; the source, STEPS + 1 decoded points, the target; 2px gutters.
    assert grid.shape == (3 * (SIZE + 2) + 2, (STEPS + 3) * (SIZE + 2) + 2, 3)
    first_source = grid[2:2 + SIZE, 2:2 + SIZE]
    np.testing.assert_array_equal(first_source, read_pairs(pairs_dir, SIZE).sources[0])
    assert f"wrote {out} (3 rows: source, {STEPS + 1} decoded steps, target)" in printed


def test_score_without_the_study_uses_the_default_objective(checkpoint, tmp_path, capsys):
    import shutil

    alone = tmp_path / "alone"
    shutil.copytree(checkpoint, alone)
    assert main(["score", str(alone), "--pairs", str(write_pairs(tmp_path / "pairs"))]) == 0
    assert "blur + 1 * roughness, 16 interpolation steps; defaults: no study.json" in capsys.readouterr().out


def test_score_scores_what_matches_and_counts_what_it_skipped(checkpoint, tmp_path, capsys):
    pairs_dir = write_pairs(tmp_path / "pairs", names=("a.png", "b.png", "c.png", "d.png", "only_source.png"),
                            target_names=("a.png", "b.png", "c.png", "d.png", "only_target.png"))
    (pairs_dir / "target" / "c.png").write_text("not a photo")
    (pairs_dir / "source" / "d.png").write_bytes(b"")
    (pairs_dir / "source" / "notes.txt").write_text("not an image file: not listed")
    assert main(["score", str(checkpoint), "--pairs", str(pairs_dir)]) == 0
    out = capsys.readouterr().out
    assert f"pairs       2 scored from {pairs_dir}" in out
    assert "skipped     4 files" in out
    assert "  2 without a partner of the same name: source/only_source.png; target/only_target.png" in out
    unreadable = "not an image that can be read (UnidentifiedImageError)"
    assert f"  2 unreadable, their pairs left out: target/c.png: {unreadable}; source/d.png: {unreadable}\n" in out
    assert "notes.txt" not in out


def error_of(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("vae-tune: error: "), err
    return err.strip()


def test_score_fails_with_one_line_for_a_bad_pairs_folder(checkpoint, tmp_path, capsys):
    missing = tmp_path / "missing"
    assert main(["score", str(checkpoint), "--pairs", str(missing)]) == 2
    assert error_of(capsys) == f"vae-tune: error: --pairs {missing}: no such directory"

    (tmp_path / "no_target" / "source").mkdir(parents=True)
    assert main(["score", str(checkpoint), "--pairs", str(tmp_path / "no_target")]) == 2
    assert "no target/ folder; it needs source/ and target/" in error_of(capsys)

    assert main(["score", str(checkpoint), "--pairs", str(tmp_path)]) == 2  # neither folder
    assert "no source/ folder" in error_of(capsys)

    (tmp_path / "no_target" / "target").mkdir()
    (tmp_path / "no_target" / "target" / "notes.txt").write_text("not an image file")
    (tmp_path / "no_target" / "source" / "a.png").write_bytes(b"")
    assert main(["score", str(checkpoint), "--pairs", str(tmp_path / "no_target")]) == 2
    assert error_of(capsys).endswith("no_target: target/ holds no image files")

    unmatched = write_pairs(tmp_path / "unmatched", names=("a.png", "b.png"), target_names=("x.png",))
    assert main(["score", str(checkpoint), "--pairs", str(unmatched)]) == 2
    assert error_of(capsys).endswith("no file name in source/ matches one in target/ "
                                     "(2 in source/, e.g. a.png; 1 in target/, e.g. x.png)")

    unreadable = write_pairs(tmp_path / "unreadable", names=("a.png",))
    (unreadable / "source" / "a.png").write_text("not a photo")
    assert main(["score", str(checkpoint), "--pairs", str(unreadable)]) == 2
    assert ("none of the 1 matching pairs could be read (1 unreadable files, e.g. source/a.png: not an image"
            in error_of(capsys))


def test_score_fails_with_one_line_for_what_is_not_a_checkpoint(checkpoint, tmp_path, capsys):
    import shutil

    from vae_tune.names import WEIGHTS_FILE

    pairs_dir = write_pairs(tmp_path / "pairs")
    assert main(["score", str(tmp_path), "--pairs", str(pairs_dir)]) == 2
    assert "is not a checkpoint, trial or experiment directory" in error_of(capsys)

    (tmp_path / "trial" / "checkpoint_000000").mkdir(parents=True)
    (tmp_path / "trial" / "params.json").write_text("{}")
    assert main(["score", str(tmp_path / "trial"), "--pairs", str(pairs_dir)]) == 2
    assert error_of(capsys) == f"vae-tune: error: {tmp_path / 'trial'}: this trial has no checkpoint yet"

    damaged = tmp_path / "damaged"
    shutil.copytree(checkpoint, damaged)
    with open(damaged / WEIGHTS_FILE, "r+b") as weights:
        weights.truncate(100)
    assert main(["score", str(damaged), "--pairs", str(pairs_dir)]) == 2
    assert error_of(capsys) == (f"vae-tune: error: {damaged / WEIGHTS_FILE} is damaged: "
                                "its size or SHA-256 differs from trial.json")


@pytest.mark.skipif(not (PAIRS / "source").is_dir(), reason=f"no real photos at {PAIRS}")
def test_score_scores_the_real_photo_pairs(checkpoint, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["score", str(checkpoint), "--pairs", str(PAIRS), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"pairs       64 scored from {PAIRS}" in printed and "skipped     none" in printed
    for key in ("val/blur", "val/roughness", "val/psnr", "objective"):
        assert np.isfinite(score_line(printed, key))
    assert Image.open(out).size == ((STEPS + 3) * (SIZE + 2) + 2, 64 * (SIZE + 2) + 2)


def test_the_table_follows_the_scorers_keys_and_flags_stand_ins():
    """Components the scorer adds later are shown under their score; a collapsed epoch's stand-ins are named."""
    from vae_tune.analysis.photo_pairs import PairScores, PhotoPairs, summary_lines
    from vae_tune.config import ObjectiveConfig

    scores = {"objective": 1.5, "val/blur": 1.0, "val/kl": 3.0, "val/blur_edges": 0.25, "val/roughness": 0.5,
              "val/psnr": 20.0, "val/roughness_future": 0.125, "collapsed": False}
    images = np.zeros((1, SIZE, SIZE, 3), np.uint8)
    scored = PairScores(
        checkpoint=Path("ckpt"), pairs=PhotoPairs(Path("pairs"), ("a.png",), images, images, (), ()),
        state={"epoch": 3, "model": {"image_size": SIZE, "latent_dim": 8, "kl_weight": 0.1},
               "metrics": {"collapsed": True, "objective": 10.0, "val/blur": 10.0, "val/roughness": 10.0,
                           "val/psnr": 12.0}},
        objective=ObjectiveConfig(), interpolation_steps=STEPS, config_source="defaults", scores=scores, model=None)
    table = [line.split() for line in summary_lines(scored) if line.startswith("  ") and line[2] != " "]
    assert table == [
        ["score", "these", "pairs", "study", "probe"],
        ["val/blur", "1.0000", "collapsed"],
        ["val/blur_edges", "0.2500", "-"],
        ["val/roughness", "0.5000", "collapsed"],
        ["val/roughness_future", "0.1250", "-"],
        ["val/psnr", "20.0000", "12.0000"],
        ["objective", "1.5000", "collapsed"],
    ]
