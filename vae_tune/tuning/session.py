"""Running a study: Ray started or joined, the cluster checked, the Tuner fitted with a clean stop on
SIGTERM, and what the console shows meanwhile. `run_study` and `resume_study` are the entry points."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import tune

from vae_tune.baseline import baseline_plan, write_record
from vae_tune.config import StudyConfig, check_installed, image_count, to_dict
from vae_tune.data.dataset import Dataset, fit_study_to_dataset, load_dataset
from vae_tune.experiment import experiment_name, load_study_config, storage_root
from vae_tune.log import logger, show_on_console
from vae_tune.names import STUDY_FILE
from vae_tune.storage import is_uri, write_text
from vae_tune.tuning.progress import BaselineRecorder, ProgressPrinter
from vae_tune.tuning.resources import ClusterError, alive_nodes, await_trial_request, trials_at_once
from vae_tune.tuning.resume import unfinished_in_snapshot
from vae_tune.tuning.tuner import build_tuner, expected_trials, restore_tuner


def trial_environment(quiet: bool) -> dict[str, Any]:
    """Ray's runtime_env for the trial processes: TensorFlow's C++ INFO and WARNING lines off and, when `quiet`,
    its harmless start-up lines dropped from each process's stderr (vae_tune.training.quiet)."""
    environment: dict[str, Any] = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}}
    if quiet:
        environment["worker_process_setup_hook"] = "vae_tune.training.quiet.filter_trial_stderr"
    return environment


def ensure_ray(address: str | None = None, verbose: bool = False) -> None:
    """Connect to the cluster at `address` (or $RAY_ADDRESS), else start a local Ray sized to this machine.

    A cluster that cannot be reached is a ClusterError, never a quiet local run
    in its place. Without an address a new local Ray starts even when a cluster
    runs on this machine (Ray itself would join that one).

    Trial processes' own output (TensorFlow's start-up logging, Ray's checkpoint
    notices) goes to Ray's log files unless `verbose`: the ProgressPrinter's
    lines are what a person follows, and a failed trial's traceback is in its
    error.txt either way.
    """
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        start_local_ray(log_to_driver=verbose)
        return
    _check_reachable(address)
    try:
        ray.init(address=address, runtime_env=trial_environment(quiet=not verbose), log_to_driver=verbose)
    except ConnectionError as error:
        hint = ""
        if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":  # Ray 2.60 sends no token unless asked
            hint = "; if it uses token authentication, set RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
        raise ClusterError(f"Ray cluster at {address!r}: {error}{hint}") from None


def start_local_ray(num_cpus: int | None = None, log_to_driver: bool = False) -> None:
    """A Ray of this machine alone (all its cores unless `num_cpus`), its trials at normal priority.

    Ray starts worker processes at nice 15, so any busy process of normal
    priority (another user's job, a test suite, a build) starves the trials:
    a trial's first epoch took 294 s instead of 4 s next to three busy loops on
    2 cores. Trials are the study's work; they compete as equals.
    """
    os.environ.setdefault("RAY_worker_niceness", "0")  # read by the raylet this starts
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
             runtime_env=trial_environment(quiet=not log_to_driver), log_to_driver=log_to_driver)


def _check_reachable(address: str) -> None:
    """Fail in seconds on a host:port nobody listens on; Ray retries one for minutes."""
    host, _, port = address.rpartition(":")
    if address == "auto" or is_uri(address) or not port.isdigit():
        return  # "auto" Ray resolves (and refuses) itself; ray:// is Ray Client
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as error:
        raise ClusterError(
            f"Ray cluster at {address!r}: nothing answers there ({error.strerror or error}); is its head running (ray status)?"
        ) from None


def check_cluster(study: StudyConfig) -> dict[str, float]:
    """One trial's resources, checked against the nodes before any trial starts.

    Ray would leave a trial that no node can hold pending forever.
    """
    request, nodes = await_trial_request(study, lambda: alive_nodes(ray.nodes()))
    cpus, gpus = sum(node.cpus for node in nodes), sum(node.gpus for node in nodes)
    logger.info(f"Ray has {len(nodes)} node{'s' * (len(nodes) != 1)} ({cpus:g} CPU, {gpus:g} GPU); each trial takes "
                f"{request['cpu']:g} CPU and {request['gpu']:g} GPU on one node, {trials_at_once(request, nodes)} at a time")
    return request


@dataclasses.dataclass
class StudyOutcome:
    experiment: str  # a path, or a URI (s3://, gs://) when storage_path is one
    results: Any  # ray.tune.ResultGrid
    interrupted: bool  # stopped by Ctrl-C / SIGTERM before every trial ended

    @property
    def experiment_dir(self) -> Path:
        if is_uri(self.experiment):
            raise ValueError(f"{self.experiment} is on cloud storage; vae_tune.storage.mirror_experiment copies it here")
        return Path(self.experiment)

    @property
    def resume_command(self) -> str:
        return f"vae-tune resume {self.experiment}"


def _quiet_and_safe_defaults() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Ray's newer console output prints a configuration table even at verbose=0; the
    # legacy reporter at verbose=0 is silent and leaves the console to ProgressPrinter.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Keeping 2 checkpoints forces a state snapshot per epoch on short trials; that is intended.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Snapshot the experiment every 2 s (default ~10 s): a killed driver then loses at
    # most about the epoch each running trial was in (vae_tune.tuning.resume).
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
    show_on_console()


def _fit(tuner: tune.Tuner, total_trials: int, experiment: str) -> StudyOutcome:
    """tuner.fit() with SIGTERM treated like Ctrl-C: Tune stops cleanly and saves its state."""
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        # Tune listens for SIGINT and SIGUSR1 while it runs; forward SIGTERM (a scheduler's
        # kill, `timeout`, a cluster shutting down) to the same clean stop.
        signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(os.getpid(), signal.SIGUSR1))
    try:
        results = tuner.fit()
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    ended = results.num_terminated + results.num_errors
    interrupted = len(results) < total_trials or ended < len(results) or unfinished_in_snapshot(experiment)
    return StudyOutcome(experiment, results, interrupted=interrupted)


def _prepare_data(study: StudyConfig, dataset: Dataset | None = None) -> tuple[StudyConfig, Dataset]:
    """The study's images (loaded here unless given) and the study fitted to them: too few stops here, before Ray."""
    if dataset is not None:
        return fit_study_to_dataset(study, dataset), dataset
    started = time.monotonic()
    logger.info(f"preparing data ({study.data.source}, {image_count(study.data)} at {study.data.image_size}px)")
    dataset = load_dataset(study.data)
    study = fit_study_to_dataset(study, dataset)
    logger.info(f"{len(dataset)} images ready in {time.monotonic() - started:.1f}s; starting Ray")
    return study, dataset


def run_study(
    study: StudyConfig,
    address: str | None = None,
    dataset: Dataset | None = None,
    verbose: bool = False,
    trainable: Callable | None = None,
    callbacks=(),
    points: list[dict[str, Any]] | None = None,
    labels: list[tuple[dict[str, Any], str]] = (),
) -> StudyOutcome:
    """Run a study until every trial ended or it is interrupted. The caller reports on it.

    `callbacks`: further `tune.Callback`s, beside the one that prints progress.
    `points`: run exactly these configurations instead of the study's search
    and baseline (`vae-tune confirm`); `labels`: (params, label) pairs that
    progress lines name trials by.
    """
    check_installed(study)
    _quiet_and_safe_defaults()
    study, dataset = _prepare_data(study, dataset)
    ensure_ray(address, verbose=verbose)
    request = check_cluster(study)
    name = experiment_name(study)
    experiment = f"{storage_root(study)}/{name}"
    # The resolved study travels with its results: report and resume need nothing else.
    write_text(f"{experiment}/{STUDY_FILE}", json.dumps(to_dict(study), indent=2))
    labels, recorder = list(labels), []
    if points is None:
        plan = baseline_plan(study)
        for note in plan.notes:
            logger.warning(note)
        if plan.point is not None:
            # Before any trial exists, so a results table read at any moment knows the baseline's params.
            write_record(experiment, plan.point)
            recorder = [BaselineRecorder(experiment, plan.point)]
            labels.append((plan.point, "baseline"))
    total = expected_trials(study) if points is None else len(points)
    printer = ProgressPrinter(total, study.training.epochs, labels=labels, stops_early=study.search.scheduler == "asha")
    tuner = build_tuner(study, dataset, name, request, callbacks=[printer, *recorder, *callbacks], trainable=trainable,
                        points=points)
    logger.info(f"running {total} trials into {experiment}")
    return _fit(tuner, total, experiment)


def resume_study(
    experiment_dir: str | Path,
    address: str | None = None,
    retry_errored: bool | None = None,
    verbose: bool = False,
    trainable: Callable | None = None,
) -> StudyOutcome:
    """Continue an interrupted study: finished trials are kept, unfinished ones resume from
    their checkpoints (vae_tune.tuning.resume), errored ones are retried (by default;
    `execution.retry_errored_on_resume`)."""
    _quiet_and_safe_defaults()
    experiment = str(experiment_dir) if is_uri(str(experiment_dir)) else str(Path(experiment_dir).expanduser().resolve())
    study = load_study_config(experiment)
    check_installed(study)
    if not tune.Tuner.can_restore(experiment):
        raise FileNotFoundError(f"{experiment} has no Ray Tune experiment state to resume from")
    study, dataset = _prepare_data(study)
    ensure_ray(address, verbose=verbose)
    request = check_cluster(study)  # "node" resolved against the cluster it resumes on
    retry = study.execution.retry_errored_on_resume if retry_errored is None else retry_errored
    tuner = restore_tuner(study, dataset, experiment, request, retry, trainable)
    logger.info(f"resuming {experiment}")
    return _fit(tuner, expected_trials(study), experiment)
