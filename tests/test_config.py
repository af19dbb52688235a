import re

import pytest

from vae_tune.cli import main
from vae_tune.config import (
    ConfigError,
    available_studies,
    load_study,
    study_from_dict,
    to_dict,
    tutorial_kl_weight,
    tutorial_params,
)


@pytest.mark.parametrize("name", available_studies())
def test_every_study_file_loads_and_searches_known_parameters(name):
    study = load_study(name)
    assert study.name == name
    assert study.model.image_size == study.data.image_size
    assert set(study.search.space) <= {"latent_dim", "learning_rate", "kl_weight", "chroma_weight", "batch_size"}
    assert "chroma_weight" in study.search.space  # every study searches the colour weight (docs/scores.md)


def test_local_study_searches_around_the_tutorial():
    study = load_study("local")
    space = study.search.space
    assert set(space) == {"latent_dim", "learning_rate", "kl_weight", "chroma_weight"}
    assert space["chroma_weight"].low > 1  # the tutorial's RGB error keeps its models sepia for 20 epochs
    assert 256 in space["latent_dim"].values
    assert space["learning_rate"].low < 5e-4 < space["learning_rate"].high
    tutorial = study.data.image_size**2 * 3 / (1000 * 256)
    assert space["kl_weight"].low < tutorial < space["kl_weight"].high
    assert study.search.scheduler == "asha" and study.search.num_samples >= 8


def test_overrides_parse_values_as_toml():
    study = load_study("smoke", ["training.epochs=3", "training.learning_rate=2e-3", 'name="renamed"'])
    assert study.training.epochs == 3
    assert study.training.learning_rate == 2e-3
    assert study.name == "renamed"


def test_trial_applies_searched_values_to_the_right_section():
    study = load_study("smoke")
    model, training = study.trial({"latent_dim": 7, "learning_rate": 0.01, "kl_weight": 2.0, "chroma_weight": 4.0})
    assert (model.latent_dim, model.kl_weight, model.chroma_weight, training.learning_rate) == (7, 2.0, 4.0, 0.01)
    assert training.epochs == study.training.epochs


def write_study(tmp_path, text):
    path = tmp_path / "study.toml"
    path.write_text(text)
    return str(path)


BAD_STUDIES = [
    ("[model]\nlatent_dims = 3\n", r"model: unknown key 'latent_dims'; allowed: .*latent_dim"),
    ("[training]\nepochs = \"ten\"\n", r"training.epochs: must be int, got str"),
    ("[model]\nlatent_dim = 0\n", r"model.latent_dim: must be a positive integer, got 0"),
    ("[training]\nlearning_rate = -1e-3\n", r"training.learning_rate: must be a positive number"),
    ("[data]\nimage_size = 100\n", r"data.image_size: must be a positive multiple of 16"),
    ("[search]\nscheduler = \"hyperband\"\n", r"search.scheduler: must be one of asha, fifo"),
    ("[search.space]\ndepth = { distribution = \"choice\", values = [1] }\n", r"search.space.depth: cannot be searched"),
    ("[search.space]\nkl_weight = { distribution = \"loguniform\", low = 0, high = 1 }\n", r"kl_weight.low: must be > 0"),
    ("[model]\nchroma_weight = 0\n", r"model.chroma_weight: must be a positive number, got 0"),
    ("[search.space]\nchroma_weight = { distribution = \"choice\", values = [1, -2] }\n",
     r"search.space.chroma_weight: must be a positive number, got -2"),
    ("[search.space]\nlatent_dim = { distribution = \"choice\", values = [8, -4] }\n",
     r"search.space.latent_dim: must be a positive integer, got -4"),
    ("[resources]\ngpus_per_trial = 1.5\n", r"gpus_per_trial: must be a fraction below 1, a whole number or \"node\", got 1.5"),
    ("[resources]\ngpus_per_trial = \"all\"\n", r"gpus_per_trial: must be a fraction below 1, a whole number or \"node\", got 'all'"),
    ("[resources]\ngpus_per_trial = true\n", r"resources.gpus_per_trial: must be float or str, got bool"),
    ("[resources]\nall_reduce = \"ring\"\n", r"resources.all_reduce: must be one of auto, nccl, hierarchical_copy, one_device"),
    ("[training]\nprecision = \"float16\"\n", r"training.precision: must be one of auto, float32, mixed_float16, mixed_bfloat16"),
    ("bogus = 1\n", r"study: unknown key 'bogus'"),
    ("[model\n", r"not valid TOML"),
]


@pytest.mark.parametrize("text, message", BAD_STUDIES)
def test_bad_study_files_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_study(write_study(tmp_path, text))


@pytest.mark.parametrize(
    "override, message",
    [
        ("training.epoch=3", r"training has no key 'epoch'; allowed: epochs"),
        ("nonsense.key=1", r"study has no key 'nonsense'"),
        ("training.epochs", r"expected key=value"),
        ("model.latent_dim=-2", r"model.latent_dim: must be a positive integer"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_study("smoke", [override])


def test_unknown_study_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"unknown study 'nope'; available: .*local.*smoke"):
        load_study("nope")
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_study("/no/such/study.toml")


def test_study_round_trips_through_its_saved_dict():

    study = load_study("local")
    assert study_from_dict(to_dict(study)) == study


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "nope"], "unknown study 'nope'"),
        (["run", "smoke", "--set", "model.size=3"], "model has no key 'size'"),
        (["run", "smoke", "--set", "data.image_size=40"], "data.image_size: must be a positive multiple of 16"),
        (["run", "smoke", "--set", "training.learning_rate=0"], "training.learning_rate: must be a positive number"),
        (["run", "smoke", "--data", "/no/such/folder"], "data.path: /no/such/folder is not a directory"),
    ],
)
def test_cli_stops_before_ray_with_one_line(argv, message, capsys, monkeypatch):
    import vae_tune.tuning.session

    def tripwire(*args, **kwargs):
        raise AssertionError("Ray was started for an invalid study")

    monkeypatch.setattr(vae_tune.tuning.session, "ensure_ray", tripwire)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1, err


def test_show_prints_the_resolved_study(capsys):
    assert main(["show", "local", "--samples", "5"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"latent_dim\s+choice of \[16, 32, 64, 128, 256, 512\]", out)
    assert re.search(r"kl_weight\s+loguniform \[0.01, 3\]", out)
    assert "5 trials x up to 20 epochs + 1 baseline trial" in out
    assert ("baseline   the tutorial's configuration as one more trial: latent_dim=256 learning_rate=5.00e-04 "
            "kl_weight=0.048 chroma_weight=1 (chroma_weight outside the searched [3, 24])") in out
    assert "asha scheduler" in out and "\n  pbt " not in out


def test_show_says_when_and_how_a_pbt_study_perturbs(capsys):
    assert main(["show", "pbt", "--set", "pbt.burn_in=2", "--set", "pbt.perturbation_interval=3"]) == 0
    # burn_in 2 is shorter than the interval: the first perturbation is at epoch 3, then 6, 9, ...
    assert ("  pbt        every 3 epochs from epoch 3, the worst 25% copy the best 25% and mutate learning_rate, "
            "kl_weight, chroma_weight (resampled with probability 0.25)") in capsys.readouterr().out
    assert main(["show", "pbt", "--set", 'search.scheduler="pb2"']) == 0
    assert ("  pb2        every 4 epochs from epoch 5, the worst 25% copy the best 25% and take new learning_rate, "
            "kl_weight, chroma_weight chosen by PB2's Gaussian process within the searched ranges") in capsys.readouterr().out


def test_pareto_objective_refuses_asha():
    with pytest.raises(ConfigError, match=r"search.scheduler: asha needs one scalar metric"):
        load_study("smoke", ['objective.kind="pareto"', 'search.scheduler="asha"'])
    study = load_study("smoke", ['objective.kind="pareto"', 'search.algorithm="nsga2"'])
    assert study.objective.kind == "pareto" and study.search.scheduler == "fifo"


def write_photos(folder, count):
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.full((20, 20, 3), 40 * i, dtype=np.uint8)).save(folder / f"photo{i}.png")
    return folder


def test_a_folder_study_says_its_image_count_is_a_cap(tmp_path, capsys):
    """data.samples only caps a folder: `show` and `run` must not claim 2048 images for a folder of 5."""
    from vae_tune.tuning.session import _prepare_data

    folder = write_photos(tmp_path / "photos", 5)
    assert main(["show", "smoke", "--data", str(folder), "--set", "data.samples=2048"]) == 0
    shown = capsys.readouterr().out
    assert f"folder from {folder}, up to 2048 images at " in shown
    study = load_study("smoke", ['data.source="folder"', f'data.path="{folder}"', "data.samples=2048",
                                 f'data.cache_dir="{tmp_path / "cache"}"', "training.batch_size=1"])
    assert len(_prepare_data(study)[1]) == 5
    lines = capsys.readouterr().out.splitlines()
    preparing, ready = lines[0], lines[-1]  # between them, the warning that the probe shrinks to the 5 photos' split
    assert preparing.startswith("vae-tune: preparing data (folder, up to 2048 images at ")
    assert ready.startswith("vae-tune: 5 images ready in ")
    # The synthetic catalogue generates exactly data.samples images: no "up to" there.
    assert main(["show", "smoke", "--set", "data.samples=2048"]) == 0
    assert "synthetic, 2048 images at " in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["run", "smoke", "--resume", "/tmp/any"], ["evaluate", "/tmp/any", "--pairs", "/tmp/any"]],
                         ids=["run --resume", "evaluate"])
def test_removed_spellings_are_refused(argv, capsys):
    """`run --resume` (it dropped --set, --data and --samples) and `evaluate` (now `score`) are gone, not ignored."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "vae-tune: error:" in capsys.readouterr().err


def test_tutorial_kl_weight_is_the_tutorials_loss_in_per_image_sums():
    """1000 * MSE + mean KL over D = H*W*3 values and L latents is, times D / 1000, SSE + D / (1000 L) * KL."""
    assert tutorial_kl_weight(128) == pytest.approx(0.192)  # 128*128*3 / (1000*256), "about 0.19" in the docs
    assert tutorial_kl_weight(64) == pytest.approx(0.048)  # 64*64*3 / (1000*256)
    assert tutorial_kl_weight(64, latent_dim=128) == pytest.approx(0.096)  # 64*64*3 / (1000*128)
    assert tutorial_params(64) == {"latent_dim": 256, "learning_rate": 5e-4, "kl_weight": pytest.approx(0.048),
                                   "chroma_weight": 1.0}
