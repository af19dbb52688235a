"""The baseline trial: the tutorial's own configuration, run beside a study's searched trials.

It answers the question a study is for: does the tuned configuration beat the
one the tutorial picked by hand? The baseline is one extra trial, handed to
the searcher as a point to evaluate first; `baseline.json` in the experiment
directory records its params and, once Tune has created it, its trial id, so
the results table can mark it (`load_results`'s `baseline` column) on a
finished, running or resumed study alike. Nothing here needs Ray or TensorFlow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vae_tune.config import Parameter, StudyConfig, tutorial_params
from vae_tune.names import (
    BASELINE_FILE,
    TRIAL_ID,
)
from vae_tune.storage import read_text, write_text

OPTUNA_ALGORITHMS = ("tpe", "nsga2")
# The tutorial's chroma_weight, 1 (the plain RGB error), lies below every study's searched range on
# purpose: its models stay sepia (docs/scores.md), and showing what weighting colour bought is what
# the baseline is for. Being outside the search is no caveat there, so it is not warned about.
OUTSIDE_BY_DESIGN = ("chroma_weight",)


@dataclass(frozen=True)
class BaselinePlan:
    point: dict[str, Any] | None  # the baseline trial's params; None: the study runs no baseline trial
    notes: list[str] = field(default_factory=list)  # one line per caveat: a value outside the search, why there is none


def baseline_params(study: StudyConfig) -> dict[str, Any]:
    """The tutorial's configuration as the params of a trial of `study`.

    Every searched hyperparameter, and only those: the tutorial's value
    (`tutorial_params` at the study's image size) where it has one, the study's
    fixed value for the others (batch_size, seed). Hyperparameters the study
    does not search take the study's fixed values in the baseline trial as in
    every other trial.
    """
    tutorial = tutorial_params(study.data.image_size)
    return {name: tutorial.get(name, study.fixed_value(name)) for name in study.search.space}


def baseline_plan(study: StudyConfig) -> BaselinePlan:
    """The baseline trial's point for the study's searcher, or why there is none.

    A tutorial value outside a searched range, or missing from a choice, is
    still run as is: the baseline is there to be the tutorial's configuration,
    and a value snapped into the search would make it some other trial. Ray's
    variant generator (random search) runs such a value with a warning, and
    Optuna (tpe, nsga2) does for a range, but an Optuna choice (a categorical
    distribution) can only hold one of its values: then the study runs no
    baseline trial and says so. `vae-tune confirm` retrains the tutorial's
    configuration either way.
    """
    search = study.search
    if not search.baseline:
        return BaselinePlan(None)
    if not search.space:
        return BaselinePlan(None, ["nothing is searched, so every trial has the study's fixed configuration: "
                                   "no baseline trial"])
    point, notes = {}, []
    for name, value in baseline_params(study).items():
        parameter = search.space[name]
        listed = next((v for v in parameter.values if same_value(v, value)), None)
        if listed is not None:
            value = listed  # the listed spelling of the same number: Optuna's choice matches by equality
        elif parameter.values and search.algorithm in OPTUNA_ALGORITHMS:
            return BaselinePlan(None, [
                f"the tutorial's {name}={value:g} is not one of the searched values {parameter.describe()}, and "
                f"Optuna ({search.algorithm}) runs only those: no baseline trial (add it to "
                f"search.space.{name}.values, or search with algorithm = \"random\")"])
        elif not contains(parameter, value) and name not in OUTSIDE_BY_DESIGN:
            notes.append(f"the tutorial's {name}={value:g} lies outside the searched "
                         f"{'values' if parameter.values else 'range'} {parameter.describe()}; "
                         "the baseline trial runs it anyway")
        point[name] = value
    return BaselinePlan(point, notes)


def same_value(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 relative: a value read back from JSON or Optuna is the same number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0) if isinstance(a, float) or isinstance(b, float) else a == b
    return a == b


def same_params(params: dict[str, Any], point: dict[str, Any]) -> bool:
    """Whether a trial's params are exactly the point: the same names, the same values."""
    return set(params) == set(point) and all(same_value(params[name], point[name]) for name in point)


def contains(parameter: Parameter, value: Any) -> bool:
    if parameter.values:
        return any(same_value(v, value) for v in parameter.values)
    return parameter.low <= value <= parameter.high


def write_record(experiment: str, point: dict[str, Any], trial_id: str | None = None) -> None:
    """Write baseline.json into the experiment (a path or a storage URI)."""
    write_text(f"{experiment}/{BASELINE_FILE}", json.dumps({"params": point, TRIAL_ID: trial_id}, indent=2))


def read_record(experiment_dir: str | Path) -> dict[str, Any] | None:
    """baseline.json of an experiment (a path or a storage URI), or None if the study ran no baseline trial."""
    try:
        record = json.loads(read_text(f"{experiment_dir}/{BASELINE_FILE}"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("params"), dict) else None


def find_baseline(trials: list[tuple[str, dict[str, Any]]], record: dict[str, Any] | None) -> str | None:
    """The id of the baseline trial among (trial_id, params) pairs, in trial id order.

    The recorded trial id when there is one; before it is recorded (or if the
    driver died first), the first trial whose params are the baseline's. The
    searchers hand out the point before any sampled configuration, the variant
    generator numbers its trials in order, and a sampled trial can equal the
    point only when every searched hyperparameter is a choice.
    """
    if record is None:
        return None
    ids = [trial_id for trial_id, _ in trials]
    if record.get(TRIAL_ID) in ids:
        return record[TRIAL_ID]
    return next((trial_id for trial_id, params in trials if same_params(params, record["params"])), None)
