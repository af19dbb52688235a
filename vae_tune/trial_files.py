"""Names of the files vae-tune writes into a trial's directory, beside Ray Tune's own.

Kept apart from the trainable so that reading results never imports TensorFlow.
"""

import json
from pathlib import Path

STARTS_FILE = "starts.log"  # one JSON line per start of the trial: how often it ran, from which epoch, its setup time
TIMEOUT_FILE = "timed_out.json"  # written when execution.trial_timeout stopped the trial
RESULTS_FILE = "result.json"  # Ray Tune's: one JSON line per result the driver received


def trial_dirname(trial_id: str) -> str:
    """The name of a trial's folder inside the experiment directory."""
    return f"trial_{trial_id}"


def reported_results(trial_dir: str | Path) -> list[dict]:
    """Every result of the trial the driver logged; a half-written last line (still running) is skipped."""
    path = Path(trial_dir) / RESULTS_FILE
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows
