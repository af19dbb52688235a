"""`vae-tune report`: everything a person needs to choose a trial, in one folder with an index.html.

    results.csv                    one row per trial (see `load_results`)
    pareto.png                     best blur vs best roughness, Pareto front, best trials labelled
    hyperparameters.png            best objective against each searched hyperparameter
    training_curves.png            the best trials per epoch, and the trials by status
    trials/<trial_id>/             for each of the best K trials, each Pareto-front trial and the baseline trial:
        interpolations.png, hybrids.png, category_morphs.png, prior_samples.png, interpolation.gif
    best_interpolations.png        the best trial's interpolations, at a fixed path for scripts
    best_vs_baseline.png           the best searched trial's interpolations beside the baseline trial's
    confirm.csv, confirm_summary.csv   copies of `vae-tune confirm`'s tables, when it has run
    index.html                     all of the above with captions
"""

from __future__ import annotations

import dataclasses
import html
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from vae_tune.analysis import page, plots
from vae_tune.analysis.confirmation import read_confirm, summarise, summary_html, verdict
from vae_tune.analysis.page import TRIALS_SHOWN, Picture, Section
from vae_tune.analysis.playbook import edge_of_range_warnings, failure_share, status_counts
from vae_tune.analysis.results import best_trial, is_baseline, load_results, no_winner, open_experiment, trial_histories, trials_to_render
from vae_tune.analysis.schedule import schedule_plot, winner_schedule, write_schedule
from vae_tune.config import POPULATION_SCHEDULERS, StudyConfig
from vae_tune.experiment import load_study_config
from vae_tune.names import (
    BEST_BLUR,
    BEST_CHECKPOINT,
    BEST_COLOUR_FIDELITY,
    BEST_EPOCH,
    BEST_OBJECTIVE,
    BEST_PSNR,
    BEST_ROUGHNESS,
    BEST_TRAIN_PSNR,
    CONFIRM_FILE,
    CONFIRM_SUMMARY_FILE,
    MEAN_IMAGE_PSNR_COLUMN,
    METRIC,
    REPORT_DIR,
    STATUS_MEANINGS,
    TRIAL_ID,
    last_column,
)
from vae_tune.storage import is_uri

SHOWN_SCORES = [BEST_OBJECTIVE, BEST_BLUR, BEST_ROUGHNESS]
# The best trial against the baseline: these, where the trials report them.
COMPARED_SCORES = [*SHOWN_SCORES, BEST_PSNR, BEST_COLOUR_FIDELITY]
HIGHER_IS_BETTER = {BEST_PSNR, BEST_COLOUR_FIDELITY}
BEST_VS_BASELINE = "best_vs_baseline.png"
# In the score cells of a trial without a score that counts: a collapsed, diverged or timed-out trial
# reported the finite worst case (names.WORST_SCORES), which read as a score.
NO_SCORE = "—"
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
    baseline: pd.Series | None = None  # the baseline trial (the tutorial's configuration), if the study ran one
    best_searched: pd.Series | None = None  # the best trial other than the baseline

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    def summary(self) -> str:
        counts = status_counts(self.table).to_dict()
        verdict = no_winner(self.table)
        lines = [f"\n{verdict}" if verdict else ""]
        lines.append(f"{len(self.table)} trials: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
        if self.best is not None:
            params = {name: self.best[name] for name in self.searched if name in self.best}
            lines.append(f"best trial {self.best[TRIAL_ID]} (epoch {self.best[BEST_EPOCH]}): "
                         + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()))
            lines.append("  " + "  ".join(f"{name.removeprefix('best_')} {self.best[name]:.4f}" for name in SHOWN_SCORES))
            diagnostics = diagnostics_line(self.best)
            lines += [f"  {diagnostics}"] if diagnostics else []
            lines.append(f"  checkpoint {self.best[BEST_CHECKPOINT]}")
        if self.baseline is not None:
            lines.append(f"best vs baseline objective: {best_against_baseline(self.best_searched, self.baseline)}")
        lines += [f"warning: {warning}" for warning in self.warnings]
        lines.append(f"results table  {self.out / 'results.csv'}")
        if self.grid_path:
            lines.append(f"interpolations {self.grid_path}")
        lines.append(f"report         {self.index}")
        lines.append(f"experiment     {self.experiment_dir}")
        return "\n".join(lines)


def write_report(experiment_dir: Path | str, out: Path | None = None, top: int = TRIALS_SHOWN) -> Report:
    """Write the report of the experiment at `experiment_dir` (a path or a storage URI) into `out`.

    `out` defaults to EXPERIMENT_DIR/report (for a URI: the report folder of its local mirror).
    """
    if top < 1:
        raise ValueError(f"--top: must be at least 1, got {top}")
    local = open_experiment(experiment_dir)
    location = experiment_dir if is_uri(experiment_dir) else local.resolve()
    study = load_study_config(local)
    out = Path(out).expanduser() if out else local / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    table = load_results(local)
    table.to_csv(out / "results.csv", index=False)
    try:
        best = best_trial(table)
    except ValueError:
        best = None
    baseline, searched_trials = _split_baseline(table)
    try:
        best_searched = best_trial(searched_trials)
    except ValueError:
        best_searched = None
    if not is_uri(experiment_dir):  # beside study.json, where `vae-tune replay` reads it
        write_schedule(local, study, best_searched)  # the population's winner: the baseline trial is no member
    schedule_chart = _schedule_chart(table, study, best_searched, out)
    # The playbook's edge check is about the search: the baseline trial was not sampled from it.
    report = Report(location, out, table, best, None, searched=list(study.search.space),
                    warnings=edge_of_range_warnings(searched_trials, study.search.space, top),
                    baseline=baseline, best_searched=best_searched)
    summary = _summary_section(report, study)
    trial_sections = _trial_sections(report, study, top)
    comparison = _best_vs_baseline_picture(report, study)
    if comparison is not None:
        summary.pictures.append(comparison)
    sections = [summary, _table_section(table, study),
                Section("Charts", pictures=save_charts(table, study, top, out) + schedule_chart, anchor="charts"),
                *_confirmation_sections(local, out), *trial_sections]
    page.write_page(out, f"vae-tune report: {study.name} ({Path(str(location)).name})", sections)
    if best is not None and (out / TRIALS / best[TRIAL_ID] / INTERPOLATIONS).is_file():
        # The best trial's grid again at a path that never changes, for scripts and the run's summary.
        report.grid_path = out / "best_interpolations.png"
        shutil.copyfile(out / TRIALS / best[TRIAL_ID] / INTERPOLATIONS, report.grid_path)
    return report


def _split_baseline(table: pd.DataFrame) -> tuple[pd.Series | None, pd.DataFrame]:
    """The baseline trial's row (None if the study ran none) and the table of the other trials."""
    marked = is_baseline(table)
    return (table[marked].iloc[0] if marked.any() else None), table[~marked]


def best_against_baseline(best: pd.Series | None, baseline: pd.Series) -> str:
    """One line: the best searched trial's best objective against the baseline trial's."""
    objective = BEST_OBJECTIVE
    if pd.isna(baseline.get("rank")):  # failed, diverged or timed out
        return f"the baseline trial {baseline[TRIAL_ID]} has no usable score ({baseline['status']})"
    against = f"baseline {baseline[TRIAL_ID]} {baseline[objective]:.4f}"
    if best is None:
        return f"no searched trial has a score; {against}"
    mine = f"{plots.rank_label(best)} {best[objective]:.4f}"
    if baseline.get("rank") == 1:
        return f"the baseline is the best trial: {against}, best searched trial {mine}"
    return f"{mine} vs {against} ({best[objective] - baseline[objective]:+.4f})"


def _schedule_chart(table: pd.DataFrame, study: StudyConfig, best: pd.Series | None, out: Path) -> list[Picture]:
    """A PBT study's schedules: every trial's kl_weight and learning_rate per epoch, the winner's ancestry."""
    if study.search.scheduler not in POPULATION_SCHEDULERS or table.empty:
        return []
    schedule = winner_schedule(best) if best is not None and isinstance(best.get(BEST_CHECKPOINT), str) else None
    schedule_plot(trial_histories(table, list(table[TRIAL_ID])), schedule).savefig(out / "schedules.png", dpi=110)
    return [Picture(Path("schedules.png"),
                    "The learning_rate and kl_weight each trial trained with, per epoch (log axes; thin grey: every "
                    "trial's own rows, triangles: an exploit, where a trial took another's weights and new values); "
                    "thick blue: the winner's ancestry, the schedule in schedule.json that `vae-tune replay` retrains.")]


def save_charts(table: pd.DataFrame, study: StudyConfig, top: int, out: Path) -> list[Picture]:
    space = study.search.space
    leaders = table[table["rank"] <= top][TRIAL_ID] if not table.empty else []
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
         "epoch means more epochs would help; collapsed epochs have no blur or roughness to draw), and how many "
         "trials finished, were stopped early by the scheduler, diverged (loss became NaN), failed or timed out."),
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
        diagnostics = diagnostics_line(best)
        notes.append(f"Best trial {best[TRIAL_ID]} (epoch {best[BEST_EPOCH]} of {best['epochs']}): {params}; {scores}"
                     + (f"; {diagnostics}." if diagnostics else "."))
        notes.append(f"Its checkpoint: {best[BEST_CHECKPOINT]}")
    else:
        notes.append("No trial has a usable score yet.")
    body = ""
    if report.baseline is not None:
        baseline = report.baseline
        notes.append(f"Against the baseline, trial {baseline[TRIAL_ID]} with the tutorial's configuration "
                     f"({_params(baseline, report.searched)}; the study's fixed values otherwise): "
                     f"{best_against_baseline(report.best_searched, baseline)}.")
        body = _comparison_table(report.best_searched, baseline)
    else:
        notes.append("This study ran no baseline trial (search.baseline = false, or a search that cannot hold the "
                     "tutorial's values: `vae-tune show` says which); `vae-tune confirm` retrains the tutorial's "
                     "configuration all the same.")
    verdict = no_winner(table)
    warnings = [verdict] if verdict else []
    warnings += [f"Edge of the search space: {warning}." for warning in report.warnings]
    return Section("Summary", notes=notes, warnings=warnings, html=body, anchor="summary")


def _comparison_table(best: pd.Series | None, baseline: pd.Series) -> str:
    """Scores of the best searched trial and the baseline trial at their best epochs, side by side."""
    columns = [("best searched trial", best), ("baseline", baseline)]
    columns = [(title, row) for title, row in columns if row is not None]
    scores = [name for name in COMPARED_SCORES if any(pd.notna(row.get(name)) for _, row in columns)]
    head = "<th>score (at the best epoch)</th>" + "".join(
        f"<th>{html.escape(title)}: {html.escape(plots.rank_label(row) if pd.notna(row.get('rank')) else str(row[TRIAL_ID]))}</th>"
        for title, row in columns)
    rows = []
    for name in scores:
        better = "higher is better" if name in HIGHER_IS_BETTER else "lower is better"
        cells = "".join(f"<td>{'' if pd.isna(row.get(name)) else f'{row.get(name):.4f}'}</td>" for _, row in columns)
        rows.append(f"<tr><td>{html.escape(name.removeprefix('best_'))} ({better})</td>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _best_vs_baseline_picture(report: Report, study: StudyConfig) -> Picture | None:
    """The best searched trial's interpolation grid beside the baseline trial's: the same held-out pairs, row by row."""
    if report.baseline is None or report.best_searched is None:
        return None
    grids = [report.out / TRIALS / str(row[TRIAL_ID]) / INTERPOLATIONS for row in (report.best_searched, report.baseline)]
    if not all(path.is_file() for path in grids):
        return None
    from PIL import Image

    left, right = (np.asarray(Image.open(path).convert("RGB")) for path in grids)
    size = study.data.image_size
    gap = np.full((max(len(left), len(right)), size, 3), 255, dtype=np.uint8)
    gap[:, size // 2 - 1: size // 2 + 1] = 160  # a grey rule between the two grids
    height = gap.shape[0]
    pad = lambda grid: np.pad(grid, ((0, height - len(grid)), (0, 0), (0, 0)), constant_values=255)  # noqa: E731
    Image.fromarray(np.concatenate([pad(left), gap, pad(right)], axis=1)).save(report.out / BEST_VS_BASELINE)
    best = report.best_searched
    return Picture(Path(BEST_VS_BASELINE),
                   f"Left: the best searched trial, {plots.rank_label(best)}; right: the baseline trial "
                   f"{report.baseline[TRIAL_ID]} (the tutorial's configuration). Each row is the same held-out pair "
                   "in both: the real source, the decoded straight line between their latent means, the real target.",
                   tile_size=size)


def _confirmation_sections(local: Path, out: Path) -> list[Section]:
    """`vae-tune confirm`'s summary and verdict, when confirm.csv is there."""
    table = read_confirm(local)
    if table is None or table.empty:
        return []
    if (local / CONFIRM_FILE).resolve() != (out / CONFIRM_FILE).resolve():
        shutil.copyfile(local / CONFIRM_FILE, out / CONFIRM_FILE)
    summarise(table).to_csv(out / CONFIRM_SUMMARY_FILE, index=False)
    seeds = sorted({int(seed) for seed in table["seed"]})
    best = [label for label in table["config"].unique() if label != "baseline"]
    notes = [f"`vae-tune confirm` retrained the best configurations ({', '.join(best)}) and the baseline with "
             f"{len(seeds)} new training seeds each ({', '.join(map(str, seeds))}), every run to the last epoch. "
             "Scores are at each run's best epoch: mean ± standard deviation (min..max) over the seeds."]
    found = verdict(table)
    if found is not None:
        notes.append(f"Verdict: {found.text}.")
    links = f'<p><a href="{CONFIRM_FILE}">{CONFIRM_FILE}</a> · <a href="{CONFIRM_SUMMARY_FILE}">{CONFIRM_SUMMARY_FILE}</a></p>'
    return [Section("Confirmation", notes=notes, html=summary_html(table) + links, anchor="confirmation")]


def _table_section(table: pd.DataFrame, study: StudyConfig) -> Section:
    columns = ["rank", TRIAL_ID, *study.search.space, "status", "epochs", BEST_EPOCH, *SHOWN_SCORES,
               last_column(METRIC), "pareto", "baseline"]
    columns = [column for column in columns if column in table]
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    scores = {BEST_EPOCH, *SHOWN_SCORES, last_column(METRIC)}
    rows = []
    for _, row in table.iterrows():
        scored = pd.notna(row["rank"])  # a collapsed trial's are the guard's stand-ins (9-10): never shown
        cells = "".join(f"<td>{html.escape(_format(row[column]) if scored or column not in scores else NO_SCORE)}</td>"
                        for column in columns)
        rows.append(f'<tr{" class=pareto" if row.get("pareto") else ""}>{cells}</tr>')
    body = (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            if rows else "<p>No trial has started yet.</p>")
    note = ("Scores are at each trial's best epoch (lowest objective); Pareto-front rows are shaded; "
            f"{NO_SCORE}: no score that counts (collapsed, diverged, failed, timed out, or none yet). "
            "The full table, with last scores and checkpoint paths, is results.csv: "
            "pandas.read_csv or vae_tune.analysis.load_results(EXPERIMENT_DIR) load it.")
    return Section("Results", notes=[note], html=body + '<p><a href="results.csv">results.csv</a></p>', anchor="results")


def _trial_sections(report: Report, study: StudyConfig, top: int) -> list[Section]:
    rendered = trials_to_render(report.table, top)
    baseline = report.baseline
    drawable = baseline is not None and pd.notna(baseline["rank"]) and pd.notna(baseline[BEST_CHECKPOINT])
    if drawable and baseline[TRIAL_ID] not in set(rendered[TRIAL_ID]):
        rendered = pd.concat([rendered, baseline.to_frame().T])  # drawn even when it is not among the best
    if rendered.empty:
        return []
    from vae_tune.analysis.held_out import held_out_data

    try:
        data = held_out_data(study)
    except (OSError, ValueError) as error:  # e.g. a folder study reported on another machine
        return [Section("Trials", warnings=[f"Cannot rebuild the study's held-out images, so no trial is drawn: {error}"])]
    from vae_tune.training.checkpoint import CheckpointError

    sections = []
    for _, row in rendered.iterrows():
        is_baseline = bool(row.get("baseline", False))
        title, anchor = plots.rank_label(row) + (" (baseline)" if is_baseline else ""), f"trial-{row[TRIAL_ID]}"
        try:
            pictures = render_trial(row, data, study, report.out)
        except CheckpointError as error:  # one damaged checkpoint should not cost the whole report
            sections.append(Section(title, warnings=[f"Cannot draw this trial: {error}"], anchor=anchor))
            continue
        reasons = [f"one of the best {top} by objective"] if row["rank"] <= top else []
        reasons += ["on the Pareto front"] if row["pareto"] else []
        reasons += ["the baseline: the tutorial's configuration"] if is_baseline else []
        why = " and ".join(reasons)
        notes = [f"{why[0].upper()}{why[1:]}. {_params(row, study.search.space)}. "
                 f"{row['status'].capitalize()} after {row['epochs']} epochs; "
                 f"drawn from epoch {row[BEST_EPOCH]} (objective {row[BEST_OBJECTIVE]:.4f}, blur "
                 f"{row[BEST_BLUR]:.4f}, roughness {row[BEST_ROUGHNESS]:.4f}).",
                 f"Checkpoint: {row[BEST_CHECKPOINT]}"]
        sections.append(Section(title, notes=notes, pictures=pictures, anchor=anchor))
    return sections


def render_trial(row: pd.Series, data, study: StudyConfig, out: Path) -> list[Picture]:
    """Draw one trial's pictures from its best checkpoint into out/trials/<trial_id>/.

    Wide grids first, then the narrow ones, which the page sets side by side.
    """
    from vae_tune.analysis import figures
    from vae_tune.training.checkpoint import load_model

    model, _ = load_model(row[BEST_CHECKPOINT])
    folder = Path(TRIALS) / str(row[TRIAL_ID])
    (out / folder).mkdir(parents=True, exist_ok=True)
    steps, size = study.probe.interpolation_steps, study.data.image_size
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
    if known(BEST_PSNR):
        psnr = f"val/psnr {row[BEST_PSNR]:.1f} dB"
        if known(MEAN_IMAGE_PSNR_COLUMN):
            psnr += f" (mean image {row[MEAN_IMAGE_PSNR_COLUMN]:.1f} dB)"
        if known(BEST_TRAIN_PSNR):
            psnr += f", train/psnr {row[BEST_TRAIN_PSNR]:.1f} dB"
        parts.append(psnr)
    if known(BEST_COLOUR_FIDELITY):
        parts.append(f"colour fidelity {row[BEST_COLOUR_FIDELITY]:.2f}")
    return "  ".join(parts)


def _params(row: pd.Series, names) -> str:
    return ", ".join(f"{name}={_format(row[name])}" for name in names if name in row)


def _format(value) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    if value is None or value is pd.NA:
        return ""
    return str(value)
