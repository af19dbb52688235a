"""A study config turned into a Ray Tune Tuner: search space, searcher, scheduler, checkpoints, resources."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining, TrialScheduler
from ray.tune.schedulers.pb2 import PB2
from ray.tune.search import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch

from vae_tune.baseline import baseline_plan, same_params
from vae_tune.config import POPULATION_SCHEDULERS, Parameter, PBTConfig, StudyConfig, previous_perturbation_epoch
from vae_tune.data.dataset import Dataset
from vae_tune.experiment import storage_root, trial_dirname
from vae_tune.names import EPOCH, METRIC, MODE, PARETO_METRICS
from vae_tune.storage import is_uri
from vae_tune.tuning.trainable import wrap_trainable


def domain(parameter: Parameter):
    if parameter.distribution == "choice":
        return tune.choice(list(parameter.values))
    if parameter.distribution == "grid":
        return tune.grid_search(list(parameter.values))
    if parameter.distribution == "loguniform":
        return tune.loguniform(parameter.low, parameter.high)
    return tune.uniform(parameter.low, parameter.high)


def search_space(study: StudyConfig, points: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Tune's space: the study's, and a choice of the points' values for a key only they carry (the
    schedule a confirm run follows): Tune refuses a point with a key its space lacks."""
    space = {name: domain(parameter) for name, parameter in study.search.space.items()}
    for name in dict.fromkeys(name for point in points or [] for name in point if name not in space):
        space[name] = tune.choice(list(dict.fromkeys(point[name] for point in points)))
    return space


class ClipToSpace:
    """PBT's explore step scales a value by 0.8 or 1.2 without bounds: keep each mutated value in its range,
    so a schedule never leaves the space the study file states. A class, not a closure: Tune pickles it."""

    def __init__(self, bounds: dict[str, tuple[float, float]]):
        self.bounds = bounds

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        return {**config, **{name: min(max(config[name], low), high) for name, (low, high) in self.bounds.items()
                             if name in config}}


class _Population:
    """What vae-tune changes in Ray's PBT and PB2 (mixed in before them).

    The baseline trial runs outside the population: it never enters the
    quantiles (its last_score stays unset), so it is never a donor and never
    perturbed, and "what tuning bought" still compares with the tutorial.
    Perturbations fall on fixed epochs (vae_tune.config.perturbation_epoch),
    also after a resumed study rebuilt the scheduler's state from nothing, so
    the checkpoints a trial keeps for donors are the ones PBT copies.
    """

    def __init__(self, *, pbt: PBTConfig, epochs: int, baseline: dict[str, Any] | None, **kwargs):
        super().__init__(**kwargs)
        self._pbt = pbt
        self._epochs = epochs
        self._baseline_point = baseline
        self._outside: set[str] = set()

    def on_trial_add(self, tune_controller, trial):
        super().on_trial_add(tune_controller, trial)
        point = self._baseline_point
        # The first trial with the baseline's params; no other trial takes them, as the baseline is no donor.
        if point is not None and not self._outside and same_params({k: trial.config.get(k) for k in point}, point):
            self._outside.add(trial.trial_id)

    def on_trial_result(self, tune_controller, trial, result):
        # A trial at its last epoch is done: Ray's PBT would still exploit it, and the recipient would
        # go back to the donor's epoch and train the last epochs again (seen in the tests' tiny studies).
        if trial.trial_id in self._outside or result.get(EPOCH, 0) >= self._epochs:
            return TrialScheduler.CONTINUE
        if isinstance(result.get(EPOCH), int):
            self._trial_state[trial].last_perturbation_time = previous_perturbation_epoch(self._pbt, result[EPOCH])
        return super().on_trial_result(tune_controller, trial, result)

    def _checkpoint_or_exploit(self, trial, tune_controller, upper_quantile, lower_quantile):
        # Async PBT ranks each trial by its score at its own last perturbation, so a trial at epoch 8 can
        # rank below one still at epoch 4 and be sent back to it; in the tests' tiny studies, whose
        # objective rises with training, trials went back to epoch 1 again and again. A recipient copies
        # only a donor at least as far on.
        if trial in lower_quantile:
            epoch = self._trial_state[trial].last_train_time
            upper_quantile = [t for t in upper_quantile if self._trial_state[t].last_train_time >= epoch]
            if not upper_quantile:
                lower_quantile = [t for t in lower_quantile if t is not trial]
        return super()._checkpoint_or_exploit(trial, tune_controller, upper_quantile, lower_quantile)


class VaePBT(_Population, PopulationBasedTraining):
    pass


class VaePB2(_Population, PB2):
    pass


def population_scheduler(study: StudyConfig):
    """PBT or PB2 over the mutated parameters' values in search.space; time is the epoch."""
    pbt, space = study.pbt, study.search.space
    points = initial_points(study)
    common = dict(pbt=pbt, epochs=study.training.epochs, baseline=points[0] if points else None, time_attr=EPOCH,
                  perturbation_interval=pbt.perturbation_interval, quantile_fraction=pbt.quantile_fraction)
    ranges = {name: (space[name].low, space[name].high) for name in pbt.mutate if not space[name].values}
    if study.search.scheduler == "pb2":
        return VaePB2(hyperparam_bounds={name: list(bounds) for name, bounds in ranges.items()},
                      custom_explore_fn=ClipToSpace(ranges), **common)
    # A list of values mutates by moving to a neighbouring value; a range by resampling or scaling.
    mutations = {name: list(space[name].values) if space[name].values else domain(space[name]) for name in pbt.mutate}
    return VaePBT(hyperparam_mutations=mutations, burn_in_period=pbt.burn_in,
                  resample_probability=pbt.resample_probability, custom_explore_fn=ClipToSpace(ranges), **common)


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
    if study.search.scheduler in POPULATION_SCHEDULERS:
        return population_scheduler(study)
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
    if not is_uri(storage_root(study)) or study.search.scheduler in POPULATION_SCHEDULERS:
        # PBT: a donor's checkpoint must outlive its copy, and Tune's best-two would not keep it.
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
        param_space=search_space(study, points),
        tune_config=tune_config(study, points),
        run_config=run_config,
    )


def restore_tuner(study: StudyConfig, dataset: Dataset, experiment: str, request: dict[str, float], retry_errored: bool,
                  trainable: Callable | None = None) -> tune.Tuner:
    """The Tuner of an interrupted experiment: finished trials kept, the others resumed (vae_tune.tuning.resume)."""
    return tune.Tuner.restore(experiment, trainable=wrap_trainable(study, dataset, experiment, request, trainable),
                              resume_errored=retry_errored)
