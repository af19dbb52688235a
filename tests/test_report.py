"""`vae-tune report` on a real study with finished, diverged and failed trials."""

import html
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DIVERGING_LEARNING_RATE, UNBUILDABLE_LATENT_DIM
from PIL import Image, ImageSequence

from vae_tune.analysis import load_results
from vae_tune.analysis.held_out import held_out_data
from vae_tune.analysis.playbook import edge_of_range_warnings, failure_share
from vae_tune.analysis.report import PRIOR_GRID
from vae_tune.cli import main
from vae_tune.config import Parameter
from vae_tune.experiment import reported_results
from vae_tune.names import RESULTS_FILE

ROOT = Path(__file__).resolve().parents[1]
TOP = 2
GUTTER = 2  # imaging.image_grid's padding
GIF_HOLD_MS, GIF_FRAME_MS = 700, 120  # figures.save_gif's defaults


def grid_shape(rows: int, columns: int, side: int) -> tuple[int, int, int]:
    """The pixel shape of an image_grid of rows x columns tiles of side x side."""
    return rows * (side + GUTTER) + GUTTER, columns * (side + GUTTER) + GUTTER, 3


@pytest.fixture(scope="module")
def report_dir(analysed_study, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(analysed_study["experiment_dir"]), "--top", str(TOP), "--out", str(out)]) == 0
    return out


def test_results_table_has_one_row_per_trial_with_the_right_statuses(analysed_study):
    study = analysed_study["study"]
    table = load_results(analysed_study["experiment_dir"])
    assert len(table) == study.search.num_samples == len(list(analysed_study["experiment_dir"].glob("trial_*")))
    failed = table["latent_dim"] == UNBUILDABLE_LATENT_DIM
    diverged = ~failed & (table["learning_rate"] == DIVERGING_LEARNING_RATE)
    expected = {"failed": int(failed.sum()), "diverged": int(diverged.sum()), "finished": int((~failed & ~diverged).sum())}
    # The seeded search draws each kind at least once; the test means nothing otherwise.
    assert min(expected.values()) >= 1, expected
    assert table["status"].value_counts().to_dict() == expected
    finished = table[table["status"] == "finished"]
    assert (finished["epochs"] == study.training.epochs).all() and finished["best_checkpoint"].notna().all()
    assert sorted(finished["rank"]) == list(range(1, len(finished) + 1))
    assert table.loc[table["status"] != "finished", "rank"].isna().all()

    # The Pareto flag: no scored trial beats a front trial on both scores, and every other
    # scored trial is beaten by some front trial.
    scored = table[table["rank"].notna()]
    points = scored[["best_val/blur", "best_val/roughness"]].to_numpy()
    front = scored["pareto"].to_numpy()
    dominated_by = lambda p: np.all(points <= p, axis=1) & np.any(points < p, axis=1)  # noqa: E731
    assert front.any()
    for point, on_front in zip(points, front):
        assert dominated_by(point).any() != on_front
    assert not table.loc[table["rank"].isna(), "pareto"].any()


def test_results_table_loads_while_the_study_runs(analysed_study):
    snapshots = analysed_study["snapshots"]
    assert not analysed_study["errors"], analysed_study["errors"][0]
    assert len(snapshots) >= 3
    seen = set().union(*(set(snapshot["status"]) for snapshot in snapshots if not snapshot.empty))
    assert "running" in seen  # a trial part-way through is neither finished nor stopped early
    # Epoch counts only grow from one snapshot to the next. A trial whose params.json Ray is
    # rewriting at that instant (a retry) is left out of that one snapshot, not shown wrong.
    epochs = [snapshot.set_index("trial_id")["epochs"] for snapshot in snapshots if not snapshot.empty]
    for earlier, later in zip(epochs, epochs[1:]):
        common = earlier.index.intersection(later.index)
        assert len(common) >= len(earlier) - 1
        assert (later[common] >= earlier[common]).all()


def test_a_result_file_caught_mid_copy_is_read_again(tmp_path):
    """Ray's driver copies each trial's result.json from its staging folder onto the storage's by truncating
    and rewriting it: a reader that lands in between reads the rows once written, not an empty trial."""
    result_file = tmp_path / RESULTS_FILE
    rows = [{"epoch": 1}, {"epoch": 2}]
    result_file.write_text("")  # truncated, as the copy leaves it for an instant
    threading.Timer(0.01, result_file.write_text, ["".join(json.dumps(row) + "\n" for row in rows)]).start()
    assert reported_results(tmp_path) == rows


def test_results_table_loads_from_a_storage_uri(analysed_study, tmp_path, monkeypatch):
    """A study on remote storage (here file://, through the same pyarrow filesystem as s3:// or gs://)."""
    import vae_tune.storage as storage
    from vae_tune.training.checkpoint import WEIGHTS_FILE, load_model

    monkeypatch.setattr(storage, "CACHE_ROOT", tmp_path / "cache")
    experiment = analysed_study["experiment_dir"]
    local = load_results(experiment)
    remote = load_results(experiment.as_uri())
    columns = ["trial_id", "status", "epochs", "starts", "best_objective", "rank", "pareto", "baseline"]
    pd.testing.assert_frame_equal(remote[columns], local[columns])
    mirrored = Path(remote.loc[0, "best_checkpoint"])
    assert mirrored.is_relative_to(tmp_path / "cache") and not (mirrored / WEIGHTS_FILE).exists()
    model, state = load_model(mirrored)  # fetches the weights it needs, and only those
    assert (mirrored / WEIGHTS_FILE).is_file() and state["epoch"] == remote.loc[0, "best_epoch"]
    assert len(list((tmp_path / "cache").rglob(WEIGHTS_FILE))) == 1

    with pytest.raises(FileNotFoundError, match="study.json is missing"):
        load_results((tmp_path / "nothing").as_uri())


def test_report_writes_every_figure_at_the_grid_sizes(analysed_study, report_dir):
    study = analysed_study["study"]
    table = pd.read_csv(report_dir / "results.csv")
    assert len(table) == study.search.num_samples
    side, steps, pairs = study.data.image_size, study.probe.interpolation_steps, study.probe.pairs
    for chart in ("pareto.png", "hyperparameters.png", "training_curves.png"):
        assert Image.open(report_dir / chart).size[0] > 400

    drawn = table[(table["rank"] <= TOP) | table["pareto"]]
    assert sorted(p.name for p in (report_dir / "trials").iterdir()) == sorted(drawn["trial_id"])
    data = held_out_data(study)
    categories = sum((data.labels == label).sum() >= 2 for label in np.unique(data.labels))
    expected = {
        "interpolations.png": grid_shape(pairs, steps + 3, side),
        "hybrids.png": grid_shape(pairs, 3, side),
        "category_morphs.png": grid_shape(categories, steps + 3, side),
        "prior_samples.png": grid_shape(*PRIOR_GRID, side),
    }
    for trial_id in drawn["trial_id"]:
        folder = report_dir / "trials" / trial_id
        for name, shape in expected.items():
            pixels = np.asarray(Image.open(folder / name))
            assert pixels.shape == shape, (trial_id, name)
        # Forward, then back without repeating the ends, holding on the real images; Pillow merges
        # identical neighbouring frames (a barely trained decoder) but keeps their total time.
        gif = Image.open(folder / "interpolation.gif")
        total_ms = sum(frame.info["duration"] for frame in ImageSequence.Iterator(gif))
        assert total_ms == 2 * GIF_HOLD_MS + (2 * (steps + 3) - 4) * GIF_FRAME_MS
        gif.seek(0)  # the real source image
        assert gif.size == (192, 192) and np.asarray(gif.convert("RGB")).std() > 5  # 16px enlarged 12x
    best = table.loc[table["rank"] == 1, "trial_id"].item()
    assert (report_dir / "best_interpolations.png").read_bytes() == (report_dir / "trials" / best / "interpolations.png").read_bytes()


def test_index_shows_every_file_with_a_caption(analysed_study, report_dir):
    page = (report_dir / "index.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    written = {p.relative_to(report_dir).as_posix() for p in report_dir.rglob("*") if p.suffix in (".png", ".gif")}
    # Every picture is on the page once, except best_interpolations.png, the same picture at a fixed path.
    assert sorted(sources) == sorted(written - {"best_interpolations.png"})
    assert page.count("<figcaption>") == len(sources)
    for source in sources:
        Image.open(report_dir / source).verify()
    table = load_results(analysed_study["experiment_dir"])
    assert all(trial_id in page for trial_id in table["trial_id"])  # the results table lists every trial
    assert f"{failure_share(table):.0%} failed, diverged or timed out" in page
    study = analysed_study["study"]
    for warning in edge_of_range_warnings(table, study.search.space, TOP):
        assert html.escape(warning) in page


def test_a_damaged_checkpoint_costs_its_trial_pictures_not_the_report(analysed_study, tmp_path):
    experiment = tmp_path / "experiment"
    shutil.copytree(analysed_study["experiment_dir"], experiment)
    table = load_results(experiment)
    damaged, intact = table.loc[0], table.loc[1]  # ranks 1 and 2
    weights = Path(damaged["best_checkpoint"]) / "vae.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])
    assert main(["report", str(experiment), "--top", "2", "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "index.html").read_text()
    assert f"Cannot draw this trial: {weights} is damaged" in page
    assert not (tmp_path / "report" / "trials" / damaged["trial_id"]).exists()
    assert (tmp_path / "report" / "trials" / intact["trial_id"] / "interpolations.png").is_file()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Chromium (apt-get install chromium)")
def test_index_opens_in_chromium_without_a_broken_picture(report_dir, tmp_path):
    screenshot = tmp_path / "report.png"
    done = subprocess.run([sys.executable, str(ROOT / "analysis" / "screenshot_report.py"), str(report_dir),
                           "--out", str(screenshot)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    pictures = len(re.findall(r"<img ", (report_dir / "index.html").read_text()))
    assert f"{pictures} pictures, 0 failed to load" in done.stdout
    shot = np.asarray(Image.open(screenshot).convert("L"))
    assert shot.shape[0] > 2000 and shot.std() > 10  # the whole page, not a blank window

    # And the check is real: a missing picture is reported.
    (report_dir / "pareto.png").rename(tmp_path / "pareto.png")
    try:
        broken = subprocess.run([sys.executable, str(ROOT / "analysis" / "screenshot_report.py"), str(report_dir)],
                                capture_output=True, text=True, timeout=300)
    finally:
        (tmp_path / "pareto.png").rename(report_dir / "pareto.png")
    assert broken.returncode == 1 and "1 failed to load" in broken.stdout


def _table(kl_weights, objectives):
    return pd.DataFrame({"trial_id": [f"t{i}" for i in range(len(objectives))], "kl_weight": kl_weights,
                         "latent_dim": [64] * len(objectives), "best_objective": objectives,
                         "rank": pd.Series(objectives).rank().astype("Int64")})


def test_edge_of_range_warning_only_when_the_best_trial_is_at_a_bound():
    space = {"kl_weight": Parameter("loguniform", low=0.01, high=3.0),
             "latent_dim": Parameter("choice", values=(32, 64, 128))}
    at_top = _table([2.9, 2.7, 0.1, 0.02], [0.5, 0.6, 0.7, 0.8])
    warnings = edge_of_range_warnings(at_top, space, top=3)
    assert len(warnings) == 1 and warnings[0].startswith("widen kl_weight above 3: the best trial (kl_weight=2.9)")
    assert "(so do 1 of the next 2 best trials)" in warnings[0]
    at_bottom = _table([0.011, 1.0, 0.3], [0.5, 0.6, 0.7])
    assert edge_of_range_warnings(at_bottom, space)[0].startswith("widen kl_weight below 0.01")
    in_the_middle = _table([0.3, 2.9, 0.01], [0.5, 0.6, 0.7])  # the runners-up at the edges do not count
    assert edge_of_range_warnings(in_the_middle, space) == []
    # A choice warns at its largest value, but not with two values: then every trial is at an edge.
    at_largest = _table([0.3, 0.3], [0.5, 0.6]).assign(latent_dim=[128, 64])
    assert edge_of_range_warnings(at_largest, space)[0].startswith("widen latent_dim above 128")
    two_values = {"latent_dim": Parameter("choice", values=(64, 128))}
    assert edge_of_range_warnings(at_largest, two_values) == []
