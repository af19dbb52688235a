"""A directory of images, searched recursively; the sub-folder an image sits in is its label."""

from __future__ import annotations

import os
from pathlib import Path

from vae_tune.data.cache import Listing
from vae_tune.data.decode import IMAGE_SUFFIXES


def list_folder(directory: str | Path) -> Listing:
    """Every image file under `directory` by suffix (decoding decides later whether it really is one)."""
    root = Path(directory).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"data.path: {root} is not a directory")
    paths = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]  # .git, .ipynb_checkpoints
        # Names starting with "." are macOS resource forks (._photo.jpg) and other hidden files, not photos.
        paths += [Path(folder) / name for name in names
                  if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith(".")]
    paths.sort()
    ids = tuple(path.relative_to(root).as_posix() for path in paths)
    # shoes/sneakers/a.jpg is labelled "shoes/sneakers"; images at the top share the folder's own name.
    labels = tuple(path.parent.relative_to(root).as_posix() if path.parent != root else root.name for path in paths)
    return Listing("folder", root, ids, tuple(paths), labels)
