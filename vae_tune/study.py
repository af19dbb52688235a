"""A study config turned into a Ray Tune run: search space, searcher, scheduler, resources, storage."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from vae_tune.config import Parameter, StudyConfig, to_dict
from vae_tune.data.dataset import Dataset, load_dataset
from vae_tune.resources import ClusterError, Node, alive_nodes, await_trial_request, trials_at_once
from vae_tune.storage import is_uri, write_text

METRIC, MODE = "objective", "min"
STUDY_FILE = "study.json"


def search_space(study: StudyConfig) -> dict[str, Any]:
    from ray import tune

    def domain(parameter: Parameter):
        if parameter.distribution == "choice":
            return tune.choice(list(parameter.values))
        if parameter.distribution == "loguniform":
            return tune.loguniform(parameter.low, parameter.high)
        return tune.uniform(parameter.low, parameter.high)

    return {name: domain(parameter) for name, parameter in study.search.space.items()}


def _search_algorithm(study: StudyConfig):
    seed = study.training.seed
    if study.search.algorithm == "tpe":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(metric=METRIC, mode=MODE, seed=seed)
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(random_state=seed)  # seeded: the same study samples the same trials


def _scheduler(study: StudyConfig):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if study.search.scheduler == "asha":
        return ASHAScheduler(
            time_attr="epoch",  # our own counter, exact across resumes
            max_t=study.training.epochs,
            grace_period=min(study.search.grace_period, study.training.epochs),
            reduction_factor=study.search.reduction_factor,
        )
    return FIFOScheduler()


def experiment_name(study: StudyConfig) -> str:
    return f"{study.name}_{time.strftime('%Y%m%d-%H%M%S')}"


def storage_root(study: StudyConfig) -> str:
    """Ray needs an absolute path or a URI (s3://, gs://)."""
    if is_uri(study.storage_path):
        return study.storage_path
    return str(Path(study.storage_path).expanduser().resolve())


def build_tuner(study: StudyConfig, dataset: Dataset, name: str, request: dict[str, float], callbacks=()):
    """`request`: one trial's {"cpu": c, "gpu": g}, from `trial_request` ("node" resolved)."""
    from ray import tune

    from vae_tune.trainable import train_vae

    trainable = tune.with_resources(
        # with_parameters puts the images in the object store once; every trial reads them zero-copy.
        tune.with_parameters(train_vae, study=study, dataset=dataset),
        request,
    )
    tune_config = tune.TuneConfig(
        metric=METRIC,
        mode=MODE,
        num_samples=study.search.num_samples,
        search_alg=_search_algorithm(study),
        scheduler=_scheduler(study),
        max_concurrent_trials=study.search.max_concurrent_trials or None,
        trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
    )
    run_config = tune.RunConfig(
        name=name,
        storage_path=storage_root(study),
        callbacks=list(callbacks),
        verbose=0,  # ProgressPrinter prints one line per event instead of Ray's tables
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=2, checkpoint_score_attribute=METRIC, checkpoint_score_order=MODE
        ),
    )
    return tune.Tuner(trainable, param_space=search_space(study), tune_config=tune_config, run_config=run_config)


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
    runtime_env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}}
    options = dict(runtime_env=runtime_env, log_to_driver=verbose)
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        ray.init(address="local", include_dashboard=False, **options)
        return
    _check_reachable(address)
    try:
        ray.init(address=address, **options)
    except ConnectionError as error:
        raise ClusterError(f"Ray cluster at {address!r}: {error}") from None


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


def describe_cluster(request: dict[str, float], nodes: list[Node]) -> str:
    cpus, gpus = sum(node.cpus for node in nodes), sum(node.gpus for node in nodes)
    return (f"vae-tune: Ray has {len(nodes)} node{'s' * (len(nodes) != 1)} ({cpus:g} CPU, {gpus:g} GPU); each trial takes "
            f"{request['cpu']:g} CPU and {request['gpu']:g} GPU on one node, {trials_at_once(request, nodes)} at a time")


@dataclasses.dataclass
class StudyOutcome:
    experiment: str  # a path, or a URI (s3://, gs://) when storage_path is one
    results: Any  # ray.tune.ResultGrid

    @property
    def experiment_dir(self) -> Path:
        if is_uri(self.experiment):
            raise ValueError(f"{self.experiment} is on cloud storage; vae_tune.storage.fetch_experiment copies it here")
        return Path(self.experiment)


def run_study(
    study: StudyConfig,
    address: str | None = None,
    dataset: Dataset | None = None,
    verbose: bool = False,
    callbacks=(),
) -> StudyOutcome:
    """Run a study to the end and return where it is. The caller reports on it.

    `callbacks`: further `tune.Callback`s, beside the one that prints progress.
    """
    from vae_tune.progress import ProgressPrinter

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Ray's newer console output prints a configuration table even at verbose=0; the
    # legacy reporter at verbose=0 is silent and leaves the console to ProgressPrinter.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Keeping 2 checkpoints forces a state snapshot per epoch on short trials; that is intended.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    import ray

    started = time.monotonic()
    print(f"vae-tune: preparing data ({study.data.source}, {study.data.samples} images at {study.data.image_size}px)", flush=True)
    dataset = dataset if dataset is not None else load_dataset(study.data)
    print(f"vae-tune: {len(dataset)} images ready in {time.monotonic() - started:.1f}s; starting Ray", flush=True)
    ensure_ray(address, verbose=verbose)
    # Before any trial: Ray would leave a trial no node can hold pending forever.
    request, nodes = await_trial_request(study, lambda: alive_nodes(ray.nodes()))
    print(describe_cluster(request, nodes), flush=True)
    name = experiment_name(study)
    experiment = f"{storage_root(study)}/{name}"
    # The resolved study travels with its results: report and resume need nothing else.
    write_text(f"{experiment}/{STUDY_FILE}", json.dumps(to_dict(study), indent=2))
    printer = ProgressPrinter(study.search.num_samples, study.training.epochs)
    tuner = build_tuner(study, dataset, name, request, callbacks=[printer, *callbacks])
    print(f"vae-tune: running {study.search.num_samples} trials into {experiment}", flush=True)
    results = tuner.fit()
    return StudyOutcome(experiment, results)
