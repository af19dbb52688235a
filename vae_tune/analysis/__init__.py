"""Reading finished (or running) studies and drawing what a person needs to compare trials."""

from vae_tune.analysis.results import best_trial, load_results, pareto_front
from vae_tune.study import load_study_config

__all__ = ["best_trial", "load_results", "load_study_config", "pareto_front"]
