"""The Ray Tune function trainable around TrialTrainer: resume, train, report and checkpoint, time limit."""

from __future__ import annotations

import functools
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import tune

from vae_tune.config import POPULATION_SCHEDULERS, StudyConfig, perturbation_epoch
from vae_tune.data.dataset import Dataset
from vae_tune.experiment import trial_dirname
from vae_tune.lineage import decode_schedule
from vae_tune.log import logger, show_on_console
from vae_tune.names import (
    CHECKPOINT_SHA256,
    DIVERGED,
    EPOCH,
    EXPLOITED_TRIAL,
    METRIC,
    NODE_ID,
    RESUMED_FROM_EPOCH,
    SCHEDULE,
    SETUP_SECONDS,
    STARTS_FILE,
    TIMED_OUT,
    TIMEOUT_FILE,
    WORST_SCORES,
)
from vae_tune.storage import append_line, exists, is_uri, write_text
from vae_tune.training.checkpoint import prune_checkpoints, read_state
from vae_tune.training.distribute import configure_threads
from vae_tune.training.trainer import TrialTrainer
from vae_tune.tuning.resume import report_unlogged_epochs, restore_latest


def trial_location(experiment_dir: str) -> str:
    """This trial's folder in the experiment directory, a path or a storage URI: where its own files
    (starts.log, timed_out.json) go, for the report to read and for a retry on any node to find.

    Written there directly (vae_tune.storage), not into Tune's per-trial working
    directory: Tune uploads that only with SyncConfig(sync_artifacts=True), after
    a checkpoint or at the trial's end, and a resumed study or a retry on another
    node starts it empty (Ray 2.60, train/_internal/storage.py, persist_artifacts).
    """
    return f"{experiment_dir}/{trial_dirname(tune.get_context().get_trial_id())}"


def record_start(trial: str, resumed: dict[str, Any], setup_seconds: float) -> None:
    """One line per start of this trial in starts.log: how often it ran, from where (the donor's trial
    after a PBT exploit), and how long the start took (threads, data split, probe, model build, restore).
    `trial`: its path or URI."""
    line = {"pid": os.getpid(), "time": time.time(), RESUMED_FROM_EPOCH: resumed.get(RESUMED_FROM_EPOCH),
            EXPLOITED_TRIAL: resumed.get(EXPLOITED_TRIAL), SETUP_SECONDS: setup_seconds}
    append_line(f"{trial}/{STARTS_FILE}", json.dumps(line))


def train_vae(config: dict[str, Any], study: StudyConfig, dataset: Dataset, experiment_dir: str) -> None:
    """Ray Tune function trainable: one call trains one trial to its last epoch (or until stopped).

    A config's `schedule` entry (a `vae-tune confirm` run of a PBT study's trial) is followed epoch by epoch.
    """
    started = time.perf_counter()
    show_on_console()  # the trial's own log lines; `--verbose` forwards them to the driver's console
    configure_threads(study.resources.cpus_per_trial)
    params = {name: value for name, value in config.items() if name != SCHEDULE}
    trainer = TrialTrainer(study, params, dataset, gpu_ids=ray.get_gpu_ids(), trial_id=tune.get_context().get_trial_id(),
                           schedule=decode_schedule(config.get(SCHEDULE, "")))
    logger.info(f"trial trains on {trainer.devices.describe()}")
    node = {NODE_ID: ray.get_runtime_context().get_node_id()}
    trial = trial_location(experiment_dir)
    # On local or shared storage the checkpoints sit in the trial's folder, and the trial picks and prunes
    # them itself (vae_tune.tuning.resume); on s3:// or gs:// Tune does (tuner.checkpoint_config).
    own_checkpoints = not is_uri(experiment_dir)
    trial_dir = Path(trial)
    named = tune.get_checkpoint()
    resumed = restore_latest(trainer, named, trial_dir if own_checkpoints else None)
    record_start(trial, resumed, setup_seconds=time.perf_counter() - started)
    if own_checkpoints and trainer.epoch and EXPLOITED_TRIAL not in resumed:
        resumed = report_unlogged_epochs(trial_dir, trainer.epoch, resumed, tune_named_checkpoint=named is not None,
                                         lineage=trainer.lineage)
    # A PBT donor is copied from its checkpoint at a perturbation epoch, maybe after this trial trained on.
    keep_epoch = functools.partial(perturbation_epoch, study.pbt) if study.search.scheduler in POPULATION_SCHEDULERS else None
    if trainer.last_metrics.get(DIVERGED):
        return
    while trainer.epoch < trainer.training.epochs:
        metrics = {**trainer.train_epoch(), **node, **resumed}
        resumed = {}
        with tempfile.TemporaryDirectory() as directory:
            saved = trainer.save(directory, metrics)
            # In the epoch's results for good: most checkpoints' weights are pruned.
            metrics[CHECKPOINT_SHA256] = saved["weights"]["sha256"]
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        if own_checkpoints:
            prune_checkpoints(trial_dir, METRIC, keep_epoch=keep_epoch)
        if metrics[DIVERGED]:
            return


def with_trial_timeout(trainable: Callable, seconds: float) -> Callable:
    """Stop any attempt of a trial that runs longer than `seconds`, and record it as timed out.

    A hung trial reports nothing, so nothing on Tune's side can stop it: a timer
    in the trial process writes timed_out.json into the trial directory and kills
    the process. Tune then sees a crashed trial and retries it; the retry finds
    the marker and ends the trial at once with worst-case scores, so the study
    goes on and the trial never holds its GPU again.
    """
    if seconds <= 0:
        return trainable

    @functools.wraps(trainable)
    def guarded(config: dict[str, Any], **parameters) -> None:
        marker = f"{trial_location(parameters['experiment_dir'])}/{TIMEOUT_FILE}"
        if exists(marker):
            checkpoint = tune.get_checkpoint()
            epoch = read_state(checkpoint.path)[EPOCH] if checkpoint is not None else 0
            tune.report({**WORST_SCORES, EPOCH: epoch, DIVERGED: False, TIMED_OUT: True})
            return
        timer = threading.Timer(seconds, _time_out, args=(marker, seconds))
        timer.daemon = True
        timer.start()
        try:
            trainable(config, **parameters)
        finally:
            timer.cancel()

    return guarded


def _time_out(marker: str, seconds: float) -> None:
    write_text(marker, json.dumps({"trial_timeout": seconds, "time": time.time(), "pid": os.getpid()}))
    os.kill(os.getpid(), signal.SIGKILL)  # the only stop a hung thread cannot ignore


def wrap_trainable(
    study: StudyConfig, dataset: Dataset, experiment: str, request: dict[str, float], trainable: Callable | None = None
):
    """The trial function as Tune runs it: time limit, shared data, resources.

    `experiment`: the experiment's path or URI; `request`: one trial's {"cpu": c, "gpu": g},
    from `trial_request` ("node" resolved); `trainable` replaces train_vae (tests inject faults through it).
    """
    guarded = with_trial_timeout(trainable or train_vae, study.execution.trial_timeout)
    return tune.with_resources(
        # with_parameters puts the images in the object store once; every trial reads them zero-copy.
        tune.with_parameters(guarded, study=study, dataset=dataset, experiment_dir=experiment),
        request,
    )
