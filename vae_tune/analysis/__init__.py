"""Reading finished (or running) studies and drawing what a person needs to compare trials.

results.py   the results table, Pareto front, best trial        playbook.py  edge-of-range and failure checks
plots.py     charts of the table (matplotlib figures)            figures.py   pictures decoded by a trained model
held_out.py  a finished study's validation images                report.py    `vae-tune report` (page.py: index.html)
photos.py    `vae-tune interpolate` on the user's own photos     photo_pairs.py  `vae-tune score` on photo pairs
confirmation.py  `vae-tune confirm`'s tables and verdict         degradations.py  the score examples' degraded images
schedule.py  a PBT winner's schedule.json                        restarts.py  what restarts and PBT's exploits cost
"""

import importlib

# For notebooks: `from vae_tune.analysis import load_results`. Loaded on first use (PEP 562), so that
# importing one analysis module (the command line's, say) does not load the others and Ray with them.
_EXPORTS = {"best_trial": "vae_tune.analysis.results", "load_results": "vae_tune.analysis.results",
            "pareto_front": "vae_tune.analysis.results", "latest_experiment": "vae_tune.experiment",
            "load_study_config": "vae_tune.experiment"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
