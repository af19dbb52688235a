"""Reading finished (or running) studies and drawing what a person needs to compare trials.

results.py   the results table, Pareto front, best trial        playbook.py  edge-of-range and failure checks
plots.py     charts of the table (matplotlib figures)            figures.py   pictures decoded by a trained model
held_out.py  a finished study's validation images                report.py    `vae-tune report` (page.py: index.html)
photos.py    `vae-tune interpolate` on the user's own photos     photo_pairs.py  `vae-tune score` on photo pairs
confirmation.py  `vae-tune confirm`'s tables and verdict         degradations.py  the score examples' degraded images
"""

from vae_tune.analysis.results import best_trial, load_results, pareto_front
from vae_tune.experiment import latest_experiment, load_study_config

__all__ = ["best_trial", "latest_experiment", "load_results", "load_study_config", "pareto_front"]
