"""Where an experiment lives: a local or shared-mount path, or cloud storage (s3://, gs://, file://).

Ray Tune writes trial results to `storage_path` from whichever node runs the
trial, so a multi-node study needs storage every node reaches: a shared mount
(NFS, EFS, Filestore, a ReadWriteMany volume) or a bucket. Files the driver
writes there go through pyarrow's filesystems, as Ray's own storage does.

A trial's own files (starts.log, timed_out.json) are written to storage
directly too, from the trial's process: Tune uploads a trial's working
directory only with SyncConfig(sync_artifacts=True), and only after a
checkpoint or at the trial's end, which a timeout marker written just before
the process is killed never reaches (vae_tune.tuning.trainable).

Analysis reads plain files, so a remote experiment is read through a local
mirror: the small files a results table needs at once, and a checkpoint's
weights only when a model is loaded from it (a study's weights can run to
gigabytes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from vae_tune.names import (
    BASELINE_FILE,
    CONFIRM_FILE,
    ERROR_FILE,
    PARAMS_FILE,
    RESULTS_FILE,
    STARTS_FILE,
    STATE_FILE,
    STUDY_FILE,
    TIMEOUT_FILE,
)

# Written in a mirror's root: the URI it mirrors, so weights can be fetched later.
SOURCE_FILE = ".vae_tune_source"
# Everything `load_results` reads; a trial's weights and TensorBoard events are left behind.
TABLE_FILES = {STUDY_FILE, PARAMS_FILE, RESULTS_FILE, STATE_FILE, ERROR_FILE, BASELINE_FILE, CONFIRM_FILE, STARTS_FILE,
               TIMEOUT_FILE}
TABLE_FILE_PREFIXES = ("experiment_state-",)  # Ray's snapshots of every trial's status
CACHE_ROOT = Path("~/.cache/vae-tune/experiments")


def is_uri(location: str | Path) -> bool:
    return "://" in str(location)


def _filesystem(location: str):
    """pyarrow's filesystem and path for a URI, or for a local path (relative ones too)."""
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(location if is_uri(location) else str(Path(location).expanduser().resolve()))


def exists(location: str) -> bool:
    """Whether a file is at a path or URI."""
    import pyarrow.fs

    filesystem, path = _filesystem(location)
    return filesystem.get_file_info(path).type == pyarrow.fs.FileType.File


def read_text(location: str) -> str:
    """A file at a path or URI; FileNotFoundError if there is none."""
    import pyarrow.fs

    filesystem, path = _filesystem(location)
    if filesystem.get_file_info(path).type != pyarrow.fs.FileType.File:
        raise FileNotFoundError(location)
    with filesystem.open_input_stream(path) as stream:
        return stream.read().decode()


def append_line(location: str, line: str) -> None:
    """Add one line to a file at a path or URI, creating it.

    Object stores cannot append, so the file is read and written whole: safe
    for a file one process writes at a time (one attempt of a trial runs at once).
    """
    text = read_text(location) if exists(location) else ""
    write_text(location, text + line + "\n")


def write_text(location: str, text: str) -> None:
    """Write a file at a path or URI, creating its directory; whole or not at all.

    Locally through a rename, so a report polling a starting study never reads
    half a file; object stores (s3://, gs://) publish an object only when it is closed.
    """
    if not is_uri(location):
        target = Path(location).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text)
        partial.replace(target)
        return
    filesystem, path = _filesystem(location)
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as stream:
        stream.write(text.encode())


def mirror_experiment(uri: str, cache_root: Path | None = None) -> Path:
    """A local copy of the table files of the experiment at `uri`; files that changed are copied again.

    Runs again cheaply on a study that is still writing: a file is copied only
    when its size differs from the local copy (result.json grows by a line an epoch).
    """
    import pyarrow.fs as pafs

    filesystem, root = pafs.FileSystem.from_uri(uri)
    if filesystem.get_file_info(f"{root}/{STUDY_FILE}").type != pafs.FileType.File:
        raise FileNotFoundError(f"{uri} is not a vae-tune experiment: {STUDY_FILE} is missing")
    digest = hashlib.sha1(uri.encode()).hexdigest()[:8]
    local = Path(cache_root or CACHE_ROOT).expanduser() / f"{PurePosixPath(root).name}-{digest}"
    for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True)):
        name = PurePosixPath(info.path).name
        if info.type == pafs.FileType.File and (name in TABLE_FILES or name.startswith(TABLE_FILE_PREFIXES)):
            _copy_if_changed(filesystem, info, local / PurePosixPath(info.path).relative_to(root))
    (local / SOURCE_FILE).write_text(uri)
    return local


def mirror_location(uri: str, cache_root: Path | None = None) -> Path:
    """The local mirror of `uri`, the URI of an experiment or of a trial or checkpoint in one: the experiment
    (the nearest folder up from `uri` with a study.json) is mirrored, and the same place in it returned."""
    scheme, _, path = uri.partition("://")
    parts = path.rstrip("/").split("/")
    for depth in range(len(parts), 0, -1):
        root = f"{scheme}://{'/'.join(parts[:depth])}"
        if exists(f"{root}/{STUDY_FILE}"):
            return mirror_experiment(root, cache_root).joinpath(*parts[depth:])
    raise FileNotFoundError(f"{uri} is not in a vae-tune experiment: no {STUDY_FILE} in it or above it")


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
