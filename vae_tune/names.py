"""Every name vae-tune shares between modules: metric keys, flags, trial statuses, file names.

Spelled once here so that the trainable that reports a score, the scheduler
that ranks by it and the table that reads it back cannot drift apart. Plain
strings (and the functions that name a results column after a key), no imports: every
layer may use this module (docs/design.md).
"""

# --- What each epoch reports (see vae_tune.training.scoring for how each is measured) ---
EPOCH = "epoch"  # epochs completed; ASHA's time attribute, exact across resumes
OBJECTIVE = "objective"  # blur + roughness_weight * roughness: what the scheduler and searcher minimise
BLUR = "val/blur"
BLUR_DETAIL = "val/blur_detail"
BLUR_COLOUR = "val/blur_colour"
COLOUR_FIDELITY = "val/colour_fidelity"
ROUGHNESS = "val/roughness"
ROUGHNESS_UNEVENNESS = "val/roughness_unevenness"
ROUGHNESS_SHORTFALL = "val/roughness_shortfall"
PSNR = "val/psnr"
TRAIN_PSNR = "train/psnr"
MEAN_IMAGE_PSNR = "val/mean_image_psnr"  # the collapse guard's bar: the mean training image's PSNR on the probe
# Diagnostics of the probe pass, beside the scores
EFFECTIVE_BLUR_SIGMA = "val/effective_blur_sigma"  # the Gaussian blur of the probe that scores the same blur
VAL_LOSS = "val/loss"  # RECONSTRUCTION_LOSS + kl_weight * KL: the training loss, on the probe
RECONSTRUCTION_LOSS = "val/reconstruction_loss"
KL = "val/kl"  # summed over latent dimensions
MSE = "val/mse"
KL_PER_DIM_MAX = "val/kl_per_dim_max"
KL_PER_DIM_MEDIAN = "val/kl_per_dim_median"
ACTIVE_UNITS = "val/active_units"  # latent dimensions whose posterior mean varies across the probe
ACTIVE_FRACTION = "val/active_fraction"
PATH_ENERGY = "val/path_energy"
MIDPOINT_SHARPNESS = "val/midpoint_sharpness"  # 0.5 for a cross-fade, about 1 for a real morph
ROUGHNESS_CROSS = "val/roughness_cross"  # on the cross-category pairs, where the probe has them
# Training and where it ran
TRAIN_PREFIX = "train/"  # + each Keras metric of the epoch's fit: loss, reconstruction_loss, kl
TRAIN_LOSS = TRAIN_PREFIX + "loss"
TRAIN_SECONDS = "time/train_seconds"
SCORING_SECONDS = "time/scoring_seconds"
IMAGES_PER_SECOND = "train/images_per_second"
REPLICAS = "device/replicas"
GPU_IDS = "device/gpu_ids"
NODE_ID = "device/node_id"
DEVICE_SUMMARY = "device/summary"  # what the trial trains on, as the console line says it
# Resuming (vae_tune.tuning.resume)
RESUMED_FROM_EPOCH = "resumed_from_epoch"  # on the first report after a start: the epoch of the checkpoint resumed
RESUMED_FROM_SHA256 = "resumed_from_sha256"  # ... and its weights file's digest
CHECKPOINT_SHA256 = "checkpoint_sha256"  # the digest of the epoch's weights file, kept after pruning
REPORTED_AGAIN = "reported_again"  # an epoch reported again from its checkpoint after a restart
EXPLOITED_TRIAL = "exploited_trial"  # on the first report after a PBT exploit: the donor's trial id
# The hyperparameters actually in use in the epoch (a PBT exploit changes them mid-trial)
HP_PREFIX = "hp/"
HP_LEARNING_RATE = HP_PREFIX + "learning_rate"  # read back from the optimizer, not from the config
HP_KL_WEIGHT = HP_PREFIX + "kl_weight"
HP_CHROMA_WEIGHT = HP_PREFIX + "chroma_weight"

METRIC, MODE = OBJECTIVE, "min"  # what Ray Tune ranks trials and checkpoints by
PARETO_METRICS = [BLUR, ROUGHNESS]  # the two scores of objective.kind = "pareto", both minimised
SCORES = (OBJECTIVE, BLUR, ROUGHNESS)  # the results table's last_* and best_* columns
# Shown beside the scores at the best epoch, where the trial reported them (older studies did not).
DIAGNOSTICS = (PSNR, TRAIN_PSNR, COLOUR_FIDELITY, BLUR_DETAIL, BLUR_COLOUR, ROUGHNESS_UNEVENNESS, ROUGHNESS_SHORTFALL)

# --- Columns of the results table (vae_tune.analysis.results), besides the searched params ---
TRIAL_ID = "trial_id"  # Tune's id of a trial; also in baseline.json and confirm.csv
TRIAL_DIR = "trial_dir"
BEST_CHECKPOINT = "best_checkpoint"  # the kept checkpoint with the lowest objective
SCHEDULE = "schedule"  # the lineage of the trial's last checkpoint, compactly (vae_tune.lineage.describe);
# in confirm.csv, the schedule a run followed; in a confirm run's config, that schedule as JSON text
# (vae_tune.lineage.encode_schedule), "" for a run with constant hyperparameters
MEAN_IMAGE_PSNR_COLUMN = "mean_image_psnr"  # the trial's last reported MEAN_IMAGE_PSNR


def best_column(key: str) -> str:
    """The column of a reported value at the trial's best epoch (lowest objective)."""
    return f"best_{key}"


def last_column(key: str) -> str:
    """The column of a reported value at the trial's last epoch."""
    return f"last_{key}"


def top_column(key: str) -> str:
    """The column of a reported value's highest over every epoch, collapsed ones too."""
    return f"top_{key}"


BEST_EPOCH = best_column(EPOCH)
BEST_OBJECTIVE, BEST_BLUR, BEST_ROUGHNESS = best_column(OBJECTIVE), best_column(BLUR), best_column(ROUGHNESS)
BEST_PSNR, BEST_TRAIN_PSNR, BEST_COLOUR_FIDELITY = best_column(PSNR), best_column(TRAIN_PSNR), best_column(COLOUR_FIDELITY)
TOP_PSNR = top_column(PSNR)

# --- Flags of an epoch whose scores are stand-ins, not measurements ---
DIVERGED = "diverged"  # its loss became NaN or inf
COLLAPSED = "collapsed"  # no better than the mean training image
TIMED_OUT = "timed_out"  # stopped by execution.trial_timeout
UNSCORED_FLAGS = (DIVERGED, COLLAPSED, TIMED_OUT)
# Reported in place of real scores by a diverged or timed-out epoch: finite, so schedulers and
# searchers never see NaN, and far above any real value (blur is at most about 2.5, a flat image
# with rotated colours; roughness at most sqrt(T - 1) + 1, under 5 at T = 16). A collapsed epoch
# reports an ordered stand-in between 9 and 10 on the same keys (training.scoring.collapsed_score).
WORST_SCORES = {OBJECTIVE: 10.0, BLUR: 10.0, ROUGHNESS: 10.0}

# --- A trial's status in the results table ---
FINISHED, STOPPED_EARLY, RUNNING, PENDING = "finished", "stopped early", "running", "pending"
FAILED, TIMED_OUT_STATUS = "failed", "timed out"
STATUS_MEANINGS = {
    FINISHED: "trained every epoch of the study",
    STOPPED_EARLY: "stopped by the scheduler (ASHA) before the last epoch",
    RUNNING: "still training, or interrupted before it finished",
    DIVERGED: "its loss became NaN or infinite; training stopped",
    COLLAPSED: "no epoch reconstructed the probe better than the mean training image does",
    FAILED: "raised an error (see the trial's error.txt)",
    TIMED_OUT_STATUS: "stopped by execution.trial_timeout",
    PENDING: "not started yet (waiting for resources)",
}
USABLE = (FINISHED, STOPPED_EARLY, RUNNING)  # statuses whose scores count: a running trial's best so far is real too
FAILURES = (FAILED, DIVERGED, TIMED_OUT_STATUS)

# --- Files of an experiment directory (storage_path/<study>_<timestamp>/) ---
STUDY_FILE = "study.json"  # the resolved study: report and resume need nothing else
SCHEDULE_FILE = "schedule.json"  # a PBT study's winner: its lineage, the schedule `vae-tune replay` retrains
BASELINE_FILE = "baseline.json"  # {"params": the baseline trial's searched params, "trial_id": once created}
CONFIRM_DIR = "confirm"  # confirm/confirm_<timestamp>/: `vae-tune confirm`'s runs, a Tune experiment of their own
CONFIRM_FILE = "confirm.csv"  # one row per retrained configuration and seed
CONFIRM_SUMMARY_FILE = "confirm_summary.csv"  # per configuration: mean, std, min and max of each score
CONFIRM_PLAN_FILE = "confirm_plan.json"  # in the runs' experiment: which configuration and seed each run is
REPLAY_DIR = "replay"  # replay/replay_<timestamp>/: `vae-tune replay --seeds`'s runs, as confirm's
REPLAY_FILE = "replay.csv"  # as confirm.csv: the PBT winner's schedule, its last values held constant, the baseline
REPLAY_SUMMARY_FILE = "replay_summary.csv"  # as confirm_summary.csv
REPORT_DIR = "report"

# ... of a trial's folder (trial_<id>/): Ray Tune's, then vae-tune's own
PARAMS_FILE = "params.json"  # Tune's: the trial's searched hyperparameters
RESULTS_FILE = "result.json"  # Tune's: one JSON line per result the driver received
ERROR_FILE = "error.txt"  # Tune's: the traceback of a failed attempt
STARTS_FILE = "starts.log"  # one JSON line per start of the trial: how often it ran, from which epoch, its setup time
SETUP_SECONDS = "setup_seconds"  # starts.log: from the trainable's call to its first epoch (threads, split, probe, model, restore)
TIMEOUT_FILE = "timed_out.json"  # written when execution.trial_timeout stopped the trial

# ... of a checkpoint folder (trial_<id>/checkpoint_<n>/)
WEIGHTS_FILE = "vae.weights.h5"
STATE_FILE = "trial.json"
PRUNED = "pruned"  # trial.json's flag for a checkpoint whose weights were deleted
SEQUENCE = "sequence"  # trial.json: the checkpoint's place among its trial's, counting every save (not the epoch)
LINEAGE = "lineage"  # trial.json: the segments of epochs the weights went through (vae_tune.lineage)
# ... of a lineage segment: {trial_id, first_epoch, last_epoch, params, from_sha256}
FIRST_EPOCH, LAST_EPOCH = "first_epoch", "last_epoch"
FROM_SHA256 = "from_sha256"  # the donor checkpoint's digest, on a segment that starts with a PBT exploit
