"""Item 5: seconds from `vae-tune run smoke` to the first reported result, and where they go.

Runs the command line in a child process and stamps each line it prints as it
arrives; the trial's own files add the split inside the trial (starts.log: when
its setup ended and how long it took; result.json: the first epoch's training
and scoring). The child is stopped with SIGTERM, the clean stop `vae-tune`
offers, once the first result is in.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import Figure, spread
from vae_tune.names import STARTS_FILE

REPO = Path(__file__).resolve().parent.parent
PHASES = ("imports", "data", "ray_start", "trial_launch", "model_build", "first_epoch", "checkpoint_and_report")
FIRST_RESULT = re.compile(r"trial +\d+/\d+ epoch +1/")


def run_until_first_result(study: str, overrides: list[str], storage: str, timeout: float = 600) -> dict[str, float]:
    command = [sys.executable, "-m", "vae_tune.cli", "run", study, "--set", f"storage_path={storage!r}"]
    for override in overrides:
        command += ["--set", override]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    started = time.time()
    child = subprocess.Popen(command, cwd=REPO, env=environment, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stamps: dict[str, float] = {}
    experiment = None
    try:
        for line in child.stdout:
            now = time.time()
            if line.startswith("vae-tune: preparing data"):
                stamps["preparing"] = now
            elif line.startswith("vae-tune:") and "images ready" in line:
                stamps["data_ready"] = now
            elif line.startswith("vae-tune: running"):
                stamps["running"] = now
                experiment = Path(line.rsplit(" into ", 1)[1].strip())
            elif FIRST_RESULT.search(line):
                stamps["first_result"] = now
                break
            if now - started > timeout:
                break
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
    if experiment is None or "first_result" not in stamps:
        raise RuntimeError(f"`{' '.join(command)}` printed no result in {timeout:.0f}s")
    return _phases(started, stamps, experiment)


def _phases(started: float, stamps: dict[str, float], experiment: Path) -> dict[str, float]:
    """Split the wait into phases; the trial that reported first supplies the trial-side ones."""
    trials = []
    for starts in experiment.glob(f"*/{STARTS_FILE}"):
        start = json.loads(starts.read_text().splitlines()[0])
        result_file = starts.parent / "result.json"
        lines = result_file.read_text().splitlines() if result_file.is_file() else []
        if not lines:
            continue
        first = json.loads(lines[0])
        done = start["time"] + first["time/train_seconds"] + first["time/scoring_seconds"]
        trials.append((done, start, first))
    if not trials:
        raise RuntimeError(f"no trial of {experiment} wrote a result")
    _, start, first = min(trials, key=lambda trial: trial[0])
    entered = start["time"] - start["setup_seconds"]
    epoch = first["time/train_seconds"] + first["time/scoring_seconds"]
    return {
        "imports": stamps["preparing"] - started,  # Python, vae-tune and Ray Tune in the driver
        "data": stamps["data_ready"] - stamps["preparing"],
        "ray_start": stamps["running"] - stamps["data_ready"],  # ray.init and the Tuner
        # Tune places the trial, a worker process starts and imports TensorFlow and the trainable.
        "trial_launch": entered - stamps["running"],
        "model_build": start["setup_seconds"],  # threads, split, probe, model, restore
        "first_epoch": epoch,  # training (with tracing) and scoring
        "checkpoint_and_report": stamps["first_result"] - start["time"] - epoch,
        "total": stamps["first_result"] - started,
    }


def measure(study: str, overrides: list[str], storage: str, repeat: int) -> list[Figure]:
    runs = [run_until_first_result(study, overrides, f"{storage}/startup{i}") for i in range(repeat)]
    totals = [run["total"] for run in runs]
    detail = {phase: spread([run[phase] for run in runs]) for phase in PHASES}
    figures = [Figure("startup_seconds", f"5 start-up: `vae-tune run {study}` to 1st result", totals, unit="s",
                      detail=detail)]
    for phase in PHASES:
        figures.append(Figure(f"startup_{phase}", f"5   {phase.replace('_', ' ')}", [run[phase] for run in runs],
                              unit="s"))
    return figures
