"""The Kaggle *Fashion Product Images* layout: `styles.csv` and `images/<id>.jpg`.

Both the full dataset and its "small" variant have this layout. The real
`styles.csv` is not valid CSV: some `productDisplayName` values contain
unquoted commas, so those rows have too many fields. The extra fields belong
to the name and are folded back into it; rows that still do not fit are
counted, as are rows whose image file is missing.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vae_tune.config import DataError
from vae_tune.data.cache import Listing
from vae_tune.data.decode import IMAGE_SUFFIXES
from vae_tune.log import logger

NAME_COLUMN = "productDisplayName"  # the free-text column the stray commas belong to
NA_VALUES = {"", "na", "n/a", "nan", "null", "none"}
MISSING_LABEL = "unknown"  # the label of an image whose label column is empty
_FILE_STEM = re.compile(r"[A-Za-z0-9_-]+")  # an id must name a file in images/, nothing outside it
_NAMED = 20  # line numbers and ids listed in the manifest per kind of problem


@dataclass(frozen=True)
class Styles:
    columns: tuple[str, ...]
    rows: list[dict[str, str | None]]  # file order; NA values are None
    recovered_lines: list[int]  # rows whose extra commas were folded back into the name
    unrecoverable_lines: list[int]  # rows that could not be read


def read_styles(path: Path) -> Styles:
    """Every row of styles.csv, one physical line each: a stray quote cannot swallow the lines after it."""
    rows, recovered, unrecoverable = [], [], []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        lines = iter(handle)
        columns = tuple(name.strip() for name in _fields(next(lines, "")) or [])
        if "id" not in columns:
            raise DataError(f"data.path: {path} has no 'id' column in its header; found {', '.join(columns) or 'nothing'}")
        name_at = columns.index(NAME_COLUMN) if NAME_COLUMN in columns else None
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            fields = _fields(line)
            if fields and len(fields) > len(columns) and name_at is not None:
                extra = len(fields) - len(columns)
                fields = fields[:name_at] + [",".join(fields[name_at : name_at + extra + 1])] + fields[name_at + extra + 1 :]
                recovered.append(number)
            row = dict(zip(columns, (None if f.strip().lower() in NA_VALUES else f.strip() for f in fields or [])))
            if not fields or len(fields) != len(columns) or not _FILE_STEM.fullmatch(row.get("id") or ""):
                unrecoverable.append(number)
            else:
                rows.append(row)
    return Styles(columns, rows, recovered, unrecoverable)


def _fields(line: str) -> list[str] | None:
    """One line's fields, quotes respected; None if the csv module refuses it (an overlong field)."""
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return None


def list_kaggle(directory: str | Path, filters: Mapping[str, Any], label_column: str) -> Listing:
    """The images `styles.csv` lists that exist and pass `filters` (column -> value or list of values)."""
    root = Path(directory).expanduser().resolve()
    styles_path, images_dir = root / "styles.csv", root / "images"
    layout = "the Kaggle layout is styles.csv and images/<id>.jpg"
    if not styles_path.is_file() or not images_dir.is_dir():
        missing = "styles.csv" if not styles_path.is_file() else "images/"
        raise FileNotFoundError(f"data.path: {root} has no {missing} ({layout})")
    styles = read_styles(styles_path)
    for key, column in [("data.label_column", label_column)] + [(f"data.filters.{c}", c) for c in filters]:
        if column not in styles.columns:
            raise DataError(f"{key}: styles.csv has no column {column!r}; columns: {', '.join(styles.columns)}")
    wanted = {column: {str(v).casefold() for v in (value if isinstance(value, list) else [value])}
              for column, value in filters.items()}
    files = _image_files(images_dir)
    ids, paths, labels, missing, duplicates, filtered_out = [], [], [], [], 0, 0
    seen = set()
    for row in styles.rows:
        if not _matches(row, wanted):
            filtered_out += 1
        elif row["id"] in seen:
            duplicates += 1
        elif row["id"] not in files:
            missing.append(row["id"])
        else:
            seen.add(row["id"])
            ids.append(row["id"])
            paths.append(files[row["id"]])
            labels.append(row[label_column] or MISSING_LABEL)
    notes = {
        "rows": len(styles.rows) + len(styles.unrecoverable_lines),
        "recovered_rows": len(styles.recovered_lines),
        "recovered_lines": styles.recovered_lines[:_NAMED],
        "unrecoverable_rows": len(styles.unrecoverable_lines),
        "unrecoverable_lines": styles.unrecoverable_lines[:_NAMED],
        "missing_images": len(missing),
        "missing_ids": missing[:_NAMED],
        "duplicate_ids": duplicates,
        "filtered_out": filtered_out,
    }
    if styles.unrecoverable_lines or missing:
        logger.warning(
            f"{styles_path}: {len(styles.unrecoverable_lines)} unreadable row(s) (lines "
            f"{', '.join(map(str, styles.unrecoverable_lines[:5])) or '-'}), {len(missing)} row(s) without an image "
            f"(ids {', '.join(missing[:5]) or '-'}); skipped"
        )
    if not ids:
        matched = f"matches data.filters {dict(filters)}" if filters else "has an image"
        raise DataError(f"data.path: no row of {styles_path} {matched}")
    return Listing("kaggle", root, tuple(ids), tuple(paths), tuple(labels), notes)


def _matches(row: dict[str, str | None], wanted: dict[str, set[str]]) -> bool:
    """Every filtered column holds one of its values (case-insensitive); an NA value matches nothing."""
    return all(row[column] is not None and row[column].casefold() in values for column, values in wanted.items())


def _image_files(images_dir: Path) -> dict[str, str]:
    """id -> file, from one scan of images/ rather than one existence check per row; .jpg preferred."""
    files: dict[str, str] = {}
    for entry in sorted(os.scandir(images_dir), key=lambda e: (Path(e.name).suffix.lower() != ".jpg", e.name)):
        stem, suffix = os.path.splitext(entry.name)
        if suffix.lower() in IMAGE_SUFFIXES and stem not in files:
            files[stem] = entry.path
    return files
