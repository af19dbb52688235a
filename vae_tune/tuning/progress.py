"""The driver's Tune callbacks: one concise line per trial event, instead of Ray's full status tables,
and the record of which trial is the baseline."""

from __future__ import annotations

import time

from ray import tune

from vae_tune.baseline import read_record, same_params, write_record
from vae_tune.config import format_params
from vae_tune.names import (
    BLUR,
    COLLAPSED,
    DEVICE_SUMMARY,
    DIVERGED,
    EPOCH,
    MEAN_IMAGE_PSNR,
    OBJECTIVE,
    PSNR,
    REPORTED_AGAIN,
    RESUMED_FROM_EPOCH,
    ROUGHNESS,
    TIMED_OUT,
    TRAIN_SECONDS,
    TRIAL_ID,
)


class ProgressPrinter(tune.Callback):
    def __init__(self, total_trials: int, max_epochs: int, labels: list[tuple[dict, str]] = ()):
        """`labels`: (params, label) pairs; the first trial started with those params is named by the label."""
        self.total_trials = total_trials
        self.max_epochs = max_epochs
        self.labels = list(labels)
        self.labelled: dict[str, str] = {}  # trial id -> its label
        self.numbers: dict[str, int] = {}  # trial id -> 1-based order of start
        self.last_epoch: dict[str, int] = {}
        self.devices: dict[str, str] = {}  # trial id -> what it trains on, printed when it changes
        self.started = time.monotonic()

    def _print(self, trial, message: str) -> None:
        number = self.numbers.setdefault(trial.trial_id, len(self.numbers) + 1)
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.0f}s] trial {number:>2}/{self.total_trials} {message}", flush=True)

    def _label(self, trial) -> str:
        if trial.trial_id not in self.labelled:
            taken = set(self.labelled.values())
            self.labelled[trial.trial_id] = next(
                (label for params, label in self.labels if label not in taken and same_params(trial.config, params)), "")
        return self.labelled[trial.trial_id]

    def on_trial_start(self, iteration, trials, trial, **info):
        if trial.trial_id not in self.numbers:
            label = self._label(trial)
            self._print(trial, f"started{f' ({label})' if label else ''}: {format_params(trial.config)}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        epoch = int(result.get(EPOCH, 0))
        self.last_epoch[trial.trial_id] = epoch
        devices = result.get(DEVICE_SUMMARY)
        if devices and self.devices.get(trial.trial_id) != devices:  # first result, or resumed elsewhere
            self.devices[trial.trial_id] = devices
            self._print(trial, f"trains on {devices}")
        if result.get(TIMED_OUT):
            self._print(trial, "stopped by execution.trial_timeout")
            return
        if result.get(DIVERGED):
            self._print(trial, f"epoch {epoch}/{self.max_epochs}: loss is NaN/inf, trial diverged")
            return
        if RESUMED_FROM_EPOCH in result:
            self._print(trial, f"resumed from its epoch-{result[RESUMED_FROM_EPOCH]} checkpoint")
        source = ", from its checkpoint" if result.get(REPORTED_AGAIN) else ""  # trained before a restart
        psnr = f"psnr {result[PSNR]:.1f} dB  " if PSNR in result else ""
        if result.get(COLLAPSED):
            scores = (f"collapsed: {psnr}no better than the mean image's {result[MEAN_IMAGE_PSNR]:.1f} dB, "
                      f"stand-in score {result[OBJECTIVE]:.4f}")
        else:
            scores = (f"objective {result[OBJECTIVE]:.4f}  blur {result[BLUR]:.4f}  "
                      f"roughness {result[ROUGHNESS]:.4f}  {psnr}")
        self._print(trial, f"epoch {epoch:>2}/{self.max_epochs}  {scores.rstrip()}  "
                           f"({result[TRAIN_SECONDS]:.1f}s train{source})")

    def on_trial_complete(self, iteration, trials, trial, **info):
        epoch = self.last_epoch.get(trial.trial_id, 0)
        last = trial.last_result
        if epoch < self.max_epochs and not last.get(DIVERGED) and not last.get(TIMED_OUT):
            self._print(trial, f"stopped early by the scheduler after epoch {epoch}")
        else:
            self._print(trial, f"done after epoch {epoch}")

    def on_trial_error(self, iteration, trials, trial, **info):
        where = trial.path or "its trial directory"
        self._print(trial, f"FAILED: see error.txt in {where}")


class BaselineRecorder(tune.Callback):
    """Writes the baseline trial's id into baseline.json as soon as Tune has created it.

    Both searchers hand out their points to evaluate before any sampled
    configuration, so the baseline is the first trial Tune holds at its first
    step. A resumed study keeps the id recorded before (Tune may list the
    restored trials in another order).
    """

    def __init__(self, experiment: str, point: dict):
        self.experiment = experiment
        self.point = point
        self.done = False

    def on_step_begin(self, iteration, trials, **info):
        if self.done or not trials:
            return
        self.done = True
        recorded = read_record(self.experiment)
        if recorded is not None and recorded.get(TRIAL_ID):
            return
        if same_params(trials[0].config, self.point):
            write_record(self.experiment, self.point, trials[0].trial_id)
