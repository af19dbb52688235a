"""What a study costs, measured side by side: `python -m benchmarks [--quick | --ci] [--out FILE]`.

Prints one line per figure (median of the repetitions, their spread, the
target) and writes every figure with what explains it to a JSON file:

1. trainable overhead: a trial's images/s in a real Tune run / a bare model.fit;
2. scoring share: scoring time / training time per epoch, at the default study's sizes;
3. compute efficiency: training FLOP/s / the machine's matmul FLOP/s, and training options;
4. search efficiency: trial-epochs the study's scheduler needs to get within 2% of an exhaustive run;
5. start-up: `vae-tune run smoke` to the first result, by phase;
6. concurrency: trials per hour with 1 and with 2 trials at a time.

Sizes: the default measures the local study's trials (3072 64px images) and
takes about 15 minutes on 2 shared cores; --quick about 6; --ci (tiny images,
one repetition) keeps the code working in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import concurrency, overhead, search, startup  # noqa: E402
from benchmarks.common import Figure, load_average, table  # noqa: E402
from benchmarks.tune_runs import benchmark_study  # noqa: E402

ITEMS = ("startup", "overhead", "options", "concurrency", "search")
# conftest.py's tiny study: 16px images, a handful of batches.
TINY = ["search.baseline=false", "data.image_size=16", "data.samples=96", "data.validation_fraction=0.25", "training.batch_size=16",
        "probe.images=16", "probe.pairs=3", "probe.interpolation_steps=4"]


@dataclass(frozen=True)
class Sizes:
    repeat: int  # alternated repetitions of each timed pair
    overhead: list[str]  # --set overrides of the local study for items 1-3
    overhead_epochs: int  # per run; the first (tracing) is not timed
    options: list[str]
    options_epochs: int
    threads_repeat: int  # two processes a side: the slowest item per repetition
    startup: list[str]  # of the smoke study
    startup_repeat: int
    concurrency: list[str]
    concurrency_repeat: int
    search: list[str]  # the local study's search space, grace period and reduction factor, shrunk


SIZES = {
    "full": Sizes(
        repeat=3,
        overhead=[], overhead_epochs=4,
        options=["data.samples=1024"], options_epochs=5, threads_repeat=2,
        startup=[], startup_repeat=2,
        concurrency=["data.samples=768", "training.epochs=3", "search.num_samples=4"], concurrency_repeat=2,
        search=[],  # the local study itself: fewer images make its early rungs a worse guide
    ),
    "quick": Sizes(
        repeat=2,
        overhead=["data.samples=1024"], overhead_epochs=4,
        options=["data.samples=512"], options_epochs=3, threads_repeat=1,
        startup=[], startup_repeat=1,
        concurrency=["data.samples=512", "training.epochs=2", "search.num_samples=4"], concurrency_repeat=1,
        search=["data.samples=256", "training.epochs=12", "search.num_samples=8"],
    ),
    "ci": Sizes(
        repeat=1,
        overhead=[*TINY], overhead_epochs=2,
        options=[*TINY], options_epochs=2, threads_repeat=1,
        startup=[*TINY, "search.num_samples=1", "training.epochs=1"], startup_repeat=1,
        concurrency=[*TINY, "training.epochs=1", "search.num_samples=2"], concurrency_repeat=1,
        search=[*TINY, "training.epochs=2", "search.num_samples=2", "search.grace_period=1"],
    ),
}


def run(size: str, items: tuple[str, ...], scratch: str) -> list[Figure]:
    import ray

    from vae_tune.data.dataset import load_dataset
    from vae_tune.tuning.session import start_local_ray

    sizes = SIZES[size]
    cores = len(os.sched_getaffinity(0))
    datasets: dict[str, object] = {}

    def data(study):  # each dataset generated once, outside every timing
        return datasets.setdefault(repr(study.data), load_dataset(study.data))

    def local(overrides, name, **changes):
        return benchmark_study("local", overrides, scratch, name, **changes)

    figures: list[Figure] = []
    started = time.perf_counter()

    def progress(item: str) -> None:  # the figures come at the end; say what is running meanwhile
        print(f"[{time.perf_counter() - started:6.0f} s] measuring {item} ...", flush=True)

    if "startup" in items:  # first: the command starts its own Ray
        progress("start-up (item 5)")
        figures += startup.measure("smoke", sizes.startup, scratch, sizes.startup_repeat)
    start_local_ray(num_cpus=cores)
    try:
        one_trial = {"search": {"space": {}, "num_samples": 1, "scheduler": "fifo"}}  # the study's fixed model
        if "overhead" in items:
            progress("trainable overhead and scoring share (items 1-3)")
            study = local([*sizes.overhead, f"training.epochs={sizes.overhead_epochs}"], "overhead", **one_trial)
            figures += overhead.measure(study, data(study), sizes.repeat)
        if "options" in items:
            progress("training options (item 3)")
            study = local([*sizes.options, f"training.epochs={sizes.options_epochs}"], "options", **one_trial)
            figures += overhead.measure_options(study, ("xla", "batch64", "arrays"))
            figures += overhead.measure_threads(study, cores, sizes.threads_repeat)
        if "concurrency" in items:
            progress("concurrency (item 6)")
            study = local(sizes.concurrency, "concurrency", search={"scheduler": "fifo"})
            figures += concurrency.measure(study, data(study), cores, sizes.concurrency_repeat)
        if "search" in items:
            progress("search efficiency (item 4): the study, then the trials it stopped to the end")
            study = local(sizes.search, "search")
            figures += search.measure(study, data(study))
    finally:
        ray.shutdown()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", dest="size", action="store_const", const="quick", help="smaller studies, 2 repetitions")
    group.add_argument("--ci", dest="size", action="store_const", const="ci", help="tiny sizes, one repetition")
    parser.add_argument("--only", default=",".join(ITEMS), help=f"comma-separated subset of {','.join(ITEMS)}")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results.json")
    args = parser.parse_args(argv)
    size = args.size or "full"
    items = tuple(item.strip() for item in args.only.split(","))
    unknown = sorted(set(items) - set(ITEMS))
    if unknown:
        parser.error(f"--only: unknown item {unknown[0]!r}; choose from {', '.join(ITEMS)}")

    started, load_before = time.perf_counter(), load_average()
    with tempfile.TemporaryDirectory(prefix="vae-tune-bench-") as scratch:
        figures = run(size, items, scratch)
    seconds = time.perf_counter() - started
    machine = {"cores": len(os.sched_getaffinity(0)), "processor": platform.processor() or platform.machine(),
               "load_average_before": load_before, "load_average_after": load_average()}
    print(table(figures))
    print(f"\n{size} run, {seconds / 60:.1f} min; load average (1, 5, 15 min) {load_before} before, "
          f"{machine['load_average_after']} after, on {machine['cores']} cores")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "size": size, "seconds": seconds, "machine": machine,
        "figures": {figure.key: figure.as_dict() for figure in figures},
    }, indent=2, default=float))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
