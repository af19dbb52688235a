"""A checkpoint's lineage: the segments of epochs its weights went through, who trained them and with what.

A segment is {trial_id, first_epoch, last_epoch, params, from_sha256}: epochs
first_epoch..last_epoch, trained by trial `trial_id` with the hyperparameters
`params` (learning_rate, kl_weight, chroma_weight as in use). A PBT exploit
copies the donor's lineage with its weights, and the recipient's next epoch
opens a segment with `from_sha256`, the digest of the donor's checkpoint. Each
checkpoint's trial.json carries the whole list, so the schedule survives
pruning and resume and needs none of Ray's pbt_*.txt logs. Plain Python:
the results table reads it without TensorFlow.
"""

from __future__ import annotations

import json
from typing import Any

from vae_tune.config import MUTABLE, format_params
from vae_tune.names import FIRST_EPOCH, FROM_SHA256, LAST_EPOCH, TRIAL_ID

Lineage = list[dict[str, Any]]


def extend(lineage: Lineage, trial_id: str | None, epoch: int, params: dict[str, Any],
           from_sha256: str | None = None) -> Lineage:
    """`lineage` with `epoch` appended: the last segment grows when the same trial trained it with the same
    params and nothing was restored in between, else a new segment starts."""
    params = {name: params[name] for name in MUTABLE if name in params}
    if lineage and from_sha256 is None:
        last = lineage[-1]
        if last[TRIAL_ID] == trial_id and last["params"] == params and last[LAST_EPOCH] == epoch - 1:
            return [*lineage[:-1], {**last, LAST_EPOCH: epoch}]
    segment = {TRIAL_ID: trial_id, FIRST_EPOCH: epoch, LAST_EPOCH: epoch, "params": params}
    if from_sha256 is not None:
        segment[FROM_SHA256] = from_sha256
    return [*lineage, segment]


def truncate(lineage: Lineage, epoch: int) -> Lineage:
    """The lineage as it stood after `epoch`."""
    return [{**segment, LAST_EPOCH: min(segment[LAST_EPOCH], epoch)} for segment in lineage if segment[FIRST_EPOCH] <= epoch]


def descends_from(lineage: Lineage, sha256: str) -> bool:
    """Whether the weights went through an exploit of the checkpoint with digest `sha256`."""
    return any(segment.get(FROM_SHA256) == sha256 for segment in lineage)


def params_at(lineage: Lineage, epoch: int) -> dict[str, Any]:
    """The hyperparameters epoch `epoch` was trained with."""
    for segment in lineage:
        if segment[FIRST_EPOCH] <= epoch <= segment[LAST_EPOCH]:
            return segment["params"]
    raise ValueError(f"epoch {epoch} is not in the lineage")


def scheduled_params(schedule: Lineage, epoch: int) -> dict[str, Any]:
    """The hyperparameters a run following `schedule` trains epoch `epoch` with: its segment's, and past the
    schedule's last epoch the last segment's, so the run trains as many epochs as any other."""
    return params_at(schedule, min(epoch, schedule[-1][LAST_EPOCH]))


def encode_schedule(lineage: Lineage) -> str:
    """A lineage as the `schedule` entry of a trial's config: JSON text, because Tune takes a preset
    value only where its search space has the same key, and walks into nested lists key by key.
    The donors' digests are left out: they name checkpoints, not hyperparameters. "" for no schedule."""
    if not lineage:
        return ""
    return json.dumps([{key: value for key, value in segment.items() if key != FROM_SHA256} for segment in lineage])


def decode_schedule(text: str) -> Lineage:
    """The schedule of a trial's config; "" (a run that follows none) is []."""
    return json.loads(text) if text else []


def describe(lineage: Lineage) -> str:
    """One line for a table cell: `1-4 ab12: learning_rate=1.00e-03 kl_weight=0.1 | 5-8 cd34: ...`."""
    return " | ".join(
        f"{segment[FIRST_EPOCH]}-{segment[LAST_EPOCH]} {str(segment[TRIAL_ID])[-5:]}: {format_params(segment['params'])}"
        for segment in lineage
    )
