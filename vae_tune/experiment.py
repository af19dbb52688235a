"""An experiment directory's own files, read and named without TensorFlow or Ray.

Layout (storage_path/<study>_<timestamp>/): study.json, baseline.json, and one
trial_<id>/ folder per trial holding Ray Tune's params.json, result.json and
error.txt beside vae-tune's starts.log, timed_out.json and checkpoint_*/
folders (vae_tune.names lists them all).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from vae_tune.config import DEFAULT_STORAGE_PATH, StudyConfig, study_from_dict
from vae_tune.names import RESULTS_FILE, STARTS_FILE, STUDY_FILE
from vae_tune.storage import is_uri, read_text


def experiment_name(study: StudyConfig) -> str:
    return f"{study.name}_{time.strftime('%Y%m%d-%H%M%S')}"


def storage_root(study: StudyConfig) -> str:
    """Where the study's experiments go: an absolute path (Ray needs one) or a URI (s3://, gs://)."""
    if is_uri(study.storage_path):
        return study.storage_path
    return str(Path(study.storage_path).expanduser().resolve())


def load_study_config(experiment: str | Path) -> StudyConfig:
    """The resolved study an experiment directory (or its storage URI) was run with."""
    try:
        text = read_text(f"{experiment}/{STUDY_FILE}")
    except FileNotFoundError:
        raise FileNotFoundError(f"{experiment} is not a vae-tune experiment: {STUDY_FILE} is missing") from None
    return study_from_dict(json.loads(text))


def latest_experiment(storage_path: str | Path = DEFAULT_STORAGE_PATH) -> Path:
    """The most recently started experiment directory under `storage_path`."""
    root = Path(storage_path).expanduser()
    experiments = sorted(root.glob(f"*/{STUDY_FILE}"), key=lambda path: path.stat().st_mtime)
    if not experiments:
        raise FileNotFoundError(f"{root}: no vae-tune experiment here (no */{STUDY_FILE})")
    return experiments[-1].parent


def trial_dirname(trial_id: str) -> str:
    """The name of a trial's folder inside the experiment directory."""
    return f"trial_{trial_id}"


def reported_results(trial_dir: str | Path) -> list[dict]:
    """Every result of the trial the driver logged; a half-written last line (still running) is skipped.

    Read here rather than through Ray's ExperimentAnalysis.trial_dataframes,
    which parses every line and drops a trial whose last line is half-written.
    """
    return _json_lines(Path(trial_dir) / RESULTS_FILE)


def trial_starts(trial_dir: str | Path) -> list[dict]:
    """The lines of the trial's starts.log, one per start (vae_tune.tuning.trainable.record_start)."""
    return _json_lines(Path(trial_dir) / STARTS_FILE)


# Ray's driver keeps each trial's result.json in a staging folder and copies it onto the storage's
# (pyarrow's copy_files: truncate, then write), so a reader can catch the file empty or cut short for an
# instant. A file read empty or cut mid-line that was written in the last 2 s is read again after these pauses.
REREAD_PAUSES_S = (0.05, 0.1, 0.2)
JUST_WRITTEN_S = 2.0


def _json_lines(path: Path) -> list[dict]:
    rows = []
    if path.is_file():
        for line in _settled_text(path).splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _settled_text(path: Path) -> str:
    """The file's text, read again while it ends mid-line (or is empty) and was written in the last seconds."""
    text = path.read_text()
    for pause in REREAD_PAUSES_S:
        if text.endswith("\n") or time.time() - path.stat().st_mtime > JUST_WRITTEN_S:
            break
        time.sleep(pause)
        text = path.read_text()
    return text
