"""`vae-tune report`: the results table and the best trial's interpolation grid, on disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from vae_tune.analysis.results import best_trial, load_results, load_study_config
from vae_tune.study import METRIC

SHOWN_SCORES = [f"best_{METRIC}", "best_val/blur", "best_val/roughness"]


@dataclasses.dataclass
class Report:
    experiment_dir: Path
    out: Path
    table: pd.DataFrame
    best: pd.Series | None
    grid_path: Path | None

    def summary(self) -> str:
        counts = self.table["status"].value_counts().to_dict() if not self.table.empty else {}
        lines = [f"\n{len(self.table)} trials: " + ", ".join(f"{n} {status}" for status, n in counts.items())]
        if self.best is not None:
            params = {name: self.best[name] for name in self.searched}
            lines.append(f"best trial {self.best['trial_id']} (epoch {self.best['best_epoch']}): "
                         + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()))
            lines.append("  " + "  ".join(f"{name.removeprefix('best_')} {self.best[name]:.4f}" for name in SHOWN_SCORES))
            lines.append(f"  checkpoint {self.best['best_checkpoint']}")
        lines.append(f"results table  {self.out / 'results.csv'}")
        if self.grid_path:
            lines.append(f"interpolations {self.grid_path}")
        lines.append(f"experiment     {self.experiment_dir}")
        return "\n".join(lines)

    @property
    def searched(self) -> list[str]:
        return list(load_study_config(self.experiment_dir).search.space)


def write_report(experiment_dir: Path, out: Path | None = None) -> Report:
    """Write results.csv and best_interpolations.png into `out` (default EXPERIMENT_DIR/report)."""
    experiment_dir = Path(experiment_dir).expanduser().resolve()
    study = load_study_config(experiment_dir)
    out = Path(out) if out else experiment_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    table = load_results(experiment_dir)
    table.to_csv(out / "results.csv", index=False)
    try:
        best = best_trial(table) if not table.empty else None
    except ValueError:
        best = None
    grid_path = None
    if best is not None and best["best_checkpoint"]:
        grid_path = out / "best_interpolations.png"
        render_best_grid(study, Path(best["best_checkpoint"]), grid_path)
    return Report(experiment_dir, out, table, best, grid_path)


def render_best_grid(study, checkpoint: Path, path: Path) -> None:
    from vae_tune.analysis.figures import interpolation_grid
    from vae_tune.checkpoint import load_model
    from vae_tune.data.dataset import load_dataset, make_probe, split_indices

    dataset = load_dataset(study.data)
    _, validation = split_indices(dataset.ids, study.data.validation_fraction, study.data.seed)
    probe = make_probe(dataset, validation, study.objective, seed=study.data.seed)
    model, _ = load_model(checkpoint)
    interpolation_grid(model, probe, steps=study.objective.interpolation_steps).save(path)
