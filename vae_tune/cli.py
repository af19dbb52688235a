"""`vae-tune run | resume | show | report | confirm | replay | interpolate | score`: parse arguments, call the library, print what happened.

The commands import TensorFlow and Ray when they run, not at the top: `vae-tune show` and a mistyped
study answer in a second.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from vae_tune.analysis.confirmation import CONFIGURATIONS_RETRAINED, DEFAULT_SEEDS, ConfirmError, format_summary
from vae_tune.analysis.page import TRIALS_SHOWN
from vae_tune.baseline import baseline_plan, contains
from vae_tune.config import (
    POPULATION_SCHEDULERS,
    WHOLE_NODE,
    ConfigError,
    StudyConfig,
    available_studies,
    format_params,
    image_count,
    load_study,
)
from vae_tune.experiment import load_study_config, storage_root
from vae_tune.imaging import UnreadableImage
from vae_tune.log import show_on_console
from vae_tune.training.checkpoint import CheckpointError
from vae_tune.tuning.resources import ClusterError

DEFAULT_STUDY = "local"


def _add_study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", nargs="?", default=DEFAULT_STUDY,
                        help=f"a study name ({', '.join(available_studies())}) or a .toml file; default {DEFAULT_STUDY}")
    parser.add_argument("--data", metavar="PATH",
                        help="train on this folder of images (or Kaggle dataset, if it has styles.csv) instead of the study's data")
    parser.add_argument("--samples", type=int, metavar="N", help="number of trials (search.num_samples)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a study value, e.g. --set training.epochs=3 (repeatable)")


def resolve_study(args: argparse.Namespace) -> StudyConfig:
    overrides = list(args.overrides)
    if args.data:
        path = Path(args.data).expanduser().resolve()
        source = "kaggle" if (path / "styles.csv").is_file() else "folder"
        overrides += [f"data.source={source}", f"data.path={json.dumps(str(path))}"]
    if args.samples is not None:
        overrides.append(f"search.num_samples={args.samples}")
    return load_study(args.study, overrides)


def describe_study(study: StudyConfig) -> str:
    """The resolved study as a person reads it: what is searched, the budget, resources, storage."""
    lines = [f"study {study.name}: {study.description}".rstrip(": ")]
    data = study.data
    where = f" from {data.path}" if data.source != "synthetic" else ""
    where += f" filtered by {data.filters}" if data.filters else ""
    lines.append(f"  data       {data.source}{where}, {image_count(data)} at {data.image_size}x{data.image_size}, "
                 f"{data.validation_fraction:.0%} held out (seed {data.seed})")
    lines.append("  search")
    fixed = {**dataclass_fields(study.model), **dataclass_fields(study.training)}
    for name, parameter in study.search.space.items():
        if parameter.values:
            lines.append(f"    {name:<14} {parameter.distribution} of {list(parameter.values)}")
        else:
            lines.append(f"    {name:<14} {parameter.distribution} [{parameter.low:g}, {parameter.high:g}]")
    lines.append("  fixed      " + ", ".join(f"{k}={v}" for k, v in fixed.items()
                                              if k not in study.search.space and k != "image_size"))
    search = study.search
    plan = baseline_plan(study)
    budget = (f"{search.num_samples} trials x up to {study.training.epochs} epochs"
              + (" + 1 baseline trial" if plan.point is not None else "")
              + f", {search.algorithm} search, {search.scheduler} scheduler")
    lines.append(f"  budget     {budget}")
    if search.scheduler in POPULATION_SCHEDULERS:
        pbt = study.pbt
        first = max(pbt.perturbation_interval, pbt.burn_in)
        names = ", ".join(pbt.mutate)
        # PBT perturbs the donor's values at random; PB2 picks them from a Gaussian-process bandit instead.
        change = (f"mutate {names} (resampled with probability {pbt.resample_probability:g})" if search.scheduler == "pbt"
                  else f"take new {names} chosen by PB2's Gaussian process within the searched ranges")
        lines.append(f"  {search.scheduler:<10} every {pbt.perturbation_interval} epochs from epoch {first}, the worst "
                     f"{pbt.quantile_fraction:.0%} copy the best {pbt.quantile_fraction:.0%} and {change}")
    lines.append(f"  baseline   {describe_baseline(study, plan)}")
    objective = study.objective
    goal = (f"blur + {objective.roughness_weight:g} * roughness" if objective.kind == "scalar"
            else "pareto front of val/blur and val/roughness")
    probe = study.probe
    lines.append(f"  objective  {goal} ({probe.images} probe images, {probe.pairs} same-category "
                 f"+ {probe.cross_pairs} cross-category pairs x {probe.interpolation_steps} steps)")
    resources = study.resources
    gpus = resources.gpus_per_trial
    gpus = "every GPU of a node" if gpus == WHOLE_NODE else f"{gpus:g} GPU"
    lines.append(f"  resources  {resources.cpus_per_trial:g} CPU, {gpus} per trial; "
                 f"precision {study.training.precision}, all-reduce {resources.all_reduce}")
    lines.append(f"  storage    {storage_root(study)}/{study.name}_<timestamp>")
    return "\n".join(lines)


def describe_baseline(study: StudyConfig, plan) -> str:
    """The baseline trial's params, and what it takes from the study rather than the tutorial."""
    if not study.search.baseline:
        return "none (search.baseline = false)"
    if plan.point is None:
        return "none: " + "; ".join(plan.notes)
    text = f"the tutorial's configuration as one more trial: {format_params(plan.point)}"
    outside = [name for name, value in plan.point.items() if not contains(study.search.space[name], value)]
    if outside:
        text += " (" + ", ".join(f"{name} outside the searched {study.search.space[name].describe()}" for name in outside) + ")"
    fixed = {name: study.fixed_value(name) for name in ("latent_dim", "learning_rate", "kl_weight", "chroma_weight")
             if name not in study.search.space}
    if fixed:
        text += f"; the study's fixed {format_params(fixed)}"
    return text


def dataclass_fields(instance) -> dict:
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}


def load_tensorflow(args: argparse.Namespace) -> None:
    """TensorFlow loaded before a command's modules import it, its harmless start-up lines dropped
    (vae_tune.training.quiet); `--verbose` shows them."""
    if not getattr(args, "verbose", False):
        from vae_tune.training.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()


def command_confirm(args: argparse.Namespace) -> int:
    load_tensorflow(args)
    from vae_tune.confirm import confirm_study

    outcome = confirm_study(args.experiment_dir, top=args.top, seeds=args.seeds, address=args.address,
                            verbose=args.verbose)
    return print_retraining(outcome, format_summary(outcome.table, outcome.epochs) if outcome.table is not None else "",
                            report=f"vae-tune report {outcome.experiment}  (adds a Confirmation section)")


def print_retraining(outcome, summary: str, report: str = "") -> int:
    """What confirm or replay --seeds printed at the end: the summary and where the files are, or how to run it again."""
    retraining = outcome.retraining
    if outcome.interrupted:
        print(f"\nvae-tune: {retraining.command} stopped before every run ended; {retraining.table} was not written. "
              f"The runs so far are in {outcome.runs}. {retraining.command} does not resume: run it again with\n"
              f"  {outcome.rerun_command}", flush=True)
        return 130
    print("\n" + summary)
    print(f"runs           {outcome.runs}")
    print(f"per seed       {outcome.experiment}/{retraining.table}")
    print(f"summary        {outcome.experiment}/{retraining.summary}")
    if report:
        print(f"report         {report}")
    return 0


def command_replay(args: argparse.Namespace) -> int:
    """Without --seeds: retrain a PBT study's winning schedule from scratch with its seed, in this process, and
    print its scores beside the winner's. With --seeds N: the schedule against its last values held constant and
    the baseline, N new seeds each, as confirm does."""
    load_tensorflow(args)
    if args.seeds is not None:
        from vae_tune.analysis.confirmation import BASELINE, CONSTANT
        from vae_tune.confirm import replay_study

        outcome = replay_study(args.experiment_dir, seeds=args.seeds, address=args.address, verbose=args.verbose)
        summary = (format_summary(outcome.table, outcome.epochs, command="replay", against=(CONSTANT, BASELINE),
                                  by_seed=True) if outcome.table is not None else "")
        return print_retraining(outcome, summary)

    from vae_tune.analysis.schedule import REPLAYED_SCORES, read_schedule
    from vae_tune.data.dataset import load_dataset
    from vae_tune.lineage import describe
    from vae_tune.names import BEST_EPOCH, LINEAGE, TRIAL_ID
    from vae_tune.training.replay import replay_schedule

    experiment = Path(args.experiment_dir).expanduser()
    study, schedule = load_study_config(experiment), read_schedule(experiment)
    seed = schedule["training"]["seed"]

    def line(label: str, scores: dict) -> str:
        return f"{label:<22}" + "  ".join(f"{name}={scores[name]:.4f}" for name in REPLAYED_SCORES if name in scores)

    print(f"schedule of {schedule[TRIAL_ID]} to epoch {schedule[BEST_EPOCH]}: {describe(schedule[LINEAGE])}", flush=True)
    print(line("winner", schedule.get("scores", {})), flush=True)
    last = replay_schedule(study, schedule, load_dataset(study.data), seed=seed)[-1]
    print(line(f"replay, seed {seed}", last), flush=True)
    return 0


def command_show(args: argparse.Namespace) -> int:
    print(describe_study(resolve_study(args)))
    return 0


def command_run(args: argparse.Namespace) -> int:
    study = resolve_study(args)  # every config error stops here, before Ray starts
    print(describe_study(study), flush=True)
    load_tensorflow(args)
    from vae_tune.tuning.session import run_study

    return finish(run_study(study, address=args.address, verbose=args.verbose))


def command_resume(args: argparse.Namespace) -> int:
    load_tensorflow(args)
    from vae_tune.tuning.session import resume_study

    retry = False if args.no_retry else None
    return finish(resume_study(args.experiment_dir, address=args.address, retry_errored=retry, verbose=args.verbose))


def finish(outcome) -> int:
    """Report on a study that ended, or say how to resume one that was stopped."""
    from vae_tune.analysis.report import write_report

    if outcome.interrupted:
        print(f"\nvae-tune: stopped; the study's state is saved. Resume with:\n  {outcome.resume_command}", flush=True)
        return 130
    print(write_report(outcome.experiment).summary())  # a path, or a storage URI read through a local mirror
    return 0


def command_report(args: argparse.Namespace) -> int:
    load_tensorflow(args)  # the report draws the best trials with their models
    from vae_tune.analysis.report import write_report

    report = write_report(args.experiment_dir, out=Path(args.out) if args.out else None, top=args.top)
    print(report.summary())
    return 0


def command_interpolate(args: argparse.Namespace) -> int:
    load_tensorflow(args)
    from vae_tune.analysis.figures import save_gif
    from vae_tune.analysis.photos import describe_checkpoint, morph_photos, resolve_checkpoint, save_strip
    from vae_tune.training.checkpoint import read_state

    checkpoint = resolve_checkpoint(args.checkpoint)
    frames = morph_photos(checkpoint, args.source_image, args.target_image, steps=args.steps)
    print(f"model {describe_checkpoint(checkpoint, read_state(checkpoint))}")
    out = Path(args.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_strip(frames, out)
    print(f"wrote {out} (source, {args.steps + 1} decoded steps, target)")
    if args.gif:
        save_gif(frames, out.with_suffix(".gif"))
        print(f"wrote {out.with_suffix('.gif')}")
    return 0


def command_score(args: argparse.Namespace) -> int:
    load_tensorflow(args)
    from vae_tune.analysis.photo_pairs import score_pairs

    scored = score_pairs(args.checkpoint, args.pairs)
    print(scored.summary())
    if args.out:
        out = Path(args.out).expanduser()
        out.parent.mkdir(parents=True, exist_ok=True)
        scored.grid().save(out)
        print(f"wrote {out} ({len(scored.pairs.names)} rows: source, {scored.interpolation_steps + 1} decoded steps, target)")
    return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vae-tune", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a study with Ray Tune")
    _add_study_arguments(run)
    run.add_argument("--address", help="Ray cluster to run on (auto: the one on this node; host:port); "
                                       "default: $RAY_ADDRESS, else start a local Ray")
    run.add_argument("--verbose", action="store_true", help="also show the trial processes' own output")
    run.set_defaults(handler=command_run)
    resume = commands.add_parser("resume", help="continue an interrupted study from its saved state")
    resume.add_argument("experiment_dir", help="the experiment directory a run printed")
    resume.add_argument("--address", help="Ray cluster to run on (auto: the one on this node; host:port); "
                                          "default: $RAY_ADDRESS, else start a local Ray")
    resume.add_argument("--no-retry", action="store_true", help="leave trials that failed for good as they are")
    resume.add_argument("--verbose", action="store_true", help="also show the trial processes' own output")
    resume.set_defaults(handler=command_resume)
    show = commands.add_parser("show", help="print the resolved study without running it")
    _add_study_arguments(show)
    show.set_defaults(handler=command_show)
    report = commands.add_parser("report", help="write the results table and grids of an experiment")
    report.add_argument("experiment_dir", help="the experiment directory a run printed")
    report.add_argument("--out", help="where to write the report (default: EXPERIMENT_DIR/report)")
    report.add_argument("--top", type=positive_int, default=TRIALS_SHOWN, metavar="K",
                        help=f"draw the best K trials (and every Pareto-front trial); default {TRIALS_SHOWN}")
    report.set_defaults(handler=command_report)
    confirm = commands.add_parser("confirm", help="retrain the best configurations and the baseline with new seeds")
    confirm.add_argument("experiment_dir", help="the experiment directory a run printed")
    confirm.add_argument("--top", type=positive_int, default=CONFIGURATIONS_RETRAINED, metavar="K",
                         help=f"retrain the best K configurations (by best objective); default {CONFIGURATIONS_RETRAINED}")
    confirm.add_argument("--seeds", type=positive_int, default=DEFAULT_SEEDS, metavar="N",
                         help=f"new training seeds per configuration; default {DEFAULT_SEEDS}")
    confirm.add_argument("--address", help="Ray cluster to run on (auto: the one on this node; host:port); "
                                           "default: $RAY_ADDRESS, else start a local Ray")
    confirm.add_argument("--verbose", action="store_true", help="also show the trial processes' own output")
    confirm.set_defaults(handler=command_confirm)
    replay = commands.add_parser("replay", help="retrain a PBT study's winning schedule from scratch and compare its scores")
    replay.add_argument("experiment_dir", help="the experiment directory of a PBT study, with its report written (schedule.json)")
    replay.add_argument("--seeds", type=positive_int, metavar="N",
                        help="compare the schedule with its last values held constant and with the baseline, "
                             "N new seeds each, as confirm does (default: replay once, with the winner's seed)")
    replay.add_argument("--address", help="with --seeds: Ray cluster to run on (auto: the one on this node; host:port); "
                                          "default: $RAY_ADDRESS, else start a local Ray")
    replay.add_argument("--verbose", action="store_true", help="with --seeds: also show the trial processes' own output")
    replay.set_defaults(handler=command_replay)
    interpolate = commands.add_parser("interpolate", help="morph between two of your own photos with a trained model")
    interpolate.add_argument("checkpoint", help="a checkpoint directory (or a trial or experiment directory: its best)")
    interpolate.add_argument("source_image")
    interpolate.add_argument("target_image")
    interpolate.add_argument("--steps", type=positive_int, default=8, metavar="N", help="interpolation steps; default 8")
    interpolate.add_argument("--out", default="interpolation.png", metavar="FILE", help="PNG strip to write")
    interpolate.add_argument("--gif", action="store_true", help="also write an animated GIF beside it")
    interpolate.set_defaults(handler=command_interpolate)
    score = commands.add_parser("score", help="score a trained model on source/target photo pairs it never saw")
    score.add_argument("checkpoint", help="a checkpoint directory (or a trial or experiment directory: its best)")
    score.add_argument("--pairs", required=True, metavar="DIR",
                       help="a folder with source/ and target/ holding photos with matching file names")
    score.add_argument("--out", metavar="FILE", help="also write the pairs' interpolation grid to this PNG")
    score.set_defaults(handler=command_score)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    show_on_console()
    try:
        return args.handler(args)
    except (ConfigError, ClusterError, CheckpointError, FileNotFoundError, UnreadableImage, ConfirmError) as error:
        print(f"vae-tune: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vae-tune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
