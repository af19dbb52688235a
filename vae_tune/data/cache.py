"""Decoded images on disk, built once per node and memory-mapped by every later load.

A cache directory, `<cache_dir>/<source>-<size>px-<key>/`, holds

    images.u8      raw uint8 [N, size, size, 3], the usable images in listing order
    ids.json       the N identities (Kaggle id or relative path), row by row
    manifest.json  what went in (source, root, file count, size, preprocessing),
                   what came out (shape, seconds), and every file that was skipped and why

The key hashes the source, its root, every file's relative path, size and
mtime, the image size and the preprocessing settings: a change to any of them
makes a new cache. A build happens in a `.partial-*` directory renamed into
place only when complete, so an interrupted build never looks like a cache.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np

from vae_tune.config import DataError
from vae_tune.data.decode import PREPROCESSING, decode_many
from vae_tune.log import logger

CACHE_FORMAT = 1
_NAMED_SKIPS = 5  # skipped files named in the warning; the manifest names them all


@dataclasses.dataclass(frozen=True)
class Listing:
    """The image files a source offers, before decoding: one identity, path and label each."""

    source: str  # "folder" or "kaggle"
    root: Path
    ids: tuple[str, ...]  # stable identity: the split hashes it
    paths: tuple[str, ...]
    labels: tuple[str, ...]
    notes: dict = dataclasses.field(default_factory=dict)  # what the source skipped, for the manifest

    def subset(self, keep) -> Listing:
        pick = lambda values: tuple(values[i] for i in keep)  # noqa: E731
        return dataclasses.replace(self, ids=pick(self.ids), paths=pick(self.paths), labels=pick(self.labels))


@dataclasses.dataclass(frozen=True)
class Decoded:
    images: np.ndarray  # uint8 [N, size, size, 3], memory-mapped read-only
    ids: tuple[str, ...]
    directory: Path  # the cache directory
    manifest: dict  # manifest.json


def cache_key(listing: Listing, size: int) -> str:
    files = hashlib.sha256()
    for path in listing.paths:
        stat = os.stat(path)
        files.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    inputs = {"format": CACHE_FORMAT, "source": listing.source, "root": str(listing.root), "size": size,
              "preprocessing": PREPROCESSING, "files": files.hexdigest()}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]


def load_decoded(listing: Listing, size: int, cache_dir: str | Path, workers: int = 0) -> Decoded:
    """The listing's images from the cache, decoding them into it first if they are not there."""
    root = Path(cache_dir).expanduser().resolve()
    directory = root / f"{listing.source}-{size}px-{cache_key(listing, size)}"
    decoded = _open(directory) if directory.is_dir() else None
    if decoded is None:
        decoded = _build(listing, size, directory, workers)
    _warn_skipped(decoded, listing.root)
    return decoded


def _open(directory: Path) -> Decoded | None:
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
        ids = tuple(json.loads((directory / "ids.json").read_text()))
        shape = tuple(manifest["shape"])
        data = directory / "images.u8"
        if len(ids) != shape[0] or data.stat().st_size != int(np.prod(shape)):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # damaged by hand or by a full disk: rebuild rather than train on it
    images = np.memmap(data, dtype=np.uint8, mode="r", shape=shape) if shape[0] else np.zeros(shape, np.uint8)
    return Decoded(images, ids, directory, manifest)


def _build(listing: Listing, size: int, directory: Path, workers: int) -> Decoded:
    partial = directory.with_name(f"{directory.name}.partial-{socket.gethostname()}-{os.getpid()}")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_builds(directory)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
    except OSError as error:
        raise DataError(f"data.cache_dir: cannot write to {directory.parent}: {error.strerror}") from None
    try:
        started = time.monotonic()
        data = partial / "images.u8"
        count = len(listing.paths)
        _allocate(data, count * size * size * 3)
        failures = decode_many(listing.paths, size, data, workers, label=f"decoding {listing.root.name}")
        kept = [i for i in range(count) if i not in failures]
        _compact(data, count, size, kept)
        manifest = {
            "source": listing.source,
            "root": str(listing.root),
            "files": count,
            "image_size": size,
            "preprocessing": PREPROCESSING,
            "shape": [len(kept), size, size, 3],
            "seconds": round(time.monotonic() - started, 2),
            "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source_notes": listing.notes,
            "skipped": {"count": len(failures),
                        "files": [{"path": listing.paths[i], "reason": reason} for i, reason in sorted(failures.items())]},
        }
        (partial / "ids.json").write_text(json.dumps([listing.ids[i] for i in kept]))
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2))
        for name in ("images.u8", "ids.json", "manifest.json"):
            with open(partial / name, "rb+") as handle:
                os.fsync(handle.fileno())  # on disk before the rename makes the cache visible
        try:
            partial.rename(directory)
        except OSError:  # another process finished the same cache first: use theirs
            if not directory.is_dir():
                raise
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    decoded = _open(directory)
    if decoded is None:
        raise OSError(f"data.cache_dir: the cache just built at {directory} cannot be read back")
    return decoded


def _allocate(data: Path, size: int) -> None:
    """Reserve the file's blocks now: a full disk is then an error here, not a crash (SIGBUS) mid-decode."""
    with open(data, "wb") as handle:
        handle.truncate(size)
        if size and hasattr(os, "posix_fallocate"):  # not on macOS: the file stays sparse there
            try:
                os.posix_fallocate(handle.fileno(), 0, size)
            except OSError as error:
                if error.errno == errno.ENOSPC:
                    raise DataError(f"data.cache_dir: no room for {size / 2**20:.0f} MiB of images in "
                                    f"{data.parent.parent}") from None
                # Any other refusal (a filesystem without fallocate): the sparse file still works.


def _compact(data: Path, count: int, size: int, kept: list[int]) -> None:
    """Close the gaps failed files left, in place (rows only move down), and cut the file to length."""
    row = size * size * 3
    if len(kept) < count:
        rows = np.memmap(data, dtype=np.uint8, mode="r+", shape=(count, row))
        for target, source in enumerate(kept):
            if target != source:
                rows[target] = rows[source]
        del rows
    os.truncate(data, len(kept) * row)


def _remove_abandoned_builds(directory: Path) -> None:
    """Delete partial builds of this cache whose process on this host is gone (killed, power cut)."""
    prefix = f"{directory.name}.partial-{socket.gethostname()}-"
    for partial in directory.parent.glob(f"{prefix}*"):
        pid = partial.name[len(prefix):]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    return True


def _warn_skipped(decoded: Decoded, root: Path) -> None:
    skipped = decoded.manifest["skipped"]
    if skipped["count"]:
        named = "; ".join(f"{entry['path']} ({entry['reason']})" for entry in skipped["files"][:_NAMED_SKIPS])
        logger.warning(
            f"skipped {skipped['count']} unreadable file(s) in {root}: {named}"
            f"{' ...' if skipped['count'] > _NAMED_SKIPS else ''} (all listed in {decoded.directory / 'manifest.json'})"
        )
