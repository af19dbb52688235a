"""`vae-tune interpolate`: a trained checkpoint morphing between two real photos."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vae_tune.analysis import best_trial, load_results
from vae_tune.cli import main

PAIRS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fashion-pairs"
SOURCE, TARGET = PAIRS / "source" / "image02.jpg", PAIRS / "target" / "image02.jpg"
needs_photos = pytest.mark.skipif(not SOURCE.is_file(), reason=f"needs the real photos in {PAIRS}")


@pytest.fixture(scope="module")
def checkpoint(analysed_study):
    return best_trial(load_results(analysed_study["experiment_dir"]))["best_checkpoint"]


@needs_photos
def test_interpolate_writes_a_strip_and_a_gif_from_two_photos(analysed_study, checkpoint, tmp_path, capsys):
    side, steps = analysed_study["study"].data.image_size, 5
    out = tmp_path / "morph.png"
    assert main(["interpolate", checkpoint, str(SOURCE), str(TARGET), "--steps", str(steps), "--out", str(out),
                 "--gif"]) == 0
    strip = np.asarray(Image.open(out))
    # One row: the source photo, steps + 1 decoded points, the target photo; 2px gutters.
    assert strip.shape == (side + 4, (steps + 3) * (side + 2) + 2, 3)
    source_tile = strip[2:2 + side, 2:2 + side]
    photo = np.asarray(Image.open(SOURCE).convert("RGB").resize((side, side), Image.Resampling.LANCZOS))
    assert np.abs(source_tile.astype(int) - photo.astype(int)).mean() < 12  # the photo itself, at the model's size
    assert Image.open(out.with_suffix(".gif")).is_animated
    assert "wrote" in capsys.readouterr().out


@needs_photos
def test_interpolate_accepts_an_experiment_and_picks_its_best_checkpoint(analysed_study, tmp_path):
    out = tmp_path / "best.png"
    assert main(["interpolate", str(analysed_study["experiment_dir"]), str(SOURCE), str(TARGET), "--steps", "2",
                 "--out", str(out)]) == 0
    assert Image.open(out).size[0] == 5 * (analysed_study["study"].data.image_size + 2) + 2


def test_interpolate_fails_with_one_line_for_a_missing_or_non_image_file(checkpoint, tmp_path, capsys):
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not a photo")
    missing = tmp_path / "missing.jpg"
    for source, message in ((missing, f"SOURCE_IMAGE {missing}: no such file"),
                            (not_an_image, f"SOURCE_IMAGE {not_an_image}: not an image that can be read "
                                           "(UnidentifiedImageError)")):
        assert main(["interpolate", checkpoint, str(source), str(source), "--out", str(tmp_path / "x.png")]) == 2
        assert capsys.readouterr().err == f"vae-tune: error: {message}\n"
    assert not (tmp_path / "x.png").exists()

    assert main(["interpolate", str(tmp_path), str(missing), str(missing)]) == 2
    assert "is not a checkpoint, trial or experiment directory" in capsys.readouterr().err
