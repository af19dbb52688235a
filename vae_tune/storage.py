"""Experiments on remote storage (s3://, gs://, file://) read through a local mirror.

Ray writes a study to its `storage_path`, which may be a bucket. Analysis
reads plain files, so a remote experiment is copied into a cache directory:
the small files a results table needs at once, and a checkpoint's weights only
when a model is loaded from it (a study's weights can run to gigabytes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

# Written in a mirror's root: the URI it mirrors, so weights can be fetched later.
SOURCE_FILE = ".vae_tune_source"
# Everything `load_results` reads; a trial's weights and TensorBoard events are left behind.
TABLE_FILES = {"study.json", "params.json", "result.json", "trial.json", "error.txt"}
TABLE_FILE_PREFIXES = ("experiment_state-",)  # Ray's snapshots of every trial's status
CACHE_ROOT = Path("~/.cache/vae-tune/experiments")


def is_uri(location: str | Path) -> bool:
    return "://" in str(location)


def mirror_experiment(uri: str, cache_root: Path | None = None) -> Path:
    """A local copy of the table files of the experiment at `uri`; files that changed are copied again.

    Runs again cheaply on a study that is still writing: a file is copied only
    when its size differs from the local copy (result.json grows by a line an epoch).
    """
    import pyarrow.fs as pafs

    filesystem, root = pafs.FileSystem.from_uri(uri)
    if filesystem.get_file_info(f"{root}/study.json").type != pafs.FileType.File:
        raise FileNotFoundError(f"{uri} is not a vae-tune experiment: study.json is missing")
    digest = hashlib.sha1(uri.encode()).hexdigest()[:8]
    local = Path(cache_root or CACHE_ROOT).expanduser() / f"{PurePosixPath(root).name}-{digest}"
    for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True)):
        name = PurePosixPath(info.path).name
        if info.type == pafs.FileType.File and (name in TABLE_FILES or name.startswith(TABLE_FILE_PREFIXES)):
            _copy_if_changed(filesystem, info, local / PurePosixPath(info.path).relative_to(root))
    (local / SOURCE_FILE).write_text(uri)
    return local


def fetch_checkpoint(directory: Path) -> None:
    """Copy the files of a mirrored checkpoint that are not here yet (its weights) from the mirror's source.

    Does nothing for a checkpoint that is not inside a mirror.
    """
    import pyarrow.fs as pafs

    directory = Path(directory)
    mirror_root = next((parent for parent in directory.parents if (parent / SOURCE_FILE).is_file()), None)
    if mirror_root is None:
        return
    filesystem, root = pafs.FileSystem.from_uri((mirror_root / SOURCE_FILE).read_text().strip())
    remote = f"{root}/{directory.relative_to(mirror_root).as_posix()}"
    for info in filesystem.get_file_info(pafs.FileSelector(remote)):
        if info.type == pafs.FileType.File:
            _copy_if_changed(filesystem, info, directory / PurePosixPath(info.path).name)


def _copy_if_changed(filesystem, info, target: Path) -> None:
    if target.is_file() and target.stat().st_size == info.size:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with filesystem.open_input_stream(info.path) as source:
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(source.read())
        partial.replace(target)  # a reader never sees half a file
