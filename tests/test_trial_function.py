"""`train_vae`, the function Tune runs, without Ray: a diverged trial stops, a resumed one reports what
Tune's result.json will lack.

A stand-in for the few `ray.tune` calls it makes (report, get_checkpoint, get_context)
keeps what Tune would: each report's result in result.json and its checkpoint in
checkpoint_NNNNNN.
"""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from conftest import DIVERGING_LEARNING_RATE

from vae_tune.data.dataset import load_dataset
from vae_tune.experiment import reported_results
from vae_tune.names import STARTS_FILE
from vae_tune.training.checkpoint import read_state

TRIAL_ID = "00000"


class FakeTune:
    """What Tune keeps of one trial's function: its reports, its checkpoints, the checkpoint it resumes from."""

    def __init__(self, trial_dir: Path):
        self.trial_dir = trial_dir
        self.reports: list[dict] = []
        self.resume_from = None  # the checkpoint get_checkpoint() names

    def report(self, metrics, checkpoint=None):
        self.reports.append(dict(metrics))
        with open(self.trial_dir / "result.json", "a") as log:
            log.write(json.dumps(metrics) + "\n")
        if checkpoint is not None:
            shutil.copytree(checkpoint.path, self.trial_dir / f"checkpoint_{len(self.reports) - 1:06d}")

    def get_checkpoint(self):
        from ray import tune

        return tune.Checkpoint.from_directory(self.resume_from) if self.resume_from else None

    def get_context(self):
        return type("Context", (), {"get_trial_id": staticmethod(lambda: TRIAL_ID)})()


@pytest.fixture
def fake_tune(tmp_path, monkeypatch):
    import ray
    from ray import tune

    from vae_tune.experiment import trial_dirname

    trial_dir = tmp_path / trial_dirname(TRIAL_ID)
    trial_dir.mkdir()
    fake = FakeTune(trial_dir)
    for name in ("report", "get_checkpoint", "get_context"):
        monkeypatch.setattr(tune, name, getattr(fake, name))
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [])
    monkeypatch.setattr(ray, "get_runtime_context",
                        lambda: type("Runtime", (), {"get_node_id": staticmethod(lambda: "node")})())
    return fake


def run_trial(study, params, tmp_path):
    from vae_tune.tuning.trainable import train_vae

    train_vae(dict(params), study=study, dataset=load_dataset(study.data), experiment_dir=str(tmp_path))


def with_epochs(study, epochs):
    return dataclasses.replace(study, training=dataclasses.replace(study.training, epochs=epochs))


def test_a_diverged_trial_stops_and_a_resumed_one_returns_at_once(tiny_study, tmp_path, fake_tune):
    study = with_epochs(tiny_study, 4)
    params = {"learning_rate": DIVERGING_LEARNING_RATE, "kl_weight": 1.0}

    run_trial(study, params, tmp_path)
    assert [(r["epoch"], r["diverged"]) for r in fake_tune.reports] == [(1, True)]  # not 4 epochs
    checkpoint = fake_tune.trial_dir / "checkpoint_000000"
    assert read_state(checkpoint)["metrics"]["diverged"] is True

    # Tune restarts the trial (a crash right after, a resumed study): its checkpoint says it diverged.
    fake_tune.resume_from = checkpoint
    run_trial(study, params, tmp_path)
    assert len(fake_tune.reports) == 1, fake_tune.reports[1:]  # no epoch trained or reported again
    assert len(reported_results(fake_tune.trial_dir)) == 1
    starts = [json.loads(line) for line in (fake_tune.trial_dir / STARTS_FILE).read_text().splitlines()]
    assert [s["resumed_from_epoch"] for s in starts] == [None, 1]  # it did start, from the diverged epoch
    assert sorted(p.name for p in fake_tune.trial_dir.glob("checkpoint_*")) == ["checkpoint_000000"]


def test_a_healthy_trial_through_the_same_stand_in_reports_every_epoch(tiny_study, tmp_path, fake_tune):
    # The control: the stand-in lets train_vae run its epochs; the stop above is the divergence's.
    run_trial(with_epochs(tiny_study, 2), {"learning_rate": 1e-3, "kl_weight": 0.05}, tmp_path)
    assert [(r["epoch"], r["diverged"]) for r in fake_tune.reports] == [(1, False), (2, False)]


@pytest.mark.parametrize("tune_names_a_checkpoint", [True, False])
def test_a_resumed_trial_reports_again_what_tunes_new_result_file_will_lack(tiny_study, tmp_path, fake_tune,
                                                                           tune_names_a_checkpoint):
    """A study stopped before Tune's snapshot recorded a trial's checkpoint resumes that trial with no checkpoint
    named; Tune's driver then starts the trial's result.json empty, so every saved epoch must be reported again.
    With a checkpoint named, Tune keeps the file, and epochs already in it are not reported twice."""
    run_trial(with_epochs(tiny_study, 2), {"kl_weight": 0.05}, tmp_path)
    before = len(fake_tune.reports)
    fake_tune.resume_from = fake_tune.trial_dir / "checkpoint_000001" if tune_names_a_checkpoint else None

    run_trial(with_epochs(tiny_study, 3), {"kl_weight": 0.05}, tmp_path)
    reported = [(r["epoch"], bool(r.get("reported_again"))) for r in fake_tune.reports[before:]]
    if tune_names_a_checkpoint:
        assert reported == [(3, False)]
    else:
        assert reported == [(1, True), (2, True), (3, False)]  # epochs 1-2 from their checkpoints, 3 trained
        assert fake_tune.reports[before]["resumed_from_epoch"] == 2  # the first report says where the trial resumed
