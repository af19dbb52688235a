"""SIGTERM (a batch scheduler's kill, `timeout`, a cluster shutting down) stops a study cleanly and resumably.

tests/test_fault_tolerance.py covers SIGKILL and Ctrl-C (SIGINT) of the driver; this is the third way a
driver is stopped, through vae_tune.tuning.session._fit's forwarding of SIGTERM to Tune's clean stop.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading

import pytest
from conftest import TINY_OVERRIDES

from vae_tune.experiment import reported_results
from vae_tune.names import STARTS_FILE

EPOCHS = 20  # epochs of 0.3-1.3 s: the signal, right after the first, finds the trial training


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "vae_tune.cli", *args]


@pytest.mark.slow
def test_sigterm_stops_the_study_cleanly_and_it_resumes_to_the_end(tmp_path):
    overrides = TINY_OVERRIDES + [f'storage_path="{tmp_path}"', f"training.epochs={EPOCHS}", "search.num_samples=1"]
    arguments = [item for override in overrides for item in ("--set", override)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    driver = subprocess.Popen(cli("run", "smoke", *arguments), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=environment, start_new_session=True)
    lines, reported = [], threading.Event()

    def read():
        for line in driver.stdout:
            lines.append(line)
            if re.search(rf"epoch\s+\d+/{EPOCHS}\b", line):  # the progress line of a reported epoch
                reported.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert reported.wait(180), "".join(lines)[-3000:]
        # At once: before Tune's 2-second experiment snapshot records the epoch's checkpoint, so the resumed
        # Tune names none and starts the trial's result.json anew (vae_tune.tuning.resume): every epoch must
        # still be there at the end.
        driver.send_signal(signal.SIGTERM)
        driver.wait(timeout=120)
        reader.join(timeout=10)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
            driver.wait()
    output = "".join(lines)
    experiment = next(tmp_path.glob("smoke_*"))
    assert driver.returncode == 130, output[-3000:]
    assert re.search(rf"Resume with:\n  vae-tune resume {re.escape(str(experiment))}\n", output), output[-3000:]
    epochs_before = {d.name: len(reported_results(d)) for d in experiment.glob("trial_*")}
    assert sum(epochs_before.values()) < EPOCHS, epochs_before  # it stopped before the study's end

    resumed = subprocess.run(cli("resume", str(experiment)), capture_output=True, text=True, env=environment,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "best trial" in resumed.stdout

    trials = sorted(experiment.glob("trial_*"))
    assert len(trials) == 1
    for trial in trials:
        epochs = sorted({row["epoch"] for row in reported_results(trial)})
        assert epochs == list(range(1, EPOCHS + 1)), (trial.name, epochs)
    # The trial the signal stopped went on from its checkpoint, not from scratch.
    starts = [json.loads(line) for line in (trials[0] / STARTS_FILE).read_text().splitlines()]
    assert len(starts) == 2 and starts[1]["resumed_from_epoch"] >= 1, starts
