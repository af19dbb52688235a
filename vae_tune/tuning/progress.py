"""The driver's Tune callbacks: one concise line per trial event and an overall progress line, instead
of Ray's full status tables, and the record of which trial is the baseline."""

from __future__ import annotations

import time

from ray import tune

from vae_tune.baseline import read_record, same_params, write_record
from vae_tune.config import format_params
from vae_tune.lineage import decode_schedule, describe
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
    SCHEDULE,
    TIMED_OUT,
    TRAIN_SECONDS,
    TRIAL_ID,
)

# Tune's statuses of a trial that has ended; any other (PENDING, RUNNING, PAUSED) has epochs to go.
ENDED = ("TERMINATED", "ERROR")
OVERALL_EVERY_SECONDS = 30.0
ESTIMATE_AFTER_EPOCHS = 3  # trained in this run; fewer say little about the pace


class ProgressPrinter(tune.Callback):
    def __init__(self, total_trials: int, max_epochs: int, labels: list[tuple[dict, str]] = (),
                 stops_early: bool = False, every: float = OVERALL_EVERY_SECONDS):
        """`labels`: (params, label) pairs; the first trial started with those params is named by the label.
        `stops_early`: the scheduler may end trials before max_epochs (ASHA), so the epochs left are a bound;
        `every`: seconds between overall progress lines while no trial ends."""
        self.total_trials = total_trials
        self.max_epochs = max_epochs
        self.labels = list(labels)
        self.stops_early = stops_early
        self.every = every
        self.labelled: dict[str, str] = {}  # trial id -> its label
        self.numbers: dict[str, int] = {}  # trial id -> 1-based order of start
        self.last_epoch: dict[str, int] = {}
        self.devices: dict[str, str] = {}  # trial id -> what it trains on, printed when it changes
        self.setup()

    def setup(self, **info):
        """Called by Tune as each run starts. A resumed study's Tune brings back this printer as it was
        pickled, clocks and counts of another process included: the pace is this run's."""
        self.started = time.monotonic()
        self.trained = 0  # epochs trained in this run, not reported again from a checkpoint: the pace
        self.overall_printed = self.started
        self.trial_ended = False  # since the last overall line

    def _stamp(self) -> str:
        return f"[{time.monotonic() - self.started:6.0f}s]"

    def _print(self, trial, message: str) -> None:
        number = self.numbers.setdefault(trial.trial_id, len(self.numbers) + 1)
        print(f"{self._stamp()} trial {number:>2}/{self.total_trials} {message}", flush=True)

    def on_step_end(self, iteration, trials, **info):
        # Here rather than in on_trial_complete: Tune has set the ended trial's status by now.
        if self.trial_ended or time.monotonic() - self.overall_printed >= self.every:
            print(f"{self._stamp()} {self.overall(trials)}", flush=True)
            self.overall_printed, self.trial_ended = time.monotonic(), False

    def overall(self, trials) -> str:
        """`17 trials: 3 ended, 2 running, 12 pending; 46 of at most 340 epochs; at most about 9 min left`."""
        ended = [trial for trial in trials if trial.status in ENDED]
        failed = sum(trial.status == "ERROR" for trial in trials)
        running = sum(trial.status == "RUNNING" for trial in trials)
        pending = self.total_trials - len(ended) - running  # PENDING, PAUSED, and those the searcher has yet to make
        done = sum(int(trial.last_result.get(EPOCH, 0)) for trial in trials)
        left = sum(self.max_epochs - int(trial.last_result.get(EPOCH, 0)) for trial in trials if trial.status not in ENDED)
        left += (self.total_trials - len(trials)) * self.max_epochs
        bound = "at most " if self.stops_early else ""
        line = (f"{self.total_trials} trials: {len(ended)} ended{f' ({failed} failed)' if failed else ''}, "
                f"{running} running, {pending} pending; {done} of {bound}{done + left} epochs")
        if left and self.trained >= ESTIMATE_AFTER_EPOCHS:
            pace = self.trained / (time.monotonic() - self.started)  # epochs per second, all trials together
            line += f"; {bound}about {duration(left / pace)} left"
        return line

    def _label(self, trial) -> str:
        if trial.trial_id not in self.labelled:
            taken = set(self.labelled.values())
            self.labelled[trial.trial_id] = next(
                (label for params, label in self.labels if label not in taken and same_params(trial.config, params)), "")
        return self.labelled[trial.trial_id]

    def on_trial_start(self, iteration, trials, trial, **info):
        if trial.trial_id not in self.numbers:
            label = self._label(trial)
            self._print(trial, f"started{f' ({label})' if label else ''}: {describe_config(trial.config)}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        epoch = int(result.get(EPOCH, 0))
        self.last_epoch[trial.trial_id] = epoch
        self.trained += not result.get(REPORTED_AGAIN) and not result.get(TIMED_OUT)
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
        self.trial_ended = True
        epoch = self.last_epoch.get(trial.trial_id, 0)
        last = trial.last_result
        if epoch < self.max_epochs and not last.get(DIVERGED) and not last.get(TIMED_OUT):
            self._print(trial, f"stopped early by the scheduler after epoch {epoch}")
        else:
            self._print(trial, f"done after epoch {epoch}")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.trial_ended = True
        where = trial.path or "its trial directory"
        self._print(trial, f"FAILED: see error.txt in {where}")


def describe_config(config: dict) -> str:
    """A trial's params, and the schedule it follows if it has one (a confirm run of a PBT study's trial)."""
    params = format_params({name: value for name, value in config.items() if name != SCHEDULE})
    schedule = decode_schedule(config.get(SCHEDULE, ""))
    return f"{params}, following the schedule {describe(schedule)}" if schedule else params


def duration(seconds: float) -> str:
    """`40 s`, `12 min`, `2.5 h`: as precise as an estimate deserves."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
