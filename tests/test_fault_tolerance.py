"""Faults injected for real: processes killed with signals, files damaged on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vae_tune.analysis import best_trial, load_results
from vae_tune.config import load_study
from vae_tune.data.dataset import load_dataset
from vae_tune.experiment import reported_results
from vae_tune.names import EPOCH, EXPLOITED_TRIAL, RESUMED_FROM_EPOCH, STARTS_FILE, WEIGHTS_FILE
from vae_tune.training.checkpoint import checkpoint_states
from vae_tune.training.trainer import TrialTrainer
from vae_tune.tuning.resume import restore_latest
from vae_tune.tuning.session import run_study


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p.parent for p in experiment.glob("trial_*/params.json"))


def starts(trial_dir: Path) -> list[dict]:
    path = trial_dir / STARTS_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def assert_each_epoch_trained_once(reported: list[dict], epochs: int) -> None:
    """Every epoch reported; twice only with the same weights (a resumed trial reporting a saved epoch again)."""
    assert sorted({r["epoch"] for r in reported}) == list(range(1, epochs + 1))
    for epoch in range(1, epochs + 1):
        assert len({r["checkpoint_sha256"] for r in reported if r["epoch"] == epoch}) == 1, f"epoch {epoch} trained twice"


def test_a_killed_trial_resumes_from_its_last_checkpoint(tmp_path, ray_session):
    # Epochs of a second or two: result.json reaches the trial folder every few seconds, so the kill,
    # aimed just after epoch 1, can land a few epochs later.
    study = load_study("smoke", [
        f'storage_path="{tmp_path}"', "data.image_size=64", "data.samples=2400", "training.batch_size=16",
        "training.epochs=8", "search.num_samples=1", "search.baseline=false", "probe.images=8", "probe.pairs=2",
        "probe.cross_pairs=2", "probe.interpolation_steps=4",
    ])
    outcome = {}
    driver = threading.Thread(target=lambda: outcome.update(result=run_study(study)))
    driver.start()
    trial_dir = wait_for(lambda: next(iter(trial_dirs(next(tmp_path.glob("smoke_*"), tmp_path))), None), 120, "the trial")
    first = wait_for(lambda: next(iter(reported_results(trial_dir)), None), 120, "epoch 1")
    os.kill(first["pid"], signal.SIGKILL)  # the trial's worker process
    driver.join(timeout=300)
    assert not driver.is_alive()

    reported = reported_results(trial_dir)
    assert_each_epoch_trained_once(reported, 8)
    killed = [r for r in reported if r["pid"] == first["pid"]]
    after = [r for r in reported if r["pid"] != first["pid"]]
    trained_after = [r for r in after if not r.get("reported_again")]
    assert trained_after and len(killed) < 8, "the trial should have been restarted mid-way"
    resumed_from = starts(trial_dir)[1]["resumed_from_epoch"]
    assert [s["resumed_from_epoch"] for s in starts(trial_dir)] == [None, resumed_from]
    # From the newest checkpoint it saved, even one whose result the driver never got or had not yet recorded.
    assert resumed_from >= killed[-1]["epoch"] and trained_after[0]["epoch"] == resumed_from + 1
    # The weights it resumed from are that checkpoint's, bit for bit.
    assert after[0]["resumed_from_epoch"] == resumed_from
    assert after[0]["resumed_from_sha256"] == next(r["checkpoint_sha256"] for r in reported if r["epoch"] == resumed_from)
    table = load_results(outcome["result"].experiment_dir)
    assert table.loc[0, "status"] == "finished" and table.loc[0, "epochs"] == 8 and table.loc[0, "starts"] == 2


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "vae_tune.cli", *args]


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGINT], ids=["driver-killed", "ctrl-c"])
def test_a_stopped_driver_resumes_without_rerunning_finished_trials(tmp_path, stop_signal):
    # Sequential trials of a second or two an epoch, so the stop finds one finished and one mid-way.
    overrides = [f'storage_path="{tmp_path}"', "data.image_size=64", "data.samples=2400", "training.batch_size=16",
                 "training.epochs=8", "search.num_samples=3", "search.max_concurrent_trials=1", "search.baseline=false"]
    arguments = [item for override in overrides for item in ("--set", override)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    driver = subprocess.Popen(cli("run", "smoke", *arguments), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=environment, start_new_session=True)
    experiment = wait_for(lambda: next(tmp_path.glob("smoke_*"), None), 120, "the experiment directory")

    def one_finished_one_running():
        runs = [reported_results(d) for d in trial_dirs(experiment)]
        finished = [r for r in runs if r and r[-1]["epoch"] == 8]
        running = [r for r in runs if r and 1 <= r[-1]["epoch"] <= 3]  # result.json comes in bursts of seconds
        return finished and running

    wait_for(one_finished_one_running, 240, "a finished trial and one past epoch 1")
    time.sleep(2.5)  # let the 2-second experiment snapshot catch up, as it would in a long study
    if stop_signal == signal.SIGKILL:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
    else:
        os.kill(driver.pid, signal.SIGINT)
    output, _ = driver.communicate(timeout=120)
    finished_before = {d.name for d in trial_dirs(experiment) if [r["epoch"] for r in reported_results(d)][-1:] == [8]}
    if stop_signal == signal.SIGINT:
        assert driver.returncode == 130, output
        assert f"vae-tune resume {experiment}" in output

    resumed = subprocess.run(cli("resume", str(experiment)), capture_output=True, text=True, env=environment,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "best trial" in resumed.stdout

    trials = trial_dirs(experiment)
    assert len(trials) == 3  # the searcher's state came back: no trials beyond the budget
    for trial in trials:
        assert_each_epoch_trained_once(reported_results(trial), 8)
        if trial.name in finished_before:
            assert len(starts(trial)) == 1, trial  # finished trials never run again
    interrupted = [t for t in trials if len(starts(t)) > 1 and t.name not in finished_before]
    assert interrupted, "the trial that was running should have been resumed"
    assert all(starts(t)[1]["resumed_from_epoch"] >= 1 for t in interrupted)  # not from scratch
    assert set(load_results(experiment)["status"]) == {"finished"}


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


PBT_EPOCHS = 6


@pytest.mark.slow  # a driver subprocess
def test_a_killed_pbt_study_resumes_after_its_exploits_and_each_trial_loses_at_most_one_epoch(tmp_path, ray_session):
    from pbt_run import assert_lineages_consistent, scored_by_kl_weight

    from vae_tune.analysis.report import write_report
    from vae_tune.analysis.schedule import read_schedule
    from vae_tune.tuning.session import resume_study

    # Half a CPU each: the 4 members fit on 2 cores at once, and fewer of them wait for a turn (a restart).
    overrides = [f"training.epochs={PBT_EPOCHS}", "resources.cpus_per_trial=0.5"]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    driver = subprocess.Popen([sys.executable, str(Path(__file__).with_name("pbt_run.py")), str(tmp_path), *overrides],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
                              start_new_session=True)
    experiment = wait_for(lambda: next(tmp_path.glob("pbt_*"), None), 120, "the experiment directory")

    def exploit_in_flight():
        """A recipient restarted on its donor's checkpoint whose first epoch there is not saved yet."""
        for trial in trial_dirs(experiment):
            exploits = [start for start in starts(trial) if start.get(EXPLOITED_TRIAL)]
            if exploits and checkpoint_states(trial)[0][1][EPOCH] <= exploits[-1][RESUMED_FROM_EPOCH]:
                return trial, exploits[-1]
        return None

    recipient, exploit = wait_for(exploit_in_flight, 600, "a trial restarted on a donor's checkpoint")
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
    output, _ = driver.communicate(timeout=120)
    killed_at = time.time()
    workers = {start["pid"] for trial in trial_dirs(experiment) for start in starts(trial)}
    wait_for(lambda: not any(alive(pid) for pid in workers), 60, "the trial processes to die with the driver")
    # What each trial had saved when it died: its newest checkpoint, by sequence.
    saved = {trial.name: checkpoint_states(trial)[0][1][EPOCH] if checkpoint_states(trial) else 0
             for trial in trial_dirs(experiment)}

    outcome = resume_study(experiment, trainable=scored_by_kl_weight())
    assert not outcome.interrupted

    lost = {}
    for trial in trial_dirs(experiment):
        again = [start for start in starts(trial) if start["time"] > killed_at]
        if again:  # from its own newest checkpoint, or a donor's at least as far on: nothing trained twice
            lost[trial.name] = max(saved[trial.name] - (again[0][RESUMED_FROM_EPOCH] or 0), 0)
        else:
            assert saved[trial.name] == PBT_EPOCHS, trial
        assert checkpoint_states(trial)[0][1][EPOCH] == PBT_EPOCHS
    assert lost and all(epochs <= 1 for epochs in lost.values()), lost
    # The exploit the kill cut short is done again, when Tune's last snapshot had it, or not at all: never half.
    again = next(start for start in starts(recipient) if start["time"] > killed_at)
    assert again[EXPLOITED_TRIAL] in (None, exploit[EXPLOITED_TRIAL]), (again, exploit)
    if again[EXPLOITED_TRIAL]:
        assert again[RESUMED_FROM_EPOCH] == exploit[RESUMED_FROM_EPOCH]
    assert_lineages_consistent(experiment)

    table = load_results(experiment)
    assert set(table["status"]) == {"finished"} and (table["epochs"] == PBT_EPOCHS).all()
    report = write_report(experiment, out=tmp_path / "report")
    schedule = read_schedule(experiment)
    assert schedule["trial_id"] == report.best_searched["trial_id"]
    assert schedule["lineage"][-1]["last_epoch"] == schedule["best_epoch"]
    assert (tmp_path / "report" / "results.csv").is_file()


def test_a_diverging_trial_does_not_poison_the_study(tiny_study, ray_session):
    import dataclasses

    from vae_tune.config import Parameter

    study = dataclasses.replace(tiny_study, search=dataclasses.replace(
        tiny_study.search, num_samples=1, space={"learning_rate": Parameter("grid", values=(1e-3, 10.0))}))
    table = load_results(run_study(study).experiment_dir)
    assert len(table) == 2
    diverged = table[table["learning_rate"] == 10.0].iloc[0]
    assert diverged["status"] == "diverged"
    assert not table["best_objective"].isna().any() and not table["last_objective"].isna().any()
    assert diverged["last_objective"] == 10.0  # the finite worst case it reported
    results = reported_results(Path(diverged["trial_dir"]))
    assert all(np.isfinite(r["objective"]) for r in results)  # the searcher and scheduler never saw NaN
    assert best_trial(table)["learning_rate"] == 1e-3


def saved_epochs(trainer: TrialTrainer, directory: Path, epochs: int, objectives: list[float] | None = None) -> None:
    """Train `epochs` epochs, each checkpointed into checkpoint_NNNNNN as Tune numbers them."""
    for number in range(epochs):
        metrics = trainer.train_epoch()
        if objectives:
            metrics["objective"] = objectives[number]
        trainer.save(directory / f"checkpoint_{number:06d}", metrics)


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tiny_study, tmp_path, warned):
    from ray import tune

    dataset = load_dataset(tiny_study.data)
    saved_epochs(TrialTrainer(tiny_study, {}, dataset), tmp_path, 2)
    newest = tmp_path / "checkpoint_000001" / WEIGHTS_FILE
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a crash mid-write

    resumed_trainer = TrialTrainer(tiny_study, {}, dataset)
    named = tune.Checkpoint.from_directory(tmp_path / "checkpoint_000001")
    with warned(r"cannot resume from .*checkpoint_000001.*damaged") as records:
        resumed = restore_latest(resumed_trainer, named, tmp_path)
    assert any("checkpoint_000000 (epoch 1), not" in record.getMessage() for record in records)
    assert resumed_trainer.epoch == 1 and resumed["resumed_from_epoch"] == 1

    (tmp_path / "checkpoint_000000" / "trial.json").write_text("{not json")
    fresh = TrialTrainer(tiny_study, {}, dataset)
    with warned("no intact checkpoint left; this trial starts again from epoch 0"):
        assert restore_latest(fresh, named, tmp_path) == {"resumed_from_epoch": 0}
    assert fresh.epoch == 0


def test_a_trial_resumes_from_its_newest_checkpoint_even_before_tune_records_it(tiny_study, tmp_path):
    # Tune writes an epoch's result, then asks the trial for its checkpoint: a crash in between leaves
    # Tune naming the one before. A resumed study's Tune names what its last snapshot knew, or nothing.
    from ray import tune

    dataset = load_dataset(tiny_study.data)
    saved_epochs(TrialTrainer(tiny_study, {}, dataset), tmp_path, 3)
    for named in (tune.Checkpoint.from_directory(tmp_path / "checkpoint_000001"), None):
        trainer = TrialTrainer(tiny_study, {}, dataset)
        resumed = restore_latest(trainer, named, tmp_path)
        assert trainer.epoch == 3 and resumed["resumed_from_epoch"] == 3
    # Without the trial's folder (remote storage) Tune's choice stands.
    trainer = TrialTrainer(tiny_study, {}, dataset)
    assert restore_latest(trainer, tune.Checkpoint.from_directory(tmp_path / "checkpoint_000001"))["resumed_from_epoch"] == 2


def test_pruning_keeps_the_newest_two_and_the_best_and_every_folder(tiny_study, tmp_path):
    from vae_tune.analysis.results import best_checkpoint
    from vae_tune.training.checkpoint import PRUNED, newest_checkpoints, prune_checkpoints, read_state

    dataset = load_dataset(tiny_study.data)
    saved_epochs(TrialTrainer(tiny_study, {}, dataset), tmp_path, 5, objectives=[0.9, 0.5, 0.7, 0.8, 0.6])
    pruned = prune_checkpoints(tmp_path, "objective")
    assert sorted(p.name for p in pruned) == ["checkpoint_000000", "checkpoint_000002"]
    for path in pruned:  # the folder Tune may name stays; the weights are gone and it says so
        assert read_state(path)[PRUNED] is True and not (path / WEIGHTS_FILE).exists()
    assert [state["epoch"] for _, state in newest_checkpoints(tmp_path)] == [5, 4, 2]
    assert best_checkpoint(tmp_path) == (tmp_path / "checkpoint_000001", 0.5)
    assert prune_checkpoints(tmp_path, "objective") == []  # nothing more to free


def test_an_epoch_reported_again_counts_once(tmp_path):
    from vae_tune.analysis.results import read_trial_results

    rows = [{"epoch": 1, "objective": 0.9}, {"epoch": 2, "objective": 0.8},
            {"epoch": 2, "objective": 0.8, "reported_again": True}, {"epoch": 3, "objective": 0.7}]
    (tmp_path / "result.json").write_text("".join(json.dumps(row) + "\n" for row in rows))
    table = read_trial_results(tmp_path)
    assert list(table["epoch"]) == [1, 2, 3] and table.loc[1, "reported_again"] is True


@pytest.mark.timeout(300)  # its own 20-s trial timer not firing would otherwise hang on a 10,000-s sleep
def test_a_hung_trial_is_stopped_by_the_trial_timeout(tiny_study, ray_session):
    import dataclasses

    from vae_tune.config import Parameter

    def hangs_when_kl_weight_is_large(config, study, dataset, experiment_dir):
        from vae_tune.tuning.trainable import train_vae

        if config["kl_weight"] > 0.1:
            time.sleep(10_000)  # a deadlock, a stuck data source, a wedged GPU
        train_vae(config, study, dataset, experiment_dir)

    study = dataclasses.replace(
        tiny_study,
        execution=dataclasses.replace(tiny_study.execution, trial_timeout=20.0),
        search=dataclasses.replace(tiny_study.search, num_samples=1,
                                   space={"kl_weight": Parameter("grid", values=(0.05, 0.5))}),
    )
    started = time.monotonic()
    outcome = run_study(study, trainable=hangs_when_kl_weight_is_large)
    assert not outcome.interrupted and time.monotonic() - started < 120
    table = load_results(outcome.experiment_dir).set_index("kl_weight")
    assert table.loc[0.5, "status"] == "timed out"
    assert table.loc[0.05, "status"] == "finished"
    assert best_trial(table.reset_index())["kl_weight"] == 0.05


@pytest.mark.slow  # a subprocess
def test_a_lost_node_moves_the_trial_to_the_other_node(tmp_path):
    script = Path(__file__).with_name("node_loss_script.py")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                          env=environment, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["interrupted"] is False
    assert report["epochs"] == [1, 2, 3, 4, 5]  # finished, no epoch lost twice or skipped
    resumed_at = [i for i, epoch in enumerate(report["resumed_from_epoch"]) if epoch is not None]
    assert len(resumed_at) == 1 and report["resumed_from_epoch"][resumed_at[0]] >= 2  # from its checkpoint
    assert len(set(report["pids"])) == 2  # a new worker process, on the node that was left
