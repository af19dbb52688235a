"""Choosing the tf.distribute strategy and thread budget from what Ray gave the trial."""

from __future__ import annotations

import math
import os

import tensorflow as tf


def configure_threads(cpus: float) -> None:
    """Size TF's thread pools to the trial's CPU share.

    Without this every trial starts one thread per core, and two concurrent
    trials on two cores spend their time fighting over them. Must run before
    TF executes its first op.
    """
    threads = max(1, math.floor(cpus))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:  # TF already initialised in this process (tests, notebooks): keep its pools
        pass


def choose_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over the trial's GPUs when it has two or more, else the default strategy.

    Ray sets CUDA_VISIBLE_DEVICES, so the GPUs TF lists are exactly the trial's.
    Memory growth keeps a trial from taking a whole card from trials packed beside it.
    """
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: growth can no longer change
            pass
    if len(gpus) >= 2:
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(len(gpus))])
    return tf.distribute.get_strategy()
