"""`vae-tune report`: everything a person needs to choose a trial, in one folder with an index.html.

    results.csv                    one row per trial (see `load_results`)
    pareto.png                     best blur vs best roughness, Pareto front, best trials labelled
    hyperparameters.png            best objective against each searched hyperparameter
    training_curves.png            the best trials per epoch, and the trials by status
    trials/<trial_id>/             for each of the best K trials and each Pareto-front trial:
        interpolations.png, hybrids.png, category_morphs.png, prior_samples.png, interpolation.gif
    best_interpolations.png        the best trial's interpolations, at a fixed path for scripts
    index.html                     all of the above with captions
"""

from __future__ import annotations

import dataclasses
import html
import shutil
from pathlib import Path

import pandas as pd

from vae_tune.analysis import page, plots
from vae_tune.analysis.page import Picture, Section
from vae_tune.analysis.playbook import edge_of_range_warnings, failure_share, status_counts
from vae_tune.analysis.results import (STATUS_MEANINGS, best_trial, load_results, load_study_config, no_winner,
                                       open_experiment, trial_histories, trials_to_render)
from vae_tune.config import StudyConfig
from vae_tune.study import METRIC

SHOWN_SCORES = [f"best_{METRIC}", "best_val/blur", "best_val/roughness"]
DEFAULT_TOP = 3
PRIOR_GRID = (4, 8)  # rows, columns of prior samples
TRIALS, INTERPOLATIONS = "trials", "interpolations.png"  # out/trials/<trial_id>/interpolations.png


@dataclasses.dataclass
class Report:
    experiment_dir: Path | str
    out: Path
    table: pd.DataFrame
    best: pd.Series | None
    grid_path: Path | None
    searched: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    def summary(self) -> str:
        counts = status_counts(self.table).to_dict()
        verdict = no_winner(self.table)
        lines = [f"\n{verdict[0].upper()}{verdict[1:]}."] if verdict else [""]
        lines.append(f"{len(self.table)} trials: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
        if self.best is not None:
            params = {name: self.best[name] for name in self.searched if name in self.best}
            lines.append(f"best trial {self.best['trial_id']} (epoch {self.best['best_epoch']}): "
                         + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()))
            lines.append("  " + "  ".join(f"{name.removeprefix('best_')} {self.best[name]:.4f}" for name in SHOWN_SCORES))
            if diagnostics_line(self.best):
                lines.append(f"  {diagnostics_line(self.best)}")
            lines.append(f"  checkpoint {self.best['best_checkpoint']}")
        lines += [f"warning: {warning}" for warning in self.warnings]
        lines.append(f"results table  {self.out / 'results.csv'}")
        if self.grid_path:
            lines.append(f"interpolations {self.grid_path}")
        lines.append(f"report         {self.index}")
        lines.append(f"experiment     {self.experiment_dir}")
        return "\n".join(lines)


def write_report(experiment_dir: Path | str, out: Path | None = None, top: int = DEFAULT_TOP) -> Report:
    """Write the report of the experiment at `experiment_dir` (a path or a storage URI) into `out`.

    `out` defaults to EXPERIMENT_DIR/report (for a URI: the report folder of its local mirror).
    """
    if top < 1:
        raise ValueError(f"--top: must be at least 1, got {top}")
    local = open_experiment(experiment_dir)
    location = experiment_dir if isinstance(experiment_dir, str) and "://" in experiment_dir else local.resolve()
    study = load_study_config(local)
    out = Path(out).expanduser() if out else local / "report"
    out.mkdir(parents=True, exist_ok=True)
    table = load_results(local)
    table.to_csv(out / "results.csv", index=False)
    try:
        best = best_trial(table)
    except ValueError:
        best = None
    report = Report(location, out, table, best, None, searched=list(study.search.space),
                    warnings=edge_of_range_warnings(table, study.search.space, top))
    sections = [_summary_section(report, study), _table_section(table, study),
                Section("Charts", pictures=save_charts(table, study, top, out), anchor="charts"),
                *_trial_sections(report, study, top)]
    page.write_page(out, f"vae-tune report: {study.name} ({Path(str(location)).name})", sections)
    if best is not None and (out / TRIALS / best["trial_id"] / INTERPOLATIONS).is_file():
        # The best trial's grid again at a path that never changes, for scripts and the run's summary.
        report.grid_path = out / "best_interpolations.png"
        shutil.copyfile(out / TRIALS / best["trial_id"] / INTERPOLATIONS, report.grid_path)
    return report


def save_charts(table: pd.DataFrame, study: StudyConfig, top: int, out: Path) -> list[Picture]:
    space = study.search.space
    leaders = table[table["rank"] <= top]["trial_id"] if not table.empty else []
    histories = trial_histories(table, leaders) if len(leaders) else pd.DataFrame()
    charts = [
        ("pareto.png", plots.pareto_plot(table, space, top, study.objective.roughness_weight),
         "Every scored trial at its best epoch: reconstruction blur (x) against interpolation roughness (y), "
         "both lower is better, coloured by kl_weight. The dashed line is the Pareto front: no other trial is "
         f"both sharper and smoother. #1..#{top} are the best trials by objective = blur + "
         f"{study.objective.roughness_weight:g} x roughness; dotted lines join points of equal objective."),
        ("hyperparameters.png", plots.hyperparameter_plots(table, space, top),
         "One axis plot per searched hyperparameter: each trial's best objective against its value. Dashed "
         "lines mark the searched range; log axes where the search was log-uniform. Red crosses along the top "
         "are trials without a score (failed, diverged or timed out). A best trial against a dashed line means the "
         "range should be widened."),
        ("training_curves.png", plots.training_curves(histories, table, top),
         f"Train loss, val/blur and val/roughness per epoch of the best {top} trials (still falling at the last "
         "epoch means more epochs would help), and how many trials finished, were stopped early by the "
         "scheduler, diverged (loss became NaN), failed or timed out."),
    ]
    pictures = []
    for name, figure, caption in charts:
        figure.savefig(out / name, dpi=110)
        pictures.append(Picture(Path(name), caption))
    return pictures


def _summary_section(report: Report, study: StudyConfig) -> Section:
    table = report.table
    counts = status_counts(table)
    notes = [f"{study.description}".strip() or f"Study {study.name}.",
             f"{len(table)} trials: " + ", ".join(f"{n} {status} ({STATUS_MEANINGS.get(status, status)})"
                                                for status, n in counts.items())
             + f". {failure_share(table):.0%} failed, diverged or timed out."]
    best = report.best
    if best is not None:
        params = _params(best, report.searched)
        scores = ", ".join(f"{name.removeprefix('best_')} {best[name]:.4f}" for name in SHOWN_SCORES)
        notes.append(f"Best trial {best['trial_id']} (epoch {best['best_epoch']} of {best['epochs']}): {params}; {scores}"
                     + (f"; {diagnostics_line(best)}." if diagnostics_line(best) else "."))
        notes.append(f"Its checkpoint: {best['best_checkpoint']}")
    else:
        notes.append("No trial has a usable score yet.")
    verdict = no_winner(table)
    warnings = [f"{verdict[0].upper()}{verdict[1:]}."] if verdict else []
    warnings += [f"Edge of the search space: {warning}." for warning in report.warnings]
    return Section("Summary", notes=notes, warnings=warnings, anchor="summary")


def _table_section(table: pd.DataFrame, study: StudyConfig) -> Section:
    columns = ["rank", "trial_id", *study.search.space, "status", "epochs", "best_epoch", *SHOWN_SCORES,
               f"last_{METRIC}", "pareto"]
    columns = [column for column in columns if column in table]
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    rows = []
    for _, row in table.iterrows():
        cells = "".join(f"<td>{html.escape(_format(row[column]))}</td>" for column in columns)
        rows.append(f'<tr{" class=pareto" if row.get("pareto") else ""}>{cells}</tr>')
    body = (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            if rows else "<p>No trial has started yet.</p>")
    note = ("Scores are at each trial's best epoch (lowest objective); Pareto-front rows are shaded. "
            "The full table, with last scores and checkpoint paths, is results.csv: "
            "pandas.read_csv or vae_tune.analysis.load_results(EXPERIMENT_DIR) load it.")
    return Section("Results", notes=[note], html=body + '<p><a href="results.csv">results.csv</a></p>', anchor="results")


def _trial_sections(report: Report, study: StudyConfig, top: int) -> list[Section]:
    rendered = trials_to_render(report.table, top)
    if rendered.empty:
        return []
    from vae_tune.analysis.held_out import held_out_data

    try:
        data = held_out_data(study)
    except (OSError, ValueError) as error:  # e.g. a folder study reported on another machine
        return [Section("Trials", warnings=[f"Cannot rebuild the study's held-out images, so no trial is drawn: {error}"])]
    from vae_tune.checkpoint import CheckpointError

    sections = []
    for _, row in rendered.iterrows():
        title, anchor = plots.rank_label(row), f"trial-{row['trial_id']}"
        try:
            pictures = render_trial(row, data, study, report.out)
        except CheckpointError as error:  # one damaged checkpoint should not cost the whole report
            sections.append(Section(title, warnings=[f"Cannot draw this trial: {error}"], anchor=anchor))
            continue
        reasons = [f"one of the best {top} by objective"] if row["rank"] <= top else []
        reasons += ["on the Pareto front"] if row["pareto"] else []
        why = " and ".join(reasons)
        notes = [f"{why[0].upper()}{why[1:]}. {_params(row, study.search.space)}. "
                 f"{row['status'].capitalize()} after {row['epochs']} epochs; "
                 f"drawn from epoch {row['best_epoch']} (objective {row[f'best_{METRIC}']:.4f}, blur "
                 f"{row['best_val/blur']:.4f}, roughness {row['best_val/roughness']:.4f}).",
                 f"Checkpoint: {row['best_checkpoint']}"]
        sections.append(Section(title, notes=notes, pictures=pictures, anchor=anchor))
    return sections


def render_trial(row: pd.Series, data, study: StudyConfig, out: Path) -> list[Picture]:
    """Draw one trial's pictures from its best checkpoint into out/trials/<trial_id>/.

    Wide grids first, then the narrow ones, which the page sets side by side.
    """
    from vae_tune.analysis import figures
    from vae_tune.checkpoint import load_model

    model, _ = load_model(row["best_checkpoint"])
    folder = Path(TRIALS) / str(row["trial_id"])
    (out / folder).mkdir(parents=True, exist_ok=True)
    steps, size = study.objective.interpolation_steps, study.data.image_size
    pictures = []

    def save(name: str, image, caption: str) -> None:
        image.save(out / folder / name)
        pictures.append(Picture(folder / name, caption, tile_size=size))

    columns = (f"columns: the real source, the images decoded along the straight line between their latent "
               f"means ({steps + 1} points, z_0 to z_{steps}), the real target")
    save(INTERPOLATIONS, figures.interpolation_grid(model, data.probe, steps),
         f"Interpolations (the tutorial's Figure 6). Each row is a held-out pair that roughness is scored on; {columns}.")
    if data.has_labels:
        grid, names = figures.category_morph_grid(model, data.images, data.labels, data.label_names, steps,
                                                  seed=study.data.seed)
        save("category_morphs.png", grid,
             f"Morphs within one category (Figure 7): a random held-out pair per row; {columns}. "
             f"Rows, top to bottom: {', '.join(names)}.")
    save("hybrids.png", figures.hybrid_grid(model, data.probe),
         "Hybrids (Figure 5). Each row: the real source, the image decoded from the mean of the two latent "
         "vectors, the real target.")
    rows, cols = PRIOR_GRID
    save("prior_samples.png", figures.prior_sample_grid(model, rows, cols, seed=study.training.seed),
         f"Prior samples: {rows * cols} images decoded from z ~ N(0, I). Recognisable products mean the "
         "latent space is filled where the prior puts its mass; blobs mean holes.")
    gif = folder / "interpolation.gif"
    figures.save_gif(figures.interpolation_frames(model, data.probe.pair_starts[0], data.probe.pair_ends[0], steps), out / gif)
    pictures.append(Picture(gif, "The first interpolation as an animation, forward and back, holding on the "
                                 "real source and target (as the tutorial saved it)."))
    return pictures


def diagnostics_line(row: pd.Series) -> str:
    """PSNR on the probe against the mean image's and the training images', and colour fidelity, where reported."""
    def known(name):
        return name in row and pd.notna(row[name])

    parts = []
    if known("best_val/psnr"):
        psnr = f"val/psnr {row['best_val/psnr']:.1f} dB"
        if known("mean_image_psnr"):
            psnr += f" (mean image {row['mean_image_psnr']:.1f} dB)"
        if known("best_train/psnr"):
            psnr += f", train/psnr {row['best_train/psnr']:.1f} dB"
        parts.append(psnr)
    if known("best_val/colour_fidelity"):
        parts.append(f"colour fidelity {row['best_val/colour_fidelity']:.2f}")
    return "  ".join(parts)


def _params(row: pd.Series, names) -> str:
    return ", ".join(f"{name}={_format(row[name])}" for name in names if name in row)


def _format(value) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    if value is None or value is pd.NA:
        return ""
    return str(value)
