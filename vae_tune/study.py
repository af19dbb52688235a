"""A study config turned into a Ray Tune run: search space, searcher, scheduler, resources, storage."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

from vae_tune.baseline import baseline_plan, write_record
from vae_tune.config import DataConfig, Parameter, StudyConfig, study_from_dict, to_dict
from vae_tune.data.dataset import Dataset, load_dataset
from vae_tune.resources import ClusterError, alive_nodes, await_trial_request, trials_at_once
from vae_tune.storage import is_uri, read_text, write_text
from vae_tune.trial_files import trial_dirname

METRIC, MODE = "objective", "min"
TRIAL_ENVIRONMENT = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}}  # TensorFlow's C++ start-up chatter off
PARETO_METRICS = ["val/blur", "val/roughness"]
STUDY_FILE = "study.json"


def search_space(study: StudyConfig) -> dict[str, Any]:
    from ray import tune

    def domain(parameter: Parameter):
        if parameter.distribution == "choice":
            return tune.choice(list(parameter.values))
        if parameter.distribution == "grid":
            return tune.grid_search(list(parameter.values))
        if parameter.distribution == "loguniform":
            return tune.loguniform(parameter.low, parameter.high)
        return tune.uniform(parameter.low, parameter.high)

    return {name: domain(parameter) for name, parameter in study.search.space.items()}


def initial_points(study: StudyConfig) -> list[dict[str, Any]]:
    """Configurations a study runs before its sampled ones: the baseline trial, when it has one."""
    point = baseline_plan(study).point
    return [point] if point is not None else []


def search_algorithm(study: StudyConfig, points: list[dict[str, Any]] | None = None):
    """The study's searcher; `points` (default: `initial_points`) are run first, exactly as given."""
    seed = study.training.seed
    points = initial_points(study) if points is None else points
    if study.search.algorithm in ("tpe", "nsga2"):
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        sampler_class = optuna.samplers.TPESampler if study.search.algorithm == "tpe" else optuna.samplers.NSGAIISampler
        sampler = sampler_class(seed=seed)
        if study.objective.kind == "pareto":  # both metrics here, none in tune_config()
            return OptunaSearch(metric=PARETO_METRICS, mode=[MODE] * len(PARETO_METRICS), sampler=sampler,
                                points_to_evaluate=points or None)
        return OptunaSearch(metric=METRIC, mode=MODE, sampler=sampler, points_to_evaluate=points or None)
    from ray.tune.search import BasicVariantGenerator

    # Seeded: the same study samples the same trials. The concurrency limit goes here: Tune
    # ignores TuneConfig.max_concurrent_trials when it is handed a generator instance.
    return BasicVariantGenerator(points_to_evaluate=points or None, random_state=seed,
                                 max_concurrent=study.search.max_concurrent_trials)


def scheduler(study: StudyConfig):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if study.search.scheduler == "asha":
        return ASHAScheduler(
            time_attr="epoch",  # our own counter, exact across resumes
            max_t=study.training.epochs,
            grace_period=min(study.search.grace_period, study.training.epochs),
            reduction_factor=study.search.reduction_factor,
        )
    return FIFOScheduler()


def load_study_config(experiment: str | Path) -> StudyConfig:
    """The resolved study an experiment directory (or its URI) was run with."""
    try:
        text = read_text(f"{experiment}/{STUDY_FILE}")
    except FileNotFoundError:
        raise FileNotFoundError(f"{experiment} is not a vae-tune experiment: {STUDY_FILE} is missing") from None
    return study_from_dict(json.loads(text))


def experiment_name(study: StudyConfig) -> str:
    return f"{study.name}_{time.strftime('%Y%m%d-%H%M%S')}"


def storage_root(study: StudyConfig) -> str:
    """Ray needs an absolute path or a URI (s3://, gs://)."""
    if is_uri(study.storage_path):
        return study.storage_path
    return str(Path(study.storage_path).expanduser().resolve())


def tune_config(study: StudyConfig, points: list[dict[str, Any]] | None = None):
    """Tune's settings for `study`: its num_samples sampled trials and its baseline trial, or, given
    `points`, exactly those configurations and nothing else (`vae-tune confirm`)."""
    from ray import tune

    scalar = study.objective.kind == "scalar"
    if points is None:
        points = initial_points(study)
        # Both searchers count a point to evaluate as one of num_samples (Ray 2.60: BasicVariantGenerator's
        # _TrialIterator.__next__ takes one off num_samples_left per point, search/basic_variant.py:154-156;
        # OptunaSearch enqueues the points and its SearchGenerator stops after num_samples suggestions,
        # search/search_generator.py:86 and :139), so the baseline comes on top of the searched trials.
        num_samples = study.search.num_samples + len(points)
    else:
        num_samples = len(points)
    return tune.TuneConfig(
        # A metric here would silently turn a multi-objective searcher single-objective.
        metric=METRIC if scalar else None,
        mode=MODE if scalar else None,
        num_samples=num_samples,
        search_alg=search_algorithm(study, points),
        scheduler=scheduler(study),
        max_concurrent_trials=(study.search.max_concurrent_trials or None) if study.search.algorithm != "random" else None,
        trial_dirname_creator=lambda trial: trial_dirname(trial.trial_id),
    )


def wrap_trainable(
    study: StudyConfig, dataset: Dataset, experiment: str, request: dict[str, float], trainable: Callable | None = None
):
    """The trial function as Tune runs it: time limit, shared data, resources.

    `experiment`: the experiment's path or URI; `request`: one trial's {"cpu": c, "gpu": g},
    from `trial_request` ("node" resolved).
    """
    from ray import tune

    from vae_tune.trainable import train_vae, with_trial_timeout

    guarded = with_trial_timeout(trainable or train_vae, study.execution.trial_timeout)
    return tune.with_resources(
        # with_parameters puts the images in the object store once; every trial reads them zero-copy.
        tune.with_parameters(guarded, study=study, dataset=dataset, experiment_dir=experiment),
        request,
    )


def build_tuner(
    study: StudyConfig,
    dataset: Dataset,
    name: str,
    request: dict[str, float],
    callbacks=(),
    trainable: Callable | None = None,
    points: list[dict[str, Any]] | None = None,
):
    """A Tuner for `study`; `trainable` replaces train_vae (tests inject faults through it); `points`:
    run exactly these configurations instead of the study's search (see `tune_config`)."""
    from ray import tune

    run_config = tune.RunConfig(
        name=name,
        storage_path=storage_root(study),
        callbacks=list(callbacks),
        verbose=0,  # ProgressPrinter prints one line per event instead of Ray's tables
        checkpoint_config=checkpoint_config(study),
        # A crashed trial restarts from its last checkpoint: weights, optimizer and epoch.
        failure_config=tune.FailureConfig(max_failures=study.execution.max_failures),
    )
    return tune.Tuner(
        wrap_trainable(study, dataset, f"{storage_root(study)}/{name}", request, trainable),
        param_space=search_space(study),
        tune_config=tune_config(study, points),
        run_config=run_config,
    )


def checkpoint_config(study: StudyConfig):
    """Tune deletes no checkpoint folder on local or shared storage: the trials prune their own.

    Tune deletes a pruned checkpoint's folder at once but names checkpoints in
    an experiment snapshot written every few seconds, so a study resumed after
    its driver died can ask for a folder that is gone, and the trial fails
    (ray-project/ray#27790). On storage named by a URI (s3://, gs://) Tune
    keeps the best two, as trials do not see that storage as files.
    """
    from ray import tune

    if not is_uri(storage_root(study)):
        return tune.CheckpointConfig(num_to_keep=None)
    return tune.CheckpointConfig(num_to_keep=2, checkpoint_score_attribute=METRIC, checkpoint_score_order=MODE)


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
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        start_local_ray(log_to_driver=verbose)
        return
    _check_reachable(address)
    try:
        ray.init(address=address, runtime_env=TRIAL_ENVIRONMENT, log_to_driver=verbose)
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
    import ray

    os.environ.setdefault("RAY_worker_niceness", "0")  # read by the raylet this starts
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=TRIAL_ENVIRONMENT,
             log_to_driver=log_to_driver)


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
    import ray

    request, nodes = await_trial_request(study, lambda: alive_nodes(ray.nodes()))
    cpus, gpus = sum(node.cpus for node in nodes), sum(node.gpus for node in nodes)
    print(f"vae-tune: Ray has {len(nodes)} node{'s' * (len(nodes) != 1)} ({cpus:g} CPU, {gpus:g} GPU); each trial takes "
          f"{request['cpu']:g} CPU and {request['gpu']:g} GPU on one node, {trials_at_once(request, nodes)} at a time",
          flush=True)
    return request


@dataclasses.dataclass
class StudyOutcome:
    experiment: str  # a path, or a URI (s3://, gs://) when storage_path is one
    results: Any  # ray.tune.ResultGrid
    interrupted: bool  # stopped by Ctrl-C / SIGTERM before every trial ended

    @property
    def experiment_dir(self) -> Path:
        if is_uri(self.experiment):
            raise ValueError(f"{self.experiment} is on cloud storage; vae_tune.storage.fetch_experiment copies it here")
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
    # most about the epoch each running trial was in.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")


def _fit(tuner, total_trials: int, experiment: str) -> StudyOutcome:
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
    interrupted = len(results) < total_trials or ended < len(results) or _unfinished_in_snapshot(experiment)
    return StudyOutcome(experiment, results, interrupted=interrupted)


def _unfinished_in_snapshot(experiment: str) -> bool:
    """Whether Tune's last experiment snapshot still has trials running or pending.

    A stopped fit() snapshots the experiment, then marks its running trials
    TERMINATED in memory (ray/tune/tune.py, run(): runner.checkpoint, then
    runner.cleanup), so the ResultGrid of a study stopped while its last
    trials ran looks finished; the snapshot does not. Local experiments only.
    """
    if is_uri(experiment):
        return False
    from vae_tune.analysis.results import tune_statuses

    return any(status in ("RUNNING", "PENDING", "PAUSED") for status in tune_statuses(Path(experiment)).values())


def expected_trials(study: StudyConfig) -> int:
    """Trials the study runs: num_samples (times every grid), plus the baseline trial.

    The baseline's point names every searched hyperparameter, grids included, so it is one trial.
    """
    grid = 1
    for parameter in study.search.space.values():
        if parameter.distribution == "grid":
            grid *= len(parameter.values)
    return study.search.num_samples * grid + len(initial_points(study))


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
    from vae_tune.progress import BaselineRecorder, ProgressPrinter

    _quiet_and_safe_defaults()
    dataset = dataset if dataset is not None else _load_data(study)
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
            print(f"vae-tune: warning: {note}", flush=True)
        if plan.point is not None:
            # Before any trial exists, so a results table read at any moment knows the baseline's params.
            write_record(experiment, plan.point)
            recorder = [BaselineRecorder(experiment, plan.point)]
            labels.append((plan.point, "baseline"))
    total = expected_trials(study) if points is None else len(points)
    printer = ProgressPrinter(total, study.training.epochs, labels=labels)
    tuner = build_tuner(study, dataset, name, request, callbacks=[printer, *recorder, *callbacks], trainable=trainable,
                        points=points)
    print(f"vae-tune: running {total} trials into {experiment}", flush=True)
    return _fit(tuner, total, experiment)


def resume_study(
    experiment_dir: str | Path,
    address: str | None = None,
    retry_errored: bool | None = None,
    verbose: bool = False,
    trainable: Callable | None = None,
) -> StudyOutcome:
    """Continue an interrupted study: finished trials are kept, unfinished ones resume from
    their checkpoints, errored ones are retried (by default; `execution.retry_errored_on_resume`)."""
    from ray import tune

    _quiet_and_safe_defaults()
    experiment = str(experiment_dir) if is_uri(str(experiment_dir)) else str(Path(experiment_dir).expanduser().resolve())
    study = load_study_config(experiment)
    if not tune.Tuner.can_restore(experiment):
        raise FileNotFoundError(f"{experiment} has no Ray Tune experiment state to resume from")
    dataset = _load_data(study)
    ensure_ray(address, verbose=verbose)
    request = check_cluster(study)  # "node" resolved against the cluster it resumes on
    retry = study.execution.retry_errored_on_resume if retry_errored is None else retry_errored
    tuner = tune.Tuner.restore(
        experiment, trainable=wrap_trainable(study, dataset, experiment, request, trainable), resume_errored=retry
    )
    print(f"vae-tune: resuming {experiment}", flush=True)
    return _fit(tuner, expected_trials(study), experiment)


def image_count(data: DataConfig) -> str:
    """The study's images as a person reads them: `samples` is how many the synthetic catalogue
    generates, but only a cap on a folder or Kaggle dataset, which may hold fewer."""
    return f"{data.samples} images" if data.source == "synthetic" else f"up to {data.samples} images"


def _load_data(study: StudyConfig) -> Dataset:
    started = time.monotonic()
    print(f"vae-tune: preparing data ({study.data.source}, {image_count(study.data)} at {study.data.image_size}px)",
          flush=True)
    dataset = load_dataset(study.data)
    print(f"vae-tune: {len(dataset)} images ready in {time.monotonic() - started:.1f}s; starting Ray", flush=True)
    return dataset
