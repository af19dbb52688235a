"""Resuming a trial, and the study around it, after a crash, a kill or a lost node.

Tune's timing, which every choice here follows:

- A trial reports an epoch's result and checkpoint together, but the driver
  records the checkpoint a round trip after the result, and snapshots the
  experiment (experiment_state-*.json, which names each trial's checkpoint)
  only every TUNE_GLOBAL_CHECKPOINT_S (2 s here). A resumed study's Tune knows
  its last snapshot alone, so the checkpoint it hands a trial can be epochs
  behind the newest one on disk, or none at all.
- The driver logs results into a staging folder that it copies into the trial
  folder every few seconds, so a driver that died took its last epochs'
  result.json lines with it, while their checkpoints' trial.json kept the metrics.
  A resumed study's driver copies a trial's result.json into its new staging
  folder only when its snapshot names a checkpoint of the trial (Ray 2.60,
  tune/logger/logger.py, _restore_from_remote); without one it starts the file
  empty and later copies it over the trial's, every earlier line gone.
- Tune deletes a pruned checkpoint's folder at once but may still name it in a
  snapshot, and fails a trial whose named folder is gone (ray-project/ray#27790).
- A stopped fit() snapshots the experiment and then marks its running trials
  TERMINATED in memory (ray/tune/tune.py, run(): trainer.checkpoint, then
  trainer.cleanup): the ResultGrid of a stopped study can look finished.

So, on local or shared storage: a trial keeps its checkpoints in its own folder
and resumes from the newest intact one whatever Tune names (`restore_latest`),
unless Tune names another trial's checkpoint that the trial has not yet
continued from: that is a PBT exploit, restored as named;
it prunes them itself, deleting weights but never folders or trial.json
(vae_tune.training.checkpoint.prune_checkpoints); it reports again the saved
epochs its result.json lacks, or every saved epoch when Tune named no checkpoint
(`report_unlogged_epochs`); and a study counts as
interrupted while its snapshot still has trials running (`unfinished_in_snapshot`).
On s3:// or gs:// storage the trials do not see files: Tune's checkpoint is used,
and Tune keeps the best two (vae_tune.tuning.tuner.checkpoint_config).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import tune
from ray.tune import ExperimentAnalysis

from vae_tune.experiment import reported_results, trial_dirname
from vae_tune.lineage import descends_from, truncate
from vae_tune.log import logger
from vae_tune.names import (
    CHECKPOINT_SHA256,
    EPOCH,
    EXPLOITED_TRIAL,
    LINEAGE,
    REPORTED_AGAIN,
    RESUMED_FROM_EPOCH,
    RESUMED_FROM_SHA256,
    TRIAL_ID,
)
from vae_tune.training.checkpoint import CheckpointError, checkpoint_states, newest_checkpoints, next_sequence, read_state
from vae_tune.training.trainer import TrialTrainer


def restore_latest(trainer: TrialTrainer, checkpoint, trial_dir: Path | None = None) -> dict[str, Any]:
    """Resume from the newest intact checkpoint, or exploit the donor's. Returns what was resumed, for the next report.

    With `trial_dir` (local or shared storage): the newest intact checkpoint in
    the trial's folder, whatever Tune's `checkpoint` names; a damaged newest
    checkpoint costs one more epoch, not the trial. But a checkpoint of another
    trial that none of the trial's own descends from is a PBT exploit
    (`is_exploit`): it is restored as named, with the trial's own new learning rate
    and loss weights. Without `trial_dir`, or on remote storage: Tune's checkpoint.
    """
    remote = checkpoint is not None and checkpoint.filesystem.type_name != "local"
    if trial_dir is None or remote:
        if checkpoint is None:
            return {}
        exploit = trainer.trial_id is not None and trial_dirname(trainer.trial_id) not in checkpoint.path
        try:
            with checkpoint.as_directory() as directory:
                state = trainer.restore(directory, exploit=exploit)
        except CheckpointError as error:
            logger.warning(f"cannot resume from {checkpoint.path}: {error}")
            return _start_again()
        return _exploited(trainer, state) if exploit else _resumed(trainer, state)
    named = Path(checkpoint.path) if checkpoint is not None else None
    trainer.sequence = next_sequence(trial_dir)
    if named is not None and is_exploit(named, trial_dir):
        try:
            state = trainer.restore(named, exploit=True)
        except CheckpointError as error:
            logger.warning(f"cannot exploit {named}: {error}; the trial goes on from its own checkpoint")
        else:
            return _exploited(trainer, state)
    for directory, _ in newest_checkpoints(trial_dir):
        try:
            state = trainer.restore(directory)
        except CheckpointError as error:
            logger.warning(f"cannot resume from {directory}: {error}")
            continue
        if named is not None and directory != named:
            logger.warning(f"resumed from {directory} (epoch {state[EPOCH]}), not {named}")
        return _resumed(trainer, state)
    return _start_again() if checkpoint is not None else {}


def is_exploit(named: Path, trial_dir: Path) -> bool:
    """Whether Tune's `named` checkpoint is a PBT donor's that this trial has to restore.

    It is when it lies in another trial's folder, unless one of the trial's own
    checkpoints (pruned ones too) descends from it: then a resumed study's Tune
    names the donor from a snapshot older than the trial's later epochs, on that
    donor's line or, after a later exploit the snapshot missed, on another's.
    Resuming from the trial's newest loses nothing; copying the donor again would
    send the trial back to the donor's epoch.
    """
    if named.resolve().parent == Path(trial_dir).resolve():
        return False
    try:
        donor_sha = read_state(named)["weights"]["sha256"]
    except (CheckpointError, KeyError):
        return True  # restore() says what is wrong with it
    return not any(descends_from(state.get(LINEAGE) or [], donor_sha) for _, state in checkpoint_states(trial_dir))


def _resumed(trainer: TrialTrainer, state: dict[str, Any]) -> dict[str, Any]:
    return {RESUMED_FROM_EPOCH: trainer.epoch, RESUMED_FROM_SHA256: state["weights"]["sha256"]}


def _exploited(trainer: TrialTrainer, state: dict[str, Any]) -> dict[str, Any]:
    lineage = state.get(LINEAGE) or [{}]
    donor = lineage[-1].get(TRIAL_ID)
    logger.info(f"exploited trial {donor}'s epoch {trainer.epoch}; going on with {trainer.hyperparameters()}")
    return {**_resumed(trainer, state), EXPLOITED_TRIAL: donor}


def _start_again() -> dict[str, Any]:
    logger.warning("no intact checkpoint left; this trial starts again from epoch 0")
    return {RESUMED_FROM_EPOCH: 0}


def report_unlogged_epochs(trial_dir: Path, resumed_epoch: int, resumed: dict[str, Any],
                           tune_named_checkpoint: bool = True, lineage: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Report again each saved epoch up to `resumed_epoch` missing from the trial's result.json, or every
    saved epoch up to it when Tune named no checkpoint (its driver then starts the trial's result.json anew).

    Only the checkpoints of the resumed weights' own `lineage` count: after a
    PBT exploit, the trial's epochs from before it are another line, already
    reported, and the donor's are the donor's. An epoch is logged when a row
    carries its checkpoint's digest. An epoch the driver had logged but not yet
    copied is reported twice, with the same metrics; readers keep the last row
    of each epoch. Returns what the next report still has to carry of `resumed`.
    """
    logged = {row.get(CHECKPOINT_SHA256) for row in reported_results(trial_dir)} if tune_named_checkpoint else set()
    in_line = [state for _, state in checkpoint_states(trial_dir)
               if not lineage or truncate(lineage, state[EPOCH]) == (state.get(LINEAGE) or [])]
    saved = {state[EPOCH]: state for state in reversed(in_line)}  # the newest of each epoch
    for epoch in sorted(epoch for epoch, state in saved.items()
                        if epoch <= resumed_epoch and state["weights"]["sha256"] not in logged):
        state = saved[epoch]
        tune.report({**state["metrics"], **resumed, CHECKPOINT_SHA256: state["weights"]["sha256"],
                     REPORTED_AGAIN: True})
        resumed = {}
    return resumed


def unfinished_in_snapshot(experiment: str) -> bool:
    """Whether Tune's last experiment snapshot still has trials running, pending or paused (a path or a storage URI)."""
    try:
        trials = ExperimentAnalysis(experiment).trials
    except (ValueError, OSError):  # no snapshot yet
        return False
    return any(trial.status in ("RUNNING", "PENDING", "PAUSED") for trial in trials)
