"""Study and trial configuration: frozen dataclasses, loaded from TOML and validated.

A study file (`studies/*.toml`) has one table per dataclass below. Every field
has a default, so a study file only states what differs. Validation happens
here, before Ray starts, and every error is one line naming the key and what
is allowed: `ConfigError: model.latent_dim: must be a positive integer, got 0`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

STUDIES_DIR = Path(__file__).resolve().parent.parent / "studies"
DEFAULT_STORAGE_PATH = "~/vae_tune_results"  # where experiments go unless a study sets storage_path

# Hyperparameters a study may search, and the section that owns each one.
SEARCHABLE = {
    "latent_dim": "model",
    "kl_weight": "model",
    "chroma_weight": "model",
    "learning_rate": "training",
    "batch_size": "training",
    # Not a hyperparameter to tune, but a trial's params may carry it: `vae-tune confirm` retrains
    # configurations with new seeds, and a study may grid over seeds to see their spread.
    "seed": "training",
}
INTEGER_PARAMETERS = ("latent_dim", "batch_size", "seed")  # searched as a choice or grid of values, never a range
DISTRIBUTIONS = ("choice", "grid", "loguniform", "uniform")
SEARCH_ALGORITHMS = ("random", "tpe", "nsga2")
OBJECTIVE_KINDS = ("scalar", "pareto")
SCHEDULERS = ("asha", "fifo", "pbt", "pb2")
POPULATION_SCHEDULERS = ("pbt", "pb2")  # Population Based Training: the [pbt] table configures both
# What a PBT exploit may change: the loss weights and the optimizer's rate take new values on the
# donor's weights. latent_dim, the image size and the filters shape the weights, so they never mutate.
MUTABLE = ("learning_rate", "kl_weight", "chroma_weight")
DATA_SOURCES = ("synthetic", "folder", "kaggle")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
ALL_REDUCE = ("auto", "nccl", "hierarchical_copy", "one_device")
WHOLE_NODE = "node"  # resources.gpus_per_trial: every GPU of a node


class ConfigError(ValueError):
    """A study file or override is invalid; the message names the key."""


class DataError(ConfigError):
    """The data a study points at cannot be used (no usable image, an unknown column); the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    # synthetic: the embedded catalogue; folder: a directory of images; kaggle: styles.csv + images/<id>.jpg
    source: str = "synthetic"
    path: str = ""  # the directory, for source = "folder" or "kaggle"
    image_size: int = 128  # square side in pixels; the encoder halves it 3 times, the decoder needs /16
    # Images to generate (synthetic) or the most to use (folder, kaggle): a subset chosen by a
    # stable hash of each image's identity, so it keeps its members when files are added.
    samples: int = 2048
    validation_fraction: float = 0.1  # held out from training; the scoring probe comes from here
    seed: int = 0  # fixes generation and the train/validation split for every trial
    # kaggle: keep rows whose styles.csv column holds the value, or one of a list of values,
    # e.g. { masterCategory = "Footwear", gender = ["Men", "Women"] }; case-insensitive.
    filters: dict[str, Any] = field(default_factory=dict)
    label_column: str = "articleType"  # kaggle: the styles.csv column that labels each image
    cache_dir: str = "~/.cache/vae-tune"  # decoded images, built once and reused by later runs
    workers: int = 0  # processes that decode a new cache; 0: one per available core (fewer for small datasets)


@dataclass(frozen=True)
class ModelConfig:
    image_size: int = 128  # copied from data.image_size; part of the model so checkpoints rebuild it
    latent_dim: int = 256  # the tutorial's size
    # Per-image loss = sum of squared error over pixels + kl_weight * KL summed over latent dims.
    # The tutorial's 1000 * MSE + mean KL equals kl_weight = H*W*3 / (1000 * latent_dim): 0.19 at 128px, 256 latents.
    kl_weight: float = 0.19
    # Reconstruction term = luminance squared error + chroma_weight * chroma squared error, in the
    # orthonormal opponent basis (vae_tune.metrics.OPPONENT). 1 is the plain RGB sum of squared
    # error, the tutorial's; chroma is ~4% of a catalogue's pixel variance, so at 1 colour is
    # learned last and 2-8 brings it in tens of epochs sooner (docs/scores.md).
    chroma_weight: float = 1.0
    encoder_filters: tuple[int, ...] = (32, 16, 4)  # Conv2D 3x3 stride 2, each + BatchNorm
    decoder_filters: tuple[int, ...] = (32, 16, 8)  # Conv2DTranspose 3x3 stride 2, each + BatchNorm
    decoder_seed_channels: int = 64  # channels of the (H/16, W/16) map the decoder's Dense layer makes
    # Keras' default 0.99 lags behind fast-moving short trials: their inference-mode (moving
    # average) reconstructions then swing epoch to epoch, and so would blur and roughness.
    batchnorm_momentum: float = 0.9


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 10  # the most epochs a trial trains; ASHA may stop it sooner
    # The global batch, split evenly across replicas when a trial has several GPUs: one
    # optimizer step sees the same images whatever the replica count, so learning_rate
    # is not scaled with replicas and the metrics mean the same on 1 GPU or 8.
    batch_size: int = 64
    learning_rate: float = 5e-4  # Adam, the tutorial's rate
    seed: int = 0  # weights and shuffling; recorded in every checkpoint
    # auto: mixed_float16 when the trial has a GPU (tensor cores), float32 on CPU. Mixed
    # policies keep variables, the latent heads, the output and the loss in float32.
    precision: str = "auto"


@dataclass(frozen=True)
class Parameter:
    """One searched hyperparameter: `choice` of values (sampled), `grid` (every value,
    times num_samples), or a (log)uniform range."""

    distribution: str
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0

    def describe(self) -> str:
        """What is searched, as messages print it: {1, 2, 3} or [0.001, 1]."""
        if self.values:
            return "{" + ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in self.values) + "}"
        return f"[{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class ObjectiveConfig:
    # scalar: minimise objective = blur + roughness_weight * roughness (ASHA, TPE, random);
    # pareto: minimise val/blur and val/roughness together (NSGA-II or TPE, FIFO scheduler).
    kind: str = "scalar"
    # Both scores are ~0..1, lower is better. Across the local study's trials blur spread
    # 1.1-1.7x as much as roughness (docs/scores.md): a weight of 1 counts them evenly.
    roughness_weight: float = 1.0
    # An epoch whose probe PSNR is no better than the mean training image's is `collapsed` and
    # scored 9-10 (worse than any real score, ordered by PSNR), so a model that ignores its input is never best. Off only for machinery
    # checks whose 1-2 epoch models cannot beat the mean image (the tests' tiny studies).
    collapse_guard: bool = True


@dataclass(frozen=True)
class ProbeConfig:
    """The fixed validation sample every epoch of every trial is scored on (vae_tune.training.scoring)."""

    images: int = 64  # validation images scored for blur every epoch
    pairs: int = 8  # same-category validation pairs interpolated for roughness every epoch
    cross_pairs: int = 8  # different-category pairs: val/roughness_cross, a diagnostic
    interpolation_steps: int = 16  # T in docs/design.md: T + 1 decoded points per pair


@dataclass(frozen=True)
class SearchConfig:
    algorithm: str = "random"  # random: Ray's variant generator; tpe / nsga2: Optuna's samplers
    scheduler: str = "asha"  # asha: stop weak trials early; fifo: run every trial to the end
    num_samples: int = 12  # trials in the study
    max_concurrent_trials: int = 0  # 0: as many as the resources allow
    grace_period: int = 1  # ASHA: epochs every trial gets before it can be stopped
    reduction_factor: int = 3  # ASHA: keep the best 1/reduction_factor at each rung
    # Also run the tutorial's own configuration (`tutorial_params`) as one extra trial, so the
    # report can say whether tuning beat it.
    baseline: bool = True
    space: dict[str, Parameter] = field(default_factory=dict)


@dataclass(frozen=True)
class PBTConfig:
    """Population Based Training (search.scheduler = "pbt" or "pb2"); time is counted in epochs."""

    # Every perturbation_interval epochs after burn-in, the worst quantile_fraction of the population
    # copies the weights of one of the best quantile_fraction and continues with mutated values.
    perturbation_interval: int = 4
    burn_in: int = 0  # epochs before the first perturbation (the first is at max(interval, burn_in))
    quantile_fraction: float = 0.25  # in (0, 0.5]: the share of the population that donates, and that is replaced
    resample_probability: float = 0.25  # pbt: draw a mutated value afresh from search.space, else scale it by 0.8 or 1.2
    # Searched parameters (search.space) that mutate at each exploit; the others keep their first value.
    mutate: tuple[str, ...] = ("learning_rate", "kl_weight")


def perturbation_epoch(pbt: PBTConfig, epoch: int) -> bool:
    """Whether a PBT study may exploit at `epoch`: max(interval, burn_in) and every interval after it.

    The scheduler perturbs on exactly these epochs (vae_tune.tuning.tuner), and a trial keeps the
    weights of its checkpoints at these epochs, the only ones a donor can be copied from.
    """
    first = max(pbt.perturbation_interval, pbt.burn_in)
    return epoch >= first and (epoch - first) % pbt.perturbation_interval == 0


def previous_perturbation_epoch(pbt: PBTConfig, epoch: int) -> int:
    """The last perturbation epoch before `epoch`, 0 before the first: what PBT counts the interval from."""
    first = max(pbt.perturbation_interval, pbt.burn_in)
    if epoch <= first:
        return 0
    return first + (epoch - first - 1) // pbt.perturbation_interval * pbt.perturbation_interval


@dataclass(frozen=True)
class ExecutionConfig:
    max_failures: int = 2  # retries of a crashed trial, each from its last checkpoint
    trial_timeout: float = 0.0  # seconds a trial attempt may run before it is stopped; 0: no limit
    retry_errored_on_resume: bool = True  # `vae-tune resume` retries trials that had failed for good


@dataclass(frozen=True)
class ResourcesConfig:
    cpus_per_trial: float = 1.0  # also sizes the trial's TensorFlow thread pools
    # A fraction below 1 packs several trials on one GPU; a whole number gives a trial that
    # many GPUs of one node (MirroredStrategy across them); "node" every GPU of a node.
    gpus_per_trial: float | str = 0.0
    # How replicas sum gradients: auto picks NCCL where TensorFlow has it, else one_device.
    all_reduce: str = "auto"
    # Wait this long at start for a node big enough for one trial (autoscaled GPU workers
    # join minutes after the head); 0 stops at once with an error naming the largest node.
    node_wait_seconds: float = 0.0


@dataclass(frozen=True)
class StudyConfig:
    name: str = "study"
    description: str = ""
    storage_path: str = DEFAULT_STORAGE_PATH  # experiments go to storage_path/<name>_<timestamp>
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    probe: ProbeConfig = ProbeConfig()
    search: SearchConfig = SearchConfig()
    pbt: PBTConfig = PBTConfig()
    resources: ResourcesConfig = ResourcesConfig()
    execution: ExecutionConfig = ExecutionConfig()

    def fixed_value(self, name: str) -> Any:
        """The study's own value of a searchable hyperparameter: what a trial takes when it is not searched."""
        return getattr(getattr(self, SEARCHABLE[name]), name)

    def trial(self, params: dict[str, Any]) -> tuple[ModelConfig, TrainingConfig]:
        """The model and training settings of one trial: the study's, with `params` searched values."""
        model_overrides = {k: v for k, v in params.items() if SEARCHABLE.get(k) == "model"}
        training_overrides = {k: v for k, v in params.items() if SEARCHABLE.get(k) == "training"}
        unknown = sorted(set(params) - set(SEARCHABLE))
        if unknown:
            raise ConfigError(f"unknown trial parameter {unknown[0]!r}; allowed: {', '.join(SEARCHABLE)}")
        return (
            dataclasses.replace(self.model, **model_overrides),
            dataclasses.replace(self.training, **training_overrides),
        )


# The tutorial's hand-picked configuration, the reference every study is compared with.
TUTORIAL_LATENT_DIM = 256
TUTORIAL_LEARNING_RATE = 5e-4
TUTORIAL_CHROMA_WEIGHT = 1.0  # the tutorial's loss is the plain RGB squared error


def tutorial_kl_weight(image_size: int, latent_dim: int = TUTORIAL_LATENT_DIM) -> float:
    """The kl_weight of the tutorial's loss, 1000 * MSE + mean KL, in this project's per-image sums.

    1000 * mean over D = H*W*3 values + mean over latent_dim dims equals, times D / 1000,
    sum of squared error + D / (1000 * latent_dim) * sum of KL.
    """
    return image_size * image_size * 3 / (1000 * latent_dim)


def tutorial_params(image_size: int) -> dict[str, Any]:
    """The tutorial's latent_dim, learning_rate, kl_weight and chroma_weight at this image size."""
    return {"latent_dim": TUTORIAL_LATENT_DIM, "learning_rate": TUTORIAL_LEARNING_RATE,
            "kl_weight": tutorial_kl_weight(image_size), "chroma_weight": TUTORIAL_CHROMA_WEIGHT}


# --- loading -------------------------------------------------------------------------------------


def available_studies() -> list[str]:
    return sorted(p.stem for p in STUDIES_DIR.glob("*.toml"))


def resolve_study_path(name_or_path: str) -> Path:
    """A study name from `studies/` (`local`, `smoke`) or a path to a TOML file."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml" or path.is_file():  # a directory (cluster/) is no study: try the name
        if not path.is_file():
            raise ConfigError(f"study file {path} does not exist")
        return path
    candidate = STUDIES_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise ConfigError(
            f"unknown study {name_or_path!r}; available: {', '.join(available_studies())}, or a path to a .toml file"
        )
    return candidate


def load_study(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> StudyConfig:
    """Read, override (`section.key=value`) and validate a study."""
    path = resolve_study_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    raw.setdefault("name", path.stem)
    for override in overrides:
        apply_override(raw, override)
    return study_from_dict(raw)


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Apply `section.key=value` (value parsed as TOML, else taken as a string) to a raw study dict."""
    key, sep, text = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {override!r}: expected key=value, e.g. training.epochs=3")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    *sections, leaf = key.split(".")
    _check_key_path(key)
    target = raw
    for section in sections:
        target = target.setdefault(section, {})
    target[leaf] = value


def _check_key_path(key: str) -> None:
    """Refuse `--set` of a key the study schema does not have, naming the allowed keys."""
    cls: Any = StudyConfig
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if cls is dict:  # search.space.<parameter>.<field>: checked when the space is parsed
            return
        names = {f.name: f for f in dataclasses.fields(cls)}
        if part not in names:
            where = ".".join(parts[:depth]) or "study"
            raise ConfigError(f"--set {key}: {where} has no key {part!r}; allowed: {', '.join(names)}")
        field_type = typing.get_type_hints(cls)[part]
        cls = field_type if dataclasses.is_dataclass(field_type) else typing.get_origin(field_type) or field_type


def study_from_dict(raw: dict[str, Any], where: str = "study") -> StudyConfig:
    """A validated StudyConfig from a study file's tables (or a study.json); `where` names it in messages."""
    raw = {key: dict(value) if isinstance(value, dict) else value for key, value in raw.items()}
    sections = {}
    for name, cls in typing.get_type_hints(StudyConfig).items():
        if dataclasses.is_dataclass(cls):
            table = raw.pop(name, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{name}: must be a table ([{name}] in the study file)")
            sections[name] = _section(cls, table, prefix=f"{name}.")
    study = dataclasses.replace(_section(StudyConfig, raw, prefix=""), **sections)
    # The model is built for the data's image size: one value, stated once in the study file.
    study = dataclasses.replace(study, model=dataclasses.replace(study.model, image_size=study.data.image_size))
    validate(study)
    return study


def _section(cls: type, table: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    allowed = [name for name, hint in hints.items() if not dataclasses.is_dataclass(hint)]
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        where = prefix.rstrip(".") or "study"
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")
    values = {
        key: _space(value) if key == "space" else _coerce(f"{prefix}{key}", value, hints[key])
        for key, value in table.items()
    }
    return cls(**values)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list) or not all(type(v) is item for v in value):
            kind = "integers" if item is int else "strings"
            raise ConfigError(f"{key}: must be a list of {kind}, got {value!r}")
        return tuple(value)
    if origin in (typing.Union, types.UnionType):  # e.g. gpus_per_trial: a number or "node"
        allowed = typing.get_args(hint)
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, allowed) or isinstance(value, bool):
            names = " or ".join(a.__name__ for a in allowed)
            raise ConfigError(f"{key}: must be {names}, got {type(value).__name__} {value!r}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str) and (type(value) is not hint):
        raise ConfigError(f"{key}: must be {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _space(raw: Any) -> dict[str, Parameter]:
    if not isinstance(raw, dict):
        raise ConfigError("search.space: must be a table of parameters")
    space = {}
    for name, spec in raw.items():
        key = f"search.space.{name}"
        if name not in SEARCHABLE:
            raise ConfigError(f"{key}: cannot be searched; searchable: {', '.join(SEARCHABLE)}")
        if not isinstance(spec, dict):
            raise ConfigError(f"{key}: must be a table like {{ distribution = \"loguniform\", low = 1e-4, high = 1e-2 }}")
        unknown = sorted(set(spec) - {"distribution", "values", "low", "high"})
        if unknown:
            raise ConfigError(f"{key}: unknown key {unknown[0]!r}; allowed: distribution, values, low, high")
        distribution = spec.get("distribution")
        if distribution not in DISTRIBUTIONS:
            raise ConfigError(f"{key}.distribution: must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}")
        if distribution in ("choice", "grid"):
            values = spec.get("values")
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{key}.values: must be a non-empty list for distribution = {distribution!r}")
            space[name] = Parameter(distribution, values=tuple(values))
        else:
            low, high = spec.get("low"), spec.get("high")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
                raise ConfigError(f"{key}: low and high must be numbers for distribution = {distribution!r}")
            if not low < high:
                raise ConfigError(f"{key}: low must be below high, got low={low}, high={high}")
            if distribution == "loguniform" and low <= 0:
                raise ConfigError(f"{key}.low: must be > 0 for a loguniform range, got {low}")
            space[name] = Parameter(distribution, low=float(low), high=float(high))
    return space


# --- validation ----------------------------------------------------------------------------------


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _check_positive_int(key: str, value: Any) -> None:
    _require(isinstance(value, int) and value > 0, f"{key}: must be a positive integer, got {value!r}")


def _check_positive_number(key: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    _require(ok, f"{key}: must be a positive number, got {value!r}")


def _check_one_of(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    _require(value in allowed, f"{key}: must be one of {', '.join(allowed)}, got {value!r}")


# What each searchable value must satisfy; shared by fixed values and every searched value.
_PARAMETER_CHECKS = {
    "latent_dim": _check_positive_int,
    "batch_size": _check_positive_int,
    "learning_rate": _check_positive_number,
    "chroma_weight": _check_positive_number,  # 0 would not train colour at all
    "seed": lambda key, v: _require(isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                                    f"{key}: must be an integer >= 0, got {v!r}"),
    "kl_weight": lambda key, v: _require(
        isinstance(v, (int, float)) and math.isfinite(v) and v >= 0, f"{key}: must be a number >= 0, got {v!r}"
    ),
}


def _check_filters(data: DataConfig) -> None:
    _require(isinstance(data.filters, dict), f"data.filters: must be a table of column = value(s), got {data.filters!r}")
    _require(
        not data.filters or data.source == "kaggle",
        f"data.filters: only the kaggle source has columns to filter on; data.source is {data.source!r}",
    )
    for column, value in data.filters.items():
        values = value if isinstance(value, list) else [value]
        _require(
            bool(values) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values),
            f"data.filters.{column}: must be a string, an integer or a non-empty list of them, got {value!r}",
        )


def validate(study: StudyConfig) -> None:
    data, model, training, objective, search = study.data, study.model, study.training, study.objective, study.search
    _require(bool(study.name) and "/" not in study.name, f"name: must be a non-empty name without '/', got {study.name!r}")
    _check_one_of("data.source", data.source, DATA_SOURCES)
    _require(data.source == "synthetic" or bool(data.path), f"data.path: required when data.source = \"{data.source}\"")
    _check_filters(data)
    _require(bool(data.label_column), "data.label_column: must name a styles.csv column, got an empty string")
    _require(bool(data.cache_dir), "data.cache_dir: must be a directory, got an empty string")
    _require(isinstance(data.workers, int) and data.workers >= 0, f"data.workers: must be an integer >= 0, got {data.workers!r}")
    _require(
        isinstance(data.image_size, int) and data.image_size >= 16 and data.image_size % 16 == 0,
        f"data.image_size: must be a positive multiple of 16 (16, 32, 64, 128, ...), got {data.image_size!r}",
    )
    _check_positive_int("data.samples", data.samples)
    _require(0 < data.validation_fraction < 1, f"data.validation_fraction: must be in (0, 1), got {data.validation_fraction}")
    validation_images = int(data.samples * data.validation_fraction)
    _require(
        validation_images >= 2,
        f"data.validation_fraction: leaves {validation_images} validation images of {data.samples}; need at least 2",
    )
    for key in ("latent_dim", "kl_weight", "chroma_weight"):
        _PARAMETER_CHECKS[key](f"model.{key}", getattr(model, key))
    for key in ("learning_rate", "batch_size", "seed"):
        _PARAMETER_CHECKS[key](f"training.{key}", getattr(training, key))
    for key in ("encoder_filters", "decoder_filters"):
        filters = getattr(model, key)
        _require(len(filters) == 3 and all(f > 0 for f in filters), f"model.{key}: must be 3 positive integers, got {list(filters)}")
    _check_positive_int("model.decoder_seed_channels", model.decoder_seed_channels)
    _require(0 <= model.batchnorm_momentum < 1, f"model.batchnorm_momentum: must be in [0, 1), got {model.batchnorm_momentum}")
    _check_positive_int("training.epochs", training.epochs)
    _require(objective.roughness_weight >= 0, f"objective.roughness_weight: must be >= 0, got {objective.roughness_weight}")
    _check_one_of("objective.kind", objective.kind, OBJECTIVE_KINDS)
    probe = study.probe
    for key in ("images", "pairs", "interpolation_steps"):
        _check_positive_int(f"probe.{key}", getattr(probe, key))
    _require(probe.cross_pairs >= 0, f"probe.cross_pairs: must be >= 0, got {probe.cross_pairs}")
    _require(probe.interpolation_steps >= 2, "probe.interpolation_steps: must be at least 2")
    _check_one_of("search.algorithm", search.algorithm, SEARCH_ALGORITHMS)
    _check_one_of("search.scheduler", search.scheduler, SCHEDULERS)
    _require(
        not (objective.kind == "pareto" and search.scheduler == "asha"),
        'search.scheduler: asha needs one scalar metric; use "fifo" with objective.kind = "pareto"',
    )
    _check_positive_int("search.num_samples", search.num_samples)
    _require(search.max_concurrent_trials >= 0, f"search.max_concurrent_trials: must be >= 0, got {search.max_concurrent_trials}")
    _check_positive_int("search.grace_period", search.grace_period)
    _require(search.reduction_factor >= 2, f"search.reduction_factor: must be >= 2, got {search.reduction_factor}")
    for name, parameter in search.space.items():
        check = _PARAMETER_CHECKS[name]
        for value in parameter.values or (parameter.low, parameter.high):
            if name in INTEGER_PARAMETERS and not parameter.values:
                raise ConfigError(f"search.space.{name}: integer parameter; use distribution = \"choice\" with values")
            check(f"search.space.{name}", value)
    if search.scheduler in POPULATION_SCHEDULERS:
        _validate_population(study)
    execution = study.execution
    _require(execution.max_failures >= 0, f"execution.max_failures: must be >= 0, got {execution.max_failures}")
    _require(execution.trial_timeout >= 0, f"execution.trial_timeout: must be >= 0 seconds, got {execution.trial_timeout}")
    _check_one_of("training.precision", training.precision, PRECISIONS)
    resources = study.resources
    _check_positive_number("resources.cpus_per_trial", resources.cpus_per_trial)
    gpus = resources.gpus_per_trial
    _require(
        gpus == WHOLE_NODE if isinstance(gpus, str) else gpus >= 0 and (gpus < 1 or float(gpus).is_integer()),
        f"resources.gpus_per_trial: must be a fraction below 1, a whole number or \"{WHOLE_NODE}\", got {gpus!r}",
    )
    _check_one_of("resources.all_reduce", resources.all_reduce, ALL_REDUCE)
    _require(resources.node_wait_seconds >= 0, f"resources.node_wait_seconds: must be >= 0, got {resources.node_wait_seconds}")


def _validate_population(study: StudyConfig) -> None:
    """A PBT or PB2 study that Ray would refuse, or that would exploit nothing, stops here in one line."""
    search, pbt, scheduler = study.search, study.pbt, study.search.scheduler
    _require(search.algorithm == "random",
             f'search.algorithm: {scheduler} chooses the configurations itself; use "random" (Ray refuses a searcher with PBT), '
             f"got {search.algorithm!r}")
    _require(study.objective.kind == "scalar", f'objective.kind: {scheduler} ranks trials by one scalar metric; use "scalar"')
    _check_positive_int("pbt.perturbation_interval", pbt.perturbation_interval)
    _require(pbt.perturbation_interval <= study.training.epochs,
             f"pbt.perturbation_interval: {pbt.perturbation_interval} epochs is longer than training.epochs = "
             f"{study.training.epochs}; no trial would ever be perturbed")
    _require(isinstance(pbt.burn_in, int) and 0 <= pbt.burn_in < study.training.epochs,
             f"pbt.burn_in: must be an integer in [0, training.epochs = {study.training.epochs}), got {pbt.burn_in!r}")
    _require(0 < pbt.quantile_fraction <= 0.5, f"pbt.quantile_fraction: must be in (0, 0.5], got {pbt.quantile_fraction}")
    _require(0 <= pbt.resample_probability <= 1, f"pbt.resample_probability: must be in [0, 1], got {pbt.resample_probability}")
    _require(bool(pbt.mutate), "pbt.mutate: name at least one searched parameter to mutate, e.g. [\"learning_rate\", \"kl_weight\"]")
    _require(search.num_samples >= 2, f"search.num_samples: {scheduler} needs a population of at least 2, got {search.num_samples}")
    for name in pbt.mutate:
        _require(name != "latent_dim",
                 "pbt.mutate: latent_dim cannot mutate: a recipient loads its donor's weights, whose shapes it sets; "
                 "search it in search.space and it is sampled once")
        _require(name in MUTABLE, f"pbt.mutate: {name!r} cannot mutate; allowed: {', '.join(MUTABLE)}")
        _require(name in search.space, f"pbt.mutate: {name!r} is not in search.space; its values come from there")
        _require(scheduler == "pbt" or not search.space[name].values,
                 f"search.space.{name}: pb2 mutates ranges only; use a uniform or loguniform range, not {search.space[name].distribution}")


def check_installed(study: StudyConfig) -> None:
    """Refuse, before data or Ray load, a study that needs an optional package this machine lacks.

    Not part of `validate`: a PB2 study's report and results still load where scikit-learn is missing.
    """
    if study.search.scheduler == "pb2" and importlib.util.find_spec("sklearn") is None:
        raise ConfigError('search.scheduler: pb2 needs scikit-learn; install it with pip install -e ".[pb2]"')


def check_batch_split(batch_size: int, replicas: int) -> None:
    """Refuse a global batch that cannot be split evenly: replicas would weigh images unequally."""
    if batch_size % replicas:
        raise ConfigError(
            f"training.batch_size: {batch_size} does not split evenly across {replicas} replicas; use a multiple of {replicas}"
        )


def format_params(params: dict) -> str:
    """`latent_dim=64 learning_rate=5.2e-04 kl_weight=0.31`, in the study's order."""
    parts = []
    for name, value in params.items():
        text = f"{value:.2e}" if isinstance(value, float) and (abs(value) < 1e-2 or abs(value) >= 1e3) else (
            f"{value:.3g}" if isinstance(value, float) else str(value)
        )
        parts.append(f"{name}={text}")
    return " ".join(parts)


def image_count(data: DataConfig) -> str:
    """The study's images as a person reads them: `samples` is how many the synthetic catalogue
    generates, but only a cap on a folder or Kaggle dataset, which may hold fewer."""
    return f"{data.samples} images" if data.source == "synthetic" else f"up to {data.samples} images"


def to_dict(study: StudyConfig) -> dict[str, Any]:
    """A JSON-friendly dict of the study (tuples become lists); `study_from_dict` reads it back."""
    return json.loads(json.dumps(dataclasses.asdict(study)))
