"""Any image file as uint8 [size, size, 3] on white, one at a time or in parallel into an array file.

Real folders hold every kind of file: grayscale, palette, transparent, CMYK
and 16-bit images are converted rather than dropped; EXIF orientation is
applied; the aspect ratio is kept by padding with white (the catalogue
background) to a square. Files that cannot be decoded (truncated, empty, not
images) come back as failures for the caller to count and name.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import sys
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
WHITE = (255, 255, 255)
# Everything that shapes the pixels; part of the cache key, so changing any of it makes a new cache.
PREPROCESSING = {"version": 2, "pad": "white square", "alpha": "composited on white",
                 "filter": "lanczos", "jpeg_draft": "2x target", "sixteen_bit": "scaled to 8"}
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_FILES_PER_HELPER = 256


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """One file as uint8 [size, size, 3]: oriented, RGB on white, fitted into a white square.

    Raises whatever PIL raises for a file it cannot read; `decode_many` counts those.
    """
    with Image.open(path) as image:  # a GIF or animated WebP opens on its first frame
        if image.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale while that still leaves 2x the
            # target: a 1800x2400 catalogue photo then decodes ~16x faster, and LANCZOS
            # does the final step, so quality is unchanged.
            scale = 2 * size / max(image.size)
            if scale < 1:
                image.draft(image.mode, (math.ceil(image.width * scale), math.ceil(image.height * scale)))
        image.load()  # a truncated file fails here, not later
        image = ImageOps.exif_transpose(image)
        # Pad rather than stretch: the Kaggle photos are 3:4 portraits and stretching distorts every product.
        # (An image over about 2 * size times wider than high shrinks to no rows at all, and counts as unreadable.)
        square = ImageOps.pad(_to_rgb(image), (size, size), method=Image.Resampling.LANCZOS, color=WHITE)
        return np.asarray(square, dtype=np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES:
        # PIL's convert clips 16-bit values at 255 (a white image); scale the range instead.
        values = np.asarray(image).astype(np.float64)
        if image.mode != "I" or values.max() > 255:
            values = values / 257.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        # Transparent product cut-outs belong on the catalogue's white background, not black.
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE + (255,)), rgba).convert("RGB")
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count(requested: int, files: int) -> int:
    """`requested` processes, or for 0 one per available core, but fewer for a few hundred files:
    a helper process costs ~0.3 s to start, worth it only with enough files to share."""
    if not requested:
        requested = min(available_cores(), 1 + files // _FILES_PER_HELPER)
    return max(1, min(requested, files))


def decode_many(
    paths: Sequence[str], size: int, out_file: Path, workers: int, label: str = "decoding"
) -> dict[int, str]:
    """Decode `paths` into the raw uint8 file `out_file` (row i = paths[i]); return {index: reason} of failures.

    The file must already exist with len(paths) rows. The chunks are shared by
    this process and `worker_count(workers) - 1` helper processes, which write
    their rows into the file directly, so decoded pixels never travel through a
    pipe. This process decoding too means no core waits while the helpers
    start. Rows of failed files are left as they are.
    """
    workers = worker_count(workers, len(paths))
    # Chunks small enough to balance the cores and move the progress bar, big enough to amortise a task.
    chunk = max(1, min(64, len(paths) // (workers * 8)))
    tasks = collections.deque((out_file, len(paths), size, start, list(paths[start : start + chunk]))
                              for start in range(0, len(paths), chunk))
    failures: dict[int, str] = {}
    with _progress(len(paths), label) as bar, _helpers(workers - 1) as pool:
        in_flight: dict = {}

        def collect(timeout: float | None) -> None:
            done, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                failures.update(future.result())
                bar.update(in_flight.pop(future))
            # Three chunks queued per helper keep it busy while this process decodes one of its own.
            while pool is not None and len(in_flight) < 3 * (workers - 1) and tasks:
                task = tasks.popleft()
                in_flight[pool.submit(_decode_chunk, task)] = len(task[4])

        collect(timeout=0)
        while tasks:
            task = tasks.pop()  # from the far end: this process and the helpers meet in the middle
            failures.update(_decode_chunk(task))
            bar.update(len(task[4]))
            collect(timeout=0)
        while in_flight:
            collect(timeout=None)
    return failures


@contextlib.contextmanager
def _helpers(count: int):
    if count < 1:
        yield None
        return
    # spawn, not fork: the driver may already run Ray's threads, and forking a threaded process can deadlock.
    pool = ProcessPoolExecutor(count, mp_context=get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C, queued chunks are dropped, not decoded


def _decode_chunk(task) -> dict[int, str]:
    out_file, count, size, start, paths = task
    rows = np.memmap(out_file, dtype=np.uint8, mode="r+", shape=(count, size, size, 3))
    failures = {}
    for offset, path in enumerate(paths):
        try:
            rows[start + offset] = decode_image(path, size)
        except Exception as error:  # noqa: BLE001 - PIL's plugins raise many types on malformed files
            failures[start + offset] = f"{type(error).__name__}: {error}"
    del rows  # unmapped, not flushed: the pages are shared, and the cache syncs the file once at the end
    return failures


def _progress(total: int, label: str):
    from tqdm import tqdm

    # disable=None: a bar on a terminal, nothing in a log file or under pytest.
    return tqdm(total=total, desc=f"vae-tune: {label}", unit="img", file=sys.stderr, disable=None, smoothing=0.1)
