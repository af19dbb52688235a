"""`vae-tune interpolate`: a trained checkpoint morphing between two photos."""

import numpy as np
import pytest
from PIL import Image
from stand_in_photos import photo

from vae_tune.analysis import best_trial, load_results
from vae_tune.cli import main


@pytest.fixture
def photos(tmp_path):
    """Two stand-in product photos, square (so a plain resize is what the model sees) and larger than the model's side."""
    source, target = tmp_path / "source.png", tmp_path / "target.png"
    photo(1, size=(40, 40)).save(source)
    photo(2, size=(40, 40)).save(target)
    return source, target


@pytest.fixture(scope="module")
def checkpoint(analysed_study):
    return best_trial(load_results(analysed_study["experiment_dir"]))["best_checkpoint"]


def test_interpolate_writes_a_strip_and_a_gif_from_two_photos(analysed_study, checkpoint, photos, tmp_path, capsys):
    (source, target), side, steps = photos, analysed_study["study"].data.image_size, 5
    out = tmp_path / "morph.png"
    assert main(["interpolate", checkpoint, str(source), str(target), "--steps", str(steps), "--out", str(out),
                 "--gif"]) == 0
    strip = np.asarray(Image.open(out))
    # One row: the source photo, steps + 1 decoded points, the target photo; 2px gutters.
    assert strip.shape == (side + 4, (steps + 3) * (side + 2) + 2, 3)
    first, last = strip[2:2 + side, 2:2 + side].astype(int), strip[2:2 + side, -2 - side:-2].astype(int)

    def at_model_size(path):
        return np.asarray(Image.open(path).convert("RGB").resize((side, side), Image.Resampling.LANCZOS)).astype(int)

    # The photos themselves, at the model's size: the source first, the target last, not the other way round.
    assert np.abs(first - at_model_size(source)).mean() < 3 < np.abs(first - at_model_size(target)).mean()
    assert np.abs(last - at_model_size(target)).mean() < 3 < np.abs(last - at_model_size(source)).mean()
    assert Image.open(out.with_suffix(".gif")).is_animated
    assert "wrote" in capsys.readouterr().out


def test_interpolate_accepts_an_experiment_and_picks_its_best_checkpoint(analysed_study, photos, tmp_path):
    (source, target), out = photos, tmp_path / "best.png"
    assert main(["interpolate", str(analysed_study["experiment_dir"]), str(source), str(target), "--steps", "2",
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
