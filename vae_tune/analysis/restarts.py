"""What a study's restarts cost, PBT's exploits apart: read from each trial's starts.log and result.json.

Every start of a trial is a line of its starts.log with the seconds its setup
took (threads, data split, probe, model build, restore). In a PBT study each
exploit stops the recipient and starts it again on the donor's checkpoint; PBT
also pauses a trial for another when the population is larger than the slots,
and a retry or a resume starts a trial again. The setup seconds leave out the
relaunch before them: Tune stopping the trial, a new worker process importing
TensorFlow, any wait for a free slot. An exploit's relaunch is measured from
the recipient's last report before it, whose timestamp Tune rounds down to the
second.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from vae_tune.experiment import reported_results, trial_starts
from vae_tune.names import EXPLOITED_TRIAL, SETUP_SECONDS


@dataclasses.dataclass(frozen=True)
class Restarts:
    """The setup seconds of a study's starts, by cause, the exploits' relaunch seconds, and the study's wall time."""

    first: list[float]  # each trial's first start
    exploits: list[float]  # starts on a donor's checkpoint
    others: list[float]  # PBT's pauses of a trial for another, retries, resumes
    relaunches: list[float]  # of each exploit: from the recipient's last report to its trainable's call
    wall_seconds: float  # from the first trial's start to the last result

    def share(self, seconds: list[float]) -> float:
        """`seconds` (summed over trials that ran side by side) as a share of the wall time."""
        return sum(seconds) / self.wall_seconds if self.wall_seconds > 0 else 0.0


def study_restarts(experiment_dir: str | Path) -> Restarts:
    first, exploits, others, relaunches = [], [], [], []
    began, ended = float("inf"), float("-inf")
    for trial_dir in sorted(Path(experiment_dir).glob("trial_*")):
        starts, rows = trial_starts(trial_dir), reported_results(trial_dir)
        reported = sorted(row["timestamp"] for row in rows if "timestamp" in row)
        # starts.log of studies before it named the donor: an exploit's new process reported the donor's id.
        exploit_pids = {row.get("pid") for row in rows if row.get(EXPLOITED_TRIAL)}
        for number, start in enumerate(starts):
            entered = start["time"] - start[SETUP_SECONDS]
            began = min(began, entered)
            if number == 0:
                first.append(start[SETUP_SECONDS])
            elif start.get(EXPLOITED_TRIAL) or (EXPLOITED_TRIAL not in start and start.get("pid") in exploit_pids):
                exploits.append(start[SETUP_SECONDS])
                before = [t for t in reported if t <= entered]
                if before:  # the report that made PBT exploit
                    relaunches.append(entered - before[-1])
            else:
                others.append(start[SETUP_SECONDS])
        ended = max([ended, *reported])
    return Restarts(first, exploits, others, relaunches, wall_seconds=max(ended - began, 0.0) if first else 0.0)


def describe_restarts(restarts: Restarts) -> list[str]:
    """The lines analysis/exploit_cost.py prints."""

    def seconds(values: list[float], what: str = "setup") -> str:
        return f"{what} {sum(values):.1f} s in all, median {statistics.median(values):.2f} s" if values else f"no {what}"

    return [
        f"first starts: {len(restarts.first)}, {seconds(restarts.first)}",
        f"exploits: {len(restarts.exploits)}, {seconds(restarts.exploits)}; {seconds(restarts.relaunches, 'relaunch')}",
        f"other restarts (a trial paused for another, retries, resumes): {len(restarts.others)}, {seconds(restarts.others)}",
        f"wall time {restarts.wall_seconds:.1f} s; the exploits' setup is {100 * restarts.share(restarts.exploits):.1f}% "
        f"of it, their relaunches {100 * restarts.share(restarts.relaunches):.1f}%",
    ]
