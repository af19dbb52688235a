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
    paths = []  # strings, not Paths: pathlib costs more than the warm cache load itself on 44k files
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]  # .git, .ipynb_checkpoints
        # Names starting with "." are macOS resource forks (._photo.jpg) and other hidden files, not photos.
        paths += [os.path.join(folder, name) for name in names
                  if name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")]
    paths.sort()
    start = len(str(root)) + 1
    ids = tuple(path[start:].replace(os.sep, "/") for path in paths)
    # shoes/sneakers/a.jpg is labelled "shoes/sneakers"; images at the top share the folder's own name.
    top = root.name
    labels = tuple(identity.rpartition("/")[0] or top for identity in ids)
    return Listing("folder", root, ids, tuple(paths), labels)
