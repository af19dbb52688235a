"""`vae-tune run STUDY --resume DIR` resumes only an experiment of the same search space; no Ray to refuse."""

import json

import pytest

import vae_tune.cli
import vae_tune.tuning.session
from vae_tune.cli import main
from vae_tune.config import load_study, to_dict

KL_SPACE = "search.space.kl_weight={distribution='loguniform', low=0.01, high=1.0}"


@pytest.fixture
def experiment(tmp_path, monkeypatch):
    """An experiment folder holding only the study.json of a smoke study searching kl_weight in [0.01, 1]."""
    def tripwire(*args, **kwargs):
        raise AssertionError("Ray was started for a refused resume")

    monkeypatch.setattr(vae_tune.tuning.session, "ensure_ray", tripwire)
    directory = tmp_path / "smoke_20260101-000000"
    directory.mkdir()
    (directory / "study.json").write_text(json.dumps(to_dict(load_study("smoke", [KL_SPACE]))))
    return directory


@pytest.mark.parametrize("space", [
    "search.space.kl_weight={distribution='loguniform', low=0.001, high=1.0}",  # same name, another range
    "search.space.learning_rate={distribution='choice', values=[1e-3, 3e-3]}",  # one more hyperparameter
], ids=["other-range", "other-parameters"])
def test_resume_with_a_different_search_space_is_refused(experiment, space, capsys):
    assert main(["run", "smoke", "--set", space, "--resume", str(experiment)]) == 2
    err = capsys.readouterr().err
    assert "search.space differs" in err and str(experiment) in err, err
    assert f"vae-tune resume {experiment}" in err  # what to do instead


def test_resume_with_the_same_search_space_goes_ahead(experiment, monkeypatch):
    resumed = []
    monkeypatch.setattr(vae_tune.cli, "command_resume", lambda args: resumed.append(args.experiment_dir) or 0)
    assert main(["run", "smoke", "--set", KL_SPACE, "--resume", str(experiment)]) == 0
    assert resumed == [str(experiment)]
