"""Population Based Training: a trial that Tune hands another trial's checkpoint takes its weights and epoch
and keeps its own new hyperparameters; checkpoints carry their lineage; the scheduler leaves the baseline alone."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_OVERRIDES
from ray import tune

from vae_tune.config import ConfigError, check_installed, load_study, perturbation_epoch
from vae_tune.data.dataset import load_dataset
from vae_tune.lineage import decode_schedule, describe, encode_schedule, extend, truncate
from vae_tune.names import (
    EXPLOITED_TRIAL,
    HP_KL_WEIGHT,
    HP_LEARNING_RATE,
    LINEAGE,
    OBJECTIVE,
    PRUNED,
    RESUMED_FROM_EPOCH,
    RESUMED_FROM_SHA256,
    SEQUENCE,
)
from vae_tune.training.checkpoint import checkpoint_states, prune_checkpoints, read_state
from vae_tune.training.trainer import TrialTrainer
from vae_tune.tuning.resume import report_unlogged_epochs, restore_latest

DONOR = {"learning_rate": 3e-3, "kl_weight": 0.05, "chroma_weight": 2.0}
MUTATED = {"learning_rate": 7e-4, "kl_weight": 0.4, "chroma_weight": 6.0}  # the recipient's config after the exploit


def weights_of(model):
    return [np.asarray(v) for v in model.weights]


def train_and_save(trainer, trial_dir, epochs, first_folder=0):
    """Train `epochs` epochs, saving each in trial_dir/checkpoint_<n> as the trainable does; returns the metrics."""
    saved = []
    for number in range(first_folder, first_folder + epochs):
        metrics = trainer.train_epoch()
        trainer.save(trial_dir / f"checkpoint_{number:06d}", metrics)
        saved.append(metrics)
    return saved


@pytest.fixture
def population(tiny_study, tmp_path):
    """Trial A (the donor) at epoch 2 and trial B's folder with 3 epochs of its own, newer than A's epoch 2."""
    dataset = load_dataset(tiny_study.data)
    donor_dir, recipient_dir = tmp_path / "trial_a", tmp_path / "trial_b"
    donor = TrialTrainer(tiny_study, DONOR, dataset, trial_id="a")
    donor_metrics = train_and_save(donor, donor_dir, 2)
    recipient = TrialTrainer(tiny_study, {**DONOR, "learning_rate": 1e-3}, dataset, trial_id="b")
    train_and_save(recipient, recipient_dir, 3)
    return {"dataset": dataset, "donor": donor, "donor_metrics": donor_metrics, "donor_dir": donor_dir,
            "recipient_dir": recipient_dir}


def test_an_exploit_takes_the_donors_weights_and_epoch_and_keeps_its_own_new_hyperparameters(tiny_study, population):
    donor_checkpoint = population["donor_dir"] / "checkpoint_000001"
    exploiting = TrialTrainer(tiny_study, MUTATED, population["dataset"], trial_id="b")
    resumed = restore_latest(exploiting, tune.Checkpoint.from_directory(donor_checkpoint), population["recipient_dir"])

    # The donor's weights and epoch, not the recipient's own newer epoch 3.
    assert exploiting.epoch == 2
    for donor_weight, restored in zip(weights_of(population["donor"].model), weights_of(exploiting.model)):
        np.testing.assert_array_equal(donor_weight, restored)
    assert resumed[RESUMED_FROM_EPOCH] == 2 and resumed[EXPLOITED_TRIAL] == "a"
    assert resumed[RESUMED_FROM_SHA256] == read_state(donor_checkpoint)["weights"]["sha256"]
    # The recipient's own new learning rate in the optimizer (Keras loaded the donor's 3e-3 with the weights),
    # and its own loss weights in the model that trains.
    assert float(exploiting.model.optimizer.learning_rate.numpy()) == pytest.approx(7e-4)
    assert exploiting.model.config.kl_weight == 0.4 and exploiting.model.config.chroma_weight == 6.0
    # The probe scores the donor's model: the same objective the donor reported for its epoch 2.
    probe = exploiting.scorer.score(exploiting.model)
    assert probe[OBJECTIVE] == pytest.approx(population["donor_metrics"][1][OBJECTIVE], rel=1e-5)
    # ... while the validation loss is the recipient's: reconstruction + 0.4 * KL.
    assert probe["val/loss"] == pytest.approx(probe["val/reconstruction_loss"] + 0.4 * probe["val/kl"], rel=1e-4)

    metrics = exploiting.train_epoch()
    assert metrics["epoch"] == 3
    assert metrics[HP_LEARNING_RATE] == pytest.approx(7e-4) and metrics[HP_KL_WEIGHT] == 0.4
    np.testing.assert_allclose(metrics["train/loss"], metrics["train/reconstruction_loss"] + 0.4 * metrics["train/kl"],
                               rtol=1e-4)
    segments = exploiting.lineage
    assert [(s["trial_id"], s["first_epoch"], s["last_epoch"]) for s in segments] == [("a", 1, 2), ("b", 3, 3)]
    assert segments[0]["params"]["learning_rate"] == pytest.approx(3e-3)
    assert segments[1]["params"] == pytest.approx(MUTATED)
    assert segments[1]["from_sha256"] == resumed[RESUMED_FROM_SHA256]


def test_after_an_exploit_the_trials_newest_checkpoint_is_by_sequence_not_epoch(tiny_study, population):
    recipient_dir = population["recipient_dir"]
    donor_checkpoint = tune.Checkpoint.from_directory(population["donor_dir"] / "checkpoint_000001")
    exploiting = TrialTrainer(tiny_study, MUTATED, population["dataset"], trial_id="b")
    restore_latest(exploiting, donor_checkpoint, recipient_dir)
    assert exploiting.sequence == 3  # past the trial's own three saves
    train_and_save(exploiting, recipient_dir, 1, first_folder=3)  # epoch 3 again, on the donor's line

    newest, state = checkpoint_states(recipient_dir)[0]
    assert newest.name == "checkpoint_000003" and state["epoch"] == 3 and state[SEQUENCE] == 3
    assert state["params"] == MUTATED
    # A crash now: Tune's snapshot may still name the donor's checkpoint. The trial's own newest descends
    # from it with the same params, so it resumes there instead of exploiting again.
    crashed = TrialTrainer(tiny_study, MUTATED, population["dataset"], trial_id="b")
    resumed = restore_latest(crashed, donor_checkpoint, recipient_dir)
    assert EXPLOITED_TRIAL not in resumed and crashed.epoch == 3
    assert resumed[RESUMED_FROM_SHA256] == state["weights"]["sha256"]
    assert [s["trial_id"] for s in crashed.lineage] == ["a", "b"]
    # Pruning keeps the newest two by sequence: the post-exploit epoch 3 and the pre-exploit epoch 3.
    pruned = prune_checkpoints(recipient_dir, OBJECTIVE, keep_newest=2)
    kept = {path.name for path, s in checkpoint_states(recipient_dir) if not s.get(PRUNED)}
    assert {"checkpoint_000003", "checkpoint_000002"} <= kept and len(pruned) + len(kept) == 4


def test_a_resumed_trial_never_goes_back_to_a_donor_it_has_already_left(tiny_study, population, tmp_path):
    """The driver died after two exploits of one trial, and its last snapshot names the first: the trial
    goes on from its newest checkpoint, on the second donor's line, instead of copying the first again."""
    dataset, recipient_dir = population["dataset"], population["recipient_dir"]
    first_donor = tune.Checkpoint.from_directory(population["donor_dir"] / "checkpoint_000001")
    exploiting = TrialTrainer(tiny_study, MUTATED, dataset, trial_id="b")
    restore_latest(exploiting, first_donor, recipient_dir)
    train_and_save(exploiting, recipient_dir, 1, first_folder=3)  # epoch 3 on a's line
    train_and_save(TrialTrainer(tiny_study, DONOR, dataset, trial_id="c"), tmp_path / "trial_c", 3)
    second_donor = tune.Checkpoint.from_directory(tmp_path / "trial_c" / "checkpoint_000002")  # c's epoch 3
    exploiting = TrialTrainer(tiny_study, {**MUTATED, "kl_weight": 0.2}, dataset, trial_id="b")
    restore_latest(exploiting, second_donor, recipient_dir)
    train_and_save(exploiting, recipient_dir, 1, first_folder=4)  # epoch 4 on c's line
    _, newest = checkpoint_states(recipient_dir)[0]

    crashed = TrialTrainer(tiny_study, MUTATED, dataset, trial_id="b")  # the config of the first exploit
    resumed = restore_latest(crashed, first_donor, recipient_dir)
    assert EXPLOITED_TRIAL not in resumed and crashed.epoch == 4
    assert resumed[RESUMED_FROM_SHA256] == newest["weights"]["sha256"]
    assert [s["trial_id"] for s in crashed.lineage] == ["c", "b"]


def test_report_unlogged_epochs_skips_the_trials_own_epochs_from_before_an_exploit(tiny_study, population, monkeypatch):
    recipient_dir = population["recipient_dir"]
    exploiting = TrialTrainer(tiny_study, MUTATED, population["dataset"], trial_id="b")
    restore_latest(exploiting, tune.Checkpoint.from_directory(population["donor_dir"] / "checkpoint_000001"), recipient_dir)
    train_and_save(exploiting, recipient_dir, 2, first_folder=3)  # epochs 3 and 4 on the donor's line
    reported = []
    monkeypatch.setattr(tune, "report", lambda metrics, **_: reported.append(metrics))
    # Tune's driver lost every row: only epochs 3 and 4 of this line are the trial's to report again,
    # not its own epochs 1-3 from before the exploit, nor the donor's 1-2.
    report_unlogged_epochs(recipient_dir, 4, {}, tune_named_checkpoint=False, lineage=exploiting.lineage)
    assert [row["epoch"] for row in reported] == [3, 4]
    assert all(row[HP_KL_WEIGHT] == 0.4 for row in reported)


def test_a_pbt_study_keeps_the_checkpoints_a_donor_can_be_copied_from(tiny_study, tmp_path):
    study = load_study("smoke", ["search.scheduler=\"pbt\"", "training.epochs=12", "pbt.perturbation_interval=3",
                                 "pbt.burn_in=5", "search.space.kl_weight={distribution='loguniform', low=0.01, high=1.0}",
                                 "pbt.mutate=[\"kl_weight\"]", "search.num_samples=4"])
    # The first perturbation at max(3, 5) = 5, then every 3 epochs.
    assert [epoch for epoch in range(1, 13) if perturbation_epoch(study.pbt, epoch)] == [5, 8, 11]
    trial_dir = tmp_path / "trial"
    for epoch in range(1, 10):
        (trial_dir / f"checkpoint_{epoch:06d}").mkdir(parents=True)
        (trial_dir / f"checkpoint_{epoch:06d}" / "vae.weights.h5").write_bytes(b"w")
        (trial_dir / f"checkpoint_{epoch:06d}" / "trial.json").write_text(json.dumps(
            {"epoch": epoch, SEQUENCE: epoch, "metrics": {OBJECTIVE: 1.0 / epoch}}))
    prune_checkpoints(trial_dir, OBJECTIVE, keep_epoch=lambda epoch: perturbation_epoch(study.pbt, epoch))
    kept = sorted(state["epoch"] for _, state in checkpoint_states(trial_dir) if not state.get(PRUNED))
    assert kept == [5, 8, 9]  # 8 and 9 are the newest two; 9 the best; 5 a perturbation epoch


def test_lineage_segments_grow_split_and_truncate():
    lineage = []
    for epoch in (1, 2):
        lineage = extend(lineage, "a", epoch, {"learning_rate": 1e-3, "kl_weight": 0.1, "latent_dim": 8})
    lineage = extend(lineage, "b", 3, {"learning_rate": 2e-3, "kl_weight": 0.1}, from_sha256="abc")
    lineage = extend(lineage, "b", 4, {"learning_rate": 2e-3, "kl_weight": 0.1})
    assert [(s["trial_id"], s["first_epoch"], s["last_epoch"]) for s in lineage] == [("a", 1, 2), ("b", 3, 4)]
    assert "latent_dim" not in lineage[0]["params"]  # only what can change mid-trial
    assert truncate(lineage, 2) == [{"trial_id": "a", "first_epoch": 1, "last_epoch": 2,
                                     "params": {"learning_rate": 1e-3, "kl_weight": 0.1}}]
    assert describe(lineage) == "1-2 a: learning_rate=1.00e-03 kl_weight=0.1 | 3-4 b: learning_rate=2.00e-03 kl_weight=0.1"


PBT = ['search.scheduler="pbt"']


@pytest.mark.parametrize("override, message", [
    ('search.algorithm="tpe"', 'search.algorithm: pbt chooses the configurations itself; use "random"'),
    ('pbt.mutate=["latent_dim"]', "pbt.mutate: latent_dim cannot mutate"),
    ('pbt.mutate=["batch_size"]', "pbt.mutate: 'batch_size' cannot mutate"),
    ("pbt.perturbation_interval=30", "pbt.perturbation_interval: 30 epochs is longer than training.epochs = 20"),
    ('objective.kind="pareto"', 'objective.kind: pbt ranks trials by one scalar metric'),
    ("pbt.quantile_fraction=0.6", r"pbt.quantile_fraction: must be in \(0, 0.5\]"),
])
def test_a_pbt_study_that_cannot_work_stops_in_one_line(override, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_study("local", PBT + [override])
    assert "\n" not in str(error.value)


def test_a_mutated_parameter_must_be_searched():
    with pytest.raises(ConfigError, match="pbt.mutate: 'chroma_weight' is not in search.space"):
        load_study("smoke", PBT + ['pbt.mutate=["chroma_weight"]', "search.num_samples=4", "pbt.perturbation_interval=1",
                                   "search.space={learning_rate={distribution='loguniform', low=1e-4, high=1e-2}}"])


def test_pb2_without_scikit_learn_names_the_extra(monkeypatch):
    study = load_study("local", ['search.scheduler="pb2"'])
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r'pb2 needs scikit-learn; install it with pip install -e "\.\[pb2\]"'):
        check_installed(study)


@pytest.fixture(scope="module")
def pbt_study(tmp_path_factory, ray_session):
    """studies/pbt.toml shrunk (tests/pbt_run.py): 4 members and the baseline, 4 epochs, perturbed after every epoch,
    ranked by kl_weight."""
    from pbt_run import scored_by_kl_weight, tiny_pbt_study

    from vae_tune.tuning.session import run_study

    study = tiny_pbt_study(tmp_path_factory.mktemp("pbt") / "results", ["search.baseline=true", "training.epochs=4"])
    assert study.pbt.mutate == ("learning_rate", "kl_weight", "chroma_weight")
    trainable = scored_by_kl_weight()
    outcome = run_study(study, trainable=trainable)
    return {"study": study, "experiment_dir": outcome.experiment_dir, "trainable": trainable}


def test_each_exploit_restores_the_donors_checkpoint_and_says_so(pbt_study):
    from pbt_run import assert_lineages_consistent

    from vae_tune.baseline import read_record
    from vae_tune.experiment import reported_results

    experiment = pbt_study["experiment_dir"]
    rows = {path.name.removeprefix("trial_"): reported_results(path) for path in experiment.glob("trial_*")}
    baseline = read_record(experiment)["trial_id"]
    assert len(rows) == 5 and baseline in rows
    digests = {row["checkpoint_sha256"]: (trial_id, row) for trial_id, trial_rows in rows.items() for row in trial_rows}
    exploits = [(trial_id, row) for trial_id, trial_rows in rows.items() for row in trial_rows if row.get(EXPLOITED_TRIAL)]
    assert exploits, "no trial was ever perturbed"
    for trial_id, row in exploits:
        before = rows[trial_id][rows[trial_id].index(row) - 1]
        assert before["epoch"] <= row[RESUMED_FROM_EPOCH]  # a recipient never goes back in epochs
        donor, donor_row = digests[row[RESUMED_FROM_SHA256]]  # the hash names a checkpoint the donor reported
        assert donor == row[EXPLOITED_TRIAL] != trial_id
        assert row["epoch"] == donor_row["epoch"] + 1 == row[RESUMED_FROM_EPOCH] + 1
        assert donor != baseline  # the baseline is never a donor ...
    assert all(not row.get(EXPLOITED_TRIAL) for row in rows[baseline])  # ... and never perturbed
    assert all(row["hp/chroma_weight"] == 1.0 for row in rows[baseline])  # the tutorial's, outside the search
    assert_lineages_consistent(experiment)
    for trial_id in rows:  # every trial's newest checkpoint: the whole lineage, with the donor's model
        _, state = checkpoint_states(experiment / f"trial_{trial_id}")[0]
        assert state[LINEAGE][-1]["last_epoch"] == 4
        assert state["model"]["latent_dim"] == state["params"]["latent_dim"]


def test_the_exploit_cost_counts_the_restart_of_each_exploit(pbt_study):
    from vae_tune.analysis.restarts import study_restarts
    from vae_tune.experiment import reported_results, trial_starts

    experiment = pbt_study["experiment_dir"]
    trials = list(experiment.glob("trial_*"))
    restarts = study_restarts(experiment)
    exploited = [row for trial in trials for row in reported_results(trial) if row.get(EXPLOITED_TRIAL)]
    assert len(restarts.exploits) == len(restarts.relaunches) == len(exploited) > 0
    assert len(restarts.first) == 5
    # Every start counted once; the others are PBT pausing a trial for another (5 trials on 2 CPUs).
    assert len(restarts.first + restarts.exploits + restarts.others) == sum(len(trial_starts(trial)) for trial in trials)
    assert all(seconds > 0 for seconds in restarts.exploits + restarts.relaunches)
    assert 0 < restarts.share(restarts.exploits) < 1


def test_the_report_writes_the_winners_schedule_and_each_trials(pbt_study, tmp_path):
    from vae_tune.analysis import load_results
    from vae_tune.analysis.report import write_report
    from vae_tune.analysis.schedule import read_schedule

    experiment = pbt_study["experiment_dir"]
    report = write_report(experiment, out=tmp_path / "report")
    schedule = read_schedule(experiment)
    table = load_results(experiment).set_index("trial_id")
    best = report.best_searched  # the population's winner; the baseline trial is outside the population
    assert not best["baseline"] and report.best["baseline"]  # kl_weight 0.003 scores best here
    assert schedule["trial_id"] == best["trial_id"] and schedule["best_epoch"] == best["best_epoch"]
    segments = schedule[LINEAGE]
    assert segments[0]["first_epoch"] == 1 and segments[-1]["last_epoch"] == best["best_epoch"]
    assert schedule["model"]["latent_dim"] == table.loc[best["trial_id"], "latent_dim"]
    # results.csv: every trial's schedule, the winner's ending with its own id.
    written = pd.read_csv(tmp_path / "report" / "results.csv").set_index("trial_id")
    assert written["schedule"].to_dict() == table["schedule"].to_dict()
    assert all(str(text).startswith("1-") for text in written["schedule"])
    assert (tmp_path / "report" / "schedules.png").is_file()
    assert "schedules.png" in (tmp_path / "report" / "index.html").read_text()
    # One row per epoch in each trial's history: an exploit's epochs replace the trial's own older ones.
    assert (table["epochs"] == 4).all()


def test_a_replayed_schedule_reproduces_an_exploit_and_changes_its_values_at_the_boundary(tiny_study, tmp_path):
    from vae_tune.training.replay import replay_schedule

    dataset = load_dataset(tiny_study.data)
    # What PBT does: trial a trains epoch 1; trial b copies it and trains epoch 2 with new values.
    donor = TrialTrainer(tiny_study, DONOR, dataset, trial_id="a")
    train_and_save(donor, tmp_path / "trial_a", 1)
    recipient = TrialTrainer(tiny_study, MUTATED, dataset, trial_id="b")
    restore_latest(recipient, tune.Checkpoint.from_directory(tmp_path / "trial_a" / "checkpoint_000000"), tmp_path / "trial_b")
    exploited = recipient.train_epoch()
    schedule = {"best_epoch": 2, LINEAGE: recipient.lineage, "model": {"latent_dim": tiny_study.model.latent_dim},
                "training": {"batch_size": tiny_study.training.batch_size, "seed": tiny_study.training.seed}}

    replayed = replay_schedule(tiny_study, schedule, dataset)
    assert [m["epoch"] for m in replayed] == [1, 2]
    assert replayed[0][HP_KL_WEIGHT] == 0.05 and replayed[1][HP_KL_WEIGHT] == 0.4
    assert replayed[1][HP_LEARNING_RATE] == pytest.approx(7e-4)
    # The loss of epoch 2 is the new one: reconstruction (chroma x6) + 0.4 * KL.
    np.testing.assert_allclose(replayed[1]["train/loss"], replayed[1]["train/reconstruction_loss"] + 0.4 * replayed[1]["train/kl"],
                               rtol=1e-4)
    # In one process, the same scores as the exploit across two processes.
    assert replayed[1][OBJECTIVE] == pytest.approx(exploited[OBJECTIVE], rel=1e-4)
    assert replayed[1]["train/loss"] == pytest.approx(exploited["train/loss"], rel=1e-4)


# A schedule with a boundary: epoch 1 with DONOR's values, epoch 2 on with MUTATED's.
SCHEDULE = [{"trial_id": "a", "first_epoch": 1, "last_epoch": 1, "params": DONOR},
            {"trial_id": "b", "first_epoch": 2, "last_epoch": 2, "params": MUTATED, "from_sha256": "ab12"}]


def test_a_trainer_follows_its_schedule_past_its_end_and_after_a_restore(tiny_study, tmp_path):
    dataset = load_dataset(tiny_study.data)
    trainer = TrialTrainer(tiny_study, {"kl_weight": 0.05, "chroma_weight": 2.0}, dataset, schedule=SCHEDULE)
    metrics = train_and_save(trainer, tmp_path, 3)
    # Epoch 3 is past the schedule's end: the last segment's values hold.
    assert [m[HP_KL_WEIGHT] for m in metrics] == [0.05, 0.4, 0.4]
    assert [m["hp/chroma_weight"] for m in metrics] == [2.0, 6.0, 6.0]
    assert [m[HP_LEARNING_RATE] for m in metrics] == pytest.approx([3e-3, 7e-4, 7e-4])
    np.testing.assert_allclose(metrics[1]["train/loss"], metrics[1]["train/reconstruction_loss"] + 0.4 * metrics[1]["train/kl"],
                               rtol=1e-4)
    # Restarted from its epoch-2 checkpoint, a trial built with the first values goes on with the second.
    restarted = TrialTrainer(tiny_study, {"kl_weight": 0.05, "chroma_weight": 2.0}, dataset, schedule=SCHEDULE)
    restarted.restore(tmp_path / "checkpoint_000001")
    again = restarted.train_epoch()
    assert again[HP_KL_WEIGHT] == 0.4 and again[HP_LEARNING_RATE] == pytest.approx(7e-4)
    assert again[OBJECTIVE] == pytest.approx(metrics[2][OBJECTIVE], rel=1e-4)


def test_a_schedule_travels_in_a_config_as_json_text_without_the_donors_digests():
    text = encode_schedule(SCHEDULE)
    assert isinstance(text, str) and "ab12" not in text
    assert decode_schedule(text) == [SCHEDULE[0], {key: value for key, value in SCHEDULE[1].items() if key != "from_sha256"}]
    assert encode_schedule([]) == "" and decode_schedule("") == []


def test_replay_retrains_the_winners_schedule_and_prints_it_beside_the_winner(pbt_study, tmp_path, capsys):
    from vae_tune.analysis.report import write_report
    from vae_tune.cli import main

    experiment = pbt_study["experiment_dir"]
    write_report(experiment, out=tmp_path / "report")
    assert main(["replay", str(experiment)]) == 0
    lines = capsys.readouterr().out.splitlines()
    schedule = json.loads((experiment / "schedule.json").read_text())
    assert lines[0].startswith(f"schedule of {schedule['trial_id']} to epoch {schedule['best_epoch']}: 1-")
    assert lines[1].startswith("winner") and f"objective={schedule['scores'][OBJECTIVE]:.4f}" in lines[1]
    assert lines[2].split()[:3] == ["replay,", "seed", "0"] and len(lines) == 3  # the winner's own seed
    assert all("val/psnr=" in line for line in lines[1:])


def hp_per_epoch(trial_dir, key=HP_KL_WEIGHT):
    from vae_tune.experiment import reported_results

    return [row[key] for row in sorted(reported_results(trial_dir), key=lambda row: row["epoch"])]


def test_a_confirm_run_follows_its_schedule_and_the_baseline_stays_constant(ray_session, tmp_path):
    from vae_tune.confirm import CONFIRM, Candidate, retrain

    study = load_study("smoke", TINY_OVERRIDES + [f'storage_path="{tmp_path}"', "training.epochs=3"])
    chosen = [Candidate("#1", "b", {"kl_weight": 0.4, "chroma_weight": 6.0}, SCHEDULE),
              Candidate("baseline", "c", {"kl_weight": 0.003, "chroma_weight": 1.0})]
    outcome = retrain(CONFIRM, str(tmp_path), study, chosen, [5], "--seeds 1", address=None, verbose=False)
    assert not outcome.interrupted
    rows = pd.read_csv(tmp_path / "confirm.csv")
    assert list(rows["config"]) == ["#1", "baseline"] and set(rows["status"]) == {"finished"}
    assert rows.loc[0, "schedule"] == "1-1 a: learning_rate=3.00e-03 kl_weight=0.05 chroma_weight=2 | " \
                                      "2-2 b: learning_rate=7.00e-04 kl_weight=0.4 chroma_weight=6"
    assert pd.isna(rows.loc[1, "schedule"])
    scheduled, baseline = (Path(path).parent for path in rows["best_checkpoint"])
    # The boundary at epoch 2, and the last values held to the study's last epoch.
    assert hp_per_epoch(scheduled) == [0.05, 0.4, 0.4]
    assert hp_per_epoch(scheduled, HP_LEARNING_RATE) == pytest.approx([3e-3, 7e-4, 7e-4])
    assert hp_per_epoch(scheduled, "hp/chroma_weight") == [2.0, 6.0, 6.0]
    assert hp_per_epoch(baseline) == [0.003] * 3 and hp_per_epoch(baseline, HP_LEARNING_RATE) == pytest.approx([1e-3] * 3)
    # The run started with the schedule's first values, its seed and the schedule itself in its config.
    params = json.loads((scheduled / "params.json").read_text())
    assert params == {"kl_weight": 0.05, "chroma_weight": 2.0, "seed": 5, "schedule": encode_schedule(SCHEDULE)}


def test_confirm_on_a_pbt_study_retrains_the_best_trials_schedule(pbt_study, capsys):
    from vae_tune.analysis import load_results
    from vae_tune.cli import main
    from vae_tune.lineage import scheduled_params

    experiment = pbt_study["experiment_dir"]
    assert main(["confirm", str(experiment), "--top", "1", "--seeds", "1"]) == 0
    table = load_results(experiment)
    best = table[~table["baseline"]].sort_values("rank").iloc[0]  # the baseline may rank above it
    assert f"verdict: #{best['rank']} " in capsys.readouterr().out
    lineage = read_state(best["best_checkpoint"])[LINEAGE]
    rows = pd.read_csv(experiment / "confirm.csv", dtype={"trial_id": str})
    assert list(rows["config"]) == [f"#{best['rank']}", "baseline"] and set(rows["status"]) == {"finished"}
    assert rows.loc[0, "schedule"] == describe(lineage) and pd.isna(rows.loc[1, "schedule"])
    scheduled, baseline = (Path(path).parent for path in rows["best_checkpoint"])
    assert hp_per_epoch(scheduled) == [scheduled_params(lineage, epoch)["kl_weight"] for epoch in range(1, 5)]
    assert hp_per_epoch(baseline) == [rows.loc[1, "kl_weight"]] * 4


# replay's verdict: the schedule against each of the other two, each seed's pair of objectives.
SCORE = r"(\d+\.\d{4}|no score)"


def clause(other):
    return (rf"schedule (?:beats {other} on every seed \(2 of 2; |does not beat {other} on every seed: (\d) of 2 \()"
            rf"objective seed (\d+): {SCORE} vs {SCORE}, seed (\d+): {SCORE} vs {SCORE}\)")


REPLAY_VERDICT = re.compile(rf"^verdict: {clause('constant')}; {clause('the baseline')}$", re.MULTILINE)


def test_replay_with_seeds_compares_the_schedule_with_its_last_values_and_the_baseline(pbt_study, tmp_path, capsys):
    from vae_tune.analysis.report import write_report
    from vae_tune.cli import main
    from vae_tune.lineage import params_at

    experiment = pbt_study["experiment_dir"]
    write_report(experiment, out=tmp_path / "report")
    schedule = json.loads((experiment / "schedule.json").read_text())
    epochs, lineage = schedule["best_epoch"], schedule[LINEAGE]
    assert main(["replay", str(experiment), "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    rows = pd.read_csv(experiment / "replay.csv", dtype={"trial_id": str})
    seeds = sorted(set(rows["seed"]))
    assert list(rows["config"]) == ["schedule"] * 2 + ["constant"] * 2 + ["baseline"] * 2
    assert len(seeds) == 2 and set(rows["status"]) == {"finished"}
    assert list(rows["trial_id"][:4]) == [schedule["trial_id"]] * 4
    final = params_at(lineage, epochs)["kl_weight"]
    for _, row in rows.iterrows():  # every run trains the winner's epochs, with the same seeds
        kl_weights = hp_per_epoch(Path(row["best_checkpoint"]).parent)
        expected = {"schedule": [params_at(lineage, epoch)["kl_weight"] for epoch in range(1, epochs + 1)],
                    "constant": [final] * epochs, "baseline": [rows["kl_weight"].iloc[-1]] * epochs}[row["config"]]
        assert kl_weights == expected, row["config"]

    objective = rows.set_index(["config", "seed"])["best_objective"]
    lines = out.splitlines()
    header = lines.index(f"replay: 3 configurations x 2 seeds ({seeds[0]}, {seeds[1]}), {epochs} epochs each")
    assert lines[header + 1].split() == ["seed", "schedule", "objective", "constant", "objective", "baseline", "objective"]
    for line, seed in zip(lines[header + 2:header + 4], seeds):
        assert line.split() == [str(seed), *(f"{objective[(label, seed)]:.4f}" for label in ("schedule", "constant", "baseline"))]
    match = REPLAY_VERDICT.search(out)
    assert match, out
    groups = match.groups()
    for wins, pairs, other in ((groups[0], groups[1:7], "constant"), (groups[7], groups[8:14], "baseline")):
        printed = [(int(pairs[0]), float(pairs[1]), float(pairs[2])), (int(pairs[3]), float(pairs[4]), float(pairs[5]))]
        assert printed == [(seed, pytest.approx(objective[("schedule", seed)], abs=5e-5),
                            pytest.approx(objective[(other, seed)], abs=5e-5)) for seed in seeds]
        won = sum(objective[("schedule", seed)] < objective[(other, seed)] for seed in seeds)
        assert wins == (None if won == 2 else str(won))


def test_replay_of_a_study_that_has_no_schedule_says_which_command_to_run(tmp_path, capsys):
    from vae_tune.cli import main
    from vae_tune.config import to_dict

    for scheduler, message in (("fifo", "is not a PBT study (search.scheduler = 'fifo')"),
                               ("pbt", f"schedule.json does not exist yet: the report writes it; run vae-tune report {tmp_path}")):
        study = load_study("pbt", [f'search.scheduler="{scheduler}"'])
        (tmp_path / "study.json").write_text(json.dumps(to_dict(study)))
        for seeds in ([], ["--seeds", "2"]):
            assert main(["replay", str(tmp_path), *seeds]) == 2
            error = capsys.readouterr().err
            assert error.count("\n") == 1 and message in error, error


def test_a_finished_pbt_study_resumes_with_its_scheduler_and_trains_nothing_again(pbt_study):
    from vae_tune.experiment import reported_results
    from vae_tune.tuning.session import resume_study

    experiment = pbt_study["experiment_dir"]
    before = {path.name: len(reported_results(path)) for path in experiment.glob("trial_*")}
    outcome = resume_study(experiment, trainable=pbt_study["trainable"])  # tuner.pkl holds the PBT scheduler: it must unpickle and run
    assert not outcome.interrupted
    assert {path.name: len(reported_results(path)) for path in experiment.glob("trial_*")} == before


def test_pb2_perturbs_the_population_within_the_searched_ranges(tmp_path, ray_session):
    from pbt_run import assert_lineages_consistent, scored_by_kl_weight, tiny_pbt_study

    from vae_tune.experiment import reported_results
    from vae_tune.names import CHECKPOINT_SHA256, HP_PREFIX
    from vae_tune.tuning.session import run_study

    # PB2 fits its Gaussian process to the donor's reward change between two perturbations on one config, so
    # it chooses new values from epoch 2 here; before that it copies the donor's. Half a CPU each: the 4
    # members train side by side.
    study = tiny_pbt_study(tmp_path / "results", ['search.scheduler="pb2"', "training.epochs=4", "resources.cpus_per_trial=0.5"])
    outcome = run_study(study, trainable=scored_by_kl_weight())
    assert not outcome.interrupted
    experiment = outcome.experiment_dir
    rows = [row for trial in experiment.glob("trial_*") for row in reported_results(trial)]
    by_digest = {row[CHECKPOINT_SHA256]: row for row in rows}
    exploits = [row for row in rows if row.get(EXPLOITED_TRIAL)]
    assert exploits, "no trial was ever perturbed"
    changed = []
    for row in exploits:
        donor = by_digest[row[RESUMED_FROM_SHA256]]
        assert donor["trial_id"] == row[EXPLOITED_TRIAL] and row["epoch"] == donor["epoch"] + 1
        for name in study.pbt.mutate:
            parameter, value = study.search.space[name], row[HP_PREFIX + name]
            # The learning rate is read back from the optimizer, in float32.
            assert parameter.low * (1 - 1e-6) <= value <= parameter.high * (1 + 1e-6), (name, value)
        changed += [name for name in study.pbt.mutate if row[HP_PREFIX + name] != pytest.approx(donor[HP_PREFIX + name], rel=1e-6)]
    assert changed, "PB2 only ever copied its donors' values"
    assert_lineages_consistent(experiment)
