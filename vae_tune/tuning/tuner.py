"""A study config turned into a Ray Tune Tuner: search space, searcher, scheduler, checkpoints, resources."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch

from vae_tune.baseline import baseline_plan
from vae_tune.config import Parameter, StudyConfig
from vae_tune.data.dataset import Dataset
from vae_tune.experiment import storage_root, trial_dirname
from vae_tune.names import EPOCH, METRIC, MODE, PARETO_METRICS
from vae_tune.storage import is_uri
from vae_tune.tuning.trainable import wrap_trainable


def search_space(study: StudyConfig) -> dict[str, Any]:
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


def _not_a_preset_value_warning(record: logging.LogRecord) -> bool:
    """Drop Ray's "Pre-set value ... is not within valid values" for the baseline point.

    The point may lie outside the searched ranges on purpose (chroma_weight), and
    the driver says what matters about it in the study's own words (vae_tune.baseline).
    """
    return not record.getMessage().startswith("Pre-set value")


def search_algorithm(study: StudyConfig, points: list[dict[str, Any]] | None = None):
    """The study's searcher; `points` (default: `initial_points`) are run first, exactly as given."""
    seed = study.training.seed
    points = initial_points(study) if points is None else points
    if study.search.algorithm in ("tpe", "nsga2"):
        sampler_class = optuna.samplers.TPESampler if study.search.algorithm == "tpe" else optuna.samplers.NSGAIISampler
        sampler = sampler_class(seed=seed)
        if study.objective.kind == "pareto":  # both metrics here, none in tune_config()
            return OptunaSearch(metric=PARETO_METRICS, mode=[MODE] * len(PARETO_METRICS), sampler=sampler,
                                points_to_evaluate=points or None)
        return OptunaSearch(metric=METRIC, mode=MODE, sampler=sampler, points_to_evaluate=points or None)
    logging.getLogger("ray.tune.search.variant_generator").addFilter(_not_a_preset_value_warning)  # once: same object
    # Seeded: the same study samples the same trials. The concurrency limit goes here: Tune
    # ignores TuneConfig.max_concurrent_trials when it is handed a generator instance.
    return BasicVariantGenerator(points_to_evaluate=points or None, random_state=seed,
                                 max_concurrent=study.search.max_concurrent_trials)


def scheduler(study: StudyConfig):
    if study.search.scheduler == "asha":
        return ASHAScheduler(
            time_attr=EPOCH,  # our own counter, exact across resumes
            max_t=study.training.epochs,
            grace_period=min(study.search.grace_period, study.training.epochs),
            reduction_factor=study.search.reduction_factor,
        )
    return FIFOScheduler()


def expected_trials(study: StudyConfig) -> int:
    """Trials the study runs: num_samples (times every grid), plus the baseline trial.

    The baseline's point names every searched hyperparameter, grids included, so it is one trial.
    """
    grid = 1
    for parameter in study.search.space.values():
        if parameter.distribution == "grid":
            grid *= len(parameter.values)
    return study.search.num_samples * grid + len(initial_points(study))


def tune_config(study: StudyConfig, points: list[dict[str, Any]] | None = None) -> tune.TuneConfig:
    """Tune's settings for `study`: its num_samples sampled trials and its baseline trial, or, given
    `points`, exactly those configurations and nothing else (`vae-tune confirm`)."""
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


def checkpoint_config(study: StudyConfig) -> tune.CheckpointConfig:
    """Tune deletes no checkpoint folder on local or shared storage: the trials prune their own
    (why: vae_tune.tuning.resume). On storage named by a URI (s3://, gs://) Tune keeps the best two,
    as trials do not see that storage as files."""
    if not is_uri(storage_root(study)):
        return tune.CheckpointConfig(num_to_keep=None)
    return tune.CheckpointConfig(num_to_keep=2, checkpoint_score_attribute=METRIC, checkpoint_score_order=MODE)


def build_tuner(
    study: StudyConfig,
    dataset: Dataset,
    name: str,
    request: dict[str, float],
    callbacks=(),
    trainable: Callable | None = None,
    points: list[dict[str, Any]] | None = None,
) -> tune.Tuner:
    """A Tuner for `study`; `trainable` replaces train_vae (tests inject faults through it); `points`:
    run exactly these configurations instead of the study's search (see `tune_config`)."""
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


def restore_tuner(study: StudyConfig, dataset: Dataset, experiment: str, request: dict[str, float], retry_errored: bool,
                  trainable: Callable | None = None) -> tune.Tuner:
    """The Tuner of an interrupted experiment: finished trials kept, the others resumed (vae_tune.tuning.resume)."""
    return tune.Tuner.restore(experiment, trainable=wrap_trainable(study, dataset, experiment, request, trainable),
                              resume_errored=retry_errored)
