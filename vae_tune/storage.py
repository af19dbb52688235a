"""Where an experiment lives: a local or shared-mount path, or cloud storage (s3://, gs://).

Ray Tune writes trial results to `storage_path` from whichever node runs the
trial, so a multi-node study needs storage every node reaches: a shared mount
(NFS, EFS, Filestore, a ReadWriteMany volume) or a bucket. Paths and URIs go
through pyarrow's filesystems, as Ray's own storage does.
"""

from __future__ import annotations

from pathlib import Path

from vae_tune.checkpoint import WEIGHTS_FILE


def is_uri(location: str) -> bool:
    return "://" in location


def _filesystem(location: str):
    """pyarrow's filesystem and path for a URI, or for a local path (relative ones too)."""
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(location if is_uri(location) else str(Path(location).expanduser().resolve()))


def read_text(location: str) -> str:
    """A file at a path or URI; FileNotFoundError if there is none."""
    import pyarrow.fs

    filesystem, path = _filesystem(location)
    if filesystem.get_file_info(path).type != pyarrow.fs.FileType.File:
        raise FileNotFoundError(location)
    with filesystem.open_input_stream(path) as stream:
        return stream.read().decode()


def write_text(location: str, text: str) -> None:
    """Write a file at a path or URI, creating its directory."""
    filesystem, path = _filesystem(location)
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as stream:
        stream.write(text.encode())


def fetch_experiment(uri: str, destination: Path) -> Path:
    """Copy an experiment from cloud storage into `destination` for reports and analysis.

    Everything but the checkpoints' weights (tens of MB per trial), then the
    weights of the best trial's best checkpoint, which the report's grid needs.
    """
    import pyarrow.fs

    from vae_tune.analysis.results import best_trial, load_results

    filesystem, root = _filesystem(uri)
    root = root.rstrip("/")

    def fetch(path: str) -> None:
        target = destination / path[len(root) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        pyarrow.fs.copy_files(path, str(target), source_filesystem=filesystem)

    for info in filesystem.get_file_info(pyarrow.fs.FileSelector(root, recursive=True)):
        if info.type == pyarrow.fs.FileType.File and not info.base_name == WEIGHTS_FILE:
            fetch(info.path)
    table = load_results(destination)
    if not table.empty:
        try:
            checkpoint = best_trial(table)["best_checkpoint"]
        except ValueError:  # no usable trial: nothing to draw
            checkpoint = None
        if checkpoint:
            fetch(f"{root}/{Path(checkpoint).relative_to(destination).as_posix()}/{WEIGHTS_FILE}")
    return destination
