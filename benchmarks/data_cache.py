"""Cold cache build against a single-threaded PIL loop, and warm cache load against cold build.

    python -m benchmarks.data_cache                      # a generated folder of catalogue JPEGs
    python -m benchmarks.data_cache --folder PATH        # your own folder of JPEGs

All are measured side by side in one run on the same files, after one untimed
read of every file so that each starts from the same page cache; each figure
is the median of --repeat runs:

1. a single-threaded loop of PIL decode + LANCZOS resize, the tutorial's way;
2. the same loop over vae-tune's own `decode_image` (JPEG draft decoding,
   padding, EXIF, modes): the cache build's work on one core, which separates
   what the decoder saves from what the cores add;
3. a cold build of the cache (`load_dataset` on an empty cache_dir): parallel
   decode across the available cores, written to disk;
4. a warm load (`load_dataset` again): what a study pays before its trials get
   their images, including listing and stat-ing every file for the cache key
   and copying every pixel into memory once (as `ray.put` does).

It also prints this machine's ceiling for any parallel decode: how much more
work N copies of loop 2 do side by side than one copy alone, N the workers.
Shared or hyper-threaded cores give well under N.

Targets (issue 3): build >= 1.6x the loop on 2 cores; warm load >= 50x faster than the cold build.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from vae_tune.config import DataConfig
from vae_tune.data.dataset import load_dataset
from vae_tune.data.decode import available_cores, decode_image, worker_count


def generate_folder(directory: Path, count: int, width: int, height: int) -> list[Path]:
    """Catalogue-like portrait JPEGs: synthetic products on white, padded to the Kaggle 3:4 shape."""
    from vae_tune.data.synthetic import generate_catalogue

    images, _ = generate_catalogue(min(count, 256), 256, seed=0)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        portrait = Image.new("RGB", (192, 256), (255, 255, 255))
        portrait.paste(Image.fromarray(images[i % len(images)]).resize((192, 192)), (0, 32))
        path = directory / f"{i:05d}.jpg"
        portrait.resize((width, height), Image.Resampling.BICUBIC).save(path, quality=90)
        paths.append(path)
    return paths


def single_threaded_loop(paths: list[Path], size: int) -> np.ndarray:
    """What a training script does without a cache: open, convert, resize, one file after another."""
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.Resampling.LANCZOS))
                     for p in paths])


def decode_loop(paths: list[Path], size: int) -> float:
    started = time.perf_counter()
    for path in paths:
        decode_image(path, size)
    return time.perf_counter() - started


def parallel_ceiling(paths: list[Path], size: int, copies: int, repeat: int) -> float:
    """Work done per second by `copies` loops side by side over one loop alone, in warm worker processes."""
    if copies < 2:
        return 1.0
    with ProcessPoolExecutor(copies, mp_context=get_context("spawn")) as pool:
        list(pool.map(decode_loop, [paths[:8]] * copies, [size] * copies))  # start every worker first
        alone = median_seconds(lambda: pool.submit(decode_loop, paths, size).result(), repeat)
        together = median_seconds(lambda: list(pool.map(decode_loop, [paths] * copies, [size] * copies)), repeat)
    return copies * alone / together


def median_seconds(function, repeat: int, before=lambda: None) -> float:
    seconds = []
    for _ in range(repeat):
        before()
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, help="a folder of JPEGs (default: generate one in a temporary directory)")
    parser.add_argument("--images", type=int, default=800, help="how many JPEGs to generate (default 800)")
    parser.add_argument("--source-size", default="600x800", help="generated JPEG size WxH (default 600x800)")
    parser.add_argument("--size", type=int, default=64, help="image_size to decode to (default 64)")
    parser.add_argument("--workers", type=int, default=0, help="decoding processes; 0: one per available core")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is printed (default 3)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vae-tune-bench-") as scratch:
        folder = args.folder
        if folder is None:
            width, height = (int(v) for v in args.source_size.split("x"))
            folder = Path(scratch) / "photos"
            generate_folder(folder, args.images, width, height)
        paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
        for path in paths:  # one untimed read: every measurement starts from the same page cache
            path.read_bytes()
        cache_dir = Path(scratch) / "cache"
        config = DataConfig(source="folder", path=str(folder), image_size=args.size, samples=len(paths),
                            cache_dir=str(cache_dir), workers=args.workers)
        width, height = Image.open(paths[0]).size
        workers = worker_count(args.workers, len(paths))
        print(f"{len(paths)} JPEGs in {folder} ({width}x{height}), decoded to {args.size}x{args.size}; "
              f"{workers} worker(s) on {available_cores()} available core(s); "
              f"median of {args.repeat} runs")

        loop = median_seconds(lambda: single_threaded_loop(paths, args.size), args.repeat)
        own_loop = median_seconds(lambda: decode_loop(paths, args.size), args.repeat)
        cold = median_seconds(lambda: load_dataset(config), args.repeat, before=lambda: shutil.rmtree(cache_dir, True))
        warm = median_seconds(lambda: np.array(load_dataset(config).images), max(5, args.repeat))
        ceiling = parallel_ceiling(paths[: len(paths) // 2], args.size, workers, args.repeat)

    rate = lambda seconds: f"{len(paths) / seconds:8.0f} images/s  ({seconds:.3f} s)"  # noqa: E731
    print(f"single-threaded PIL loop          {rate(loop)}")
    print(f"single-threaded decode_image loop {rate(own_loop)}")
    print(f"cold cache build                  {rate(cold)}")
    print(f"warm cache load                   {rate(warm)}")
    print(f"cold build / single-threaded PIL loop:    {loop / cold:6.2f}x  (target >= 1.6x on 2 cores)")
    print(f"cold build / single-threaded decode_image: {own_loop / cold:5.2f}x  (the cores alone; "
          f"this machine's ceiling: {ceiling:.2f}x)")
    print(f"warm load vs cold build:                  {cold / warm:6.0f}x faster  (target >= 50x)")


if __name__ == "__main__":
    main()
