"""Names of the files vae-tune writes into a trial's directory, beside Ray Tune's own.

Kept apart from the trainable so that reading results never imports TensorFlow.
"""

STARTS_FILE = "starts.log"  # one JSON line per start of the trial: how often it ran, from which epoch, its setup time
TIMEOUT_FILE = "timed_out.json"  # written when execution.trial_timeout stopped the trial


def trial_dirname(trial_id: str) -> str:
    """The name of a trial's folder inside the experiment directory."""
    return f"trial_{trial_id}"
